"""Risk engine benchmark: one year of hourly ETH prices x 4 policies x a 1,000-option book; 100,000-option Greeks;
1-day VaR/ES of the example book (historical simulation over every joint ETH/BTC day, 10,000-scenario Monte Carlo).

Prints one JSON object. Goals: backtest <= 10 s, 100k Greeks well under 1 s, VaR (both methods) <= 5 s.

Usage::

    .venv/bin/python bench/bench_risk.py
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from adapters import OptionPosition, load_book
from risk import CostModel, PolicySpec, bsm, historical_var, joint_returns, load_prices, monte_carlo_var, run_backtest

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BOOK = Path(__file__).resolve().parents[1] / "examples" / "book.yaml"


def _book(n: int, seed: int) -> list[OptionPosition]:
    rng = np.random.default_rng(seed)
    now = datetime(2022, 1, 1, tzinfo=UTC)
    tenors = rng.choice([7, 14, 30, 60, 90, 180], n)
    return [
        OptionPosition(id=f"o{i}", underlying="ETH", kind="call" if rng.random() < 0.5 else "put",
                       strike=float(3000 * rng.uniform(0.7, 1.3)), expiry=now + timedelta(days=int(tenors[i])),
                       size=float(rng.normal(-1.0, 1.0)), vol=float(rng.uniform(0.5, 0.9)), venue="deribit",
                       tenor_days=float(tenors[i]), reference_price=3000.0)
        for i in range(n)
    ]


def main() -> None:
    series = load_prices(DATA / "ethusdt_1h.csv").window(datetime(2022, 1, 1, tzinfo=UTC),
                                                          datetime(2023, 1, 1, tzinfo=UTC))
    book = _book(1000, 1)
    specs = [PolicySpec.of("fixed_interval", interval_hours=24.0), PolicySpec.of("delta_threshold"),
             PolicySpec.of("whalley_wilmott"), PolicySpec.of("cost_aware_band")]
    start = time.perf_counter()
    run_backtest(series, book, specs, CostModel.default())
    backtest_s = time.perf_counter() - start

    rng = np.random.default_rng(2)
    n = 100_000
    args = (rng.random(n) < 0.5, 3000.0, rng.uniform(1500, 4500, n), rng.uniform(1 / 365, 1, n), 0.0, 0.0,
            rng.uniform(0.3, 1.2, n))
    bsm(*args)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        bsm(*args)
        times.append(time.perf_counter() - t)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    hist = joint_returns([load_prices(DATA / "ethusdt_1h.csv"), load_prices(DATA / "btcusdt_1h.csv")])
    positions, marks = load_book(BOOK, now), {"ETH": 3000.0, "BTC": 60000.0}
    t = time.perf_counter()
    hs = historical_var(positions, marks, now, hist)
    hs_s = time.perf_counter() - t
    t = time.perf_counter()
    mc = monte_carlo_var(positions, marks, now, hist, paths=10_000, seed=11)
    mc_s = time.perf_counter() - t
    print(json.dumps({
        "backtest_1y_hourly_4_policies_1000_options_s": round(backtest_s, 3),
        "backtest_bars": len(series.close),
        "backtest_goal_s": 10.0,
        "greeks_100k_options_s": round(min(times), 4),
        "greeks_100k_options_median_s": round(float(np.median(times)), 4),
        "var_historical_days": hs.scenarios,
        "var_historical_s": round(hs_s, 3),
        "var_monte_carlo_10k_s": round(mc_s, 3),
        "var99_historical_usd": round(hs.level(0.99).var_usd),
        "var99_monte_carlo_usd": round(mc.level(0.99).var_usd),
    }))


if __name__ == "__main__":
    main()
