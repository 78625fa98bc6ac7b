"""From base amounts per venue to an exact :class:`Plan`: raw integer amounts, the adapter's exact quote, min out,
the cost breakdown against mark and the residual deltas. The optimizer and every baseline end here, so they are
scored the same way.

Usage::

    plan = build_plan(problem, [Allocation(state, Side.SELL, 12.5)], stats, model_objective, quoter)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from adapters import Curve, Side, VenueState, default_registry
from crosshedge import PlanError, QuoteOutOfRangeError
from optimizer import synthetic
from optimizer.curves import curve_capacity, curve_quote
from optimizer.packing import fee_rate
from optimizer.perps import PlannedPerpTrade
from optimizer.problem import (
    CostBreakdown,
    HedgeProblem,
    Plan,
    PlannedTrade,
    PlannedTransfer,
    SolveStats,
    VenueExplanation,
    risk_usd,
    trade_gas_usd,
    venue_key,
)
from optimizer.transfers import inventory_usd, staged_trades

#: Exact amount out (raw) for an exact-in swap of ``amount_in`` raw units on ``state`` (an adapter's ``quote``).
Quoter = Callable[[VenueState, Side, int], int]


def registry_quoter(state: VenueState, side: Side, amount_in: int) -> int:
    """The exact quote of the venue's own adapter, found through the adapter registry (synthetic venues built in)."""
    if state.adapter == synthetic.ADAPTER:
        return synthetic.cp_quote(state, side, amount_in)
    return default_registry().venue(state.adapter).quote(state, side, amount_in)


@dataclass(frozen=True)
class Allocation:
    """``base_amount`` (human base units) to sell or buy on one venue; ``amount_in_raw``, when set, is the exact
    input to send instead (the polish step moves raw inputs between venues)."""

    state: VenueState
    side: Side
    base_amount: float
    amount_in_raw: int | None = None




def input_window(curve: Curve, side: Side, state: VenueState) -> int:
    """The most raw input the venue's state covers: its curve's whole input (base for sells, quote for buys)."""
    scale: int = 10 ** (state.base.decimals if side is Side.SELL else state.quote.decimals)
    amount = curve_capacity(curve) if side is Side.SELL else curve_quote(curve, curve_capacity(curve))
    return math.floor(amount * scale)


def input_for_output(quoter: Quoter, st: VenueState, side: Side, want: int, guess: int) -> int:
    """The least raw input whose exact quote gives at least ``want`` raw out, searched only inside the input the
    venue's state covers (:func:`input_window`; past it a V3 read window raises). When even the whole window gives
    less, the whole window is returned (the trade is trimmed; the raw-unit check then sees the shortfall)."""
    curve = st.sell if side is Side.SELL else st.buy
    window = max(1, input_window(curve, side, st))

    def enough(x: int) -> bool | None:
        try:
            return quoter(st, side, x) >= want
        except QuoteOutOfRangeError:
            return None  # past what the state covers

    if want <= 0 or guess <= 0:
        return max(min(guess, window), 0)
    lo, hi = 0, min(max(1, guess + 1), window)
    while (ok := enough(hi)) is False and hi < window:
        lo, hi = hi, min(2 * hi, window)
    if ok is None:  # the window ends before ``hi``: the largest input still covered, trimmed
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if enough(mid) is None else (mid, hi)
        return max(lo, 1)
    if not ok:
        return hi  # trimmed to the window
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if enough(mid) else (mid, hi)
    return hi


def exact_trade(problem: HedgeProblem, alloc: Allocation, quoter: Quoter) -> PlannedTrade:
    """One allocation as an exact-in swap, priced by the exact venue model."""
    st, side = alloc.state, alloc.side
    bscale, qscale = 10**st.base.decimals, 10**st.quote.decimals
    curve = st.sell if side is Side.SELL else st.buy
    if alloc.amount_in_raw is not None:
        amount_in = alloc.amount_in_raw
    elif side is Side.SELL:
        amount_in = math.floor(alloc.base_amount * bscale)
    else:
        guess = math.floor(curve_quote(curve, alloc.base_amount) * qscale)
        amount_in = input_for_output(quoter, st, side, math.ceil(alloc.base_amount * bscale - 1e-6), guess)
    if amount_in <= 0:
        raise PlanError(f"{venue_key(st)}: a {side} of {alloc.base_amount:g} {st.base.symbol} rounds to zero raw units")
    out = quoter(st, side, amount_in)
    if out <= 0:
        raise PlanError(f"{venue_key(st)}: the exact quote for {amount_in} raw {side} input is zero")
    min_out = max(1, math.floor(out * (1 - problem.slippage_bps / 1e4)))
    target = problem.target(st.underlying)
    assert target is not None
    mark, f = target.mark_price_usd, fee_rate(st)
    if side is Side.SELL:
        base, quote = amount_in / bscale, out / qscale
        cost, fee = mark * base - quote, quote * f / (1 - f)
        tin, tout = st.base.symbol, st.quote.symbol
    else:
        base, quote = out / bscale, amount_in / qscale
        cost, fee = quote - mark * base, quote * f
        tin, tout = st.quote.symbol, st.base.symbol
    return PlannedTrade(
        chain=st.chain, venue=st.venue, underlying=st.underlying, side=side, token_in=tin, token_out=tout,
        base_amount=base, quote_amount=quote, amount_in_raw=amount_in, expected_amount_out_raw=out,
        min_amount_out_raw=min_out, expected_price=quote / base, gas_usd=trade_gas_usd(problem, st, side, base),
        fee_usd=fee, impact_usd=cost - fee,
    )


def residuals(problem: HedgeProblem, trades: Sequence[PlannedTrade],
              perp_trades: Sequence[PlannedPerpTrade] = ()) -> dict[str, float]:
    """Each underlying's delta after the trades and perp trades (buys and longs add, sells and shorts remove)."""
    out = {t.underlying: t.current_delta for t in problem.targets}
    for tr in trades:
        out[tr.underlying] += tr.base_amount if tr.side is Side.BUY else -tr.base_amount
    for pt in perp_trades:
        out[pt.underlying] += pt.signed_amount
    return out


def total_risk(problem: HedgeProblem, residual: dict[str, float]) -> float:
    return sum(risk_usd(t, residual[t.underlying], problem.settings.risk_pieces) for t in problem.targets)


def build_plan(
    problem: HedgeProblem,
    allocations: Sequence[Allocation],
    *,
    stats: SolveStats,
    model_objective: float,
    quoter: Quoter,
    explanation: Sequence[VenueExplanation] = (),
    kind: str = "optimal",
    transfers: Sequence[PlannedTransfer] = (),
    perp_trades: Sequence[PlannedPerpTrade] = (),
) -> Plan:
    """Exact trades, cost breakdown, residuals and objective for the given allocations (and transfers and perp
    trades, already priced: :func:`optimizer.perps.planned_perp_trade`)."""
    trades = [exact_trade(problem, a, quoter) for a in allocations]
    return plan_from_trades(problem, trades, stats=stats, model_objective=model_objective, explanation=explanation,
                            kind=kind, transfers=transfers, perp_trades=perp_trades)


def plan_from_trades(
    problem: HedgeProblem,
    trades: Sequence[PlannedTrade],
    *,
    stats: SolveStats,
    model_objective: float,
    explanation: Sequence[VenueExplanation] = (),
    kind: str = "optimal",
    transfers: Sequence[PlannedTransfer] = (),
    perp_trades: Sequence[PlannedPerpTrade] = (),
) -> Plan:
    """Cost breakdown, residuals, risk and objective of already priced trades, the plan's transfers and its perp
    trades: a trade that spends what a transfer brings is marked staged and its wait priced (optimizer.transfers);
    a perp trade adds its gas, fee, impact and funding (optimizer.perps)."""
    wait, late = staged_trades(problem, trades, transfers)
    trades = [t.model_copy(update={"staged": i in late}) if t.staged != (i in late) else t
              for i, t in enumerate(trades)]
    bridge_fee, bridge_gas = sum(t.fee_usd for t in transfers), sum(t.gas_usd for t in transfers)
    perp_total = sum(p.cost_usd for p in perp_trades)
    cost = CostBreakdown(
        gas_usd=sum(t.gas_usd for t in trades), fee_usd=sum(t.fee_usd for t in trades),
        impact_usd=sum(t.impact_usd for t in trades), bridge_fee_usd=bridge_fee, bridge_gas_usd=bridge_gas,
        wait_usd=wait, perp_gas_usd=sum(p.gas_usd for p in perp_trades),
        perp_fee_usd=sum(p.fee_usd for p in perp_trades), perp_impact_usd=sum(p.impact_usd for p in perp_trades),
        funding_usd=sum(p.funding_usd for p in perp_trades),
        total_usd=sum(t.cost_usd for t in trades) + bridge_fee + bridge_gas + wait + perp_total,
    )
    rebalance = inventory_usd(problem, transfers)
    residual = residuals(problem, trades, perp_trades)
    risk = total_risk(problem, residual)
    note = ""
    if not trades and not transfers and not perp_trades:
        note = (
            "no trade is the optimum: every delta is inside its band and no set of trades costs less than the "
            f"risk it would remove (risk term now ${risk:,.2f})"
        )
    return Plan(
        trades=list(trades), cost=cost, pre_trade_delta={t.underlying: t.current_delta for t in problem.targets},
        residual_delta=residual, risk_usd=risk, objective_usd=cost.total_usd + risk + rebalance,
        model_objective_usd=model_objective, stats=stats, explanation=list(explanation), note=note,
        kind="baseline" if kind == "baseline" else "optimal", transfers=list(transfers), inventory_usd=rebalance,
        perp_trades=tuple(perp_trades),
    )
