"""Clear failures and explanations: check a problem before solving, say what binds when none is feasible, and say
why each venue was or wasn't used.

Usage::

    states = usable_venues(problem)          # raises InputError / StaleDataError on bad input
    raise infeasibility(problem, states, data)   # after the solver says infeasible: names the binding limit
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from adapters import Side, VenueState
from crosshedge import InfeasiblePlanError, InputError, StaleDataError
from optimizer import perps
from optimizer.packing import PackedData
from optimizer.perp_model import perp_options
from optimizer.problem import HedgeProblem, HedgeTarget, Plan, VenueExplanation, check_problem, venue_key, was_checked


def _finite(value: float) -> bool:
    return math.isfinite(value)


def _check_venue(problem: HedgeProblem, st: VenueState) -> None:
    key = venue_key(st)
    if key not in problem.gas_usd:
        raise InputError(f"gas_usd: no gas cost for venue {key!r}")
    gas = problem.gas_usd[key]
    if not _finite(gas) or gas < 0:
        raise InputError(f"gas_usd.{key}: expected a finite non-negative USD amount, got {gas!r}")
    if not _finite(st.mid_price) or st.mid_price <= 0:
        raise InputError(f"venues.{key}.mid_price: expected a positive price, got {st.mid_price!r}")
    for curve, side in ((st.sell, Side.SELL), (st.buy, Side.BUY)):
        if curve.side is not side:
            raise InputError(f"venues.{key}.{side}: the curve is labelled {curve.side}")
    age = problem.as_of - st.block_timestamp
    if age > problem.settings.max_curve_age_s:
        raise StaleDataError(
            f"venue {key}: its curve is {age} s old (block {st.block_number}), older than "
            f"optimizer.max_curve_age_s = {problem.settings.max_curve_age_s:g} s"
        )


def _check_target(problem: HedgeProblem, t: HedgeTarget) -> None:
    min_units = problem.settings.min_trade_usd / t.mark_price_usd
    if t.lower <= t.current_delta <= t.upper:
        return
    farthest = max(abs(t.current_delta - t.lower), abs(t.current_delta - t.upper))
    nearest = min(abs(t.current_delta - t.lower), abs(t.current_delta - t.upper))
    if farthest < min_units:
        raise InputError(
            f"{t.underlying}: the band [{t.lower:g}, {t.upper:g}] cannot be reached: reaching it takes between "
            f"{nearest:g} and {farthest:g} {t.underlying}, less than the smallest trade (optimizer.min_trade_usd "
            f"${problem.settings.min_trade_usd:g} = {min_units:g} {t.underlying})"
        )


def usable_venues(problem: HedgeProblem) -> list[VenueState]:
    """Validate the problem and return the venues that trade an underlying with a target, in a stable order."""
    if not problem.targets:
        raise InputError("targets: the problem has no hedge targets")
    names = [t.underlying for t in problem.targets]
    if len(set(names)) != len(names):
        raise InputError(f"targets: an underlying appears twice in {names}")
    if not problem.venues:
        raise InputError("venues: the problem lists no venues, so nothing can trade")
    try:  # the problem's own validation again if a model_copy(update=...) skipped it (pieces: checked in packing)
        if not was_checked(problem):
            check_problem(problem, segments=False)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    keys = [venue_key(s) for s in problem.venues]
    if len(set(keys)) != len(keys):
        raise InputError("venues: a chain/venue pair appears twice")
    for st in problem.venues:
        _check_venue(problem, st)
    for t in problem.targets:
        _check_target(problem, t)
    states = [s for s in problem.venues if s.underlying in set(names)]
    if not states:
        raise InputError(f"venues: none trades an underlying with a target ({', '.join(names)})")
    return sorted(states, key=venue_key)


def _open(problem: HedgeProblem, st: VenueState) -> bool:
    return st.chain not in problem.disabled_chains and venue_key(st) not in problem.disabled_venues


def _perp_room(problem: HedgeProblem, t: HedgeTarget, side: Side) -> tuple[float, str]:
    """What the open perp markets of ``t``'s underlying can trade on ``side`` within every rule, and a phrase
    naming each market and what stops it ("" without perps)."""
    total, parts = 0.0, []
    for option in perp_options(problem):
        if option.underlying != t.underlying or option.chain in problem.disabled_chains or \
                option.key in problem.disabled_venues:
            continue
        most, why = perps.room(option, side, problem.perp_stress_move, problem.settings.max_price_impact_bps)
        total += most
        parts.append(f"{most:g} {t.underlying} on perp {option.key} ({why.removeprefix(f'perp {option.key}: ')})")
    if not parts:
        return 0.0, ""
    return total, f", and the perp markets add at most {total:g} {t.underlying}: " + "; ".join(parts)


def _sell_shortfall(problem: HedgeProblem, t: HedgeTarget, need: float, states: list[VenueState],
                    perp: tuple[float, str] = (0.0, "")) -> str | None:
    chains = sorted({s.chain for s in states if s.underlying == t.underlying and _open(problem, s)})
    symbols = sorted({s.base.symbol for s in states if s.underlying == t.underlying})
    held = sum(problem.inventory.get(c, {}).get(sym, 0.0) for c in chains for sym in symbols)
    if held + perp[0] < need:
        where = " and ".join(chains) if chains else "no chain with an open venue"
        return (
            f"cannot sell {need:g} {t.underlying} of delta: the wallets hold {held:g} {'/'.join(symbols)} "
            f"on {where} together{perp[1]}"
        )
    return None


def _buy_shortfall(problem: HedgeProblem, t: HedgeTarget, need: float, states: list[VenueState],
                   perp: tuple[float, str] = (0.0, "")) -> str | None:
    venues = [s for s in states if s.underlying == t.underlying and _open(problem, s)]
    chains = sorted({s.chain for s in venues})
    quote_syms = sorted({s.quote.symbol for s in venues})
    held = sum(problem.inventory.get(c, {}).get(q, 0.0) for c in chains for q in quote_syms)
    cheapest = min((s.buy.segments[0].price for s in venues), default=t.mark_price_usd)
    if held < (need - perp[0]) * cheapest:
        return (
            f"cannot buy {need:g} {t.underlying} of delta: it costs at least ${need * cheapest:,.0f} and the wallets "
            f"hold {held:,.2f} {'/'.join(quote_syms)} on {' and '.join(chains) or 'no chain with an open venue'}"
            f"{perp[1]}"
        )
    return None


def infeasibility(problem: HedgeProblem, states: list[VenueState], data: PackedData) -> InfeasiblePlanError:
    """The error for an infeasible model, naming every underlying whose band binds on its own (each with its first
    binding limit, in underlying order), else the run's notional cap, else the combination."""
    s = problem.settings
    total_notional = 0.0
    reasons: list[str] = []
    for t in sorted(problem.targets, key=lambda target: target.underlying):
        if t.current_delta > t.upper:
            side, need = Side.SELL, t.current_delta - t.upper
        elif t.current_delta < t.lower:
            side, need = Side.BUY, t.lower - t.current_delta
        else:
            continue
        total_notional += need * t.mark_price_usd
        reason = _target_limit(problem, t, side, need, states, data)
        if reason:
            reasons.append(reason)
    if reasons:  # every one of them, so the sentence never depends on which underlying was looked at first
        return InfeasiblePlanError("; ".join(reasons))
    if total_notional > s.max_notional_usd_per_run:
        return InfeasiblePlanError(
            f"reaching the bands needs at least ${total_notional:,.0f} of trades, above optimizer."
            f"max_notional_usd_per_run = ${s.max_notional_usd_per_run:,.0f}"
        )
    return InfeasiblePlanError(
        "no plan meets every limit at once: each band is reachable alone, but together the inventory per chain, the "
        "impact cap, max_trades and max_notional_usd_per_run cannot all hold (loosen one of them)"
    )


def _target_limit(problem: HedgeProblem, t: HedgeTarget, side: Side, need: float, states: list[VenueState],
                  data: PackedData) -> str | None:
    """The first limit that keeps ``t``'s band out of reach on its own (None when it is reachable alone)."""
    s = problem.settings
    venues = [v for v in states if v.underlying == t.underlying]
    open_venues = [v for v in venues if _open(problem, v)]
    perp = _perp_room(problem, t, side)  # the perp markets' room, and a phrase naming them (none: (0, ""))
    if not open_venues and perp[0] < need:
        off = ", ".join(venue_key(v) for v in venues) or "none configured"
        return (f"cannot {side} {need:g} {t.underlying} of delta: no open venue trades {t.underlying} "
                f"(switched off or missing: {off}){perp[1]}")
    if not open_venues:
        return None
    short = (_sell_shortfall if side is Side.SELL else _buy_shortfall)(problem, t, need, states, perp)
    if short:
        return short
    room = _room_under_impact_cap(open_venues, side, data, states)
    if room + perp[0] < need:
        return (f"cannot {side} {need:g} {t.underlying} of delta: the open venues' curves hold only {room:g} "
                f"{t.underlying} within optimizer.max_price_impact_bps = {s.max_price_impact_bps:g}{perp[1]}")
    per_chain = _per_chain_inventory(problem, t, side, need - perp[0], open_venues, data, states)
    if per_chain:
        return per_chain + perp[1]
    if s.max_trades is not None and not perp[1]:
        best = sorted((_venue_room(v, side, data, states) for v in open_venues), reverse=True)[: s.max_trades]
        if sum(best) < need:
            return (f"cannot {side} {need:g} {t.underlying} of delta in optimizer.max_trades = {s.max_trades} "
                    f"trades: the {s.max_trades} deepest venues hold only {sum(best):g} {t.underlying} within the "
                    "impact cap")
    return None


def _chain_capacity(problem: HedgeProblem, side: Side, venues: list[VenueState], data: PackedData,
                    states: list[VenueState]) -> tuple[float, float, str]:
    """On one chain: base its venues can move within the impact cap, how much of it the chain's wallet can pay
    for (cheapest pieces first), and the inventory token."""
    k = data.width.size // (2 * len(states))
    st0 = venues[0]
    token = st0.base.symbol if side is Side.SELL else st0.quote.symbol
    held = problem.inventory.get(st0.chain, {}).get(token, 0.0)
    pieces: list[tuple[float, float]] = []  # (quote per base, width) inside each venue's impact room
    for st in venues:
        room = _venue_room(st, side, data, states)
        j = (2 * states.index(st) + (0 if side is Side.SELL else 1)) * k
        for w, p in zip(data.width[j : j + k], data.price[j : j + k], strict=True):
            take = min(float(w), room)
            if take > 0:
                pieces.append((float(p), take))
            room -= take
    room_total = sum(w for _, w in pieces)
    if side is Side.SELL:
        return room_total, min(room_total, held), token
    paid, left = 0.0, held
    for price, width in sorted(pieces):
        take = width if price <= 0 else min(width, left / price)
        paid, left = paid + take, left - take * price
        if left <= 0:
            break
    return room_total, paid, token


def _per_chain_inventory(problem: HedgeProblem, t: HedgeTarget, side: Side, need: float, venues: list[VenueState],
                         data: PackedData, states: list[VenueState]) -> str | None:
    """The message when each chain's wallet can only pay for part of its own venues' room and together too little."""
    by_chain: defaultdict[str, list[VenueState]] = defaultdict(list)
    for st in venues:
        by_chain[st.chain].append(st)
    total, binding = 0.0, []
    for chain, group in sorted(by_chain.items()):
        room, usable, token = _chain_capacity(problem, side, group, data, states)
        total += usable
        if usable < room * (1 - 1e-9):
            binding.append(f"({chain}, {token}) inventory allows {usable:g} of {room:g} {t.underlying}")
    if total >= need * (1 - 1e-9) or not binding:
        return None
    return (f"cannot {side} {need:g} {t.underlying} of delta: each chain's wallet pays only for its own venues, "
            f"and together they reach {total:g} {t.underlying}: " + "; ".join(binding))


def _venue_room(st: VenueState, side: Side, data: PackedData, states: list[VenueState]) -> float:
    """Largest trade on one venue whose average impact stays within the cap (pieces fill in order)."""
    v = states.index(st)
    k = data.width.size // (2 * len(states))
    j = (2 * v + (0 if side is Side.SELL else 1)) * k
    width, slack = data.width[j : j + k], data.impact_slack[j : j + k]
    cum = np.cumsum(width * slack)
    room = 0.0
    for i in range(k):
        prior = cum[i - 1] if i else 0.0
        if width[i] <= 0:
            break
        if cum[i] <= 0:
            room += width[i]
            continue
        if slack[i] > 0 and prior <= 0:
            room += -prior / slack[i]
        break
    return room


def _room_under_impact_cap(venues: list[VenueState], side: Side, data: PackedData, states: list[VenueState]) -> float:
    return sum(_venue_room(v, side, data, states) for v in venues)


def explain(problem: HedgeProblem, states: list[VenueState], data: PackedData, plan: Plan) -> list[VenueExplanation]:
    """Why each venue was or wasn't used: its first piece's cost per unit and its gas against the plan's margin."""
    k = data.width.size // (2 * len(states))
    used = {(t.venue_key, t.side) for t in plan.trades}
    margin: dict[str, float] = defaultdict(float)  # the plan's marginal cost per unit, per underlying
    traded: dict[str, float] = defaultdict(float)
    for tr in plan.trades:
        traded[tr.underlying] += tr.base_amount
        margin[tr.underlying] = max(margin[tr.underlying], (tr.fee_usd + tr.impact_usd) / tr.base_amount)
    out: list[VenueExplanation] = []
    for v, st in enumerate(states):
        t = problem.target(st.underlying)
        assert t is not None
        side = next((tr.side for tr in plan.trades if tr.underlying == st.underlying), None)
        if side is None:
            side = Side.SELL if t.current_delta > t.target else Side.BUY if t.current_delta < t.target else None
        key, gas = venue_key(st), problem.gas_usd[venue_key(st)]
        if side is None:
            out.append(VenueExplanation(venue=key, underlying=st.underlying, side=None, used=False,
                                        marginal_cost_usd=None, gas_usd=gas, reason="delta is at target"))
            continue
        j = (2 * v + (0 if side is Side.SELL else 1)) * k
        widths, costs = data.width[j : j + k], data.cost[j : j + k]
        first = float(costs[0])
        reason = _reason(problem, st, side=side, used=(key, side) in used, first=first, widths=widths, costs=costs,
                         gas=gas, margin=margin.get(st.underlying), traded=traded.get(st.underlying, 0.0), t=t)
        out.append(VenueExplanation(venue=key, underlying=st.underlying, side=side, used=(key, side) in used,
                                    marginal_cost_usd=first, gas_usd=gas, reason=reason))
    return out


def _reason(
    problem: HedgeProblem, st: VenueState, *, side: Side, used: bool, first: float, widths: np.ndarray,
    costs: np.ndarray, gas: float, margin: float | None, traded: float, t: HedgeTarget,
) -> str:
    if st.chain in problem.disabled_chains:
        return f"chain {st.chain} is switched off (circuit breaker)"
    if venue_key(st) in problem.disabled_venues:
        return "venue is switched off (circuit breaker)"
    if used:
        return f"used: first piece costs ${first:.4f}/unit against mark, enough saved to pay its ${gas:.2f} gas"
    if side is Side.SELL and problem.inventory.get(st.chain, {}).get(st.base.symbol, 0.0) <= 0:
        return f"the {st.chain} wallet holds no {st.base.symbol} to sell"
    if side is Side.BUY and problem.inventory.get(st.chain, {}).get(st.quote.symbol, 0.0) <= 0:
        return f"the {st.chain} wallet holds no {st.quote.symbol} to buy with"
    if margin is None:
        slope = 2 * t.risk_price * abs(t.current_delta - t.target)
        return (f"no trade pays: its first piece costs ${first:.4f}/unit plus ${gas:.2f} gas, against risk "
                f"removed worth at most ${slope:.4f}/unit")
    if first >= margin:
        return f"its first piece costs ${first:.4f}/unit, above the plan's marginal ${margin:.4f}/unit"
    live = widths > 0
    saving = float(np.sum(np.clip(margin - costs[live], 0, None) * widths[live]))
    saving = min(saving, (margin - first) * traded)
    return (f"cheaper at the margin (${first:.4f} < ${margin:.4f}/unit) but would save at most ${saving:.2f}, "
            f"less than its ${gas:.2f} gas (or a limit binds)")
