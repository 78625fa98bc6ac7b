"""Optimality of the MILP against an independent brute force, and the model's structural promises (DPP, reuse)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from adapters import Curve, Side
from crosshedge import InfeasiblePlanError
from optimizer import (
    BenchMarket,
    HedgeTarget,
    Planner,
    bench_scenario,
    cp_quote,
    cp_state,
    random_problem,
    usable_venues,
)
from optimizer.highs import Solution
from optimizer.model import HedgeModel
from optimizer.packing import TICK_MARGIN, pack, shape_of
from optimizer.presolve import layout_of, piece_upper, presolve, trade_caps
from optimizer.problem import HedgeProblem, risk_breakpoints, ticks_crossed, venue_key
from optimizer.terms import RunView, cp

LAYOUTS = (
    (("ethereum", "ETH"),),
    (("ethereum", "ETH"), ("arbitrum", "ETH"), ("arbitrum", "BTC")),
    (("ethereum", "ETH"), ("ethereum", "ETH"), ("base", "ETH"), ("arbitrum", "ETH")),
    (("ethereum", "ETH"), ("arbitrum", "ETH"), ("base", "ETH"), ("base", "ETH"), ("ethereum", "BTC"),
     ("base", "BTC")),
    (("ethereum", "ETH"), ("arbitrum", "ETH"), ("base", "ETH"), ("arbitrum", "ETH"), ("base", "ETH"),
     ("ethereum", "ETH")),
)


def _pieces(problem: HedgeProblem, v: int, side: Side) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Widths, USD cost vs mark per unit, impact-cap slack per unit, quote per unit; computed from scratch."""
    st = problem.venues[v]
    t = problem.target(st.underlying)
    assert t is not None
    curve = st.sell if side is Side.SELL else st.buy
    w = np.array([s.size for s in curve.segments])
    p = np.array([s.price for s in curve.segments])
    f = st.fee_pips / 1e6
    cap = problem.settings.max_price_impact_bps / 1e4 * st.mid_price
    if side is Side.SELL:
        return w, t.mark_price_usd - p, (st.mid_price - p / (1 - f)) - cap, np.zeros_like(p)
    return w, p - t.mark_price_usd, (p * (1 - f) - st.mid_price) - cap, p


def _risk_lines(problem: HedgeProblem, u: int) -> list[tuple[float, float]]:
    t = problem.targets[u]
    b = np.unique(risk_breakpoints(t, problem.settings.risk_pieces))
    q = t.risk_price * (b - t.target) ** 2
    if len(b) == 1:
        return [(0.0, float(q[0]))]
    return [((q[i + 1] - q[i]) / (b[i + 1] - b[i]), q[i] - (q[i + 1] - q[i]) / (b[i + 1] - b[i]) * b[i])
            for i in range(len(b) - 1)]


def _lp(problem: HedgeProblem, active: list[tuple[int, Side]],
        reach: tuple[tuple[int, tuple[int, ...]], ...] | None = None) -> float | None:
    """Minimum cost with exactly these venues/directions on (scipy HiGHS LP), or None when infeasible; ``reach``
    gives per active trade how many of its pieces it may fill (all when None)."""
    s, targets = problem.settings, problem.targets
    blocks = [_pieces(problem, v, side) for v, side in active]
    if reach is not None:
        blocks = [(_short_of(b[0], *r), *b[1:]) for b, r in zip(blocks, reach, strict=True)]
    n = sum(len(b[0]) for b in blocks)
    nu = len(targets)
    c = np.concatenate([b[1] for b in blocks] + [np.ones(nu)])
    bounds = [(0, w) for b in blocks for w in b[0]] + [(None, None)] * nu
    rows, rhs = [], []

    def row() -> np.ndarray:
        return np.zeros(n + nu)

    off = 0
    signed = np.zeros((nu, n + nu))
    chain_base: dict[tuple[str, str], np.ndarray] = {}
    chain_quote: dict[tuple[str, str], np.ndarray] = {}
    notional = row()
    for (v, side), (w, _, slack, price) in zip(active, blocks, strict=True):
        st = problem.venues[v]
        u = next(i for i, t in enumerate(targets) if t.underlying == st.underlying)
        sl = slice(off, off + len(w))
        r = row()
        r[sl] = -1.0
        rows.append(r)
        rhs.append(-s.min_trade_usd / targets[u].mark_price_usd)
        r = row()
        r[sl] = slack
        rows.append(r)
        rhs.append(0.0)
        signed[u, sl] = 1.0 if side is Side.BUY else -1.0
        notional[sl] = targets[u].mark_price_usd
        if side is Side.SELL:
            chain_base.setdefault((st.chain, st.base.symbol), row())[sl] = 1.0
        else:
            chain_quote.setdefault((st.chain, st.quote.symbol), row())[sl] = price
        off += len(w)
    for (chain, sym), r in [*chain_base.items(), *chain_quote.items()]:
        rows.append(r)
        rhs.append(problem.inventory.get(chain, {}).get(sym, 0.0))
    rows.append(notional)
    rhs.append(s.max_notional_usd_per_run)
    for u, t in enumerate(targets):
        rows += [signed[u], -signed[u]]
        rhs += [t.upper - t.current_delta, t.current_delta - t.lower]
        for slope, icpt in _risk_lines(problem, u):
            r = slope * signed[u]
            r[n + u] = -1.0
            rows.append(r)
            rhs.append(-(icpt + slope * t.current_delta))
    res = linprog(c, A_ub=np.array(rows), b_ub=np.array(rhs), bounds=bounds, method="highs")
    if res.status != 0:
        return None
    return float(res.fun) + sum(problem.gas_usd[venue_key(problem.venues[v])] for v, _ in active)


def _reaches(problem: HedgeProblem, active: list[tuple[int, Side]]
             ) -> list[tuple[tuple[tuple[int, tuple[int, ...]], ...], float]]:
    """Every way the active trades can stop before a costly tick crossing: per trade (pieces it may fill, the
    pieces whose entry costs tick gas), and the tick gas paid."""
    options = []
    for v, side in active:
        st = problem.venues[v]
        curve = st.sell if side is Side.SELL else st.buy
        per_tick = problem.tick_gas_usd.get(venue_key(st), 0.0)
        costly = tuple(k for k, seg in enumerate(curve.segments) if seg.ticks_crossed and per_tick)
        stops = [*costly, len(curve.segments)]
        paid = np.cumsum([0.0] + [curve.segments[k].ticks_crossed * per_tick for k in costly])
        options.append([((stop, costly), g) for stop, g in zip(stops, paid, strict=True)])
    return [(tuple(r for r, _ in combo), float(sum(g for _, g in combo))) for combo in itertools.product(*options)]


def _short_of(widths: np.ndarray, stop: int, costly: tuple[int, ...]) -> np.ndarray:
    """The widths a trade that stops before piece ``stop`` may fill: none from it on, and each piece that ends at a
    costly tick ending TICK_MARGIN (of the size there) short of it, as a swap that lands on a tick crosses it."""
    w = widths.astype(float).copy()
    for k in costly:
        if k > 0 and w[k - 1] > 0:
            w[k - 1] -= min(0.5 * w[k - 1], TICK_MARGIN * float(widths[:k].sum()))
    return np.where(np.arange(len(w)) < stop, w, 0.0)


def brute_force(problem: HedgeProblem) -> float | None:
    """Enumerate every venue/direction subset (one direction per underlying) and, with tick gas, every tick each
    trade may stop before, and solve each as an LP."""
    open_ = [i for i, st in enumerate(problem.venues) if venue_key(st) not in problem.disabled_venues]
    best: float | None = None
    for choice in itertools.product((None, Side.SELL, Side.BUY), repeat=len(open_)):
        active = [(v, side) for v, side in zip(open_, choice, strict=True) if side is not None]
        dirs: dict[str, set[Side]] = {}
        for v, side in active:
            dirs.setdefault(problem.venues[v].underlying, set()).add(side)
        if any(len(d) > 1 for d in dirs.values()):
            continue
        if problem.settings.max_trades is not None and len(active) > problem.settings.max_trades:
            continue
        for reach, tick_gas in _reaches(problem, active):
            value = _lp(problem, active, reach)
            if value is not None and (best is None or value + tick_gas < best):
                best = value + tick_gas
    return best


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda lay: f"{len(lay)}venues")
def test_plan_matches_brute_force_on_random_instances(layout: tuple[tuple[str, str], ...]) -> None:
    """40 random instances per layout (200 in all): the MILP's objective equals the enumeration's within 1e-6."""
    rng = np.random.default_rng(len(layout) * 7919)
    planner = Planner(quoter=cp_quote)
    checked = feasible = 0
    for _ in range(40):
        problem = random_problem(rng, layout)
        expected = brute_force(problem)
        if expected is None:
            with pytest.raises(InfeasiblePlanError):
                planner.plan(problem, with_explanation=False)
        else:
            got = planner.solve(problem)[2].objective  # the solver's own optimum (before exact finishing)
            assert got == pytest.approx(expected, rel=1e-6, abs=1e-6), (got, expected)
            feasible += 1
        checked += 1
    assert checked == 40
    assert feasible >= 10  # the generator must produce mostly solvable instances to test anything


@pytest.mark.parametrize("layout", LAYOUTS[:3], ids=lambda lay: f"{len(lay)}venues")
def test_tick_gas_is_a_step_at_each_crossing_and_the_plan_matches_brute_force(
        layout: tuple[tuple[str, str], ...]) -> None:
    """Curves crossing initialized ticks at random pieces, each crossing costing $0.5 to $40: the MILP's optimum
    equals the enumeration over venue subsets and the tick each trade stops before (a step in gas, never spread per
    unit), and every trade's gas in the finished plan counts the ticks its size crosses."""
    rng = np.random.default_rng(len(layout) * 104729)
    planner = Planner(quoter=cp_quote)
    feasible = crossed = stopped = 0
    for _ in range(20):
        problem = random_problem(rng, layout, pieces=6, ticks=True)
        expected = brute_force(problem)
        if expected is None:
            with pytest.raises(InfeasiblePlanError):
                planner.plan(problem, with_explanation=False)
            continue
        result = planner.solve(problem)[2]
        assert result.objective == pytest.approx(expected, rel=1e-6, abs=1e-6), (result.objective, expected)
        feasible += 1
        for tr in planner.plan(problem, with_explanation=False).trades:
            st = next(s for s in problem.venues if venue_key(s) == tr.venue_key)
            ticks = ticks_crossed(st.sell if tr.side is Side.SELL else st.buy, tr.base_amount)
            assert tr.gas_usd == pytest.approx(problem.gas_usd[tr.venue_key]
                                               + ticks * problem.tick_gas_usd[tr.venue_key])
            crossed += ticks > 0
            stopped += _ends_at_a_crossing(st.sell if tr.side is Side.SELL else st.buy, tr.base_amount)
    # the instances must exercise crossings to test anything: trades that pay for one, or stop at one
    assert feasible >= 6 and crossed + stopped >= 1, (feasible, crossed, stopped)


@pytest.mark.parametrize(("tick_usd", "crosses"), [(0.0, True), (2.0, True), (400.0, False)])
def test_a_buy_crosses_a_tick_only_when_the_risk_it_removes_pays_for_the_crossing(tick_usd: float,
                                                                                  crosses: bool) -> None:
    """One pool whose third piece starts past an initialized tick, and a target a little past that tick: with the
    crossing cheap the buy goes through it and its gas counts the tick; with it dear the buy stops exactly at the
    tick (a breakpoint), where a per-unit spreading of the step would have bought a part of the piece."""
    st = cp_state("ethereum", "v3", "ETH", mid=3000.0, depth_usd=2e7, fee_pips=500, pieces=8, reach=0.05)
    buy = st.buy.model_copy(update={"segments": tuple(
        seg.model_copy(update={"ticks_crossed": int(i == 2)}) for i, seg in enumerate(st.buy.segments))})
    st = st.model_copy(update={"buy": buy, "gas_units_per_tick": 31_000})
    tick_at = st.buy.segments[0].size + st.buy.segments[1].size
    target = HedgeTarget(underlying="ETH", current_delta=0.0, target=tick_at * 1.3, lower=0.0, upper=tick_at * 2,
                         mark_price_usd=3000.0, risk_price=10.0)
    problem = HedgeProblem(targets=[target], venues=[st], gas_usd={"ethereum/v3": 3.0},
                           tick_gas_usd={"ethereum/v3": tick_usd}, inventory={"ethereum": {"USDC": 1e8}},
                           as_of=st.block_timestamp)
    [trade] = Planner(quoter=cp_quote).plan(problem, with_explanation=False).trades
    if crosses:
        assert trade.base_amount > tick_at * 1.01
        assert trade.gas_usd == pytest.approx(3.0 + tick_usd)
    else:
        assert tick_at * (1 - 2 * TICK_MARGIN) < trade.base_amount < tick_at  # short of the tick: never on it
        assert trade.gas_usd == pytest.approx(3.0)


def _ends_at_a_crossing(curve: Curve, size: float) -> bool:
    """The trade fills exactly up to a piece whose entry crosses a tick (it stopped rather than pay the step)."""
    starts = np.cumsum([0.0] + [seg.size for seg in curve.segments])[:-1]
    return any(seg.ticks_crossed and abs(size - start) <= 1e-6 * start
               for seg, start in zip(curve.segments, starts, strict=True))


def test_model_is_dpp_and_reused_for_equal_shapes() -> None:
    rng = np.random.default_rng(3)
    planner = Planner(quoter=cp_quote)
    first = planner.plan(random_problem(rng, LAYOUTS[2]), with_explanation=False)
    again = planner.plan(random_problem(rng, LAYOUTS[2]), with_explanation=False)
    assert not first.stats.cache_hit and again.stats.cache_hit
    assert again.stats.build_ms == 0.0 and first.stats.build_ms > 0


def test_relaxation_is_a_lower_bound_and_milp_agrees() -> None:
    rng = np.random.default_rng(11)
    for _ in range(15):
        problem = random_problem(rng, LAYOUTS[3])
        states = sorted(problem.venues, key=venue_key)
        shape = shape_of(problem, states)
        model = HedgeModel(shape)
        model.load(RunView(problem, states, presolve(shape, pack(problem, states, shape))))
        milp = model.solve(problem.settings, relaxation_first=False)
        both = model.solve(problem.settings, relaxation_first=True)
        if milp.status != "optimal":
            continue
        assert milp.method == "milp"
        assert both.objective == pytest.approx(milp.objective, rel=1e-6, abs=1e-6)
        assert both.lower_bound is not None and both.lower_bound <= milp.objective + 1e-6


def test_hand_off_to_highs_is_transport_only() -> None:
    """The compiled data handed to HiGHS gives the optimum cvxpy's own solve of the same problem gives."""
    rng = np.random.default_rng(97)
    agreed = 0
    for i in range(12):
        problem = random_problem(rng, LAYOUTS[3 + i % 2])
        states = sorted(problem.venues, key=venue_key)
        shape = shape_of(problem, states)
        model = HedgeModel(shape)
        model.load(RunView(problem, states, presolve(shape, pack(problem, states, shape))))
        ours = model.solve(problem.settings, relaxation_first=False)
        model.problem.solve(solver=cp.HIGHS)
        if model.problem.status != "optimal":
            assert ours.status == "infeasible"
            continue
        assert ours.objective == pytest.approx(model.problem.value, rel=1e-6, abs=1e-6)
        agreed += 1
    assert agreed >= 4


@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=40, deadline=None)
def test_trade_caps_bound_every_feasible_in_order_fill(seed: int) -> None:
    """Each cap is the largest in-order fill keeping the impact cap, inventory, band room and notional."""
    problem = random_problem(np.random.default_rng(seed), LAYOUTS[3])
    states = sorted(problem.venues, key=venue_key)
    shape = shape_of(problem, states)
    data = pack(problem, states, shape)
    k, lay = shape.segments, layout_of(shape)
    caps = trade_caps(lay, data, k)
    for j, cap in enumerate(caps):
        w = data.width[j * k : (j + 1) * k]
        if cap <= 0:
            continue
        fill = np.clip(cap / (1 + 1e-12) - (np.cumsum(w) - w), 0, w)  # in order, up to the cap
        assert fill.sum() >= data.min_units[j] * (1 - 1e-9)
        assert fill @ data.impact_slack[j * k : (j + 1) * k] <= 1e-7 * max(1.0, float(np.abs(data.impact_slack).max()))
        u = lay.trade_underlying[j]
        room = -data.move_lower[u] if lay.is_sell[j] else data.move_upper[u]
        assert fill.sum() <= room + 1e-9 * max(1.0, abs(room))
        if lay.is_sell[j]:
            assert fill.sum() <= data.inv_base[lay.trade_group[j]] * (1 + 1e-9) + 1e-12
        else:
            assert fill @ data.price[j * k : (j + 1) * k] <= data.inv_quote[lay.trade_group[j]] * (1 + 1e-9) + 1e-9


def test_pruning_drops_the_direction_the_band_forbids() -> None:
    problem = random_problem(np.random.default_rng(5), LAYOUTS[2])
    t = problem.targets[0]
    far = t.model_copy(update={"current_delta": t.upper + 50.0})  # long above the band: only sells can help
    problem = problem.model_copy(update={"targets": [far]})
    states = sorted(problem.venues, key=venue_key)
    shape = shape_of(problem, states)
    data = pack(problem, states, shape)
    upper, enabled = piece_upper(shape, data)
    live = upper.reshape(2 * len(states), shape.segments).sum(axis=1) > 0
    assert live.any() and not live[1::2].any() and not enabled[1::2].any()  # buys (odd trade indices) are gone
    assert np.count_nonzero(upper) < np.count_nonzero(data.width)


def test_a_warm_started_relaxation_reaches_the_cold_optimum_in_fewer_iterations() -> None:
    """Block to block (the same venues, the market a block later) the LP starts from the last basis: the same
    optimum as a cold start, reached in fewer simplex iterations; below warm_start_min_venues nothing is kept."""
    rng = np.random.default_rng(5)
    market = BenchMarket.draw(60, rng)
    first = bench_scenario(60, rng, layout_seed=1, market=market)
    states = usable_venues(first)
    shape = shape_of(first, states)
    warm, cold = HedgeModel(shape), HedgeModel(shape)

    def relaxation(model: HedgeModel, problem: HedgeProblem, use_basis: bool) -> Solution:
        model.load(RunView(problem, states, presolve(shape, pack(problem, usable_venues(problem), shape))))
        return model.compiled.solve(integer=False, options={"presolve": "off"}, warm=use_basis)

    relaxation(warm, first, True)
    fewer = 0
    for _ in range(4):
        market = market.next_block(rng)
        problem = bench_scenario(60, rng, layout_seed=1, market=market)
        ours, ref = relaxation(warm, problem, True), relaxation(cold, problem, False)
        assert ours.status == ref.status == "optimal"
        assert ours.objective == pytest.approx(ref.objective, rel=1e-9, abs=1e-6)
        fewer += ours.iterations < ref.iterations
    assert fewer >= 3
    assert cold.compiled._basis is None  # a cold solve leaves nothing for the next
    small = replace_settings(first, warm_start_min_venues=len(states) + 1)
    model = HedgeModel(shape)
    model.load(RunView(small, states, presolve(shape, pack(small, states, shape))))
    model.solve(small.settings)
    assert model.compiled._basis is None


def replace_settings(problem: HedgeProblem, **changes: object) -> HedgeProblem:
    return problem.model_copy(update={"settings": problem.settings.model_copy(update=changes)})
