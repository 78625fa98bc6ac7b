"""The transfer model (optimizer.transfers): bridge routes decided jointly with the trades, checked against a brute
force over the exact plan scoring, the cheap-venue-on-a-dry-chain scenario, rebalancing toward targets, and that a
problem without routes plans exactly as before."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from adapters import Side
from crosshedge import InfeasiblePlanError
from crosshedge.config import InventoryTargetSettings, OptimizerSettings
from optimizer import HedgeProblem, Plan, SolveStats, cp_quote, plan, violation
from optimizer.finalize import Allocation, exact_trade, plan_from_trades
from optimizer.transfers import planned_transfer, wait_rate
from tests.unit.optimizer.transfer_helpers import buy_problem, usdc_route

QUOTER = cp_quote


def brute_force(problem: HedgeProblem, steps: int = 60) -> Plan:
    """The cheapest exact plan over a grid: per venue a share of the needed ETH, per route an amount, scored by the
    same exact scoring every plan gets (plan_from_trades) and kept only when it breaks no limit."""
    t = problem.targets[0]
    need = t.target - t.current_delta
    best: Plan | None = None
    stats = SolveStats(method="brute", status="optimal")
    cheap, dear = problem.venues[1], problem.venues[0]
    route = problem.transfers[0]
    held_origin = problem.inventory[route.origin]["USDC"]
    amounts = [0.0, *np.linspace(0.02, 1.0, steps) * min(held_origin, route.max_amount_raw / 1e6)]
    for share in np.linspace(0.0, 1.0, steps + 1):
        trades = []
        for st, units in ((cheap, need * share), (dear, need * (1 - share))):
            if units * t.mark_price_usd >= problem.settings.min_trade_usd:
                trades.append(exact_trade(problem, Allocation(st, Side.BUY, units), QUOTER))
        # the cheapest amount to send is the least that funds the cheap venue's spend: try the grid and that one
        spend = sum(tr.amount_in_raw for tr in trades if tr.chain == route.destination)
        short = spend - problem.inventory[route.destination]["USDC"] * 1e6
        exact_need = [(short + route.fixed_fee_raw) / (1 - route.fee_bps / 1e4) / 1e6 + 1e-6] if short > 0 else []
        for amount in [*amounts, *exact_need]:
            moves = [planned_transfer(route, int(amount * 1e6))] if amount > 0 else []
            if moves and moves[0].amount_raw > held_origin * 1e6:
                continue
            cand = plan_from_trades(problem, trades, stats=stats, model_objective=0.0, transfers=moves)
            if violation(problem, cand) is None and (best is None or cand.objective_usd < best.objective_usd):
                best = cand
    assert best is not None
    return best


@pytest.mark.parametrize(("need", "base_usdc"), [(3.0, 500.0), (20.0, 5_000.0), (120.0, 0.0), (40.0, 200_000.0)])
def test_joint_plan_is_no_worse_than_brute_force(need: float, base_usdc: float) -> None:
    problem = buy_problem(need_eth=need, usdc={"ethereum": 3_000_000.0, "base": base_usdc})
    got, brute = plan(problem), brute_force(problem)
    assert violation(problem, got) is None
    # the grid is coarse, so the optimizer may beat it; it may trail it only by the curves' sampling error
    assert got.objective_usd <= brute.objective_usd * (1 + 2e-3) + 0.05
    assert bool(got.transfers) == bool(brute.transfers) or abs(got.objective_usd - brute.objective_usd) < 1.0


def test_a_cheap_venue_on_a_dry_chain_is_bridged_to_when_it_pays_and_skipped_when_it_does_not() -> None:
    # 15 ETH: the dear venue's impact on $2M depth costs far more than bridging USDC and waiting for the fill
    big = plan(buy_problem(need_eth=15.0, usdc={"ethereum": 3_000_000.0, "base": 0.0}))
    assert [t.key for t in big.transfers] == ["ethereum->base/USDC"]
    cheap = [t for t in big.trades if t.venue_key == "base/cheap"]
    assert cheap and all(t.staged for t in cheap)  # it spends what the transfer brings: it waits for the fill
    assert all(not t.staged for t in big.trades if t.chain == "ethereum")
    assert big.cost.wait_usd > 0 and big.cost.bridge_fee_usd > 0 and big.cost.bridge_gas_usd == 2.0
    spent = sum(t.amount_in_raw for t in cheap)
    assert spent <= big.transfers[0].expected_received_raw  # base held nothing: the transfer funds it all
    # a small hedge: bridge gas and the wait outweigh the dear venue's extra cost: trade now, no transfer
    small = plan(buy_problem(need_eth=0.3, usdc={"ethereum": 3_000_000.0, "base": 0.0}, gas_usd=1.0))
    assert small.transfers == [] and [t.venue_key for t in small.trades] == ["ethereum/dear"]
    # a slow bridge prices the wait higher: past some latency the plan trades on the dear venue now instead
    slow = plan(buy_problem(need_eth=15.0, usdc={"ethereum": 3_000_000.0, "base": 0.0},
                            routes=[usdc_route("ethereum", "base", latency_s=30 * 86_400)]))
    assert slow.transfers == [] and {t.venue_key for t in slow.trades} == {"ethereum/dear"}
    assert slow.objective_usd > big.objective_usd


def test_with_funds_already_on_the_cheap_chain_nothing_is_bridged_or_staged() -> None:
    got = plan(buy_problem(need_eth=30.0, usdc={"ethereum": 3_000_000.0, "base": 1_000_000.0}))
    assert got.transfers == [] and all(not t.staged for t in got.trades)
    assert got.cost.wait_usd == 0 and got.inventory_usd == 0


def test_a_plan_rebalances_toward_the_targets_only_when_the_saving_beats_the_bridge_cost() -> None:
    targets = {"ethereum": {"USDC": InventoryTargetSettings(target_share=0.5, threshold=0.1)},
               "base": {"USDC": InventoryTargetSettings(target_share=0.5, threshold=0.1)}}
    # a tiny hedge on ethereum; base holds 5% of the USDC: 45% of $2M short
    problem = buy_problem(need_eth=0.2, usdc={"ethereum": 1_900_000.0, "base": 100_000.0}, targets=targets)
    got = plan(problem)
    assert [t.key for t in got.transfers] == ["ethereum->base/USDC"]
    moved = got.transfers[0]
    assert moved.expected_received == pytest.approx(900_000.0, rel=1e-3)  # back to the target share, not past it
    assert got.inventory_usd < -(moved.fee_usd + moved.gas_usd)  # the saving beat the cost
    # shortfall priced at nothing: no transfer is worth it
    free = problem.model_copy(update={"settings": problem.settings.model_copy(
        update={"inventory_shortfall_bps": 0.0})})
    assert plan(free).transfers == []
    # within its threshold a chain is not short: nothing moves
    near = buy_problem(need_eth=0.2, usdc={"ethereum": 1_100_000.0, "base": 900_000.0}, targets=targets)
    assert plan(near).transfers == []


def test_a_rebalance_holds_every_delta_and_bridges_only_what_pays() -> None:
    """A run when no hedge fires (orchestrator.assess.hold_window): the book's delta is held where it is, so the
    plan can only bridge; it refills a short chain and leaves one within its threshold alone."""
    targets = {"ethereum": {"USDC": InventoryTargetSettings(target_share=0.5, threshold=0.1)},
               "base": {"USDC": InventoryTargetSettings(target_share=0.5, threshold=0.1)}}
    short = plan(buy_problem(need_eth=0.0, usdc={"ethereum": 1_900_000.0, "base": 100_000.0}, targets=targets,
                             band=1e-6))
    assert short.trades == [] and [t.key for t in short.transfers] == ["ethereum->base/USDC"]
    assert short.transfers[0].expected_received == pytest.approx(900_000.0, rel=1e-3)
    near = plan(buy_problem(need_eth=0.0, usdc={"ethereum": 1_100_000.0, "base": 900_000.0}, targets=targets,
                            band=1e-6))
    assert near.trades == [] and near.transfers == []


def test_arriving_funds_count_toward_the_target_and_are_not_bridged_again() -> None:
    targets = {"ethereum": {"USDC": InventoryTargetSettings(target_share=0.5, threshold=0.1)},
               "base": {"USDC": InventoryTargetSettings(target_share=0.5, threshold=0.1)}}
    problem = buy_problem(need_eth=0.2, usdc={"ethereum": 1_100_000.0, "base": 100_000.0}, targets=targets)
    in_flight = problem.model_copy(update={"arriving": {"base": {"USDC": 800_000.0}}})
    assert plan(problem).transfers  # short without the transfer in flight
    assert plan(in_flight).transfers == []  # held + arriving is on target


def test_routes_limit_and_switches_hold() -> None:
    routes = [usdc_route("ethereum", "base", max_usdc=10_000.0)]
    got = plan(buy_problem(need_eth=15.0, usdc={"ethereum": 3_000_000.0, "base": 0.0}, routes=routes))
    assert got.transfers and all(t.amount_raw <= 10_000 * 10**6 for t in got.transfers)
    off = buy_problem(need_eth=15.0, usdc={"ethereum": 3_000_000.0, "base": 0.0},
                      settings=OptimizerSettings(max_transfers=0))
    assert plan(off).transfers == []
    down = buy_problem(need_eth=15.0, usdc={"ethereum": 3_000_000.0, "base": 0.0})
    down = down.model_copy(update={"disabled_chains": ["base"]})
    assert plan(down).transfers == []
    # the dear venue alone cannot reach 30 ETH inside the impact cap: without a route the hedge is infeasible
    with pytest.raises(InfeasiblePlanError, match="inventory allows 0"):
        plan(buy_problem(need_eth=30.0, usdc={"ethereum": 3_000_000.0, "base": 0.0}, routes=[]))
    assert plan(buy_problem(need_eth=30.0, usdc={"ethereum": 3_000_000.0, "base": 0.0})).transfers


def test_the_wait_is_a_tail_move_over_the_latency() -> None:
    problem = buy_problem(need_eth=1.0, usdc={"ethereum": 1.0, "base": 1.0})
    s = problem.settings
    year = 365.25 * 86_400
    assert wait_rate(problem, usdc_route("a", "b", latency_s=year)) == pytest.approx(s.transfer_wait_z
                                                                                     * s.transfer_wait_vol)
    assert wait_rate(problem, usdc_route("a", "b", latency_s=0.0)) == 0.0


def test_bad_routes_are_refused_with_the_field_named() -> None:
    problem = buy_problem(need_eth=1.0, usdc={"ethereum": 1.0, "base": 1.0})
    for routes, words in (([usdc_route("ethereum", "ethereum")], "same chain"),
                          ([usdc_route("ethereum", "mars")], "'mars' is not a chain"),
                          ([usdc_route("ethereum", "base")] * 2, "listed twice")):
        with pytest.raises(ValueError, match=words):
            HedgeProblem.model_validate({**problem.model_dump(), "transfers": [r.model_dump() for r in routes]})


def test_without_routes_the_model_is_the_one_without_transfer_terms() -> None:
    with_routes = buy_problem(need_eth=30.0, usdc={"ethereum": 3_000_000.0, "base": 3_000_000.0})
    without = with_routes.model_copy(update={"transfers": []})
    a, b = plan(with_routes), plan(without)
    assert a.transfers == [] and b.transfers == []
    assert [(t.venue_key, t.amount_in_raw) for t in a.trades] == [(t.venue_key, t.amount_in_raw) for t in b.trades]
    assert b.stats.n_variables < a.stats.n_variables  # no route: no transfer variables at all


@pytest.mark.parametrize("seed", [1, 2])
def test_three_chains_two_routes_against_every_route_subset(seed: int) -> None:
    """With two routes into the cheap chain, the joint plan is no worse than the best plan over each subset of
    routes (each planned alone): the enumeration of the transfer switches."""
    rng = np.random.default_rng(seed)
    need = float(rng.uniform(10, 60))
    routes = [usdc_route("ethereum", "base", fee_bps=float(rng.uniform(1, 8)), gas_usd=float(rng.uniform(1, 20))),
              usdc_route("arbitrum", "base", fee_bps=float(rng.uniform(1, 8)), gas_usd=float(rng.uniform(0.1, 3)))]
    problem = buy_problem(need_eth=need, usdc={"ethereum": float(rng.uniform(1e4, 2e5)), "base": 0.0,
                                               "arbitrum": float(rng.uniform(1e4, 2e5))}, routes=routes)
    got = plan(problem)
    feasible = []
    for sub in (s for k in range(3) for s in itertools.combinations(routes, k)):
        try:
            feasible.append(plan(problem.model_copy(update={"transfers": list(sub)})).objective_usd)
        except InfeasiblePlanError:  # the dear venue alone cannot reach the band: some route is needed
            continue
    best = min(feasible)
    assert violation(problem, got) is None
    assert got.objective_usd <= best * (1 + 1e-3) + 0.05
