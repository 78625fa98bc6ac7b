"""Position values the risk engine reads: options from a book file, Uniswap V3 LP NFTs and spot inventory.

Spot inventory is :class:`SpotPosition` (chain, symbol, address, underlying, amount, raw); the risk engine accepts
any model with ``underlying`` and ``amount`` (and optionally ``chain``) for spot.

Bounds an option line must keep (a real desk's book never comes near them; a typo or a unit slip does), checked
by the models below and, with a sentence naming file, row and field, by :mod:`adapters.option_book`:

* ``|size|`` at most :data:`MAX_ABS_SIZE` (1e7 units of the underlying: ten million ETH or BTC);
* ``vol`` and every smile vol within (0, :data:`MAX_VOL`] (10 = 1,000% annualised; 0.62 means 62%);
* ``strike`` within (0, :data:`MAX_STRIKE`] (1e9 quote units), and within a factor :data:`MAX_STRIKE_MULTIPLE` (20)
  of the line's reference price when it has one; smile moneyness K/F within [1/20, 20] likewise;
* ``tenor_days`` within (0, :data:`MAX_TENOR_DAYS`] (3,650 days: ten years);
* ``reference_price`` within (0, :data:`MAX_REFERENCE_PRICE`] (1e9 quote units).

Usage::

    OptionPosition(id="eth-c-1", underlying="ETH", kind="call", strike=3300, expiry=..., size=-10, vol=0.62,
                   venue="deribit")
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, Field, model_validator

from adapters.types import Frozen
from adapters.vol_surface import VolSurface

#: Largest absolute option size, in units of the underlying.
MAX_ABS_SIZE = 1e7
#: Largest implied vol (annualised, as a decimal: 10 = 1,000%).
MAX_VOL = 10.0
#: Largest strike, in quote units (USD) per unit of the underlying.
MAX_STRIKE = 1e9
#: A strike (or smile moneyness) at most this factor above or below its reference price (or the forward).
MAX_STRIKE_MULTIPLE = 20.0
#: Longest time to expiry, in days (ten years).
MAX_TENOR_DAYS = 3650.0
#: Largest reference price, in quote units.
MAX_REFERENCE_PRICE = 1e9


def bound_problem(values: tuple[float, ...], name: str, low: float, high: float, low_open: bool = True) -> str | None:
    """Why one of ``values`` (the field ``name``; indexed when several) lies outside its bounds (None: all inside).

    The interval is (low, high] with ``low_open``, else [low, high]; NaN and infinities are always outside.
    """
    for i, v in enumerate(values):
        inside = math.isfinite(v) and (v > low if low_open else v >= low) and v <= high
        if not inside:
            where = f"{name}[{i}]" if len(values) > 1 else name
            interval = f"({low:g}, {high:g}]" if low_open else f"[{low:g}, {high:g}]"
            return f"{where} must be within {interval}, got {v:g}"
    return None


class Smile(Frozen):
    """Implied vol points against moneyness K/F for one expiry (the book's ``smiles:`` format, read as the vol
    points of a :class:`~adapters.vol_surface.VolSurface` slice)."""

    moneyness: tuple[float, ...] = Field(min_length=1)
    vols: tuple[float, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _shape(self) -> Smile:
        if len(self.moneyness) != len(self.vols):
            raise ValueError("moneyness and vols must have the same length")
        problem = (bound_problem(self.moneyness, "moneyness", 1 / MAX_STRIKE_MULTIPLE, MAX_STRIKE_MULTIPLE, False)
                   or bound_problem(self.vols, "vols", 0.0, MAX_VOL))
        if problem is not None:
            raise ValueError(problem)
        if any(b <= a for a, b in zip(self.moneyness, self.moneyness[1:], strict=False)):
            raise ValueError("moneyness must be strictly increasing")
        return self


class OptionPosition(Frozen):
    """One European option line of the book. ``size`` is signed in units of the underlying (short < 0).

    Exactly one of ``vol`` (a flat implied vol that stays put whatever the spot does) or ``surface`` (the
    underlying's vol surface, read at this strike and expiry under the surface's smile dynamics) is set.
    ``tenor_days`` records the tenor the line was written with (or its time to expiry at the as-of time), so a
    backtest can roll it at the same tenor; ``reference_price`` is the underlying price its strike was set
    against, so the roll keeps the same moneyness.
    """

    id: str
    underlying: str
    kind: Literal["call", "put"]
    strike: float = Field(gt=0, le=MAX_STRIKE)
    expiry: AwareDatetime
    size: float = Field(ge=-MAX_ABS_SIZE, le=MAX_ABS_SIZE)
    vol: float | None = Field(default=None, gt=0, le=MAX_VOL)
    surface: VolSurface | None = None
    venue: str = "otc"
    tenor_days: float = Field(gt=0, le=MAX_TENOR_DAYS)
    reference_price: float | None = Field(default=None, gt=0, le=MAX_REFERENCE_PRICE)
    source: str = "option_book"

    @model_validator(mode="after")
    def _one_vol(self) -> OptionPosition:
        if (self.vol is None) == (self.surface is None):
            raise ValueError("give exactly one of vol or surface")
        if self.surface is not None and self.surface.underlying != self.underlying:
            raise ValueError(f"the surface is {self.surface.underlying}'s, the option is on {self.underlying}")
        if self.reference_price is not None:
            ratio = self.strike / self.reference_price
            if not 1 / MAX_STRIKE_MULTIPLE <= ratio <= MAX_STRIKE_MULTIPLE:
                raise ValueError(f"strike {self.strike:g} is more than {MAX_STRIKE_MULTIPLE:g}x away from the "
                                 f"reference price {self.reference_price:g}")
        return self

    @property
    def chain(self) -> str:
        """Where the line lives for the risk breakdown: the venue label (options are off-chain here)."""
        return self.venue

    def implied_vol(self, forward: float, now: datetime | None = None) -> float:
        """Flat vol, or the surface at this strike's log-moneyness ln(K/forward), valued at ``now`` (default: the
        surface's as_of). This is the sticky-moneyness reading; risk applies the surface's dynamics itself."""
        if self.vol is not None:
            return self.vol
        assert self.surface is not None
        when = self.surface.as_of if now is None else now
        return float(self.surface.vol(math.log(self.strike / forward), self.expiry, when)[0])

    def years_to_expiry(self, now: datetime) -> float:
        return (self.expiry - now).total_seconds() / (365.0 * 86400.0)


class LpPosition(Frozen):
    """One Uniswap V3 LP NFT read from a NonfungiblePositionManager at a block.

    Raw on-chain fields are kept as read; the risky/USD orientation is resolved through the chain's token list
    (``risky_is_token0``; the other token's underlying is ``quote_underlying``, normally USD).
    """

    id: str  # "<chain>:<token id>"
    chain: str
    token_id: int
    position_manager: str
    pool: str | None = None
    underlying: str  # the risky side's underlying (ETH, BTC)
    quote_underlying: str  # the other side's underlying (USD)
    token0: str
    token1: str
    decimals0: int
    decimals1: int
    risky_is_token0: bool
    fee: int
    tick_lower: int
    tick_upper: int
    liquidity: int
    tokens_owed0: int
    tokens_owed1: int
    sqrt_price_x96: int | None = None  # the pool's price at the read block, when it was read
    block_number: int | None = None
    source: str = "uniswap_v3_lp"

    @property
    def owed_risky(self) -> float:
        """Uncollected fees in the risky token (human units): spot delta the position will pay out."""
        raw, dec = (self.tokens_owed0, self.decimals0) if self.risky_is_token0 else (self.tokens_owed1, self.decimals1)
        return float(raw) / float(10**dec)

    @property
    def owed_quote(self) -> float:
        raw, dec = (self.tokens_owed1, self.decimals1) if self.risky_is_token0 else (self.tokens_owed0, self.decimals0)
        return float(raw) / float(10**dec)


class SpotPosition(Frozen):
    """A wallet's holding of one token (or the native coin) on one chain at one block."""

    chain: str
    symbol: str
    address: str  # token address, or "native"
    underlying: str
    amount: float = Field(ge=0)  # human units
    raw: int = Field(ge=0)
    wallet: str
    block_number: int


class PerpPosition(Frozen):
    """One account's position in one perp market, in Perpetual Protocol v2 (Curie) AccountBalance terms (base and USD
    units); its risk, margin and liquidation price are risk.perps's functions of it and a mark.

    ``chain``, ``market`` (the chains.yaml perp entry) and ``block_number`` say where it was read; a position built by
    hand for a what-if leaves them empty.
    """

    underlying: str
    size: float  # base units, signed: > 0 long
    open_notional: float  # quote units, the sign opposite to size's (−size · entry when opened at one price)
    collateral_usd: float = Field(ge=0)  # the account's collateral value in the Vault
    owed_funding_usd: float = 0.0  # pending funding the account owes (< 0: it is owed)
    # The market as read with the position (None / defaults for a what-if built by hand): its mark and index prices,
    # the funding rate per day (Curie's premium (mark − index) / index; > 0: longs pay) and its margin ratios.
    mark_price: float | None = Field(default=None, gt=0)
    index_price: float | None = Field(default=None, gt=0)
    daily_funding_rate: float = 0.0
    mm_ratio: float = Field(default=0.0625, gt=0, lt=1)  # Curie's ClearingHouseConfig.getMmRatio (1e6 = 1)
    im_ratio: float = Field(default=0.10, gt=0, lt=1)  # getImRatio
    chain: str | None = None
    market: str | None = None
    block_number: int | None = None
    source: str = "perp_curie"

    @property
    def entry_price(self) -> float | None:
        """The average open price, −open_notional / size (None when flat)."""
        return -self.open_notional / self.size if self.size else None
