"""The plain values adapters hand to the rest of crosshedge: tokens, venue states and their curves, fills, calls.

Every value crossing a stage boundary is a frozen pydantic model that round-trips to JSON, so a run can be stopped
after any stage and inspected or resumed. :class:`ChainContext` and :class:`VenueEntry` are what an adapter is
given (a live connection and a config section), not values it returns.

Usage::

    state = VenueState.model_validate_json(saved)
    state.sell.segments[0].price
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import pairwise
from typing import Any

from pydantic import BaseModel, Field
from web3 import Web3

from adapters.rpc.abi import checksum_address
from crosshedge import Frozen


class Side(StrEnum):
    """Trade direction relative to the underlying: SELL gives base (e.g. WETH) for quote (USDC); BUY the reverse."""

    SELL = "sell"
    BUY = "buy"


class TokenInfo(Frozen):
    """One ERC20 token on one chain, as configured (and checked against chain on read)."""

    chain: str
    symbol: str
    address: str
    decimals: int
    underlying: str  # what one unit represents for risk: WETH -> ETH, WBTC -> BTC, USDC -> USD


class Segment(Frozen):
    """One linear piece of a venue's liquidity curve.

    ``size`` is in units of the underlying (base token, human units); ``price`` is the average quote (USD) per
    base unit over the piece, pool fee included. A trade may fill any fraction of a segment. ``ticks_crossed`` is
    how many initialized ticks (Uniswap V3) a fill crosses on entering this segment, so a venue's per-tick gas is a
    step at its start (0 on venues without ticks; never later than the true crossing, sometimes earlier).
    """

    size: float = Field(gt=0)
    price: float = Field(gt=0)
    ticks_crossed: int = Field(default=0, ge=0)


class Curve(Frozen):
    """Convex piecewise-linear cost curve of one direction, segments in fill order.

    SELL: prices strictly non-increasing (each extra unit sold earns less). BUY: non-decreasing.
    """

    side: Side
    segments: tuple[Segment, ...]


class VenueState(Frozen):
    """Everything known about one venue at one block: the optimizer's input and the exact model's state."""

    chain: str
    venue: str  # the venue's name in chains.yaml
    adapter: str
    underlying: str  # e.g. "ETH"
    base: TokenInfo  # the risky token (WETH, WBTC)
    quote: TokenInfo  # the USD token (USDC, USDT, DAI)
    fee_pips: int  # pool fee in hundredths of a bip (3000 = 0.30%)
    mid_price: float  # quote per base, no fee, at the read block
    block_number: int
    block_timestamp: int
    gas_units: int  # execution gas of one swap of typical size on this venue
    gas_units_per_tick: int = 0  # extra gas per initialized tick crossed (Uniswap V3), 0 elsewhere
    sell: Curve
    buy: Curve
    pool: dict[str, Any]  # adapter-specific exact state (JSON-able); only the adapter reads it
    # The venue's price is derived from other pools (a multi-hop route through pools that are venues of their
    # own): it is tradable, but no market observation, so marks never take it (it would move with another
    # underlying's pools).
    composite: bool = False
    # The pool contracts the venue's swaps trade in (a route: every leg's). Two venues listing the same pool share
    # its liquidity, so one plan never trades both (the planner's solves assume venues are independent).
    pools: tuple[str, ...] = ()


class SwapQuote(Frozen):
    """An exact-in quote in full, as QuoterV2 (V3) or the router's getAmountsOut (V2) would give it.

    ``amount_in`` is the input the swap actually consumes (fee included): less than ``amount_requested`` when the
    pool's liquidity or the price limit ends the swap first (``partial``, which the pool and QuoterV2 report
    rather than refuse). ``price_after`` is the pool's quote per base (human units, no fee) after the swap.
    """

    side: Side
    amount_requested: int = Field(gt=0)
    amount_in: int = Field(ge=0)
    amount_out: int = Field(ge=0)
    price_after: float
    sqrt_price_x96_after: int | None = None  # concentrated-liquidity pools
    tick_after: int | None = None
    ticks_crossed: int = Field(default=0, ge=0)  # initialized ticks crossed (0 on venues without ticks)
    partial: bool = False


class Fill(Frozen):
    """What a confirmed swap actually did, decoded from its receipt."""

    chain: str
    venue: str
    tx_hash: str
    block_number: int
    side: Side
    amount_in_raw: int
    amount_out_raw: int
    base_amount: float  # base units moved (sold for SELL, bought for BUY)
    quote_amount: float  # quote units moved
    gas_used: int
    effective_gas_price_wei: int


class TxRequest(Frozen):
    """An unsigned call: target, calldata and value. Nonce, gas and fees are the signer's business."""

    chain_id: int
    to: str
    data: str  # 0x-prefixed calldata
    value: int = 0
    description: str = ""


@dataclass(frozen=True)
class ChainContext:
    """What an adapter may use to talk to one chain. Injected; adapters never build their own connection."""

    name: str
    chain_id: int
    w3: Web3
    tokens: Mapping[str, TokenInfo]  # by checksum address
    multicall: str | None = None  # UniswapInterfaceMulticall address, for one-round-trip batched reads
    extras: Mapping[str, Any] = field(default_factory=dict)
    # Read venues through the read lens (one eth_call with a state override) where the RPC allows it.
    read_lens: bool = True
    lens_gas: int = 30_000_000  # gas of each lens call: within the RPC's eth_call cap (adapters.rpc.LENS_GAS)

    def token(self, address: str) -> TokenInfo | None:
        return self.tokens.get(checksum_address(address))


@dataclass(frozen=True)
class PositionEntry:
    """One position source from chains.yaml: its name, adapter, declared scope and adapter-validated settings."""

    name: str
    adapter: str
    scope: str  # the adapter's PositionScope value
    config: BaseModel


@dataclass(frozen=True)
class VenueEntry:
    """One venue from chains.yaml: its name, chain, adapter name and the adapter-validated config section."""

    name: str
    chain: str
    adapter: str
    config: BaseModel
    enabled: bool = True



def ordered_curve_ok(curve: Curve) -> bool:
    """True when the curve's prices are monotone in the convex direction (see :class:`Curve`)."""
    prices = [s.price for s in curve.segments]
    pairs = pairwise(prices)
    if curve.side is Side.SELL:
        return all(b <= a * (1 + 1e-12) for a, b in pairs)
    return all(b >= a * (1 - 1e-12) for a, b in pairs)


__all__ = [
    "ChainContext",
    "Curve",
    "Fill",
    "Frozen",
    "PositionEntry",
    "Segment",
    "Side",
    "SwapQuote",
    "TokenInfo",
    "TxRequest",
    "VenueEntry",
    "VenueState",
    "ordered_curve_ok",
]
