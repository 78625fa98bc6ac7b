"""Hand a compiled cvxpy problem to HiGHS, re-solving with new parameter values without re-canonicalising.

Why not ``problem.solve(solver=cp.HIGHS)``: each call re-runs cvxpy's solving chain and its problem-data checks
(seconds at 1,000 venues), and cannot try the LP relaxation of the same compiled data before the MILP. Here the
chain runs once (``get_problem_data``); per run, the cached parametric program's ``apply_parameters`` gives the new
``c, A, b`` and bounds in the reduced form cvxpy's own HiGHS interface uses (``−A·x ≤ b``, the first rows equalities),
and they go to ``highspy`` directly. The model itself lives only in the cvxpy problem; this module is transport.

Usage::

    compiled = CompiledProblem(problem, {"fills": fills, "used": used})
    out = compiled.solve(integer=False, options={"time_limit": 30.0})
    fills = out.value("fills")
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp
from cvxpy.settings import BOOL_IDX, PARAM_PROB

_hp: Any = highspy  # highspy ships partial stubs

_STATUS = {
    "kOptimal": "optimal",
    "kInfeasible": "infeasible",
    "kUnboundedOrInfeasible": "infeasible",
    "kUnbounded": "unbounded",
    "kTimeLimit": "time_limit",
    "kIterationLimit": "iteration_limit",
    "kSolutionLimit": "solution_limit",
}


_INTEGER = _hp.HighsVarType.kInteger
_CONTINUOUS = _hp.HighsVarType.kContinuous
_STATUSES = [_hp.HighsBasisStatus(i) for i in range(5)]  # kLower, kBasic, kUpper, kZero, kNonbasic
_LOWER, _BASIC, _UPPER, _ZERO = 0, 1, 2, 3


@dataclass(frozen=True)
class Basis:
    """A simplex basis by the compiled problem's own columns and rows, so it outlives one run's reduction: a column
    or row the reduction dropped is stored nonbasic at its lower bound (column) or basic (row)."""

    cols: np.ndarray  # (n_cols,) int8 HighsBasisStatus values
    rows: np.ndarray  # (n_rows,)

    def for_reduced(self, red: Reduced) -> list[list[Any]]:
        """Column and row statuses for ``red``, with exactly one basic variable per row (HiGHS refuses others)."""
        cols = self.cols[red.cols].copy()
        rows = self.rows[red.rows].copy()
        lo, hi = red.lo[red.cols], red.hi[red.cols]
        at_lower = cols == _LOWER
        cols[at_lower & ~np.isfinite(lo)] = _ZERO
        cols[at_lower & ~np.isfinite(lo) & np.isfinite(hi)] = _UPPER
        short = rows.size - int(np.count_nonzero(cols == _BASIC) + np.count_nonzero(rows == _BASIC))
        if short > 0:  # rows new to the reduction: their slacks enter the basis
            rows[np.flatnonzero(rows != _BASIC)[:short]] = _BASIC
        elif short < 0:
            leave = np.flatnonzero(cols == _BASIC)[:-short]
            cols[leave] = np.where(np.isfinite(lo[leave]), _LOWER, np.where(np.isfinite(hi[leave]), _UPPER, _ZERO))
        return [[_STATUSES[v] for v in cols.tolist()], [_STATUSES[v] for v in rows.tolist()]]


@dataclass(frozen=True)
class Reduced:
    """The problem HiGHS gets: ``cols`` kept (the others fixed at ``lo``), rows re-based on the fixed columns."""

    a: sp.csc_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    cols: np.ndarray
    fixed: np.ndarray
    rows: np.ndarray  # the original rows kept


def reduce_rows(a: sp.csc_matrix, row_lo: np.ndarray, row_hi: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                passes: int = 2) -> Reduced:
    """Turn single-column rows into column bounds and drop the columns that end fixed (HiGHS's own presolve does
    this too, but on every solve and after copying the full model; here it is two vectorised passes). Typical
    rows it removes: a presolved piece's ``δ ≤ 0·z``, a piece's ``δ ≤ w`` and a switched-off trade's ``z ≤ 0``."""
    given_lo, given_hi = lo, hi
    lo, hi = lo.copy(), hi.copy()
    m, n = a.shape
    # Entries in column order (CSC), explicit zeros dropped: per-column facts spread with np.repeat, not gathers.
    live = a.data != 0
    r, v = a.indices[live], a.data[live]
    per_col = np.diff(np.concatenate([[0], np.cumsum(live)])[a.indptr])
    j = np.repeat(np.arange(n), per_col)
    active = np.ones(m, dtype=bool)
    for _ in range(passes):
        free = np.repeat(hi > lo, per_col)
        counted = free & active[r]
        count = np.bincount(r[counted], minlength=m)
        fixed_part = _fixed_part(a, lo, hi <= lo)
        single = np.flatnonzero(counted & (count[r] == 1))
        if single.size == 0:
            break
        rows, cols, vals = r[single], j[single], v[single]
        top, bottom = (row_hi[rows] - fixed_part[rows]) / vals, (row_lo[rows] - fixed_part[rows]) / vals
        _tighten(lo, hi, cols, np.where(vals > 0, bottom, top), np.where(vals > 0, top, bottom))
        active[rows] = False
    if np.any(hi < lo):  # contradictory: HiGHS gets the problem as it came (its own bounds too) and says infeasible
        return Reduced(sp.csc_matrix(a), row_lo, row_hi, given_lo.copy(), given_hi.copy(), np.arange(n),
                       np.zeros(0, dtype=int), np.arange(m))
    fixed = hi <= lo
    on_fixed = np.repeat(fixed, per_col)
    shift = _fixed_part(a, lo, fixed)
    keep, cols = np.flatnonzero(active), np.flatnonzero(~fixed)
    row_map = np.cumsum(active) - 1
    inside = active[r] & ~on_fixed
    # Still in column order: the kept entries form the reduced CSC matrix directly (no COO sort).
    kept_per_col = np.bincount(j[inside], minlength=n)[cols]
    indptr = np.concatenate([[0], np.cumsum(kept_per_col)])
    sub = sp.csc_matrix((v[inside], row_map[r[inside]], indptr), shape=(keep.size, cols.size))
    return Reduced(sub, row_lo[keep] - shift[keep], row_hi[keep] - shift[keep], lo, hi, cols, np.flatnonzero(fixed),
                   keep)


def _fixed_part(a: sp.csc_matrix, lo: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """Each row's sum over its fixed columns of coefficient × the column's value (one sparse product)."""
    return np.asarray(a @ np.where(fixed, lo, 0.0), dtype=float)


def _tighten(lo: np.ndarray, hi: np.ndarray, cols: np.ndarray, new_lo: np.ndarray, new_hi: np.ndarray) -> None:
    """Intersect column bounds with several candidate bounds per column (a sorted group-by, not ufunc.at)."""
    if cols.size > 1 and np.any(cols[1:] < cols[:-1]):  # entries taken in column order are sorted already
        order = np.argsort(cols, kind="stable")
        cols, new_lo, new_hi = cols[order], new_lo[order], new_hi[order]
    starts = np.flatnonzero(np.r_[True, cols[1:] != cols[:-1]])
    uniq = cols[starts]
    hi[uniq] = np.minimum(hi[uniq], np.minimum.reduceat(new_hi, starts))
    lo[uniq] = np.maximum(lo[uniq], np.maximum.reduceat(new_lo, starts))
    crossed = (hi < lo) & (lo - hi <= 1e-12 * np.maximum(1.0, np.abs(lo)))
    hi[crossed] = lo[crossed]


@dataclass(frozen=True)
class Solution:
    """HiGHS's answer in cvxpy variable terms."""

    status: str  # "optimal", "infeasible", "unbounded", "time_limit", ... (solver statuses, normalised)
    x: np.ndarray | None
    objective: float
    bound: float | None  # the MILP's dual bound (the LP's optimum for an LP)
    columns: dict[str, tuple[int, int]]
    has_solution: bool
    iterations: int = 0  # simplex iterations (a warm start's gain shows here)

    def value(self, name: str) -> np.ndarray:
        start, size = self.columns[name]
        assert self.x is not None
        return np.asarray(self.x[start : start + size])


class CompiledProblem:
    """A DPP cvxpy problem compiled once for HiGHS; :meth:`solve` uses the parameters' current values."""

    def __init__(self, problem: Any, variables: dict[str, Any]) -> None:
        import cvxpy as cp

        # The COO backend compiles block-wise parameter products in linear time (CPP is quadratic per block).
        data, _, _ = problem.get_problem_data(cp.HIGHS, canon_backend=cp.COO_CANON_BACKEND)
        self.prog = data[PARAM_PROB]
        dims = self.prog.cone_dims
        if dims.soc or dims.psd or dims.exp or getattr(dims, "p3d", None):
            raise ValueError("the hedge model compiled to non-linear cones; it must stay a MILP")
        self.n_eq, self.n_leq = int(dims.zero), int(dims.nonneg)
        self.binaries = np.array(data[BOOL_IDX], dtype=int)
        self.columns = {name: (int(self.prog.var_id_to_col[v.id]), int(v.size)) for name, v in variables.items()}
        self.n_cols = int(self.prog.x.size)
        self.n_rows = self.n_eq + self.n_leq
        self._basis: Basis | None = None  # the last optimal LP relaxation's basis (warm starts)

    def arrays(self) -> tuple[np.ndarray, float, sp.csc_matrix, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Cost, offset, constraint matrix, row bounds and column bounds at the parameters' current values."""
        c, d, a, b = self.prog.apply_parameters()
        a = sp.csc_matrix(-a)
        row_lo = np.concatenate([b[: self.n_eq], np.full(self.n_leq, -np.inf)])
        lb = self.prog.lower_bounds
        ub = self.prog.upper_bounds
        lo = np.full(self.n_cols, -np.inf) if lb is None else np.asarray(lb, dtype=float).copy()
        hi = np.full(self.n_cols, np.inf) if ub is None else np.asarray(ub, dtype=float).copy()
        if self.binaries.size:
            lo[self.binaries] = np.maximum(lo[self.binaries], 0.0)
            hi[self.binaries] = np.minimum(hi[self.binaries], 1.0)
        return np.asarray(c, dtype=float), float(d), a, row_lo, np.asarray(b, dtype=float), lo, hi

    def solve(self, *, integer: bool, options: dict[str, float | bool | str], fixed: dict[int, float] | None = None,
              arrays: tuple[Any, ...] | None = None, warm: bool = False) -> Solution:
        """Solve at the current parameter values: the MILP (``integer``) or its LP relaxation; ``fixed`` pins
        columns (index → value) for a restricted MILP. With ``warm``, an LP relaxation starts from the basis of
        the last one solved to optimality (and leaves its own for the next)."""
        c, d, a, row_lo, row_hi, lo, hi = arrays if arrays is not None else self.arrays()
        if fixed:
            idx = np.fromiter(fixed, dtype=int)
            vals = np.fromiter(fixed.values(), dtype=float)
            lo, hi = lo.copy(), hi.copy()
            lo[idx] = hi[idx] = vals
        red = reduce_rows(a, row_lo, row_hi, lo, hi)
        model = _hp.HighsModel()
        lp = model.lp_
        lp.num_col_, lp.num_row_ = red.cols.size, red.a.shape[0]
        lp.offset_ = 0.0
        lp.col_cost_, lp.col_lower_, lp.col_upper_ = c[red.cols], red.lo[red.cols], red.hi[red.cols]
        lp.row_lower_, lp.row_upper_ = red.row_lo, red.row_hi
        lp.a_matrix_.format_ = _hp.MatrixFormat.kColwise
        lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = red.a.indptr, red.a.indices, red.a.data
        if integer and self.binaries.size:
            kinds = np.zeros(self.n_cols, dtype=bool)
            kinds[self.binaries] = True
            lp.integrality_ = [_INTEGER if k else _CONTINUOUS for k in kinds[red.cols]]
        h = _hp.Highs()
        h.setOptionValue("output_flag", False)
        for name, value in options.items():
            h.setOptionValue(name, value)
        h.passModel(model)
        warm = warm and not integer
        if warm and self._basis is not None:
            basis = _hp.HighsBasis()
            basis.col_status, basis.row_status = self._basis.for_reduced(red)
            basis.valid = True
            h.setBasis(basis)  # a basis HiGHS cannot use is replaced by its own start: never wrong, only slower
        h.run()
        offset = d + float(c[red.fixed] @ red.lo[red.fixed])
        out = self._solution(h, offset, integer, red)
        if warm and out.status == "optimal":
            self._basis = self._keep_basis(h, red)
        return out

    def _keep_basis(self, h: Any, red: Reduced) -> Basis:
        got = h.getBasis()
        cols = np.full(self.n_cols, _LOWER, dtype=np.int8)
        rows = np.full(self.n_rows, _BASIC, dtype=np.int8)
        # operator.index is the cheapest way from pybind's enum objects to ints (a new object per entry, ~0.2 µs)
        cols[red.cols] = np.fromiter(map(operator.index, got.col_status), dtype=np.int8, count=red.cols.size)
        rows[red.rows] = np.fromiter(map(operator.index, got.row_status), dtype=np.int8, count=red.a.shape[0])
        return Basis(cols, rows)

    def _solution(self, h: Any, offset: float, integer: bool, red: Reduced) -> Solution:
        status = _STATUS.get(str(h.getModelStatus()).split(".")[-1], "solver_error")
        info = h.getInfo()
        has = int(info.primal_solution_status) == 2  # kSolutionStatusFeasible
        x: np.ndarray | None = None
        if has:
            x = red.lo.copy()  # fixed columns keep their value
            x[red.cols] = np.asarray(h.getSolution().col_value, dtype=float)
        objective = float(info.objective_function_value) + offset if has else float("nan")
        bound: float | None = None
        if integer and self.binaries.size:
            bound = float(info.mip_dual_bound) + offset if np.isfinite(info.mip_dual_bound) else None
        elif status == "optimal":
            bound = objective
        return Solution(status, x, objective, bound, self.columns, has, int(info.simplex_iteration_count))
