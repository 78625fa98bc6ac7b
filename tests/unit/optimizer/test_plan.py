"""plan(): exact amounts, limits, switches, clear errors for bad input and infeasible problems, the CLI."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters import Side
from crosshedge import InfeasiblePlanError, InputError, StaleDataError
from crosshedge.cli.app import app
from crosshedge.config import OptimizerSettings
from optimizer import HedgeProblem, HedgeTarget, SolveStats, cp_quote
from optimizer.finalize import Allocation, build_plan
from optimizer.limits import violation
from optimizer.plan import Planner, guard
from optimizer.polish import polish
from tests.unit.optimizer.helpers import make_problem


def planner() -> Planner:
    return Planner(quoter=cp_quote)


def test_plan_lands_in_band_with_exact_amounts(problem: HedgeProblem) -> None:
    plan = planner().plan(problem)
    assert plan.trades and all(t.side is Side.SELL for t in plan.trades if t.underlying == "ETH")
    assert -20 - 1e-6 <= plan.residual_delta["ETH"] <= 20 + 1e-6
    states = {f"{s.chain}/{s.venue}": s for s in problem.venues}
    for t in plan.trades:
        assert t.expected_amount_out_raw == cp_quote(states[t.venue_key], t.side, t.amount_in_raw)
        assert 0 < t.min_amount_out_raw < t.expected_amount_out_raw
        assert t.min_amount_out_raw == math.floor(t.expected_amount_out_raw * (1 - problem.slippage_bps / 1e4))
    sold = {t.chain: t.base_amount for t in plan.trades}
    for chain, amount in sold.items():
        assert amount <= problem.inventory[chain]["WETH"] + 1e-9
    assert plan.cost.total_usd == pytest.approx(sum(t.cost_usd for t in plan.trades))
    assert plan.objective_usd == pytest.approx(plan.cost.total_usd + plan.risk_usd)
    assert plan.stats.lower_bound_usd is not None and plan.stats.lower_bound_usd <= plan.model_objective_usd + 1e-6


def test_empty_plan_only_when_optimal_and_says_so() -> None:
    calm = make_problem(current=3.0)
    calm = calm.model_copy(update={"targets": [calm.targets[0].model_copy(update={"risk_price": 0.01}),
                                               calm.targets[1]]})
    plan = planner().plan(calm)  # inside the band, tiny risk: doing nothing wins
    assert plan.trades == [] and "no trade is the optimum" in plan.note
    costly = make_problem(current=19.0)
    risky = costly.model_copy(update={"targets": [costly.targets[0].model_copy(update={"risk_price": 50.0}),
                                                  costly.targets[1]]})
    assert planner().plan(risky).trades  # a high risk price makes hedging inside the band pay


def test_switches_and_max_trades_are_honoured(problem: HedgeProblem) -> None:
    off = problem.model_copy(update={"disabled_chains": ["arbitrum"], "disabled_venues": ["base/v2"],
                                     "inventory": {"ethereum": {"WETH": 200.0}}})
    plan = planner().plan(off)
    assert {t.venue_key for t in plan.trades} <= {"ethereum/v2", "base/btc"}
    one = problem.model_copy(update={"settings": OptimizerSettings(max_trades=2)})
    assert len(planner().plan(one).trades) <= 2


def test_min_trade_size_and_impact_cap(problem: HedgeProblem) -> None:
    s = OptimizerSettings(min_trade_usd=50_000, max_price_impact_bps=90)
    plan = planner().plan(problem.model_copy(update={"settings": s}))
    states = {f"{v.chain}/{v.venue}": v for v in problem.venues}
    for t in plan.trades:
        assert t.base_amount * 3000 >= 50_000 * (1 - 1e-6)
        mid, f = states[t.venue_key].mid_price, states[t.venue_key].fee_pips / 1e6
        assert (mid - t.expected_price / (1 - f)) / mid <= 90e-4 + 1e-6  # exact is no worse than the model


def test_infeasible_inventory_is_explained(problem: HedgeProblem) -> None:
    short = problem.model_copy(update={"inventory": {"arbitrum": {"WETH": 50.0}, "base": {"WETH": 30.0}}})
    with pytest.raises(InfeasiblePlanError, match=r"cannot sell 130 ETH of delta: the wallets hold 80 WETH on "
                                                  r"arbitrum and base and ethereum together"):
        planner().plan(short)


def test_every_underlying_out_of_reach_is_named_in_underlying_order(problem: HedgeProblem) -> None:
    # BTC 5 long against a +-1 band with no WBTC anywhere, ETH short of WETH too: both are said, whatever the
    # targets' order (a sentence that named whichever came first would change from one process to the next).
    btc = problem.targets[1].model_copy(update={"current_delta": 5.0})
    for targets in ([problem.targets[0], btc], [btc, problem.targets[0]]):
        short = problem.model_copy(update={"targets": targets,
                                           "inventory": {"arbitrum": {"WETH": 50.0}, "base": {"WETH": 30.0}}})
        with pytest.raises(InfeasiblePlanError) as caught:
            planner().plan(short)
        assert str(caught.value) == ("cannot sell 4 BTC of delta: the wallets hold 0 WBTC on base together; cannot "
                                     "sell 130 ETH of delta: the wallets hold 80 WETH on arbitrum and base and "
                                     "ethereum together")


def test_infeasible_notional_and_switches_are_explained(problem: HedgeProblem) -> None:
    small = problem.model_copy(update={"settings": OptimizerSettings(max_notional_usd_per_run=100_000)})
    with pytest.raises(InfeasiblePlanError, match="max_notional_usd_per_run"):
        planner().plan(small)
    dark = problem.model_copy(update={"disabled_chains": ["ethereum", "arbitrum", "base"]})
    with pytest.raises(InfeasiblePlanError, match="no open venue trades ETH"):
        planner().plan(dark)


@pytest.mark.parametrize(
    ("update", "error", "match"),
    [
        ({"venues": []}, InputError, "no venues"),
        ({"gas_usd": {"ethereum/v2": math.nan}}, InputError, "gas_usd"),
        ({"inventory": {"base": {"WETH": -1.0}}}, InputError, r"inventory\.base\.WETH"),
        ({"as_of": 1_700_000_000 + 10_000}, StaleDataError, "older than optimizer.max_curve_age_s"),
    ],
)
def test_bad_input_gives_clear_errors(problem: HedgeProblem, update: dict[str, object], error: type[Exception],
                                      match: str) -> None:
    with pytest.raises(error, match=match):
        planner().plan(problem.model_copy(update=update))


def test_band_narrower_than_smallest_trade(problem: HedgeProblem) -> None:
    t = HedgeTarget(underlying="ETH", current_delta=0.001, target=0, lower=-1e-4, upper=1e-4, mark_price_usd=3000)
    narrow = problem.model_copy(update={"targets": [t], "settings": OptimizerSettings(min_trade_usd=100)})
    with pytest.raises(InputError, match="smallest trade"):
        planner().plan(narrow)


def test_cli_plans_a_saved_problem(tmp_path: Path, problem: HedgeProblem) -> None:
    path = tmp_path / "problem.json"
    path.write_text(problem.model_dump_json())
    runner = CliRunner()
    out = runner.invoke(app, ["plan", "--problem", str(path), "--json", "--explain"])
    assert out.exit_code == 0, out.output
    assert '"trades"' in out.output and '"explanation"' in out.output
    bad = runner.invoke(app, ["plan", "--problem", str(tmp_path / "nope.json")])
    assert bad.exit_code == 1


def test_polish_keeps_venues_and_totals_and_never_costs_more(problem: HedgeProblem) -> None:
    rough = problem.model_copy(update={"settings": OptimizerSettings(polish_rounds=0, baseline_guard_max_venues=0)})
    draft = planner().plan(rough, with_explanation=False)
    polished = polish(problem, draft, cp_quote, rounds=8)
    assert {t.venue_key for t in polished.trades} == {t.venue_key for t in draft.trades}
    for side in (Side.SELL, Side.BUY):
        before = sum(t.amount_in_raw for t in draft.trades if t.side is side and t.underlying == "ETH")
        after = sum(t.amount_in_raw for t in polished.trades if t.side is side and t.underlying == "ETH")
        assert after == before
    assert polished.objective_usd <= draft.objective_usd
    assert violation(problem, polished) is None
    full = planner().plan(problem, with_explanation=False)
    assert full.stats.polish_gain_usd >= 0 and full.objective_usd <= draft.objective_usd + 1e-9


def test_safeguard_returns_a_cheaper_baseline_and_says_so(problem: HedgeProblem) -> None:
    """Fed a deliberately poor plan (all ETH on the $15-gas venue, in pieces), the guard returns a baseline's."""
    states = {f"{v.chain}/{v.venue}": v for v in problem.venues}
    stats = SolveStats(method="test", status="optimal")
    poor = build_plan(problem, [Allocation(states["ethereum/v2"], Side.SELL, 100.0),
                                Allocation(states["base/v2"], Side.SELL, 20.0),
                                Allocation(states["arbitrum/v3"], Side.SELL, 10.0)],
                      stats=stats, model_objective=0.0, quoter=cp_quote)
    best, winner = guard(problem, poor, cp_quote)
    assert winner and best.objective_usd < poor.objective_usd
    assert winner.split("@")[0] in {"best_single", "router_split", "greedy"}
