"""P&L explain: a hand-computed step, and the backtest's explain adding up to its P&L."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters import OptionPosition, SpotPosition, load_book
from risk import (
    CostModel,
    PnlExplain,
    PolicySpec,
    aggregate,
    bsm,
    explain_between,
    explain_step,
    load_prices,
    run_backtest,
)

REPO = Path(__file__).resolve().parents[3]
DATA = REPO.parent / "shared" / "data"
NOW = datetime(2022, 3, 1, tzinfo=UTC)


def test_a_step_by_hand() -> None:
    # Δ = −12, Γ = −0.02, V = −900 per 1.00 vol, Θ = 3,650 per year; dS = 15, dσ = +1 pt, dt = 1 day.
    e = explain_step(delta=-12.0, gamma=-0.02, vega=-900.0, theta=3650.0, ds=15.0, dvol=0.01, dt_years=1 / 365,
                     actual=-200.0, fees=3.0, gas=0.5)
    assert (e.delta, e.gamma, e.vega, e.theta, e.fees, e.gas, e.funding) == pytest.approx(
        (-180.0, -2.25, -9.0, 10.0, -3.0, -0.5, 0.0))
    assert e.unexplained == pytest.approx(-200.0 - (-180.0 - 2.25 - 9.0 + 10.0 - 3.0 - 0.5))
    assert (e + e).actual == -400.0 and PnlExplain.total([e, e, e]).gas == pytest.approx(-1.5)


def test_taylor_terms_explain_an_option_move_to_second_order() -> None:
    g0 = bsm(True, 100.0, 100.0, 0.25, 0.0, 0.0, 0.5)
    g1 = bsm(True, 101.0, 100.0, 0.25 - 1 / 365, 0.0, 0.0, 0.51)
    e = explain_step(float(g0.delta), float(g0.gamma), float(g0.vega), float(g0.theta), ds=1.0, dvol=0.01,
                     dt_years=1 / 365, actual=float(g1.price - g0.price))
    assert abs(e.unexplained) < 0.02 * abs(e.actual)  # what is left: vanna, volga, charm


@pytest.mark.parametrize("iv", ["realised", "flat"])
def test_backtest_explain_adds_up(iv: str) -> None:
    full = load_prices(DATA / "ethusdt_1h.csv")
    series = full.window(NOW, datetime(2022, 3, 15, tzinfo=UTC))
    book = [p for p in load_book(REPO / "examples" / "book.yaml", NOW) if p.underlying == "ETH"]
    specs = [PolicySpec.of("fixed_interval", interval_hours=24.0), PolicySpec.of("whalley_wilmott")]
    res = run_backtest(series, book, specs, CostModel.default(), iv=iv, explain="whalley_wilmott")  # type: ignore[arg-type]
    for r in res.results:
        e = r.explain
        parts = e.delta + e.gamma + e.vega + e.theta + e.funding + e.fees + e.gas + e.unexplained
        assert parts == pytest.approx(e.actual) and e.actual == pytest.approx(r.total_pnl_usd)
        assert -(e.fees + e.gas) == pytest.approx(r.total_cost_usd) and -e.gas == pytest.approx(r.gas_usd)
        assert abs(e.unexplained) < 0.25 * (abs(e.gamma) + abs(e.theta) + abs(e.vega))
        assert (e.vega == 0.0) == (iv == "flat")
    assert res.explain_label == "whalley_wilmott" and len(res.daily_explain) == 14
    assert sum(d.actual for d in res.daily_explain) == pytest.approx(res.results[1].total_pnl_usd)
    assert res.daily_explain[0].day == "2022-03-01"


def test_explain_between_two_risk_reports_of_the_live_book() -> None:
    """A short call hedged with spot: one day later ETH is up 2% and vols up a point (by hand through aggregate)."""
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    call = OptionPosition(id="c", underlying="ETH", kind="call", strike=3000, expiry=t0 + timedelta(days=30),
                          size=-10, vol=0.6, venue="deribit", tenor_days=30)
    def usdc(amount: float) -> SpotPosition:
        return SpotPosition(chain="base", symbol="USDC", address="0x2", underlying="USDC", amount=amount, raw=0,
                            wallet="w", block_number=1)

    before = aggregate([call, usdc(1e5)], {"ETH": 3000.0}, t0)
    hedge = -before.underlying("ETH").delta  # bought right after the snapshot, paying $3 fees and $0.5 gas
    wallet = SpotPosition(chain="base", symbol="WETH", address="0x1", underlying="ETH", amount=hedge, raw=0,
                          wallet="w", block_number=1)
    cash = usdc(1e5 - hedge * 3000 - 3.5)
    bumped = call.model_copy(update={"vol": 0.61})
    after = aggregate([bumped, wallet, cash], {"ETH": 3060.0}, t0 + timedelta(days=1))
    e = explain_between(before, after, {"ETH": hedge}, fees=3.0, gas=0.5)
    assert e.delta == pytest.approx(0.0, abs=1e-9)  # hedged: the post-trade delta is zero
    u = before.underlying("ETH")
    assert e.gamma == pytest.approx(0.5 * u.gamma * 60.0**2) and e.theta == pytest.approx(u.theta_day)
    assert e.vega == pytest.approx(u.vega * 1.0) and (e.fees, e.gas) == (-3.0, -0.5)
    assert e.actual == pytest.approx(after.value_usd - before.value_usd)
    assert abs(e.unexplained) < 0.1 * abs(e.gamma)  # cross and higher-order terms only
