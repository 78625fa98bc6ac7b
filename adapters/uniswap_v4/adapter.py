"""The ``uniswap_v4`` venue adapter: exact quotes of one V4 pool (by its pool key) from PoolManager state.

Reads go through StateView: one round trip inside the chain's read-lens call (its StateView walks answer the later
rounds), else at most three staged multicall rounds merged with the chain's other readers
(:mod:`adapters.uniswap_v4.reader`); quotes replay V4's swap loop, V3's with V4's fees and exact-in step
(:mod:`adapters.uniswap_v4.model`), to the wei of V4Quoter; curves come from the same closed-form pass as V3's,
per direction with its own swap fee. Pools whose hooks can change a swap's amounts are refused when the config
loads, naming the reason (:mod:`adapters.uniswap_v4.hooks`); ``crosshedge venues`` states each venue's policy.

Native ETH: the wallet holds WETH, so a native-currency pool's state has the chain's WETH (``weth`` in the config)
as its token and ``pool["native"]`` says the pool's currency is ether: the Universal Router plan wraps and unwraps.
Swaps and fills are delegated to :mod:`adapters.uniswap_v4.execution`.

Usage::

    adapter = UniswapV4Adapter()
    [state] = adapter.read(chain, [venue], block)
    out = adapter.quote(state, Side.SELL, 10**18)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from adapters.contract import Capability, VenueChecks, VenueContracts, read_staged
from adapters.permit2 import PermitRequest, SignedPermit
from adapters.pool_state import PoolState, UniswapV4PoolState
from adapters.rpc import Address, Stages, Walk
from adapters.types import ChainContext, Fill, Side, SwapQuote, TxRequest, VenueEntry, VenueState
from adapters.uniswap.curve import CurveCache
from adapters.uniswap.math import PIPS
from adapters.uniswap.tokens import base_quote
from adapters.uniswap_v3.adapter import ModelCache, mid_price
from adapters.uniswap_v3.curve import cached_curve_of
from adapters.uniswap_v3.pool import OutOfWindow, SwapResult
from adapters.uniswap_v3.reader import HintCache
from adapters.uniswap_v3.records import swap_quote
from adapters.uniswap_v4.encoding import NATIVE, NO_HOOKS, PoolKey
from adapters.uniswap_v4.execution import build_v4_swap, parse_v4_fill, v4_permit_request
from adapters.uniswap_v4.fees import DYNAMIC_FEE_FLAG, is_dynamic_fee
from adapters.uniswap_v4.hooks import HookPolicy, hook_policy, pool_key_problem
from adapters.uniswap_v4.model import V4Model, model_of
from adapters.uniswap_v4.reader import V4Read, V4Request, lens_walks, read_v4_pools_staged
from adapters.uniswap_v4.records import quote_record_v4, read_full_v4, record_of_v4
from adapters.uniswap_v4.verification import v4_checks
from crosshedge import AdapterError, InputError, QuoteOutOfRangeError

#: Gas of one exact-in single-pool V4 swap through UniversalRouter.execute(V4_SWAP) crossing no initialized tick,
#: the transaction's whole gasUsed (21k intrinsic and calldata included), measured on the devnet by
#: tests/integration/adapters/test_uniswap_v4_gas.py: ERC20 in (pulled through Permit2) 134.5k-146.6k, native ETH
#: in 118.7k (no Permit2 hop, no token transfer in). 145,000 is the ERC20 path's: the router's Permit2 transferFrom
#: and the two token transfers at settle/take are most of it; the PoolManager swap itself is cheap, since no token
#: moves inside it. A WETH wrap/unwrap around a native pool is the execution side's to add.
SWAP_GAS = 145_000
#: Per initialized tick crossed: Pool.crossTick updates one tick's fee growth outside (two slots) and the bitmap
#: walk may load another word, as in V3, so V3's smart-order-router figure; the devnet measured 18k-51k a tick
#: (swaps crossing 2-6 ticks, minus the same pool's no-tick swap; cold slots make the spread).
GAS_PER_TICK = 31_000


class UniswapV4Config(BaseModel):
    """A chains.yaml venue section for one Uniswap V4 pool (its pool key on one PoolManager)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pool_manager: Address
    state_view: Address
    universal_router: Address
    permit2: Address
    v4_quoter: Address | None = None  # V4Quoter, used only by tests and diagnostics
    currency0: Address  # 0x0 for native ETH (it sorts first)
    currency1: Address
    fee: int = Field(ge=0, le=DYNAMIC_FEE_FLAG)  # the key's LP fee in pips, or 0x800000 for a dynamic-fee pool
    tick_spacing: int = Field(ge=1, le=32767)
    hooks: Address = NO_HOOKS
    weth: Address | None = None  # the chain's WETH: the wallet's token for a native-ETH currency
    window_ticks: int = Field(default=4000, ge=1, le=887272)  # ticks read each side of the price

    @model_validator(mode="after")
    def _key(self) -> UniswapV4Config:
        problem = pool_key_problem(self.currency0, self.currency1, self.fee, self.hooks)
        if problem is not None:
            raise ValueError(problem)
        if int(self.currency0, 16) == 0 and self.weth is None:
            raise ValueError("currency0 is native ETH, so weth (the wallet's token for it) is required")
        return self

    @property
    def key(self) -> PoolKey:
        return PoolKey(self.currency0, self.currency1, self.fee, self.tick_spacing, self.hooks)

    @property
    def policy(self) -> HookPolicy:
        return hook_policy(self.hooks, self.fee)


class UniswapV4Adapter:
    """Venue adapter for Uniswap V4 pools (see module docstring)."""

    name: ClassVar[str] = "uniswap_v4"
    kind: ClassVar[Literal["venue"]] = "venue"
    config_model: ClassVar[type[BaseModel]] = UniswapV4Config
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.STAGED_READS, Capability.LENS_READS, Capability.POOL_STATE, Capability.PERMIT2})

    def __init__(self) -> None:
        # Which bitmap words and ticks each pool had last time, so a repeated multicall read asks for them in its
        # first round (one round trip instead of three); never a source of values (reader.HintCache).
        self._hints = HintCache()
        self._models: ModelCache[V4Model] = ModelCache(model_of)
        self._curves = CurveCache()

    def contracts(self, venue: VenueEntry) -> VenueContracts:
        """Approvals go to Permit2; swaps call the Universal Router, which pulls through Permit2 and swaps in
        PoolManager; reads touch StateView (and V4Quoter in diagnostics)."""
        c = self._config(venue)
        # Transactions go to the router and Permit2 only (what the sender's allowlist admits); PoolManager is
        # reached through the router, and its state is read through StateView.
        read = {"state_view": c.state_view, "pool_manager": c.pool_manager} | (
            {"v4_quoter": c.v4_quoter} if c.v4_quoter else {})
        called = {"universal_router": c.universal_router, "permit2": c.permit2}
        return VenueContracts(spender=c.permit2, router=c.universal_router, called=called, read=read)

    def verification(self, venue: VenueEntry) -> VenueChecks:
        """Each role against its npm artifact, immutables masked, and every periphery contract serving the
        configured PoolManager (adapters.uniswap_v4.verification)."""
        c = self._config(venue)
        return v4_checks(c.pool_manager, c.state_view, c.universal_router, c.permit2, c.v4_quoter)

    def read(self, chain: ChainContext, venues: Sequence[VenueEntry], block: int) -> list[VenueState]:
        """Every given pool at ``block``, with curves: one round trip through the read lens, else at most 3
        (reader.MAX_ROUND_TRIPS) through the multicall."""
        return read_staged(self, chain, venues, block)

    def lens_stages(self, chain: ChainContext, venues: Sequence[VenueEntry]) -> tuple[Stages, list[Walk]]:
        """:meth:`read_stages` for the read lens (no predicted calls) and the StateView walks that answer its
        rounds 2-3."""
        configs = [self._exact_config(v) for v in venues]
        requests = self._requests(venues, configs)
        return self._stages(chain, requests, configs, predict=False), lens_walks(requests)

    def read_stages(self, chain: ChainContext, venues: Sequence[VenueEntry]) -> Stages:
        """:meth:`read` as a staged reader, to merge its rounds with other adapters' (adapters.rpc.run_stages)."""
        configs = [self._exact_config(v) for v in venues]
        return self._stages(chain, self._requests(venues, configs), configs, predict=True)

    @staticmethod
    def _requests(venues: Sequence[VenueEntry], configs: Sequence[UniswapV4Config]) -> list[V4Request]:
        return [V4Request(v.name, c.state_view, c.key, c.window_ticks, c.weth)
                for v, c in zip(venues, configs, strict=True)]

    def _stages(self, chain: ChainContext, requests: Sequence[V4Request], configs: Sequence[UniswapV4Config],
                predict: bool) -> Stages:
        reads = yield from read_v4_pools_staged(chain, requests, self._hints, predict)
        return [self._state(chain, r, c) for r, c in zip(reads, configs, strict=True)]

    def policy(self, venue: VenueEntry) -> HookPolicy:
        """How this venue is quoted (exact or refused) and why, from its hooks' permissions."""
        return self._config(venue).policy

    def _config(self, venue: VenueEntry) -> UniswapV4Config:
        if not isinstance(venue.config, UniswapV4Config):
            raise AdapterError(f"chain {venue.chain}: venue {venue.name}: config is not a uniswap_v4 section")
        return venue.config

    def _exact_config(self, venue: VenueEntry) -> UniswapV4Config:
        config = self._config(venue)
        if not config.policy.exact:
            raise AdapterError(f"chain {venue.chain}: venue {venue.name}: hooks: {config.policy.reason}")
        return config

    def _state(self, chain: ChainContext, r: V4Read, config: UniswapV4Config) -> VenueState:
        base, quote = base_quote(chain.name, r.venue, r.token0, r.token1)
        base_is_token0 = base is r.token0
        model = r.model(f"chain {chain.name}: venue {r.venue}")
        sell_zf1 = base_is_token0
        sell_model, buy_model = model.direction(sell_zf1), model.direction(not sell_zf1)
        if max(sell_model.fee, buy_model.fee) >= PIPS:
            raise AdapterError(f"chain {chain.name}: venue {r.venue}: lp_fee: slot0 reports a 100% swap fee "
                               f"(lpFee {r.lp_fee}, protocolFee {r.protocol_fee}): every swap's input is all fee")
        key = r.key
        pool: dict[str, Any] = {
            "pool_key": {"currency0": key.currency0, "currency1": key.currency1, "fee": key.fee,
                         "tick_spacing": key.tick_spacing, "hooks": key.hooks},
            "pool_id": key.pool_id, "pool_manager": config.pool_manager, "state_view": config.state_view,
            "universal_router": config.universal_router, "permit2": config.permit2, "v4_quoter": config.v4_quoter,
            "weth": config.weth if key.has_native else None, "native": key.has_native,
            "native_is_base": key.has_native and base_is_token0, "chain_id": chain.chain_id,
            "token0": r.token0.address, "token1": r.token1.address, "base_is_currency0": base_is_token0,
            "sqrt_price_x96": r.sqrt_price_x96, "tick": r.tick, "liquidity": r.liquidity, "lp_fee": r.lp_fee,
            "protocol_fee": r.protocol_fee, "dynamic_fee": is_dynamic_fee(key.fee),
            "swap_fee": {"zero_for_one": model.zero_for_one.fee, "one_for_zero": model.one_for_zero.fee},
            "hook_policy": config.policy.reason, "word_range": list(r.word_range),
            "bitmap": [[w, v] for w, v in sorted(r.bitmap.items()) if v],
            "ticks": [[t, n] for t, n in sorted(r.liquidity_net.items())],
        }
        return VenueState(
            chain=chain.name, venue=r.venue, adapter=self.name, underlying=base.underlying, base=base, quote=quote,
            fee_pips=sell_model.fee, mid_price=mid_price(sell_model, base_is_token0, r.token0.decimals,
                                                         r.token1.decimals),
            block_number=r.block_number, block_timestamp=r.block_timestamp, gas_units=SWAP_GAS,
            gas_units_per_tick=GAS_PER_TICK,
            sell=cached_curve_of(self._curves, sell_model, sell_zf1, Side.SELL, base.decimals, quote.decimals),
            buy=cached_curve_of(self._curves, buy_model, not sell_zf1, Side.BUY, base.decimals, quote.decimals),
            # The pool's id, as a route through it lists it: the planner never trades both as if independent.
            pool=pool, pools=(key.pool_id.lower(),),
        )

    def quote(self, state: VenueState, side: Side, amount_in: int) -> int:
        """Exact amountOut of an exact-in swap, as V4Quoter and PoolManager compute it (a partial fill's output when
        the pool's liquidity ends first); QuoteOutOfRangeError past the read window."""
        return self._swap(state, side, amount_in).amount_out

    def quote_swap(
        self, state: VenueState, side: Side, amount_in: int, sqrt_price_limit: int | None = None
    ) -> SwapQuote:
        """:meth:`quote` in full (input consumed, output, price after, ticks crossed, partial); a limit on the
        wrong side raises PriceLimitError, as PoolManager reverts PriceLimitAlreadyExceeded."""
        result = self._swap(state, side, amount_in, sqrt_price_limit)
        b0 = bool(state.pool["base_is_currency0"])
        dec0, dec1 = (state.base.decimals, state.quote.decimals) if b0 else (state.quote.decimals, state.base.decimals)
        return swap_quote(side, amount_in, result, b0, dec0, dec1)

    def estimate_gas(self, state: VenueState, side: Side, amount_in: int) -> int:
        """Execution gas: the swap's base cost plus GAS_PER_TICK per initialized tick it crosses."""
        return state.gas_units + state.gas_units_per_tick * self._swap(state, side, amount_in).initialized_ticks_crossed

    def _swap(self, state: VenueState, side: Side, amount_in: int, sqrt_price_limit: int | None = None) -> SwapResult:
        if amount_in <= 0:
            raise AdapterError(f"chain {state.chain}: venue {state.venue}: amount_in must be positive, got {amount_in}")
        zf1 = bool(state.pool["base_is_currency0"]) == (side is Side.SELL)
        try:
            return self._models.model(state).direction(zf1).swap_exact_in(zf1, amount_in, sqrt_price_limit)
        except OutOfWindow as exc:
            raise QuoteOutOfRangeError(
                f"chain {state.chain}: venue {state.venue}: {side.value} of {amount_in} raw units runs past the "
                f"liquidity read at block {state.block_number} ({exc}); read a wider window_ticks"
            ) from None

    def save_state(self, chain: ChainContext, venues: Sequence[VenueEntry], block: int) -> list[PoolState]:
        """Every given pool at ``block`` with ALL its initialized ticks (the whole bitmap, in chunked multicalls)."""
        configs = [self._exact_config(v) for v in venues]
        requests = [V4Request(v.name, c.state_view, c.key, 1, c.weth) for v, c in zip(venues, configs, strict=True)]
        return [record_of_v4(chain, r, c.pool_manager)
                for r, c in zip(read_full_v4(chain, requests, block), configs, strict=True)]

    def quote_pool_state(self, record: PoolState, side: Side, amount_in: int) -> SwapQuote:
        """Exact-in quote from a recorded V4 state: no window, partial fills where the liquidity ends."""
        if not isinstance(record, UniswapV4PoolState):
            raise InputError(f"chain {record.chain}: venue {record.venue}: a {record.protocol} state is not a "
                             "uniswap_v4 state")
        policy = hook_policy(record.hooks, record.fee)
        if not policy.exact:
            raise InputError(f"chain {record.chain}: venue {record.venue}: hooks: {policy.reason}")
        return quote_record_v4(record, side, amount_in)

    def build_swap(  # the VenueAdapter protocol's signature
        self, state: VenueState, side: Side, amount_in: int, min_amount_out: int, recipient: str, deadline: int
    ) -> TxRequest:
        """UniversalRouter V4_SWAP without a permit: it needs a standing Permit2 allowance for the router, and
        reverts without one (the orchestrator signs a permit and calls :meth:`build_permit_swap`)."""
        return build_v4_swap(state, side, amount_in, min_amount_out, recipient, deadline, None)

    def permit_request(self, state: VenueState, side: Side, amount_in: int, deadline: int) -> PermitRequest:
        """The Permit2 permit a swap needs: exactly ``amount_in`` of the token in, for the Universal Router, until
        ``deadline`` (adapters.uniswap_v4.execution.v4_permit_request)."""
        return v4_permit_request(state, side, amount_in, deadline)

    def build_permit_swap(  # the Permit2Venue protocol's signature
        self, state: VenueState, side: Side, amount_in: int, min_amount_out: int, recipient: str, deadline: int,
        permit: SignedPermit,
    ) -> TxRequest:
        """UniversalRouter PERMIT2_PERMIT + V4_SWAP (adapters.uniswap_v4.execution.build_v4_swap)."""
        return build_v4_swap(state, side, amount_in, min_amount_out, recipient, deadline, permit)

    def parse_receipt(self, state: VenueState, receipt: Mapping[str, Any]) -> Fill:
        """PoolManager's Swap event as a Fill (adapters.uniswap_v4.execution.parse_v4_fill)."""
        return parse_v4_fill(state, receipt)


__all__ = ["GAS_PER_TICK", "NATIVE", "SWAP_GAS", "UniswapV4Adapter", "UniswapV4Config"]
