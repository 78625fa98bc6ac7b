"""BENCHMARK BASELINE ONLY, not product code: the hand-built sparse-array model that was the production path before
the cvxpy model (:mod:`optimizer.model`) replaced it, kept here verbatim so ``bench_optimizer.py`` can time the two
side by side in one run. Nothing in the product imports it.

The hedge model assembled as sparse arrays after exact pruning and handed to HiGHS through
:func:`scipy.optimize.milp`. What made it fast:

* **Exact pruning before building.** Every constraint that limits one trade on its own is turned into a cap on that
  trade's size (the band's room in the trade's direction, the impact cap, the chain's inventory, the run's notional).
  Because every curve is convex (cost, fee, impact slack and quote spent per unit all rise piece by piece), any
  feasible fill can be re-ordered cheapest-piece-first without breaking a limit or raising the cost, so pieces that
  start past the cap can never be in an optimal plan and are dropped, the one straddling it is cut to size, and a
  trade whose cap is below the minimum trade size is dropped whole. A direction an underlying cannot move in (its
  delta already at that band edge) thereby disappears, typically halving the model.
* **LP first.** The relaxation is solved as an LP; when every venue switch comes out 0 or 1 it is the MILP's optimum
  (method ``relaxation-integral``), else the MILP is solved by HiGHS branch and bound on the pruned arrays (``milp``).
* **No canonicalisation.** Arrays are assembled with numpy in milliseconds, so nothing needs caching per venue set.

Usage::

    model = DirectModel(shape)
    result = model.solve(pack(problem, states, shape), problem.settings)
    # or, timing pack + solve like the old planner: direct_solve(problem)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from crosshedge.config import OptimizerSettings
from optimizer.diagnose import usable_venues
from optimizer.model import INTEGRALITY_TOL, SolveResult
from optimizer.packing import ModelShape, PackedData, pack, shape_of

# The exact pruning is the product's own (optimizer.presolve): the baseline differs only in its hand-built model.
from optimizer.presolve import Layout, layout_of, trade_caps
from optimizer.problem import HedgeProblem

_STATUS = {0: "optimal", 1: "user_limit", 2: "infeasible", 3: "unbounded"}


@dataclass(frozen=True)
class Pruned:
    fills: np.ndarray  # flat indices of the pieces kept
    width: np.ndarray  # their widths, the last one of each trade cut at the trade's cap
    trades: np.ndarray  # trade indices (2v+s) kept
    piece_trade: np.ndarray  # column of each kept piece's trade among ``trades``


def prune(layout: Layout, data: PackedData, k: int) -> Pruned:
    """Pieces and trades that can appear in an optimal plan (see the module docstring for why this is exact)."""
    t = layout.is_sell.size
    cap = trade_caps(layout, data, k)
    width = data.width.reshape(t, k)
    start = np.cumsum(width, axis=1) - width
    keep = (width > 0) & (start < cap[:, None])
    cut = np.minimum(width, cap[:, None] - start)
    trades = np.flatnonzero(keep.any(axis=1))
    column = np.full(t, -1)
    column[trades] = np.arange(trades.size)
    flat = np.flatnonzero(keep.ravel())
    return Pruned(flat, cut.ravel()[flat], trades, column[flat // k])


class DirectModel:
    """The hedge MILP for one shape as sparse arrays (see module docstring). Cheap to build; solve per run."""

    def __init__(self, shape: ModelShape) -> None:
        started = time.perf_counter()
        self.shape = shape
        self.layout = layout_of(shape)
        self.build_ms = (time.perf_counter() - started) * 1e3
        self.n_variables = 0
        self.n_binaries = 0
        self.pieces_pruned = 0

    def solve(self, data: PackedData, settings: OptimizerSettings) -> SolveResult:
        """Prune, assemble, solve the LP relaxation and, only if some switch is fractional, the MILP."""
        started = time.perf_counter()
        k = self.shape.segments
        pr = prune(self.layout, data, k)
        c, bounds, cons, n_bin = self._arrays(data, pr)
        nf, nt = pr.fills.size, pr.trades.size
        self.n_variables, self.n_binaries = c.size, n_bin
        self.pieces_pruned = int(np.count_nonzero(data.width)) - nf
        opts = {"presolve": True, "time_limit": settings.time_limit_s}
        relaxed = milp(c, integrality=np.zeros(c.size), bounds=bounds, constraints=cons, options=opts)
        status = _STATUS.get(relaxed.status, "solver_error")
        if status != "optimal":
            return self._result(status, None, pr, "relaxation", started, None)
        bound = float(relaxed.fun)
        z = relaxed.x[nf : nf + nt]
        fractional = np.minimum(z, 1 - z) > INTEGRALITY_TOL
        if not fractional.any():
            return self._result(status, relaxed, pr, "relaxation-integral", started, bound)
        integrality = np.zeros(c.size)
        integrality[nf : nf + n_bin] = 1
        opts["mip_rel_gap"] = settings.mip_rel_gap
        if len(self.shape.venues) > settings.exact_milp_max_venues:
            # Large sets: branch only on the switches the relaxation left fractional (the rest fixed at 0/1).
            # Not provably optimal; the gap to the relaxation's bound is reported with the plan.
            lo, hi = bounds.lb.copy(), bounds.ub.copy()
            fixed = np.flatnonzero(~fractional) + nf
            lo[fixed] = hi[fixed] = np.round(relaxed.x[fixed])
            res = milp(c, integrality=integrality, bounds=Bounds(lo, hi), constraints=cons, options=opts)
            if res.status == 0:
                return self._result("optimal", res, pr, "milp-fixed", started, bound)
        exact = milp(c, integrality=integrality, bounds=bounds, constraints=cons, options=opts)
        return self._result(_STATUS.get(exact.status, "solver_error"), exact if exact.x is not None else None, pr,
                            "milp", started, bound)

    def _result(self, status: str, res: Any, pr: Pruned, method: str, started: float,
                bound: float | None) -> SolveResult:
        n, t = self.shape.n_fills, 2 * len(self.shape.venues)
        fills, used = np.zeros(n), np.zeros(t)
        value = float("nan")
        x = getattr(res, "x", None)
        if x is not None and status == "optimal":
            nf = pr.fills.size
            fills[pr.fills] = np.clip(x[:nf], 0.0, None)
            used[pr.trades] = np.round(x[nf : nf + pr.trades.size])
            value = float(res.fun)
        ms = (time.perf_counter() - started) * 1e3
        return SolveResult(status, fills, used, value, method, ms, bound)

    def _arrays(self, data: PackedData, pr: Pruned) -> tuple[np.ndarray, Bounds, list[LinearConstraint], int]:
        """Objective, bounds and constraint blocks over columns [fills | switches | sell direction | risk]."""
        lay, nu = self.layout, len(self.shape.underlyings)
        nf, nt = pr.fills.size, pr.trades.size
        ncol = nf + nt + 3 * nu
        zcol = nf + pr.piece_trade  # switch column of each piece
        tr_u, tr_sell = lay.trade_underlying[pr.trades], lay.is_sell[pr.trades]
        p_u, p_sell = tr_u[pr.piece_trade], tr_sell[pr.piece_trade]
        sd_col, risk_col = nf + nt + np.arange(nu), nf + nt + nu + np.arange(nu)
        move_col = nf + nt + 2 * nu + np.arange(nu)  # net base bought (+) / sold (−) per underlying
        fr = np.arange(nf)
        rows: list[LinearConstraint] = []

        def add(r: np.ndarray, cidx: np.ndarray, v: np.ndarray, nrow: int, lo: np.ndarray | float,
                hi: np.ndarray | float) -> None:
            if nrow:
                rows.append(LinearConstraint(sp.csr_array((v, (r, cidx)), shape=(nrow, ncol)), lo, hi))

        # pieces open only on a used venue: δ_k − w_k·z ≤ 0
        add(np.r_[fr, fr], np.r_[fr, zcol], np.r_[np.ones(nf), -pr.width], nf, -np.inf, 0.0)
        # a used venue trades at least the minimum, and within the impact cap on average
        mins = data.min_units[pr.trades]
        add(np.r_[pr.piece_trade, np.arange(nt)], np.r_[fr, nf + np.arange(nt)], np.r_[np.ones(nf), -mins], nt,
            0.0, np.inf)
        add(pr.piece_trade, fr, data.impact_slack[pr.fills], nt, -np.inf, 0.0)
        # one direction per underlying: z_sell ≤ d_u, z_buy ≤ 1 − d_u
        tz = nf + np.arange(nt)
        add(np.r_[np.arange(nt), np.arange(nt)], np.r_[tz, sd_col[tr_u]], np.r_[np.ones(nt), np.where(tr_sell, -1, 1)],
            nt, -np.inf, np.where(tr_sell, 0.0, 1.0))
        sign = np.where(p_sell, -1.0, 1.0)
        # the net move per underlying (its bounds are the band): m_u − Σ ±δ = 0
        add(np.r_[p_u, np.arange(nu)], np.r_[fr, move_col], np.r_[sign, -np.ones(nu)], nu, 0.0, 0.0)
        # inventory per chain: base sold, quote spent
        grp = lay.trade_group[pr.trades][pr.piece_trade]
        s_idx, b_idx = np.flatnonzero(p_sell), np.flatnonzero(~p_sell)
        add(grp[s_idx], s_idx, np.ones(s_idx.size), data.inv_base.size, -np.inf, data.inv_base)
        add(grp[b_idx], b_idx, data.price[pr.fills][b_idx], data.inv_quote.size, -np.inf, data.inv_quote)
        # the run's notional and trade count
        add(np.zeros(nf, dtype=int), fr, data.notional[pr.fills], 1, -np.inf, data.max_notional)
        if data.max_trades < nt:
            add(np.zeros(nt, dtype=int), tz, np.ones(nt), 1, -np.inf, data.max_trades)
        rows += self._risk(data, risk_col, move_col, ncol)
        c = np.r_[data.cost[pr.fills], data.gas[pr.trades], np.zeros(nu), np.ones(nu), np.zeros(nu)]
        lo = np.r_[np.zeros(nf + nt + 2 * nu), data.move_lower]
        hi = np.r_[pr.width, np.ones(nt + nu), np.full(nu, np.inf), data.move_upper]
        return c, Bounds(lo, hi), rows, nt + nu

    @staticmethod
    def _risk(data: PackedData, risk_col: np.ndarray, move_col: np.ndarray, ncol: int) -> list[LinearConstraint]:
        """Epigraph of the risk interpolant: risk_u − slope·m_u ≥ intercept, one row per piece."""
        nu, lines = data.slopes.shape
        if nu == 0:
            return []
        r = np.repeat(np.arange(nu * lines), 2)
        cidx = np.stack([np.repeat(risk_col, lines), np.repeat(move_col, lines)], axis=1).ravel()
        v = np.stack([np.ones(nu * lines), -data.slopes.ravel()], axis=1).ravel()
        a = sp.csr_array((v, (r, cidx)), shape=(nu * lines, ncol))
        return [LinearConstraint(a, data.intercepts.ravel(), np.inf)]


def direct_solve(problem: HedgeProblem) -> SolveResult:
    """Validate, pack and solve ``problem`` on the baseline (what the old planner timed as ``solve_ms``)."""
    states = usable_venues(problem)
    shape = shape_of(problem, states)
    return DirectModel(shape).solve(pack(problem, states, shape), problem.settings)
