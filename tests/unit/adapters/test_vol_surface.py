"""The vol surface: SVI and vol-point smiles, total-variance interpolation across expiries, arbitrage refused with
one sentence naming the expiry and the strike (and, through the book loader, the file and the line)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from adapters import SmileSlice, SviParams, VolSurface
from adapters.option_book import load_book
from adapters.vol_checks import K_GRID, gatheral_g
from crosshedge import InputError

T0 = datetime(2026, 11, 21, 12, tzinfo=UTC)
# Axel Vogt's raw SVI slice (Gatheral & Jacquier 2014, example 3.1): T = 1, positive everywhere, yet g(k) < 0.
VOGT = dict(a=-0.0410, b=0.1331, rho=0.3060, m=0.3586, sigma=0.4153)
# Calendar pair: the 60-day smile is lower at the money than the 30-day one (their wings cross).
CAL_30 = dict(a=0.02, b=0.02, rho=0.0, m=0.0, sigma=0.1)
CAL_60 = dict(a=0.005, b=0.08, rho=0.0, m=0.0, sigma=0.1)
GOOD_30 = dict(a=0.01, b=0.03, rho=-0.3, m=0.0, sigma=0.15)
GOOD_90 = dict(a=0.03, b=0.06, rho=-0.3, m=0.0, sigma=0.2)


def svi(label: str, days: float, **params: float) -> SmileSlice:
    return SmileSlice(label=label, expiry=T0 + timedelta(days=days), svi=SviParams.model_validate(params))


def points(label: str, days: float, moneyness: list[float], vols: list[float]) -> SmileSlice:
    return SmileSlice(label=label, expiry=T0 + timedelta(days=days), k=tuple(math.log(m) for m in moneyness),
                      vols=tuple(vols))


def surface(*slices: SmileSlice, **kw: object) -> VolSurface:
    return VolSurface.model_validate({"underlying": "ETH", "as_of": T0, "slices": slices, "reference_price": 3000.0,
                                      **kw})


def problem(*slices: SmileSlice) -> str:
    with pytest.raises(ValidationError) as err:
        surface(*slices)
    return str(err.value.errors()[0]["msg"]).removeprefix("Value error, ")


def test_a_good_svi_slice_prices_its_own_formula_and_has_a_positive_density() -> None:
    s = surface(svi("30d", 30, **GOOD_30), svi("90d", 90, **GOOD_90))
    k = np.array([-0.4, 0.0, 0.25])
    x = k - GOOD_30["m"]
    w = GOOD_30["a"] + GOOD_30["b"] * (GOOD_30["rho"] * x + np.sqrt(x * x + GOOD_30["sigma"] ** 2))
    assert s.vol(k, T0 + timedelta(days=30), T0) == pytest.approx(np.sqrt(w / (30 / 365)), rel=1e-12)
    for sl in s.slices:
        assert sl.svi is not None
        assert gatheral_g(*sl.svi.w(K_GRID), K_GRID).min() > 0


def test_vogts_slice_is_refused_for_butterfly_arbitrage_naming_expiry_and_strike() -> None:
    assert problem(svi("1y", 365, **VOGT)) == (
        "butterfly arbitrage at expiry 1y, strike 7,224 (K/F 2.408): Gatheral's density condition g(k) = -0.03286 "
        "< 0 (the implied density is negative)")


def test_crossing_expiries_are_refused_for_calendar_arbitrage_naming_both_and_the_strike() -> None:
    assert problem(svi("30d", 30, **CAL_30), svi("60d", 60, **CAL_60)) == (
        "calendar arbitrage between expiries 30d and 60d at strike 3,000 (K/F 1.000): total variance falls from "
        "0.022 to 0.013 (it must not decrease with expiry)")


def test_vol_points_whose_call_prices_are_not_convex_are_refused() -> None:
    # A vol spike at the money: the butterfly 2,550/3,000/3,450 has a negative price.
    assert problem(points("30d", 30, [0.7, 0.85, 1.0, 1.15, 1.3], [0.62, 0.62, 0.9, 0.62, 0.62])) == (
        "butterfly arbitrage at expiry 30d, strike 3,000 (K/F 1.000): call prices are not convex in strike there "
        "(the implied density is negative)")
    # Vol rising so fast with strike that calls get dearer.
    assert problem(points("30d", 30, [0.7, 0.85, 1.0, 1.15, 1.3], [0.62, 0.62, 0.62, 0.62, 1.6])) == (
        "butterfly arbitrage at expiry 30d, strike 3,591 (K/F 1.197): call prices rise with the strike there")


@pytest.mark.parametrize(("params", "field"), [
    ({"b": -0.1}, "b"), ({"rho": 1.0}, "rho"), ({"rho": -1.2}, "rho"), ({"sigma": 0.0}, "sigma"),
    ({"a": -0.5}, "a + b·sigma·sqrt(1 - rho²) = -0.49"),
])
def test_svi_parameter_bounds(params: dict[str, float], field: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(field)):
        SviParams.model_validate(GOOD_30 | params)


def test_interpolation_reproduces_each_expiry_and_total_variance_rises_between() -> None:
    s = surface(svi("30d", 30, **GOOD_30), points("90d", 90, [0.6, 0.8, 1.0, 1.2, 1.5], [0.8, 0.69, 0.63, 0.64, 0.69]))
    k = np.linspace(-1.0, 1.0, 41)
    at30 = s.vol(k, T0 + timedelta(days=30), T0)
    assert at30 == pytest.approx(s.slices[0].vol(k, 30 / 365)[0], rel=1e-12)
    at90 = s.vol(np.log([0.6, 0.8, 1.0, 1.2, 1.5]), T0 + timedelta(days=90), T0)
    assert at90 == pytest.approx([0.8, 0.69, 0.63, 0.64, 0.69], rel=1e-12)
    days = np.linspace(31, 89, 30)
    w = np.array([s.vol(k, T0 + timedelta(days=float(d)), T0) ** 2 * d / 365 for d in days])
    assert np.all(np.diff(w, axis=0) >= 0)  # monotone between the expiries at every k
    # Linear in T at fixed k: the midpoint's total variance is the mean of the ends'.
    w30, w90 = at30**2 * 30 / 365, s.vol(k, T0 + timedelta(days=90), T0) ** 2 * 90 / 365
    assert s.vol(k, T0 + timedelta(days=60), T0) ** 2 * 60 / 365 == pytest.approx((w30 + w90) / 2, rel=1e-12)
    # Before the first and after the last expiry the nearest expiry's vol is held flat.
    assert s.vol(k, T0 + timedelta(days=7), T0) == pytest.approx(at30, rel=1e-12)
    assert s.vol(k, T0 + timedelta(days=400), T0) == pytest.approx(s.vol(k, T0 + timedelta(days=90), T0), rel=1e-12)


def test_an_expiry_keeps_its_vol_as_time_passes_and_drops_out_once_past() -> None:
    s = surface(svi("30d", 30, **GOOD_30), svi("90d", 90, **GOOD_90))
    k = np.array([-0.2, 0.0, 0.2])
    later = T0 + timedelta(days=10)
    assert s.vol(k, T0 + timedelta(days=30), later) == pytest.approx(s.vol(k, T0 + timedelta(days=30), T0))
    past = T0 + timedelta(days=40)  # the 30d expiry is gone: the 90d smile, flat in vol, is all there is
    assert s.vol(k, T0 + timedelta(days=60), past) == pytest.approx(s.vol(k, T0 + timedelta(days=90), T0))


def test_sticky_strike_needs_the_spot_the_surface_was_marked_at() -> None:
    with pytest.raises(ValidationError, match="sticky_strike needs the spot the surface was marked at"):
        surface(svi("30d", 30, **GOOD_30), dynamics="sticky_strike", reference_price=None)


BOOK = """\
as_of: 2026-11-21T12:00:00Z
reference_prices: {ETH: 3000}
smile_dynamics: sticky_strike
surface:
  ETH:
    30d: {svi: {a: 0.01, b: 0.03, rho: -0.3, m: 0.0, sigma: 0.15}}
    90d: {k: [-0.5, -0.2, 0.0, 0.2, 0.4], vols: [0.8, 0.69, 0.63, 0.64, 0.69]}
positions:
  - {id: a, underlying: ETH, type: call, strike: 3300, expiry: 60d, size: -1}
"""


def _load(tmp_path: Path, text: str) -> tuple[Path, list[object]]:
    path = tmp_path / "book.yaml"
    path.write_text(text)
    return path, list(load_book(path, T0))


def test_the_book_loads_a_surface_and_its_dynamics(tmp_path: Path) -> None:
    _, (pos,) = _load(tmp_path, BOOK)
    s = pos.surface  # type: ignore[attr-defined]
    assert s.dynamics == "sticky_strike" and s.reference_price == 3000 and [x.label for x in s.slices] == ["30d", "90d"]
    assert pos.implied_vol(3000.0) == pytest.approx(  # type: ignore[attr-defined]
        float(s.vol(math.log(3300 / 3000), T0 + timedelta(days=60), T0)[0]))


def test_the_book_names_file_entry_line_expiry_and_strike_for_an_arbitrage(tmp_path: Path) -> None:
    text = BOOK.replace("30d: {svi: {a: 0.01, b: 0.03, rho: -0.3, m: 0.0, sigma: 0.15}}",
                        "1y: {svi: {a: -0.0410, b: 0.1331, rho: 0.3060, m: 0.3586, sigma: 0.4153}}").replace(
        "90d:", "400d:").replace("expiry: 60d", "expiry: 380d")
    with pytest.raises(InputError) as err:
        _load(tmp_path, text)
    assert str(err.value) == (
        f"{tmp_path / 'book.yaml'}: surface.ETH (line 5): butterfly arbitrage at expiry 1y, strike 7,224 (K/F 2.408): "
        "Gatheral's density condition g(k) = -0.03286 < 0 (the implied density is negative)")


@pytest.mark.parametrize(("edit", "message"), [
    (("smile_dynamics: sticky_strike", "smile_dynamics: sticky_vol"),
     "smile_dynamics must be one of sticky_strike, sticky_delta, got 'sticky_vol'"),
    (("reference_prices: {ETH: 3000}\n", ""),
     "surface.ETH (line 4): sticky_strike needs the spot the surface was marked at (a reference price) "
     "(reference_prices.ETH)"),
    (("sigma: 0.15}}", "sigma: -0.15}}"), "surface.ETH.30d: sigma: Input should be greater than 0"),
    (("vols: [0.8, 0.69, 0.63, 0.64, 0.69]", "vols: [0.8, 0.69]"),
     "surface.ETH.90d: the points need as many vols as strikes, at least one"),
    (("90d:", "1m:"), "surface.ETH (line 5): expiries 30d and 1m fall at the same time"),
    (("  ETH:\n", "  SOL:\n"), "surface.SOL (line 5): unknown underlying 'SOL'; expected one of ETH, BTC"),
    (("surface:\n", "smiles: {ETH: {30d: {moneyness: [1.0], vols: [0.6]}}}\nsurface:\n"),
     "smiles.ETH (line 4): ETH has a surface already; give its smiles in one section"),
])
def test_surface_problems_name_file_and_entry(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    with pytest.raises(InputError) as err:
        _load(tmp_path, BOOK.replace(*edit))
    assert str(err.value) == f"{tmp_path / 'book.yaml'}: {message}"
