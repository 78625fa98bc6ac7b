"""The ``uniswap_route`` venue adapter: a multi-hop route (WBTC→WETH→USDC) as a venue of its own.

A route is an ordered list of legs on one chain, each a pool read and quoted by its own protocol's code
(:mod:`adapters.uniswap_route.legs`), with the token path from the hedge's base to its USD quote derived from the
pools' tokens. Reads: every route's legs are read by their kinds' staged readers, merged into the chain's rounds
(the V3 legs' lens walks join the chain's one lens call; the V2 legs ride in round 1), so routes add no round trip.
Quotes compose the legs exactly (:func:`adapters.uniswap_route.compose.compose`); curves come from the composed exact
quote. Gas: UniversalRouter's fixed cost plus each leg's hop cost, and GAS_PER_TICK per initialized tick crossed on
any V3 leg (measured on the devnet: tests/integration/adapters/test_uniswap_route.py). Swaps go through
UniversalRouter.execute (:mod:`adapters.uniswap_route.router`), the input pulled through Permit2
(``Capability.PERMIT2``: the lane signs a permit for exactly the input, run first in the same execute); fills are
parsed from the wallet's token Transfers, cross-checked with the first and last legs' Swap events.

Usage::

    [state] = UniswapRouteAdapter().read(chain, [venue], block)
    out = UniswapRouteAdapter().quote(state, Side.SELL, 10**8)
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import BaseModel
from web3 import Web3

from adapters.contract import Capability, VenueChecks, VenueContracts, read_staged
from adapters.permit2 import PermitRequest, SignedPermit
from adapters.rpc import Stages, Walk
from adapters.types import (
    ChainContext,
    Curve,
    Fill,
    Side,
    SwapQuote,
    TokenInfo,
    TxRequest,
    VenueEntry,
    VenueState,
)
from adapters.uniswap.curve import CurveCache, curve_from_points
from adapters.uniswap_route.compose import RouteFill, compose, mid_rate_of, route_points, series_reserve
from adapters.uniswap_route.config import LegConfig, UniswapRouteConfig, V4LegConfig
from adapters.uniswap_route.fills import fill_of_route
from adapters.uniswap_route.legs import LEG_KINDS, LegModel, LegState, fee_factor
from adapters.uniswap_route.reads import merge_stages
from adapters.uniswap_route.router import Hop, route_calldata
from adapters.uniswap_route.verification import route_checks
from adapters.uniswap_v3.reader import HintCache
from adapters.uniswap_v4.encoding import NO_HOOKS
from crosshedge import AdapterError, QuoteOutOfRangeError, UnsafeTransactionError

#: UniversalRouter.execute with a Permit2 pull, the transaction's intrinsic gas and calldata, no leg. With HOP_GAS
#: fitted to swaps crossing no tick on the devnet's warm pools (test_uniswap_route.py prints them): two V3 legs
#: 178-191k gas, a V3 and a V2 leg 174-189k, a V3 and a V4 leg 193-211k (V4's leg is one V4_SWAP: unlock, swap,
#: settle and take).
ROUTE_GAS = 45_000
#: Each leg's swap inside the router (pool swap, token transfers), no tick crossed.
HOP_GAS = {"uniswap_v3": 70_000, "uniswap_v2": 65_000, "uniswap_v4": 90_000}
#: Per initialized tick crossed on any V3 leg: Uniswap's router gas model (REFERENCES §3); the devnet measures
#: 26-30k when a tick is crossed again. Its first crossing on a fresh devnet pool costs 40-57k (fee-growth-outside
#: slots written from zero), which a live pool's ticks rarely pay.
GAS_PER_TICK = 31_000


class UniswapRouteAdapter:
    """Venue adapter for multi-hop Uniswap routes (see module docstring)."""

    name: ClassVar[str] = "uniswap_route"
    kind: ClassVar[Literal["venue"]] = "venue"
    config_model: ClassVar[type[BaseModel]] = UniswapRouteConfig
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.STAGED_READS, Capability.LENS_READS, Capability.PERMIT2})

    def __init__(self) -> None:
        self._hints = HintCache()  # the V3 legs' bitmap hints (choose calls only, never values)
        self._lock = threading.Lock()
        self._models: OrderedDict[int, tuple[VenueState, list[LegModel]]] = OrderedDict()
        self._curves = CurveCache()

    # ---------------------------------------------------------------- config and contracts

    def _config(self, venue: VenueEntry) -> UniswapRouteConfig:
        if not isinstance(venue.config, UniswapRouteConfig):
            raise AdapterError(f"chain {venue.chain}: venue {venue.name}: config is not a uniswap_route section")
        return venue.config

    def contracts(self, venue: VenueEntry) -> VenueContracts:
        """The approval goes to Permit2 (which the router pulls through, and whose allowance for the router a wallet
        may set), swaps to the UniversalRouter; reads touch every leg's pool (and QuoterV2)."""
        config = self._config(venue)
        # A V4 leg is a pool id in PoolManager, read through StateView: those are the contracts it touches.
        read = {f"leg{i + 1}": leg.state_view if isinstance(leg, V4LegConfig) else leg.pool
                for i, leg in enumerate(config.legs)}
        read |= {"quoter": config.quoter} if config.quoter else {}
        return VenueContracts(spender=config.permit2, called={"router": config.router, "permit2": config.permit2},
                              read=read, router=config.router)

    def verification(self, venue: VenueEntry) -> VenueChecks:
        """UniversalRouter and each leg's pool against the npm artifacts (adapters.uniswap_route.verification)."""
        return route_checks(self._config(venue))

    # ---------------------------------------------------------------- reads

    def read(self, chain: ChainContext, venues: Sequence[VenueEntry], block: int) -> list[VenueState]:
        """Every given route at ``block``: one round trip through the read lens, else the V3 reader's rounds."""
        return read_staged(self, chain, venues, block)

    def read_stages(self, chain: ChainContext, venues: Sequence[VenueEntry]) -> Stages:
        """:meth:`read` as a staged reader, to merge its rounds with the chain's other adapters'."""
        return self._stages(chain, venues, predict=True)

    def lens_stages(self, chain: ChainContext, venues: Sequence[VenueEntry]) -> tuple[Stages, list[Walk]]:
        """:meth:`read_stages` for the read lens, and the V3 legs' walks that answer its later rounds."""
        by_kind = self._pools_by_kind(venues)
        window = max((self._config(v).window_ticks for v in venues), default=4000)
        walks = [w for kind, legs in by_kind.items() for w in LEG_KINDS[kind].walks(legs, window)]
        return self._stages(chain, venues, predict=False), walks

    def _pools_by_kind(self, venues: Sequence[VenueEntry]) -> dict[str, list[LegConfig]]:
        """Each kind's distinct legs over every route (a pool two routes share is read once)."""
        out: dict[str, list[LegConfig]] = {}
        for v in venues:
            for leg in self._config(v).legs:
                legs = out.setdefault(leg.kind, [])
                if leg.pool.lower() not in {other.pool.lower() for other in legs}:
                    legs.append(leg)
        return out

    def _stages(self, chain: ChainContext, venues: Sequence[VenueEntry], predict: bool) -> Stages:
        if not venues:
            return []
        by_kind = self._pools_by_kind(venues)
        window = max(self._config(v).window_ticks for v in venues)
        label = venues[0].name if len(venues) == 1 else f"{venues[0].name} (and other routes)"
        readers = [LEG_KINDS[kind].read_stages(chain, legs, label, window, self._hints, predict)
                   for kind, legs in by_kind.items()]
        block, results = yield from merge_stages(readers)
        legs: dict[str, LegState] = {k: v for r in results for k, v in r.items()}
        timestamp = next((int(s["block_timestamp"]) for s in legs.values() if "block_timestamp" in s), None)
        if timestamp is None:
            timestamp = int(chain.w3.eth.get_block(block)["timestamp"])
        return [self._state(chain, v, [legs[leg.pool.lower()] for leg in self._config(v).legs], block, timestamp)
                for v in venues]

    def _state(self, chain: ChainContext, venue: VenueEntry, legs: list[LegState], block: int,
               timestamp: int) -> VenueState:
        config = self._config(venue)
        path = token_path(chain.name, venue.name, legs)
        base, quote = _token(chain, path[0]), _token(chain, path[-1])
        if base.underlying == "USD" or quote.underlying != "USD":
            raise AdapterError(f"chain {chain.name}: venue {venue.name}: a route must run from a risky token to a USD "
                               f"token, got {base.symbol}→{quote.symbol}")
        pool: dict[str, Any] = {"router": config.router, "permit2": config.permit2, "quoter": config.quoter,
                                "chain_id": chain.chain_id, "path": path, "legs": legs}
        models = self._leg_models(chain.name, venue.name, legs)
        # The legs' pool state without the block's timestamp (a V3 leg carries it), which changes every block while
        # the pools, and so the curve, mostly do not.
        legs_key = json.dumps([{k: v for k, v in leg.items() if k != "block_timestamp"} for leg in legs],
                              sort_keys=True, default=str)
        sell_dirs, buy_dirs = directions(path, legs), directions(path[::-1], legs[::-1])
        fees = fee_factor(models)
        rate = mid_rate_of(models, sell_dirs)
        state = VenueState(
            chain=chain.name, venue=venue.name, adapter=self.name, underlying=base.underlying, base=base, quote=quote,
            fee_pips=round(1_000_000 * (1 - fees)), mid_price=rate * 10 ** (base.decimals - quote.decimals),
            block_number=block, block_timestamp=timestamp,
            gas_units=ROUTE_GAS + sum(HOP_GAS[leg["kind"]] for leg in legs), gas_units_per_tick=GAS_PER_TICK,
            sell=self._curve(models, sell_dirs, Side.SELL, base, quote, legs_key),
            buy=self._curve(models[::-1], buy_dirs, Side.BUY, base, quote, legs_key),
            pool=pool, composite=True, pools=tuple(str(leg["address"]).lower() for leg in legs),
        )
        self._remember(state, models)
        return state

    def _leg_models(self, chain: str, venue: str, legs: Sequence[LegState]) -> list[LegModel]:
        return [LEG_KINDS[leg["kind"]].model(leg, f"chain {chain}: venue {venue} leg {i + 1} ({leg['address']})")
                for i, leg in enumerate(legs)]

    def _curve(self, models: list[LegModel], dirs: list[bool], side: Side, base: TokenInfo, quote: TokenInfo,
               legs_key: str) -> Curve:
        """The route's curve from its composed exact quote, built once per content of its legs (``legs_key``: the
        legs' recorded state, everything the models are built from): thousands of composed quotes a curve."""
        def build() -> Curve:
            points, crossed = route_points(lambda x: compose(models, dirs, x), mid_rate_of(models, dirs),
                                           fee_factor(models), series_reserve(models, dirs), len(models))
            return curve_from_points(side, points, base.decimals, quote.decimals, crossed)

        return self._curves.curve(("uniswap_route", legs_key, tuple(dirs), side, base.decimals, quote.decimals),
                                  build)

    # ---------------------------------------------------------------- quotes

    def _remember(self, state: VenueState, models: list[LegModel]) -> None:
        with self._lock:
            self._models[id(state)] = (state, models)
            while len(self._models) > 256:
                self._models.popitem(last=False)

    def models(self, state: VenueState) -> list[LegModel]:
        """The legs' exact models of ``state`` in SELL order (built once per state)."""
        entry = self._models.get(id(state))
        if entry is not None and entry[0] is state:
            return entry[1]
        models = self._leg_models(state.chain, state.venue, state.pool["legs"])
        self._remember(state, models)
        return models

    def route_fill(self, state: VenueState, side: Side, amount_in: int) -> RouteFill:
        """The exact composed swap, every leg's fill included; QuoteOutOfRangeError past a leg's window."""
        if amount_in <= 0:
            raise AdapterError(f"chain {state.chain}: venue {state.venue}: amount_in must be positive, got {amount_in}")
        models, legs, path = self.models(state), state.pool["legs"], state.pool["path"]
        if side is Side.BUY:
            models, legs, path = models[::-1], legs[::-1], path[::-1]
        try:
            return compose(models, directions(path, legs), amount_in)
        except QuoteOutOfRangeError as exc:
            raise QuoteOutOfRangeError(f"{exc} ({side.value} of {amount_in} raw units through the route, read at "
                                       f"block {state.block_number})") from None

    def quote(self, state: VenueState, side: Side, amount_in: int) -> int:
        """Exact final output of the route for an exact input (each leg's output is the next leg's input)."""
        return self.route_fill(state, side, amount_in).amount_out

    def quote_swap(self, state: VenueState, side: Side, amount_in: int) -> SwapQuote:
        """:meth:`quote` in full: leg 1's input consumed, the output, the route's price after (quote per base, every
        leg's price after the swap, no fee), ticks crossed on every leg, and whether a leg stopped early."""
        fill = self.route_fill(state, side, amount_in)
        rate = fill.rate_after if side is Side.SELL else 1 / fill.rate_after if fill.rate_after else 0.0
        return SwapQuote(side=side, amount_requested=amount_in, amount_in=fill.amount_in, amount_out=fill.amount_out,
                         price_after=rate * 10 ** (state.base.decimals - state.quote.decimals),
                         ticks_crossed=fill.ticks_crossed, partial=fill.partial)

    def estimate_gas(self, state: VenueState, side: Side, amount_in: int) -> int:
        """Execution gas: the route's fixed cost plus GAS_PER_TICK per initialized tick crossed on any leg."""
        return state.gas_units + state.gas_units_per_tick * self.route_fill(state, side, amount_in).ticks_crossed

    # ---------------------------------------------------------------- execution

    def hops(self, state: VenueState, side: Side) -> list[Hop]:
        """The route's legs in swap order for ``side``, as the router commands take them."""
        legs, path = state.pool["legs"], state.pool["path"]
        if side is Side.BUY:
            legs, path = legs[::-1], path[::-1]
        return [Hop(leg["kind"], path[i], path[i + 1], int(leg["fee"]), *_v4_key_fields(leg))
                for i, leg in enumerate(legs)]

    def build_swap(  # the VenueAdapter protocol's signature
        self, state: VenueState, side: Side, amount_in: int, min_amount_out: int, recipient: str, deadline: int
    ) -> TxRequest:
        """UniversalRouter.execute over the route, the input pulled through the wallet's standing Permit2 allowance
        for the router, ``min_amount_out`` (> 0) enforced on the final output."""
        return self._route_swap(state, side, amount_in, min_amount_out, recipient, deadline, None)

    def permit_request(self, state: VenueState, side: Side, amount_in: int, deadline: int) -> PermitRequest:
        """The permit a route swap needs: the wallet's token in, exactly ``amount_in``, for the UniversalRouter,
        expiring (and its signature due) at ``deadline``."""
        token_in = state.base if side is Side.SELL else state.quote
        return PermitRequest(permit2=state.pool["permit2"], token=token_in.address, spender=state.pool["router"],
                             amount=amount_in, expiration=deadline, sig_deadline=deadline)

    def build_permit_swap(
        self, state: VenueState, side: Side, amount_in: int, min_amount_out: int, recipient: str, deadline: int,
        permit: SignedPermit,
    ) -> TxRequest:
        """:meth:`build_swap` with the wallet's signed ``permit`` run first (PERMIT2_PERMIT): no standing allowance
        needed. UnsafeTransactionError unless the permit is exactly :meth:`permit_request`'s."""
        wanted = self.permit_request(state, side, amount_in, deadline)
        if permit.request != wanted:
            raise UnsafeTransactionError(
                f"chain {state.chain}: venue {state.venue}: the permit ({permit.request.amount} of "
                f"{permit.request.token} for {permit.request.spender} until {permit.request.expiration}) is not the "
                f"swap's ({amount_in} of {wanted.token} for {wanted.spender} until {deadline})")
        return self._route_swap(state, side, amount_in, min_amount_out, recipient, deadline, permit)

    def _route_swap(self, state: VenueState, side: Side, amount_in: int, min_amount_out: int, recipient: str,
                    deadline: int, permit: SignedPermit | None) -> TxRequest:
        if amount_in <= 0 or min_amount_out <= 0:
            raise AdapterError(
                f"chain {state.chain}: venue {state.venue}: amount_in and min_amount_out must be positive "
                f"(got {amount_in}, {min_amount_out}); a zero minimum would accept any price")
        token_in, token_out = (state.base, state.quote) if side is Side.SELL else (state.quote, state.base)
        data = route_calldata(self.hops(state, side), amount_in, min_amount_out, Web3.to_checksum_address(recipient),
                              deadline, permit)
        return TxRequest(chain_id=int(state.pool["chain_id"]), to=str(state.pool["router"]), data=data,
                         description=f"{state.venue}: {side.value} {amount_in} {token_in.symbol} for >= "
                         f"{min_amount_out} {token_out.symbol} through {len(state.pool['legs'])} pools")

    def parse_receipt(self, state: VenueState, receipt: Mapping[str, Any]) -> Fill:
        """The fill from the wallet's token Transfers, cross-checked with the first and last legs' Swap events."""
        return fill_of_route(state, receipt, self.hops)


def token_path(chain: str, venue: str, legs: Sequence[LegState]) -> list[str]:
    """The route's tokens in SELL order: leg 1's token not shared with leg 2, then each leg's other token."""
    first = {legs[0]["token0"], legs[0]["token1"]}
    second = {legs[1]["token0"], legs[1]["token1"]}
    start = first - second
    if len(start) != 1:
        raise AdapterError(f"chain {chain}: venue {venue}: legs 1 and 2 must share exactly one token")
    path = [start.pop()]
    for i, leg in enumerate(legs):
        pair = [leg["token0"], leg["token1"]]
        if path[-1] not in pair:
            raise AdapterError(f"chain {chain}: venue {venue}: leg {i + 1} ({leg['address']}) does not trade "
                               f"{path[-1]}, the previous leg's output")
        path.append(pair[1] if pair[0] == path[-1] else pair[0])
    if len(set(path)) != len(path):
        raise AdapterError(f"chain {chain}: venue {venue}: the route visits a token twice ({path})")
    return path


def _v4_key_fields(leg: LegState) -> tuple[int, str]:
    """A V4 leg's tick spacing and hooks (its pool key needs them); the defaults for the other kinds."""
    if leg["kind"] != "uniswap_v4":
        return 0, NO_HOOKS
    return int(leg["tick_spacing"]), str(leg["hooks"])


def directions(path: Sequence[str], legs: Sequence[LegState]) -> list[bool]:
    """Per leg in swap order: whether its input (``path[k]``) is the pool's token0."""
    return [leg["token0"] == path[i] for i, leg in enumerate(legs)]


def _token(chain: ChainContext, address: str) -> TokenInfo:
    token = chain.token(address)
    if token is None:  # the leg readers checked every pool token against the configured ones
        raise AdapterError(f"chain {chain.name}: token {address} is not configured")
    return token
