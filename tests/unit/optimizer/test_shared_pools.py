"""Venues that share a pool (a route and one of its legs' venues) never trade in the same plan: the solves take
venues as independent, so the second would meet a pool the first already moved."""

from __future__ import annotations

from optimizer import Planner
from optimizer.plan import shared_pool_trades
from tests.unit.optimizer.helpers import make_problem, pwl_quote

POOL = "0x" + "ab" * 20


def test_a_plan_never_trades_two_venues_of_one_pool_and_costs_what_the_better_of_the_two_costs() -> None:
    base = make_problem()
    # A second ETH venue on arbitrum that trades in arbitrum/v3's pool (as a route through it would), just as deep:
    # independent solves would split the hedge between the two.
    venues = [v.model_copy(update={"pools": (POOL,)}) if v.venue == "v3" else v for v in base.venues]
    twin = next(v for v in venues if v.venue == "v3").model_copy(update={"venue": "route", "composite": True})
    gas = {**base.gas_usd, "arbitrum/route": base.gas_usd["arbitrum/v3"]}
    problem = base.model_copy(update={"venues": [*venues, twin], "gas_usd": gas})
    planner = Planner(quoter=pwl_quote)
    unaware = planner._plan(problem, with_explanation=False)
    assert shared_pool_trades(problem, unaware) == ("arbitrum/route", "arbitrum/v3")  # the solve alone takes both
    plan = planner.plan(problem, with_explanation=False)
    assert shared_pool_trades(problem, plan) is None
    used = {t.venue_key for t in plan.trades}
    assert len(used & {"arbitrum/route", "arbitrum/v3"}) == 1
    without = [planner.plan(problem.model_copy(update={"disabled_venues": [k]}), with_explanation=False)
               for k in ("arbitrum/route", "arbitrum/v3")]
    assert plan.objective_usd == min(p.objective_usd for p in without)
