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
    perp_line(pos, mark=3_000.0).liquidation_distance                 # −0.111: an 11 % fall liquidates it

In the book (risk.aggregate) a perp's value is its unrealised P&L at the book's mark, and its Vault collateral is
cash, so the two add up to its account value once. Under a price shock (risk.stress, risk.var) an account that falls
below maintenance is liquidated: its position is closed at the shocked mark and it pays Curie's liquidation penalty
(:data:`CURIE_LIQUIDATION_PENALTY_RATIO` of the closed notional); its delta leaves the book, so the hedge is gone.
The account value is not floored at zero: in a gap past the account Curie's InsuranceFund takes the bad debt, but a
risk report that counted on it would show a hedged book gaining from its hedge's liquidation.
"""

from __future__ import annotations

import math

import numpy as np

from adapters import PerpPosition
from crosshedge import Frozen, InputError
from risk.greeks import FloatArray

#: Curie's maintenance margin ratio (ClearingHouseConfig.getMmRatio: 62,500 in 1e6) and initial margin ratio (imRatio).
CURIE_MM_RATIO = 0.0625
CURIE_IM_RATIO = 0.10
#: Curie's liquidation penalty (ClearingHouseConfig.getLiquidationPenaltyRatio: 25,000 in 1e6): the share of the
#: liquidated notional the account pays (to the liquidator and the InsuranceFund).
CURIE_LIQUIDATION_PENALTY_RATIO = 0.025
#: The price move every perp account is checked against, up and down (the stress grid's widest shock).
PERP_STRESS_MOVE = 0.40


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


def liquidatable(pos: PerpPosition, mark: float) -> bool:
    """Whether the account is below maintenance at ``mark`` under its own market's mm ratio (``pos.mm_ratio``):
    account value < mm · |size| · mark."""
    return account_value(pos, mark) < pos.mm_ratio * abs(pos.size) * mark


def perp_id(pos: PerpPosition) -> str:
    """The account's label in reports: ``chain:market`` (``what-if:<underlying>-perp`` for one built by hand)."""
    return f"{pos.chain or 'what-if'}:{pos.market or pos.underlying + '-perp'}"


def account_values(pos: PerpPosition, marks: FloatArray,
                   penalty_ratio: float = CURIE_LIQUIDATION_PENALTY_RATIO) -> FloatArray:
    """The account's value (collateral + unrealised P&L − owed funding, USD) at each of ``marks``, liquidated where
    it is below maintenance: closed at that mark, less the penalty on the closed notional (not floored at zero).

    Usage: ``account_values(pos, 3_000.0 * np.array([0.6, 1.0, 1.4]))``
    """
    marks = np.asarray(marks, dtype=np.float64)
    value = pos.collateral_usd + pos.size * marks + pos.open_notional - pos.owed_funding_usd
    notional = abs(pos.size) * marks
    out: FloatArray = np.where(value < pos.mm_ratio * notional, value - penalty_ratio * notional, value)
    return out


class PerpLine(Frozen):
    """One perp account's margin at the book's mark (risk.aggregate's ``RiskReport.perps``): what the CLI and the
    orchestrator show next to the Greeks. Ratios and distances are fractions (0.25 = 25 %)."""

    id: str  # perp_id: chain:market
    chain: str | None
    market: str | None
    underlying: str
    size: float  # base units, signed
    entry_price: float | None  # −open_notional / size (None when flat)
    mark: float  # the book's mark of the underlying, which every figure here is taken at
    collateral_usd: float
    account_value_usd: float
    margin_ratio: float | None  # account value / notional (None when flat)
    mm_ratio: float
    free_collateral_usd: float
    liquidation_price: float | None  # None: no positive price liquidates it
    liquidation_distance: float | None  # liquidation_price / mark − 1: −0.25 = a 25 % fall liquidates it
    liquidatable: bool  # below maintenance already, at the mark
    funding_day_usd: float  # funding paid per day at the market's rate (< 0: received)
    survives_stress: bool  # stays at or above maintenance after both a −stress_move and a +stress_move
    stress_move: float = PERP_STRESS_MOVE


def perp_line(pos: PerpPosition, mark: float, move: float = PERP_STRESS_MOVE) -> PerpLine:
    """The account's :class:`PerpLine` at ``mark``, under its own market's mm and im ratios; funding at the
    market's index (``pos.index_price``; ``mark`` when not read).

    Usage: ``perp_line(pos, 3_000.0).survives_stress``
    """
    _check(mark, pos.mm_ratio)
    liq = liquidation_price(pos, pos.mm_ratio)
    index = mark if pos.index_price is None else pos.index_price
    return PerpLine(
        id=perp_id(pos), chain=pos.chain, market=pos.market, underlying=pos.underlying, size=pos.size,
        entry_price=pos.entry_price, mark=mark, collateral_usd=pos.collateral_usd,
        account_value_usd=account_value(pos, mark), margin_ratio=margin_ratio(pos, mark), mm_ratio=pos.mm_ratio,
        free_collateral_usd=free_collateral(pos, mark, pos.im_ratio), liquidation_price=liq,
        liquidation_distance=None if liq is None else liq / mark - 1.0, liquidatable=liquidatable(pos, mark),
        funding_day_usd=funding_usd(pos, index, pos.daily_funding_rate, 1.0), stress_move=move,
        survives_stress=all(survives_move(pos, mark, m, pos.mm_ratio) for m in (-move, move)),
    )


__all__ = ["CURIE_IM_RATIO", "CURIE_LIQUIDATION_PENALTY_RATIO", "CURIE_MM_RATIO", "PERP_STRESS_MOVE", "PerpLine",
           "account_value", "account_values", "free_collateral", "funding_usd", "liquidatable", "liquidation_price",
           "margin_ratio", "perp_id", "perp_line", "survives_move"]
