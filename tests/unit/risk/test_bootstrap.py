"""Stationary block bootstrap: index structure, paired ratio intervals, seeding."""

from __future__ import annotations

import numpy as np
import pytest

from crosshedge import InputError
from risk import stationary_indices, std_ratio_ci, sum_ratio_ci


def test_indices_are_wrapped_blocks_of_the_mean_length() -> None:
    idx = stationary_indices(500, 10.0, 200, seed=3)
    assert idx.shape == (200, 500) and idx.min() >= 0 and idx.max() < 500
    continues = (np.diff(idx, axis=1) % 500) == 1  # the next day of the same block
    assert 1 / (1 - continues.mean()) == pytest.approx(10.0, rel=0.1)
    assert np.array_equal(idx, stationary_indices(500, 10.0, 200, seed=3))
    with pytest.raises(InputError):
        stationary_indices(1, 10.0, 10, seed=0)


def test_paired_ratio_intervals() -> None:
    rng = np.random.default_rng(1)
    common = rng.standard_normal(400)
    x, y = 0.9 * common + 0.1 * rng.standard_normal(400), common
    ratio, lo, hi = std_ratio_ci(x, y, resamples=500, seed=2)
    assert lo < ratio < hi < 1.0  # paired: the common part cancels, so the interval is tight
    assert std_ratio_ci(y, y, resamples=50, seed=2) == pytest.approx((1.0, 1.0, 1.0))
    c, c_lo, c_hi = sum_ratio_ci(np.full(400, 2.0), np.full(400, 4.0), resamples=50, seed=2)
    assert (c, c_lo, c_hi) == pytest.approx((0.5, 0.5, 0.5))
    with pytest.raises(InputError, match="same days"):
        std_ratio_ci(x[:10], y, seed=0)
