"""Benchmark the hedge optimizer's re-solve against the old hand-built model, side by side in one run.

Scenarios with 10, 100, 1,000, 3,000 and 10,000 synthetic constant-product venues (32 pieces per curve, gas from
$0.01 to $30, three underlyings over five chains; see ``optimizer.synthetic.bench_scenario``). Per size the production
model (the cvxpy model, compiled once, handed to HiGHS) is built once, then every run re-plans with new deltas, gas,
depths and prices (same venue set: the cached model is re-solved through its parameters). Each run's problem is also
solved by ``bench/direct_baseline.py`` (the hand-built model that was production before; benchmark code only), in the
same process, alternating, so the two share the machine's noise. A time is validation + packing + presolve + HiGHS
(``Planner.solve``), what the old planner reported as ``solve_ms``. Two series per size: independent re-solves (each
run's deltas, gas, depths and prices drawn afresh; only the venue set is shared) and block-to-block re-solves (each
run the previous one a block later: ``optimizer.BenchMarket.next_block``), where from
``optimizer.warm_start_min_venues`` the LP relaxation starts from the previous run's basis. The exact finishing
(quotes, polish, safeguard, raw-unit check) is timed separately as ``median_plan_wall_ms`` up to ``--plan-max``
venues.

Usage::

    .venv/bin/python bench/bench_optimizer.py [--sizes 10,100,1000,3000,10000] [--out bench/bench_optimizer.json]

Prints one JSON line per size, then a summary line with the fitted growth exponents (least squares of log median
time on log venues) and the ratio to the baseline at each size.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's packages, and bench/ for the baseline

from bench.direct_baseline import direct_solve
from crosshedge.config import OptimizerSettings
from optimizer import BenchMarket, Planner, bench_scenario, cp_quote

RESOLVES = {10: 20, 100: 20, 1000: 10, 3000: 5, 10000: 4}


def run(n: int, resolves: int, plan_max: int) -> dict[str, object]:
    rng = np.random.default_rng(n)
    planner = Planner(quoter=cp_quote)
    problems = [bench_scenario(n, rng, layout_seed=n) for _ in range(resolves + 1)]
    started = time.perf_counter()
    planner.solve(problems[0])
    first_ms = (time.perf_counter() - started) * 1e3
    ours, base, methods, gaps, agree, walls = [], [], [], [], [], []
    for problem in problems[1:]:
        started = time.perf_counter()
        _, _, result, _ = planner.solve(problem)
        ours.append((time.perf_counter() - started) * 1e3)
        started = time.perf_counter()
        old = direct_solve(problem)
        base.append((time.perf_counter() - started) * 1e3)
        methods.append(result.method)
        gaps.append(result.gap or 0.0)
        agree.append(abs(result.objective - old.objective) / max(1.0, abs(old.objective)))
        if n <= plan_max:
            started = time.perf_counter()
            planner.plan(problem, with_explanation=False)
            walls.append((time.perf_counter() - started) * 1e3)
    # Block to block: the same venues one block later each run (small moves in mids, depths, gas and deltas), what
    # a worker re-planning every block solves; from optimizer.warm_start_min_venues the LP starts from the last basis.
    market = BenchMarket.draw(n, rng)
    planner.solve(bench_scenario(n, rng, layout_seed=n, market=market))
    drift, drift_base, drift_methods = [], [], []
    for _ in range(resolves):
        market = market.next_block(rng)
        problem = bench_scenario(n, rng, layout_seed=n, market=market)
        started = time.perf_counter()
        _, _, result, _ = planner.solve(problem)
        drift.append((time.perf_counter() - started) * 1e3)
        drift_methods.append(result.method)
        started = time.perf_counter()
        old = direct_solve(problem)
        drift_base.append((time.perf_counter() - started) * 1e3)
        agree.append(abs(result.objective - old.objective) / max(1.0, abs(old.objective)))
        gaps.append(result.gap or 0.0)
    med, med_base = statistics.median(ours), statistics.median(base)
    return {
        "venues": n, "segments": 32, "resolves": resolves,
        "build_and_first_solve_ms": round(first_ms, 1),
        "median_resolve_ms": round(med, 1), "max_resolve_ms": round(max(ours), 1),
        "direct_baseline_median_ms": round(med_base, 1), "ratio_to_direct": round(med / med_base, 3),
        "methods": {m: methods.count(m) for m in sorted(set(methods))},
        "max_gap_to_proven_bound": max(gaps), "max_objective_rel_diff_vs_direct": max(agree),
        "median_plan_wall_ms": round(statistics.median(walls), 1) if walls else None,
        "block_to_block_median_resolve_ms": round(statistics.median(drift), 1),
        "block_to_block_max_resolve_ms": round(max(drift), 1),
        "block_to_block_direct_median_ms": round(statistics.median(drift_base), 1),
        "block_to_block_ratio_to_direct": round(statistics.median(drift) / statistics.median(drift_base), 3),
        "block_to_block_methods": {m: drift_methods.count(m) for m in sorted(set(drift_methods))},
        "warm_start": n >= OptimizerSettings().warm_start_min_venues,
    }


def exponent(sizes: list[int], times: list[float]) -> float:
    """Slope of log(time) on log(venues), least squares."""
    x, y = np.log(np.array(sizes, dtype=float)), np.log(np.array(times, dtype=float))
    return float(np.polyfit(x, y, 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000,3000,10000")
    parser.add_argument("--plan-max", type=int, default=1000, help="time the full plan (with finishing) up to here")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "bench_optimizer.json"))
    args = parser.parse_args()
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        rows.append(run(n, RESOLVES.get(n, 5), args.plan_max))
        print(json.dumps(rows[-1]), flush=True)
    sizes = [int(r["venues"]) for r in rows]  # type: ignore[call-overload]
    summary = {
        "summary": "optimizer re-solve, cvxpy model via HiGHS vs direct baseline, same run",
        "growth_exponent_cvxpy": round(exponent(sizes, [float(r["median_resolve_ms"]) for r in rows]), 3),  # type: ignore[arg-type]
        "growth_exponent_direct": round(exponent(sizes, [float(r["direct_baseline_median_ms"]) for r in rows]), 3),  # type: ignore[arg-type]
        "ratio_to_direct": {str(r["venues"]): r["ratio_to_direct"] for r in rows},
        "growth_exponent_block_to_block": round(exponent(sizes, [float(r["block_to_block_median_resolve_ms"])  # type: ignore[arg-type]
                                                                  for r in rows]), 3),
        "block_to_block_ratio_to_direct": {str(r["venues"]): r["block_to_block_ratio_to_direct"] for r in rows},
        "method": "LP relaxation first (accepted when every switch is 0/1); else HiGHS branch and bound, above "
                  "optimizer.exact_milp_max_venues (200) only on the switches the LP left fractional",
        "mip_rel_gap_setting": "optimizer.mip_rel_gap = 1e-9 (default); max_gap_to_proven_bound is (objective - "
                               "best proven lower bound) / max(1, |objective|) per run, the relaxation's bound for "
                               "milp-fixed",
        "machine": "2 shared cores; compare ratios within this run",
        "measured_at_unix": math.floor(time.time()),
    }
    print(json.dumps(summary), flush=True)
    Path(args.out).write_text("\n".join(json.dumps(r) for r in [*rows, summary]) + "\n")


if __name__ == "__main__":
    main()
