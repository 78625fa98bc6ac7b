"""Smile-consistent Greeks: every Greek ``aggregate`` reports is the finite difference of ``aggregate``'s own value
(the revaluation the stress grid uses) under the surface's dynamics; expiry buckets add up to the net."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel

from adapters import OptionPosition, SmileDynamics, SmileSlice, SviParams, VolSurface
from adapters.option_book import load_book
from risk import EXPIRY_BUCKET_DAYS, aggregate, bsm, expiry_bucket, stress_grid

NOW = datetime(2026, 11, 21, tzinfo=UTC)
SPOT = 3000.0
MARKS = {"ETH": SPOT}
BOOK = Path(__file__).resolve().parents[3] / "examples" / "book.yaml"
GREEKS = ("value_usd", "delta", "gamma", "vega", "theta_day", "vanna", "volga", "lvr_day")


def eth_surface(dynamics: SmileDynamics, reference: float = SPOT) -> VolSurface:
    """A skewed ETH surface: SVI at 14 and 90 days (the book's lines sit on, between and beyond them)."""
    return VolSurface(underlying="ETH", as_of=NOW, dynamics=dynamics, reference_price=reference, slices=(
        SmileSlice(label="14d", expiry=NOW + timedelta(days=14),
                   svi=SviParams(a=0.004, b=0.02, rho=-0.4, m=0.02, sigma=0.12)),
        SmileSlice(label="90d", expiry=NOW + timedelta(days=90),
                   svi=SviParams(a=0.05, b=0.08, rho=-0.35, m=0.03, sigma=0.25)),
    ))


def book(dynamics: SmileDynamics, reference: float = SPOT) -> list[OptionPosition]:
    surface = eth_surface(dynamics, reference)
    lines = [("p2500-10d", "put", 2500, 10, -30), ("c3300-14d", "call", 3300, 14, -50), ("c3000-45d", "call", 3000,
             45, -200), ("p2600-45d", "put", 2600, 45, 80), ("c3600-90d", "call", 3600, 90, -60),
             ("c4000-200d", "call", 4000, 200, 25)]
    out = [OptionPosition(id=i, underlying="ETH", kind=k, strike=s, expiry=NOW + timedelta(days=d), size=n,
                          surface=surface, venue="deribit", tenor_days=d) for i, k, s, d, n in lines]
    return [*out, OptionPosition(id="flat", underlying="ETH", kind="call", strike=3100, expiry=NOW + timedelta(days=30),
                                 size=-10, vol=0.6, venue="lyra", tenor_days=30)]


def value(positions: Sequence[BaseModel], spot: float = SPOT, now: datetime = NOW, shift: float = 0.0) -> float:
    return aggregate(positions, {"ETH": spot}, now, vol_shift=shift).value_usd


@pytest.mark.parametrize("dynamics", ["sticky_strike", "sticky_delta"])
def test_every_greek_is_the_finite_difference_of_the_revaluation(dynamics: SmileDynamics) -> None:
    pos = book(dynamics)
    eth = aggregate(pos, MARKS, NOW).underlying("ETH")
    h = SPOT * 1e-4
    up, mid, dn = value(pos, SPOT + h), value(pos), value(pos, SPOT - h)
    assert eth.delta == pytest.approx((up - dn) / (2 * h), rel=1e-6)
    assert eth.gamma == pytest.approx((up - 2 * mid + dn) / h**2, rel=1e-4)
    dv = 1e-4  # vol shift, in vol (not points)
    v_up, v_dn = value(pos, shift=dv), value(pos, shift=-dv)
    assert eth.vega == pytest.approx((v_up - v_dn) / (2 * dv) / 100, rel=1e-6)  # USD per vol point
    assert eth.volga == pytest.approx((v_up - 2 * mid + v_dn) / dv**2 / 1e4, rel=1e-3)

    def delta(shift: float) -> float:
        return aggregate(pos, MARKS, NOW, vol_shift=shift).underlying("ETH").delta

    assert eth.vanna == pytest.approx((delta(dv) - delta(-dv)) / (2 * dv), rel=1e-5)
    dt = timedelta(minutes=30)
    theta_fd = (value(pos, now=NOW + dt) - value(pos, now=NOW - dt)) / (2 * dt.total_seconds() / 86400)
    assert eth.theta_day == pytest.approx(theta_fd, rel=1e-3)


def test_sticky_strike_delta_is_black_scholes_delta_at_the_strikes_vol() -> None:
    pos = book("sticky_strike", reference=2900.0)  # marked at 2,900: the strikes keep that day's vols
    k = np.array([math.log(o.strike / 2900.0) for o in pos if o.surface is not None])
    surface = pos[0].surface
    assert surface is not None
    opts = [o for o in pos if o.surface is not None]
    vols = surface.vol(k, [o.expiry for o in opts], NOW)
    taus = np.array([o.years_to_expiry(NOW) for o in opts])
    g = bsm(np.array([o.kind == "call" for o in opts]), SPOT, np.array([o.strike for o in opts]), taus, 0.0, 0.0, vols)
    flat = bsm(True, SPOT, 3100.0, 30 / 365, 0.0, 0.0, 0.6)
    expected = float(np.dot([o.size for o in opts], g.delta)) - 10 * float(flat.delta)
    assert aggregate(pos, MARKS, NOW).underlying("ETH").delta == pytest.approx(expected, rel=1e-12)


def test_sticky_delta_adds_vega_times_the_smiles_move_with_spot() -> None:
    strike_rep = aggregate(book("sticky_strike"), MARKS, NOW).underlying("ETH")
    delta_rep = aggregate(book("sticky_delta"), MARKS, NOW).underlying("ETH")
    # Marked at today's spot both read the same vols and value. Under sticky delta a rising spot moves a fixed
    # strike towards the downside of a negative skew, so its vol rises: this short-vega book loses as spot rises,
    # and its delta is lower by the sum of size·vega·dσ/dS.
    assert delta_rep.value_usd == pytest.approx(strike_rep.value_usd, rel=1e-12)
    assert delta_rep.vega == pytest.approx(strike_rep.vega, rel=1e-12)
    assert delta_rep.delta < strike_rep.delta - 1.0


@pytest.mark.parametrize("dynamics", ["sticky_strike", "sticky_delta"])
def test_the_stress_grid_revalues_under_the_books_dynamics(dynamics: SmileDynamics) -> None:
    pos = book(dynamics)
    grid = stress_grid(pos, MARKS, NOW, price_shocks=(-0.1, 0.0, 0.1), vol_shocks=(0.0, 0.25))
    base = value(pos)
    for ds in (-0.1, 0.1):
        moved = aggregate(pos, {"ETH": SPOT * (1 + ds)}, NOW, vol_mult=1.25)
        assert grid.cell(ds, 0.25).pnl_usd == pytest.approx(moved.value_usd - base, rel=1e-12)
    if dynamics == "sticky_strike":  # a strike's vol does not move with the spot: reprice at the marked vols
        opts = [o for o in pos if o.surface is not None]
        surface = opts[0].surface
        assert surface is not None
        vols = surface.vol([math.log(o.strike / SPOT) for o in opts], [o.expiry for o in opts], NOW)
        g = bsm(np.array([o.kind == "call" for o in opts]), SPOT * 1.1, np.array([o.strike for o in opts]),
                np.array([o.years_to_expiry(NOW) for o in opts]), 0.0, 0.0, vols)
        flat = bsm(True, SPOT * 1.1, 3100.0, 30 / 365, 0.0, 0.0, 0.6)
        expected = float(np.dot([o.size for o in opts], g.price)) - 10 * float(flat.price)
        assert grid.cell(0.1, 0.0).value_usd == pytest.approx(expected, rel=1e-12)


def test_buckets_and_lines_add_up_to_the_net_and_shares_to_one() -> None:
    eth = aggregate(book("sticky_delta"), MARKS, NOW).underlying("ETH")
    assert {b.bucket for b in eth.buckets} == {"7-30d", "30-90d", ">180d"}
    for greek in GREEKS:
        assert sum(getattr(b, greek) for b in eth.buckets) == pytest.approx(getattr(eth, greek), rel=1e-12)
        assert sum(getattr(ln, greek) for ln in eth.lines) == pytest.approx(getattr(eth, greek), rel=1e-12)
    assert sum(b.vega_share for b in eth.buckets) == pytest.approx(1.0)
    assert sum(b.vega_gross_share for b in eth.buckets) == pytest.approx(1.0)
    assert sum(b.positions for b in eth.buckets) == 7
    assert eth.top_vega[0].id == "c3000-45d" and eth.top_vega[0].bucket == "30-90d"


def test_expiry_bucket_edges() -> None:
    assert [expiry_bucket(d) for d in (0.5, 7, 7.01, 30, 90, 180, 181)] == [
        "0-7d", "0-7d", "7-30d", "7-30d", "30-90d", "90-180d", ">180d"]
    assert expiry_bucket(45, (10, 60)) == "10-60d" and EXPIRY_BUCKET_DAYS == (7, 30, 90, 180)


def test_the_example_books_point_smiles_give_finite_difference_greeks_too() -> None:
    positions = load_book(BOOK, NOW)  # vol points (a C² spline in total variance), lines on and between points
    marks = {"ETH": 3000.0, "BTC": 60000.0}
    base = aggregate(positions, marks, NOW)
    for u in base.underlyings:
        h = u.price * 1e-4
        up, dn = (aggregate(positions, {**marks, u.underlying: u.price + s}, NOW).value_usd for s in (h, -h))
        assert u.delta == pytest.approx((up - dn) / (2 * h), rel=1e-6)
        assert u.gamma == pytest.approx((up - 2 * base.value_usd + dn) / h**2, rel=1e-4)


def test_the_example_book_shows_its_vega_concentration_and_its_smile_delta() -> None:
    report = aggregate(load_book(BOOK, NOW), {"ETH": 3000.0, "BTC": 60000.0}, NOW)
    eth = report.underlying("ETH")
    top = eth.top_vega[0]
    assert (top.id, top.bucket, round(top.vega_share, 2)) == ("eth-c-3000-60d", "30-90d", 0.77)
    assert eth.smile_dynamics == "sticky_delta"
    # The BS delta at each strike's own vol (what sticky strike reports) misses the smile's move with spot.
    blind = sum(o.size * float(bsm(o.kind == "call", 3000.0, o.strike, o.years_to_expiry(NOW), 0.0, 0.0,
                                   o.implied_vol(3000.0, NOW)).delta)
                for o in load_book(BOOK, NOW) if o.underlying == "ETH")
    assert eth.delta - blind == pytest.approx(3.94, abs=0.01)
