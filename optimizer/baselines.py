"""Baselines the optimizer must never lose to, through the same code path (problem -> Plan, exact quotes):

* ``best_single``: the whole hedge on the one venue with the lowest gas-adjusted cost;
* ``router_split``: Uniswap's auto-router style: amounts on a 5 % grid over up to 7 venues, gas-adjusted
  (solved exactly by dynamic programming over the grid, which is at least as good as the router's search);
* ``greedy``: fill the cheapest pieces across all venues by marginal price, ignoring gas.

Each hedges a given signed amount per underlying (default: all the way to target) and respects the same switches,
impact cap, per-chain inventory, minimum trade size, trade count and notional limits; when it cannot, it raises
:class:`PlanError` saying so.

Usage::

    plans = {name: fn(problem, quoter=quote) for name, fn in BASELINES.items()}
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable

import numpy as np

from adapters import Curve, Side, VenueState
from crosshedge import PlanError
from optimizer.curves import curve_quote
from optimizer.diagnose import usable_venues
from optimizer.finalize import Allocation, Quoter, build_plan, registry_quoter, total_risk
from optimizer.packing import fee_rate
from optimizer.problem import HedgeProblem, Plan, SolveStats, trade_gas_usd, venue_key


def default_amounts(problem: HedgeProblem) -> dict[str, float]:
    """Signed base units to trade per underlying to land on target (+ buy, − sell)."""
    return {t.underlying: t.target - t.current_delta for t in problem.targets}


def impact_room(problem: HedgeProblem, st: VenueState, side: Side) -> float:
    """Largest trade on ``st`` whose average impact (fee excluded, against the venue's mid) stays within the cap."""
    curve = st.sell if side is Side.SELL else st.buy
    cap, f = problem.settings.max_price_impact_bps / 1e4 * st.mid_price, fee_rate(st)
    room = excess = 0.0
    for seg in curve.segments:
        imp = (st.mid_price - seg.price / (1 - f)) if side is Side.SELL else (seg.price * (1 - f) - st.mid_price)
        slack = imp - cap
        if excess + slack * seg.size <= 0:
            room, excess = room + seg.size, excess + slack * seg.size
            continue
        return room + (-excess / slack if slack > 0 else seg.size)
    return room


def _unit_cost(problem: HedgeProblem, st: VenueState, side: Side, base: float) -> float:
    """USD cost against mark (fee + impact) of ``base`` units along the venue's curve."""
    t = problem.target(st.underlying)
    assert t is not None
    q = curve_quote(st.sell if side is Side.SELL else st.buy, base)
    return t.mark_price_usd * base - q if side is Side.SELL else q - t.mark_price_usd * base


def _venues(problem: HedgeProblem, underlying: str, side: Side) -> list[tuple[VenueState, float]]:
    """Open venues for one underlying and side, with their capacity (impact room, chain inventory, curve)."""
    out = []
    for st in usable_venues(problem):
        if st.underlying != underlying or st.chain in problem.disabled_chains:
            continue
        if venue_key(st) in problem.disabled_venues:
            continue
        room = impact_room(problem, st, side)
        if side is Side.SELL:
            room = min(room, problem.inventory.get(st.chain, {}).get(st.base.symbol, 0.0))
        out.append((st, room))
    return out


def _check(problem: HedgeProblem, name: str, allocs: list[Allocation]) -> None:
    """Raise PlanError when the allocations break a limit the optimizer honours."""
    s = problem.settings
    sold: defaultdict[tuple[str, str], float] = defaultdict(float)
    spent: defaultdict[tuple[str, str], float] = defaultdict(float)
    notional = 0.0
    for a in allocs:
        t = problem.target(a.state.underlying)
        assert t is not None
        if a.base_amount * t.mark_price_usd < s.min_trade_usd * (1 - 1e-9):
            raise PlanError(f"baseline {name}: {venue_key(a.state)} gets less than optimizer.min_trade_usd")
        notional += a.base_amount * t.mark_price_usd
        if a.side is Side.SELL:
            sold[(a.state.chain, a.state.base.symbol)] += a.base_amount
        else:
            spent[(a.state.chain, a.state.quote.symbol)] += curve_quote(a.state.buy, a.base_amount)
    for (chain, sym), amount in [*sold.items(), *spent.items()]:
        if amount > problem.inventory.get(chain, {}).get(sym, 0.0) * (1 + 1e-9):
            raise PlanError(f"baseline {name}: needs {amount:g} {sym} on {chain}, more than the wallet holds")
    if s.max_trades is not None and len(allocs) > s.max_trades:
        raise PlanError(f"baseline {name}: needs {len(allocs)} trades, above optimizer.max_trades")
    if notional > s.max_notional_usd_per_run * (1 + 1e-9):
        raise PlanError(f"baseline {name}: ${notional:,.0f} of trades is above optimizer.max_notional_usd_per_run")


def _best_single(problem: HedgeProblem, underlying: str, side: Side, amount: float) -> list[Allocation]:
    best: tuple[float, VenueState] | None = None
    for st, room in _venues(problem, underlying, side):
        if room >= amount * (1 - 1e-12):
            total = trade_gas_usd(problem, st, side, amount) + _unit_cost(problem, st, side, amount)
            if best is None or total < best[0]:
                best = (total, st)
    if best is None:
        raise PlanError(f"baseline best_single: no single venue can {side} {amount:g} {underlying}")
    return [Allocation(best[1], side, amount)]


def _router_split(
    problem: HedgeProblem, underlying: str, side: Side, amount: float, *, grid: int = 20, max_splits: int = 7
) -> list[Allocation]:
    """Exact DP over (venues used ≤ max_splits, grid steps) of gas-adjusted cost."""
    venues = _venues(problem, underlying, side)
    steps = np.arange(grid + 1) * amount / grid
    inf = float("inf")
    table = np.full((max_splits + 1, grid + 1), inf)
    table[0, 0] = 0.0
    choices = []
    idx = np.arange(grid + 1)
    shift = idx[:, None] - idx[None, :]  # p - q
    for st, room in venues:
        cost = np.array([
            0.0 if q == 0 else (trade_gas_usd(problem, st, side, steps[q]) + _unit_cost(problem, st, side, steps[q]))
            if steps[q] <= room * (1 + 1e-12) else inf
            for q in range(grid + 1)
        ])
        prev = np.where(shift[None] >= 0, table[:-1][:, np.clip(shift, 0, grid)], inf) + cost[None, None, :]
        prev[:, :, 0] = inf  # q = 0 means "venue unused": handled by keeping the old row
        best_q = prev.argmin(axis=2)
        cand = np.take_along_axis(prev, best_q[..., None], axis=2)[..., 0]
        new = table.copy()
        take = cand < new[1:]
        new[1:] = np.where(take, cand, new[1:])
        choices.append(np.where(take, best_q, 0))
        table = new
    m = int(table[:, grid].argmin())
    if not np.isfinite(table[m, grid]):
        raise PlanError(f"baseline router_split: {max_splits} venues on a {grid}-step grid cannot {side} {amount:g}")
    out, p = [], grid
    for (st, _), choice in zip(reversed(venues), reversed(choices), strict=True):
        q = int(choice[m - 1, p]) if m > 0 else 0
        if q:
            out.append(Allocation(st, side, float(steps[q])))
            p, m = p - q, m - 1
    return out


def _greedy(problem: HedgeProblem, underlying: str, side: Side, amount: float) -> list[Allocation]:
    """Cheapest pieces first across all venues, gas ignored, within each venue's room and chain's inventory."""
    pieces = []
    for st, room in _venues(problem, underlying, side):
        curve: Curve = st.sell if side is Side.SELL else st.buy
        filled = 0.0
        for seg in curve.segments:
            size = min(seg.size, room - filled)
            if size <= 0:
                break
            pieces.append((seg.price if side is Side.BUY else -seg.price, st, size))
            filled += size
    pieces.sort(key=lambda p: p[0])
    left = amount
    per_venue: defaultdict[str, float] = defaultdict(float)
    used_inv: defaultdict[str, float] = defaultdict(float)
    for _, st, size in pieces:
        if left <= 0:
            break
        take = min(size, left)
        if side is Side.SELL:
            take = min(take, problem.inventory.get(st.chain, {}).get(st.base.symbol, 0.0) - used_inv[st.chain])
            used_inv[st.chain] += take
        per_venue[venue_key(st)] += take
        left -= take
    if left > amount * 1e-9:
        raise PlanError(f"baseline greedy: the open venues cannot {side} {amount:g} {underlying}")
    states = {venue_key(s): s for s in problem.venues}
    return [Allocation(states[k], side, v) for k, v in per_venue.items() if v > 0]


def _model_objective(problem: HedgeProblem, allocs: list[Allocation]) -> float:
    """The baseline's cost on the piecewise-linear curves plus the risk term, as the optimizer's model counts it."""
    residual = {t.underlying: t.current_delta for t in problem.targets}
    cost = 0.0
    for a in allocs:
        size = a.base_amount
        cost += trade_gas_usd(problem, a.state, a.side, size) + _unit_cost(problem, a.state, a.side, size)
        residual[a.state.underlying] += a.base_amount if a.side is Side.BUY else -a.base_amount
    return cost + total_risk(problem, residual)


Strategy = Callable[[HedgeProblem, str, Side, float], list[Allocation]]


def _baseline(name: str, strategy: Strategy) -> Callable[..., Plan]:
    def run(problem: HedgeProblem, amounts: dict[str, float] | None = None, quoter: Quoter | None = None) -> Plan:
        started = time.perf_counter()
        allocs: list[Allocation] = []
        for underlying, signed in (amounts if amounts is not None else default_amounts(problem)).items():
            if abs(signed) > 1e-12:
                allocs += strategy(problem, underlying, Side.BUY if signed > 0 else Side.SELL, abs(signed))
        _check(problem, name, allocs)
        stats = SolveStats(method=f"baseline:{name}", status="ok", solve_ms=(time.perf_counter() - started) * 1e3)
        return build_plan(problem, allocs, stats=stats, model_objective=_model_objective(problem, allocs),
                          quoter=quoter or registry_quoter, kind="baseline")

    run.__name__ = name
    run.__doc__ = f"Baseline {name!r} as a Plan (see module docstring). Usage: ``{name}(problem, quoter=q)``"
    return run


best_single = _baseline("best_single", _best_single)
router_split = _baseline("router_split", _router_split)
greedy = _baseline("greedy", _greedy)

BASELINES: dict[str, Callable[..., Plan]] = {"best_single": best_single, "router_split": router_split,
                                              "greedy": greedy}
