"""Every returned plan keeps every limit exactly in raw units, and no feasible small instance is refused.

Both are checked against code independent of the optimizer: an integer/``Fraction`` re-check of each limit written
here, and the brute-force enumeration of :mod:`tests.unit.optimizer.test_model` (every venue/direction subset solved
as an LP by scipy) to say which instances are feasible.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters import Side
from crosshedge import InfeasiblePlanError
from optimizer import HedgeProblem, Plan, Planner, cp_quote, random_problem
from optimizer.finalize import input_for_output, input_window
from optimizer.synthetic import checked_cp_quote
from tests.unit.optimizer.helpers import make_problem
from tests.unit.optimizer.test_model import brute_force

SMALL_LAYOUTS = (
    (("ethereum", "ETH"),),
    (("ethereum", "ETH"), ("arbitrum", "ETH")),
    (("ethereum", "ETH"), ("base", "ETH"), ("arbitrum", "BTC")),
)


def raw_limits_broken(problem: HedgeProblem, plan: Plan) -> list[str]:
    """Each limit re-checked on the plan's integers (independent of optimizer.limits)."""
    s, out = problem.settings, []
    states = {f"{v.chain}/{v.venue}": v for v in problem.venues}
    spent: dict[tuple[str, str], int] = {}
    notional = Fraction(0)
    moved = {t.underlying: Fraction(0) for t in problem.targets}
    step = {t.underlying: Fraction(0) for t in problem.targets}
    for tr in plan.trades:
        v = states[tr.venue_key]
        mark = Fraction(next(t for t in problem.targets if t.underlying == tr.underlying).mark_price_usd)
        base_raw = tr.amount_in_raw if tr.side is Side.SELL else tr.expected_amount_out_raw
        base = Fraction(base_raw, 10**v.base.decimals)
        quote = Fraction(tr.expected_amount_out_raw if tr.side is Side.SELL else tr.amount_in_raw,
                         10**v.quote.decimals)
        assert tr.expected_amount_out_raw == cp_quote(v, tr.side, tr.amount_in_raw)
        if v.chain in problem.disabled_chains or tr.venue_key in problem.disabled_venues:
            out.append(f"{tr.venue_key} switched off")
        if base * mark < Fraction(s.min_trade_usd):
            out.append(f"{tr.venue_key} below min trade")
        f, mid = Fraction(v.fee_pips, 10**6), Fraction(v.mid_price)
        impact = (mid - quote / base / (1 - f)) / mid if tr.side is Side.SELL else (quote / base * (1 - f) - mid) / mid
        if impact > Fraction(s.max_price_impact_bps) / 10_000:
            out.append(f"{tr.venue_key} above impact cap")
        token = v.base if tr.side is Side.SELL else v.quote
        spent[(v.chain, token.symbol)] = spent.get((v.chain, token.symbol), 0) + tr.amount_in_raw
        decimals = {(v.chain, token.symbol): token.decimals}
        held = problem.inventory.get(v.chain, {}).get(token.symbol, 0.0)
        if spent[(v.chain, token.symbol)] > int(Decimal(held) * 10 ** decimals[(v.chain, token.symbol)]):
            out.append(f"({v.chain}, {token.symbol}) overspent")
        notional += base * mark
        moved[tr.underlying] += base if tr.side is Side.BUY else -base
        step[tr.underlying] += Fraction(1, 10**v.base.decimals) + (base / tr.amount_in_raw if tr.side is Side.BUY
                                                                   else 0)
    if notional > Fraction(s.max_notional_usd_per_run):
        out.append("notional")
    if s.max_trades is not None and len(plan.trades) > s.max_trades:
        out.append("max trades")
    for t in problem.targets:
        r = Fraction(t.current_delta) + moved[t.underlying]
        if not Fraction(t.lower) - step[t.underlying] <= r <= Fraction(t.upper) + step[t.underlying]:
            out.append(f"{t.underlying} band")
    return out


@given(seed=st.integers(0, 2**32 - 1), layout=st.sampled_from(SMALL_LAYOUTS))
@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
def test_plans_keep_every_limit_in_raw_units_and_feasible_instances_get_one(
    seed: int, layout: tuple[tuple[str, str], ...]
) -> None:
    problem = random_problem(np.random.default_rng(seed), layout, pieces=4)
    feasible = brute_force(problem) is not None
    try:
        plan = Planner(quoter=cp_quote).plan(problem, with_explanation=False)
    except InfeasiblePlanError:
        assert not feasible, "a feasible instance was refused"
        return
    assert raw_limits_broken(problem, plan) == []


def test_zero_width_band_is_met_to_the_raw_resolution(problem: HedgeProblem) -> None:
    eth = problem.targets[0].model_copy(update={"target": 0.0, "lower": 0.0, "upper": 0.0, "current_delta": -12.5})
    pinned = problem.model_copy(update={"targets": [eth, problem.targets[1]]})
    plan = Planner(quoter=cp_quote).plan(pinned, with_explanation=False)
    assert plan.trades and raw_limits_broken(pinned, plan) == []


def test_a_buy_of_a_whole_curve_is_trimmed_to_the_window_not_refused() -> None:
    state = make_problem().venues[2]
    window = input_window(state.buy, Side.BUY, state)
    whole = sum(s.size for s in state.buy.segments)
    want = int(whole * 10**state.base.decimals) + 10**12  # more than the whole window gives
    got = input_for_output(checked_cp_quote, state, Side.BUY, want, guess=window // 2)
    assert got == window  # the whole window, never a probe past it


def test_per_chain_inventory_is_named_when_it_binds() -> None:
    """130 ETH to sell and 220 WETH held, but most on base, whose shallow venue takes little; deep ethereum holds 10."""
    inventory = {"ethereum": {"WETH": 10.0}, "arbitrum": {"WETH": 10.0}, "base": {"WETH": 200.0}}
    tight = make_problem().model_copy(update={"inventory": inventory})
    with pytest.raises(InfeasiblePlanError, match=r"\(ethereum, WETH\) inventory allows 10 of"):
        Planner(quoter=cp_quote).plan(tight)
