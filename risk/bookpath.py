"""The rolling book priced on every bar of a price series: the part of a backtest every policy shares.

Roll rule: the book's lines for the series' underlying open at the first bar at their moneyness K / reference price
(the book file's ``reference_prices``; else the first close) and tenor; an expired line settles at intrinsic and
re-opens at the same tenor and moneyness against the then spot, so a long replay keeps a stationary book.

Implied vol (``iv="realised"``, the default): the data has no implied-vol history, so each line's vol on bar i is
its book vol plus the change of the trailing 30-day realised vol since the first bar, σ_line + RV30(i) − RV30(0),
floored at 5%. RV30 is computed on ``history`` (the whole file) when given, so a window's first month has its past
behind it; without it the first day's bars use the first day's realised vol and the first month an expanding
window. The smile keeps its shape and moves with the market's realised vol, which gives the book a vega P&L.
``iv="flat"`` keeps every line at its book vol.

Usage::

    path = book_path(load_prices(csv_path), positions)
    path.vega[0], path.vol_shift[-1]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from adapters import OptionPosition
from crosshedge import InputError
from risk.greeks import FloatArray, bsm
from risk.prices import PriceSeries

YEAR_S = 365.0 * 86400.0
IV_WINDOW_H = 720.0  # the trailing realised-vol window that moves implied vol: 30 days of hourly bars
IV_FLOOR = 0.05
IvModel = Literal["realised", "flat"]


@dataclass(frozen=True)
class RollingBook:
    """The book's lines for one underlying as arrays; strikes and expiries move when lines roll."""

    is_call: np.ndarray
    size: FloatArray
    moneyness: FloatArray
    tenor_s: FloatArray
    vol: FloatArray

    @classmethod
    def from_positions(cls, positions: Sequence[OptionPosition], underlying: str, first_price: float) -> RollingBook:
        lines = [p for p in positions if p.underlying == underlying]
        if not lines:
            raise InputError(f"the book has no {underlying} options to backtest")
        ref = [p.reference_price or first_price for p in lines]
        mny = np.array([p.strike / r for p, r in zip(lines, ref, strict=True)])
        return cls(
            is_call=np.array([p.kind == "call" for p in lines]),
            size=np.array([p.size for p in lines]),
            moneyness=mny,
            tenor_s=np.array([p.tenor_days * 86400.0 for p in lines]),
            vol=np.array([p.implied_vol(r) for p, r in zip(lines, ref, strict=True)]),  # sticky moneyness
        )


@dataclass(frozen=True)
class BookPath:
    """Per-bar book quantities shared by every policy (index 0 = the first bar, where the book opens)."""

    series: PriceSeries
    option_pnl: FloatArray  # option P&L over the bar ending at i (0 at i = 0)
    delta: FloatArray
    gamma: FloatArray
    vanna: FloatArray
    vega: FloatArray  # per 1.00 of vol
    theta: FloatArray  # per year
    vol_shift: FloatArray  # the implied-vol move added to every line since the first bar
    vol: FloatArray  # gamma-weighted implied vol
    tau: FloatArray  # gamma-weighted years to expiry
    rolls: int
    lines: int


def _iv_shift(series: PriceSeries, model: IvModel, history: PriceSeries | None = None) -> FloatArray:
    """RV30(i) − RV30(0): the trailing 30-day realised vol's change since the first bar (zeros when flat).

    With ``history`` (a longer series holding every bar of ``series``: the whole file before windowing), RV30 is
    computed on it, so the window's first month has a full month of past returns behind it.
    """
    n = len(series.close)
    if model == "flat" or n < 2:
        return np.zeros(n)
    if history is not None and history is not series:
        at = np.searchsorted(history.times, series.times)
        if at[-1] >= len(history.times) or not np.array_equal(history.times[at], series.times):
            raise InputError(f"the warm-up history {history.source} does not hold every bar of {series.source}")
        full = _iv_shift(history, model)[at]
        out_h: FloatArray = full - full[0]
        return out_h
    r2 = np.concatenate([[0.0], np.diff(np.log(series.close)) ** 2])  # a gap's return counts once, unscaled
    csum, ctime = np.cumsum(r2), np.concatenate([[0.0], np.cumsum(np.diff(series.times))])
    lo = np.searchsorted(series.times, series.times - IV_WINDOW_H * 3600.0)
    span = ctime - ctime[lo]
    warm = max(1, min(n - 1, 24))  # the first day's bars take the first day's vol: no vol from one price
    var = np.where(span > 0, (csum - csum[lo]) / np.maximum(span, 1.0), 0.0)
    var[: warm + 1] = csum[warm] / ctime[warm]
    rv: FloatArray = np.sqrt(var * YEAR_S)
    out: FloatArray = rv - rv[0]
    return out


def book_path(series: PriceSeries, positions: Sequence[OptionPosition], rate: float = 0.0,
              iv: IvModel = "realised", history: PriceSeries | None = None) -> BookPath:
    """Price the rolling book on every bar of ``series`` (see the module docstring for the roll and vol rules);
    ``history``: the longer series ``series`` was cut from, for the realised-vol warm-up."""
    book = RollingBook.from_positions(positions, series.underlying, float(series.close[0]))
    n = len(series.close)
    out = {k: np.zeros(n) for k in ("pnl", "delta", "gamma", "vanna", "vega", "theta", "vol", "tau")}
    shift = _iv_shift(series, iv, history)
    strike = book.moneyness * series.close[0]
    expiry = series.times[0] + book.tenor_s
    prev_value = 0.0
    rolls = 0
    for i in range(n):
        s, t = float(series.close[i]), float(series.times[i])
        vols = np.maximum(book.vol + shift[i], IV_FLOOR)
        g = bsm(book.is_call, s, strike, (expiry - t) / YEAR_S, rate, 0.0, vols)
        value = float(book.size @ g.price)
        out["pnl"][i] = value - prev_value if i else 0.0
        expired = expiry <= t
        if expired.any():  # settle at intrinsic (already in value), re-open at the same tenor and moneyness
            rolls += int(expired.sum())
            strike = np.where(expired, book.moneyness * s, strike)
            expiry = np.where(expired, t + book.tenor_s, expiry)
            g = bsm(book.is_call, s, strike, (expiry - t) / YEAR_S, rate, 0.0, vols)
            value = float(book.size @ g.price)
        prev_value = value
        weights = np.abs(book.size * g.gamma)
        wsum = float(weights.sum()) or 1.0
        for key, arr in (("delta", g.delta), ("gamma", g.gamma), ("vanna", g.vanna), ("vega", g.vega),
                         ("theta", g.theta)):
            out[key][i] = book.size @ arr
        out["vol"][i] = float(weights @ vols) / wsum
        out["tau"][i] = max(float(weights @ ((expiry - t) / YEAR_S)) / wsum, 1e-6)
    return BookPath(series, out["pnl"], out["delta"], out["gamma"], out["vanna"], out["vega"], out["theta"], shift,
                    out["vol"], out["tau"], rolls, len(book.size))
