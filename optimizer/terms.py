"""The hedge model's cost and constraint terms: each small, each a :class:`Term`, composed into one cvxpy problem.

A term sees the model's variables through a :class:`ModelContext` and returns :class:`TermParts`: constraints, a cost
(USD) and the ``cp.Parameter``s it created. Per run, :meth:`Term.values` gives each parameter its value from a
:class:`RunView` (the problem, its venues in model order and the packed arrays). Parameters are the only thing that
changes between runs of one shape, so the problem is compiled once (DPP) and re-solved with new values.

The built-in terms (:data:`CORE_TERMS`) are the model of :mod:`optimizer.problem`'s objective and limits. A user or
plugin adds its own through ``Planner(terms=[...])`` or ``plan(problem, terms=[...])``; its :attr:`Term.key` is part
of the model cache key, so it must name the term's structure (not its per-run values).

Example: cap one venue and add a custom cost (a USD penalty per unit bought or sold on one chain)::

    import cvxpy as cp
    from adapters import Side
    from optimizer import ModelContext, RunView, TermParts, VenueCap, plan

    class ChainPenalty:                      # a custom cost: $2 per base unit traded on chain "base"
        key = "chain_penalty"                # names the structure (part of the model cache key)

        def build(self, m: ModelContext) -> TermParts:
            usd_per_unit = cp.Parameter(m.n_trades, nonneg=True)
            return TermParts(cost=usd_per_unit @ m.amounts, params={"usd_per_unit": usd_per_unit})

        def values(self, run: RunView) -> dict[str, object]:
            return {"usd_per_unit": run.trade_vector(lambda st, side: 2.0 if st.chain == "base" else 0.0)}

    # cap one venue's sells at 5 base units, and add the custom cost
    result = plan(problem, terms=[VenueCap("arbitrum/v3", Side.SELL, max_units=5.0), ChainPenalty()])

(tests/unit/optimizer/test_terms.py runs this example.)

Every expression a term builds must be DPP: a parameter may multiply a parameter-free expression (``m.amounts``,
``m.used``, ``m.move``, ``m.fills``), never another parameter-dependent one. The planner asserts
``is_dcp(dpp=True)`` when it builds. Polish and the baseline safeguard score plans on the built-in terms only, so
with user terms they are skipped: the solver's plan goes straight to the raw-unit check of every built-in limit
(whose repair moves a trade by rounding steps only).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import cvxpy
import numpy as np
import scipy.sparse as sp
from cvxpy.settings import GENERAL_PROJECTION_TOL

from adapters import Side, VenueState
from crosshedge import InputError
from optimizer.packing import ModelShape, PackedData
from optimizer.problem import HedgeProblem, venue_key

# cvxpy's inline annotations are partial (atoms such as multiply are re-exported untyped): treat it as Any.
cp: Any = cvxpy
Expr = Any  # a cvxpy expression, variable or constraint

# cvxpy's parameter tensor for multiply(p, x) grows with len(p)² (a 64,000-piece product needs 30 GB), so element-wise
# parameter products are built per block of venues holding about this many pieces; with the COO backend, compiling
# 10,000 venues × 32 pieces then takes seconds, once per shape.
BLOCK_FILLS = 1024


@dataclass(frozen=True)
class TermParts:
    """What a term adds to the model: constraints, a USD cost, and the parameters :meth:`Term.values` fills."""

    constraints: Sequence[Expr] = ()
    cost: Expr | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunView:
    """One run's data as the terms see it: the problem, its venues in model order and the packed arrays."""

    problem: HedgeProblem
    states: Sequence[VenueState]
    data: PackedData

    def trade_index(self, venue: str, side: Side) -> int | None:
        """The index (``2·v + side``) of ``venue``'s ("chain/venue") trade on ``side``, None if not in this run."""
        for v, st in enumerate(self.states):
            if venue_key(st) == venue:
                return 2 * v + (0 if side is Side.SELL else 1)
        return None

    def trade_vector(self, value: Callable[[VenueState, Side], float]) -> np.ndarray:
        """A (2V,) array over the run's trades: ``value(state, side)`` for each."""
        return np.array([value(st, side) for st in self.states for side in (Side.SELL, Side.BUY)], dtype=float)


class ModelContext:
    """The variables and structure every term builds on (one per built model).

    * ``fills`` (n,): base units filled on each piece, flat over (venue, side, piece): index ``(2v+s)·K + k``
      (non-negative; the ``pieces`` term bounds them by the presolved widths, only on a used trade).
    * ``used`` (2V,): 1 when the trade ``2v+s`` (s = 0 sell, 1 buy) is made; it carries the trade's gas.
    * ``entered`` (n,) or None: with ``shape.ticks``, 1 when the trade's fill reaches piece k (see ``tick_gas``).
    * ``sell_dir`` (U,): 1 when the run may sell underlying u, 0 when it may buy it.
    * ``amounts`` (2V,): base units per trade (an expression); ``move`` (U,): net base bought (+) or sold (−) per
      underlying (a variable tied to the fills by ``constraints``).
    * ``sent``, ``bridged``, ``received`` (T,) or None: with bridge routes (``shape.transfers``), token units sent
      over each route, its deposit switch and the units that arrive (tied by the ``transfers`` term).
    """

    def __init__(self, shape: ModelShape, integer: bool = True) -> None:
        self.shape = shape
        nv, n, nu = len(shape.venues), shape.n_fills, len(shape.underlyings)
        self.n_venues, self.n_trades, self.n_fills, self.n_underlyings = nv, 2 * nv, n, nu
        self.fills = cp.Variable(n, nonneg=True, name="fills")
        self.used = cp.Variable(2 * nv, boolean=integer, name="used")
        self.sell_dir = cp.Variable(nu, boolean=integer, name="sell_dir")
        self.m = structure(shape)
        per = max(1, BLOCK_FILLS // max(1, 2 * shape.segments))
        k = shape.segments
        # (fill slice, trade slice) per block of venues; a venue's pieces never straddle two blocks.
        self.blocks = [(slice(2 * a * k, 2 * min(a + per, nv) * k), slice(2 * a, 2 * min(a + per, nv)))
                       for a in range(0, nv, per)]
        # shape.ticks: 1 when the trade's fill reaches piece k (index as fills); carries the gas of the ticks
        # crossed on entering it (the tick_gas term).
        self.entered = cp.Variable(n, boolean=integer, name="entered") if shape.ticks else None
        self.amounts = self.m["per_trade"] @ self.fills
        # The net move is its own variable, so each risk line and band row touches one column, not every fill.
        self.move = cp.Variable(nu, name="move")
        self.constraints: list[Expr] = [self.move == self.m["residual"] @ self.fills]
        # Bridge routes (shape.transfers; optimizer.transfers): units sent, the deposit's switch, units received.
        nt = len(shape.transfers)
        self.n_transfers = nt
        self.sent = cp.Variable(nt, nonneg=True, name="sent") if nt else None
        self.bridged = cp.Variable(nt, boolean=integer, name="bridged") if nt else None
        self.received = cp.Variable(nt, name="received") if nt else None
        # Perp markets (shape.perps; optimizer.perp_term): base units per piece of each market's short and long
        # curve, each trade's switch, and whether the trade grows the position (then its margin is checked).
        npp = len(shape.perps)
        self.n_perps, self.n_perp_fills = npp, 2 * npp * shape.perp_segments
        self.perp_fills = cp.Variable(self.n_perp_fills, nonneg=True, name="perp_fills") if npp else None
        self.perp_used = cp.Variable(2 * npp, boolean=integer, name="perp_used") if npp else None
        self.perp_grow = cp.Variable(npp, boolean=integer, name="perp_grow") if npp else None
        if self.perp_fills is not None:  # a perp trade moves its underlying's delta by its signed size
            moved = self.m["residual"] @ self.fills + self.m["perp_residual"] @ self.perp_fills
            self.constraints = [self.move == moved]

    def blocked(self, over: str, nonneg: bool = False) -> Blocked:
        """A parameter over every piece (``over="fills"``) or trade (``"trades"``), one ``cp.Parameter`` per block
        of venues: element-wise products must be built block by block (see :data:`BLOCK_FILLS`)."""
        return Blocked([f if over == "fills" else t for f, t in self.blocks], nonneg)


class Blocked:
    """One logical parameter vector held as a ``cp.Parameter`` per block; setting ``value`` slices it."""

    def __init__(self, slices: Sequence[slice], nonneg: bool) -> None:
        self.slices = list(slices)
        self.nonneg = nonneg
        self.parts = [cp.Parameter(sl.stop - sl.start, nonneg=nonneg) for sl in self.slices]

    @property
    def value(self) -> np.ndarray:
        return np.concatenate([np.asarray(p.value) for p in self.parts])

    @value.setter
    def value(self, full: Any) -> None:
        # One check of the whole vector, then each block's value stored as is: cvxpy's own per-parameter check
        # costs ~30 µs a block, which at 10,000 venues is hundreds of blocks per run. Same rules as cvxpy's: the
        # shape, no NaN, and (non-negative parameters) nothing below -GENERAL_PROJECTION_TOL.
        arr = np.asarray(full, dtype=float)
        size = self.slices[-1].stop if self.slices else 0
        if arr.shape != (size,):
            raise ValueError(f"Invalid dimensions {arr.shape} for Parameter value (expected ({size},))")
        if np.isnan(arr).any():
            raise ValueError("Parameter value must be real numbers, got NaN")
        if self.nonneg and arr.size and float(arr.min()) < -GENERAL_PROJECTION_TOL:
            raise ValueError("Parameter value must be nonnegative.")
        for p, sl in zip(self.parts, self.slices, strict=True):
            p.save_value(arr[sl])


def structure(shape: ModelShape) -> dict[str, sp.csr_matrix]:
    """Constant 0/±1 matrices: pieces to trades, residual signs, inventory groups, venue to underlying."""
    nv, k, n, nu = len(shape.venues), shape.segments, shape.n_fills, len(shape.underlyings)
    trade_of = np.arange(n) // k
    side_of, venue_of = trade_of % 2, trade_of // 2
    u_index = {u: i for i, u in enumerate(shape.underlyings)}
    u_of_venue = np.array([u_index[v[1]] for v in shape.venues], dtype=int)
    expand = sp.csr_matrix((np.ones(n), (np.arange(n), trade_of)), shape=(n, 2 * nv))
    signs = np.where(side_of == 1, 1.0, -1.0)
    bg = {g: i for i, g in enumerate(shape.base_groups)}
    qg = {g: i for i, g in enumerate(shape.quote_groups)}
    sells, buys = np.flatnonzero(side_of == 0), np.flatnonzero(side_of == 1)
    base_row = np.array([bg[(shape.venues[v][0], shape.venues[v][2])] for v in venue_of[sells]], dtype=int)
    quote_row = np.array([qg[(shape.venues[v][0], shape.venues[v][3])] for v in venue_of[buys]], dtype=int)
    return {
        "expand": expand,
        "per_trade": expand.T.tocsr(),
        "residual": sp.csr_matrix((signs, (u_of_venue[venue_of], np.arange(n))), shape=(nu, n)),
        "base": sp.csr_matrix((np.ones(sells.size), (base_row, sells)), shape=(len(bg), n)),
        "quote": sp.csr_matrix((np.ones(buys.size), (quote_row, buys)), shape=(len(qg), n)),
        "venue_underlying": sp.csr_matrix((np.ones(nv), (np.arange(nv), u_of_venue)), shape=(nv, nu)),
        **(_piece_order(2 * nv, k) if shape.ticks else {}),
        **(_route_maps(shape) if shape.transfers else {}),
        **(_perp_maps(shape) if shape.perps else {}),
    }


def _perp_maps(shape: ModelShape) -> dict[str, sp.csr_matrix]:
    """Perp pieces to trades (``perp_expand``, ``perp_per_trade``), to each market's signed size change
    (``perp_net``: + long, − short) and its sum of pieces (``perp_of_fill``), to underlyings, and markets to
    underlyings (``perp_underlying``)."""
    npp, k = len(shape.perps), shape.perp_segments
    n = 2 * npp * k
    trade_of = np.arange(n) // k
    perp_of = trade_of // 2
    signs = np.where(trade_of % 2 == 1, 1.0, -1.0)
    u_index = {u: i for i, u in enumerate(shape.underlyings)}
    u_of_perp = np.array([u_index[u] for _, u in shape.perps], dtype=int)
    expand = sp.csr_matrix((np.ones(n), (np.arange(n), trade_of)), shape=(n, 2 * npp))
    net = sp.csr_matrix((signs, (perp_of, np.arange(n))), shape=(npp, n))
    to_u = sp.csr_matrix((np.ones(npp), (np.arange(npp), u_of_perp)), shape=(npp, len(shape.underlyings)))
    return {
        "perp_expand": expand, "perp_per_trade": expand.T.tocsr(), "perp_net": net,
        "perp_of_fill": sp.csr_matrix((np.ones(n), (perp_of, np.arange(n))), shape=(npp, n)),
        "perp_residual": (to_u.T @ net).tocsr(), "perp_underlying": to_u,
    }


def _route_maps(shape: ModelShape) -> dict[str, sp.csr_matrix]:
    """0/1 maps from routes to the groups they leave (``out_*``) and reach (``in_*``): base, quote, token groups."""
    routes = shape.transfers
    out: dict[str, sp.csr_matrix] = {}
    for name, groups in (("base", shape.base_groups), ("quote", shape.quote_groups), ("token", shape.token_groups)):
        row = {g: i for i, g in enumerate(groups)}
        for end, side in (("out", 0), ("in", 1)):
            hits = [(row[(r[side], r[2])], j) for j, r in enumerate(routes) if (r[side], r[2]) in row]
            rows = np.array([h[0] for h in hits], dtype=int)
            cols = np.array([h[1] for h in hits], dtype=int)
            out[f"{end}_{name}"] = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(len(groups), len(routes)))
    return out


def _piece_order(trades: int, k: int) -> dict[str, sp.csr_matrix]:
    """``first`` picks each trade's first piece; ``later`` gives entered[k] − entered[k−1] for k ≥ 1."""
    n = trades * k
    first = sp.csr_matrix((np.ones(trades), (np.arange(trades), np.arange(trades) * k)), shape=(trades, n))
    later_cols = np.flatnonzero(np.arange(n) % k != 0)
    rows = np.arange(later_cols.size)
    later = sp.csr_matrix((np.r_[np.ones(rows.size), -np.ones(rows.size)],
                           (np.r_[rows, rows], np.r_[later_cols, later_cols - 1])), shape=(rows.size, n))
    return {"first": first, "later": later}


class Term(Protocol):
    """A cost or constraint piece of the hedge model (see the module docstring for the contract and an example)."""

    @property
    def key(self) -> str:
        """Names the term's structure; part of the model cache key (two terms with one key build alike)."""
        ...

    def build(self, m: ModelContext) -> TermParts:
        """Constraints, cost and parameters over ``m``'s variables (called once per model shape)."""
        ...

    def values(self, run: RunView) -> Mapping[str, Any]:
        """The value of each parameter :meth:`build` returned, for this run."""
        ...


def _data(*names: str) -> Callable[[RunView], dict[str, Any]]:
    """The packed arrays named ``names``, and every bridge route value (used by the terms that have routes)."""
    def values(run: RunView) -> dict[str, Any]:
        flows = run.data.transfers
        routes = {f: getattr(flows, f) for f in flows.__dataclass_fields__} if flows is not None else {}
        return {**routes, **{name: getattr(run.data, name) for name in names}}

    return values


@dataclass(frozen=True)
class _Core:
    """A built-in term: a builder over the context and the packed arrays its parameters take."""

    key: str
    builder: Callable[[ModelContext], TermParts]
    fields: tuple[str, ...]

    def build(self, m: ModelContext) -> TermParts:
        return self.builder(m)

    def values(self, run: RunView) -> Mapping[str, Any]:
        return _data(*self.fields)(run)


def _pieces(m: ModelContext) -> TermParts:
    # δ_k ≤ w_k·z per piece: per venue this is the convex hull of {off, on}, so the LP relaxation is tight venue by
    # venue (a single Σδ ≤ W·z row would be weaker and branch far more).
    width = m.blocked("fills", nonneg=True)
    cons = [m.fills[f] <= cp.multiply(w, m.m["expand"][f, t] @ m.used[t])
            for (f, t), w in zip(m.blocks, width.parts, strict=True)]
    # Implied by the rows above and z ≤ 1, but stated so the solver gets them as column bounds (simplex on bounded
    # columns is several times faster here); optimizer.highs turns these single-column rows into bounds.
    cons += [m.fills[f] <= w for (f, _), w in zip(m.blocks, width.parts, strict=True)]
    return TermParts(cons, params={"upper": width})


def _tick_gas(m: ModelContext) -> TermParts:
    """The gas of the ticks a fill crosses, paid once the fill enters the piece past them.

    ``δ_k ≤ w_k·e_k`` with ``e_k ≤ e_{k−1}`` and ``e_0 ≤ z``: a fill reaches piece k only through every piece before
    it, so skipping a piece whose crossing costs gas is impossible, and the gas ``g_k·e_k`` is a step where the
    curve breaks (a tick boundary), not a per-unit charge. The relaxation pays ``g_k·δ_k/w_k`` on a piece entered in
    part, so a fill ending just past a tick is decided by branch and bound.
    """
    if m.entered is None:
        return TermParts()
    width, gas = m.blocked("fills", nonneg=True), cp.Parameter(m.n_fills, nonneg=True)
    cons = [m.fills[f] <= cp.multiply(w, m.entered[f]) for (f, _), w in zip(m.blocks, width.parts, strict=True)]
    cons += [m.m["later"] @ m.entered <= 0, m.m["first"] @ m.entered <= m.used, m.entered <= 1, m.entered >= 0]
    return TermParts(cons, cost=gas @ m.entered, params={"upper": width, "tick_gas": gas})


def _gas(m: ModelContext) -> TermParts:
    gas = cp.Parameter(m.n_trades, nonneg=True)
    return TermParts(cost=gas @ m.used, params={"gas": gas})


def _fill_cost(m: ModelContext) -> TermParts:
    cost = cp.Parameter(m.n_fills)
    return TermParts(cost=cost @ m.fills, params={"cost": cost})


def _switches(m: ModelContext) -> TermParts:
    """A used trade is enabled, carries at least the minimum trade size; switches stay in [0, 1] when relaxed."""
    enabled, min_units = cp.Parameter(m.n_trades, nonneg=True), m.blocked("trades", nonneg=True)
    cons = [m.used <= enabled, m.used >= 0]
    cons += [m.m["per_trade"][t, f] @ m.fills[f] >= cp.multiply(mu, m.used[t])
             for (f, t), mu in zip(m.blocks, min_units.parts, strict=True)]
    return TermParts(cons, params={"enabled": enabled, "min_units": min_units})


def _impact(m: ModelContext) -> TermParts:
    """Average impact (fee excluded) of each trade within the cap: Σ_k (impact_k − cap)·δ_k ≤ 0."""
    slack = m.blocked("fills")
    cons = [m.m["per_trade"][t, f] @ cp.multiply(sl, m.fills[f]) <= 0
            for (f, t), sl in zip(m.blocks, slack.parts, strict=True)]
    return TermParts(cons, params={"impact_slack": slack})


def _direction(m: ModelContext) -> TermParts:
    """Never both buy and sell one underlying in a run (that would be an arbitrage loop, not a hedge)."""
    per_venue = m.m["venue_underlying"] @ m.sell_dir
    return TermParts([m.used[0::2] <= per_venue, m.used[1::2] <= 1 - per_venue, m.sell_dir <= 1, m.sell_dir >= 0])


def _band(m: ModelContext) -> TermParts:
    lower, upper = cp.Parameter(m.n_underlyings), cp.Parameter(m.n_underlyings)
    return TermParts([m.move >= lower, m.move <= upper], params={"move_lower": lower, "move_upper": upper})


def _inventory(m: ModelContext) -> TermParts:
    """Sell only the base each chain's wallet holds; spend only the quote it holds (before any proceeds).

    With bridge routes, a chain may also spend what its routes bring and must keep what it sends; what it spends
    beyond what it holds now is spent late (after the fill) and pays the wait (see optimizer.transfers)."""
    nb, nq = len(m.shape.base_groups), len(m.shape.quote_groups)
    inv_base, inv_quote = cp.Parameter(nb, nonneg=True), cp.Parameter(nq, nonneg=True)
    price = m.blocked("fills", nonneg=True)
    spent = cp.sum([m.m["quote"][:, f] @ cp.multiply(p, m.fills[f])
                    for (f, _), p in zip(m.blocks, price.parts, strict=True)])
    params = {"inv_base": inv_base, "inv_quote": inv_quote, "price": price}
    base_use, quote_use = m.m["base"] @ m.fills, spent
    if m.sent is None or m.received is None:
        return TermParts([base_use <= inv_base, quote_use <= inv_quote], params=params)
    base_use = base_use + m.m["out_base"] @ m.sent
    quote_use = quote_use + m.m["out_quote"] @ m.sent
    cons = [base_use <= inv_base + m.m["in_base"] @ m.received, quote_use <= inv_quote + m.m["in_quote"] @ m.received]
    late_base, late_quote = cp.Variable(nb, nonneg=True, name="late_base"), cp.Variable(nq, nonneg=True,
                                                                                       name="late_quote")
    wait_base, wait_quote = cp.Parameter(nb, nonneg=True), cp.Parameter(nq, nonneg=True)
    cons += [late_base >= base_use - inv_base, late_quote >= quote_use - inv_quote]
    return TermParts(cons, cost=wait_base @ late_base + wait_quote @ late_quote,
                     params={**params, "wait_base": wait_base, "wait_quote": wait_quote})


def _transfers(m: ModelContext) -> TermParts:
    """Bridge routes: amount within [min, cap] when the deposit is made, what arrives, the fee and origin gas, a
    route sends only what its origin holds now, and the inventory shortfall against the targets (optimizer.transfers).
    """
    if m.sent is None or m.bridged is None or m.received is None:
        return TermParts()
    nt, ng = m.n_transfers, len(m.shape.token_groups)
    keep, fixed = cp.Parameter(nt, nonneg=True), cp.Parameter(nt, nonneg=True)
    cap, least = cp.Parameter(nt, nonneg=True), cp.Parameter(nt, nonneg=True)
    per_unit, per_transfer, most = cp.Parameter(nt, nonneg=True), cp.Parameter(nt, nonneg=True), cp.Parameter(
        nonneg=True)
    held, level, short_usd = cp.Parameter(ng, nonneg=True), cp.Parameter(ng), cp.Parameter(ng, nonneg=True)
    short = cp.Variable(ng, nonneg=True, name="short")
    cons = [
        m.received == cp.multiply(keep, m.sent) - cp.multiply(fixed, m.bridged),
        m.sent <= cp.multiply(cap, m.bridged), m.sent >= cp.multiply(least, m.bridged),
        m.bridged <= 1, m.bridged >= 0, cp.sum(m.bridged) <= most,
        m.m["out_token"] @ m.sent <= held,
        short >= level - m.m["in_token"] @ m.received + m.m["out_token"] @ m.sent,
    ]
    cost = per_unit @ m.sent + per_transfer @ m.bridged + short_usd @ short
    return TermParts(cons, cost=cost, params={
        "keep": keep, "fixed": fixed, "cap": cap, "min_units": least, "usd_per_unit": per_unit,
        "usd_fixed": per_transfer, "max_transfers": most, "held": held, "level": level, "short_usd": short_usd})


def _limits(m: ModelContext) -> TermParts:
    notional, cap = cp.Parameter(m.n_fills, nonneg=True), cp.Parameter(nonneg=True)
    trades = cp.Parameter(nonneg=True)
    cons = [notional @ m.fills <= cap, cp.sum(m.used) <= trades]
    return TermParts(cons, params={"notional": notional, "max_notional": cap, "max_trades": trades})


def _risk(m: ModelContext) -> TermParts:
    """Epigraph of the piecewise-linear risk interpolant, one line per piece (see optimizer.problem)."""
    nu, lines = m.n_underlyings, m.shape.risk_points - 1
    slopes, intercepts = cp.Parameter((nu, lines)), cp.Parameter((nu, lines))
    risk = cp.Variable(nu, name="risk")
    spread = np.ones((1, lines))
    cons = [cp.reshape(risk, (nu, 1), order="C") @ spread
            >= cp.multiply(slopes, cp.reshape(m.move, (nu, 1), order="C") @ spread) + intercepts]
    return TermParts(cons, cost=cp.sum(risk), params={"slopes": slopes, "intercepts": intercepts})


CORE_TERMS: tuple[Term, ...] = (
    _Core("pieces", _pieces, ("upper",)),
    _Core("gas", _gas, ("gas",)),
    _Core("tick_gas", _tick_gas, ("upper", "tick_gas")),
    _Core("fill_cost", _fill_cost, ("cost",)),
    _Core("switches", _switches, ("enabled", "min_units")),
    _Core("impact_cap", _impact, ("impact_slack",)),
    _Core("one_direction", _direction, ()),
    _Core("band", _band, ("move_lower", "move_upper")),
    _Core("inventory", _inventory, ("inv_base", "inv_quote", "price")),
    _Core("limits", _limits, ("notional", "max_notional", "max_trades")),
    _Core("risk", _risk, ("slopes", "intercepts")),
    _Core("transfers", _transfers, ()),
)


@dataclass(frozen=True)
class VenueCap:
    """A user term: at most ``max_units`` base units on one venue and side (``venue`` is ``"chain/venue"``).

    Usage: ``plan(problem, terms=[VenueCap("arbitrum/v3", Side.SELL, max_units=5.0)])``
    """

    venue: str
    side: Side
    max_units: float

    @property
    def key(self) -> str:
        return "venue_cap"  # one per-trade parameter vector: the same structure whatever the venue

    def build(self, m: ModelContext) -> TermParts:
        cap = cp.Parameter(m.n_trades, nonneg=True)
        return TermParts([m.amounts <= cap], params={"cap": cap})

    def values(self, run: RunView) -> Mapping[str, Any]:
        k = run.data.width.size // max(1, len(run.states) * 2)
        cap = run.data.width.reshape(-1, k).sum(axis=1) if k else np.zeros(2 * len(run.states))
        j = run.trade_index(self.venue, self.side)
        if j is None:
            raise InputError(f"VenueCap: venue {self.venue!r} is not among the problem's venues")
        cap = cap.copy()
        cap[j] = min(cap[j], max(0.0, self.max_units))
        return {"cap": cap}
