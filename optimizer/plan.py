"""``plan(problem) -> Plan``: the public entry point of the optimizer.

Validates the problem, fetches (or builds) the one cvxpy model for its venue set's shape and term set
(:mod:`optimizer.model`, composed from :mod:`optimizer.terms`), loads the run's parameters (after the exact presolve
of :mod:`optimizer.presolve`), solves with HiGHS (LP relaxation first, accepted when integral; else branch and bound),
and turns the fills into exact trades through the venues' own exact quotes. Then the exact finishing, scored on the
exact venue models: :func:`optimizer.polish.polish` re-splits each underlying's size among the chosen venues, and (up
to ``settings.baseline_guard_max_venues`` venues) every baseline is planned too, and if one's exact objective is lower
its plan is returned instead, named in ``stats.safeguard`` (the model's curves are samples, so this can happen).
Last, :func:`optimizer.repair.repair` checks every limit in raw units and repairs a rounding breach or refuses.
Infeasible problems raise :class:`InfeasiblePlanError` naming the limit that binds; an empty plan comes back only when
it is the optimum, and says so in ``Plan.note``.

Usage::

    from optimizer.plan import plan
    result = plan(problem)                 # cached models: re-planning the same venue set skips the build
    for trade in result.trades: ...
"""

from __future__ import annotations

import functools
import time
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from adapters import Side, VenueState
from crosshedge import AdapterError, InfeasiblePlanError, PlanError
from optimizer.baselines import BASELINES
from optimizer.diagnose import explain, infeasibility, usable_venues
from optimizer.finalize import Allocation, Quoter, build_plan, registry_quoter
from optimizer.limits import violation
from optimizer.model import HedgeModel, SolveResult, model_key
from optimizer.packing import ModelShape, PackedData, pack, shape_of
from optimizer.perp_model import perp_options, perps_from
from optimizer.polish import polish
from optimizer.presolve import presolve
from optimizer.problem import HedgeProblem, Plan, SolveStats
from optimizer.repair import repair
from optimizer.terms import RunView, Term
from optimizer.transfers import transfers_from

# Fills below this many base units are solver noise, not trades.
DUST = 1e-9


class Planner:
    """Plans problems, keeping the last few built models keyed by venue-set shape (and user terms) for fast
    re-planning. ``terms`` are user terms (see :mod:`optimizer.terms`) added to every model this planner builds.

    Usage::

        planner = Planner(quoter=my_exact_quote, terms=[VenueCap("base/v2", Side.SELL, 5.0)])
        plan = planner.plan(problem)
    """

    def __init__(self, quoter: Quoter | None = None, max_models: int = 8, relaxation_first: bool = True,
                 terms: Sequence[Term] = ()) -> None:
        self.quoter: Quoter = quoter or registry_quoter
        self.relaxation_first = relaxation_first
        self.terms = tuple(terms)
        self._max = max_models
        self._models: OrderedDict[tuple[ModelShape, tuple[str, ...]], HedgeModel] = OrderedDict()

    def model(self, shape: ModelShape) -> tuple[HedgeModel, bool]:
        """The built model for ``shape`` (with this planner's terms) and whether it came from the cache."""
        key = (shape, model_key(self.terms))
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key], True
        model = HedgeModel(shape, self.terms)
        self._models[key] = model
        while len(self._models) > self._max:
            self._models.popitem(last=False)
        return model, False

    def solve(self, problem: HedgeProblem) -> tuple[list[VenueState], PackedData, SolveResult, SolveStats]:
        """Validate, load and solve; raise :class:`InfeasiblePlanError`/:class:`PlanError` on failure."""
        states = usable_venues(problem)
        shape = shape_of(problem, states)
        model, hit = self.model(shape)
        started = time.perf_counter()
        data = presolve(shape, pack(problem, states, shape))
        model.load(RunView(problem, states, data))
        result = model.solve(problem.settings, relaxation_first=self.relaxation_first)
        load_ms = (time.perf_counter() - started) * 1e3 - result.solve_ms
        if result.status == "infeasible":
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
            engine="cvxpy+highs", pieces_pruned=int(np.count_nonzero(data.width) - np.count_nonzero(data.upper)),
            mip_gap=result.gap,
        )
        return states, data, result, stats

    def plan(self, problem: HedgeProblem, with_explanation: bool = True) -> Plan:
        """The cheapest set of hedge trades for ``problem`` (see module docstring).

        Venues that share a pool (a route and a venue that is one of its legs) are solved as if independent, so a
        plan trading both would meet the pool already moved by the other: the cheaper of the plans without one or
        the other is taken instead (see :func:`shared_pool_trades`).
        """
        best = self._plan(problem, with_explanation)
        clash = shared_pool_trades(problem, best)
        if clash is None:
            return best
        plans = []
        for key in clash:
            variant = problem.model_copy(update={"disabled_venues": [*problem.disabled_venues, key]})
            try:
                plans.append(self.plan(variant, with_explanation))
            except InfeasiblePlanError:
                continue
        if not plans:
            raise InfeasiblePlanError(f"venues {clash[0]} and {clash[1]} share a pool and no plan hedges without "
                                      "trading both")
        return min(plans, key=lambda p: p.objective_usd)

    def _plan(self, problem: HedgeProblem, with_explanation: bool) -> Plan:
        states, data, result, stats = self.solve(problem)
        allocations = allocations_from(states, result, data)
        moves = transfers_from(problem, result.sent, result.bridged) if result.sent is not None and \
            result.bridged is not None else []
        perps = perps_from(problem, perp_options(problem), result.perp_fills, result.perp_used) \
            if result.perp_fills is not None and result.perp_used is not None else []
        draft = build_plan(problem, allocations, stats=stats, model_objective=result.objective, quoter=self.quoter,
                           transfers=moves, perp_trades=perps)
        draft = self.finish(problem, draft, len(states))
        if not with_explanation:
            return draft
        return draft.model_copy(update={"explanation": explain(problem, states, data, draft)})


    def finish(self, problem: HedgeProblem, draft: Plan, n_venues: int) -> Plan:
        """Polish the solver's plan on the exact models, then let any cheaper baseline plan replace it."""
        s = problem.settings
        started = time.perf_counter()
        # Polish and the baseline safeguard score plans on the built-in terms only, so they would undo a user term
        # (a cap, a custom cost): with user terms the solver's plan goes straight to the raw-unit check.
        rounds = 0 if self.terms else s.polish_rounds
        polished = polish(problem, draft, self.quoter, rounds)
        polish_ms = (time.perf_counter() - started) * 1e3
        gain = draft.objective_usd - polished.objective_usd
        started = time.perf_counter()
        best, winner = polished, ""
        if n_venues <= s.baseline_guard_max_venues and not self.terms:
            best, winner = guard(problem, polished, self.quoter)
        checked = repair(problem, best, self.quoter)  # raw-unit check of every limit: repaired or refused
        stats = draft.stats.model_copy(update={
            "polish_ms": polish_ms, "polish_gain_usd": gain, "guard_ms": (time.perf_counter() - started) * 1e3,
            "safeguard": winner, "repaired": checked is not best,
        })
        best = checked
        update: dict[str, object] = {"stats": stats}
        if winner:
            update["note"] = (f"safeguard: baseline {winner} beat the optimizer's plan on the exact venue models by "
                              f"${polished.objective_usd - best.objective_usd:,.4f}; its plan is returned")
        return best.model_copy(update=update)


def _sizes(plan: Plan) -> dict[str, float]:
    return {u: plan.residual_delta[u] - plan.pre_trade_delta[u] for u in plan.residual_delta}


def guard(problem: HedgeProblem, plan: Plan, quoter: Quoter, rounds: int = 3) -> tuple[Plan, str]:
    """The cheapest by exact objective of ``plan`` and every baseline, both to target and at the sizes of the best
    plan so far (re-tried when the best changes); returns it and the winning baseline's name ("" for ``plan``)."""
    best, winner = plan, ""
    tried: list[dict[str, float] | None] = []
    pending: list[dict[str, float] | None] = [None, _sizes(plan)]
    for _ in range(rounds):
        improved = False
        for amounts in pending:
            tried.append(amounts)
            for name, baseline in BASELINES.items():
                try:  # raw-unit rounding breaches are repaired as for the optimizer's own plan
                    cand = repair(problem, baseline(problem, amounts=amounts, quoter=quoter), quoter)
                except (PlanError, AdapterError):
                    continue  # this baseline cannot meet the limits: not a candidate
                tol = 1e-9 * max(1.0, abs(best.objective_usd))
                if cand.objective_usd < best.objective_usd - tol and violation(problem, cand) is None:
                    cand = polish(problem, cand, quoter, problem.settings.polish_rounds)
                    best, winner, improved = cand, f"{name}@{'target' if amounts is None else 'sizes'}", True
        if not improved:
            break
        pending = [_sizes(best)] if _sizes(best) not in tried else []
    return best, winner


def allocations_from(states: list[VenueState], result: SolveResult, data: PackedData) -> list[Allocation]:
    """Base amounts per used venue and direction from the solver's fills."""
    k = data.width.size // (2 * len(states))
    per_trade = result.fills.reshape(2 * len(states), k).sum(axis=1)
    out = []
    for j in np.flatnonzero((result.used > 0.5) & (per_trade > DUST)):
        st = states[j // 2]
        if per_trade[j] * 10**st.base.decimals >= 1:  # under one raw unit is no trade (the raw check sees the rest)
            out.append(Allocation(st, Side.SELL if j % 2 == 0 else Side.BUY, float(per_trade[j])))
    return out


@functools.lru_cache(maxsize=1)
def default_planner() -> Planner:
    """The process-wide planner behind :func:`plan` (exact quotes from the adapter registry)."""
    return Planner()


def shared_pool_trades(problem: HedgeProblem, plan: Plan) -> tuple[str, str] | None:
    """The first two venue keys (``chain/venue``) the plan trades that list a pool in common, else None."""
    pools = {f"{v.chain}/{v.venue}": {(v.chain, p) for p in v.pools} for v in problem.venues}
    used = sorted({t.venue_key for t in plan.trades})
    for i, a in enumerate(used):
        for b in used[i + 1:]:
            if pools.get(a, set()) & pools.get(b, set()):
                return a, b
    return None


def plan(problem: HedgeProblem, quoter: Quoter | None = None, now: float | None = None,
         terms: Sequence[Term] = ()) -> Plan:
    """The cheapest set of hedge trades for ``problem``, stamped with when it was made and from which blocks.
    ``terms`` adds user cost or constraint terms (see :mod:`optimizer.terms`).

    Usage: ``result = plan(HedgeProblem.model_validate_json(text))``
    """
    planner = default_planner() if quoter is None and not terms else Planner(quoter=quoter, terms=terms)
    result = planner.plan(problem)
    blocks: dict[str, int] = {}
    for v in problem.venues:
        blocks[v.chain] = max(blocks.get(v.chain, 0), v.block_number)
    return result.model_copy(update={"created_at": time.time() if now is None else now, "snapshot_blocks": blocks})
