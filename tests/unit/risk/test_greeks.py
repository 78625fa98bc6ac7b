"""Black-Scholes-Merton / Black-76 Greeks against published values, parity and finite differences."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import ndtr

from risk import black76, bsm

# (is_call, K, S, q, r, T, sigma, attribute, expected) from QuantLib's test-suite europeanoption.cpp (Haug 1998).
HAUG = [
    (True, 100, 105, 0.10, 0.10, 0.5, 0.36, "delta", 0.5946),
    (False, 100, 105, 0.10, 0.10, 0.5, 0.36, "delta", -0.3566),
    (True, 60, 55, 0.0, 0.10, 0.75, 0.30, "gamma", 0.0278),
    (False, 60, 55, 0.0, 0.10, 0.75, 0.30, "gamma", 0.0278),
    (True, 60, 55, 0.0, 0.10, 0.75, 0.30, "vega", 18.9358),
    (False, 60, 55, 0.0, 0.10, 0.75, 0.30, "vega", 18.9358),
    (False, 405, 430, 0.05, 0.07, 1 / 12, 0.20, "theta", -31.1924),
    (True, 75, 72, 0.0, 0.09, 1.0, 0.19, "rho", 38.7325),
    (True, 65, 60, 0.0, 0.08, 0.25, 0.30, "price", 2.1334),
]


@pytest.mark.parametrize(("call", "k", "s", "q", "r", "t", "v", "attr", "expected"), HAUG)
def test_haug_reference_values(
    call: bool, k: float, s: float, q: float, r: float, t: float, v: float, attr: str, expected: float
) -> None:
    got = float(getattr(bsm(call, s, k, t, r, q, v), attr))
    assert got == pytest.approx(expected, abs=1e-4 * max(1.0, abs(expected)))  # 4 decimals as published


def test_black76_reference_call_equals_put() -> None:
    g = black76(np.array([True, False]), 19.0, 19.0, 0.75, 0.10, 0.28)
    assert g.price[0] == pytest.approx(1.7011, abs=1e-4)
    assert g.price[1] == pytest.approx(1.7011, abs=1e-4)


def test_hull_example() -> None:
    g = bsm(True, 49.0, 50.0, 20 / 52, 0.05, 0.0, 0.20)
    assert float(g.price) == pytest.approx(2.40, abs=0.005)
    assert float(g.delta) == pytest.approx(0.522, abs=0.0005)
    assert float(g.gamma) == pytest.approx(0.066, abs=0.0005)
    assert float(g.vega) == pytest.approx(12.1, abs=0.05)
    assert float(g.theta) == pytest.approx(-4.31, abs=0.005)
    assert float(g.theta_day) == pytest.approx(-4.31 / 365, abs=1e-4)


@settings(max_examples=200, deadline=None)
@given(
    s=st.floats(1.0, 1e5),
    m=st.floats(0.3, 3.0),
    t=st.floats(1 / 365, 5.0),
    r=st.floats(-0.02, 0.2),
    q=st.floats(-0.05, 0.2),
    v=st.floats(0.05, 2.0),
)
def test_put_call_parity(
    s: float, m: float, t: float, r: float, q: float, v: float) -> None:
    k = s * m
    g = bsm(np.array([True, False]), s, k, t, r, q, v)
    parity = s * np.exp(-q * t) - k * np.exp(-r * t)
    assert g.price[0] - g.price[1] == pytest.approx(parity, abs=1e-9 * max(s, k))
    assert g.delta[0] - g.delta[1] == pytest.approx(np.exp(-q * t), abs=1e-12)


def _grid() -> tuple[np.ndarray, ...]:
    # Deep ITM to deep OTM, a day to five years, 5% to 200% vol, both kinds.
    mny = np.array([0.4, 0.7, 0.9, 1.0, 1.1, 1.4, 2.5])
    tau = np.array([1 / 365, 7 / 365, 30 / 365, 0.5, 2.0, 5.0])
    vol = np.array([0.05, 0.2, 0.6, 1.2, 2.0])
    call = np.array([True, False])
    mm, tt, vv, cc = np.meshgrid(mny, tau, vol, call, indexing="ij")
    return mm.ravel(), tt.ravel(), vv.ravel(), cc.ravel()


def test_finite_differences_match_analytic_greeks() -> None:
    m, t, v, c = _grid()
    s, k, r, q = 100.0, 100.0 * m, 0.03, 0.01
    g = bsm(c, s, k, t, r, q, v)
    # Keep only options whose value is not numerically zero relative to float precision.
    keep = g.price > 1e-6 * s
    hs = 1e-3 * s * v * np.sqrt(t)  # step scaled to the distribution's width keeps the FD error small
    up, dn = bsm(c, s + hs, k, t, r, q, v), bsm(c, s - hs, k, t, r, q, v)
    fd_delta = (up.price - dn.price) / (2 * hs)
    fd_gamma = (up.price - 2 * g.price + dn.price) / hs**2
    hv = 1e-5
    fd_vega = (bsm(c, s, k, t, r, q, v + hv).price - bsm(c, s, k, t, r, q, v - hv).price) / (2 * hv)
    ht = np.minimum(1e-5, t / 10)
    fd_theta = -(bsm(c, s, k, t + ht, r, q, v).price - bsm(c, s, k, t - ht, r, q, v).price) / (2 * ht)
    hr = 1e-6
    fd_rho = (bsm(c, s, k, t, r + hr, q, v).price - bsm(c, s, k, t, r - hr, q, v).price) / (2 * hr)
    fd_vanna = (bsm(c, s, k, t, r, q, v + hv).delta - bsm(c, s, k, t, r, q, v - hv).delta) / (2 * hv)
    scale = np.maximum(1.0, np.abs(g.price))[keep]

    def close(analytic: np.ndarray, fd: np.ndarray, tol: np.ndarray | float) -> None:
        err = np.abs(analytic[keep] - fd[keep])
        assert np.all(err <= tol), f"worst error {err.max():.3g} at grid point {int(np.argmax(err - tol))}"

    close(g.delta, fd_delta, 1e-5)
    roundoff = 100 * np.finfo(float).eps * (np.abs(g.price) + s) / hs**2  # second differences lose digits
    close(g.gamma, fd_gamma, 1e-4 * np.abs(g.gamma[keep]) + roundoff[keep])
    close(g.vega, fd_vega, 1e-4 * scale)
    close(g.theta, fd_theta, 1e-4 * np.abs(g.theta[keep]) + 1e-4 * scale)
    close(g.rho, fd_rho, 1e-4 * scale)
    close(g.vanna, fd_vanna, 1e-4 * np.abs(g.vanna[keep]) + 1e-5)
    fd_volga = (bsm(c, s, k, t, r, q, v + hv).vega - bsm(c, s, k, t, r, q, v - hv).vega) / (2 * hv)
    close(g.volga, fd_volga, 1e-4 * np.abs(g.volga[keep]) + 1e-4 * scale)


def test_black76_rho_is_the_rate_derivative_with_the_carry_held_not_the_fixed_forward_rho() -> None:
    f, k, t, r, v = 19.0, 20.0, 0.75, 0.10, 0.28
    g = black76(True, f, k, t, r, v)
    d2 = (np.log(f / k) - 0.5 * v * v * t) / (v * np.sqrt(t))
    assert float(g.rho) == pytest.approx(k * t * np.exp(-r * t) * float(ndtr(d2)), rel=1e-12)
    assert float(g.rho) != pytest.approx(-t * float(g.price), rel=1e-3)  # the fixed-forward rho is -T·V


def test_expired_options_are_intrinsic() -> None:
    g = bsm(np.array([True, False, True]), 100.0, np.array([90.0, 90.0, 110.0]), 0.0, 0.05, 0.0, 0.5)
    np.testing.assert_allclose(g.price, [10.0, 0.0, 0.0])
    np.testing.assert_allclose(g.delta, [1.0, 0.0, 0.0])
    np.testing.assert_allclose(g.gamma, 0.0)


def test_hundred_thousand_options_under_a_second() -> None:
    rng = np.random.default_rng(7)
    n = 100_000
    args = (
        rng.random(n) < 0.5,
        3000.0,
        rng.uniform(1500, 4500, n),
        rng.uniform(1 / 365, 1.0, n),
        0.0,
        0.0,
        rng.uniform(0.3, 1.2, n),
    )
    bsm(*args)  # warm-up
    start = time.perf_counter()
    g = bsm(*args)
    assert time.perf_counter() - start < 0.5
    assert np.all(np.isfinite(g.price)) and g.price.shape == (n,)
