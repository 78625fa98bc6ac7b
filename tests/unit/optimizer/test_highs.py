"""The transport to HiGHS: the row reduction keeps the LP's optimum, and blocked parameters check their values."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from optimizer.highs import reduce_rows
from optimizer.terms import Blocked


def _random_lp(seed: int) -> tuple[np.ndarray, sp.csc_matrix, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A bounded LP shaped like the hedge model's: many single-column rows (piece caps, switched-off trades), some
    columns fixed by their bounds, a few dense coupling rows, and explicit zeros left by parameter products."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 25))
    lo = rng.uniform(-2, 0, n)
    hi = lo + rng.uniform(0, 3, n)
    pinned = rng.random(n) < 0.2
    hi[pinned] = lo[pinned]
    rows, cols, vals, row_lo, row_hi = [], [], [], [], []
    for i in range(int(rng.integers(1, 2 * n))):
        picked = [int(rng.integers(n))] if rng.random() < 0.6 else list(rng.choice(n, size=int(rng.integers(2, n + 1)),
                                                                                     replace=False))
        for j in picked:
            rows.append(i)
            cols.append(j)
            vals.append(0.0 if rng.random() < 0.1 else float(rng.choice([-1, 1]) * rng.uniform(0.5, 2)))
        centre = float(rng.uniform(-1, 1))
        row_lo.append(-np.inf if rng.random() < 0.5 else centre - float(rng.uniform(0, 3)))
        row_hi.append(centre + float(rng.uniform(0, 3)))
    a = sp.csc_matrix((vals, (rows, cols)), shape=(len(row_lo), n))
    return rng.normal(size=n), a, np.array(row_lo), np.array(row_hi), lo, hi


def _highs_value(c: np.ndarray, a: sp.csc_matrix, row_lo: np.ndarray, row_hi: np.ndarray, lo: np.ndarray,
                 hi: np.ndarray) -> float | None:
    """The LP's optimum straight from HiGHS (through scipy), or None when it is infeasible."""
    if c.size == 0:  # every column fixed by the reduction: feasible exactly when 0 fits every remaining row
        return 0.0 if bool(np.all(row_lo <= 1e-9) and np.all(row_hi >= -1e-9)) else None
    finite_lo = np.isfinite(row_lo)
    a_ub = sp.vstack([a, -a[np.flatnonzero(finite_lo)]]).tocsc()
    b_ub = np.concatenate([row_hi, -row_lo[finite_lo]])
    res = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=list(zip(lo, hi, strict=True)), method="highs")
    return float(res.fun) if res.status == 0 else None


@settings(max_examples=400, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_reduced_lp_has_the_full_lps_optimum(seed: int) -> None:
    c, a, row_lo, row_hi, lo, hi = _random_lp(seed)
    full = _highs_value(c, a, row_lo, row_hi, lo, hi)
    red = reduce_rows(a, row_lo, row_hi, lo, hi)
    assert red.a.shape == (red.rows.size, red.cols.size)
    assert np.all(np.diff(red.a.indptr) >= 0) and red.a.has_canonical_format
    offset = float(c[red.fixed] @ red.lo[red.fixed])
    reduced = _highs_value(c[red.cols], red.a, red.row_lo, red.row_hi, red.lo[red.cols], red.hi[red.cols])
    if full is None:
        assert reduced is None or np.any(red.hi < red.lo)
    else:
        assert reduced is not None, "the reduction made a feasible LP infeasible"
        assert reduced + offset == pytest.approx(full, rel=1e-7, abs=1e-7)


def test_single_column_rows_become_bounds_and_fixed_columns_leave() -> None:
    # rows: x0 <= 1 (single), x0 + x1 + x2 <= 3, 2·x2 <= 4 (single); x1 fixed at 0.5 by its bounds
    a = sp.csc_matrix(np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 2.0]]))
    red = reduce_rows(a, np.full(3, -np.inf), np.array([1.0, 3.0, 4.0]), np.array([0.0, 0.5, 0.0]),
                      np.array([5.0, 0.5, 5.0]))
    assert red.hi[0] == 1.0 and red.hi[2] == 2.0
    assert list(red.cols) == [0, 2] and list(red.fixed) == [1]
    assert list(red.rows) == [1]  # the coupling row stays, re-based on the fixed x1: x0 + x2 <= 2.5
    assert red.row_hi[0] == pytest.approx(2.5) and red.a.toarray().tolist() == [[1.0, 1.0]]


def test_blocked_parameters_take_a_whole_vector_and_refuse_what_cvxpy_would() -> None:
    blocked = Blocked([slice(0, 2), slice(2, 5)], nonneg=True)
    blocked.value = np.arange(5.0)
    assert blocked.value.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert blocked.parts[1].value.tolist() == [2.0, 3.0, 4.0]
    blocked.value = np.array([0.0, -1e-12, 1.0, np.inf, 2.0])  # cvxpy's projection tolerance, and +inf, pass
    for bad, reason in ((np.zeros(4), "dimensions"), (np.array([0, 1, np.nan, 0, 0]), "NaN"),
                        (np.array([0, 1, -0.5, 0, 0]), "nonnegative")):
        with pytest.raises(ValueError, match=reason):
            blocked.value = bad
    free = Blocked([slice(0, 3)], nonneg=False)
    free.value = np.array([-1.0, 0.0, 1.0])
    assert free.parts[0].value.tolist() == [-1.0, 0.0, 1.0]

