"""``plan(problem) -> Plan``: the public entry point of the optimizer.

Validates the problem, fetches (or builds) the cvxpy model for its venue set's shape, loads the run's parameters,
solves (LP relaxation first, accepted when integral; else HiGHS branch and bound), and turns the fills into exact
trades through the venues' own exact quotes. Infeasible problems raise :class:`InfeasiblePlanError` naming the
limit that binds; an empty plan comes back only when it is the optimum, and says so in ``Plan.note``.

Usage::

    from optimizer.plan import plan
    result = plan(problem)                 # cached models: re-planning the same venue set skips the build
    for trade in result.trades: ...
"""

from __future__ import annotations

import functools
import time
from collections import OrderedDict

import numpy as np

from adapters.base import Side, VenueState
from crosshedge.errors import PlanError
from optimizer.diagnose import explain, infeasibility, usable_venues
from optimizer.finalize import Allocation, Quoter, build_plan, registry_quoter
from optimizer.model import HedgeModel, SolveResult
from optimizer.packing import ModelShape, PackedData, pack, shape_of
from optimizer.problem import HedgeProblem, Plan, SolveStats

# Fills below this many base units are solver noise, not trades.
DUST = 1e-9


class Planner:
    """Plans problems, keeping the last few built models keyed by venue-set shape for fast re-planning.

    Usage::

        planner = Planner(quoter=my_exact_quote)
        plan = planner.plan(problem)
    """

    def __init__(self, quoter: Quoter | None = None, max_models: int = 8, relaxation_first: bool = True) -> None:
        self.quoter: Quoter = quoter or registry_quoter
        self.relaxation_first = relaxation_first
        self._max = max_models
        self._models: OrderedDict[ModelShape, HedgeModel] = OrderedDict()

    def model(self, shape: ModelShape) -> tuple[HedgeModel, bool]:
        """The built model for ``shape`` and whether it came from the cache."""
        if shape in self._models:
            self._models.move_to_end(shape)
            return self._models[shape], True
        model = HedgeModel(shape)
        self._models[shape] = model
        while len(self._models) > self._max:
            self._models.popitem(last=False)
        return model, False

    def solve(self, problem: HedgeProblem) -> tuple[list[VenueState], PackedData, SolveResult, SolveStats]:
        """Validate, load and solve; raise :class:`InfeasiblePlanError`/:class:`PlanError` on failure."""
        states = usable_venues(problem)
        shape = shape_of(problem, states)
        model, hit = self.model(shape)
        data = pack(problem, states, shape)
        started = time.perf_counter()
        model.load(data)
        load_ms = (time.perf_counter() - started) * 1e3
        result = model.solve(problem.settings, relaxation_first=self.relaxation_first)
        if result.status in ("infeasible", "infeasible_inaccurate"):
            raise infeasibility(problem, states, data)
        if result.status not in ("optimal", "optimal_inaccurate"):
            raise PlanError(
                f"the solver stopped with status {result.status!r} after {result.solve_ms:.0f} ms "
                f"(optimizer.time_limit_s = {problem.settings.time_limit_s:g}); no plan was made"
            )
        stats = SolveStats(
            method=result.method, status=result.status, build_ms=0.0 if hit else model.build_ms,
            solve_ms=result.solve_ms + load_ms, cache_hit=hit, n_variables=model.n_variables,
            n_binaries=model.n_binaries, venues_considered=len(states), lower_bound_usd=result.lower_bound,
        )
        return states, data, result, stats

    def plan(self, problem: HedgeProblem, with_explanation: bool = True) -> Plan:
        """The cheapest set of hedge trades for ``problem`` (see module docstring)."""
        states, data, result, stats = self.solve(problem)
        allocations = allocations_from(states, result, data)
        draft = build_plan(problem, allocations, stats=stats, model_objective=result.objective, quoter=self.quoter)
        if not with_explanation:
            return draft
        return draft.model_copy(update={"explanation": explain(problem, states, data, draft)})


def allocations_from(states: list[VenueState], result: SolveResult, data: PackedData) -> list[Allocation]:
    """Base amounts per used venue and direction from the solver's fills."""
    k = data.width.size // (2 * len(states))
    per_trade = result.fills.reshape(2 * len(states), k).sum(axis=1)
    out = []
    for j in np.flatnonzero((result.used > 0.5) & (per_trade > DUST)):
        st = states[j // 2]
        out.append(Allocation(st, Side.SELL if j % 2 == 0 else Side.BUY, float(per_trade[j])))
    return out


@functools.lru_cache(maxsize=1)
def default_planner() -> Planner:
    """The process-wide planner behind :func:`plan` (exact quotes from the adapter registry)."""
    return Planner()


def plan(problem: HedgeProblem, quoter: Quoter | None = None) -> Plan:
    """The cheapest set of hedge trades for ``problem``.

    Usage: ``result = plan(HedgeProblem.model_validate_json(text))``
    """
    if quoter is None:
        return default_planner().plan(problem)
    return Planner(quoter=quoter).plan(problem)
