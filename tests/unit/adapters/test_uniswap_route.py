"""Route composition, curves and router encoding, on V3 pools built from LP positions and V2 reserves (no chain).

The composed quote is checked against each leg's own swap called in sequence (the pool model's swap loop and
UniswapV2Library.getAmountOut, not the route code), for random pools and sizes; the curves built from it are convex
and never promise more than the exact route pays.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from web3 import Web3

from adapters import (
    Curve,
    Segment,
    Side,
    SignedPermit,
    TokenInfo,
    VenueEntry,
    VenueState,
    check_static,
    ordered_curve_ok,
    verification_problems,
)
from adapters.uniswap import math as m
from adapters.uniswap.curve import EXACT_IMPACT_BPS, cumulative, curve_from_points
from adapters.uniswap.universal_router import ADDRESS_THIS, CONTRACT_BALANCE, OPEN_DELTA, Command
from adapters.uniswap_route import (
    LEG_KINDS,
    PERMIT2_ADDRESS,
    Hop,
    LegModel,
    UniswapRouteAdapter,
    UniswapRouteConfig,
    V2LegModel,
    V3LegModel,
    compose,
    fee_factor,
    mid_rate_of,
    route_commands,
    route_points,
    series_reserve,
    token_path,
    v3_path,
)
from adapters.uniswap_v3.pool import PoolModel
from adapters.uniswap_v4 import Action
from crosshedge import AdapterError, QuoteOutOfRangeError, UnsafeTransactionError
from risk import marks_from_venues
from tests.unit.adapters.pool_helpers import pool_with

A, B, C = ("0x" + c * 40 for c in "abc")  # token addresses in sort order: A < B < C
WALLET = "0x" + "12" * 20


@st.composite
def v3_pools(draw: st.DrawFn) -> PoolModel:
    """A complete V3 pool (every initialized tick known) with 1-4 positions around its price."""
    spacing = draw(st.sampled_from([1, 10, 60]))
    tick = draw(st.integers(-2000, 2000))
    positions = []
    for _ in range(draw(st.integers(1, 4))):
        lower = (tick - draw(st.integers(1, 3000))) // spacing * spacing
        upper = (tick + draw(st.integers(1, 3000))) // spacing * spacing + spacing
        positions.append((lower, upper, draw(st.integers(10**15, 10**20))))
    nets: dict[int, int] = {}
    for lower, upper, liq in positions:
        nets[lower] = nets.get(lower, 0) + liq
        nets[upper] = nets.get(upper, 0) - liq
    active = sum(liq for lower, upper, liq in positions if lower <= tick < upper)
    fee = draw(st.sampled_from([100, 500, 3000]))
    return PoolModel.from_ticks(m.get_sqrt_ratio_at_tick(tick), tick, active, fee, spacing,
                                {t: n for t, n in nets.items() if n})


@st.composite
def routes(draw: st.DrawFn) -> tuple[list[LegModel], list[bool]]:
    """Two legs A/B then B/C: V3 then V3, or V3 then a V2 pair, with random swap directions' data."""
    leg1 = V3LegModel(A, B, 0, draw(v3_pools()))
    leg1 = V3LegModel(A, B, leg1.pool.fee, leg1.pool)
    if draw(st.booleans()):
        pool2 = draw(v3_pools())
        leg2: LegModel = V3LegModel(B, C, pool2.fee, pool2)
    else:
        leg2 = V2LegModel(B, C, draw(st.integers(10**15, 10**22)), draw(st.integers(10**15, 10**22)))
    return [leg1, leg2], [True, True]


def sequential(models: Sequence[LegModel], amount_in: int) -> int:
    """Each leg's own swap, called in turn: the pool model's loop or the pair's getAmountOut."""
    x = amount_in
    for model in models:
        if x == 0:
            return 0
        if isinstance(model, V3LegModel):
            x = model.pool.swap_exact_in(True, x).amount_out
        else:
            assert isinstance(model, V2LegModel)
            x = m.get_amount_out(x, model.reserve0, model.reserve1)
    return x


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(route=routes(), amounts=st.lists(st.integers(1, 10**21), min_size=2, max_size=6))
def test_composed_quote_equals_the_legs_quoted_in_sequence_and_is_monotone(
        route: tuple[list[LegModel], list[bool]], amounts: list[int]) -> None:
    models, dirs = route
    outs = []
    for amount in sorted(amounts):
        fill = compose(models, dirs, amount)
        assert fill.amount_out == sequential(models, amount)
        assert fill.legs[0].amount_in == fill.amount_in <= amount
        assert [f.amount_out for f in fill.legs[:-1]] == [f.amount_in for f in fill.legs[1:]] or fill.partial
        outs.append(fill.amount_out)
    assert outs == sorted(outs)  # more in never pays less out


def _curve_checks(models: list[LegModel], dirs: list[bool], side: Side) -> int:
    points, crossed = route_points(lambda x: compose(models, dirs, x), mid_rate_of(models, dirs),
                                   fee_factor(models), series_reserve(models, dirs), len(models))
    if len(points) < 2:
        return 0
    curve = curve_from_points(side, points, 8, 6, crossed)
    assert ordered_curve_ok(curve)
    checked = 0
    prev_in = prev_out = 0
    for amount_in, amount_out in points:
        for frac in (0.25, 0.5, 0.75):
            x = prev_in + frac * (amount_in - prev_in)
            chord = prev_out + frac * (amount_out - prev_out)
            if int(x) <= 0:
                continue
            exact = compose(models, dirs, int(x)).amount_out
            assert chord <= exact + 1, (x, chord, exact)  # the chord never promises more than the route pays
            if exact > 10**6 and 1 - exact / (x * mid_rate_of(models, dirs) * fee_factor(models)) \
                    < 0.99 * EXACT_IMPACT_BPS / 1e4:
                assert chord >= exact * (1 - 1e-4), (x, chord, exact)  # within 1 bp in the exact region
                checked += 1
        prev_in, prev_out = amount_in, amount_out
    return checked


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(route=routes())
def test_route_curves_are_convex_and_exact_within_one_bp(route: tuple[list[LegModel], list[bool]]) -> None:
    models, dirs = route
    _curve_checks(models, dirs, Side.SELL)


def test_curves_of_both_directions_of_a_deep_route_are_checked_inside() -> None:
    leg1 = pool_with([(-6000, 6000, 10**20), (-600, 600, 5 * 10**20)], 0, 60, 500, 887272)
    leg2 = pool_with([(-12000, 12000, 3 * 10**20)], 120, 60, 500, 887272)
    models: list[LegModel] = [V3LegModel(A, B, 500, leg1), V3LegModel(B, C, 500, leg2)]
    assert _curve_checks(models, [True, True], Side.SELL) > 20
    assert _curve_checks(models[::-1], [False, False], Side.BUY) > 20


def test_a_partial_leg_makes_the_route_partial_and_a_window_edge_names_the_leg() -> None:
    thin = PoolModel.from_ticks(m.get_sqrt_ratio_at_tick(0), 0, 10**12, 500, 10, {-100: 10**12, 100: -10**12})
    deep = pool_with([(-6000, 6000, 10**20)], 0, 10, 500, 887272)
    fill = compose([V3LegModel(A, B, 500, thin), V3LegModel(B, C, 500, deep)], [True, True], 10**18)
    assert fill.partial and fill.legs[0].partial and fill.amount_in == fill.legs[0].amount_in < 10**18
    assert fill.legs[1].amount_in == fill.legs[0].amount_out  # what leg 1 delivered went on, and no more
    # Leg 2 runs dry instead: leg 1 consumed everything, the route is still partial.
    fill = compose([V3LegModel(A, B, 500, deep), V3LegModel(B, C, 500, thin)], [True, True], 10**17)
    assert fill.partial and not fill.legs[0].partial and fill.legs[1].amount_in < fill.legs[0].amount_out
    narrow = pool_with([(-6000, 6000, 10**20)], 0, 10, 500, 10)
    narrow = PoolModel(narrow.sqrt_price_x96, narrow.tick, narrow.liquidity, 500, 10, narrow.bitmap,
                       narrow.liquidity_net, narrow.word_range, venue="chain c: venue r leg 2")
    with pytest.raises(QuoteOutOfRangeError, match="chain c: venue r leg 2"):
        compose([V3LegModel(A, B, 500, deep), V3LegModel(B, C, 500, narrow)], [True, True], 6 * 10**19)
    points, _ = route_points(lambda x: compose([V3LegModel(A, B, 500, deep), V3LegModel(B, C, 500, narrow)],
                                               [True, True], x), 1.0, 0.999, 10**20, 2)
    assert points  # the curve stops before the window edge instead of failing
    assert all(not compose([V3LegModel(A, B, 500, deep), V3LegModel(B, C, 500, narrow)], [True, True], p).partial
               for p, _ in points)


def test_token_path_follows_the_legs_and_refuses_a_broken_chain() -> None:
    legs = [{"token0": A, "token1": B, "address": "p1"}, {"token0": C, "token1": B, "address": "p2"}]
    assert token_path("c", "r", legs) == [A, B, C]
    with pytest.raises(AdapterError, match="chain c: venue r: legs 1 and 2 must share exactly one token"):
        token_path("c", "r", [legs[0], {"token0": C, "token1": "0x" + "d" * 40, "address": "p3"}])


def test_router_commands_chain_v3_legs_in_one_path_and_hand_the_balance_to_v2() -> None:
    v3, v2 = Hop("uniswap_v3", A, B, 500), Hop("uniswap_v2", B, C, 3000)
    commands, inputs = route_commands([v3, Hop("uniswap_v3", B, C, 3000)], 10**8, 99, WALLET)
    assert commands == bytes([Command.V3_SWAP_EXACT_IN])  # consecutive V3 legs: one multi-pool path
    recipient, amount, minimum, path, payer_is_user = abi_decode(["address", "uint256", "uint256", "bytes", "bool"],
                                                                 inputs[0])
    assert (recipient.lower(), amount, minimum, payer_is_user) == (WALLET, 10**8, 99, True)
    assert path == v3_path([v3, Hop("uniswap_v3", B, C, 3000)]) and len(path) == 20 * 3 + 3 * 2
    commands, inputs = route_commands([v3, v2], 10**8, 99, WALLET)
    assert commands == bytes([Command.V3_SWAP_EXACT_IN, Command.V2_SWAP_EXACT_IN])
    first = abi_decode(["address", "uint256", "uint256", "bytes", "bool"], inputs[0])
    second = abi_decode(["address", "uint256", "uint256", "address[]", "bool"], inputs[1])
    # The router keeps leg 1's output and spends all of it on leg 2; only the last command pays out and checks.
    assert (first[0], first[1], first[2], first[4]) == (ADDRESS_THIS, 10**8, 0, True)
    assert (second[0].lower(), second[1], second[2], second[4]) == (WALLET, CONTRACT_BALANCE, 99, False)
    assert [a.lower() for a in second[3]] == [B, C]


def test_route_config_forbids_unknown_fields_and_needs_two_legs() -> None:
    leg = {"kind": "uniswap_v3", "pool": A}
    UniswapRouteConfig.model_validate({"router": B, "legs": [leg, {"kind": "uniswap_v2", "pair": C}]})
    with pytest.raises(ValidationError, match="legs"):
        UniswapRouteConfig.model_validate({"router": B, "legs": [leg]})
    with pytest.raises(ValidationError, match="poool"):
        UniswapRouteConfig.model_validate({"router": B, "legs": [leg, {"kind": "uniswap_v3", "poool": C}]})


def test_curve_points_carry_the_ticks_each_piece_crosses() -> None:
    leg1 = pool_with([(-6000, 6000, 10**20), (-600, 600, 5 * 10**20), (-120, 240, 10**20)], 0, 60, 500, 887272)
    leg2 = pool_with([(-12000, 12000, 3 * 10**20)], 120, 60, 500, 887272)
    models: list[LegModel] = [V3LegModel(A, B, 500, leg1), V3LegModel(B, C, 500, leg2)]
    points, crossed = route_points(lambda x: compose(models, [True, True], x), mid_rate_of(models, [True, True]),
                                   fee_factor(models), series_reserve(models, [True, True]), 2)
    total = 0
    for (amount_in, _), n in zip(points, crossed, strict=True):
        total += n
        assert compose(models, [True, True], amount_in).ticks_crossed == total
    assert total >= 2
    assert cumulative(curve_from_points(Side.SELL, points, 8, 6, crossed))


def test_the_route_adapter_passes_static_conformance_with_every_contract_verified() -> None:
    config = UniswapRouteConfig.model_validate(
        {"router": B, "quoter": C, "legs": [{"kind": "uniswap_v3", "pool": A}, {"kind": "uniswap_v2", "pair": C}]})
    venue = VenueEntry(name="route_x", chain="c", adapter="uniswap_route", config=config)
    adapter = UniswapRouteAdapter()
    check_static(adapter, venue)
    contracts = adapter.contracts(venue)
    # The approval goes to Permit2, which the router pulls through; both are verified roles, as is every leg.
    assert contracts.spender == PERMIT2_ADDRESS and set(contracts.called) == {"router", "permit2"}
    assert verification_problems(adapter, venue, contracts) == []
    roles = adapter.verification(venue).roles
    assert roles["router"].code.contract == "UniversalRouter (@uniswap/universal-router)"
    assert roles["leg1"].code.contract is not None and "UniswapV3Pool" in roles["leg1"].code.contract
    assert roles["leg2"].code.contract is not None and "UniswapV2Pair" in roles["leg2"].code.contract


def test_a_route_swap_takes_only_the_permit_it_asks_for() -> None:
    """The permit a route asks is for its input token, exactly the input, the router, until the deadline; a permit
    for anything else is refused before a transaction is built."""
    adapter = UniswapRouteAdapter()
    state = _example_state()
    request = adapter.permit_request(state, Side.BUY, 5 * 10**9, 1_900_000_000)
    assert (request.token, request.spender, request.amount, request.expiration) == (
        state.quote.address, state.pool["router"], 5 * 10**9, 1_900_000_000)
    signed = SignedPermit(request=request, nonce=0, signature="0x" + "11" * 65)
    tx = adapter.build_permit_swap(state, Side.BUY, 5 * 10**9, 1, WALLET, 1_900_000_000, signed)
    commands, _ = abi_decode(["bytes", "bytes[]", "uint256"], bytes.fromhex(tx.data[10:]))[:2]
    assert commands == bytes([Command.PERMIT2_PERMIT, Command.V2_SWAP_EXACT_IN, Command.V3_SWAP_EXACT_IN])
    with pytest.raises(UnsafeTransactionError, match="chain c: venue route_x: the permit"):
        adapter.build_permit_swap(state, Side.BUY, 5 * 10**9 + 1, 1, WALLET, 1_900_000_000, signed)


def _example_state() -> VenueState:
    """A recorded route state (WBTC -> WETH -> USDC: a V3 leg then a V2 pair), as a read would produce it."""
    wbtc = TokenInfo(chain="c", symbol="WBTC", address=Web3.to_checksum_address(A), decimals=8, underlying="BTC")
    usdc = TokenInfo(chain="c", symbol="USDC", address=Web3.to_checksum_address(C), decimals=6, underlying="USD")
    weth = Web3.to_checksum_address(B)
    legs = [{"kind": "uniswap_v3", "address": "0x" + "d" * 40, "token0": wbtc.address, "token1": weth, "fee": 500},
            {"kind": "uniswap_v2", "address": "0x" + "e" * 40, "token0": weth, "token1": usdc.address, "fee": 3000}]
    empty = Curve(side=Side.SELL, segments=(Segment(size=1.0, price=1.0),))
    return VenueState(chain="c", venue="route_x", adapter="uniswap_route", underlying="BTC", base=wbtc, quote=usdc,
                      fee_pips=3500, mid_price=60_000.0, block_number=1, block_timestamp=1, gas_units=1,
                      sell=empty, buy=empty.model_copy(update={"side": Side.BUY}),
                      pool={"router": Web3.to_checksum_address("0x" + "f" * 40), "permit2": PERMIT2_ADDRESS,
                            "chain_id": 1, "path": [wbtc.address, weth, usdc.address], "legs": legs})


def test_marks_never_take_a_routes_mid() -> None:
    """A route's mid is its pools' product (it moves with the ETH pools): the book's BTC mark is the single-market
    venues' median alone."""
    direct = _example_state().model_copy(update={"venue": "v3_wbtc_usdc_500", "mid_price": 60_000.0})
    route = _example_state().model_copy(update={"mid_price": 59_000.0, "composite": True})
    assert marks_from_venues([direct, route, route]) == {"BTC": 60_000.0}


def _v4_plan(data: bytes) -> list[tuple[int, bytes]]:
    actions, params = abi_decode(["bytes", "bytes[]"], data)
    return list(zip(actions, params, strict=True))


def test_a_v4_leg_swaps_in_one_v4_swap_settled_from_the_user_first_or_from_the_routers_balance_after() -> None:
    v3, v4 = Hop("uniswap_v3", A, B, 500), Hop("uniswap_v4", B, C, 1500, tick_spacing=30)
    # V3 first: the V4 run settles the router's whole balance of its input, swaps the full credit, takes to the wallet.
    commands, inputs = route_commands([v3, v4], 10**8, 99, WALLET)
    assert commands == bytes([Command.V3_SWAP_EXACT_IN, Command.V4_SWAP])
    plan = _v4_plan(inputs[1])
    assert [a for a, _ in plan] == [Action.SETTLE, Action.SWAP_EXACT_IN_SINGLE, Action.TAKE]
    assert abi_decode(["address", "uint256", "bool"], plan[0][1]) == (B, CONTRACT_BALANCE, False)
    ((key, zero_for_one, amount_in, minimum, _),) = abi_decode(
        ["((address,address,uint24,int24,address),bool,uint128,uint128,bytes)"], plan[1][1])
    assert (key[2], key[3], zero_for_one, amount_in, minimum) == (1500, 30, int(B, 16) < int(C, 16), OPEN_DELTA, 99)
    assert abi_decode(["address", "address", "uint256"], plan[2][1])[1:] == (WALLET, OPEN_DELTA)
    # V4 first: it swaps exactly the input, settles exactly that from the user (Permit2), takes to the router.
    commands, inputs = route_commands([Hop("uniswap_v4", C, B, 1500, tick_spacing=30), Hop("uniswap_v3", B, A, 500)],
                                      10**6, 7, WALLET)
    assert commands == bytes([Command.V4_SWAP, Command.V3_SWAP_EXACT_IN])
    plan = _v4_plan(inputs[0])
    assert [a for a, _ in plan] == [Action.SWAP_EXACT_IN_SINGLE, Action.SETTLE, Action.TAKE]
    ((_, _, amount_in, minimum, _),) = abi_decode(
        ["((address,address,uint24,int24,address),bool,uint128,uint128,bytes)"], plan[0][1])
    assert (amount_in, minimum) == (10**6, 0)  # only the last command checks the final output
    assert abi_decode(["address", "uint256", "bool"], plan[1][1]) == (C, 10**6, True)
    assert abi_decode(["address", "address", "uint256"], plan[2][1])[1] == ADDRESS_THIS


def test_a_v4_leg_is_an_erc20_pool_verified_with_its_pool_manager_and_state_view() -> None:
    v4_leg = {"kind": "uniswap_v4", "pool_manager": A, "state_view": B, "currency0": B, "currency1": C, "fee": 1500,
              "tick_spacing": 30}
    config = UniswapRouteConfig.model_validate({"router": C, "legs": [{"kind": "uniswap_v3", "pool": A}, v4_leg]})
    venue = VenueEntry(name="route_v4", chain="c", adapter="uniswap_route", config=config)
    adapter = UniswapRouteAdapter()
    check_static(adapter, venue)
    assert verification_problems(adapter, venue, adapter.contracts(venue)) == []
    checks = adapter.verification(venue)
    assert (checks.roles["leg2"].address, checks.roles["leg2_state_view"].address) == tuple(
        Web3.to_checksum_address(a) for a in (A, B))
    served = {link.call.role for link in checks.links if link.call.signature == "poolManager()"}
    assert served == {"leg2_state_view", "router"}  # StateView and the router both serve the leg's PoolManager
    with pytest.raises(ValidationError, match="native ether"):
        UniswapRouteConfig.model_validate({"router": C, "legs": [
            {"kind": "uniswap_v3", "pool": A}, {**v4_leg, "currency0": "0x" + "00" * 20}]})
    with pytest.raises(ValidationError, match="must sort below"):
        UniswapRouteConfig.model_validate({"router": C, "legs": [
            {"kind": "uniswap_v3", "pool": A}, {**v4_leg, "currency0": C, "currency1": B}]})


def test_a_v4_legs_swap_event_is_poolmanagers_for_its_pool_id_with_the_swappers_deltas() -> None:
    kind = LEG_KINDS["uniswap_v4"]
    pool_id = "0x" + "ab" * 32
    state = {"kind": "uniswap_v4", "address": pool_id, "custodian": A}
    data = abi_encode(["int128", "int128", "uint160", "uint128", "int24", "uint24"], [-1000, 950, 2**96, 10**18, 0,
                                                                                       1500])
    log = {"address": A, "topics": [kind.swap_topic, bytes.fromhex(pool_id[2:]), bytes(32)], "data": data}
    assert kind.is_swap_log(state, log)
    assert not kind.is_swap_log(state, {**log, "topics": [kind.swap_topic, bytes(32), bytes(32)]})  # another pool
    assert not kind.is_swap_log(state, {**log, "address": B})  # not the leg's PoolManager
    assert kind.decode_swap(data, zero_for_one=True) == (1000, 950)  # paid 1000 of token0, took 950 of token1
