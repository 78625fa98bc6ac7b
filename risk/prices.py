"""Price series for backtests: OHLC CSV files with columns mapped by header name, validated row by row.

Accepted headers (case-insensitive): a time column (``timestamp``/``date``/``time``/``datetime`` as ISO text, or
``unix_timestamp``/``unix`` in seconds or milliseconds) and ``close`` (the only price the backtest uses; ``open``,
``high``, ``low`` are checked when present). Column order does not matter: Binance-style
``timestamp,open,high,low,close,volume`` and the daily ``timestamp,open,close,volume,unix_timestamp,high,low``
both load.

Every malformed row, non-positive or non-finite price, and unsorted or duplicate timestamp raises
:class:`InputError` naming the file and the line. Gaps (a step longer than 1.5x the file's typical step, like the
one missing hour in each hourly file) are kept explicit in :attr:`PriceSeries.gaps`: the backtester crosses a gap
as one longer step, with no trading inside it.

Usage::

    series = load_prices(Path("../shared/data/ethusdt_1h.csv"))
    series.close, series.times, series.gaps
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from crosshedge import InputError

_ISO_TIME = ("timestamp", "date", "time", "datetime", "open_time")
_UNIX_TIME = ("unix_timestamp", "unix", "epoch")
_PRICES = ("open", "high", "low", "close")


@dataclass(frozen=True)
class Gap:
    """A hole in the series: from the bar at ``start`` to the next bar at ``end`` (UTC seconds)."""

    start: float
    end: float
    missing_bars: int


@dataclass(frozen=True)
class PriceSeries:
    """Validated closes on strictly increasing UTC times (seconds since the epoch)."""

    source: str
    underlying: str
    times: NDArray[np.float64]
    close: NDArray[np.float64]
    step_s: float  # the typical (median) bar length
    gaps: tuple[Gap, ...]

    def window(self, start: datetime | None, end: datetime | None) -> PriceSeries:
        """The bars with start <= time < end (either bound optional)."""
        lo = -math.inf if start is None else start.timestamp()
        hi = math.inf if end is None else end.timestamp()
        keep = (self.times >= lo) & (self.times < hi)
        if keep.sum() < 2:
            raise InputError(f"{self.source}: fewer than two bars between {start} and {end}")
        gaps = tuple(g for g in self.gaps if lo <= g.start and g.end < hi)
        return PriceSeries(self.source, self.underlying, self.times[keep], self.close[keep], self.step_s, gaps)


def guess_underlying(path: Path) -> str:
    """ETH/BTC from a file name like ethusdt_1h.csv (the backtest CLI also accepts ``ETH=path``)."""
    stem = path.stem.lower()
    for token, underlying in (("weth", "ETH"), ("eth", "ETH"), ("wbtc", "BTC"), ("btc", "BTC")):
        if stem.startswith(token):
            return underlying
    return path.stem.split("_")[0].upper()


def _parse_time(value: str, unix: bool, where: str) -> float:
    try:
        if unix:
            t = float(value)
            return t / 1000.0 if t > 1e11 else t  # milliseconds
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{where}: timestamp {value!r} is not a date/time") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _columns(path: Path, header: list[str]) -> tuple[int, bool, dict[str, int]]:
    names = [h.strip().lower() for h in header]
    time_col = next((c for c in _ISO_TIME if c in names), None)
    unix_col = next((c for c in _UNIX_TIME if c in names), None)
    if time_col is None and unix_col is None:
        raise InputError(f"{path}: line 1: no time column (expected one of {', '.join(_ISO_TIME + _UNIX_TIME)})")
    if "close" not in names:
        raise InputError(f"{path}: line 1: no 'close' column")
    prices = {p: names.index(p) for p in _PRICES if p in names}
    if time_col is not None:
        return names.index(time_col), False, prices
    assert unix_col is not None
    return names.index(unix_col), True, prices


def _parse_row(row: list[str], where: str, time_idx: int, unix: bool, cols: dict[str, int]) -> tuple[float, float]:
    if len(row) <= max(time_idx, *cols.values()):
        raise InputError(f"{where}: expected at least {max(time_idx, *cols.values()) + 1} fields, got {len(row)}")
    t = _parse_time(row[time_idx], unix, where)
    close = math.nan
    for name, idx in cols.items():
        try:
            value = float(row[idx])
        except ValueError:
            raise InputError(f"{where}: {name} {row[idx]!r} is not a number") from None
        if not math.isfinite(value):
            raise InputError(f"{where}: {name} is {row[idx]!r}; prices must be finite")
        if value <= 0:
            raise InputError(f"{where}: {name} must be positive, got {value}")
        if name == "close":
            close = value
    return t, close


def load_prices(path: Path, underlying: str | None = None) -> PriceSeries:
    """Read and validate a price CSV; raises :class:`InputError` with file and line on any bad row."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the price file ({exc.strerror})") from None
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if not header:
        raise InputError(f"{path}: the file is empty")
    time_idx, unix, cols = _columns(path, header)
    times: list[float] = []
    closes: list[float] = []
    for line, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        where = f"{path}: line {line}"
        t, c = _parse_row(row, where, time_idx, unix, cols)
        if times and t <= times[-1]:
            kind = "duplicate" if t == times[-1] else "out-of-order"
            raise InputError(f"{where}: {kind} timestamp (times must strictly increase)")
        times.append(t)
        closes.append(c)
    if len(times) < 2:
        raise InputError(f"{path}: needs at least two price rows, got {len(times)}")
    t_arr = np.asarray(times)
    steps = np.diff(t_arr)
    step = float(np.median(steps))
    gaps = tuple(
        Gap(start=float(t_arr[i]), end=float(t_arr[i + 1]), missing_bars=round(steps[i] / step) - 1)
        for i in np.flatnonzero(steps > 1.5 * step)
    )
    return PriceSeries(str(path), underlying or guess_underlying(path), t_arr, np.asarray(closes), step, gaps)
