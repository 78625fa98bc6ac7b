"""Perp accounts in the book's risk: their own line (delta = size, value = unrealised P&L, theta = −funding), the
Vault collateral counted once as cash, the per-account margin lines (PerpLine, equal to risk.perps's functions), the
stress grid's liquidations and VaR's revaluation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import OptionPosition, PerpPosition, SpotPosition
from risk import (
    CURIE_LIQUIDATION_PENALTY_RATIO,
    JointReturns,
    RiskReport,
    account_value,
    account_values,
    aggregate,
    free_collateral,
    funding_usd,
    historical_var,
    liquidation_price,
    margin_ratio,
    monte_carlo_var,
    perp_line,
    revalue,
    stress_grid,
    survives_move,
)

NOW = datetime(2026, 11, 21, tzinfo=UTC)
S = 3000.0


def perp(size: float, entry: float = S, collateral: float = 1e5, **kw: object) -> PerpPosition:
    base: dict[str, object] = dict(underlying="ETH", size=size, open_notional=-size * entry, collateral_usd=collateral,
                                   chain="optimism", market="vETH")
    base.update(kw)
    return PerpPosition.model_validate(base)


def spot(underlying: str, amount: float, chain: str = "ethereum") -> SpotPosition:
    return SpotPosition(chain=chain, symbol=underlying, address="native", underlying=underlying, amount=amount, raw=0,
                        wallet="desk", block_number=1)


def test_a_perp_is_its_own_line_and_its_collateral_is_cash_once() -> None:
    pos = perp(-10.0, entry=2900.0, collateral=8000.0, owed_funding_usd=25.0)
    rep = aggregate([spot("ETH", 4.0), spot("USDC", 1000.0), pos], {"ETH": S}, NOW)
    eth = rep.underlying("ETH")
    line = next(ln for ln in eth.lines if ln.source == "perp_curie")
    assert (line.chain, line.positions) == ("optimism", 1)
    assert line.delta == -10.0 and line.delta_usd == pytest.approx(-10.0 * S)
    assert (line.gamma, line.gamma_usd, line.vega, line.vanna, line.volga, line.lvr_day) == (0, 0, 0, 0, 0, 0)
    assert line.value_usd == pytest.approx(-10.0 * S + 29_000.0 - 25.0)  # unrealised P&L less the owed funding
    assert eth.delta == pytest.approx(4.0 - 10.0)
    assert [b.bucket for b in eth.buckets] == ["none"]
    assert rep.cash_usd == pytest.approx(1000.0 + 8000.0)  # the Vault collateral, like a stablecoin holding
    # the book's value counts the account once: its account value, not its collateral on top of it
    assert rep.value_usd == pytest.approx(4.0 * S + 1000.0 + account_value(pos, S))


def test_theta_is_minus_the_funding_paid_per_day_at_the_index_when_read() -> None:
    at_mark = aggregate([perp(5.0, daily_funding_rate=0.001)], {"ETH": S}, NOW).underlying("ETH")
    assert at_mark.theta_day == pytest.approx(-5.0 * S * 0.001)  # a long pays a positive rate
    at_index = aggregate([perp(-5.0, daily_funding_rate=0.001, index_price=2950.0)], {"ETH": S}, NOW)
    assert at_index.underlying("ETH").theta_day == pytest.approx(5.0 * 2950.0 * 0.001)  # a short receives it
    assert at_index.perps[0].funding_day_usd == pytest.approx(-5.0 * 2950.0 * 0.001)


@settings(max_examples=60, deadline=None)
@given(size=st.floats(-500.0, 500.0).filter(lambda x: abs(x) > 1e-3), entry=st.floats(500.0, 10_000.0),
       mark=st.floats(500.0, 10_000.0), spot_eth=st.floats(0.0, 100.0))
def test_perp_delta_is_the_derivative_of_the_book_value(size: float, entry: float, mark: float,
                                                        spot_eth: float) -> None:
    book = [spot("ETH", spot_eth), perp(size, entry, collateral=abs(size) * entry)]
    h = mark * 1e-4
    up, down = (aggregate(book, {"ETH": mark + d}, NOW).value_usd for d in (h, -h))
    rep = aggregate(book, {"ETH": mark}, NOW)
    assert (up - down) / (2 * h) == pytest.approx(rep.underlying("ETH").delta, rel=1e-6, abs=1e-6)
    assert rep.underlying("ETH").delta == pytest.approx(spot_eth + size)


@settings(max_examples=80, deadline=None)
@given(size=st.floats(-500.0, 500.0).filter(lambda x: abs(x) > 1e-3), entry=st.floats(500.0, 10_000.0),
       leverage=st.floats(0.5, 20.0), mark=st.floats(500.0, 10_000.0), rate=st.floats(-0.01, 0.01),
       owed=st.floats(-100.0, 100.0))
def test_the_perp_line_is_risk_perps_functions_of_the_position(size: float, entry: float, leverage: float,
                                                              mark: float, rate: float, owed: float) -> None:
    pos = perp(size, entry, collateral=abs(size) * entry / leverage, daily_funding_rate=rate, owed_funding_usd=owed,
               mm_ratio=0.05, im_ratio=0.08)
    line = aggregate([pos], {"ETH": mark}, NOW).perps[0]
    liq = liquidation_price(pos, 0.05)
    assert line.id == "optimism:vETH" and (line.chain, line.market, line.underlying) == ("optimism", "vETH", "ETH")
    assert line.size == size and line.entry_price == pytest.approx(entry) and line.mark == mark
    assert line.account_value_usd == pytest.approx(account_value(pos, mark))
    assert line.margin_ratio == pytest.approx(margin_ratio(pos, mark))
    assert line.free_collateral_usd == pytest.approx(free_collateral(pos, mark, 0.08))
    assert line.liquidation_price == (pytest.approx(liq) if liq is not None else None)
    assert line.liquidation_distance == (pytest.approx(liq / mark - 1) if liq is not None else None)
    assert line.funding_day_usd == pytest.approx(funding_usd(pos, mark, rate, 1.0))
    assert line.survives_stress == (survives_move(pos, mark, -0.4, 0.05) and survives_move(pos, mark, 0.4, 0.05))
    assert line.liquidatable == (account_value(pos, mark) < 0.05 * abs(size) * mark)


def test_the_report_round_trips_to_json_with_its_perps() -> None:
    book = [perp(1.0, collateral=S), perp(-2.0, collateral=600.0, chain=None, market=None), spot("ETH", 2.0)]
    rep = aggregate(book, {"ETH": S}, NOW)
    assert rep.perps[0].liquidation_price is None  # an unlevered long has none
    assert rep.perps[1].id == "what-if:ETH-perp" and rep.perps[1].chain is None
    assert any(ln.chain == "what-if" for ln in rep.underlying("ETH").lines)
    assert RiskReport.model_validate_json(rep.model_dump_json()) == rep
    assert aggregate([spot("ETH", 1.0)], {"ETH": S}, NOW).perps == ()


def test_a_hedged_book_has_no_delta_and_no_stress_pnl_until_its_perp_is_liquidated() -> None:
    short = perp(-10.0, collateral=6000.0)  # 5x: a short liquidated near +13 %
    book = [spot("ETH", 10.0), short]
    assert aggregate(book, {"ETH": S}, NOW).underlying("ETH").delta == pytest.approx(0.0)
    grid = stress_grid(book, {"ETH": S}, NOW)
    liq = liquidation_price(short)
    assert liq is not None and S * 1.10 < liq < S * 1.20
    for c in grid.cells:
        shocked = S * (1 + c.price_shock)
        if shocked < liq:
            assert c.liquidated == () and c.pnl_usd == pytest.approx(0.0, abs=1e-6)
            assert c.delta["ETH"] == pytest.approx(0.0, abs=1e-9)
        else:  # the hedge is gone: the book pays the penalty and holds the spot's delta alone
            assert c.liquidated == ("optimism:vETH",)
            penalty = CURIE_LIQUIDATION_PENALTY_RATIO * 10.0 * shocked
            assert c.liquidation_usd == pytest.approx(-penalty)
            assert c.pnl_usd == pytest.approx(-penalty)
            assert c.delta["ETH"] == pytest.approx(10.0) and c.delta_usd["ETH"] == pytest.approx(10.0 * shocked)
    assert set(grid.liquidations()) == {0.20, 0.40}


@settings(max_examples=40, deadline=None)
@given(size=st.floats(1.0, 100.0), long=st.booleans(), leverage=st.floats(1.2, 20.0))
def test_a_thin_account_is_liquidated_exactly_where_its_liquidation_price_says(size: float, long: bool,
                                                                              leverage: float) -> None:
    pos = perp(size if long else -size, collateral=size * S / leverage)
    liq = liquidation_price(pos)
    assert liq is not None
    grid = stress_grid([pos], {"ETH": S}, NOW, price_shocks=(-0.4, 0.0, 0.4), vol_shocks=(0.0,))
    line = aggregate([pos], {"ETH": S}, NOW).perps[0]
    for move in (-0.4, 0.4):
        moved = S * (1 + move)
        if abs(moved - liq) / liq < 1e-9:
            continue  # on the boundary itself: rounding decides
        gone = moved < liq if long else moved > liq
        assert bool(grid.cell(move, 0.0).liquidated) == gone == (not survives_move(pos, S, move))
    assert line.survives_stress == (not grid.liquidations())


def test_a_thin_long_is_flagged_at_minus_40_and_a_thin_short_at_plus_40() -> None:
    thin_long, thin_short = perp(10.0, collateral=8000.0), perp(-10.0, collateral=8000.0, market="vETH-2")
    grid = stress_grid([thin_long, thin_short], {"ETH": S}, NOW, vol_shocks=(0.0,))
    assert grid.cell(-0.4, 0.0).liquidated == ("optimism:vETH",)
    assert grid.cell(0.4, 0.0).liquidated == ("optimism:vETH-2",)
    assert grid.cell(0.0, 0.0).liquidated == ()
    lines = aggregate([thin_long, thin_short], {"ETH": S}, NOW).perps
    assert [ln.survives_stress for ln in lines] == [False, False]
    assert lines[0].liquidation_distance is not None and -0.4 < lines[0].liquidation_distance < 0


def test_vol_shocks_do_not_move_a_perp() -> None:
    option = OptionPosition(id="c", underlying="ETH", kind="call", strike=S, expiry=NOW + timedelta(30), size=1.0,
                            vol=0.6, venue="deribit", tenor_days=30)
    grid = stress_grid([perp(-3.0)], {"ETH": S}, NOW)
    for ds in grid.price_shocks:
        row = {grid.cell(ds, dv).pnl_usd for dv in grid.vol_shocks}
        assert max(row) - min(row) == pytest.approx(0.0, abs=1e-9)
        assert grid.cell(ds, 0.0).pnl_usd == pytest.approx(-3.0 * S * ds)
    with_option = stress_grid([perp(-3.0), option], {"ETH": S}, NOW)
    alone = stress_grid([option], {"ETH": S}, NOW)
    for c, o in zip(with_option.cells, alone.cells, strict=True):
        assert c.pnl_usd == pytest.approx(o.pnl_usd - 3.0 * S * c.price_shock)


def _history(moves: list[float]) -> JointReturns:
    return JointReturns(underlyings=("ETH",), ends=np.arange(float(len(moves))) * 86400.0,
                        log_returns=np.log1p(np.array(moves))[:, None], horizon_hours=24.0)


def test_var_revalues_perps_like_the_stress_grid() -> None:
    moves = [-0.30, -0.12, -0.05, 0.0, 0.04, 0.10, 0.25]
    short = perp(-10.0, collateral=6000.0)  # liquidated above ~+13 %
    book = [spot("ETH", 10.0), short]
    pnl = revalue(book, {"ETH": S}, NOW, ("ETH",), np.log1p(np.array(moves))[:, None])
    grid = stress_grid(book, {"ETH": S}, NOW, price_shocks=moves, vol_shocks=(0.0,))
    assert pnl == pytest.approx([grid.cell(m, 0.0).pnl_usd for m in moves], abs=1e-6)
    assert pnl[-1] == pytest.approx(-CURIE_LIQUIDATION_PENALTY_RATIO * 10.0 * S * 1.25)
    # a well-collateralised hedge removes the spot's VaR; the perp alone has the opposite P&L of the spot
    hedged = historical_var([spot("ETH", 10.0), perp(-10.0)], {"ETH": S}, NOW, _history(moves), confidences=(0.9,))
    assert hedged.level(0.9).var_usd == pytest.approx(0.0, abs=1e-6)
    assert hedged.base_value_usd == pytest.approx(10.0 * S + 1e5)
    long_spot = revalue([spot("ETH", 4.0)], {"ETH": S}, NOW, ("ETH",), np.log1p(np.array(moves))[:, None])
    short_perp = revalue([perp(-4.0)], {"ETH": S}, NOW, ("ETH",), np.log1p(np.array(moves))[:, None])
    assert short_perp == pytest.approx(-long_spot)


def test_monte_carlo_var_of_a_perp_equals_that_of_the_same_spot_exposure() -> None:
    hist = _history([-0.05, 0.02, 0.03, -0.01, 0.04, -0.02, 0.01, -0.03])
    as_perp = monte_carlo_var([perp(5.0)], {"ETH": S}, NOW, hist, paths=2000, seed=3)
    as_spot = monte_carlo_var([spot("ETH", 5.0)], {"ETH": S}, NOW, hist, paths=2000, seed=3)
    for a, b in zip(as_perp.levels, as_spot.levels, strict=True):
        assert a.var_usd == pytest.approx(b.var_usd) and a.es_usd == pytest.approx(b.es_usd)


def test_account_values_liquidate_below_maintenance_only() -> None:
    pos = perp(10.0, collateral=5000.0)
    marks = np.array([2000.0, 2600.0, 2700.0, 3000.0, 4000.0])
    got = account_values(pos, marks)
    liq = liquidation_price(pos)
    assert liq is not None
    for m, v in zip(marks, got, strict=True):
        mtm = account_value(pos, float(m))
        expected = mtm - CURIE_LIQUIDATION_PENALTY_RATIO * 10.0 * m if m < liq else mtm
        assert v == pytest.approx(expected)
    assert perp_line(pos, 2000.0).liquidatable and not perp_line(pos, 3000.0).liquidatable
