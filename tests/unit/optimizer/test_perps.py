"""Perp trades chosen jointly with spot swaps (optimizer.perps, optimizer.perp_term): the plan against a brute force
scored by this file's own cost and margin definitions, a book short of base inventory hedged with a perp, funding
deciding between spot and perp, the initial margin and the liquidation distance binding, and reduce-only trades
allowed with the margin exhausted."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from adapters import Curve, PerpPosition, Side
from crosshedge import InfeasiblePlanError
from optimizer import HedgeProblem, Plan, Planner, violation
from optimizer.perps import PerpOption
from optimizer.problem import risk_usd
from risk.perps import survives_move
from tests.unit.optimizer.helpers import pwl_quote
from tests.unit.optimizer.perp_helpers import perp, perp_problem

PLANNER = Planner(quoter=pwl_quote)


# --- this file's own definitions (docs: optimizer/perps.py) --------------------------------------------------------


def along(curve: Curve, base: float) -> float:
    left, total = base, 0.0
    for seg in curve.segments:
        take = min(left, seg.size)
        total, left = total + take * seg.price, left - take
    return total


def perp_trade_cost(o: PerpOption, x: float, price: float) -> float:
    """A signed trade's quote against ``price``: fee + impact against the vAMM's mid (the objective's cost), or
    what it takes off the account value against the mark (the margin rules')."""
    if x > 0:
        return along(o.buy, x) - x * price
    return -x * price - along(o.sell, -x)


def perp_allowed(o: PerpOption, x: float, stress: float) -> bool:
    n, cost = o.size + x, perp_trade_cost(o, x, o.mark_price)
    if min(0.0, o.size) <= n <= max(0.0, o.size):
        return True  # reduce-only
    v0 = o.collateral_usd + o.size * o.mark_price + o.open_notional - o.owed_funding_usd
    value = v0 - cost
    if o.im_ratio * abs(n) * o.mark_price > min(o.collateral_usd - o.owed_funding_usd, v0) - cost + 1e-7:
        return False
    return all(value + n * o.mark_price * m >= o.mm_ratio * abs(n) * o.mark_price * (1 + m) - 1e-7
               for m in (-stress, stress))


def objective(problem: HedgeProblem, spot_sold: float, perp_x: list[float]) -> float:
    """Spot sell of ``spot_sold`` on the one venue plus signed perp trades, risk included."""
    t, st_ = problem.targets[0], problem.venues[0]
    total = 0.0
    if spot_sold > 0:
        total += problem.gas_usd["ethereum/v2"] + t.mark_price_usd * spot_sold - along(st_.sell, spot_sold)
    for o, x in zip(problem.perps, perp_x, strict=True):
        if x:
            total += o.gas_usd + perp_trade_cost(o, x, o.mid_price) + x * o.index_price * o.daily_funding_rate * \
                problem.perp_funding_horizon_days
    residual = t.current_delta - spot_sold + sum(perp_x)
    return total + risk_usd(t, residual, problem.settings.risk_pieces)


def _feasible(problem: HedgeProblem, spot: float, sold: list[float], least: float) -> bool:
    t = problem.targets[0]
    residual = t.current_delta - spot - sum(sold)
    if not t.lower - 1e-9 <= residual <= t.upper + 1e-9 or spot > problem.inventory["ethereum"]["WETH"] + 1e-12:
        return False
    if any(0 < s < least for s in [spot, *sold]) or min(spot, *sold) < 0:
        return False
    return all(perp_allowed(o, -s, problem.perp_stress_move) for o, s in zip(problem.perps, sold, strict=True))


def margin_edge(o: PerpOption, reach: float, stress: float) -> float:
    """The largest sell the margin rules allow (bisection on this file's definition), so the grid holds it."""
    lo, hi = 0.0, reach
    if perp_allowed(o, -hi, stress):
        return hi
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if perp_allowed(o, -mid, stress) else (lo, mid)
    return lo


def brute_force(problem: HedgeProblem, steps: int = 40) -> float:
    """The least objective over a grid of spot and perp sells (each perp within its margin), then over a finer
    grid around the best point found."""
    t = problem.targets[0]
    least = problem.settings.min_trade_usd / t.mark_price_usd
    reach = t.current_delta - t.lower
    h = reach / steps
    caps = [min(reach, problem.inventory["ethereum"]["WETH"]), *[reach] * len(problem.perps)]
    edges = [caps[0], *[margin_edge(o, reach, problem.perp_stress_move) for o in problem.perps]]
    axes = [[0.0, edge, *np.linspace(least, cap, steps)] for cap, edge in zip(caps, edges, strict=True)]
    best, at = float("inf"), [0.0] * (1 + len(problem.perps))
    for _ in range(2):
        for spot, *sold in itertools.product(*axes):
            if _feasible(problem, spot, sold, least):
                value = objective(problem, spot, [-s for s in sold])
                if value < best:
                    best, at = value, [spot, *sold]
        axes = [sorted({0.0, edge, *np.clip(np.linspace(a - 2 * h, a + 2 * h, 21), 0.0, cap)})
                for a, cap, edge in zip(at, caps, edges, strict=True)]
    return best


def signed_perps(problem: HedgeProblem, plan: Plan) -> list[float]:
    by_key = {p.key: p.signed_amount for p in plan.perp_trades}
    return [by_key.get(o.key, 0.0) for o in problem.perps]


# --- the plan against the brute force -------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None, database=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.too_slow])
@given(rate=st.floats(-0.003, 0.003), collateral=st.floats(3e3, 1e6), risk_price=st.floats(0.1, 30.0),
       weth=st.floats(0.0, 60.0), days=st.floats(0.0, 30.0), two=st.booleans())
def test_plan_matches_a_brute_force_over_spot_and_perp_sizes(rate: float, collateral: float, risk_price: float,
                                                            weth: float, days: float, two: bool) -> None:
    markets = [perp(daily_funding_rate=rate, collateral_usd=collateral, pieces=8)]
    if two:
        markets.append(perp("base", "eth-perp", depth_usd=8e6, mark_price=3003.0, index_price=3000.0,
                            daily_funding_rate=rate / 2, collateral_usd=2e5, size=-5.0, open_notional=15_000.0,
                            pieces=8))
    # the band (−10, 50) holds the book as it is: the plan is the risk price's trade-off, always feasible
    problem = perp_problem(50.0, perps=tuple(markets), weth=weth, perp_funding_horizon_days=days,
                           targets=[{"underlying": "ETH", "current_delta": 50.0, "target": 0, "lower": -10,
                                     "upper": 50, "mark_price_usd": 3000, "risk_price": risk_price}])
    got = PLANNER.plan(problem)
    assert violation(problem, got) is None
    spot = sum(t.base_amount for t in got.trades)
    # the plan's reported objective is this file's definition of it at the plan's amounts
    mine = objective(problem, spot, signed_perps(problem, got))
    assert got.objective_usd == pytest.approx(mine, rel=1e-9, abs=1e-6)
    brute = brute_force(problem, steps=12 if two else 40)
    assert got.objective_usd <= brute + 1e-6 * max(1.0, abs(brute))
    if not two:  # the 2-D grid is fine enough to trail the optimizer by little (the 3-D one is coarse)
        assert got.objective_usd >= brute - 2e-2 * abs(brute) - 5.0


# --- scenarios --------------------------------------------------------------------------------------------------------


def test_a_book_short_of_base_inventory_everywhere_is_hedged_with_a_perp() -> None:
    spot_only = perp_problem(96.0, weth=73.0)
    with pytest.raises(InfeasiblePlanError, match=r"cannot sell 91 ETH of delta: the wallets hold 73 WETH"):
        PLANNER.plan(spot_only)
    problem = perp_problem(96.0, weth=73.0, perps=(perp(),))
    got = PLANNER.plan(problem)
    assert violation(problem, got) is None
    assert got.residual_delta["ETH"] <= 5.0 + 1e-9
    [short] = got.perp_trades
    assert short.side is Side.SELL and short.base_amount >= 18.0 - 1e-6 and short.grows
    assert sum(t.base_amount for t in got.trades) <= 73.0
    assert got.cost.perp_fee_usd > 0 and got.cost.total_usd == pytest.approx(
        sum(t.cost_usd for t in got.trades) + short.cost_usd)
    # a plan with a perp trade round-trips, and so does its problem
    assert Plan.model_validate_json(got.model_dump_json()) == got
    assert HedgeProblem.model_validate_json(problem.model_dump_json()) == problem


@pytest.mark.parametrize(("rate", "venue"), [(0.001, "spot"), (-0.001, "perp")])
def test_funding_decides_between_spot_and_perp_for_a_long_hold(rate: float, venue: str) -> None:
    # The book is 50 short: the hedge buys. Spot is deep (small impact); a long perp pays positive funding for
    # the 30-day hold and receives negative funding.
    problem = perp_problem(-50.0, perps=(perp(daily_funding_rate=rate, depth_usd=40e6),), spot_depth=80e6,
                           perp_funding_horizon_days=30.0)
    got = PLANNER.plan(problem)
    spot, perps = sum(t.base_amount for t in got.trades), sum(p.base_amount for p in got.perp_trades)
    if venue == "spot":
        assert perps == 0 and spot >= 45.0 - 1e-6
    else:
        assert spot == 0 and perps >= 45.0 - 1e-6 and got.cost.funding_usd < 0
        assert got.perp_trades[0].side is Side.BUY


def im_limit(o: PerpOption, side: Side) -> float:
    """The largest growth the initial margin allows (bisection on this file's definition, stress left out)."""
    lo, hi = 0.0, sum(s.size for s in (o.sell if side is Side.SELL else o.buy).segments)
    sign = -1 if side is Side.SELL else 1
    for _ in range(200):
        mid = (lo + hi) / 2
        n, cost = o.size + sign * mid, perp_trade_cost(o, sign * mid, o.mark_price)
        v0 = o.collateral_usd + o.size * o.mark_price + o.open_notional - o.owed_funding_usd
        fits = o.im_ratio * abs(n) * o.mark_price <= min(o.collateral_usd - o.owed_funding_usd, v0) - cost
        lo, hi = (mid, hi) if fits else (lo, mid)
    return lo


def test_the_initial_margin_caps_the_trade_and_names_the_market_when_the_band_is_out_of_reach() -> None:
    market = perp(collateral_usd=2_000.0)
    # no WETH: only the perp can sell; a high risk price wants the whole 50, the band (−5, 50) lets it stop short
    problem = perp_problem(50.0, perps=(market,), weth=0.0, risk_price=200.0, perp_stress_move=0.0,
                           targets=[{"underlying": "ETH", "current_delta": 50.0, "target": 0, "lower": -5,
                                     "upper": 50, "mark_price_usd": 3000, "risk_price": 200.0}])
    got = PLANNER.plan(problem)
    [short] = got.perp_trades
    cap = im_limit(market, Side.SELL)
    assert 0 < cap < 50 and short.base_amount == pytest.approx(cap, rel=1e-6)
    assert short.free_collateral_after_usd == pytest.approx(0.0, abs=1e-3)
    tight = perp_problem(50.0, perps=(market,), weth=0.0, perp_stress_move=0.0)
    with pytest.raises(InfeasiblePlanError) as caught:
        PLANNER.plan(tight)
    text = str(caught.value)
    assert "cannot sell 45 ETH of delta" in text and "perp arbitrum/eth-perp" in text and "initial margin" in text


def test_the_liquidation_distance_binds_at_40_percent() -> None:
    market = perp(collateral_usd=30_000.0)
    problem = perp_problem(50.0, perps=(market,), weth=0.0, risk_price=200.0,
                           targets=[{"underlying": "ETH", "current_delta": 50.0, "target": 0, "lower": -5,
                                     "upper": 50, "mark_price_usd": 3000, "risk_price": 200.0}])
    got = PLANNER.plan(problem)
    [short] = got.perp_trades
    assert short.base_amount < im_limit(market, Side.SELL) * 0.9  # the stress test binds, not the initial margin

    def account(base: float) -> PerpPosition:
        return PerpPosition(underlying="ETH", size=-base, open_notional=along(market.sell, base),
                            collateral_usd=market.collateral_usd, mm_ratio=market.mm_ratio)

    for move in (-0.4, 0.4):
        assert survives_move(account(short.base_amount), 3000.0, move, market.mm_ratio)
    assert not survives_move(account(short.base_amount + 1.0), 3000.0, 0.4, market.mm_ratio)
    assert short.liquidation_price_after is not None and short.liquidation_price_after >= 3000 * 1.4 * (1 - 1e-6)


def test_a_reduce_only_trade_is_allowed_with_the_margin_exhausted() -> None:
    # short 30 at 3,000 with $500 of collateral: far below the 10 % initial margin, and a 40 % rise liquidates it
    market = perp(size=-30.0, open_notional=90_000.0, collateral_usd=500.0)
    assert not perp_allowed(market, -1.0, 0.4)  # growing is refused
    problem = perp_problem(-30.0, perps=(market,), usdc=0.0)  # no USDC: only the perp can buy
    got = PLANNER.plan(problem)
    [cover] = got.perp_trades
    assert violation(problem, got) is None
    assert cover.side is Side.BUY and not cover.grows and -30.0 <= cover.size_after <= 0.0
    assert got.residual_delta["ETH"] >= -5.0 - 1e-9
    # selling more (growing the short) is not: the band is out of reach, and the message says why
    with pytest.raises(InfeasiblePlanError, match=r"perp arbitrum/eth-perp \(initial margin"):
        PLANNER.plan(perp_problem(20.0, perps=(market,), weth=0.0))
