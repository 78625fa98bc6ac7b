"""Correlated market risk of the live book: VaR and ES by historical simulation and by correlated Monte Carlo.

Scenarios are joint moves of every underlying over one horizon (default 1 day = 24 h):

- **Historical simulation**: the joint log returns of the hourly series (Binance ETH/USDT and BTC/USDT candles)
  over consecutive, non-overlapping horizon windows whose ends fall on a UTC grid (00:00 for 1 day). The series
  are aligned on their timestamps; a window is kept only when every series has both its ends (the one missing
  hour of each file drops the window it falls on, it is never filled in).
- **Monte Carlo**: zero-mean multivariate normal log returns with the empirical covariance of the same historical
  returns (Cholesky factor), seeded, so the correlation is the data's and only the tails are Gaussian.

Each scenario re-prices the whole book with the pricing of :func:`risk.aggregate` (the same full revaluation the
stress grid uses: options under their surfaces, LP positions, spot), vectorised over scenarios
(:func:`risk.valuation.book_values`), at shocked prices, instantly (no time decay, implied vols unchanged), and
the P&L is the shocked value minus today's value. Perp accounts are valued as the stress grid values them
(:func:`risk.perps.account_values`: collateral plus unrealised P&L, liquidated in a scenario that takes them below
maintenance), against today's account value marked to market.

Quantile convention (stated, because sample VaR has several): with losses L = −P&L sorted ascending
L(1) ≤ ... ≤ L(n) and confidence α, VaR_α = L(k) with k = ⌈α·n⌉ (the smallest loss that at least α of the
scenarios do not exceed), and ES_α = the mean of L(k), ..., L(n), the losses at or beyond VaR (so ES ≥ VaR). A
positive number is a loss.

Usage::

    hist = joint_returns([load_prices(eth_csv), load_prices(btc_csv)])
    report = historical_var(positions, {"ETH": 3000.0, "BTC": 60000.0}, now, hist)
    report.level(0.99).es_usd
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np
from pydantic import BaseModel

from adapters import PerpPosition
from crosshedge import Frozen, InputError
from risk.aggregate import CASH_UNDERLYINGS, aggregate
from risk.greeks import FloatArray
from risk.perps import account_value, account_values
from risk.prices import PriceSeries
from risk.valuation import book_values

CONFIDENCES = (0.95, 0.99)
_CHUNK = 2_000  # scenarios priced per block by revalue


@dataclass(frozen=True)
class JointReturns:
    """Joint log returns over one horizon: ``log_returns[i, j]`` is underlying j's over window i (ending ends[i])."""

    underlyings: tuple[str, ...]
    ends: FloatArray  # unix seconds at each window's end
    log_returns: FloatArray  # shape (windows, underlyings)
    horizon_hours: float

    def covariance(self) -> FloatArray:
        out: FloatArray = np.atleast_2d(np.cov(self.log_returns, rowvar=False))
        return out

    def correlation(self) -> FloatArray:
        out: FloatArray = np.atleast_2d(np.corrcoef(self.log_returns, rowvar=False))
        return out

    def betas(self, lead: str) -> dict[str, float]:
        """OLS slope of each underlying's log return on ``lead``'s (1 for the lead itself)."""
        j = self.underlyings.index(lead)
        x = self.log_returns[:, j]
        var = float(np.var(x, ddof=1))
        return {u: float(np.cov(self.log_returns[:, i], x, ddof=1)[0, 1]) / var
                for i, u in enumerate(self.underlyings)}


def joint_returns(series: Sequence[PriceSeries], horizon_hours: float = 24.0) -> JointReturns:
    """Align ``series`` on timestamps and take log returns over consecutive horizon windows on a UTC grid.

    Usage: ``joint_returns([load_prices(eth_csv), load_prices(btc_csv)], horizon_hours=24)``
    """
    if not series:
        raise InputError("joint returns need at least one price series")
    names = tuple(s.underlying for s in series)
    if len(set(names)) != len(names):
        raise InputError(f"two price series for the same underlying: {', '.join(names)}")
    step = horizon_hours * 3600.0
    common = series[0].times
    for s in series[1:]:
        common = np.intersect1d(common, s.times)
    grid = common[np.isclose(np.mod(common, step), 0.0)]
    keep = np.isclose(np.diff(grid), step)  # both ends present, no longer window across a missing end
    if not keep.any():
        raise InputError(f"the price series {', '.join(names)} share no complete {horizon_hours:g} h window")
    cols = []
    for s in series:
        closes = s.close[np.searchsorted(s.times, grid)]
        cols.append(np.diff(np.log(closes))[keep])
    return JointReturns(underlyings=names, ends=grid[1:][keep], log_returns=np.column_stack(cols),
                        horizon_hours=horizon_hours)


class VarLevel(Frozen):
    confidence: float
    var_usd: float  # a positive number is a loss
    es_usd: float
    tail: int  # scenarios averaged into ES


class Scenario(Frozen):
    """One historical scenario: the window's end (UTC), each underlying's relative move and the book's P&L."""

    end: str
    moves: dict[str, float]
    pnl_usd: float


class VarReport(Frozen):
    method: Literal["historical", "monte_carlo"]
    horizon_hours: float
    scenarios: int
    base_value_usd: float
    mean_pnl_usd: float
    levels: tuple[VarLevel, ...]
    correlation: dict[str, dict[str, float]]
    worst: tuple[Scenario, ...]  # historical: the worst windows; Monte Carlo: empty
    seed: int | None = None

    def level(self, confidence: float) -> VarLevel:
        for lv in self.levels:
            if abs(lv.confidence - confidence) < 1e-12:
                return lv
        raise KeyError(confidence)


def var_es(pnl: FloatArray, confidences: Sequence[float] = CONFIDENCES) -> tuple[VarLevel, ...]:
    """VaR and ES of a P&L sample under the module's quantile convention (k = ⌈α·n⌉).

    Usage: ``var_es(np.array([-5.0, 1.0, 2.0]), (0.5,))``
    """
    losses = np.sort(-np.asarray(pnl, dtype=np.float64))
    n = len(losses)
    if n == 0:
        raise InputError("VaR needs at least one scenario")
    out = []
    for a in confidences:
        if not 0 < a < 1:
            raise InputError(f"a VaR confidence must be within (0, 1), got {a}")
        k = min(max(math.ceil(a * n - 1e-9), 1), n)  # 1-based order statistic; the epsilon absorbs a·n float noise
        out.append(VarLevel(confidence=a, var_usd=float(losses[k - 1]), es_usd=float(losses[k - 1:].mean()),
                            tail=n - k + 1))
    return tuple(out)


def revalue(
    positions: Sequence[BaseModel], prices: Mapping[str, float], now: datetime, underlyings: Sequence[str],
    log_returns: FloatArray, rate: float = 0.0, progress: Callable[[int], None] | None = None,
) -> FloatArray:
    """Book P&L under each row of joint log returns (full revaluation, instantaneous: :func:`book_values`, the
    pricing of :func:`aggregate` vectorised over scenarios).

    ``progress(done)`` is called after every block of scenarios.
    """
    held = {str(u) for p in positions for u in (getattr(p, "underlying", None), getattr(p, "quote_underlying", None))
            if u is not None} - CASH_UNDERLYINGS
    missing = sorted(held - set(underlyings))
    if missing:
        raise InputError(f"no price history for {', '.join(missing)}: every underlying of the book needs one for VaR")
    names = [u for u in underlyings if u in prices and u not in CASH_UNDERLYINGS]
    idx = [underlyings.index(u) for u in names]
    perps = [p for p in positions if isinstance(p, PerpPosition)]
    rest = [p for p in positions if not isinstance(p, PerpPosition)]
    base = float(book_values(rest, prices, now, rate)[0]) + sum(
        account_value(p, _perp_mark(prices, p)) for p in perps)
    pnl = np.empty(len(log_returns))
    for start in range(0, len(log_returns), _CHUNK):  # bounded memory: options x chunk prices at a time
        moves = np.exp(log_returns[start:start + _CHUNK, idx])
        shocked = dict(prices) | {u: prices[u] * moves[:, j] for j, u in enumerate(names)}
        values = book_values(rest, shocked, now, rate)
        for p in perps:
            values = values + account_values(p, np.broadcast_to(shocked[p.underlying], (len(moves),)))
        pnl[start:start + len(moves)] = values - base
        if progress is not None:
            progress(start + len(moves))
    return pnl


def _perp_mark(prices: Mapping[str, float], pos: PerpPosition) -> float:
    price = prices.get(pos.underlying)
    if price is None or not price > 0:
        raise InputError(f"no mark price for {pos.underlying} (needed by perp {pos.market or pos.underlying}); "
                         f"marks given for {sorted(prices)}")
    return float(price)


def _correlation(hist: JointReturns) -> dict[str, dict[str, float]]:
    c = hist.correlation()
    return {u: {v: float(c[i, j]) for j, v in enumerate(hist.underlyings)} for i, u in enumerate(hist.underlyings)}


def historical_var(
    positions: Sequence[BaseModel], prices: Mapping[str, float], now: datetime, hist: JointReturns,
    confidences: Sequence[float] = CONFIDENCES, rate: float = 0.0, worst: int = 5,
    progress: Callable[[int], None] | None = None,
) -> VarReport:
    """VaR/ES of the book by historical simulation over every joint window of ``hist``; the worst windows listed.

    Usage: ``historical_var(positions, marks, now, joint_returns([eth, btc])).level(0.95).var_usd``
    """
    pnl = revalue(positions, prices, now, hist.underlyings, hist.log_returns, rate, progress)
    order = np.argsort(pnl)[:worst]
    scenarios = tuple(Scenario(
        end=datetime.fromtimestamp(float(hist.ends[i]), UTC).strftime("%Y-%m-%dT%H:%MZ"),
        moves={u: float(math.expm1(hist.log_returns[i, j])) for j, u in enumerate(hist.underlyings)},
        pnl_usd=float(pnl[i])) for i in order)
    return VarReport(method="historical", horizon_hours=hist.horizon_hours, scenarios=len(pnl),
                     base_value_usd=aggregate(positions, prices, now, rate).value_usd, mean_pnl_usd=float(pnl.mean()),
                     levels=var_es(pnl, confidences), correlation=_correlation(hist), worst=scenarios)


def correlated_normals(hist: JointReturns, paths: int, seed: int) -> FloatArray:
    """Zero-mean joint normal log returns with ``hist``'s covariance (Cholesky), shape (paths, underlyings)."""
    if paths < 1:
        raise InputError(f"Monte Carlo VaR needs at least one path, got {paths}")
    chol = np.linalg.cholesky(hist.covariance())
    z = np.random.default_rng(seed).standard_normal((paths, len(hist.underlyings)))
    out: FloatArray = z @ chol.T
    return out


def monte_carlo_var(
    positions: Sequence[BaseModel], prices: Mapping[str, float], now: datetime, hist: JointReturns,
    paths: int = 10_000, seed: int = 11, confidences: Sequence[float] = CONFIDENCES, rate: float = 0.0,
    progress: Callable[[int], None] | None = None,
) -> VarReport:
    """VaR/ES of the book under correlated normal moves with the empirical covariance of ``hist``.

    Usage: ``monte_carlo_var(positions, marks, now, joint_returns([eth, btc]), paths=10_000, seed=1)``
    """
    shocks = correlated_normals(hist, paths, seed)
    pnl = revalue(positions, prices, now, hist.underlyings, shocks, rate, progress)
    return VarReport(method="monte_carlo", horizon_hours=hist.horizon_hours, scenarios=paths,
                     base_value_usd=aggregate(positions, prices, now, rate).value_usd, mean_pnl_usd=float(pnl.mean()),
                     levels=var_es(pnl, confidences), correlation=_correlation(hist), worst=(), seed=seed)
