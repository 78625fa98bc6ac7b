"""Acceptance against the real devnet: quotes equal QuoterV2's to the wei, executed swaps deliver them, curves are
convex and within 1 bp of the exact model at every breakpoint, reads cost a bounded number of round trips."""

from __future__ import annotations

import dataclasses
import random
from functools import partial

import pytest
from web3.types import RPCEndpoint

from adapters import (
    EXACT_IMPACT_BPS,
    AdapterRegistry,
    Call,
    RoundTripCounter,
    Side,
    VenueState,
    batch_call,
    check_live_venue,
    decode,
    default_registry,
    encode_call,
    ordered_curve_ok,
)
from adapters.uniswap.curve import cumulative
from adapters.uniswap_v3.adapter import GAS_PER_TICK, UniswapV3Adapter
from adapters.uniswap_v3.reader import MAX_ROUND_TRIPS
from crosshedge import QuoteOutOfRangeError
from orchestrator import connect_all, take_snapshot
from orchestrator import read_venues as read_chain_venues
from tests.integration.adapters.adapter_helpers import (
    at_head,
    balance,
    context,
    mint_narrow_positions,
    read_adapters,
    read_venues,
    send,
)
from tests.integration.conftest import DevnetHandle, held_still

pytestmark = pytest.mark.integration

QUOTE_V2 = "quoteExactInputSingle((address,address,uint256,uint24,uint160))"
V3 = default_registry().venue("uniswap_v3")
V2 = default_registry().venue("uniswap_v2")


def tokens_for(state: VenueState, side: Side) -> tuple[str, str]:
    return (state.base.address, state.quote.address) if side is Side.SELL else (state.quote.address, state.base.address)


def random_size(rng: random.Random, state: VenueState, side: Side, low: float = -5) -> int:
    """Log-uniform from dust to ~95% of the read window, so many cases cross many initialized ticks."""
    curve = state.sell if side is Side.SELL else state.buy
    top_base = sum(s.size for s in curve.segments) * 0.95
    frac = 10 ** rng.uniform(low, 0)
    if side is Side.SELL:
        return max(1, int(top_base * frac * 10**state.base.decimals))
    return max(1, int(top_base * frac * state.mid_price * 10**state.quote.decimals))


def test_v3_quotes_equal_quoter_v2_to_the_wei(devnet: DevnetHandle) -> None:
    rng = random.Random(20240601)
    cases = crossed_many = 0
    for chain in devnet.chains():
        ctx = context(devnet.config, chain)
        block, states = at_head(ctx, partial(read_venues, devnet.config, ctx, "uniswap_v3"))
        calls: list[Call] = []
        expected: list[tuple[VenueState, Side, int, int]] = []
        for state in states:
            for side in (Side.SELL, Side.BUY):
                for i in range(14):
                    amount = random_size(rng, state, side, low=-5 if i % 2 else -1.5)
                    mine = V3.quote(state, side, amount)
                    t_in, t_out = tokens_for(state, side)
                    calls.append(encode_call(state.pool["quoter"], QUOTE_V2, (t_in, t_out, amount, state.fee_pips, 0)))
                    expected.append((state, side, amount, mine))
        _, results = batch_call(ctx.w3, calls, block, None, chain)  # one JSON-RPC batch of quoter eth_calls
        for (state, side, amount, mine), res in zip(expected, results, strict=True):
            assert res.success, f"{chain}/{state.venue}: quoter reverted for {side.value} {amount}"
            out, _sqrt, ticks_crossed, _gas = decode(("uint256", "uint160", "uint32", "uint256"), res.data)
            assert mine == out, f"{chain}/{state.venue} {side.value} {amount}: model {mine} != quoter {out}"
            cases += 1
            crossed_many += ticks_crossed >= 3
    assert cases >= 200
    assert crossed_many >= 20  # sizes that cross many initialized ticks are well represented


def test_v2_quotes_equal_router_get_amounts_out(devnet: DevnetHandle) -> None:
    rng = random.Random(7)
    for chain in devnet.chains():
        ctx = context(devnet.config, chain)
        block, pairs = at_head(ctx, partial(read_venues, devnet.config, ctx, "uniswap_v2"))
        for state in pairs:
            for side in (Side.SELL, Side.BUY):
                amount = random_size(rng, state, side)
                path = list(tokens_for(state, side))
                call = encode_call(state.pool["router"], "getAmountsOut(uint256,address[])", amount, path)
                _, [res] = batch_call(ctx.w3, [call], block, None, chain)
                onchain = int.from_bytes(res.data[-32:], "big")
                assert V2.quote(state, side, amount) == onchain


def test_executed_swaps_deliver_the_predicted_amount(devnet: DevnetHandle, chain_snapshot: dict[str, str]) -> None:
    rng = random.Random(99)
    executed = 0
    for chain in devnet.chains():
        ctx = context(devnet.config, chain)
        w3 = ctx.w3
        trader = devnet.state["chains"][chain]["accounts"]["trader"]
        for adapter, name in ((V3, "uniswap_v3"), (V2, "uniswap_v2")):
            for state in read_venues(devnet.config, ctx, name):
                for side in (Side.SELL, Side.BUY):
                    if executed >= 24 or (name == "uniswap_v2" and side is Side.BUY and executed % 2):
                        continue
                    snap = w3.provider.make_request(RPCEndpoint("evm_snapshot"), [])["result"]
                    _, [fresh] = at_head(ctx, partial(adapter.read, ctx, [e for e in devnet.config.venues_on(chain)
                                                                          if e.name == state.venue]))
                    amount = random_size(rng, fresh, side) // 2 + 1
                    predicted = adapter.quote(fresh, side, amount)
                    token_out = tokens_for(fresh, side)[1]
                    before = balance(w3, token_out, trader)
                    tx = adapter.build_swap(fresh, side, amount, predicted, trader, fresh.block_timestamp + 600)
                    assert tx.chain_id == ctx.chain_id
                    receipt = send(w3, trader, tx.to, tx.data)
                    fill = adapter.parse_receipt(fresh, receipt)
                    assert balance(w3, token_out, trader) - before == predicted == fill.amount_out_raw
                    assert (fill.side, fill.amount_in_raw, fill.venue) == (side, amount, fresh.venue)
                    w3.provider.make_request(RPCEndpoint("evm_revert"), [snap])
                    executed += 1
    assert executed >= 20


def test_curves_convex_and_within_one_bp_at_every_breakpoint(devnet: DevnetHandle) -> None:
    for chain in devnet.chains():
        ctx = context(devnet.config, chain)
        _, read = at_head(ctx, partial(read_adapters, devnet.config, ctx, ("uniswap_v3", "uniswap_v2")))
        for name, adapter in (("uniswap_v3", V3), ("uniswap_v2", V2)):
            for state in read[name]:
                for curve in (state.sell, state.buy):
                    assert len(curve.segments) >= 10 and ordered_curve_ok(curve), f"{chain}/{state.venue}"
                    for base, quote in cumulative(curve):
                        if curve.side is Side.SELL:
                            exact = adapter.quote(state, Side.SELL, round(base * 10**state.base.decimals))
                            model = quote * 10**state.quote.decimals
                        else:
                            exact = adapter.quote(state, Side.BUY, round(quote * 10**state.quote.decimals))
                            model = base * 10**state.base.decimals
                        assert abs(model / exact - 1) < 1e-4, f"{chain}/{state.venue} {curve.side.value} at {base}"


def _impact_excl_fee(state: VenueState, side: Side, base: float, quote: float) -> float:
    f = state.fee_pips / 1e6
    avg = quote / base
    return 1 - avg / ((1 - f) * state.mid_price) if side is Side.SELL else avg * (1 - f) / state.mid_price - 1


def test_curves_within_one_bp_between_breakpoints_up_to_the_exact_impact(devnet: DevnetHandle) -> None:
    """Inside every piece (a quarter, half and three quarters in), for every trade up to EXACT_IMPACT_BPS of average
    impact, the curve never promises more than the pool's exact swap and is within 1 bp of it: the devnet's real
    pools (official V3/V2 bytecode, stacked LP ranges), not only the unit tests' synthetic ones."""
    checked = 0
    for chain in devnet.chains():
        ctx = context(devnet.config, chain)
        _, read = at_head(ctx, partial(read_adapters, devnet.config, ctx, ("uniswap_v3", "uniswap_v2")))
        for name, adapter in (("uniswap_v3", V3), ("uniswap_v2", V2)):
            for state in read[name]:
                bd, qd = 10**state.base.decimals, 10**state.quote.decimals
                for curve in (state.sell, state.buy):
                    prev = (0.0, 0.0)
                    for base, quote in cumulative(curve):
                        for frac in (0.25, 0.5, 0.75):
                            b, q = prev[0] + frac * (base - prev[0]), prev[1] + frac * (quote - prev[1])
                            if _impact_excl_fee(state, curve.side, b, q) > 0.999 * EXACT_IMPACT_BPS / 1e4:
                                break
                            if curve.side is Side.SELL:
                                exact, model = adapter.quote(state, Side.SELL, round(b * bd)), q * qd
                            else:
                                exact, model = adapter.quote(state, Side.BUY, round(q * qd)), b * bd
                            if exact < 10**6:
                                continue  # dust: the pool's own wei rounding is above 1 bp
                            assert exact * (1 - 1e-4) <= model <= exact * (1 + 1e-9), (
                                f"{chain}/{state.venue} {curve.side.value} at {b}: {model} vs {exact}")
                            checked += 1
                        prev = (base, quote)
    assert checked > 500


def test_each_v3_tick_crossed_is_a_breakpoint_where_the_swap_gas_steps(devnet: DevnetHandle) -> None:
    """Where a V3 curve says a fill crosses initialized ticks (up to EXACT_IMPACT_BPS of impact), the pool's exact
    swap crosses exactly that many more just past the breakpoint than just before it (its gas steps by GAS_PER_TICK
    each), and the snapshot prices each tick at the chain's gas price."""
    steps, v3 = 0, UniswapV3Adapter()
    for chain in devnet.chains():
        ctx = context(devnet.config, chain)
        for state in read_venues(devnet.config, ctx, "uniswap_v3"):
            for curve in (state.sell, state.buy):
                prev = (0.0, 0.0)
                for seg, (base, quote) in zip(curve.segments, cumulative(curve), strict=True):
                    inside = prev[0] > 0 and _impact_excl_fee(state, curve.side, *prev) < EXACT_IMPACT_BPS / 1e4
                    if seg.ticks_crossed and inside:  # past the exact region a coarse piece may hold its crossings
                        at = prev[0] * 10**state.base.decimals if curve.side is Side.SELL else \
                            prev[1] * 10**state.quote.decimals
                        before = v3.estimate_gas(state, curve.side, int(at * (1 - 1e-5)))
                        after = v3.estimate_gas(state, curve.side, int(at * (1 + 1e-5)))
                        assert after - before == GAS_PER_TICK * seg.ticks_crossed, f"{chain}/{state.venue}"
                        steps += 1
                    prev = (base, quote)
    assert steps >= 4
    connections, failed = connect_all(devnet.config, timeout=30)
    assert not failed
    snap = take_snapshot(devnet.config, connections, default_registry())
    for name, chain_snap in snap.chains.items():
        # Route venues with V3 legs price their legs' ticks the same way.
        ticked = {v.venue: v.gas_units_per_tick for v in chain_snap.venues if v.gas_units_per_tick}
        assert {v.venue for v in chain_snap.venues if v.adapter == "uniswap_v3"} < set(ticked), name
        assert set(chain_snap.tick_gas_usd) == set(ticked), name
        for venue, per_tick in ticked.items():
            want = per_tick * chain_snap.gas_price_wei / 1e18 * chain_snap.native_usd
            assert chain_snap.tick_gas_usd[venue] == pytest.approx(want, rel=1e-12)


def test_round_trips_bounded_independent_of_tick_count(devnet: DevnetHandle, chain_snapshot: dict[str, str]) -> None:
    chain = "ethereum"
    counter = RoundTripCounter()
    # The multicall path (an RPC without state overrides); the read lens's one trip is test_read_lens.py's.
    ctx = dataclasses.replace(context(devnet.config, chain, counter), read_lens=False)
    entries = [v for v in devnet.config.venues_on(chain) if v.adapter == "uniswap_v3"]
    v3 = UniswapV3Adapter()  # a fresh instance: no pool hints yet
    # Each pair of reads pinned to one head runs with the chains held still (see held_still); the mint runs free.
    with held_still(devnet):
        block = ctx.w3.eth.block_number
        counter.reset()
        before = v3.read(ctx, entries, block)
        assert counter.count == MAX_ROUND_TRIPS  # cold: heads, bitmap words, ticks — for every V3 pool at once
        counter.reset()
        assert v3.read(ctx, entries, block) == before  # warm: hints only pick the calls, the state is the same
        assert counter.count == 1
    # Add 40 narrow positions (80 new initialized ticks) to the busiest pool and read again.
    target = before[0]
    w3, trader = ctx.w3, devnet.state["chains"][chain]["accounts"]["trader"]
    manager = devnet.config.chains[chain].contracts["position_manager"]
    mint_narrow_positions(w3, trader, manager, target)
    with held_still(devnet):
        block = w3.eth.block_number
        counter.reset()
        after = v3.read(ctx, entries, block)
        assert counter.count == 2  # warm, but the new ticks' liquidityNet was not predicted: one more round
        assert len(after[0].pool["ticks"]) >= len(target.pool["ticks"]) + 40
        counter.reset()
        assert UniswapV3Adapter().read(ctx, entries, block) == after  # a cold read agrees to the last field
        assert counter.count == MAX_ROUND_TRIPS
        counter.reset()
        read_venues(devnet.config, ctx, "uniswap_v2", block)
        assert counter.count == 1


def test_all_venues_of_a_chain_share_round_trips(devnet: DevnetHandle, still_chains: None) -> None:
    counter = RoundTripCounter()
    ctx = dataclasses.replace(context(devnet.config, "base", counter), read_lens=False)  # the multicall path
    entries = devnet.config.venues_on("base")
    registry = AdapterRegistry.from_entry_points()  # fresh adapter instances: a cold read
    counter.reset()
    number, cold = read_chain_venues(ctx, entries, registry, "latest")
    # V2 pairs and the route venues' legs ride in the V3 rounds; "latest" costs no eth_blockNumber.
    assert counter.count == MAX_ROUND_TRIPS
    assert {s.adapter for s in cold} == {"uniswap_v2", "uniswap_v3", "uniswap_route", "uniswap_v4"}
    assert len(cold) == len(entries)
    assert {s.block_number for s in cold} == {number}
    counter.reset()
    again_number, warm = read_chain_venues(ctx, entries, registry, number)
    assert counter.count == 1 and (again_number, warm) == (number, cold)


def test_quote_past_the_read_window_is_refused(devnet: DevnetHandle) -> None:
    ctx = context(devnet.config, "ethereum")
    entry = next(v for v in devnet.config.venues_on("ethereum") if v.adapter == "uniswap_v3")
    narrow = type(entry)(name=entry.name, chain=entry.chain, adapter=entry.adapter,
                         config=entry.config.model_copy(update={"window_ticks": 1}))
    _, [state] = at_head(ctx, partial(V3.read, ctx, [narrow]))
    with pytest.raises(QuoteOutOfRangeError, match=f"chain ethereum: venue {entry.name}"):
        V3.quote(state, Side.SELL, 10**30)


def test_builtin_venues_pass_the_live_conformance_check(devnet: DevnetHandle) -> None:
    ctx = context(devnet.config, "arbitrum")
    for entry in devnet.config.venues_on("arbitrum"):
        block, state = at_head(ctx, partial(check_live_venue, default_registry().venue(entry.adapter), ctx, entry))
        assert state.block_number == block
