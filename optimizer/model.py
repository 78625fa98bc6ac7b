"""The hedge model: one cvxpy MILP per venue-set shape, composed from the terms of :mod:`optimizer.terms` (and any
user terms), compiled once (DPP) and re-solved by HiGHS with new parameter values each run.

Per venue and direction, fills ``0 ≤ δ_k ≤ w_k·z`` of the curve's pieces, ``z ∈ {0, 1}`` carrying the trade's gas.
Because each curve is convex in cost (concave in output), cheaper pieces fill first without SOS2 constraints
(Angeris, Chitra, Evans, Boyd, "Optimal Routing for Constant Function Market Makers", arXiv 2204.05238). Per venue
this is already the convex hull of {off, on}, so the LP relaxation is tight venue by venue and usually integral
overall; :meth:`HedgeModel.solve` solves it first (same compiled data, integrality dropped) and runs HiGHS branch and
bound only when some ``z`` comes out fractional.

Usage::

    model = HedgeModel(shape, terms=())         # build and compile once
    model.load(RunView(problem, states, pack(problem, states, shape)))
    result = model.solve(problem.settings)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from crosshedge import InputError
from crosshedge.config import OptimizerSettings
from optimizer.highs import CompiledProblem, Solution
from optimizer.packing import ModelShape
from optimizer.perp_term import PERP_TERM
from optimizer.terms import CORE_TERMS, ModelContext, RunView, Term, TermParts, cp

INTEGRALITY_TOL = 1e-6


@dataclass(frozen=True)
class SolveResult:
    """Solver outcome in model terms: fills (flat), venue switches, objective and timing."""

    status: str  # "optimal", "infeasible", "time_limit", ...
    fills: np.ndarray
    used: np.ndarray  # (2V,) 0/1
    objective: float
    method: str  # "relaxation-integral", "milp" or "milp-fixed"
    solve_ms: float
    lower_bound: float | None
    # (objective − best proven lower bound) / max(1, |objective|): the most the plan can be off optimal in model
    # terms (0 for an integral relaxation; for "milp-fixed" measured against the relaxation's bound).
    gap: float | None = None
    sent: np.ndarray | None = None  # (T,) token units per bridge route (shape.transfers), else None
    bridged: np.ndarray | None = None  # (T,) 0/1
    perp_fills: np.ndarray | None = None  # (2P·Kp,) base units per perp piece (shape.perps), else None
    perp_used: np.ndarray | None = None  # (2P,) 0/1


class HedgeModel:
    """The built and compiled problem for one :class:`ModelShape` and term set; reload and re-solve freely."""

    def __init__(self, shape: ModelShape, terms: Sequence[Term] = ()) -> None:
        started = time.perf_counter()
        self.shape = shape
        self.ctx = ModelContext(shape)
        self.terms = (*CORE_TERMS, PERP_TERM, *terms)
        self.parts: list[tuple[Term, TermParts]] = [(t, t.build(self.ctx)) for t in self.terms]
        cons = [*self.ctx.constraints, *(c for _, p in self.parts for c in p.constraints)]
        costs = [p.cost for _, p in self.parts if p.cost is not None]
        self.problem = cp.Problem(cp.Minimize(cp.sum(cp.hstack(costs))), cons)
        assert self.problem.is_dcp(dpp=True), "the hedge model must be DPP so re-solves skip canonicalisation"
        self._placeholder_values()
        switches = {"used": self.ctx.used} | ({"entered": self.ctx.entered} if self.ctx.entered is not None else {})
        if self.ctx.sent is not None and self.ctx.bridged is not None:
            switches |= {"sent": self.ctx.sent, "bridged": self.ctx.bridged}
        if self.ctx.perp_fills is not None and self.ctx.perp_used is not None and self.ctx.perp_grow is not None:
            switches |= {"perp_fills": self.ctx.perp_fills, "perp_used": self.ctx.perp_used,
                         "perp_grow": self.ctx.perp_grow}
        self.compiled = CompiledProblem(self.problem, {"fills": self.ctx.fills, **switches})
        self._tick_gas: np.ndarray | None = None
        self.build_ms = (time.perf_counter() - started) * 1e3
        self.n_variables = self.compiled.n_cols
        self.n_binaries = int(self.compiled.binaries.size)

    def _placeholder_values(self) -> None:
        """cvxpy needs a value on every parameter to compile; the run's values replace these in :meth:`load`."""
        for param in self.problem.parameters():
            param.value = np.zeros(param.shape) if param.shape else 0.0

    def load(self, run: RunView) -> None:
        """Set every term's parameters from one run's data."""
        for term, parts in self.parts:
            values = term.values(run)
            for name, param in parts.params.items():
                if name not in values:
                    raise InputError(f"term {term.key!r}: values() gave no value for its parameter {name!r}")
                try:
                    param.value = values[name]
                except ValueError as exc:  # wrong shape, sign or a non-finite value: say which term and parameter
                    raise InputError(f"term {term.key!r}: parameter {name!r}: {exc}") from None
        self._tick_gas = run.data.tick_gas

    def _switch_columns(self, x: Solution) -> tuple[np.ndarray, np.ndarray]:
        """(compiled column, relaxed value) of every switch whose value matters: each trade's, and each piece's
        ``entered`` where crossing into it costs tick gas (elsewhere it is free, and any value in [0, 1] fits)."""
        col, _ = self.compiled.columns["used"]
        z = x.value("used")
        cols, values = [col + np.arange(z.size)], [z]
        if "entered" in self.compiled.columns and self._tick_gas is not None:
            start, _ = self.compiled.columns["entered"]
            costly = np.flatnonzero(self._tick_gas > 0)
            cols.append(start + costly)
            values.append(x.value("entered")[costly])
        for name in ("bridged", "perp_used", "perp_grow"):
            if name in self.compiled.columns:
                start, size = self.compiled.columns[name]
                cols.append(start + np.arange(size))
                values.append(x.value(name))
        return np.concatenate(cols), np.concatenate(values)

    def solve(self, settings: OptimizerSettings, relaxation_first: bool = True) -> SolveResult:
        """Solve the loaded data: the LP relaxation first (accepted when integral), else HiGHS branch and bound."""
        started = time.perf_counter()
        arrays = self.compiled.arrays()
        opts: dict[str, float | bool | str] = {"time_limit": settings.time_limit_s}
        bound: float | None = None
        relaxed: Solution | None = None
        if relaxation_first:
            # HiGHS's LP presolve mostly redoes what reduce_rows did, and costs up to a third of the LP's time here.
            warm = len(self.shape.venues) >= settings.warm_start_min_venues
            relaxed = self.compiled.solve(integer=False, options={**opts, "presolve": "off"}, arrays=arrays,
                                          warm=warm)
            if relaxed.status == "infeasible":
                return self._result(relaxed, "relaxation", started, None)
            if relaxed.status == "optimal" and relaxed.x is not None:
                bound = relaxed.objective
                _, z = self._switch_columns(relaxed)
                if np.all(np.minimum(z, 1 - z) <= INTEGRALITY_TOL):
                    return self._result(relaxed, "relaxation-integral", started, bound)
        opts["mip_rel_gap"] = settings.mip_rel_gap
        if relaxed is not None and relaxed.x is not None and len(self.shape.venues) > settings.exact_milp_max_venues:
            # Large sets: branch only on the switches the relaxation left fractional (the rest fixed at 0/1). Not
            # provably optimal; the gap to the relaxation's bound is reported with the plan.
            cols, z = self._switch_columns(relaxed)
            fixed = {int(c): float(round(v)) for c, v in zip(cols, z, strict=True) if min(v, 1 - v) <= INTEGRALITY_TOL}
            sol = self.compiled.solve(integer=True, options=opts, fixed=fixed, arrays=arrays)
            if sol.has_solution:
                return self._result(sol, "milp-fixed", started, bound)
        sol = self.compiled.solve(integer=True, options=opts, arrays=arrays)
        # the best bound proven on the whole problem: branch and bound's own, or the relaxation's if higher
        proven = max((b for b in (bound, sol.bound) if b is not None), default=None)
        return self._result(sol, "milp", started, proven)

    def _result(self, sol: Solution, method: str, started: float, bound: float | None) -> SolveResult:
        n, t = self.shape.n_fills, 2 * len(self.shape.venues)
        ok = sol.has_solution and sol.status in ("optimal", "time_limit")
        if not ok:
            return SolveResult(sol.status, np.zeros(n), np.zeros(t), float("nan"), method, _ms(started), bound)
        status = "optimal" if sol.status == "optimal" else "optimal_inaccurate"
        fills = np.clip(sol.value("fills"), 0.0, None)
        used = np.round(sol.value("used"))
        gap = 0.0 if method == "relaxation-integral" else None
        if bound is not None and method != "relaxation-integral":
            gap = max(0.0, sol.objective - bound) / max(1.0, abs(sol.objective))
        sent = bridged = None
        if "sent" in self.compiled.columns:
            sent, bridged = np.clip(sol.value("sent"), 0.0, None), np.round(sol.value("bridged"))
        perp_fills = perp_used = None
        if "perp_fills" in self.compiled.columns:
            perp_fills, perp_used = np.clip(sol.value("perp_fills"), 0.0, None), np.round(sol.value("perp_used"))
        return SolveResult(status, fills, used, sol.objective, method, _ms(started), bound, gap, sent, bridged,
                           perp_fills, perp_used)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1e3


def model_key(terms: Sequence[Term]) -> tuple[str, ...]:
    """The part of the model cache key the user terms make (their structure keys, in order)."""
    return tuple(t.key for t in terms)

