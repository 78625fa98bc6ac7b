"""Out of sample: parameters calibrated on one period, frozen, evaluated on the next; cost-aware against WW."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters import load_book
from risk import SWEEPS, CostModel, load_prices, out_of_sample

REPO = Path(__file__).resolve().parents[3]
DATA = REPO.parent / "shared" / "data"


def test_frozen_parameters_come_from_the_calibration_period() -> None:
    full = load_prices(DATA / "ethusdt_1h.csv")
    cal = full.window(datetime(2022, 5, 1, tzinfo=UTC), datetime(2022, 6, 1, tzinfo=UTC))
    test = full.window(datetime(2022, 6, 1, tzinfo=UTC), datetime(2022, 6, 21, tzinfo=UTC))
    book = [p for p in load_book(REPO / "examples" / "book.yaml", datetime(2022, 5, 1, tzinfo=UTC))
            if p.underlying == "ETH"]
    oos = out_of_sample(cal, test, book, CostModel.default(), families=("whalley_wilmott", "cost_aware_band"),
                        history=full)
    assert oos.calibration.end < oos.test.start and oos.test.reference == "fixed_interval interval_hours=24"
    for c in oos.choices:
        in_sample = [r for r in oos.calibration.results if r.policy == c.family]
        assert c.value in SWEEPS[c.family][1] and c.calibration in in_sample
        eligible = [r for r in in_sample if r.std_ratio is not None and r.std_ratio <= 1.0]
        if eligible:  # the cheapest at <= daily std in sample, else the least risky
            assert c.calibration.total_cost_usd == min(r.total_cost_usd for r in eligible)
        assert c.test.label == c.label and c.test.std_ratio_lo is not None
        assert c.test.std_ratio_lo <= c.test.std_ratio <= c.test.std_ratio_hi  # type: ignore[operator]
        daily = oos.test.results[0]
        assert c.test_saving == pytest.approx(1 - c.test.total_cost_usd / daily.total_cost_usd)
    pair = oos.cost_aware_vs_ww
    assert pair is not None and pair.std_ratio_lo <= pair.std_ratio <= pair.std_ratio_hi
    assert pair.verdict in ("better", "worse", "not measurably different")
