"""The last gate before a plan is returned: check every limit in raw units, repair a breach, or refuse.

The solver's amounts are real numbers on sampled curves; the trades are integers on the exact venues, so rounding can
land a trade a few raw units past a limit (an inventory overspent by a rounding step, a buy one raw unit short of the
minimum). :func:`repair` fixes such a breach by moving one trade's raw input the least amount toward the safe side
(trim what overspends or overshoots, top up what falls short), re-pricing it on the exact venue, and checks again;
when a few rounds do not converge it raises :class:`PlanError` naming the limit, so no plan that breaks a limit
leaves the optimizer.

Usage::

    safe = repair(problem, plan, quoter)         # the same plan when it already keeps every limit
"""

from __future__ import annotations

import math
from fractions import Fraction

from adapters import Side, VenueState
from crosshedge import AdapterError, PlanError
from optimizer import perps
from optimizer.finalize import Allocation, Quoter, exact_trade, plan_from_trades
from optimizer.limits import Breach, first_breach, trade_impact
from optimizer.perp_model import option_of
from optimizer.problem import HedgeProblem, Plan, PlannedTrade, venue_key

MAX_ROUNDS = 24


def _state(problem: HedgeProblem, tr: PlannedTrade) -> VenueState:
    return next(v for v in problem.venues if venue_key(v) == tr.venue_key)


def retrade(problem: HedgeProblem, plan: Plan, i: int, amount_in_raw: int, quoter: Quoter) -> Plan | None:
    """``plan`` with trade ``i`` re-sized to ``amount_in_raw`` (dropped at ≤ 0) and re-priced; None if it cannot."""
    trades = list(plan.trades)
    if amount_in_raw <= 0:
        del trades[i]
    else:
        tr = trades[i]
        try:
            trades[i] = exact_trade(problem, Allocation(_state(problem, tr), tr.side, tr.base_amount, amount_in_raw),
                                    quoter)
        except (PlanError, AdapterError):
            return None
    return plan_from_trades(problem, trades, stats=plan.stats, model_objective=plan.model_objective_usd,
                            transfers=plan.transfers, perp_trades=plan.perp_trades, explanation=plan.explanation,
                            kind=plan.kind)


def reperp(problem: HedgeProblem, plan: Plan, i: int, base: float) -> Plan | None:
    """``plan`` with perp trade ``i`` re-sized to ``base`` units (dropped at ≤ 0) and re-priced; None if it cannot."""
    pts = list(plan.perp_trades)
    option = option_of(problem, pts[i])
    if option is None:
        return None
    if base <= 0:
        del pts[i]
    else:
        pts[i] = perps.planned_perp_trade(option, pts[i].side, min(base, perps.capacity(option, pts[i].side)),
                                          problem.perp_funding_horizon_days, problem.perp_stress_move)
    return plan_from_trades(problem, plan.trades, stats=plan.stats, model_objective=plan.model_objective_usd,
                            transfers=plan.transfers, perp_trades=pts, explanation=plan.explanation, kind=plan.kind)


def _fix_perp(problem: HedgeProblem, plan: Plan, b: Breach) -> Plan | None:
    """A perp trade's own breach: past its margin or impact cap, cut to the largest size every rule allows."""
    i = b.perps[0]
    pt = plan.perp_trades[i]
    option = option_of(problem, pt)
    if option is None or b.kind not in ("perp_margin", "impact_cap"):
        return reperp(problem, plan, i, 0.0) if b.kind == "switched_off" else None
    most, _ = perps.room(option, pt.side, problem.perp_stress_move, problem.settings.max_price_impact_bps)
    return reperp(problem, plan, i, min(pt.base_amount, most * (1 - 1e-12)))


def _input_for_base(st: VenueState, tr: PlannedTrade, base: Fraction) -> int:
    """Raw input that changes the trade's base amount by about ``base`` (rounded up: a step never falls short)."""
    if tr.side is Side.SELL:
        scale: int = 10**st.base.decimals
        return math.ceil(base * scale)
    per_base = Fraction(tr.amount_in_raw) / Fraction(tr.expected_amount_out_raw, 10**st.base.decimals)
    return math.ceil(base * per_base) + 1


def _largest(plan: Plan, idx: tuple[int, ...], side: Side | None = None) -> int | None:
    pick = [i for i in idx if side is None or plan.trades[i].side is side]
    return max(pick, key=lambda i: plan.trades[i].base_amount) if pick else None


def _shrink_to_cap(problem: HedgeProblem, plan: Plan, i: int, quoter: Quoter) -> Plan | None:
    """Trade ``i`` cut to the largest input whose exact average impact is within the cap (impact grows with size)."""
    tr, cap = plan.trades[i], Fraction(problem.settings.max_price_impact_bps) / 10_000
    st = _state(problem, tr)
    lo, hi, best = 0, tr.amount_in_raw, None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        cand = retrade(problem, plan, i, mid, quoter)
        if cand is not None and trade_impact(st, cand.trades[i]) <= cap:
            lo, best = mid, cand
        else:
            hi = mid
    return best


def _fix(problem: HedgeProblem, plan: Plan, b: Breach, quoter: Quoter) -> Plan | None:
    """One step toward the safe side for breach ``b`` (see module docstring); None when no step applies."""
    if b.perps and b.kind not in ("band_above", "band_below"):
        return _fix_perp(problem, plan, b)
    if b.kind == "switched_off" and b.trades:
        return retrade(problem, plan, b.trades[0], 0, quoter)
    if b.kind == "impact_cap":
        return _shrink_to_cap(problem, plan, b.trades[0], quoter)
    if b.kind in ("inventory", "notional"):
        i = _largest(plan, b.trades)
        if i is None:
            return None
        tr = plan.trades[i]
        st = _state(problem, tr)
        if b.kind == "inventory":
            cut = int(b.excess)
        else:
            target = problem.target(tr.underlying)
            assert target is not None
            cut = _input_for_base(st, tr, b.excess / Fraction(target.mark_price_usd))
        return retrade(problem, plan, i, tr.amount_in_raw - cut, quoter)
    if b.kind == "min_trade":
        i = b.trades[0]
        tr = plan.trades[i]
        target = problem.target(tr.underlying)
        assert target is not None
        more = _input_for_base(_state(problem, tr), tr, b.excess / Fraction(target.mark_price_usd))
        return retrade(problem, plan, i, tr.amount_in_raw + more, quoter)
    if b.kind in ("band_above", "band_below"):
        return _fix_band(problem, plan, b, quoter)
    return None


def _fix_band(problem: HedgeProblem, plan: Plan, b: Breach, quoter: Quoter) -> Plan | None:
    """Above the band: sell more, else buy less; below it: buy more, else sell less. Trades are tried largest
    first, and the first step that clears the breach without breaking another limit wins (else the first that at
    least narrows it): a trade whose wallet is already empty is passed over."""
    grow, shrink = (Side.SELL, Side.BUY) if b.kind == "band_above" else (Side.BUY, Side.SELL)
    order = sorted(b.trades, key=lambda i: -plan.trades[i].base_amount)
    candidates = [(i, 1) for i in order if plan.trades[i].side is grow]
    candidates += [(i, -1) for i in order if plan.trades[i].side is shrink]
    fallback: Plan | None = None
    for i, sign in candidates:
        tr = plan.trades[i]
        step = _input_for_base(_state(problem, tr), tr, b.excess)
        cand = retrade(problem, plan, i, tr.amount_in_raw + sign * max(1, step), quoter)
        if cand is None:
            continue
        after = first_breach(problem, cand)
        if after is None:
            return cand
        if fallback is None and after.kind == b.kind and after.excess < b.excess:
            fallback = cand
    for j in b.perps:  # a perp trade's size is a float: step it by the excess (a hair more)
        pt = plan.perp_trades[j]
        sign = 1 if pt.side is grow else -1 if pt.side is shrink else 0
        cand = reperp(problem, plan, j, pt.base_amount + sign * float(b.excess) * (1 + 1e-9) + sign * 1e-12)
        if cand is not None and first_breach(problem, cand) is None:
            return cand
    return fallback


def repair(problem: HedgeProblem, plan: Plan, quoter: Quoter) -> Plan:
    """``plan`` when it keeps every limit in raw units, else a repaired copy; raises :class:`PlanError` if neither."""
    current, breach = plan, first_breach(problem, plan)
    for _ in range(MAX_ROUNDS):
        if breach is None:
            return current
        fixed = _fix(problem, current, breach, quoter)
        if fixed is None:
            break
        current, breach = fixed, first_breach(problem, fixed)
    if breach is None:
        return current
    raise PlanError(f"no plan is returned: {breach.message}, and moving its trades toward the safe side in raw units "
                    "did not fix it")

