"""The hedge optimizer: the problem, one cvxpy MILP over every venue's curve composed from small terms (users add
their own), solved by HiGHS, checked in raw units, baselines, polish and replay.

Usage::

    from optimizer import HedgeProblem, plan
    result = plan(HedgeProblem.model_validate_json(text))     # -> Plan (trades, costs, residual risk)
    capped = plan(problem, terms=[VenueCap("base/v2", Side.SELL, max_units=5.0)])   # a user term
"""

from optimizer.baselines import BASELINES, best_single, greedy, router_split
from optimizer.diagnose import explain, infeasibility, usable_venues
from optimizer.finalize import Quoter, registry_quoter
from optimizer.limits import violation
from optimizer.perp_term import PERP_TERM, PerpTerm
from optimizer.perps import PerpOption, PlannedPerpTrade
from optimizer.plan import Planner, plan
from optimizer.problem import (
    CostBreakdown,
    HedgeProblem,
    HedgeTarget,
    MarkFarFromMidsWarning,
    Plan,
    PlannedTrade,
    PlannedTransfer,
    SolveStats,
    TransferOption,
    VenueExplanation,
    load_problem,
    venue_key,
)
from optimizer.replay import ReplayedPerpTrade, ReplayedTrade, ReplayResult, SwapOrder, replay, swap_orders
from optimizer.synthetic import BenchMarket, bench_scenario, cp_quote, cp_state, random_problem
from optimizer.terms import CORE_TERMS, ModelContext, RunView, Term, TermParts, VenueCap

__all__ = [
    "BASELINES",
    "CORE_TERMS",
    "PERP_TERM",
    "BenchMarket",
    "CostBreakdown",
    "HedgeProblem",
    "HedgeTarget",
    "MarkFarFromMidsWarning",
    "ModelContext",
    "PerpOption",
    "PerpTerm",
    "Plan",
    "PlannedPerpTrade",
    "PlannedTrade",
    "PlannedTransfer",
    "Planner",
    "Quoter",
    "ReplayResult",
    "ReplayedPerpTrade",
    "ReplayedTrade",
    "RunView",
    "SolveStats",
    "SwapOrder",
    "Term",
    "TermParts",
    "TransferOption",
    "VenueCap",
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
