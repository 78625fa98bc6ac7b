"""Every limit of a plan checked on its exact raw amounts, and a breach described so it can be repaired.

Amounts are compared exactly (``fractions.Fraction``; inventory as the raw units the wallet's balance floors to),
with one allowance: the band is met to the resolution of the raw units a trade is made in. A sell's input is exact
to one raw base unit; a buy is exact-in in the quote token, so its output moves in steps of what one raw quote unit
buys. The band is therefore widened, per trade, by one raw base unit plus (buys) that step; nothing else has slack.

Usage::

    breach = first_breach(problem, plan)        # None when every limit holds
    text = violation(problem, plan)             # the same, as one sentence (or None)
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction

from adapters import Side, VenueState
from optimizer import perps
from optimizer.perp_model import option_of
from optimizer.problem import HedgeProblem, Plan, PlannedTrade, venue_key
from optimizer.transfers import Flows


@dataclass(frozen=True)
class Breach:
    """One broken limit: its name, the trades it concerns, and how far (``excess`` > 0; units in ``unit``).

    ``kind``: ``switched_off``, ``min_trade``, ``impact_cap``, ``inventory``, ``notional``, ``max_trades``,
    ``band_above`` (the residual is above the band: sell more / buy less) or ``band_below``; for a perp trade
    ``perp_margin`` (initial margin or liquidation distance, :func:`optimizer.perps.breach`) and the per-trade kinds
    above, its index in ``perps``.
    """

    kind: str
    message: str
    trades: tuple[int, ...]
    excess: Fraction
    unit: str  # "raw", "usd", "base", "trades", ""
    perps: tuple[int, ...] = ()  # indices into plan.perp_trades


def raw_balance(amount: float, decimals: int) -> int:
    """The raw units a human balance holds (floored: a wallet cannot spend a fraction of a raw unit)."""
    return int(Fraction(amount) * 10**decimals) if amount > 0 else 0


def trade_impact(st: VenueState, tr: PlannedTrade) -> Fraction:
    """Average impact of a trade against its venue's mid, fee excluded, as an exact fraction of mid."""
    f = Fraction(st.fee_pips, 1_000_000)
    mid = Fraction(st.mid_price)
    bscale, qscale = 10**st.base.decimals, 10**st.quote.decimals
    if tr.side is Side.SELL:
        price = Fraction(tr.expected_amount_out_raw, qscale) / Fraction(tr.amount_in_raw, bscale)
        return (mid - price / (1 - f)) / mid
    price = Fraction(tr.amount_in_raw, qscale) / Fraction(tr.expected_amount_out_raw, bscale)
    return (price * (1 - f) - mid) / mid


def base_raw(tr: PlannedTrade) -> int:
    return tr.amount_in_raw if tr.side is Side.SELL else tr.expected_amount_out_raw


def _per_trade(problem: HedgeProblem, plan: Plan, states: dict[str, VenueState]) -> Breach | None:
    s = problem.settings
    for i, tr in enumerate(plan.trades):
        st, target = states[tr.venue_key], problem.target(tr.underlying)
        assert target is not None
        if st.chain in problem.disabled_chains or tr.venue_key in problem.disabled_venues:
            return Breach("switched_off", f"{tr.venue_key} is switched off", (i,), Fraction(1), "")
        usd = Fraction(base_raw(tr), 10**st.base.decimals) * Fraction(target.mark_price_usd)
        if usd < Fraction(s.min_trade_usd):
            return Breach("min_trade", f"{tr.venue_key}: ${float(usd):,.4f} is below optimizer.min_trade_usd "
                          f"${s.min_trade_usd:g}", (i,), Fraction(s.min_trade_usd) - usd, "usd")
        over = trade_impact(st, tr) - Fraction(s.max_price_impact_bps) / 10_000
        if over > 0:
            return Breach("impact_cap", f"{tr.venue_key}: average impact above optimizer.max_price_impact_bps = "
                          f"{s.max_price_impact_bps:g}", (i,), over, "")
    return None


#: A perp trade's size is a float the account sets to 1e-18 of a base unit: the band is met to this resolution.
PERP_RESOLUTION = Fraction(1, 10**12)


def _per_perp(problem: HedgeProblem, plan: Plan) -> Breach | None:
    """Each perp trade: its market known and switched on, at least the minimum size, within the impact cap (against
    the mark) and, when it grows the position, within the account's margin."""
    s = problem.settings
    for i, pt in enumerate(plan.perp_trades):
        option, target = option_of(problem, pt), problem.target(pt.underlying)
        if option is None or target is None:
            return Breach("switched_off", f"perp {pt.key} is not a perp market of the problem", (), Fraction(1), "",
                          (i,))
        if option.chain in problem.disabled_chains or option.key in problem.disabled_venues:
            return Breach("switched_off", f"perp {pt.key} is switched off", (), Fraction(1), "", (i,))
        least = max(option.min_trade, s.min_trade_usd / target.mark_price_usd)
        if pt.base_amount < least * (1 - 1e-12):
            return Breach("min_trade", f"perp {pt.key}: {pt.base_amount:g} {pt.underlying} is below the minimum "
                          f"{least:g}", (), Fraction(least) - Fraction(pt.base_amount), "base", (i,))
        over = perps.impact_bps(option, pt.side, pt.base_amount) - s.max_price_impact_bps
        if over > 1e-9:
            return Breach("impact_cap", f"perp {pt.key}: average impact against the vAMM's mid above "
                          f"optimizer.max_price_impact_bps = {s.max_price_impact_bps:g}", (), Fraction(over) / 10_000,
                          "", (i,))
        why = perps.breach(option, pt.signed_amount, perps.value_cost_usd(option, pt.side, pt.base_amount),
                           problem.perp_stress_move)
        if why is not None:
            return Breach("perp_margin", why, (), Fraction(1), "", (i,))
    return None


def _run_limits(problem: HedgeProblem, plan: Plan, states: dict[str, VenueState]) -> Breach | None:
    s = problem.settings
    spent: defaultdict[tuple[str, str, int], list[int]] = defaultdict(list)
    notional = Fraction(0)
    for pt in plan.perp_trades:
        target = problem.target(pt.underlying)
        assert target is not None
        notional += Fraction(pt.base_amount) * Fraction(target.mark_price_usd)
    for i, tr in enumerate(plan.trades):
        st, target = states[tr.venue_key], problem.target(tr.underlying)
        assert target is not None
        tok = st.base if tr.side is Side.SELL else st.quote
        spent[(st.chain, tok.symbol, tok.decimals)].append(i)
        notional += Fraction(base_raw(tr), 10**st.base.decimals) * Fraction(target.mark_price_usd)
    flows = Flows.of(plan.transfers)
    for (chain, symbol), out in sorted(flows.sent.items()):
        option = next((o for o in problem.transfers if (o.origin, o.symbol) == (chain, symbol)), None)
        held = raw_balance(problem.inventory.get(chain, {}).get(symbol, 0.0), option.decimals) if option else 0
        if out > held:  # a transfer sends only what is held now (never funds still on their way)
            return Breach("inventory", f"({chain}, {symbol}) inventory: the plan's transfers send {out} raw "
                          f"{symbol}, the wallet holds {held}", (), Fraction(out - held), "raw")
    for (chain, symbol, dec), idx in sorted(spent.items()):
        used = sum(plan.trades[i].amount_in_raw for i in idx) + flows.sent.get((chain, symbol), 0)
        held = raw_balance(problem.inventory.get(chain, {}).get(symbol, 0.0), dec)
        held += flows.received.get((chain, symbol), 0)  # what the plan's transfers bring (its trades wait for it)
        if used > held:
            return Breach("inventory", f"({chain}, {symbol}) inventory: the plan spends {used} raw {symbol}, the "
                          f"wallet holds {held}", tuple(idx), Fraction(used - held), "raw")
    if notional > Fraction(s.max_notional_usd_per_run):
        return Breach("notional", f"${float(notional):,.2f} of trades is above optimizer.max_notional_usd_per_run",
                      tuple(range(len(plan.trades))), notional - Fraction(s.max_notional_usd_per_run), "usd")
    count = len(plan.trades) + len(plan.perp_trades)
    if s.max_trades is not None and count > s.max_trades:
        return Breach("max_trades", f"{count} trades is above optimizer.max_trades = {s.max_trades}",
                      tuple(range(len(plan.trades))), Fraction(count - s.max_trades), "trades")
    return None


def resolution(st: VenueState, tr: PlannedTrade) -> Fraction:
    """How finely the trade's base amount can be set: one raw base unit, plus for a buy what one raw quote buys."""
    step = Fraction(1, 10**st.base.decimals)
    if tr.side is Side.BUY:
        step += Fraction(tr.expected_amount_out_raw, 10**st.base.decimals) / tr.amount_in_raw
    return step


def _band(problem: HedgeProblem, plan: Plan, states: dict[str, VenueState]) -> Breach | None:
    for t in problem.targets:
        idx = [i for i, tr in enumerate(plan.trades) if tr.underlying == t.underlying]
        residual, slack = Fraction(t.current_delta), Fraction(0)
        for i in idx:
            tr, st = plan.trades[i], states[plan.trades[i].venue_key]
            amount = Fraction(base_raw(tr), 10**st.base.decimals)
            residual += amount if tr.side is Side.BUY else -amount
            slack += resolution(st, tr)
        hedges = [j for j, pt in enumerate(plan.perp_trades) if pt.underlying == t.underlying]
        for j in hedges:
            residual += Fraction(plan.perp_trades[j].signed_amount)
            slack += PERP_RESOLUTION
        above, below = residual - Fraction(t.upper) - slack, Fraction(t.lower) - slack - residual
        if above > 0 or below > 0:
            kind = "band_above" if above > 0 else "band_below"
            return Breach(kind, f"{t.underlying}: residual {float(residual):.12g} is outside the band "
                          f"[{t.lower:g}, {t.upper:g}]", tuple(idx), max(above, below), "base", tuple(hedges))
    return None


def first_breach(problem: HedgeProblem, plan: Plan) -> Breach | None:
    """The first limit ``plan`` breaks on its exact raw amounts (None when it keeps them all)."""
    states = {venue_key(v): v for v in problem.venues}
    if any(tr.venue_key not in states for tr in plan.trades):
        missing = next(tr.venue_key for tr in plan.trades if tr.venue_key not in states)
        return Breach("switched_off", f"{missing} is not a venue of the problem", (), Fraction(1), "")
    return (_per_trade(problem, plan, states) or _per_perp(problem, plan) or _run_limits(problem, plan, states)
            or _band(problem, plan, states))


def violation(problem: HedgeProblem, plan: Plan) -> str | None:
    """The first limit ``plan`` breaks on its exact amounts, as one sentence (None when it keeps them all)."""
    breach = first_breach(problem, plan)
    return None if breach is None else breach.message


