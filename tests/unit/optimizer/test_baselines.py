"""The optimizer is never worse than any baseline, scored by replaying every plan through the exact venue model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import Side
from crosshedge import InfeasiblePlanError, PlanError
from crosshedge.config import OptimizerSettings
from optimizer import HedgeProblem, Planner, Quoter, bench_scenario, cp_quote, random_problem, replay
from optimizer.baselines import BASELINES, best_single, default_amounts, greedy, router_split
from tests.unit.optimizer.helpers import pwl_quote

LAYOUT = (("ethereum", "ETH"), ("arbitrum", "ETH"), ("base", "ETH"), ("base", "ETH"), ("arbitrum", "BTC"))


def test_baselines_hedge_to_target_through_the_same_path(problem: HedgeProblem) -> None:
    problem = problem.model_copy(update={"inventory": {**problem.inventory, "ethereum": {"WETH": 200.0},
                                                       "base": {"WETH": 20.0, "WBTC": 1.0, "USDC": 1e7}}})
    for name, baseline in BASELINES.items():
        plan = baseline(problem, quoter=pwl_quote)
        assert plan.kind == "baseline" and plan.stats.method == f"baseline:{name}"
        assert plan.residual_delta["ETH"] == pytest.approx(0.0, abs=1e-6)
    assert len(best_single(problem, quoter=pwl_quote).trades) == 2  # one per underlying
    assert default_amounts(problem)["ETH"] == -150.0


def test_router_split_uses_the_grid_and_at_most_seven_venues(problem: HedgeProblem) -> None:
    plan = router_split(problem, amounts={"ETH": -100.0}, quoter=pwl_quote)
    assert 1 <= len(plan.trades) <= 7
    for t in plan.trades:
        assert (t.base_amount / 5.0) == pytest.approx(round(t.base_amount / 5.0), abs=1e-6)  # 5 % of 100


def test_greedy_ignores_gas_and_can_pay_for_it(problem: HedgeProblem) -> None:
    plan = greedy(problem, amounts={"ETH": -30.0}, quoter=pwl_quote)
    assert all(t.side is Side.SELL for t in plan.trades)
    assert sum(t.base_amount for t in plan.trades) == pytest.approx(30.0, rel=1e-6)


def test_optimizer_never_worse_than_any_baseline_on_random_instances() -> None:
    """40 random instances, exact model = the curves (so any gap is the baselines' own)."""
    rng = np.random.default_rng(2024)
    planner = Planner(quoter=pwl_quote)
    compared = 0
    for _ in range(40):
        problem = random_problem(rng, LAYOUT)
        problem = problem.model_copy(update={"settings": problem.settings.model_copy(update={"max_trades": None})})
        try:
            plan = planner.plan(problem, with_explanation=False)
        except InfeasiblePlanError:
            continue
        mine = replay(plan, problem, pwl_quote)
        amounts = {u: plan.residual_delta[u] - plan.pre_trade_delta[u] for u in plan.residual_delta}
        for baseline in BASELINES.values():
            for sizes in (None, amounts):
                try:
                    theirs = replay(baseline(problem, amounts=sizes, quoter=pwl_quote), problem, pwl_quote)
                except PlanError:
                    continue  # the baseline cannot meet the limits: nothing to compare
                assert mine.objective_usd <= theirs.objective_usd + 1e-6 * max(1.0, abs(theirs.objective_usd))
                compared += 1
    assert compared >= 40


def test_baseline_that_breaks_a_limit_says_so(problem: HedgeProblem) -> None:
    tight = problem.model_copy(update={"settings": OptimizerSettings(max_trades=1)})
    with pytest.raises(PlanError, match="max_trades"):
        greedy(tight, amounts={"ETH": -150.0}, quoter=pwl_quote)


def _assert_never_worse(planner: Planner, problem: HedgeProblem, quoter: Quoter) -> int:
    """Plan, then replay the plan and every baseline (to target and at the plan's sizes) on ``quoter``."""
    try:
        plan = planner.plan(problem, with_explanation=False)
    except InfeasiblePlanError:
        return 0
    mine = replay(plan, problem, quoter)
    amounts = {u: plan.residual_delta[u] - plan.pre_trade_delta[u] for u in plan.residual_delta}
    compared = 0
    for name, baseline in BASELINES.items():
        for sizes in (None, amounts):
            try:
                theirs = replay(baseline(problem, amounts=sizes, quoter=quoter), problem, quoter)
            except PlanError:
                continue
            assert mine.objective_usd <= theirs.objective_usd + 1e-6 * max(1.0, abs(theirs.objective_usd)), name
            compared += 1
    return compared


@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=25, deadline=None)
def test_never_worse_than_any_baseline_on_the_exact_venue_model(seed: int) -> None:
    """Exact constant-product quotes differ from the sampled curves: polish + safeguard keep the promise."""
    problem = random_problem(np.random.default_rng(seed), LAYOUT)
    _assert_never_worse(Planner(quoter=cp_quote), problem, cp_quote)


def test_never_worse_than_any_baseline_on_the_bench_scenarios() -> None:
    """The benchmark's 10- and 50-venue scenarios, several runs each, scored on the exact model."""
    planner = Planner(quoter=cp_quote)
    compared = 0
    for n, runs in ((10, 4), (50, 2)):
        rng = np.random.default_rng(n)
        for _ in range(runs):
            compared += _assert_never_worse(planner, bench_scenario(n, rng, layout_seed=n), cp_quote)
    assert compared >= 20
