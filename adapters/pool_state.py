"""Recorded pool states: one JSON file per venue at one block, enough to quote it exactly with no chain at hand.

``crosshedge venues --save-state DIR`` writes them (a V3 pool with every initialized tick, read through its tick
bitmap) and ``crosshedge quote --pool-state FILE`` quotes from one. The format (``version`` 1) is documented in the
README's Adapters section; each protocol is its own model, chosen by ``protocol``:

* ``uniswap_v2``: the pair's reserves (the fee is V2's fixed 3000 pips);
* ``uniswap_v3``: slot0, in-range liquidity, fee, tick spacing and every initialized tick with its liquidityNet;
* ``uniswap_v4``: the pool key, slot0 (with the LP fee and protocol fee), liquidity and every initialized tick.

Every model forbids unknown fields; integers are JSON integers (exact: Python's json reads any size) or decimal
strings. A bad file is refused with one sentence naming the file and the field (:func:`load_pool_state`).

Usage::

    record = load_pool_state(Path("states/ethereum.v3_weth_usdc_500.json"))
    write_pool_state(Path("states"), record)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from adapters.rpc import Address
from adapters.uniswap.math import MAX_SQRT_RATIO, MAX_TICK, MIN_SQRT_RATIO, MIN_TICK, get_tick_at_sqrt_ratio
from crosshedge import InputError, describe_validation_error

FORMAT_VERSION = 1
UINT112, UINT128 = 1 << 112, 1 << 128



def _exact(value: object) -> object:
    # A float has already lost the low digits of a sqrt price or a liquidity: refuse it rather than round.
    if isinstance(value, float):
        raise ValueError("a JSON float cannot hold this integer exactly: write the integer (or a decimal string)")
    return value


Int = Annotated[int, BeforeValidator(_exact)]
Pips = Annotated[Int, Field(ge=0, lt=1_000_000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TokenRecord(_Strict):
    """One of the pool's tokens as configured on its chain."""

    address: Address
    symbol: str = Field(min_length=1)
    decimals: Int = Field(ge=0, le=255)
    underlying: str = Field(min_length=1)  # what one unit stands for in risk (ETH, BTC, USD)


class TickRecord(_Strict):
    """An initialized tick and its liquidityNet (``ticks(tick).liquidityNet`` on the pool)."""

    tick: Int = Field(ge=MIN_TICK, le=MAX_TICK)
    liquidity_net: Int = Field(ge=-(UINT128 // 2), lt=UINT128 // 2)  # int128


class _PoolStateBase(_Strict):
    """What every recorded state says: which venue, on which chain, at which block, and its two tokens."""

    protocol: str  # narrowed to one literal by each protocol's model; first in the file
    version: Literal[1]
    chain: str = Field(min_length=1)
    chain_id: Int = Field(ge=1)
    venue: str = Field(min_length=1)
    address: Address  # the pool (V3), pair (V2) or PoolManager (V4)
    block_number: Int = Field(ge=0)
    block_timestamp: Int = Field(ge=0)
    token0: TokenRecord
    token1: TokenRecord
    base: Literal["token0", "token1"]  # the risky token: `sell` gives it, `buy` receives it

    @property
    def base_is_token0(self) -> bool:
        return self.base == "token0"

    @property
    def base_token(self) -> TokenRecord:
        return self.token0 if self.base_is_token0 else self.token1

    @property
    def quote_token(self) -> TokenRecord:
        return self.token1 if self.base_is_token0 else self.token0


class UniswapV2PoolState(_PoolStateBase):
    """A constant-product pair: ``getReserves()`` at the block."""

    protocol: Literal["uniswap_v2"]
    fee: Literal[3000] = 3000  # every V2 pair charges 0.30%
    reserve0: Int = Field(gt=0, lt=UINT112)
    reserve1: Int = Field(gt=0, lt=UINT112)


class _TickedPoolState(_PoolStateBase):
    """A concentrated-liquidity pool with EVERY initialized tick (so a quote needs no window)."""

    tick_spacing: Int = Field(ge=1, le=16384)
    sqrt_price_x96: Int = Field(ge=MIN_SQRT_RATIO, lt=MAX_SQRT_RATIO)
    tick: Int = Field(ge=MIN_TICK, le=MAX_TICK)
    liquidity: Int = Field(ge=0, lt=UINT128)
    ticks: tuple[TickRecord, ...]  # ascending, every initialized tick of the pool

    @field_validator("tick")
    @classmethod
    def _tick_of_price(cls, tick: int, info: ValidationInfo) -> int:
        sqrt_price = info.data.get("sqrt_price_x96")
        if sqrt_price is not None:
            at_price = get_tick_at_sqrt_ratio(sqrt_price)
            # slot0's tick is the price's tick, or one below after a swap down that ended exactly on a tick.
            if tick not in (at_price, at_price - 1):
                raise ValueError(f"tick {tick} does not match sqrt_price_x96 (whose tick is {at_price})")
        return tick

    @field_validator("ticks")
    @classmethod
    def _all_ticks(cls, ticks: tuple[TickRecord, ...], info: ValidationInfo) -> tuple[TickRecord, ...]:
        # The checks a truncated or hand-edited file fails: ticks sorted, on the spacing, netting to zero, and the
        # in-range liquidity equal to the nets at or below the current tick (what every tick being present means).
        values = [t.tick for t in ticks]
        if values != sorted(set(values)):
            raise ValueError("ticks must be strictly ascending")
        spacing = info.data.get("tick_spacing")
        if spacing is not None and any(t % spacing for t in values):
            raise ValueError(f"every tick must be a multiple of tick_spacing {spacing}")
        if sum(t.liquidity_net for t in ticks) != 0:
            raise ValueError("the ticks' liquidity_net do not sum to zero: some initialized ticks are missing")
        liquidity, tick = info.data.get("liquidity"), info.data.get("tick")
        active = sum(t.liquidity_net for t in ticks if tick is not None and t.tick <= tick)
        if liquidity is not None and tick is not None and active != liquidity:
            raise ValueError(f"the liquidity_net at or below tick {tick} sum to {active}, not the liquidity "
                             f"{liquidity}: the ticks are not all the pool's initialized ticks")
        return ticks

    def nets(self) -> dict[int, int]:
        return {t.tick: t.liquidity_net for t in self.ticks}


class UniswapV3PoolState(_TickedPoolState):
    """A Uniswap V3 pool: slot0, ``liquidity()``, ``fee()``, ``tickSpacing()`` and every initialized tick."""

    protocol: Literal["uniswap_v3"]
    fee: Pips


class UniswapV4PoolState(_TickedPoolState):
    """A Uniswap V4 pool (PoolManager state by pool id, read through StateView): its pool key, slot0 with the LP
    and protocol fees, ``getLiquidity`` and every initialized tick. The swap fee is the LP fee with the protocol
    fee of the direction folded in (v4-core ``ProtocolFeeLibrary.calculateSwapFee``). ``token0`` / ``token1`` are
    the configured tokens; for a native-ETH currency that is the chain's WETH (``currency0`` stays 0x0)."""

    protocol: Literal["uniswap_v4"]
    pool_id: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
    currency0: Address  # the pool key's currencies (0x0 is native ETH)
    currency1: Address
    fee: Int = Field(ge=0, lt=1 << 24)  # the pool key's fee: the static LP fee, or 0x800000 for a dynamic-fee pool
    dynamic_fee: bool
    hooks: Address
    lp_fee: Int = Field(ge=0, le=1_000_000)  # pips, slot0's lpFee (what a swap pays, with the protocol fee)
    protocol_fee: Int = Field(ge=0, lt=1 << 24)  # slot0's protocolFee: 12 bits per direction, zeroForOne low

    @field_validator("dynamic_fee")
    @classmethod
    def _dynamic_of_fee(cls, dynamic: bool, info: ValidationInfo) -> bool:
        fee = info.data.get("fee")
        if fee is not None and dynamic != (fee == 0x800000):
            raise ValueError(f"dynamic_fee {dynamic} contradicts the key fee {fee} (0x800000 marks a dynamic fee)")
        return dynamic


PoolState = UniswapV2PoolState | UniswapV3PoolState | UniswapV4PoolState
_MODELS: dict[str, type[UniswapV2PoolState] | type[UniswapV3PoolState] | type[UniswapV4PoolState]] = {
    "uniswap_v2": UniswapV2PoolState, "uniswap_v3": UniswapV3PoolState, "uniswap_v4": UniswapV4PoolState,
}


def parse_pool_state(data: object, source: Path) -> PoolState:
    """Validate a parsed JSON document as a recorded pool state; InputError naming ``source`` and the field."""
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected a JSON object at the top level, got {type(data).__name__}")
    protocol = data.get("protocol")
    if protocol not in _MODELS:
        got = "required field is missing" if protocol is None else f"got {protocol!r}"
        raise InputError(f"{source}: protocol: expected one of {', '.join(_MODELS)}, {got}")
    try:
        return _MODELS[str(protocol)].model_validate(data)
    except ValidationError as exc:
        raise InputError(describe_validation_error(source, exc)) from None


def load_pool_state(path: Path) -> PoolState:
    """Read and validate one recorded pool state (see the module doc); InputError with one sentence on any problem."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the pool state file ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    return parse_pool_state(data, path)


def pool_state_filename(record: PoolState) -> str:
    """``<chain>.<venue>.json``: one file per venue, stable across blocks (a newer save replaces it)."""
    return f"{record.chain}.{record.venue}.json"


def write_pool_state(directory: Path, record: PoolState) -> Path:
    """Write ``record`` into ``directory`` (created if needed) as indented JSON; returns the file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / pool_state_filename(record)
    path.write_text(json.dumps(record.model_dump(mode="json"), indent=1) + "\n")
    return path


__all__ = [
    "FORMAT_VERSION",
    "PoolState",
    "TickRecord",
    "TokenRecord",
    "UniswapV2PoolState",
    "UniswapV3PoolState",
    "UniswapV4PoolState",
    "load_pool_state",
    "parse_pool_state",
    "pool_state_filename",
    "write_pool_state",
]
