"""Score a plan by executing it against the exact venue models (each adapter's ``quote``), never by the solver's
objective; and turn a plan into the swap orders an executor sends.

Usage::

    result = replay(plan, problem)                 # exact quotes through the adapter registry
    print(result.cost_usd, result.residual_delta)
    for order in swap_orders(plan): ...            # chain, venue, side, amount_in_raw, min_amount_out_raw
"""

from __future__ import annotations

from adapters import Side
from crosshedge import Frozen, PlanError
from optimizer import perps
from optimizer.finalize import Quoter, registry_quoter, total_risk
from optimizer.packing import fee_rate
from optimizer.perp_model import option_of
from optimizer.problem import HedgeProblem, Plan, trade_gas_usd, venue_key


class SwapOrder(Frozen):
    """One exact-in swap to send: the executor needs nothing else from the plan."""

    chain: str
    venue: str
    side: Side
    amount_in_raw: int
    min_amount_out_raw: int


class ReplayedTrade(Frozen):
    venue: str  # "chain/venue"
    side: Side
    amount_in_raw: int
    amount_out_raw: int
    meets_min_out: bool
    base_amount: float
    quote_amount: float
    gas_usd: float
    fee_usd: float
    cost_usd: float  # gas + fee + impact against the underlying's mark


class ReplayedPerpTrade(Frozen):
    """A perp trade of the plan priced again on its market's curve in the problem (optimizer.perps)."""

    market: str  # "chain/market"
    side: Side
    base_amount: float
    quote_amount: float
    gas_usd: float
    fee_usd: float
    funding_usd: float
    cost_usd: float  # gas + fee + impact against the perp's mark + funding over the horizon
    margin_ok: bool  # the account keeps its margin rules after it (always, for a reduce-only trade)


class ReplayResult(Frozen):
    """Realised USD cost (gas + fee + impact against mark, and the perp trades' costs), residual deltas and the
    risk term there. ``gas_usd``, ``fee_usd`` and ``impact_usd`` are the swaps'; ``perp_cost_usd`` the perp trades'
    (gas, fee, impact and funding); ``cost_usd`` both."""

    trades: list[ReplayedTrade]
    gas_usd: float
    fee_usd: float
    impact_usd: float
    cost_usd: float
    residual_delta: dict[str, float]
    risk_usd: float
    objective_usd: float  # cost_usd + risk_usd: what the optimizer minimises, measured exactly
    perp_trades: tuple[ReplayedPerpTrade, ...] = ()
    perp_cost_usd: float = 0.0


def swap_orders(plan: Plan) -> list[SwapOrder]:
    """The plan's trades as swap orders, in plan order."""
    return [
        SwapOrder(chain=t.chain, venue=t.venue, side=t.side, amount_in_raw=t.amount_in_raw,
                  min_amount_out_raw=t.min_amount_out_raw)
        for t in plan.trades
    ]


def replay(plan: Plan, problem: HedgeProblem, quoter: Quoter | None = None) -> ReplayResult:
    """Execute every trade of ``plan`` on the exact model of its venue's state in ``problem``."""
    quote = quoter or registry_quoter
    states = {venue_key(s): s for s in problem.venues}
    residual = {t.underlying: t.current_delta for t in problem.targets}
    out: list[ReplayedTrade] = []
    for tr in plan.trades:
        st = states.get(tr.venue_key)
        if st is None:
            raise PlanError(f"replay: venue {tr.venue_key} of the plan is not in the problem")
        target = problem.target(st.underlying)
        assert target is not None
        got = quote(st, tr.side, tr.amount_in_raw)
        bscale, qscale, f, mark = 10**st.base.decimals, 10**st.quote.decimals, fee_rate(st), target.mark_price_usd
        if tr.side is Side.SELL:
            base, quote_amt = tr.amount_in_raw / bscale, got / qscale
            cost, fee = mark * base - quote_amt, quote_amt * f / (1 - f)
            residual[st.underlying] -= base
        else:
            base, quote_amt = got / bscale, tr.amount_in_raw / qscale
            cost, fee = quote_amt - mark * base, quote_amt * f
            residual[st.underlying] += base
        gas = trade_gas_usd(problem, st, tr.side, base)
        out.append(ReplayedTrade(
            venue=tr.venue_key, side=tr.side, amount_in_raw=tr.amount_in_raw, amount_out_raw=got,
            meets_min_out=got >= tr.min_amount_out_raw, base_amount=base, quote_amount=quote_amt, gas_usd=gas,
            fee_usd=fee, cost_usd=gas + cost,
        ))
    gas_total, fee_total = sum(t.gas_usd for t in out), sum(t.fee_usd for t in out)
    cost_total = sum(t.cost_usd for t in out)
    hedges = [_replay_perp(problem, pt, residual) for pt in plan.perp_trades]
    perp_total = sum(p.cost_usd for p in hedges)
    risk = total_risk(problem, residual)
    return ReplayResult(
        trades=out, gas_usd=gas_total, fee_usd=fee_total, impact_usd=cost_total - gas_total - fee_total,
        cost_usd=cost_total + perp_total, residual_delta=residual, risk_usd=risk,
        objective_usd=cost_total + perp_total + risk, perp_trades=tuple(hedges), perp_cost_usd=perp_total,
    )


def _replay_perp(problem: HedgeProblem, pt: perps.PlannedPerpTrade, residual: dict[str, float]) -> ReplayedPerpTrade:
    """One perp trade priced on its market's curve in ``problem`` (its delta added to ``residual``)."""
    option = option_of(problem, pt)
    if option is None:
        raise PlanError(f"replay: perp market {pt.key} of the plan is not in the problem")
    if pt.base_amount > perps.capacity(option, pt.side) * (1 + 1e-12):
        raise PlanError(f"replay: perp {pt.key}: {pt.base_amount:g} {pt.underlying} is past its curve")
    signed = pt.signed_amount
    quote, cost = perps.quote_for(option, pt.side, pt.base_amount), perps.trade_cost_usd(option, pt.side,
                                                                                         pt.base_amount)
    funding = perps.funding_usd(option, signed, problem.perp_funding_horizon_days)
    residual[option.underlying] = residual.get(option.underlying, 0.0) + signed
    return ReplayedPerpTrade(
        market=option.key, side=pt.side, base_amount=pt.base_amount, quote_amount=quote, gas_usd=option.gas_usd,
        fee_usd=perps.fee_usd(option, pt.side, pt.base_amount), funding_usd=funding,
        cost_usd=option.gas_usd + cost + funding,
        margin_ok=perps.breach(option, signed, perps.value_cost_usd(option, pt.side, pt.base_amount),
                               problem.perp_stress_move) is None,
    )
