"""The legs of a route: one pool each, read and quoted by its own protocol's code, behind one small interface.

A leg kind is named after the venue adapter whose pools it reads (``uniswap_v3``, ``uniswap_v2``, ``uniswap_v4``;
another protocol plugs in by adding a :class:`LegKind` to :data:`LEG_KINDS` under that name). A kind reads its pools
with that adapter's own staged reader (the V3 reader's bounded rounds and lens walks; the V2 pair fields; V4's
StateView reader and walks), records each pool as a JSON-able dict, turns such a dict back into an exact
:class:`LegModel`, and finds and decodes its Swap event. Nothing here assumes a USD side: a leg is any pool of two
configured tokens (WBTC/WETH).

A leg's ``address`` is its identity (the pool's or pair's address; a V4 pool's id) and its ``custodian`` the
contract that holds its tokens, emits its Swap and is paid and pays in the wallet's Transfers (the pool or pair
itself; V4's PoolManager).

Usage::

    kind = LEG_KINDS["uniswap_v3"]
    states = yield from kind.read_stages(chain, [leg_config], "route_x", window_ticks=4000, hints=hints, predict=True)
    fill = kind.model(states["0xpool"], "chain c: venue route_x leg 1").swap(zero_for_one=True, amount_in=10**8)
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from hexbytes import HexBytes
from web3 import Web3

from adapters.rpc import Call, StageResult, Walk, decode, encode_call
from adapters.types import ChainContext
from adapters.uniswap.math import PIPS, Q96, V2_FEE_PIPS, get_amount_out
from adapters.uniswap.tokens import check_token
from adapters.uniswap_route.config import LegConfig, V4LegConfig
from adapters.uniswap_v3.pool import OutOfWindow, PoolModel
from adapters.uniswap_v3.reader import HintCache, PoolRequest, lens_walks, read_pools_staged
from adapters.uniswap_v4.execution import SWAP_TOPIC as V4_SWAP_TOPIC
from adapters.uniswap_v4.model import V4Model
from adapters.uniswap_v4.reader import V4Request, read_v4_pools_staged
from adapters.uniswap_v4.reader import lens_walks as v4_lens_walks
from crosshedge import AdapterError, QuoteOutOfRangeError

#: A leg's recorded state: addresses, tokens, fee and the protocol's exact state, JSON-able.
LegState = dict[str, Any]
#: A staged reader of one kind's pools: yields calls, returns each pool's state by (lowercase) address.
LegStages = Generator[list[Call], StageResult, dict[str, LegState]]


@dataclass(frozen=True)
class LegFill:
    """One leg's exact-in swap: input consumed (fee included), output, initialized ticks crossed, partial."""

    amount_in: int
    amount_out: int
    ticks_crossed: int = 0
    partial: bool = False
    rate_after: float = 0.0  # raw output per raw input at the pool's price after the swap, fee excluded


class LegModel(Protocol):
    """An exact, read-only model of one leg's pool at the read block."""

    @property
    def fee_pips(self) -> int:
        """The pool's fee in pips (V2: 3000)."""
        ...

    def swap(self, zero_for_one: bool, amount_in: int) -> LegFill:
        """The pool's exact-in swap (QuoteOutOfRangeError past what was read)."""
        ...

    def mid_rate(self, zero_for_one: bool) -> float:
        """Raw output per raw input at the current price, fee excluded."""
        ...

    def reserve_in(self, zero_for_one: bool) -> float:
        """The input token's (virtual) reserve at the current price, raw: the scale of the pool's curvature."""
        ...


class LegKind(Protocol):
    """How a route reads, models and decodes the pools of one protocol (see module doc)."""

    name: ClassVar[str]
    #: topic0 of the pool's Swap event (a fill is cross-checked against it).
    swap_topic: ClassVar[bytes]

    def read_stages(self, chain: ChainContext, legs: Sequence[LegConfig], label: str, window_ticks: int,
                    hints: HintCache, predict: bool) -> LegStages:
        """Read every given leg's pool at one block (staged, so its rounds merge with the chain's other reads);
        the states come back by the legs' ``pool`` lower-cased."""
        ...

    def walks(self, legs: Sequence[LegConfig], window_ticks: int) -> list[Walk]:
        """The read-lens walks that answer this kind's later rounds (none for a kind read in one round)."""
        ...

    def model(self, state: LegState, where: str) -> LegModel:
        """The exact model of a recorded leg state; ``where`` names the route and leg in errors."""
        ...

    def is_swap_log(self, state: LegState, log: Mapping[str, Any]) -> bool:
        """Whether a receipt log is this leg's Swap event."""
        ...

    def decode_swap(self, data: bytes, zero_for_one: bool) -> tuple[int, int]:
        """(amount in, amount out) of the pool's Swap event data for a swap in that direction."""
        ...


def _emitted_by(log: Mapping[str, Any], address: str, topic: bytes) -> bool:
    topics = log["topics"]
    return Web3.to_checksum_address(log["address"]) == Web3.to_checksum_address(address) and bool(topics) \
        and HexBytes(topics[0]) == topic


# ---------------------------------------------------------------- Uniswap V3


def _tick_pool_fill(pool: PoolModel, zero_for_one: bool, amount_in: int) -> LegFill:
    """The exact-in swap of a tick-walking pool model (a V3 pool, or a V4 pool's model for that direction)."""
    try:
        r = pool.swap_exact_in(zero_for_one, amount_in)
    except OutOfWindow as exc:
        raise QuoteOutOfRangeError(f"{pool.venue}: a swap of {amount_in} raw units runs past the liquidity read "
                                   f"({exc}); read a wider window_ticks") from None
    price01 = (r.sqrt_price_x96 / Q96) ** 2
    return LegFill(r.amount_in, r.amount_out, r.initialized_ticks_crossed, r.partial,
                   price01 if zero_for_one else 1 / price01)


@dataclass(frozen=True)
class V3LegModel:
    """A V3 pool's exact model as a route leg."""

    token0: str
    token1: str
    fee_pips: int
    pool: PoolModel

    def swap(self, zero_for_one: bool, amount_in: int) -> LegFill:
        return _tick_pool_fill(self.pool, zero_for_one, amount_in)

    def mid_rate(self, zero_for_one: bool) -> float:
        price01 = (self.pool.sqrt_price_x96 / Q96) ** 2  # raw token1 per raw token0
        return price01 if zero_for_one else 1 / price01

    def reserve_in(self, zero_for_one: bool) -> float:
        s = self.pool.sqrt_price_x96 / Q96
        liquidity = float(max(self.pool.liquidity, 1))
        return liquidity / s if zero_for_one else liquidity * s  # x = L/√P, y = L·√P


class V3Leg:
    """Uniswap V3 pools as legs, read by the V3 adapter's own staged reader (lens walks included)."""

    name: ClassVar[str] = "uniswap_v3"
    swap_topic: ClassVar[bytes] = bytes(Web3.keccak(text="Swap(address,address,int256,int256,uint160,uint128,int24)"))

    def read_stages(self, chain: ChainContext, legs: Sequence[LegConfig], label: str, window_ticks: int,
                    hints: HintCache, predict: bool) -> LegStages:
        requests = [PoolRequest(f"{label} leg {leg.pool}", leg.pool, window_ticks) for leg in legs]
        reads = yield from read_pools_staged(chain, requests, hints, predict)
        out: dict[str, LegState] = {}
        for r in reads:
            m = r.model
            out[r.address.lower()] = {
                "kind": self.name, "address": r.address, "custodian": r.address, "token0": r.token0.address,
                "token1": r.token1.address, "fee": m.fee, "sqrt_price_x96": m.sqrt_price_x96, "tick": m.tick,
                "liquidity": m.liquidity, "tick_spacing": m.tick_spacing, "word_range": list(m.word_range),
                "bitmap": [[w, v] for w, v in sorted(m.bitmap.items()) if v],
                "ticks": [[t, n] for t, n in sorted(m.liquidity_net.items())],
                "block_timestamp": r.block_timestamp,
            }
        return out

    def walks(self, legs: Sequence[LegConfig], window_ticks: int) -> list[Walk]:
        return lens_walks([PoolRequest(leg.pool, leg.pool, window_ticks) for leg in legs])

    def model(self, state: LegState, where: str) -> LegModel:
        lo, hi = state["word_range"]
        bitmap = dict.fromkeys(range(lo, hi + 1), 0)
        bitmap.update({int(w): int(v) for w, v in state["bitmap"]})
        pool = PoolModel(
            sqrt_price_x96=int(state["sqrt_price_x96"]), tick=int(state["tick"]), liquidity=int(state["liquidity"]),
            fee=int(state["fee"]), tick_spacing=int(state["tick_spacing"]), bitmap=bitmap,
            liquidity_net={int(t): int(n) for t, n in state["ticks"]}, word_range=(lo, hi), venue=where,
        )
        return V3LegModel(str(state["token0"]), str(state["token1"]), int(state["fee"]), pool)

    def is_swap_log(self, state: LegState, log: Mapping[str, Any]) -> bool:
        return _emitted_by(log, str(state["address"]), self.swap_topic)

    def decode_swap(self, data: bytes, zero_for_one: bool) -> tuple[int, int]:
        amount0, amount1, *_ = decode(("int256", "int256", "uint160", "uint128", "int24"), data)
        # Deltas from the pool's side: what was paid in is positive, what was paid out negative.
        return (int(amount0), int(-amount1)) if zero_for_one else (int(amount1), int(-amount0))


# ---------------------------------------------------------------- Uniswap V2

_V2_FIELDS = (("getReserves()", ("uint112", "uint112", "uint32")), ("token0()", ("address",)),
              ("token1()", ("address",)))


@dataclass(frozen=True)
class V2LegModel:
    """A V2 pair's reserves as a route leg (UniswapV2Library.getAmountOut, 0.3% fee)."""

    token0: str
    token1: str
    reserve0: int
    reserve1: int
    fee_pips: int = V2_FEE_PIPS

    def swap(self, zero_for_one: bool, amount_in: int) -> LegFill:
        r_in, r_out = (self.reserve0, self.reserve1) if zero_for_one else (self.reserve1, self.reserve0)
        out = get_amount_out(amount_in, r_in, r_out)  # a pair never fills partially
        return LegFill(amount_in, out, rate_after=(r_out - out) / (r_in + amount_in))

    def mid_rate(self, zero_for_one: bool) -> float:
        return self.reserve1 / self.reserve0 if zero_for_one else self.reserve0 / self.reserve1

    def reserve_in(self, zero_for_one: bool) -> float:
        return float(self.reserve0 if zero_for_one else self.reserve1)


class V2Leg:
    """Uniswap V2 pairs as legs: reserves and tokens in one round (they ride in the chain's first multicall)."""

    name: ClassVar[str] = "uniswap_v2"
    swap_topic: ClassVar[bytes] = bytes(Web3.keccak(text="Swap(address,uint256,uint256,uint256,uint256,address)"))

    def read_stages(self, chain: ChainContext, legs: Sequence[LegConfig], label: str, window_ticks: int,
                    hints: HintCache, predict: bool) -> LegStages:
        addresses = [leg.pool for leg in legs]
        if not addresses:
            return {}
        tokens = list(chain.tokens.values())
        calls = [encode_call(a, sig) for a in addresses for sig, _ in _V2_FIELDS]
        calls += [encode_call(t.address, "decimals()") for t in tokens]
        _, results = yield calls
        n = len(_V2_FIELDS)
        dec = {t.address: int(decode(("uint8",), r.data)[0])
               for t, r in zip(tokens, results[len(addresses) * n:], strict=True) if r.success and r.data}
        out: dict[str, LegState] = {}
        for i, address in enumerate(addresses):
            where = f"{label} leg {address}"
            try:
                (r0, r1, _), (t0,), (t1,) = [decode(types, r.data if r.success else b"")
                                             for (_, types), r in zip(_V2_FIELDS, results[i * n:(i + 1) * n],
                                                                      strict=True)]
            except ValueError as exc:
                raise AdapterError(f"chain {chain.name}: venue {where}: not a Uniswap V2 pair ({exc})") from None
            if r0 == 0 or r1 == 0:
                raise AdapterError(f"chain {chain.name}: venue {where}: the pair has no reserves")
            token0, token1 = check_token(chain, where, str(t0), dec), check_token(chain, where, str(t1), dec)
            out[address.lower()] = {"kind": self.name, "address": address, "custodian": address,
                                    "token0": token0.address, "token1": token1.address, "fee": V2_FEE_PIPS,
                                    "reserve0": int(r0), "reserve1": int(r1)}
        return out

    def walks(self, legs: Sequence[LegConfig], window_ticks: int) -> list[Walk]:
        return []

    def model(self, state: LegState, where: str) -> LegModel:
        return V2LegModel(str(state["token0"]), str(state["token1"]), int(state["reserve0"]), int(state["reserve1"]))

    def is_swap_log(self, state: LegState, log: Mapping[str, Any]) -> bool:
        return _emitted_by(log, str(state["address"]), self.swap_topic)

    def decode_swap(self, data: bytes, zero_for_one: bool) -> tuple[int, int]:
        a0_in, a1_in, a0_out, a1_out = decode(("uint256",) * 4, data)
        return (int(a0_in), int(a1_out)) if zero_for_one else (int(a1_in), int(a0_out))


# ---------------------------------------------------------------- Uniswap V4


@dataclass(frozen=True)
class V4LegModel:
    """A V4 pool's exact model as a route leg: V3's walk with V4's exact-in step and each direction's swap fee."""

    token0: str
    token1: str
    pool: V4Model

    @property
    def fee_pips(self) -> int:
        # The larger direction's fee: it only scales curve estimates (fee_factor); quotes use each direction's own.
        return max(self.pool.zero_for_one.fee, self.pool.one_for_zero.fee)

    def swap(self, zero_for_one: bool, amount_in: int) -> LegFill:
        return _tick_pool_fill(self.pool.direction(zero_for_one), zero_for_one, amount_in)

    def mid_rate(self, zero_for_one: bool) -> float:
        price01 = (self.pool.zero_for_one.sqrt_price_x96 / Q96) ** 2
        return price01 if zero_for_one else 1 / price01

    def reserve_in(self, zero_for_one: bool) -> float:
        s = self.pool.zero_for_one.sqrt_price_x96 / Q96
        liquidity = float(max(self.pool.zero_for_one.liquidity, 1))
        return liquidity / s if zero_for_one else liquidity * s


class V4Leg:
    """Uniswap V4 pools (ERC20 currencies) as legs, read through StateView by the V4 adapter's own staged reader
    (its lens walks included); the Swap event is PoolManager's, for the leg's pool id."""

    name: ClassVar[str] = "uniswap_v4"
    swap_topic: ClassVar[bytes] = bytes(V4_SWAP_TOPIC)

    @staticmethod
    def _requests(legs: Sequence[LegConfig], label: str, window_ticks: int) -> list[V4Request]:
        out = []
        for leg in legs:
            if not isinstance(leg, V4LegConfig):
                raise AdapterError(f"venue {label}: leg {leg.pool} is not a uniswap_v4 leg")
            out.append(V4Request(f"{label} leg {leg.pool}", leg.state_view, leg.key, window_ticks))
        return out

    def read_stages(self, chain: ChainContext, legs: Sequence[LegConfig], label: str, window_ticks: int,
                    hints: HintCache, predict: bool) -> LegStages:
        managers = {leg.pool.lower(): leg.pool_manager for leg in legs if isinstance(leg, V4LegConfig)}
        reads = yield from read_v4_pools_staged(chain, self._requests(legs, label, window_ticks), hints, predict)
        out: dict[str, LegState] = {}
        for r in reads:
            pool_id = r.key.pool_id
            out[pool_id.lower()] = {
                "kind": self.name, "address": pool_id, "custodian": managers[pool_id.lower()],
                "token0": r.token0.address, "token1": r.token1.address, "fee": r.key.fee,
                "tick_spacing": r.key.tick_spacing, "hooks": r.key.hooks, "lp_fee": r.lp_fee,
                "protocol_fee": r.protocol_fee, "sqrt_price_x96": r.sqrt_price_x96, "tick": r.tick,
                "liquidity": r.liquidity, "word_range": list(r.word_range),
                "bitmap": [[w, v] for w, v in sorted(r.bitmap.items()) if v],
                "ticks": [[t, n] for t, n in sorted(r.liquidity_net.items())],
                "block_timestamp": r.block_timestamp,
            }
        return out

    def walks(self, legs: Sequence[LegConfig], window_ticks: int) -> list[Walk]:
        return v4_lens_walks(self._requests(legs, "route", window_ticks))

    def model(self, state: LegState, where: str) -> LegModel:
        lo, hi = state["word_range"]
        bitmap = dict.fromkeys(range(lo, hi + 1), 0)
        bitmap.update({int(w): int(v) for w, v in state["bitmap"]})
        pool = V4Model.of(int(state["sqrt_price_x96"]), int(state["tick"]), int(state["liquidity"]),
                          int(state["lp_fee"]), int(state["protocol_fee"]), int(state["tick_spacing"]), bitmap,
                          {int(t): int(n) for t, n in state["ticks"]}, (lo, hi), venue=where)
        return V4LegModel(str(state["token0"]), str(state["token1"]), pool)

    def is_swap_log(self, state: LegState, log: Mapping[str, Any]) -> bool:
        topics = log["topics"]
        return _emitted_by(log, str(state["custodian"]), self.swap_topic) and len(topics) > 1 \
            and HexBytes(topics[1]) == HexBytes(str(state["address"]))

    def decode_swap(self, data: bytes, zero_for_one: bool) -> tuple[int, int]:
        amount0, amount1, *_ = decode(("int128", "int128", "uint160", "uint128", "int24", "uint24"), data)
        # The swapper's deltas (Pool.swap's swapDelta): what it paid negative, what it took positive.
        return (int(-amount0), int(amount1)) if zero_for_one else (int(-amount1), int(amount0))


#: Leg kinds by the name of the venue adapter whose pools they read. A new protocol's legs are one more entry here
#: plus its UniversalRouter command in :mod:`adapters.uniswap_route.router`.
LEG_KINDS: Mapping[str, LegKind] = {V3Leg.name: V3Leg(), V2Leg.name: V2Leg(), V4Leg.name: V4Leg()}


def fee_factor(models: Sequence[LegModel]) -> float:
    """The fraction of the input that survives every leg's fee (0.9995 · 0.997 for a 5 bp then a V2 leg)."""
    out = 1.0
    for m in models:
        out *= (PIPS - m.fee_pips) / PIPS
    return out


__all__ = ["LEG_KINDS", "LegFill", "LegKind", "LegModel", "LegStages", "LegState", "V2Leg", "V2LegModel", "V3Leg",
           "V3LegModel", "V4Leg", "V4LegModel", "fee_factor"]
