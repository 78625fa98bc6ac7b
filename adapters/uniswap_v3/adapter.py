"""The ``uniswap_v3`` venue adapter: exact quotes from on-chain pool state, convex curves, swaps, fills.

Reads go through :mod:`adapters.uniswap_v3.reader` (one round trip per chain for all its V3 pools through the read
lens; through the multicall at most 3, 1 when the instance has read them before); curves come from a closed-form
pass over the tick ranges (:mod:`adapters.uniswap_v3.curve`); quotes replay the pool's swap loop in
:mod:`adapters.uniswap_v3.pool` on that state, to the wei; the model is built once per state (:class:`ModelCache`),
so a quote costs only its swap walk. A swap that runs out of the pool's liquidity is a partial fill (``quote_swap``
says how much input it consumed); one that needs ticks past the read window is refused (QuoteOutOfRangeError).
``save_state`` records a pool with every initialized tick (:mod:`adapters.uniswap_v3.records`) and
``quote_pool_state`` quotes such a record. Swaps go through the periphery SwapRouter's ``exactInputSingle``. Gas: a
fixed swap cost plus 31,000 per initialized tick crossed (the cost model of Uniswap's smart-order-router,
`v3-heuristic-gas-model.ts`).

Usage::

    adapter = UniswapV3Adapter()
    [state] = adapter.read(chain, [venue], block)
    out = adapter.quote(state, Side.SELL, 10**18)
    tx = adapter.build_swap(state, Side.SELL, 10**18, out * 997 // 1000, wallet, deadline)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from web3 import Web3

from adapters.contract import Capability, VenueChecks, VenueContracts, read_staged
from adapters.pool_state import PoolState, UniswapV3PoolState
from adapters.receipts import SwapAmounts, fill_from_receipt
from adapters.rpc import Address, Stages, Walk, calldata, decode
from adapters.types import ChainContext, Fill, Side, SwapQuote, TxRequest, VenueEntry, VenueState
from adapters.uniswap.curve import CurveCache
from adapters.uniswap.tokens import base_quote
from adapters.uniswap_v3.curve import cached_curve_of
from adapters.uniswap_v3.pool import OutOfWindow, PoolModel, SwapResult
from adapters.uniswap_v3.reader import HintCache, PoolRead, PoolRequest, lens_walks, read_pools_staged
from adapters.uniswap_v3.records import quote_record, read_full, record_of, swap_quote
from adapters.uniswap_v3.verification import v3_checks
from crosshedge import AdapterError, InputError, QuoteOutOfRangeError

SWAP_GAS = 110_000  # exactInputSingle through SwapRouter, no tick crossed (token transfers + pool swap)
GAS_PER_TICK = 31_000
M = TypeVar("M")
SWAP_TOPIC = Web3.keccak(text="Swap(address,address,int256,int256,uint160,uint128,int24)")
EXACT_INPUT_SINGLE = "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"


class UniswapV3Config(BaseModel):
    """A chains.yaml venue section for one Uniswap V3 pool."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pool: Address
    router: Address  # periphery SwapRouter (exactInputSingle with a deadline)
    quoter: Address | None = None  # QuoterV2, used only by tests and diagnostics
    window_ticks: int = Field(default=4000, ge=1, le=887272)  # ticks read each side of the price (4000 ≈ ±49%)


def model_of(state: VenueState) -> PoolModel:
    """Rebuild the exact pool model from a state's JSON-able ``pool`` dict (uncached: see :class:`ModelCache`)."""
    p = state.pool
    lo, hi = p["word_range"]
    bitmap = dict.fromkeys(range(lo, hi + 1), 0)
    bitmap.update({int(w): int(v) for w, v in p["bitmap"]})
    return PoolModel(
        sqrt_price_x96=int(p["sqrt_price_x96"]), tick=int(p["tick"]), liquidity=int(p["liquidity"]),
        fee=int(p["fee"]), tick_spacing=int(p["tick_spacing"]), bitmap=bitmap,
        liquidity_net={int(t): int(n) for t, n in p["ticks"]}, word_range=(lo, hi),
        venue=f"chain {state.chain}: venue {state.venue}",
    )


class ModelCache(Generic[M]):
    """Pool models (``build(state)``) by the identity of the state they were built from, at most ``size`` of them
    (oldest dropped). The V3 adapter builds PoolModels; the V4 adapter its per-direction V4 models.

    States are immutable values, so a model built once serves every quote of that state; an entry holds its state,
    so the id it is keyed by cannot be reused by another object while the entry lives. Thread-safe.

    Usage::

        cache = ModelCache(model_of); model = cache.model(state)  # the same object for the same state
    """

    def __init__(self, build: Callable[[VenueState], M], size: int = 256) -> None:
        self._build, self._size = build, size
        self._lock = threading.Lock()
        self._entries: OrderedDict[int, tuple[VenueState, M]] = OrderedDict()

    def model(self, state: VenueState) -> M:
        entry = self._entries.get(id(state))
        if entry is not None and entry[0] is state:
            return entry[1]
        model = self._build(state)
        with self._lock:
            self._entries[id(state)] = (state, model)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return model


def zero_for_one(state: VenueState, side: Side) -> bool:
    """SELL gives base: token0 -> token1 exactly when base is token0."""
    return bool(state.pool["base_is_token0"]) == (side is Side.SELL)


def mid_price(model: PoolModel, base_is_token0: bool, dec0: int, dec1: int) -> float:
    """Quote per base in human units at the pool's current price (no fee)."""
    price01 = (model.sqrt_price_x96 / 2**96) ** 2 * 10 ** (dec0 - dec1)  # token1 per token0, human
    return float(price01 if base_is_token0 else 1 / price01)


class UniswapV3Adapter:
    """Venue adapter for Uniswap V3 pools (see module docstring)."""

    name: ClassVar[str] = "uniswap_v3"
    kind: ClassVar[Literal["venue"]] = "venue"
    config_model: ClassVar[type[BaseModel]] = UniswapV3Config
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.STAGED_READS, Capability.LENS_READS, Capability.POOL_STATE})

    def __init__(self) -> None:
        # Which bitmap words and ticks each pool had last time: lets a repeated read fetch them in its first round
        # (one round trip instead of three). Never a source of values; see reader.HintCache.
        self._hints = HintCache()
        self._models = ModelCache(model_of)
        self._curves = CurveCache()

    def contracts(self, venue: VenueEntry) -> VenueContracts:
        """Approvals and swaps go to the SwapRouter; reads touch the pool (and the QuoterV2 in diagnostics)."""
        config = self._config(venue)
        read = {"pool": config.pool} | ({"quoter": config.quoter} if config.quoter else {})
        return VenueContracts(spender=config.router, called={"router": config.router}, read=read)

    def verification(self, venue: VenueEntry) -> VenueChecks:
        """SwapRouter, pool and QuoterV2 against the npm artifacts, the pool's factory and tokens derived from it,
        and the links V3 makes between them (see :mod:`adapters.uniswap_v3.verification`)."""
        config = self._config(venue)
        return v3_checks(config.pool, config.router, config.quoter, swap_signature=EXACT_INPUT_SINGLE)

    def read(self, chain: ChainContext, venues: Sequence[VenueEntry], block: int) -> list[VenueState]:
        """Every given pool at ``block``, with curves: one round trip through the read lens, else at most 3
        (reader.MAX_ROUND_TRIPS) through the multicall."""
        return read_staged(self, chain, venues, block)

    def lens_stages(self, chain: ChainContext, venues: Sequence[VenueEntry]) -> tuple[Stages, list[Walk]]:
        """:meth:`read_stages` for the read lens (no predicted calls) and the walks that answer its rounds 2-3."""
        requests = self._requests(venues)
        return self._stages(chain, venues, requests, predict=False), lens_walks(requests)

    def read_stages(self, chain: ChainContext, venues: Sequence[VenueEntry]) -> Stages:
        """:meth:`read` as a staged reader, to merge its rounds with other adapters' (adapters.rpc.run_stages)."""
        return self._stages(chain, venues, self._requests(venues), predict=True)

    def _requests(self, venues: Sequence[VenueEntry]) -> list[PoolRequest]:
        return [PoolRequest(v.name, c.pool, c.window_ticks) for v, c in ((v, self._config(v)) for v in venues)]

    def _stages(self, chain: ChainContext, venues: Sequence[VenueEntry], requests: Sequence[PoolRequest],
                predict: bool) -> Stages:
        configs = [self._config(v) for v in venues]
        reads = yield from read_pools_staged(chain, requests, self._hints, predict)
        return [self._state(chain, r, c) for r, c in zip(reads, configs, strict=True)]

    def _config(self, venue: VenueEntry) -> UniswapV3Config:
        if not isinstance(venue.config, UniswapV3Config):
            raise AdapterError(f"chain {venue.chain}: venue {venue.name}: config is not a uniswap_v3 section")
        return venue.config

    def _state(self, chain: ChainContext, r: PoolRead, config: UniswapV3Config) -> VenueState:
        base, quote = base_quote(chain.name, r.venue, r.token0, r.token1)
        base_is_token0 = base is r.token0
        m = r.model
        pool: dict[str, Any] = {
            "address": r.address, "router": config.router, "quoter": config.quoter, "chain_id": chain.chain_id,
            "token0": r.token0.address, "token1": r.token1.address, "base_is_token0": base_is_token0,
            "sqrt_price_x96": m.sqrt_price_x96, "tick": m.tick, "liquidity": m.liquidity, "fee": m.fee,
            "tick_spacing": m.tick_spacing, "word_range": list(m.word_range),
            "bitmap": [[w, v] for w, v in sorted(m.bitmap.items()) if v],
            "ticks": [[t, n] for t, n in sorted(m.liquidity_net.items())],
        }
        sell_zf1 = base_is_token0
        return VenueState(
            chain=chain.name, venue=r.venue, adapter=self.name, underlying=base.underlying, base=base, quote=quote,
            fee_pips=m.fee, mid_price=mid_price(m, base_is_token0, r.token0.decimals, r.token1.decimals),
            block_number=r.block_number, block_timestamp=r.block_timestamp, gas_units=SWAP_GAS,
            gas_units_per_tick=GAS_PER_TICK,
            sell=cached_curve_of(self._curves, m, sell_zf1, Side.SELL, base.decimals, quote.decimals),
            buy=cached_curve_of(self._curves, m, not sell_zf1, Side.BUY, base.decimals, quote.decimals),
            pool=pool, pools=(r.address.lower(),),
        )

    def quote(self, state: VenueState, side: Side, amount_in: int) -> int:
        """Exact amountOut of an exact-in swap, as QuoterV2 and the pool compute it (a partial fill's output when the
        pool's liquidity ends first); raises QuoteOutOfRangeError past the read window."""
        return self._swap(state, side, amount_in).amount_out

    def quote_swap(
        self, state: VenueState, side: Side, amount_in: int, sqrt_price_limit: int | None = None
    ) -> SwapQuote:
        """:meth:`quote` in full: input consumed, output, price after, ticks crossed and whether it was partial.

        ``sqrt_price_limit`` stops the swap there, like the pool's (PriceLimitError naming the venue where the
        pool would revert 'SPL'); by default the swap may run to the end of the price range, as QuoterV2's.
        """
        result = self._swap(state, side, amount_in, sqrt_price_limit)
        p = state.pool
        dec0, dec1 = (state.base.decimals, state.quote.decimals) if p["base_is_token0"] else \
            (state.quote.decimals, state.base.decimals)
        return swap_quote(side, amount_in, result, bool(p["base_is_token0"]), dec0, dec1)

    def estimate_gas(self, state: VenueState, side: Side, amount_in: int) -> int:
        """Execution gas: the swap's base cost plus GAS_PER_TICK per initialized tick it crosses."""
        return state.gas_units + state.gas_units_per_tick * self._swap(state, side, amount_in).initialized_ticks_crossed

    def _swap(self, state: VenueState, side: Side, amount_in: int, sqrt_price_limit: int | None = None) -> SwapResult:
        if amount_in <= 0:
            raise AdapterError(f"chain {state.chain}: venue {state.venue}: amount_in must be positive, got {amount_in}")
        try:
            return self._models.model(state).swap_exact_in(zero_for_one(state, side), amount_in, sqrt_price_limit)
        except OutOfWindow as exc:
            raise QuoteOutOfRangeError(
                f"chain {state.chain}: venue {state.venue}: {side.value} of {amount_in} raw units runs past the "
                f"liquidity read at block {state.block_number} ({exc}); read a wider window_ticks"
            ) from None

    def save_state(self, chain: ChainContext, venues: Sequence[VenueEntry], block: int) -> list[PoolState]:
        """Every given pool at ``block`` with ALL its initialized ticks (the whole bitmap, in chunked multicalls)."""
        requests = [PoolRequest(v.name, self._config(v).pool, 1) for v in venues]
        return [record_of(chain, r) for r in read_full(chain, requests, block)]

    def quote_pool_state(self, record: PoolState, side: Side, amount_in: int) -> SwapQuote:
        """Exact-in quote from a recorded V3 state: no window, partial fills as QuoterV2 reports them."""
        if not isinstance(record, UniswapV3PoolState):
            raise InputError(f"chain {record.chain}: venue {record.venue}: a {record.protocol} state is not a "
                             "uniswap_v3 state")
        return quote_record(record, side, amount_in)

    def build_swap(  # the VenueAdapter protocol's signature
        self, state: VenueState, side: Side, amount_in: int, min_amount_out: int, recipient: str, deadline: int
    ) -> TxRequest:
        """SwapRouter.exactInputSingle with ``min_amount_out`` (must be > 0) and ``deadline``; no price limit."""
        if amount_in <= 0 or min_amount_out <= 0:
            raise AdapterError(
                f"chain {state.chain}: venue {state.venue}: amount_in and min_amount_out must be positive "
                f"(got {amount_in}, {min_amount_out}); a zero minimum would accept any price"
            )
        token_in, token_out = (state.base, state.quote) if side is Side.SELL else (state.quote, state.base)
        params = (
            token_in.address, token_out.address, state.fee_pips, Web3.to_checksum_address(recipient), deadline,
            amount_in, min_amount_out, 0,
        )
        return TxRequest(
            chain_id=int(state.pool["chain_id"]), to=str(state.pool["router"]),
            data=calldata(EXACT_INPUT_SINGLE, params),
            description=f"{state.venue}: {side.value} {amount_in} {token_in.symbol} for >= {min_amount_out} "
            f"{token_out.symbol}",
        )

    def parse_receipt(self, state: VenueState, receipt: Mapping[str, Any]) -> Fill:
        """The pool's Swap event in ``receipt`` as a Fill; AdapterError if the tx failed or has no such event."""
        return fill_from_receipt(state, receipt, SWAP_TOPIC, "pool", decode_v3_swap)


def decode_v3_swap(data: bytes, base_is_token0: bool) -> SwapAmounts:
    """A V3 Swap event reports signed deltas from the pool's side: positive was paid into the pool."""
    amount0, amount1, *_ = decode(("int256", "int256", "uint160", "uint128", "int24"), data)
    base_delta, quote_delta = (amount0, amount1) if base_is_token0 else (amount1, amount0)
    if base_delta > 0:
        return SwapAmounts(Side.SELL, int(base_delta), int(-quote_delta), int(base_delta), int(-quote_delta))
    return SwapAmounts(Side.BUY, int(quote_delta), int(-base_delta), int(-base_delta), int(quote_delta))
