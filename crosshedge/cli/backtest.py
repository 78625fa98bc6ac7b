"""`crosshedge backtest`: replay real (or simulated) prices through the book and every trigger policy.

Usage::

    crosshedge backtest --prices ../shared/data/ethusdt_1h.csv --book examples/book.yaml \
        --start 2022-01-01 --end 2024-01-01 --sweep --plot frontier.png
    crosshedge backtest --monte-carlo                # Hull's delta-hedging table (S=49, K=50, r=5%, σ=20%, μ=13%)
    crosshedge backtest --monte-carlo --s0 100 --strike 100 --rate 0 --vol 0.8 --drift 0 --maturity-weeks 4 \
        --rebalance-weeks 1 --rebalance-weeks 0.5 --paths 200000 --seed 3 --json
    crosshedge backtest --monte-carlo --derman-kamal # adds the Derman–Kamal check (S=K=100, σ=20%, T=1)
    crosshedge backtest --prices ETH=../shared/data/ethusdt_1h.csv --out-of-sample 2024-01-01  # calibrate, freeze, test
    crosshedge backtest --prices ETH=../shared/data/ethusdt_1h.csv --explain whalley_wilmott --iv flat

Every run reports each policy's daily P&L std against fixed daily hedging's as a ratio with a 90% block-bootstrap
interval, the saving against daily hedging ("30% cheaper" / "30% more expensive") and the whole run's P&L explain
per policy (delta, gamma, vega, theta, funding, fees, gas, unexplained); ``--explain POLICY`` adds that policy's
explain per day (the JSON always has the per-day explain of ``explain_label``). ``--out-of-sample DATE`` calibrates
each band family's parameter on the bars before DATE, freezes it and reports both periods, and the cost-aware band
against Whalley–Wilmott out of sample.

Without ``--prices`` (or ``--monte-carlo``), with an unknown ``--policy``, a malformed date or an out-of-sample
date outside the series it is bad usage (exit 2); an unreadable price or book file is an error (exit 1). Several
``--prices`` give one table each and, with ``--json``, one document ``{"backtests": [...]}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from adapters import OptionPosition, load_book
from crosshedge.cli.backtest_report import daily_explain_table, explain_table, oos_tables, results_table, saving_words
from crosshedge.cli.common import JsonOption, config_path
from crosshedge.cli.montecarlo import monte_carlo as monte_carlo_table
from crosshedge.cli.output import UsageError, command_errors, emit, err_console
from crosshedge.config import PolicySettings, load_config
from risk import (
    BAND_FAMILIES,
    POLICIES,
    BacktestResult,
    CostModel,
    IvModel,
    PolicySpec,
    PriceSeries,
    best_band_vs_daily,
    book_path,
    load_prices,
    out_of_sample,
    plot_frontier,
    run_on_path,
    sweep_specs,
)


@dataclass(frozen=True)
class _Opts:
    """The command's options that shape every run."""

    iv: IvModel
    explain: str | None
    plot: Path | None
    single: bool  # one --prices file: the plot keeps its name
    base: PolicySettings
    json_output: bool


def _date(text: str | None, flag: str) -> datetime | None:
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"backtest: {flag} {text!r} is not an ISO date (e.g. 2022-01-01)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _specs(policies: list[str], sweep: bool, base: PolicySettings) -> list[PolicySpec]:
    names = policies or list(POLICIES)
    unknown = [n for n in names if n not in POLICIES]
    if unknown:
        raise UsageError(f"backtest: --policy {unknown[0]!r} is not a policy; choose from {', '.join(POLICIES)}")
    specs = [PolicySpec.of("fixed_interval", base, interval_hours=24.0)]  # the reference every run reports
    if sweep:
        return specs + [s for s in sweep_specs(names, base) if s.label != specs[0].label]
    return specs + [PolicySpec.of(n, base) for n in names if n != "fixed_interval"]


def _base_settings(config: Path | None) -> PolicySettings:
    path = config_path(config)
    return load_config(path).raw.policy if path.exists() else PolicySettings()


def _bar(quiet: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err_console, transient=True, disable=quiet)


def _title(result: BacktestResult) -> str:
    title = (f"{result.underlying} {result.start[:10]}→{result.end[:10]}: {result.bars:,} bars, "
             f"{result.gaps} gap(s), {result.rolls} rolls")
    verdict = best_band_vs_daily(result)
    if isinstance(verdict["saving"], float):
        title += f"; best band at <= daily std: {verdict['best']}, {saving_words(verdict['saving'])}"
    return title


def _one_run(series: PriceSeries, positions: list[OptionPosition], specs: list[PolicySpec], opts: _Opts,
             full: PriceSeries) -> tuple[dict[str, Any], list[Table]]:
    with _bar(opts.json_output) as bar:
        task = bar.add_task(f"pricing the {series.underlying} book on {len(series.close):,} bars",
                            total=len(specs) + 1)
        path = book_path(series, positions, iv=opts.iv, history=full)
        bar.update(task, advance=1)
        run = run_on_path(path, specs, CostModel.default(), lambda label: bar.update(task, advance=1,
                          description=label), iv=opts.iv, explain=opts.explain)
    result = run.result
    plot_file = None
    if opts.plot is not None:
        target = opts.plot if opts.single else opts.plot.with_stem(f"{opts.plot.stem}_{series.underlying}")
        plot_file = str(plot_frontier(result, target))
    tables = [results_table(result, _title(result)), explain_table(result)]
    if opts.explain:
        tables.append(daily_explain_table(result))
    return {"result": result, "best_band_vs_daily": best_band_vs_daily(result), "plot": plot_file}, tables


def _one_oos(series: PriceSeries, positions: list[OptionPosition], split: datetime, opts: _Opts,
             full: PriceSeries) -> tuple[dict[str, Any], list[Table]]:
    cal, test = series.window(None, split), series.window(split, None)
    if len(cal.close) < 48 or len(test.close) < 48:
        raise UsageError(f"backtest: --out-of-sample {split:%Y-%m-%d} leaves under two days of {series.underlying} "
                         f"bars on one side ({series.source})")
    with _bar(opts.json_output) as bar:
        total = 2 + len(sweep_specs(list(BAND_FAMILIES))) + 1 + len(BAND_FAMILIES)
        task = bar.add_task(f"out of sample {series.underlying}", total=total)
        oos = out_of_sample(cal, test, positions, CostModel.default(), base=opts.base, iv=opts.iv, history=full,
                            progress=lambda label: bar.update(task, advance=1, description=label))
    return {"out_of_sample": oos}, [*oos_tables(oos), results_table(oos.test, f"{_title(oos.test)} (frozen)")]


def backtest(  # typer maps options to parameters
    prices: Annotated[list[str] | None, typer.Option("--prices", help="OHLC CSV, or UNDERLYING=CSV.")] = None,
    book: Annotated[Path, typer.Option("--book", help="Option book (YAML/CSV).")] = Path("examples/book.yaml"),
    policy: Annotated[list[str] | None, typer.Option("--policy", help="Policy name (repeat); default all.")] = None,
    sweep: Annotated[bool, typer.Option("--sweep", help="Sweep each policy's parameter: frontier curves.")] = False,
    start: Annotated[str | None, typer.Option("--start", help="First bar (ISO date, inclusive).")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last bar (ISO date, exclusive).")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write the cost-vs-risk frontier PNG here.")] = None,
    monte_carlo: Annotated[bool, typer.Option("--monte-carlo", help="Textbook GBM delta-hedging table.")] = False,
    s0: Annotated[float, typer.Option("--s0", help="MC: spot at start.")] = 49.0,
    strike: Annotated[float, typer.Option("--strike", help="MC: strike.")] = 50.0,
    rate: Annotated[float, typer.Option("--rate", help="MC: risk-free rate (0.05 = 5%).")] = 0.05,
    vol: Annotated[float, typer.Option("--vol", help="MC: volatility σ (0.2 = 20%).")] = 0.20,
    drift: Annotated[float, typer.Option("--drift", help="MC: real-world drift μ of the paths.")] = 0.13,
    maturity_weeks: Annotated[float, typer.Option("--maturity-weeks", help="MC: option life in weeks.")] = 20.0,
    put: Annotated[bool, typer.Option("--put", help="MC: hedge a short put instead of a call.")] = False,
    rebalance_weeks: Annotated[list[float] | None, typer.Option(
        "--rebalance-weeks", help="MC: weeks between rebalances (repeat); default 5 4 2 1 0.5 0.25.")] = None,
    paths: Annotated[int, typer.Option("--paths", help="Monte Carlo paths.")] = 40_000,
    seed: Annotated[int, typer.Option("--seed", help="MC: random seed.")] = 7,
    derman_kamal: Annotated[bool, typer.Option("--derman-kamal", help="MC: add the Derman–Kamal check.")] = False,
    iv: Annotated[str, typer.Option("--iv", help="Implied vol path: realised (moves with 30-day RV) or flat.")
                  ] = "realised",
    explain: Annotated[str | None, typer.Option("--explain", help="Per-day P&L explain of this policy.")] = None,
    out_of_sample: Annotated[str | None, typer.Option(
        "--out-of-sample", help="Calibrate band parameters before this ISO date, freeze, test after it.")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="chains.yaml (policy section).")] = None,
    json_output: JsonOption = False,
) -> None:
    """Replay prices through the book with each trigger policy; report cost, P&L std, CVaR and delta breaches."""
    with command_errors():
        if monte_carlo:
            case = {"s0": s0, "strike": strike, "rate": rate, "vol": vol, "drift": drift,
                    "years": maturity_weeks / 52.0, "is_call": not put}
            monte_carlo_table(case, rebalance_weeks, paths, seed, derman_kamal, json_output)
            return
        if not prices:
            raise UsageError("backtest: give --prices CSV (an OHLC file, or UNDERLYING=CSV), or --monte-carlo")
        if iv not in ("realised", "flat"):
            raise UsageError(f"backtest: --iv {iv!r} is not an implied-vol model; choose realised or flat")
        base = _base_settings(config)
        specs = _specs(policy or [], sweep, base)
        window = _date(start, "--start"), _date(end, "--end")  # bad dates are bad usage: checked before any work
        split = _date(out_of_sample, "--out-of-sample")
        opts = _Opts(iv=cast(IvModel, iv), explain=explain, plot=plot, single=len(prices) == 1, base=base,
                     json_output=json_output)
        outputs: list[dict[str, Any]] = []
        tables: list[Table] = []
        for item in prices:
            name, _, file = item.rpartition("=")
            full = load_prices(Path(file), name.upper() or None)
            series = full.window(*window)
            positions = load_book(book, datetime.fromtimestamp(float(series.times[0]), UTC))
            out, more = (_one_oos(series, positions, split, opts, full) if split
                         else _one_run(series, positions, specs, opts, full))
            outputs.append(out)
            tables += more
        # One JSON document on stdout: the backtest's object, or {"backtests": [...]} for several --prices files.
        emit(outputs[0] if len(outputs) == 1 else {"backtests": outputs}, json_output, *tables)


def register(app: typer.Typer) -> None:
    app.command("backtest")(backtest)
