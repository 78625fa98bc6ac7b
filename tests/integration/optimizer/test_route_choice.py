"""Route venues compete in the optimizer like any venue, on a real devnet snapshot: a BTC hedge on ethereum takes the
WBTC→WETH→USDC route when, by the venues' exact quotes and gas, the route is the cheaper way to fill it, and the
direct WBTC/USDC pools when it is not (a small hedge: the route's second hop costs more gas than its lower fees save).
"""

from __future__ import annotations

from typing import Any

import pytest

from adapters import Side, VenueState, default_registry
from crosshedge.config import OptimizerSettings
from optimizer import HedgeProblem, HedgeTarget, Plan, Planner, registry_quoter
from orchestrator import Snapshot, connect_all, take_snapshot

pytestmark = pytest.mark.integration
CHAIN = "ethereum"


def _btc_problem(snap: Snapshot, delta: float) -> HedgeProblem:
    """Long ``delta`` BTC on ethereum alone, to be brought within ±1% of it around zero."""
    chain = snap.chains[CHAIN]
    venues = [v for v in chain.venues if v.underlying == "BTC"]
    mark = venues[0].mid_price
    return HedgeProblem(
        targets=[HedgeTarget(underlying="BTC", current_delta=delta, target=0.0, lower=-0.01 * delta,
                             upper=0.01 * delta, mark_price_usd=mark)],
        venues=venues,
        gas_usd={f"{CHAIN}/{n}": usd for n, usd in chain.swap_gas_usd.items()},
        tick_gas_usd={f"{CHAIN}/{n}": usd for n, usd in chain.tick_gas_usd.items()},
        inventory={CHAIN: {p.symbol: p.amount for p in chain.inventory}},
        as_of=chain.block_timestamp, settings=OptimizerSettings(max_price_impact_bps=300.0),
    )


def _alone_cost(snap: Snapshot, state: VenueState, delta: float) -> float:
    """USD cost of selling ``delta`` BTC on one venue alone: shortfall of its exact quote against the mark, plus its
    gas and the gas of the ticks it crosses."""
    chain = snap.chains[CHAIN]
    adapter: Any = default_registry().venue(state.adapter)
    amount = round(delta * 10**state.base.decimals)
    quote = adapter.quote_swap(state, Side.SELL, amount)
    got = quote.amount_out / 10**state.quote.decimals
    ticks = quote.ticks_crossed * chain.tick_gas_usd.get(state.venue, 0.0)
    return float(delta * state.mid_price - got + chain.swap_gas_usd[state.venue] + ticks)


def _plan(snap: Snapshot, delta: float) -> tuple[Plan, dict[str, float]]:
    problem = _btc_problem(snap, delta)
    costs = {v.venue: _alone_cost(snap, v, delta) for v in problem.venues}
    return Planner(quoter=registry_quoter).plan(problem, with_explanation=False), costs


def test_the_route_is_chosen_when_cheaper_and_not_otherwise(devnet: Any) -> None:
    connections, _ = connect_all(devnet.config, timeout=30)
    snap = take_snapshot(devnet.config, connections, default_registry())
    routes = {v.venue for v in snap.chains[CHAIN].venues if v.adapter == "uniswap_route"}
    assert routes
    big, small = 2.0, 0.005  # BTC: ~$120k and ~$300
    plan, costs = _plan(snap, big)
    best = min(costs, key=costs.__getitem__)
    print(f"sell {big} BTC alone per venue: { {k: round(v, 2) for k, v in costs.items()} }")
    assert best in routes, f"the setup needs a route to be the cheapest single venue at {big} BTC: {costs}"
    used = {t.venue for t in plan.trades}
    assert used & routes, f"the plan ignores the cheaper route: {plan.trades}"
    assert plan.cost.total_usd <= costs[best] + 1e-6  # never worse than the best venue alone

    plan, costs = _plan(snap, small)
    best = min(costs, key=costs.__getitem__)
    print(f"sell {small} BTC alone per venue: { {k: round(v, 2) for k, v in costs.items()} }")
    assert best not in routes, f"the setup needs a direct pool to be the cheapest at {small} BTC: {costs}"
    assert not {t.venue for t in plan.trades} & routes, f"the plan takes a dearer route: {plan.trades}"
    assert plan.trades and plan.cost.total_usd <= costs[best] + 1e-6
