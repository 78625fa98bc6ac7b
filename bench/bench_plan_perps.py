"""Benchmark planning with perp markets against planning the same problems without them, in one run.

Two scenarios of synthetic constant-product curves (``optimizer.cp_state``; a perp's vAMM takes the curves of such a
pool with Curie's 0.1% exchange fee in place of the pool's):

* ``devnet``: the devnet's three chains, one ETH/USDC venue of random depth and fee on each, and an ETH perp on
  arbitrum and on base (the devnet's Curie markets) with a random funding rate (±0.05%/day), collateral and an
  existing position; the wallets hold a random amount of WETH, sometimes less than the hedge needs (the FTX-week
  failure: only a perp short can hedge then);
* ``synthetic``: 10 chains × 100 venues (three underlyings) and an ETH perp on every chain.

Each run draws new deltas (buys and sells), depths and accounts; the same problem is planned with and without its
perps (alternating, so both share the machine's noise), and the wall time of ``plan`` (the model built on the first
run, then cached re-solves, exact finishing included) is recorded. Prints one JSON line per scenario and writes them.

Usage::

    .venv/bin/python bench/bench_plan_perps.py [--runs 15] [--out bench/bench_plan_perps.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crosshedge import InfeasiblePlanError
from crosshedge.config import OptimizerSettings
from optimizer import HedgeProblem, HedgeTarget, PerpOption, Planner, cp_quote, cp_state

AS_OF = 1_700_000_000
MARKS = {"ETH": 2000.0, "BTC": 60_000.0, "SOL": 100.0}
CURIE_FEE_PIPS = 1000  # 0.1%


def perp_option(rng: np.random.Generator, chain: str, gas_usd: float) -> PerpOption:
    mark = MARKS["ETH"] * (1 + float(rng.normal(0, 5e-4)))
    vamm = cp_state(chain, "perp", "ETH", mid=mark, depth_usd=float(rng.uniform(5e6, 4e7)), fee_pips=CURIE_FEE_PIPS,
                    timestamp=AS_OF)
    size = float(rng.choice([0.0, float(rng.uniform(-40, 40))]))
    return PerpOption(chain=chain, market="eth_perp", underlying="ETH", sell=vamm.sell, buy=vamm.buy, mid_price=mark,
                      mark_price=mark,
                      index_price=MARKS["ETH"], daily_funding_rate=float(rng.uniform(-5e-4, 5e-4)), size=size,
                      open_notional=-size * mark, collateral_usd=float(rng.uniform(5e4, 1e6)), gas_usd=gas_usd,
                      fee_pips=CURIE_FEE_PIPS)


def devnet_problem(rng: np.random.Generator) -> HedgeProblem:
    chains = ["ethereum", "arbitrum", "base"]
    gas = {"ethereum": 6.0, "arbitrum": 0.3, "base": 0.2}
    venues = [cp_state(c, "v3", "ETH", mid=MARKS["ETH"] * (1 + float(rng.normal(0, 5e-4))),
                       depth_usd=float(rng.uniform(2e6, 3e7)), fee_pips=int(rng.choice([500, 3000])), timestamp=AS_OF)
              for c in chains]
    delta = float(rng.choice([-1, 1]) * rng.uniform(5, 120))
    target = HedgeTarget(underlying="ETH", current_delta=delta, target=0.0, lower=-0.5, upper=0.5,
                         mark_price_usd=MARKS["ETH"], risk_price=1.0)
    weth = float(rng.uniform(10, 60))  # per chain: 30-180 WETH in all, sometimes short of a big long's hedge
    return HedgeProblem(
        targets=[target], venues=venues, gas_usd={f"{c}/v3": gas[c] for c in chains},
        inventory={c: {"USDC": 1e6, "WETH": weth} for c in chains}, as_of=AS_OF,
        perps=tuple(perp_option(rng, c, gas[c] + 0.2) for c in ("arbitrum", "base")),
    )


def synthetic_problem(rng: np.random.Generator, chains: int = 10, per_chain: int = 100) -> HedgeProblem:
    names = [f"chain{i}" for i in range(chains)]
    venues, gas = [], {}
    for c, i in itertools.product(names, range(per_chain)):
        u = list(MARKS)[i % 3]
        venues.append(cp_state(c, f"pool{i}", u, mid=MARKS[u] * (1 + float(rng.normal(0, 5e-4))),
                               depth_usd=float(rng.uniform(2e5, 2e7)),
                               fee_pips=int(rng.choice([100, 500, 3000, 10000])),
                               pieces=32, reach=0.25, timestamp=AS_OF))
        gas[f"{c}/pool{i}"] = float(rng.uniform(0.01, 30))
    targets = [HedgeTarget(underlying=u, current_delta=float(rng.choice([-1, 1]) * rng.uniform(2e5, 2e6)) / m,
                           target=0.0, lower=-2e4 / m, upper=2e4 / m, mark_price_usd=m,
                           risk_price=0.05 * (3000 / m) ** 2)
               for u, m in MARKS.items()]
    inventory = {c: {"USDC": 3e7, "WETH": 800.0, "WBTC": 30.0, "WSOL": 2e4} for c in names}
    return HedgeProblem(
        targets=targets, venues=venues, gas_usd=gas, inventory=inventory, as_of=AS_OF,
        perps=tuple(perp_option(rng, c, float(rng.uniform(0.1, 8))) for c in names),
        settings=OptimizerSettings(max_notional_usd_per_run=1e8, max_price_impact_bps=500.0),
    )


def timed(planner: Planner, problem: HedgeProblem) -> tuple[float, int, float] | None:
    started = time.perf_counter()
    try:
        result = planner.plan(problem, with_explanation=False)
    except InfeasiblePlanError:
        return None
    return (time.perf_counter() - started) * 1e3, len(result.perp_trades), result.objective_usd


def scenario(name: str, make: Callable[[np.random.Generator], HedgeProblem], runs: int, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    with_perps, without = Planner(quoter=cp_quote), Planner(quoter=cp_quote)
    t_with, t_without, trades, saved, skipped, only_with = [], [], [], [], 0, 0
    for _ in range(runs + 1):
        problem = make(rng)
        a = timed(with_perps, problem)
        b = timed(without, problem.model_copy(update={"perps": ()}))
        if a is None:
            skipped += 1
            continue
        t_with.append(a[0])
        trades.append(a[1])
        if b is not None:
            t_without.append(b[0])
            saved.append(b[2] - a[2])
        else:
            only_with += 1  # no plan without a perp: the wallets cannot sell the hedge
    first_with = t_with.pop(0) if t_with else float("nan")
    first_without = t_without.pop(0) if t_without else float("nan")
    med_with = statistics.median(t_with)
    med_without = statistics.median(t_without) if t_without else float("nan")
    shape = make(np.random.default_rng(seed))
    return {
        "scenario": name, "venues": len(shape.venues), "perp_markets": len(shape.perps),
        "plans": len(trades), "infeasible_runs": skipped,  # the first plan (model built) is left out of the medians
        "first_plan_ms_with_perps": round(first_with, 1), "first_plan_ms_without": round(first_without, 1),
        "median_plan_ms_with_perps": round(med_with, 1), "median_plan_ms_without": round(med_without, 1),
        "ratio_with_to_without": round(med_with / med_without, 3) if t_without else None,
        "runs_with_a_perp_trade": sum(1 for t in trades if t > 0), "mean_perp_trades": round(float(np.mean(trades)), 2),
        "median_objective_saved_usd": round(statistics.median(saved), 2) if saved else None,
        "runs_only_feasible_with_perps": only_with,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("bench_plan_perps.json"))
    args = parser.parse_args()
    rows = [scenario("devnet", devnet_problem, args.runs, 1), scenario("synthetic", synthetic_problem,
                                                                       max(3, args.runs // 3), 2)]
    for row in rows:
        print(json.dumps(row))
    args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
