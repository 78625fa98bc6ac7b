"""`crosshedge risk --var`: 1-day VaR and ES at 95/99% of the live book, by historical simulation on the joint
ETH/BTC history and by a correlated Monte Carlo with its covariance; and the betas that make ``--stress``
correlated.

History: ``--history UNDERLYING=CSV`` (repeat), by default ``../shared/data/ethusdt_1h.csv`` and
``btcusdt_1h.csv`` (Binance hourly candles, the first one leads the stress grid). A missing or malformed file is an
error naming it (exit 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from crosshedge.cli.output import UsageError, err_console
from risk import JointReturns, StressGrid, VarReport, historical_var, joint_returns, load_prices, monte_carlo_var

DEFAULT_HISTORY = ("ETH=../shared/data/ethusdt_1h.csv", "BTC=../shared/data/btcusdt_1h.csv")


def load_history(items: Sequence[str] | None, required: bool, horizon_hours: float = 24.0) -> JointReturns | None:
    """Joint returns of the ``UNDERLYING=CSV`` files (the defaults when none are given); None when the defaults are
    absent and nothing ``required`` them (``--stress`` then moves every underlying by the same shock)."""
    if not items and not required and not all(Path(i.partition("=")[2]).exists() for i in DEFAULT_HISTORY):
        return None
    series = []
    for item in items or DEFAULT_HISTORY:
        name, sep, file = item.rpartition("=")
        if not sep or not name:
            raise UsageError(f"risk: --history {item!r} must be UNDERLYING=CSV (e.g. ETH=ethusdt_1h.csv)")
        series.append(load_prices(Path(file), name.upper()))
    return joint_returns(series, horizon_hours)


def var_reports(positions: Sequence[BaseModel], marks: dict[str, float], now: datetime, hist: JointReturns,
                paths: int, seed: int, quiet: bool) -> list[VarReport]:
    """Historical-simulation and Monte Carlo VaR/ES reports, with a progress bar on stderr."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True, disable=quiet) as bar:
        hs_task = bar.add_task("historical scenarios", total=len(hist.ends))
        hs = historical_var(positions, marks, now, hist, progress=lambda n: bar.update(hs_task, completed=n))
        mc_task = bar.add_task("Monte Carlo scenarios", total=paths)
        mc = monte_carlo_var(positions, marks, now, hist, paths=paths, seed=seed,
                             progress=lambda n: bar.update(mc_task, completed=n))
    return [hs, mc]


def var_table(reports: Sequence[VarReport], hist: JointReturns) -> Table:
    first = reports[0]
    ends = [datetime.fromtimestamp(float(t), UTC).strftime("%Y-%m-%d") for t in (hist.ends[0], hist.ends[-1])]
    corr = first.correlation
    pairs = [f"ρ({u},{v})={corr[u][v]:.2f}" for i, u in enumerate(corr) for v in list(corr)[i + 1:]]
    table = Table(title=(f"{first.horizon_hours:g} h VaR / ES of the book (value ${first.base_value_usd:,.0f}); "
                         f"history {ends[0]}→{ends[1]}, {len(hist.ends):,} windows, {', '.join(pairs)}"))
    for col in ("method", "scenarios", "VaR 95 $", "ES 95 $", "VaR 99 $", "ES 99 $", "mean P&L $"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for r in reports:
        cells = [f"{x:,.0f}" for lv in (r.level(0.95), r.level(0.99)) for x in (lv.var_usd, lv.es_usd)]
        name = "historical" if r.method == "historical" else f"Monte Carlo (seed {r.seed})"
        table.add_row(name, f"{r.scenarios:,}", *cells, f"{r.mean_pnl_usd:,.0f}")
    worst = "; ".join(f"{s.end[:10]} " + " ".join(f"{u} {m:+.1%}" for u, m in s.moves.items())
                      + f": {s.pnl_usd:,.0f}" for s in first.worst[:3])
    table.caption = ("VaR_α = the ⌈α·n⌉-th smallest loss, ES_α = mean of the losses at or beyond it (loss > 0); "
                     f"instant full revaluation, vols unchanged. Worst days: {worst}")
    return table


def beta_caption(grid: StressGrid) -> str:
    if not grid.betas:
        return "every underlying moves by the same price shock"
    lead = next(u for u, b in grid.betas.items() if abs(b - 1.0) < 1e-12)
    others = ", ".join(f"{u} (1+x)^{b:.2f}−1" for u, b in grid.betas.items() if u != lead)
    return f"price shock x is {lead}'s; {others} (betas of daily log returns on {lead}'s)"
