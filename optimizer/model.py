"""The hedge model: a cvxpy MILP built once per venue set from small cost and constraint pieces, re-solved with
new parameter values each run (DPP), solved by HiGHS.

Per venue and direction, fills ``0 ≤ δ_k ≤ w_k·z`` of the curve's pieces, ``z ∈ {0, 1}`` carrying the trade's gas.
Because each curve is convex in cost (concave in output), cheaper pieces fill first without SOS2 constraints
(Angeris, Chitra, Evans, Boyd, "Optimal Routing for Constant Function Market Makers", arXiv 2204.05238). Per venue
this is already the convex hull of {off, on}, so the LP relaxation is tight venue by venue and usually integral
overall; :meth:`HedgeModel.solve` tries it first and falls back to branch and bound only when some ``z`` comes
out fractional.

Usage::

    model = HedgeModel(shape)          # build once (cvxpy canonicalisation happens on the first solve)
    model.load(pack(problem, states, shape))
    result = model.solve(settings)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import cvxpy
import numpy as np
import scipy.sparse as sp

from crosshedge.config import OptimizerSettings
from optimizer.packing import ModelShape, PackedData

# cvxpy's inline annotations are partial (atoms such as multiply are re-exported untyped): treat it as Any.
cp: Any = cvxpy
Expr = Any  # a cvxpy expression, variable or constraint

INTEGRALITY_TOL = 1e-6
# Element-wise parameter products are built per block of this many venues: cvxpy's parameter tensor for
# multiply(p, x) grows with len(p)², which at 1,000 venues × 64 pieces would need tens of GB in one block.
CHUNK_VENUES = 16
CHUNKED = ("width", "price", "impact_slack")


@dataclass(frozen=True)
class SolveResult:
    """Solver outcome in model terms: fills (flat), venue switches, objective and timing."""

    status: str  # cvxpy status string
    fills: np.ndarray
    used: np.ndarray  # (2V,) 0/1
    objective: float
    method: str  # "relaxation-integral" or "milp"
    solve_ms: float
    lower_bound: float | None


def _structure(shape: ModelShape) -> dict[str, sp.csr_matrix]:
    """Constant 0/±1 matrices: expand z to pieces, sum pieces per trade, residual signs, inventory groups."""
    nv, k, n = len(shape.venues), shape.segments, shape.n_fills
    trade_of = np.arange(n) // k  # flat piece -> trade index 2v+s
    side_of = trade_of % 2  # 0 sell, 1 buy
    venue_of = trade_of // 2
    u_index = {u: i for i, u in enumerate(shape.underlyings)}
    u_of_venue = np.array([u_index[v[1]] for v in shape.venues])
    ones = np.ones(n)
    expand = sp.csr_matrix((ones, (np.arange(n), trade_of)), shape=(n, 2 * nv))
    signs = np.where(side_of == 1, 1.0, -1.0)
    residual = sp.csr_matrix((signs, (u_of_venue[venue_of], np.arange(n))), shape=(len(shape.underlyings), n))
    bg = {g: i for i, g in enumerate(shape.base_groups)}
    qg = {g: i for i, g in enumerate(shape.quote_groups)}
    sells, buys = np.flatnonzero(side_of == 0), np.flatnonzero(side_of == 1)
    base_row = np.array([bg[(shape.venues[v][0], shape.venues[v][2])] for v in venue_of[sells]], dtype=int)
    quote_row = np.array([qg[(shape.venues[v][0], shape.venues[v][3])] for v in venue_of[buys]], dtype=int)
    u_sell = sp.csr_matrix((np.ones(nv), (np.arange(nv), u_of_venue)), shape=(nv, len(shape.underlyings)))
    return {
        "expand": expand,
        "per_trade": expand.T.tocsr(),
        "residual": residual,
        "base": sp.csr_matrix((np.ones(len(sells)), (base_row, sells)), shape=(len(bg), n)),
        "quote": sp.csr_matrix((np.ones(len(buys)), (quote_row, buys)), shape=(len(qg), n)),
        "venue_underlying": u_sell,
    }


class HedgeModel:
    """One built problem pair (MILP and its LP relaxation) for one :class:`ModelShape`; reload and re-solve freely."""

    def __init__(self, shape: ModelShape) -> None:
        started = time.perf_counter()
        self.shape = shape
        nv, n, nu, p = len(shape.venues), shape.n_fills, len(shape.underlyings), shape.risk_points
        k = shape.segments
        # (fill slice, trade slice) per block of venues; pieces of one venue never straddle two blocks.
        self.blocks = [
            (slice(2 * a * k, 2 * min(a + CHUNK_VENUES, nv) * k), slice(2 * a, 2 * min(a + CHUNK_VENUES, nv)))
            for a in range(0, nv, CHUNK_VENUES)
        ]
        self.chunks = [
            {"width": cp.Parameter(f.stop - f.start, nonneg=True), "price": cp.Parameter(f.stop - f.start, nonneg=True),
             "impact_slack": cp.Parameter(f.stop - f.start)}
            for f, _ in self.blocks
        ]
        self.p = {
            "cost": cp.Parameter(n), "notional": cp.Parameter(n, nonneg=True),
            "gas": cp.Parameter(2 * nv, nonneg=True), "enabled": cp.Parameter(2 * nv, nonneg=True),
            "min_units": cp.Parameter(2 * nv, nonneg=True),
            "move_lower": cp.Parameter(nu), "move_upper": cp.Parameter(nu),
            "slopes": cp.Parameter((nu, p - 1)), "intercepts": cp.Parameter((nu, p - 1)),
            "inv_base": cp.Parameter(len(shape.base_groups), nonneg=True),
            "inv_quote": cp.Parameter(len(shape.quote_groups), nonneg=True),
            "max_notional": cp.Parameter(nonneg=True), "max_trades": cp.Parameter(nonneg=True),
        }
        self.m = _structure(shape)
        self.milp = self._problem(integer=True)
        self.relaxed = self._problem(integer=False)
        for prob in (self.milp, self.relaxed):
            assert prob.is_dcp(dpp=True), "hedge model must be DPP so re-solves skip canonicalisation"
        self.build_ms = (time.perf_counter() - started) * 1e3
        self.n_variables = n + 2 * nv + 2 * nu
        self.n_binaries = 2 * nv + nu

    # -- pieces: each returns (variables it adds, constraints, objective terms) -------------------------------------
    def _problem(self, integer: bool) -> Any:
        nv, nu = len(self.shape.venues), len(self.shape.underlyings)
        fills = cp.Variable(self.shape.n_fills, nonneg=True, name="fills")
        used = cp.Variable(2 * nv, boolean=integer, name="used")  # z: one per venue and direction
        sell_dir = cp.Variable(nu, boolean=integer, name="sells")  # one direction per underlying and run
        risk = cp.Variable(nu, nonneg=True, name="risk")
        # Net bought (+) or sold (−) per underlying; the band and risk lines are shifted by the current delta in
        # packing, so no parameter multiplies another (which would break DPP).
        residual = self.m["residual"] @ fills
        cons = [*([] if integer else [used <= 1, sell_dir <= 1, used >= 0, sell_dir >= 0])]
        cons += self._pieces(fills, used)
        cons += self._direction(used, sell_dir)
        cons += self._band(residual)
        cons += self._inventory(fills)
        cons += self._limits(fills, used)
        risk_cons, risk_cost = self._risk(residual, risk)
        cons += risk_cons
        objective = self.p["gas"] @ used + self.p["cost"] @ fills + risk_cost
        prob = cp.Problem(cp.Minimize(objective), cons)
        prob._vars = (fills, used)
        return prob

    def _pieces(self, fills: Expr, used: Expr) -> list[Expr]:
        """Pieces open only on a used venue; a used venue trades at least the minimum; switches close venues."""
        per_trade = self.m["per_trade"] @ fills
        cons = [per_trade >= cp.multiply(self.p["min_units"], used), used <= self.p["enabled"]]
        for (f, t), c in zip(self.blocks, self.chunks, strict=True):
            cons += [
                fills[f] <= cp.multiply(c["width"], self.m["expand"][f, t] @ used[t]),
                # Average impact (fee excluded) of each trade within the cap: Σ (impact_k − cap)·δ_k ≤ 0.
                self.m["per_trade"][t, f] @ cp.multiply(c["impact_slack"], fills[f]) <= 0,
            ]
        return cons

    def _direction(self, used: Expr, sell_dir: Expr) -> list[Expr]:
        """Never both buy and sell one underlying in a run (that would be an arbitrage loop, not a hedge)."""
        per_venue = self.m["venue_underlying"] @ sell_dir
        return [used[0::2] <= per_venue, used[1::2] <= 1 - per_venue]

    def _band(self, residual: Expr) -> list[Expr]:
        return [residual >= self.p["move_lower"], residual <= self.p["move_upper"]]

    def _inventory(self, fills: Expr) -> list[Expr]:
        """Sell only the base each chain's wallet holds; spend only the quote it holds (before any proceeds)."""
        spent = cp.sum([self.m["quote"][:, f] @ cp.multiply(c["price"], fills[f])
                        for (f, _), c in zip(self.blocks, self.chunks, strict=True)])
        return [self.m["base"] @ fills <= self.p["inv_base"], spent <= self.p["inv_quote"]]

    def _limits(self, fills: Expr, used: Expr) -> list[Expr]:
        return [self.p["notional"] @ fills <= self.p["max_notional"], cp.sum(used) <= self.p["max_trades"]]

    def _risk(self, residual: Expr, risk: Expr) -> tuple[list[Expr], Expr]:
        """Epigraph of the piecewise-linear risk interpolant, one line per piece (see optimizer.problem)."""
        cons = [
            risk[u] >= cp.multiply(self.p["slopes"][u], residual[u]) + self.p["intercepts"][u]
            for u in range(len(self.shape.underlyings))
        ]
        return cons, cp.sum(risk)

    # -- running ----------------------------------------------------------------------------------------------------
    def load(self, data: PackedData) -> None:
        """Set every parameter from one run's data."""
        for name, param in self.p.items():
            param.value = getattr(data, name)
        for (f, _), chunk in zip(self.blocks, self.chunks, strict=True):
            for name in CHUNKED:
                chunk[name].value = getattr(data, name)[f]

    def solve(self, settings: OptimizerSettings, relaxation_first: bool = True) -> SolveResult:
        """Solve the loaded data: the LP relaxation first (accepted when integral), else HiGHS branch and bound."""
        started = time.perf_counter()
        bound = None
        if relaxation_first:
            status, fills, used, value = self._run(self.relaxed, {})
            if status in ("infeasible", "infeasible_inaccurate"):
                return SolveResult(status, fills, used, value, "relaxation", _ms(started), None)
            if status == "optimal":
                bound = value
                if np.all(np.minimum(used, 1 - used) <= INTEGRALITY_TOL):
                    ms = _ms(started)
                    return SolveResult(status, fills, np.round(used), value, "relaxation-integral", ms, bound)
        opts = {"mip_rel_gap": settings.mip_rel_gap, "time_limit": settings.time_limit_s}
        status, fills, used, value = self._run(self.milp, opts)
        return SolveResult(status, fills, np.round(used), value, "milp", _ms(started), bound)

    @staticmethod
    def _run(prob: Any, opts: dict[str, float]) -> tuple[str, np.ndarray, np.ndarray, float]:
        prob.solve(solver=cp.HIGHS, **opts)
        fills, used = prob._vars
        if prob.status not in ("optimal", "optimal_inaccurate"):
            return str(prob.status), np.zeros(fills.shape), np.zeros(used.shape), float("nan")
        return str(prob.status), np.asarray(fills.value), np.asarray(used.value), float(prob.value)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1e3
