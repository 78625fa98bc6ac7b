"""Benchmark the hedge optimizer: build and re-solve times, and replayed cost against the baselines.

Scenarios with 10, 50, 100, 200 and 1,000 synthetic constant-product venues (32 pieces per curve, gas from $0.01 to
$30, three underlyings over five chains). Each scenario builds the model once, then re-plans ``--resolves`` times
with new deltas, gas, depths and prices (same venue set, so the cached model is re-solved through its parameters).
Every plan and baseline is scored by replaying it through the exact venue model.

Usage::

    .venv/bin/python bench/bench_optimizer.py [--sizes 10,50,100] [--resolves 20] [--baseline-runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from crosshedge.errors import PlanError
from optimizer.baselines import BASELINES
from optimizer.plan import Planner
from optimizer.problem import HedgeProblem, HedgeTarget
from optimizer.replay import replay
from optimizer.settings import OptimizerSettings
from optimizer.synthetic import cp_quote, cp_state

CHAINS = ("ethereum", "arbitrum", "base", "optimism", "polygon")
MARKS = {"ETH": 3000.0, "BTC": 60000.0, "SOL": 150.0}
AS_OF = 1_700_000_000


def scenario(n: int, rng: np.random.Generator, layout_seed: int) -> HedgeProblem:
    """``n`` venues (fixed layout for a given seed), random state for this run."""
    layout_rng = np.random.default_rng(layout_seed)
    unders = list(MARKS)
    venues, gas = [], {}
    for i in range(n):
        chain, u = CHAINS[layout_rng.integers(len(CHAINS))], unders[i % 3]
        st = cp_state(chain, f"pool{i}", u, mid=MARKS[u] * (1 + rng.normal(0, 5e-4)),
                      depth_usd=float(np.exp(rng.uniform(np.log(2e5), np.log(4e7)))),
                      fee_pips=int(layout_rng.choice([100, 500, 3000, 10000])), pieces=32,
                      reach=0.25, timestamp=AS_OF)
        venues.append(st)
        gas[f"{chain}/pool{i}"] = float(np.exp(rng.uniform(np.log(0.01), np.log(30.0))))
    targets = [
        HedgeTarget(underlying=u, current_delta=float(rng.choice([-1, 1]) * rng.uniform(5e3, 3e4) * n / 3 / m),
                    target=0.0, lower=-2e4 / m, upper=2e4 / m, mark_price_usd=m, risk_price=0.05 * (3000 / m) ** 2)
        for u, m in MARKS.items()
    ]
    inventory = {c: {"WETH": 5000.0, "WBTC": 200.0, "WSOL": 1e5, "USDC": 3e7} for c in CHAINS}
    return HedgeProblem(targets=targets, venues=venues, gas_usd=gas, inventory=inventory, as_of=AS_OF,
                        settings=OptimizerSettings(max_notional_usd_per_run=1e8, min_trade_usd=50.0,
                                                              max_price_impact_bps=500.0))


def run(n: int, resolves: int, baseline_runs: int) -> dict[str, object]:
    rng = np.random.default_rng(n)
    planner = Planner(quoter=cp_quote)
    problems = [scenario(n, rng, layout_seed=n) for _ in range(resolves + 1)]
    first = planner.plan(problems[0], with_explanation=False)
    solve_ms, wall_ms, methods = [], [], []
    vs: dict[str, list[float]] = {name: [] for name in BASELINES}
    vs_same: dict[str, list[float]] = {name: [] for name in BASELINES}
    for i, problem in enumerate(problems[1:]):
        started = time.perf_counter()
        plan = planner.plan(problem, with_explanation=False)
        wall_ms.append((time.perf_counter() - started) * 1e3)
        solve_ms.append(plan.stats.solve_ms)
        methods.append(plan.stats.method)
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
        "venues": n, "segments": 32, "underlyings": 3,
        "build_ms": round(first.stats.build_ms, 1), "first_solve_ms": round(first.stats.solve_ms, 1),
        "resolves": resolves, "median_resolve_ms": round(statistics.median(solve_ms), 1),
        "median_plan_wall_ms": round(statistics.median(wall_ms), 1),
        "max_resolve_ms": round(max(solve_ms), 1),
        "methods": {m: methods.count(m) for m in sorted(set(methods))},
        "n_variables": first.stats.n_variables, "n_binaries": first.stats.n_binaries,
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
    args = parser.parse_args()
    results = [run(int(n), args.resolves, args.baseline_runs) for n in args.sizes.split(",")]
    print(json.dumps({"benchmark": "optimizer", "scenarios": results}, indent=2))


if __name__ == "__main__":
    main()
