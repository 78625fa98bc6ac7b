"""A Uniswap V4 venue adapter for the orchestrator's integration test, until ``adapters/uniswap_v4/adapter.py`` lands.

It is a real adapter, reading the real devnet: slot0 and liquidity from StateView and every initialized tick from
PoolManager's ModifyLiquidity events (the devnet's pools are small enough to read whole), quoted exactly by the V3
pool model (V4's swap math is V3's; the devnet's pools are hookless with no protocol fee). It executes with the
production code under test: :class:`~adapters.contract.Permit2Venue` through ``adapters.uniswap_v4.execution``.
Its contracts are verified as ANY_CODE only (the real adapter pins the npm runtime code). It is never registered
as an entry point: tests put it in their own registry, so only in-process stages (not the worker) can use it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict
from web3 import Web3

from adapters import (
    ANY_CODE,
    Capability,
    ChainContext,
    Curve,
    Fill,
    PermitRequest,
    RoleCheck,
    Segment,
    Side,
    SignedPermit,
    TxRequest,
    VenueChecks,
    VenueContracts,
    VenueEntry,
    VenueState,
)
from adapters.uniswap import curve_from_points
from adapters.uniswap_v3.pool import PoolModel
from adapters.uniswap_v4 import build_v4_swap, parse_v4_fill, v4_permit_request
from crosshedge import AdapterError, QuoteOutOfRangeError
from devnet import load_artifact

#: Curve sample points, in USD of input.
SAMPLES_USD = (1_000.0, 5_000.0, 20_000.0, 50_000.0)


class StandInV4Settings(BaseModel):
    """One V4 pool as a venue: its contracts, key and the chain's tokens for its currencies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pool_manager: str
    state_view: str
    universal_router: str
    permit2: str
    currency0: str
    currency1: str
    fee: int
    tick_spacing: int
    hooks: str
    pool_id: str
    base: str  # the wallet's base token (WETH for an ether pool)
    quote: str


class StandInV4Venue:
    """See the module docstring."""

    name: ClassVar[str] = "uniswap_v4"
    kind: ClassVar[Literal["venue"]] = "venue"
    config_model: ClassVar[type[BaseModel]] = StandInV4Settings
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.PERMIT2})

    def contracts(self, venue: VenueEntry) -> VenueContracts:
        c = _settings(venue)
        return VenueContracts(spender=c.permit2, router=c.universal_router,
                              called={"universal_router": c.universal_router, "permit2": c.permit2},
                              read={"pool_manager": c.pool_manager, "state_view": c.state_view})

    def verification(self, venue: VenueEntry) -> VenueChecks:
        c = _settings(venue)
        roles = {"universal_router": c.universal_router, "permit2": c.permit2, "pool_manager": c.pool_manager,
                 "state_view": c.state_view, "base": c.base, "quote": c.quote}
        return VenueChecks(roles={r: RoleCheck(address=a, code=ANY_CODE) for r, a in roles.items()})

    def read(self, chain: ChainContext, venues: Sequence[VenueEntry], block: int) -> list[VenueState]:
        return [self._read_one(chain, v, block) for v in venues]

    def quote(self, state: VenueState, side: Side, amount_in: int) -> int:
        result = _model(state).swap_exact_in(bool(state.pool["base_is_currency0"]) == (side is Side.SELL), amount_in)
        if result.partial:
            raise QuoteOutOfRangeError(f"chain {state.chain}: venue {state.venue}: {amount_in} runs past the pool")
        return result.amount_out

    def build_swap(self, state: VenueState, side: Side, amount_in: int, min_amount_out: int, recipient: str,
                   deadline: int) -> TxRequest:
        return build_v4_swap(state, side, amount_in, min_amount_out, recipient, deadline, None)

    def parse_receipt(self, state: VenueState, receipt: Mapping[str, Any]) -> Fill:
        return parse_v4_fill(state, receipt)

    def permit_request(self, state: VenueState, side: Side, amount_in: int, deadline: int) -> PermitRequest:
        return v4_permit_request(state, side, amount_in, deadline)

    def build_permit_swap(self, state: VenueState, side: Side, amount_in: int, min_amount_out: int, recipient: str,
                          deadline: int, permit: SignedPermit) -> TxRequest:
        return build_v4_swap(state, side, amount_in, min_amount_out, recipient, deadline, permit)

    def _read_one(self, chain: ChainContext, venue: VenueEntry, block: int) -> VenueState:
        c = _settings(venue)
        base, quote = chain.token(c.base), chain.token(c.quote)
        if base is None or quote is None:
            raise AdapterError(f"chain {chain.name}: venue {venue.name}: its tokens are not configured")
        pool_id = bytes.fromhex(c.pool_id[2:])
        view = chain.w3.eth.contract(address=Web3.to_checksum_address(c.state_view), abi=load_artifact("StateView").abi)
        sqrt_p, tick, _, _ = view.functions.getSlot0(pool_id).call(block_identifier=block)
        liquidity = view.functions.getLiquidity(pool_id).call(block_identifier=block)
        manager = chain.w3.eth.contract(address=Web3.to_checksum_address(c.pool_manager),
                                        abi=load_artifact("PoolManager").abi)
        nets: dict[int, int] = {}
        for e in manager.events.ModifyLiquidity().get_logs(from_block=0, to_block=block,
                                                            argument_filters={"id": pool_id}):
            nets[e.args.tickLower] = nets.get(e.args.tickLower, 0) + e.args.liquidityDelta
            nets[e.args.tickUpper] = nets.get(e.args.tickUpper, 0) - e.args.liquidityDelta
        head = chain.w3.eth.get_block(block)
        native = int(c.currency0, 16) == 0
        base_is_0 = native or c.base.lower() == c.currency0.lower()
        pool = {"pool_key": {"currency0": c.currency0, "currency1": c.currency1, "fee": c.fee,
                             "tick_spacing": c.tick_spacing, "hooks": c.hooks},
                "pool_id": c.pool_id, "pool_manager": c.pool_manager, "universal_router": c.universal_router,
                "permit2": c.permit2, "weth": c.base if native else None, "base_is_currency0": base_is_0,
                "chain_id": chain.chain_id, "sqrt_price_x96": sqrt_p, "tick": tick, "liquidity": liquidity,
                "liquidity_net": {str(t): n for t, n in nets.items() if n}}
        raw = (sqrt_p / 2**96) ** 2
        price0 = raw * 10 ** ((base.decimals - quote.decimals) if base_is_0 else (quote.decimals - base.decimals))
        mid = price0 if base_is_0 else 1 / price0
        state = VenueState(chain=chain.name, venue=venue.name, adapter=self.name, underlying=base.underlying,
                           base=base, quote=quote, fee_pips=c.fee, mid_price=mid, block_number=block,
                           block_timestamp=int(head["timestamp"]), gas_units=190_000, sell=_flat(Side.SELL, mid),
                           buy=_flat(Side.BUY, mid), pool=pool)
        return state.model_copy(update={"sell": self._curve(state, Side.SELL), "buy": self._curve(state, Side.BUY)})

    def _curve(self, state: VenueState, side: Side) -> Curve:
        points = []
        for usd in SAMPLES_USD:
            amount = int(usd / state.mid_price * 10**state.base.decimals if side is Side.SELL
                         else usd * 10**state.quote.decimals)
            points.append((amount, self.quote(state, side, amount)))
        return curve_from_points(side, points, state.base.decimals, state.quote.decimals)


def _flat(side: Side, mid: float) -> Curve:
    return Curve(side=side, segments=(Segment(size=1.0, price=mid),))


def _settings(venue: VenueEntry) -> StandInV4Settings:
    assert isinstance(venue.config, StandInV4Settings)
    return venue.config


def _model(state: VenueState) -> PoolModel:
    p = state.pool
    nets = {int(t): int(n) for t, n in p["liquidity_net"].items()}
    return PoolModel.from_ticks(int(p["sqrt_price_x96"]), int(p["tick"]), int(p["liquidity"]), int(state.fee_pips),
                                int(p["pool_key"]["tick_spacing"]), nets, venue=f"chain {state.chain}: {state.venue}")


def venue_section(settings: Any, pool_name: str) -> dict[str, Any]:
    """The chains.yaml section of the devnet's V4 pool ``pool_name`` as a venue of this adapter."""
    v4 = settings.uniswap_v4
    p = v4.pools[pool_name]
    usdc = settings.tokens["USDC"].address
    native = int(p.currency0, 16) == 0
    base = settings.tokens["WETH"].address if native else (p.currency1 if p.currency0.lower() == usdc.lower()
                                                              else p.currency0)
    return {"adapter": StandInV4Venue.name, "pool_manager": v4.pool_manager, "state_view": v4.state_view,
            "universal_router": v4.universal_router, "permit2": v4.permit2, "currency0": p.currency0,
            "currency1": p.currency1, "fee": p.fee, "tick_spacing": p.tick_spacing, "hooks": p.hooks,
            "pool_id": p.pool_id, "base": base, "quote": usdc}
