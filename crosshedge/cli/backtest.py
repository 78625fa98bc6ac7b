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
    crosshedge backtest --prices ETH=../shared/data/ethusdt_1h.csv --start 2022-11-06 --end 2022-11-13 \
        --instrument cheapest --funding-daily 0.0001 --perp-collateral-usd 250000

Every run reports each policy's daily P&L std against fixed daily hedging's as a ratio with a 90% block-bootstrap
interval, the saving against daily hedging ("30% cheaper" / "30% more expensive") and the whole run's P&L explain
per policy (delta, gamma, vega, theta, funding, fees, gas, unexplained); ``--explain POLICY`` adds that policy's
explain per day (the JSON always has the per-day explain of ``explain_label``). ``--out-of-sample DATE`` calibrates
each band family's parameter on the bars before DATE, freezes it and reports both periods, and the cost-aware band
against Whalley–Wilmott out of sample.

``--instrument perp`` hedges every trade on the perp (Curie: 0.1% fee, vAMM impact, funding every bar, a margin
account that can be liquidated); ``--instrument cheapest`` sends each trade where its cost plus the expected funding
over the holding period (``--funding-horizon-days``, else the mean time between the policy's rebalances so far) is
lowest (:mod:`risk.backtest_perps`). Funding: ``--funding-daily RATE`` (a constant per day), ``--funding-csv FILE``
(``timestamp,rate`` by header name, per day, each point held until the next) or, with neither, the devnet model
(zero: the devnet holds the vAMM on the index). A second table shows each leg's costs, funding, liquidations and
the lowest margin ratio, its caption the funding source; the JSON carries them in ``result.hedge`` and each result.

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
from crosshedge import InputError
from crosshedge.cli.backtest_report import daily_explain_table, explain_table, oos_tables, results_table, saving_words
from crosshedge.cli.common import JsonOption, config_path
from crosshedge.cli.montecarlo import monte_carlo as monte_carlo_table
from crosshedge.cli.output import UsageError, command_errors, emit, err_console
from crosshedge.config import PolicySettings, load_config
from risk import (
    BAND_FAMILIES,
    INSTRUMENTS,
    POLICIES,
    BacktestResult,
    CostModel,
    FundingSource,
    HedgeSpec,
    Instrument,
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
    hedge: HedgeSpec | None = None  # None: spot only (the tables and JSON of before)


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


def _hedge_spec(instrument: str, funding_daily: float | None, funding_csv: Path | None, collateral: float | None,
                horizon: float | None) -> HedgeSpec | None:
    """The run's :class:`HedgeSpec` from the perp options; bad combinations are bad usage."""
    if instrument not in INSTRUMENTS:
        raise UsageError(f"backtest: --instrument {instrument!r} is not a hedge instrument; choose "
                         f"{', '.join(INSTRUMENTS)}")
    given = [flag for flag, v in (("--funding-daily", funding_daily), ("--funding-csv", funding_csv),
                                  ("--perp-collateral-usd", collateral), ("--funding-horizon-days", horizon))
             if v is not None]
    if instrument == "spot":
        if given:
            raise UsageError(f"backtest: {given[0]} applies to perp hedges; add --instrument perp or cheapest")
        return None
    if funding_daily is not None and funding_csv is not None:
        raise UsageError("backtest: give one funding source, --funding-daily or --funding-csv, not both")
    for flag, v in (("--perp-collateral-usd", collateral), ("--funding-horizon-days", horizon)):
        if v is not None and not v > 0:
            raise UsageError(f"backtest: {flag} {v:g} must be positive")
    if horizon is not None and instrument != "cheapest":
        raise UsageError("backtest: --funding-horizon-days is the holding period --instrument cheapest assumes")
    try:
        funding = (FundingSource.constant(funding_daily) if funding_daily is not None
                   else FundingSource.from_csv(funding_csv) if funding_csv is not None else FundingSource.devnet())
    except InputError as exc:
        if funding_daily is None:
            raise  # an unreadable or malformed file is an error (exit 1), its message names the file and line
        raise UsageError(f"backtest: {exc}") from None
    return HedgeSpec(instrument=cast(Instrument, instrument), funding=funding, collateral_usd=collateral,
                     horizon_days=horizon)


def _ratio_cell(x: float | None) -> str:
    return "" if x is None else f"{x:.3f}"


def legs_table(result: BacktestResult) -> Table:
    """Each policy's hedge legs: spot and perp costs, funding, liquidations and the lowest margin ratio (USD)."""
    h = result.hedge
    assert h is not None
    table = Table(title=f"Hedge legs {result.underlying} {result.start[:10]}→{result.end[:10]}: instrument "
                        f"{h.instrument} (perp {h.perp.chain}/{h.perp.market}, USD)", caption=(
        f"{h.funding}; perp collateral ${h.collateral_usd:,.0f}, fee {h.perp.fee_bps:g} bp, impact "
        f"{h.perp.impact_bps_per_musd:g} bp per $1M, gas ${h.perp.gas_usd:g}, maintenance {h.perp.mm_ratio:.2%}, "
        f"liquidation penalty {h.perp.liquidation_penalty:.1%}" + (f"; {h.horizon}" if h.horizon else "")
        + "; all-in = every cost + funding (paid > 0, received < 0); min MR: lowest perp margin ratio seen"))
    for col in ("policy", "spot/perp trades", "spot fees $", "spot impact $", "perp fees $", "perp impact $",
                "gas $", "funding $", "liq. penalty $", "all-in cost $", "liquidations", "min MR", "capped"):
        table.add_column(col, justify="left" if col == "policy" else "right", overflow="fold")
    for r in result.results:
        table.add_row(r.label, f"{r.spot_trades:,}/{r.perp_trades:,}", f"{r.spot_fees_usd:,.0f}",
                      f"{r.spot_impact_usd:,.0f}", f"{r.perp_fees_usd:,.0f}", f"{r.perp_impact_usd:,.0f}",
                      f"{r.gas_usd:,.0f}", f"{r.funding_usd:,.0f}", f"{r.liquidation_penalty_usd:,.0f}",
                      f"{r.all_in_cost_usd:,.0f}", f"{r.liquidations:,}", _ratio_cell(r.min_margin_ratio),
                      f"{r.margin_capped:,}")
    return table


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
                          description=label), iv=opts.iv, explain=opts.explain, hedge=opts.hedge)
    result = run.result
    plot_file = None
    if opts.plot is not None:
        target = opts.plot if opts.single else opts.plot.with_stem(f"{opts.plot.stem}_{series.underlying}")
        plot_file = str(plot_frontier(result, target))
    tables = [results_table(result, _title(result)), explain_table(result)]
    if result.hedge is not None:
        tables.insert(1, legs_table(result))
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
    instrument: Annotated[str, typer.Option(
        "--instrument", help="Hedge with spot (default), perp, or the cheapest of the two per trade.")] = "spot",
    funding_daily: Annotated[float | None, typer.Option(
        "--funding-daily", help="Perp: a constant funding rate per day (0.0001 = 0.01%; > 0: longs pay).")] = None,
    funding_csv: Annotated[Path | None, typer.Option(
        "--funding-csv", help="Perp: funding rates per day, CSV timestamp,rate (held until the next point).")] = None,
    perp_collateral_usd: Annotated[float | None, typer.Option(
        "--perp-collateral-usd", help="Perp: the account's initial collateral (default: IM on 3x the largest "
                                      "hedge notional).")] = None,
    funding_horizon_days: Annotated[float | None, typer.Option(
        "--funding-horizon-days", help="Cheapest: the holding period funding is expected over (default: the mean "
                                       "time between rebalances).")] = None,
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
        hedge = _hedge_spec(instrument, funding_daily, funding_csv, perp_collateral_usd, funding_horizon_days)
        if hedge is not None and split is not None:
            raise UsageError("backtest: --out-of-sample hedges on spot only; drop --instrument")
        opts = _Opts(iv=cast(IvModel, iv), explain=explain, plot=plot, single=len(prices) == 1, base=base,
                     json_output=json_output, hedge=hedge)
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
