"""`crosshedge risk [--json] [--stress] [--var]`: the book's Greeks per underlying (net, per source and chain, per
expiry bucket, and the option lines that carry the most vega with their share of it), computed under the book's
smile dynamics; the current band of the configured policy, whether it fires and why; ``--stress`` adds the price x
vol shock grid (correlated: other underlyings move by their beta to the first ``--history`` one); ``--var`` adds
1-day VaR/ES at 95/99% by historical simulation and correlated Monte Carlo (crosshedge/cli/var.py). ``--json``
carries the same report (``report.underlyings[].lines``, ``.buckets``, ``.top_vega``, ``report.perps``, ``var``).
When the book holds perp accounts a Perps table shows each one's margin at the book's mark (risk.perps.PerpLine), and
a stress cell that liquidates one is marked ``liq``.

Positions come through the registry from chains.yaml's ``positions`` sources (option_book: the book file, relative
to chains.yaml; uniswap_v3_lp: every chain; erc20: the snapshot's inventory, read at the same pinned blocks). Marks
are the median mid of every USD venue per underlying; each venue's real swap gas (USD), fee and impact feed the
cost-aware band.

Every chain must be read (a book whose LP or inventory on a down chain is missing would show a false delta): a
chain that cannot be read is one sentence on stderr and exit code 1.

Usage::

    crosshedge risk
    crosshedge risk --stress --json
    crosshedge risk --var --history ETH=../shared/data/ethusdt_1h.csv --history BTC=../shared/data/btcusdt_1h.csv
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from adapters import default_registry
from crosshedge.cli.common import ConfigOption, JsonOption, resolve_config
from crosshedge.cli.output import command_errors, emit, working
from crosshedge.cli.var import beta_caption, load_history, var_reports, var_table
from crosshedge.errors import RpcError
from orchestrator import connect_all, read_positions, take_snapshot, venue_costs
from risk import (
    Decision,
    RiskReport,
    StressGrid,
    UnderlyingRisk,
    aggregate,
    decide_all,
    marks_from_venues,
    stress_grid,
)


def _fmt(x: float) -> str:
    return f"{x:,.2f}" if abs(x) < 1000 else f"{x:,.0f}"


def _pct(x: float) -> str:
    return f"{x:.0%}"


def _risk_table(report: RiskReport, decs: list[Decision]) -> Table:
    table = Table(title=f"risk as of {report.as_of:%Y-%m-%d %H:%M} UTC (cash ${report.cash_usd:,.0f}, "
                        f"book value ${report.value_usd:,.0f})")
    for col in ("und.", "source", "chain/venue", "n", "Δ units", "Δ $", "Γ $/1%", "vega $/pt", "vega %", "θ $/day"):
        table.add_column(col, justify="left" if col in {"und.", "source", "chain/venue"} else "right")
    for u in report.underlyings:
        for ln in u.lines:
            table.add_row(u.underlying, ln.source, ln.chain, str(ln.positions), _fmt(ln.delta), _fmt(ln.delta_usd),
                          _fmt(ln.gamma_usd), _fmt(ln.vega), _pct(ln.vega_share), _fmt(ln.theta_day))
        table.add_row(f"[bold]{u.underlying}", "[bold]net", f"@ {u.price:,.2f}", "", f"[bold]{_fmt(u.delta)}",
                      f"[bold]{_fmt(u.delta_usd)}", _fmt(u.gamma_usd), _fmt(u.vega), "", _fmt(u.theta_day),
                      end_section=True)
    notes = [_concentration(u) for u in report.underlyings if u.top_vega]
    for d in decs:
        verdict = "[bold red]TRADE[/]" if d.trade else "[green]hold[/]"
        notes.append(f"{d.underlying} {d.policy}: band [{_fmt(d.lower)}, {_fmt(d.upper)}] → {verdict}: {d.reason}")
    table.caption = "\n".join(notes) or None
    return table


def _concentration(u: UnderlyingRisk) -> str:
    top = u.top_vega[0]
    dynamics = f"Greeks {u.smile_dynamics}" if u.smile_dynamics else "flat vols"
    return (f"{u.underlying} ({dynamics}): {_pct(top.vega_share)} of net vega ({_pct(top.vega_gross_share)} of gross) "
            f"in one line, {top.id} ({top.bucket}, {_fmt(top.vega)} $/pt)")


def _bucket_table(report: RiskReport) -> Table:
    table = Table(title="risk by expiry bucket (none: LP and spot)")
    for col in ("und.", "bucket", "n", "Δ units", "Δ $", "Γ $/1%", "vega $/pt", "vega %", "vanna", "volga", "θ $/day"):
        table.add_column(col, justify="left" if col in {"und.", "bucket"} else "right")
    for u in report.underlyings:
        for b in u.buckets:
            table.add_row(u.underlying, b.bucket, str(b.positions), _fmt(b.delta), _fmt(b.delta_usd),
                          _fmt(b.gamma_usd), _fmt(b.vega), _pct(b.vega_share), _fmt(b.vanna), _fmt(b.volga),
                          _fmt(b.theta_day), end_section=b is u.buckets[-1])
    return table


def _opt(x: float | None, fmt: str = ",.2f") -> str:
    return "—" if x is None else format(x, fmt)


def _perp_table(report: RiskReport) -> Table:
    table = Table(title="perps: margin at the book's mark (Curie)")
    move = f"±{report.perps[0].stress_move:.0%}" if report.perps else "±40%"
    cols = ("market", "chain", "size", "entry", "mark", "margin", "liq. price", "distance", "funding $/day",
            "free coll. $", f"survives {move}")
    for col in cols:
        table.add_column(col, justify="left" if col in {"market", "chain"} else "right")
    for p in report.perps:
        near = p.liquidatable or (p.liquidation_distance is not None and abs(p.liquidation_distance) < 0.10)
        distance = _opt(p.liquidation_distance, "+.1%")
        table.add_row(p.market or f"{p.underlying} (what-if)", p.chain or "—", _fmt(p.size), _opt(p.entry_price),
                      _opt(p.mark), _opt(p.margin_ratio, ".1%"), _opt(p.liquidation_price),
                      f"[bold red]{distance}[/]" if near else distance, _fmt(p.funding_day_usd),
                      _fmt(p.free_collateral_usd), "yes" if p.survives_stress else "[bold red]no[/]")
    table.caption = (f"distance: the move that liquidates the account; funding > 0 is paid; survives {move}: above "
                     "maintenance after that move either way")
    return table


def _stress_table(grid: StressGrid) -> Table:
    table = Table(title=f"stress: book P&L $ (post-shock Δ $) — base value ${grid.base_value_usd:,.0f}")
    table.add_column("price \\ vol", justify="right")
    for dv in grid.vol_shocks:
        table.add_column(f"vol {dv:+.0%}", justify="right")
    for ds in grid.price_shocks:
        cells = []
        for dv in grid.vol_shocks:
            c = grid.cell(ds, dv)
            color = "red" if c.pnl_usd < 0 else "green"
            liq = " [bold red]liq[/]" if c.liquidated else ""
            cells.append(f"[{color}]{c.pnl_usd:,.0f}[/] ({sum(c.delta_usd.values()):,.0f}){liq}")
        table.add_row(f"{ds:+.0%}", *cells)
    return table


def risk(
    config: ConfigOption = None,
    json_output: JsonOption = False,
    stress: Annotated[bool, typer.Option("--stress", help="Add the price x implied-vol shock grid.")] = False,
    var: Annotated[bool, typer.Option("--var", help="Add 1-day VaR/ES (historical and Monte Carlo).")] = False,
    history: Annotated[list[str] | None, typer.Option(
        "--history", help="UNDERLYING=CSV hourly history (repeat); default ../shared/data ETH and BTC.")] = None,
    var_paths: Annotated[int, typer.Option("--var-paths", help="Monte Carlo VaR scenarios.")] = 10_000,
) -> None:
    """Greeks per underlying (net, per source and chain), the policy's band and whether it fires."""
    with command_errors():
        hist = load_history(history, required=var) if (var or stress) else None  # a bad file fails before any read
        cfg = resolve_config(config)
        registry = default_registry()
        now = datetime.now(UTC)
        with working("reading venues and positions on every chain ..."):
            connections, _ = connect_all(cfg, cfg.raw.execution.rpc_timeout_s)
            snap = take_snapshot(cfg, connections, registry)
            offchain, reads = read_positions(cfg, snap, connections, registry, now)
        for read in reads:  # a chain whose positions are missing would make the whole book's Greeks wrong
            if read.missing is not None:
                why = read.missing if read.missing.startswith(f"chain {read.chain}") else (
                    f"chain {read.chain}: {read.missing}")
                raise RpcError(f"{why}; the book's Greeks need every chain's positions")
        positions = [*offchain, *(p for read in reads for p in (*read.spot, *read.lp))]
        marks = marks_from_venues(snap.venue_states())
        report = aggregate(positions, marks, now)
        decs = decide_all(report, venue_costs(snap), cfg.raw.policy)
        grid = stress_grid(positions, marks, now, betas=hist.betas(hist.underlyings[0])) if stress and hist else None
        vars_ = var_reports(positions, marks, now, hist, var_paths, 11, json_output) if var and hist else None
        payload: dict[str, Any] = {"report": report, "decisions": decs, "stress": grid, "var": vars_}
        tables = [_risk_table(report, decs), _bucket_table(report)] + (
            [_perp_table(report)] if report.perps else []) + ([_stress_table(grid)] if grid is not None else [])
        if grid is not None:
            tables[-1].caption = beta_caption(grid) + "".join(
                f"\nliq at {ds:+.0%}: {', '.join(ids)} (closed at the shocked mark with the penalty; its Δ is gone)"
                for ds, ids in grid.liquidations().items())
        tables += [var_table(vars_, hist)] if vars_ and hist else []
        emit(payload, json_output, *tables)


def register(app: typer.Typer) -> None:
    app.command("risk")(risk)


__all__ = ["register", "risk"]
