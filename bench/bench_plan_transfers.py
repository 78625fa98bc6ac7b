"""Benchmark planning with bridge routes against planning the same problems without them, in one run.

Two scenarios of synthetic constant-product venues (``optimizer.cp_state``, exact quotes by ``optimizer.cp_quote``):

* ``devnet``: the devnet's three chains (ethereum, arbitrum, base), an ETH/USDC venue of its own depth and fee on each,
  USDC skewed as the demo's operator holds it (most on ethereum), a USDC route between every ordered pair (Across's
  devnet schedule: 1 + 2 bp, 0.5 USDC fixed, 4 s), inventory targets 45/30/25 %;
* ``synthetic``: 10 chains × 100 venues (three underlyings), USDC and WETH routes between every ordered pair
  (180 routes), USDC skewed onto two chains.

Each run draws new deltas (buys and sells) and depths; the same problem is planned with and without its routes
(alternating, so both share the machine's noise), and the wall time of ``plan`` (build on the first run, then
cached re-solves, exact finishing included) is recorded. Prints one JSON line per scenario and writes them all.

Usage::

    .venv/bin/python bench/bench_plan_transfers.py [--runs 15] [--out bench/bench_plan_transfers.json]
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
from crosshedge.config import InventoryTargetSettings, OptimizerSettings
from optimizer import HedgeProblem, HedgeTarget, Planner, TransferOption, cp_quote, cp_state

AS_OF = 1_700_000_000
MARKS = {"ETH": 2000.0, "BTC": 60_000.0, "SOL": 100.0}
BASE = {"ETH": "WETH", "BTC": "WBTC", "SOL": "WSOL"}


def route(origin: str, destination: str, symbol: str, price: float, decimals: int, gas_usd: float) -> TransferOption:
    return TransferOption(adapter="across", origin=origin, destination=destination, symbol=symbol, decimals=decimals,
                          price_usd=price, fee_bps=3.0, fixed_fee_raw=500_000 if symbol == "USDC" else 0,
                          gas_usd=gas_usd, latency_s=4.0, max_amount_raw=2**127)


def devnet_problem(rng: np.random.Generator) -> HedgeProblem:
    chains = ["ethereum", "arbitrum", "base"]
    venues = [cp_state(c, "v3", "ETH", mid=MARKS["ETH"] * (1 + float(rng.normal(0, 5e-4))),
                       depth_usd=float(rng.uniform(2e6, 3e7)), fee_pips=int(rng.choice([500, 3000])), timestamp=AS_OF)
              for c in chains]
    delta = float(rng.choice([-1, 1]) * rng.uniform(5, 80))
    target = HedgeTarget(underlying="ETH", current_delta=delta, target=0.0, lower=-0.05, upper=0.05,
                         mark_price_usd=MARKS["ETH"], risk_price=1.0)
    gas = {"ethereum": 6.0, "arbitrum": 0.3, "base": 0.2}
    shares = {"ethereum": 0.45, "arbitrum": 0.3, "base": 0.25}
    return HedgeProblem(
        targets=[target], venues=venues, gas_usd={f"{c}/v3": gas[c] for c in chains},
        inventory={"ethereum": {"USDC": 900_000.0, "WETH": 150.0}, "arbitrum": {"USDC": 20_000.0, "WETH": 60.0},
                   "base": {"USDC": 10_000.0, "WETH": 60.0}},
        as_of=AS_OF,
        transfers=[route(a, b, "USDC", 1.0, 6, gas[a] + 0.1) for a, b in itertools.permutations(chains, 2)],
        inventory_targets={c: {"USDC": InventoryTargetSettings(target_share=s, threshold=0.1)}
                           for c, s in shares.items()},
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
    rich = {names[0], names[1]}
    inventory = {c: {"USDC": 3e7 if c in rich else 2e4, "WETH": 800.0, "WBTC": 30.0, "WSOL": 2e4} for c in names}
    routes = [route(a, b, sym, price, dec, float(rng.uniform(0.1, 8)))
              for a, b in itertools.permutations(names, 2)
              for sym, price, dec in (("USDC", 1.0, 6), ("WETH", MARKS["ETH"], 18))]
    share = 1 / chains
    return HedgeProblem(
        targets=targets, venues=venues, gas_usd=gas, inventory=inventory, as_of=AS_OF, transfers=routes,
        inventory_targets={c: {"USDC": InventoryTargetSettings(target_share=share, threshold=share / 2)}
                           for c in names},
        settings=OptimizerSettings(max_notional_usd_per_run=1e8, max_price_impact_bps=500.0),
    )


def timed(planner: Planner, problem: HedgeProblem) -> tuple[float, int, float] | None:
    started = time.perf_counter()
    try:
        result = planner.plan(problem, with_explanation=False)
    except InfeasiblePlanError:
        return None
    return (time.perf_counter() - started) * 1e3, len(result.transfers), result.objective_usd


def scenario(name: str, make: Callable[[np.random.Generator], HedgeProblem], runs: int, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    with_routes, without = Planner(quoter=cp_quote), Planner(quoter=cp_quote)
    t_with, t_without, moves, saved, skipped, only_with = [], [], [], [], 0, 0
    for _ in range(runs + 1):
        problem = make(rng)
        a = timed(with_routes, problem)
        b = timed(without, problem.model_copy(update={"transfers": []}))
        if a is None:
            skipped += 1
            continue
        t_with.append(a[0])
        moves.append(a[1])
        if b is not None:
            t_without.append(b[0])
            saved.append(b[2] - a[2])
        else:
            only_with += 1  # no plan without a route: the hedge needs capital moved
    first_with = t_with.pop(0) if t_with else float("nan")
    first_without = t_without.pop(0) if t_without else float("nan")
    med_with, med_without = statistics.median(t_with), statistics.median(t_without) if t_without else float("nan")
    return {
        "scenario": name, "venues": len(make(np.random.default_rng(seed)).venues),
        "routes": len(make(np.random.default_rng(seed)).transfers),
        "plans": len(moves), "infeasible_runs": skipped,  # the first plan (model built) is left out of the medians
        "first_plan_ms_with_routes": round(first_with, 1), "first_plan_ms_without": round(first_without, 1),
        "median_plan_ms_with_routes": round(med_with, 1), "median_plan_ms_without": round(med_without, 1),
        "ratio_with_to_without": round(med_with / med_without, 3) if t_without else None,
        "runs_with_a_transfer": sum(1 for m in moves if m > 0), "mean_transfers": round(float(np.mean(moves)), 2),
        "median_objective_saved_usd": round(statistics.median(saved), 2) if saved else None,
        "runs_only_feasible_with_routes": only_with,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("bench_plan_transfers.json"))
    args = parser.parse_args()
    rows = [scenario("devnet", devnet_problem, args.runs, 1), scenario("synthetic", synthetic_problem,
                                                                       max(3, args.runs // 3), 2)]
    for row in rows:
        print(json.dumps(row))
    args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
