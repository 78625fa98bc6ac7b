"""Correlated VaR/ES: a hand-computed linear book, window alignment, the Monte Carlo covariance, stress betas."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from adapters import SpotPosition, load_book
from crosshedge import InputError
from risk import (
    JointReturns,
    PriceSeries,
    correlated_normals,
    historical_var,
    joint_returns,
    load_prices,
    monte_carlo_var,
    stress_grid,
    var_es,
)

NOW = datetime(2024, 1, 1, tzinfo=UTC)
MARKS = {"ETH": 3000.0, "BTC": 60000.0}
REPO = Path(__file__).resolve().parents[3]


def spot(underlying: str, amount: float) -> SpotPosition:
    return SpotPosition(chain="ethereum", symbol=underlying, address="native", underlying=underlying, amount=amount,
                        raw=0, wallet="desk", block_number=1)


# 20 joint simple moves (ETH, BTC) for a book of 10 ETH ($30,000) and 1 BTC ($60,000): P&L = 30,000·m_ETH +
# 60,000·m_BTC, so the losses are, worst first: 12,000 (−20%, −10%), 9,000 (0%, −15%), 6,000 (−10%, −5%),
# 2,400 (−2%, −3%), 1,500 (−5%, 0%), then gains.
MOVES = [(-0.10, -0.05), (-0.20, -0.10), (0.05, 0.02), (-0.05, 0.00), (0.10, 0.05), (-0.02, -0.03), (0.00, -0.15),
         (0.03, 0.01)] + [(0.01, 0.01)] * 12


def hand_history() -> JointReturns:
    return JointReturns(underlyings=("ETH", "BTC"), ends=np.arange(20.0) * 86400.0,
                        log_returns=np.log1p(np.array(MOVES)), horizon_hours=24.0)


def test_var_and_es_of_a_linear_book_by_hand() -> None:
    """n = 20. 95%: k = ⌈19⌉ = 19, VaR = L(19) = 9,000, ES = mean(L(19), L(20)) = 10,500. 99%: k = ⌈19.8⌉ = 20,
    VaR = ES = 12,000. 80%: k = 16, VaR = L(16) = 1,500, ES = (12,000 + 9,000 + 6,000 + 2,400 + 1,500) / 5 = 6,180."""
    report = historical_var([spot("ETH", 10.0), spot("BTC", 1.0), spot("USDC", 5e5)], MARKS, NOW, hand_history(),
                            confidences=(0.8, 0.95, 0.99), worst=3)
    got = {lv.confidence: (lv.var_usd, lv.es_usd, lv.tail) for lv in report.levels}
    assert got[0.95] == pytest.approx((9000.0, 10500.0, 2))
    assert got[0.99] == pytest.approx((12000.0, 12000.0, 1))
    assert got[0.8] == pytest.approx((1500.0, 6180.0, 5))
    assert [s.pnl_usd for s in report.worst] == pytest.approx([-12000.0, -9000.0, -6000.0])
    assert report.worst[0].moves == pytest.approx({"ETH": -0.20, "BTC": -0.10})
    assert report.base_value_usd == pytest.approx(30000 + 60000 + 5e5)


def test_var_es_convention_on_a_tiny_sample() -> None:
    (lv,) = var_es(np.array([-5.0, 1.0, 2.0, -1.0]), (0.5,))  # losses 5, 1, −1, −2: k = 2 → L(2) = −1
    assert (lv.var_usd, lv.es_usd, lv.tail) == pytest.approx((-1.0, (-1.0 + 1.0 + 5.0) / 3, 3))
    with pytest.raises(InputError, match="within"):
        var_es(np.array([1.0]), (1.0,))


def series(name: str, hours: list[int], closes: list[float]) -> PriceSeries:
    return PriceSeries(source=name, underlying=name, times=np.array(hours, dtype=float) * 3600.0,
                       close=np.array(closes), step_s=3600.0, gaps=())


def test_joint_windows_align_on_timestamps_and_drop_a_missing_end() -> None:
    # Daily grid ends at hours 0, 24, 48, 72; BTC misses hour 48, so the windows 24→48 and 48→72 are dropped.
    eth = series("ETH", [0, 12, 24, 36, 48, 60, 72, 96], [100, 101, 110, 90, 99, 98, 88, 96.8])
    btc = series("BTC", [0, 12, 24, 36, 60, 72, 96], [10, 11, 12, 13, 14, 15, 16.5])
    hist = joint_returns([eth, btc])
    assert hist.ends.tolist() == [24 * 3600.0, 96 * 3600.0]
    assert np.expm1(hist.log_returns) == pytest.approx(np.array([[0.10, 0.20], [0.10, 0.10]]))
    with pytest.raises(InputError, match="no price history for SOL"):
        historical_var([spot("SOL", 1.0)], {"SOL": 100.0}, NOW, hist)


def test_monte_carlo_uses_the_empirical_covariance_and_matches_the_normal_var() -> None:
    rng = np.random.default_rng(5)
    cov = np.array([[0.04**2, 0.8 * 0.04 * 0.03], [0.8 * 0.04 * 0.03, 0.03**2]])
    hist = JointReturns(("ETH", "BTC"), np.arange(2000.0), rng.multivariate_normal([0, 0], cov, 2000), 24.0)
    sim = correlated_normals(hist, 40_000, seed=2)
    assert np.cov(sim, rowvar=False) == pytest.approx(hist.covariance(), rel=0.03)
    report = monte_carlo_var([spot("ETH", 10.0), spot("BTC", 1.0)], MARKS, NOW, hist, paths=20_000, seed=3)
    w = np.array([30000.0, 60000.0])
    pnl = np.expm1(correlated_normals(hist, 20_000, seed=3)) @ w  # the same draws, re-priced by hand
    assert [x for lv in report.levels for x in (lv.var_usd, lv.es_usd)] == pytest.approx(
        [x for lv in var_es(pnl) for x in (lv.var_usd, lv.es_usd)])
    sd = math.sqrt(w @ hist.covariance() @ w)  # P&L ≈ w·r: the normal VaR z·sd, less the e^r convexity (~5% here)
    assert report.level(0.99).var_usd == pytest.approx(2.3263 * sd, rel=0.08)


def test_stress_betas_move_btc_with_eth() -> None:
    grid = stress_grid([spot("ETH", 1.0), spot("BTC", 1.0)], MARKS, NOW, price_shocks=(-0.4,), vol_shocks=(0.0,),
                       betas={"ETH": 1.0, "BTC": 0.5})
    assert grid.cell(-0.4, 0.0).pnl_usd == pytest.approx(-1200.0 + 60000.0 * (0.6**0.5 - 1.0))


def test_example_book_var_on_real_history(shared_data: Path) -> None:
    eth = load_prices(shared_data / "ethusdt_1h.csv").window(datetime(2022, 1, 1, tzinfo=UTC),
                                                             datetime(2022, 7, 1, tzinfo=UTC))
    btc = load_prices(shared_data / "btcusdt_1h.csv").window(datetime(2022, 1, 1, tzinfo=UTC),
                                                             datetime(2022, 7, 1, tzinfo=UTC))
    hist = joint_returns([eth, btc])
    assert 170 <= len(hist.ends) <= 181 and 0.7 < hist.correlation()[0, 1] < 0.95
    book = load_book(REPO / "examples" / "book.yaml", NOW)
    hs = historical_var(book, MARKS, NOW, hist)
    mc = monte_carlo_var(book, MARKS, NOW, hist, paths=2_000, seed=1)
    for r in (hs, mc):
        assert 0 < r.level(0.95).var_usd <= r.level(0.99).var_usd <= r.level(0.99).es_usd
        assert r.level(0.95).es_usd >= r.level(0.95).var_usd
