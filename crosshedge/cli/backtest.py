"""`crosshedge backtest`: replay real (or simulated) prices through the book and every trigger policy.

Usage::

    crosshedge backtest --prices ../shared/data/ethusdt_1h.csv --book examples/book.yaml \
        --start 2022-01-01 --end 2024-01-01 --sweep --plot frontier.png
    crosshedge backtest --monte-carlo                # Hull's delta-hedging table (S=49, K=50, r=5%, σ=20%, μ=13%)
    crosshedge backtest --monte-carlo --s0 100 --strike 100 --rate 0 --vol 0.8 --drift 0 --maturity-weeks 4 \
        --rebalance-weeks 1 --rebalance-weeks 0.5 --paths 200000 --seed 3 --json
    crosshedge backtest --monte-carlo --derman-kamal # adds the Derman–Kamal check (S=K=100, σ=20%, T=1)

Without ``--prices`` (or ``--monte-carlo``), with an unknown ``--policy`` or a malformed date it is bad usage
(exit 2); an unreadable price or book file is an error (exit 1). Several ``--prices`` give one table each and,
with ``--json``, one document ``{"backtests": [...]}``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from adapters import load_book
from crosshedge.cli.common import JsonOption, config_path
from crosshedge.cli.montecarlo import monte_carlo as monte_carlo_table
from crosshedge.cli.output import UsageError, command_errors, emit, err_console
from crosshedge.config import PolicySettings, load_config
from risk import (
    POLICIES,
    CostModel,
    PolicySpec,
    best_band_vs_daily,
    load_prices,
    plot_frontier,
    run_backtest,
    sweep_specs,
)


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


def _table(result_rows: list[dict[str, object]], title: str) -> Table:
    table = Table(title=title)
    for col in ("policy", "trades", "cost $", "gas $", "P&L mean $/d", "P&L std $/d", "CVaR95 $/d", "worst |Δ| $"):
        table.add_column(col, justify="left" if col == "policy" else "right", overflow="fold")  # never "fixed_i…"
    for r in result_rows:
        table.add_row(str(r["label"]), f"{r['trades']:,}", f"{r['total_cost_usd']:,.0f}", f"{r['gas_usd']:,.0f}",
                      f"{r['pnl_mean_usd']:,.0f}", f"{r['pnl_std_usd']:,.0f}", f"{r['cvar95_usd']:,.0f}",
                      f"{r['worst_delta_usd']:,.0f}")
    return table


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
        specs = _specs(policy or [], sweep, _base_settings(config))
        window = _date(start, "--start"), _date(end, "--end")  # bad dates are bad usage: checked before any work
        outputs: list[dict[str, Any]] = []
        tables: list[Table] = []
        for item in prices:
            name, _, file = item.rpartition("=")
            series = load_prices(Path(file), name.upper() or None).window(*window)
            positions = load_book(book, datetime.fromtimestamp(float(series.times[0]), UTC))
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=err_console, transient=True, disable=json_output) as bar:
                task = bar.add_task(f"backtesting {series.underlying}", total=len(specs))

                def advance(label: str, bar: Progress = bar, task: TaskID = task) -> None:
                    bar.update(task, advance=1, description=label)

                result = run_backtest(series, positions, specs, CostModel.default(), progress=advance)
            verdict = best_band_vs_daily(result)
            plot_file = None
            if plot is not None:
                target = plot if len(prices) == 1 else plot.with_stem(f"{plot.stem}_{series.underlying}")
                plot_file = str(plot_frontier(result, target))
            rows = [r.model_dump() for r in result.results]
            title = (f"{series.underlying} {result.start[:10]}→{result.end[:10]}: {result.bars:,} bars, "
                     f"{result.gaps} gap(s), {result.rolls} rolls")
            if verdict["saving"] is not None:
                title += f"; best band at <= daily std: {verdict['best']}, {verdict['saving']:.0%} cheaper"
            outputs.append({"result": result, "best_band_vs_daily": verdict, "plot": plot_file})
            tables.append(_table(rows, title))
        # One JSON document on stdout: the backtest's object, or {"backtests": [...]} for several --prices files.
        emit(outputs[0] if len(outputs) == 1 else {"backtests": outputs}, json_output, *tables)


def register(app: typer.Typer) -> None:
    app.command("backtest")(backtest)
