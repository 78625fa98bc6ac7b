"""The hedge optimizer: the problem, the MILP over every venue's exact curve, solve, baselines, polish and replay.

Usage::

    from optimizer import HedgeProblem, plan
    result = plan(HedgeProblem.model_validate_json(text))     # -> Plan (trades, costs, residual risk)
"""

from optimizer.baselines import BASELINES, best_single, greedy, router_split
from optimizer.diagnose import explain, infeasibility, usable_venues
from optimizer.finalize import Quoter, registry_quoter
from optimizer.plan import Planner, plan
from optimizer.polish import violation
from optimizer.problem import (
    CostBreakdown,
    HedgeProblem,
    HedgeTarget,
    Plan,
    PlannedTrade,
    SolveStats,
    VenueExplanation,
    load_problem,
    venue_key,
)
from optimizer.replay import ReplayedTrade, ReplayResult, SwapOrder, replay, swap_orders
from optimizer.synthetic import bench_scenario, cp_quote, cp_state, random_problem

__all__ = [
    "BASELINES",
    "CostBreakdown",
    "HedgeProblem",
    "HedgeTarget",
    "Plan",
    "PlannedTrade",
    "Planner",
    "Quoter",
    "ReplayResult",
    "ReplayedTrade",
    "SolveStats",
    "SwapOrder",
    "VenueExplanation",
    "bench_scenario",
    "best_single",
    "cp_quote",
    "cp_state",
    "explain",
    "greedy",
    "infeasibility",
    "load_problem",
    "plan",
    "random_problem",
    "registry_quoter",
    "replay",
    "router_split",
    "swap_orders",
    "usable_venues",
    "venue_key",
    "violation",
]
