"""The values of the perp kind: a perp market read at a block, an exact quote of a trade in it, and a decoded fill.

A perp adapter (``kind = "perp"``, :class:`adapters.contract.PerpAdapter`) trades a perpetual future on a vAMM with
margin held in a Vault. It is an instrument like a swap (see DESIGN.md "Instruments"): a trade changes delta by its
base size (SELL = go short base, BUY = go long, :class:`adapters.types.Side`); it consumes margin on the venue
(the collateral the Vault holds, not wallet inventory), costs gas plus the exchange fee and the vAMM's slippage
(``sell`` / ``buy`` curves like a venue's), and carries funding over the horizon it is held
(``daily_funding_rate``). These values cross stage boundaries (read -> plan -> ledger), so they are frozen and
round-trip to JSON.

Usage::

    [state] = registry.perp("perp_curie").read(chain, config.perps_on("optimism"), block)
    q = registry.perp("perp_curie").quote(state, Side.SELL, 2 * 10**18)
    q.quote_amount_raw, q.fee_raw, state.daily_funding_rate, state.position
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from adapters.positions import PerpPosition
from adapters.types import Curve, Side, TokenInfo
from crosshedge import Frozen


@dataclass(frozen=True)
class PerpEntry:
    """One perp market section of chains.yaml (``chains.<chain>.perps.<name>``): its adapter and validated config.

    ``chain_id`` is the chain's (the deposit and withdrawal calls are built from the entry alone)."""

    name: str
    chain: str
    adapter: str
    config: BaseModel
    enabled: bool = True
    chain_id: int = 0
    underlying: str = ""  # what the market's base tracks (the adapter's ``underlying(entry)``; the loader sets it)


class PerpMarketState(Frozen):
    """Everything known about one perp market at one block, and the wallet's account in it.

    Prices are quote (USD) per base unit; ratios are fractions (0.001 = 0.1%). ``pool`` is the vAMM's exact state
    (adapter-specific, JSON-able: only the adapter reads it) and ``sell`` / ``buy`` its cost curves with the exchange
    fee, for the optimizer. ``position`` is the wallet's (``account``) position in the market, None when no account
    was read; ``free_collateral_usd`` and ``account_value_usd`` are the account's over all its markets.
    """

    chain: str
    chain_id: int = Field(gt=0)
    market: str  # the perp section's name in chains.yaml
    adapter: str
    block_number: int = Field(ge=0)
    block_timestamp: int = Field(ge=0)
    underlying: str  # e.g. "ETH"
    base_token: str  # the market's virtual base token (vETH)
    quote_token: str  # the virtual quote token (vUSD)
    base_decimals: int = Field(default=18, ge=0, le=36)
    quote_decimals: int = Field(default=18, ge=0, le=36)
    collateral: TokenInfo  # the Vault's settlement token (USDC)
    clearing_house: str  # what trades call
    vault: str  # what deposits and withdrawals call (and the collateral approval's spender)
    market_price: float = Field(gt=0)  # the vAMM's price at the block (what a trade's impact is measured against)
    mark_price: float = Field(gt=0)  # the price the venue values positions at (margin, liquidation)
    market_twap_price: float = Field(gt=0)  # the vAMM's TWAP over twap_interval_s (funding's market side)
    index_price: float = Field(gt=0)  # the oracle's price now
    index_twap_price: float = Field(gt=0)  # the oracle's TWAP over twap_interval_s (funding's index side)
    twap_interval_s: int = Field(ge=0)
    daily_funding_rate: float  # (market TWAP − index TWAP) / index TWAP per day, capped; > 0: longs pay shorts
    max_funding_rate: float = Field(ge=0)  # the cap on |daily_funding_rate|
    exchange_fee_ratio: float = Field(ge=0, lt=1)  # the venue's fee on each trade's notional
    uniswap_fee_ratio: float = Field(ge=0, lt=1)  # the vAMM pool's own fee tier (replaced by the exchange fee)
    insurance_fund_fee_ratio: float = Field(ge=0, le=1)  # the share of the fee the insurance fund keeps
    mm_ratio: float = Field(gt=0, lt=1)
    im_ratio: float = Field(gt=0, lt=1)
    max_ticks_crossed: int = Field(ge=0)  # the most ticks the vAMM's price may move from a block's first trade
    gas_units: int = Field(gt=0)  # execution gas of one openPosition of typical size
    pool: dict[str, Any]
    sell: Curve
    buy: Curve
    account: str | None = None
    position: PerpPosition | None = None
    free_collateral_usd: float | None = None
    account_value_usd: float | None = None

    @property
    def key(self) -> str:
        """``"optimism/eth_perp"``: how plans, the ledger and messages name the market."""
        return f"{self.chain}/{self.market}"


class PerpQuote(Frozen):
    """An exact quote of a market order of ``base_amount_raw`` base units, as ``openPosition`` returns it.

    SELL (go short): ``quote_amount_raw`` is the quote received, the fee already taken; BUY (go long): the quote
    paid, the fee included. ``exchanged_position_size`` / ``exchanged_position_notional`` are the signed changes to
    the position and its notional before the fee (what PositionChanged reports); ``price`` is quote per base (human
    units) including the fee. ``exact`` is True when the quote replays the chain's computation to the wei.
    """

    market: str
    side: Side
    base_amount_raw: int = Field(gt=0)
    quote_amount_raw: int = Field(ge=0)
    fee_raw: int = Field(ge=0)
    exchanged_position_size: int
    exchanged_position_notional: int
    price: float = Field(ge=0)
    sqrt_price_x96_after: int = Field(gt=0)
    tick_after: int
    ticks_crossed: int = Field(default=0, ge=0)  # initialized ticks of the vAMM crossed
    exact: bool = True


class PerpFill(Frozen):
    """One PositionChanged event of the ClearingHouse, decoded (raw units: base and quote 18 decimals, signed)."""

    chain: str
    market: str
    trader: str
    base_token: str
    exchanged_position_size: int  # > 0: bought base (long)
    exchanged_position_notional: int  # the sign opposite to the size's; the fee not included
    fee: int
    open_notional: int  # the position's open notional after the trade
    realized_pnl: int
    sqrt_price_x96_after: int
    tx_hash: str
    block_number: int
    log_index: int

    @property
    def side(self) -> Side:
        return Side.BUY if self.exchanged_position_size > 0 else Side.SELL


__all__ = ["PerpEntry", "PerpFill", "PerpMarketState", "PerpQuote"]
