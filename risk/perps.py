"""A perpetual position's risk, in Perpetual Protocol v2 (Curie) terms: pure functions of the position and prices.

Curie keeps, per account and market, a signed position ``size`` (base units: > 0 long, < 0 short) and an
``open_notional`` (quote units, the opposite sign: what opening it cost, −size · entry). With ``collateral`` the
account's collateral value (USD) in the Vault and ``mark`` the market's mark price:

    account value           = collateral + size · mark + open_notional − owed funding
    maintenance requirement = mm_ratio · |size| · mark          (Curie's mmRatio: 6.25 %)
    liquidatable            when account value < maintenance requirement

so for a one-market account the liquidation mark solves ``collateral + size·P + open_notional = mm·|size|·P``:

    P_liq = −(collateral + open_notional) / (size − mm · |size|)        (none when the account can never fall there)

Funding: Curie settles the premium (mark TWAP − index TWAP) / index TWAP per day, continuously: a long pays
``size · index · rate · days`` when the rate is positive (a short receives it). The delta a perp adds to the book
is its size (one base unit per contract); it has no gamma or vega.

Usage::

    pos = PerpPosition(underlying="ETH", size=10.0, open_notional=-30_000.0, collateral_usd=5_000.0)
    liquidation_price(pos, mm_ratio=0.0625)        # 2,666.67: the mark at which the account hits maintenance
    survives_move(pos, mark=3_000.0, move=-0.40, mm_ratio=0.0625)    # False: 40 % down liquidates it
    funding_usd(pos, index=3_000.0, daily_rate=0.0003, days=7.0)     # 63.0 paid over a week
"""

from __future__ import annotations

import math

from adapters import PerpPosition
from crosshedge import InputError

#: Curie's maintenance margin ratio (ClearingHouseConfig.getMmRatio: 62,500 in 1e6) and initial margin ratio (imRatio).
CURIE_MM_RATIO = 0.0625
CURIE_IM_RATIO = 0.10


def _check_ratio(mm_ratio: float) -> None:
    if not 0 < mm_ratio < 1:
        raise InputError(f"mm_ratio: {mm_ratio!r} is not a ratio between 0 and 1")


def _check(mark: float, mm_ratio: float) -> None:
    if not (math.isfinite(mark) and mark > 0):
        raise InputError(f"mark: {mark!r} is not a positive price")
    _check_ratio(mm_ratio)


def account_value(pos: PerpPosition, mark: float) -> float:
    """Collateral plus unrealised P&L at ``mark``, less the funding owed (USD)."""
    return pos.collateral_usd + pos.size * mark + pos.open_notional - pos.owed_funding_usd


def margin_ratio(pos: PerpPosition, mark: float) -> float | None:
    """Account value over the position's notional at ``mark`` (Curie's margin ratio); None when flat."""
    if not pos.size:
        return None
    return account_value(pos, mark) / (abs(pos.size) * mark)


def free_collateral(pos: PerpPosition, mark: float, im_ratio: float = CURIE_IM_RATIO) -> float:
    """What a new position may still take as initial margin: min(collateral, account value) − im · notional."""
    value = account_value(pos, mark)
    return min(pos.collateral_usd - pos.owed_funding_usd, value) - im_ratio * abs(pos.size) * mark


def liquidation_price(pos: PerpPosition, mm_ratio: float = CURIE_MM_RATIO) -> float | None:
    """The mark at which the account value falls to the maintenance requirement; None when flat or when no positive
    price gets there (a short whose collateral covers any rise is still liquidatable: a rise is unbounded, so a
    short always has one; a long with collateral above its notional has none)."""
    _check_ratio(mm_ratio)
    if not pos.size:
        return None
    slope = pos.size - mm_ratio * abs(pos.size)
    price = -(pos.collateral_usd + pos.open_notional - pos.owed_funding_usd) / slope
    return price if price > 0 else None


def survives_move(pos: PerpPosition, mark: float, move: float, mm_ratio: float = CURIE_MM_RATIO) -> bool:
    """Whether the account stays at or above maintenance after the mark moves by ``move`` (−0.4: down 40 %)."""
    _check(mark, mm_ratio)
    if not move > -1:
        raise InputError(f"move: {move!r} takes the price to zero or below")
    moved = mark * (1 + move)
    return account_value(pos, moved) >= mm_ratio * abs(pos.size) * moved


def funding_usd(pos: PerpPosition, index: float, daily_rate: float, days: float) -> float:
    """Funding the position pays over ``days`` at ``daily_rate`` (Curie's premium per day; > 0: longs pay), USD;
    negative when it receives."""
    if days < 0:
        raise InputError(f"days: {days!r} is negative")
    return pos.size * index * daily_rate * days


__all__ = ["CURIE_IM_RATIO", "CURIE_MM_RATIO", "account_value", "free_collateral", "funding_usd",
           "liquidation_price", "margin_ratio", "survives_move"]
