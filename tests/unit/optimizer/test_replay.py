"""Replay scores plans on the exact venue model, independent of the solver's numbers."""

from __future__ import annotations

import pytest

from adapters import Side, VenueState
from crosshedge import PlanError
from optimizer import HedgeProblem, Planner, cp_quote, replay, swap_orders


def test_replay_matches_the_plans_exact_expectations(problem: HedgeProblem) -> None:
    plan = Planner(quoter=cp_quote).plan(problem)
    result = replay(plan, problem, cp_quote)
    assert result.cost_usd == pytest.approx(plan.cost.total_usd, rel=1e-9)
    assert result.residual_delta == pytest.approx(plan.residual_delta)
    assert all(t.meets_min_out for t in result.trades)
    assert result.objective_usd == pytest.approx(plan.objective_usd, rel=1e-9)
    # the exact constant-product model never gives less than the curve promised
    assert result.objective_usd <= plan.model_objective_usd + 1e-6


def test_replay_on_a_worse_venue_flags_min_out(problem: HedgeProblem) -> None:
    plan = Planner(quoter=cp_quote).plan(problem)

    def moved(state: VenueState, side: Side, amount_in: int) -> int:
        return cp_quote(state, side, amount_in) * 99 // 100  # the market moved 1 % against us

    result = replay(plan, problem, moved)
    assert not any(t.meets_min_out for t in result.trades)
    assert result.cost_usd > plan.cost.total_usd


def test_swap_orders_carry_what_execution_needs(problem: HedgeProblem) -> None:
    plan = Planner(quoter=cp_quote).plan(problem)
    orders = swap_orders(plan)
    assert [(o.chain, o.venue, o.side, o.amount_in_raw, o.min_amount_out_raw) for o in orders] == [
        (t.chain, t.venue, t.side, t.amount_in_raw, t.min_amount_out_raw) for t in plan.trades
    ]


def test_replay_refuses_a_plan_for_other_venues(problem: HedgeProblem) -> None:
    plan = Planner(quoter=cp_quote).plan(problem)
    with pytest.raises(PlanError, match="not in the problem"):
        replay(plan, problem.model_copy(update={"venues": problem.venues[3:]}), cp_quote)
