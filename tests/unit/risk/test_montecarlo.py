"""Textbook Monte Carlo: Hull's delta-hedging performance table with the user's own parameters."""

from __future__ import annotations

import math

import pytest

from crosshedge import InputError
from risk import TextbookCase, hedge_cost_table

# Hull, "Options, Futures and Other Derivatives", the delta-hedging performance table: S=49, K=50, r=5%, σ=20%,
# μ=13%, T=20 weeks; std(PV of the cost of writing and hedging) / BS price for rebalancing every 5 ... 1/4 weeks.
HULL = {5.0: 0.42, 4.0: 0.34, 2.0: 0.26, 1.0: 0.19, 0.5: 0.14, 0.25: 0.09}


def test_hulls_delta_hedging_table() -> None:
    """Tolerance: 0.02 absolute on every row but one, 0.01 on the √N-scaling check of the other.

    Why 0.02: Hull prints two decimals (±0.005) from his own, unstated-size simulation, and our 40,000 seeded paths
    carry a standard error below 0.002 (asserted below, 3 SE < 0.006); 0.02 leaves room for his sampling error and
    no room for a wrong hedge (hedging at the wrong rate, forgetting interest or the drift moves rows by > 0.03).
    The 4-week row is the exception: Hull prints 0.34, but his own 5-week 0.42 scaled by √(4/5) (hedging error
    ∝ 1/√N, Derman–Kamal) gives 0.376, and a later edition of the book, from one million paths, prints 0.38. We
    measure 0.375 ± 0.002: the printed 0.34 is his sampling error, so that row is checked against the scaling.
    """
    rows = {r.interval_weeks: r for r in hedge_cost_table(TextbookCase(), tuple(HULL), paths=40_000, seed=7)}
    assert [r.rebalances for r in rows.values()] == [4, 5, 10, 20, 40, 80]
    for weeks, hull in HULL.items():
        r = rows[weeks]
        assert r.performance_se < 0.002
        assert r.mean_cost == pytest.approx(1.0, abs=0.02)  # the BS price pays for the hedge on average
        if weeks != 4.0:
            assert r.performance == pytest.approx(hull, abs=0.02), weeks
    assert rows[4.0].performance == pytest.approx(HULL[5.0] * math.sqrt(4 / 5), abs=0.01)


def test_textbook_case_takes_any_parameters_and_a_put() -> None:
    case = TextbookCase(s0=100, strike=100, rate=0.0, vol=0.8, drift=0.0, years=4 / 52, is_call=False)
    weekly, daily = hedge_cost_table(case, (1.0, 1 / 7), paths=4_000, seed=1)
    assert (weekly.rebalances, daily.rebalances) == (4, 28)
    assert daily.performance < weekly.performance  # hedging more often hedges better
    assert daily.performance == pytest.approx(weekly.performance / math.sqrt(7), rel=0.15)


def test_an_interval_that_does_not_divide_the_maturity_is_refused() -> None:
    with pytest.raises(InputError, match="3 weeks does not divide the maturity of 20 weeks"):
        hedge_cost_table(TextbookCase(), (3.0,), paths=100)
