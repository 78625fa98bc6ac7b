"""Benchmark the hedge optimizer: build and re-solve times, and replayed cost against the baselines.

Scenarios with 10, 50, 100, 200 and 1,000 synthetic constant-product venues (32 pieces per curve, gas from $0.01 to
$30, three underlyings over five chains). Each scenario builds the model once, then re-plans ``--resolves`` times
with new deltas, gas, depths and prices (same venue set, so the cached model is re-solved through its parameters).
Every plan and baseline is scored by replaying it through the exact venue model.

Usage::

    .venv/bin/python bench/bench_optimizer.py [--sizes 10,50,100] [--resolves 20] [--baseline-runs 3] [--engine highs]

``median_resolve_ms`` is packing + pruning + HiGHS (the model's solve); ``median_plan_wall_ms`` adds the exact
finishing (polish on the exact venue models, and the baseline safeguard up to its venue limit) and the exact quotes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from crosshedge import PlanError
from optimizer import BASELINES, HedgeProblem, Planner, bench_scenario, cp_quote, replay


def scenario(n: int, rng: np.random.Generator, layout_seed: int, engine: str = "highs") -> HedgeProblem:
    """``n`` venues (fixed layout for a given seed), random state for this run (see synthetic.bench_scenario)."""
    problem = bench_scenario(n, rng, layout_seed)
    return problem.model_copy(update={"settings": problem.settings.model_copy(update={"engine": engine})})


def run(n: int, resolves: int, baseline_runs: int, engine: str) -> dict[str, object]:
    rng = np.random.default_rng(n)
    planner = Planner(quoter=cp_quote)
    problems = [scenario(n, rng, layout_seed=n, engine=engine) for _ in range(resolves + 1)]
    first = planner.plan(problems[0], with_explanation=False)
    solve_ms, wall_ms, methods, polish_ms, guard_ms, gains, gaps = [], [], [], [], [], [], []
    safeguards: list[str] = []
    vs: dict[str, list[float]] = {name: [] for name in BASELINES}
    vs_same: dict[str, list[float]] = {name: [] for name in BASELINES}
    for i, problem in enumerate(problems[1:]):
        started = time.perf_counter()
        plan = planner.plan(problem, with_explanation=False)
        wall_ms.append((time.perf_counter() - started) * 1e3)
        solve_ms.append(plan.stats.solve_ms)
        methods.append(plan.stats.method)
        polish_ms.append(plan.stats.polish_ms)
        guard_ms.append(plan.stats.guard_ms)
        gains.append(plan.stats.polish_gain_usd)
        safeguards += [plan.stats.safeguard] if plan.stats.safeguard else []
        if plan.stats.lower_bound_usd is not None:
            gaps.append(plan.model_objective_usd - plan.stats.lower_bound_usd)
        if i >= baseline_runs:
            continue
        mine = replay(plan, problem, cp_quote)
        amounts = {u: plan.residual_delta[u] - plan.pre_trade_delta[u] for u in plan.residual_delta}
        for name, baseline in BASELINES.items():
            try:  # to target (objective incl. residual risk), and the optimizer's own sizes (pure routing cost)
                vs[name].append(replay(baseline(problem, quoter=cp_quote), problem, cp_quote).objective_usd
                                - mine.objective_usd)
                vs_same[name].append(replay(baseline(problem, amounts=amounts, quoter=cp_quote), problem,
                                            cp_quote).cost_usd - mine.cost_usd)
            except PlanError:
                pass  # the baseline cannot meet the limits at all: it is not a candidate
    return {
        "venues": n, "segments": 32, "underlyings": 3, "engine": engine,
        "build_ms": round(first.stats.build_ms, 1), "first_solve_ms": round(first.stats.solve_ms, 1),
        "resolves": resolves, "median_resolve_ms": round(statistics.median(solve_ms), 1),
        "median_plan_wall_ms": round(statistics.median(wall_ms), 1),
        "max_resolve_ms": round(max(solve_ms), 1),
        "methods": {m: methods.count(m) for m in sorted(set(methods))},
        "median_polish_ms": round(statistics.median(polish_ms), 1),
        "median_guard_ms": round(statistics.median(guard_ms), 1),  # 0: guard skipped above its venue limit
        "median_polish_gain_usd": round(statistics.median(gains), 4),
        "safeguard_triggered": f"{len(safeguards)}/{resolves}", "safeguard_winners": sorted(set(safeguards)),
        "max_gap_to_relaxation_bound_usd": round(max(gaps), 4) if gaps else None,
        "n_variables": first.stats.n_variables, "n_binaries": first.stats.n_binaries,
        "pieces_pruned": first.stats.pieces_pruned,
        "baseline_minus_optimizer_objective_usd": {k: _summary(v) for k, v in vs.items()},
        "baseline_minus_optimizer_cost_same_size_usd": {k: _summary(v) for k, v in vs_same.items()},
    }


def _summary(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"runs": 0}
    return {"runs": len(values), "min": round(min(values), 4), "median": round(statistics.median(values), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,50,100,200,1000")
    parser.add_argument("--resolves", type=int, default=20)
    parser.add_argument("--baseline-runs", type=int, default=3)
    parser.add_argument("--engine", choices=("highs", "cvxpy"), default="highs")
    args = parser.parse_args()
    results = [run(int(n), args.resolves, args.baseline_runs, args.engine) for n in args.sizes.split(",")]
    print(json.dumps({"benchmark": "optimizer", "scenarios": results}, indent=2))


if __name__ == "__main__":
    main()
