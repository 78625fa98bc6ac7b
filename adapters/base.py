"""The adapter contract and the plain values adapters hand to the rest of crosshedge.

An adapter is one class, registered under the ``crosshedge.adapters`` entry-point group, that implements one of
the two protocols below. Venue adapters (``kind = "venue"``) read liquidity and trade; position sources
(``kind = "positions"``) read what the book holds. Both own a pydantic model for their section of chains.yaml.

Every value crossing a stage boundary is a frozen pydantic model that round-trips to JSON, so a run can be stopped
after any stage and inspected or resumed.

Usage::

    adapter = registry.load("uniswap_v3")
    states = adapter.read(chain, [venue], block=chain.w3.eth.block_number)
    out = adapter.quote(states[0], Side.SELL, amount_in=10**18)   # exact, to the wei
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import pairwise
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field
from web3 import Web3


class Side(StrEnum):
    """Trade direction relative to the underlying: SELL gives base (e.g. WETH) for quote (USDC); BUY the reverse."""

    SELL = "sell"
    BUY = "buy"


class Frozen(BaseModel):
    """Base for value objects: immutable, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


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
    base unit over the piece, pool fee included. A trade may fill any fraction of a segment.
    """

    size: float = Field(gt=0)
    price: float = Field(gt=0)


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

    def token(self, address: str) -> TokenInfo | None:
        return self.tokens.get(Web3.to_checksum_address(address))


@dataclass(frozen=True)
class VenueEntry:
    """One venue from chains.yaml: its name, chain, adapter name and the adapter-validated config section."""

    name: str
    chain: str
    adapter: str
    config: BaseModel
    enabled: bool = True


@runtime_checkable
class VenueAdapter(Protocol):
    """A liquidity venue (a DEX pool type). One instance serves every venue of its type on every chain."""

    name: ClassVar[str]
    kind: ClassVar[Literal["venue"]]
    config_model: ClassVar[type[BaseModel]]

    def read(self, chain: ChainContext, venues: Sequence[VenueEntry], block: int) -> list[VenueState]:
        """Read every given venue on one chain, pinned to ``block``, in a bounded number of RPC round trips."""
        ...

    def quote(self, state: VenueState, side: Side, amount_in: int) -> int:
        """Exact amount out (raw units) for an exact-in swap of ``amount_in`` raw units, from ``state`` alone."""
        ...

    def build_swap(
        self, state: VenueState, side: Side, amount_in: int, min_amount_out: int, recipient: str, deadline: int
    ) -> TxRequest:
        """The swap call (exact in, with ``min_amount_out`` and ``deadline``), not yet signed."""
        ...

    def parse_receipt(self, state: VenueState, receipt: Mapping[str, Any]) -> Fill:
        """Decode the venue's swap event in a mined receipt into a :class:`Fill`."""
        ...


@runtime_checkable
class PositionSource(Protocol):
    """Something the book holds (options, LP positions, spot inventory), read as positions for risk."""

    name: ClassVar[str]
    kind: ClassVar[Literal["positions"]]
    config_model: ClassVar[type[BaseModel]]

    def read_positions(self, chain: ChainContext | None, config: BaseModel, block: int | None) -> Sequence[BaseModel]:
        """Positions from this source; ``chain`` is None for off-chain sources such as an option book file."""
        ...


Adapter = VenueAdapter | PositionSource

#: Members each kind must define; the registry checks these at load and lists what is missing.
REQUIRED_MEMBERS: dict[str, tuple[str, ...]] = {
    "venue": ("name", "kind", "config_model", "read", "quote", "build_swap", "parse_receipt"),
    "positions": ("name", "kind", "config_model", "read_positions"),
}


def ordered_curve_ok(curve: Curve) -> bool:
    """True when the curve's prices are monotone in the convex direction (see :class:`Curve`)."""
    prices = [s.price for s in curve.segments]
    pairs = pairwise(prices)
    if curve.side is Side.SELL:
        return all(b <= a * (1 + 1e-12) for a, b in pairs)
    return all(b >= a * (1 - 1e-12) for a, b in pairs)


__all__: Sequence[str] = (
    "REQUIRED_MEMBERS",
    "Adapter",
    "ChainContext",
    "Curve",
    "Fill",
    "Frozen",
    "PositionSource",
    "Segment",
    "Side",
    "TokenInfo",
    "TxRequest",
    "VenueAdapter",
    "VenueEntry",
    "VenueState",
    "ordered_curve_ok",
)
