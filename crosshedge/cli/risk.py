"""`crosshedge risk [--json] [--stress]`: the book's Greeks per underlying (net, and per source and chain), the
current band of the configured policy, whether it fires and why; ``--stress`` adds the price x vol shock grid.

Positions come through the registry from chains.yaml's ``positions`` sources (option_book: the book file, relative
to chains.yaml; uniswap_v3_lp: every chain; erc20: the snapshot's inventory, read at the same pinned blocks). Marks
are the median mid of every USD venue per underlying; each venue's real swap gas (USD), fee and impact feed the
cost-aware band.

Usage::

    crosshedge risk
    crosshedge risk --stress --json
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.table import Table

from adapters.base import VenueState
from adapters.option_book import OptionBookSettings
from adapters.registry import AdapterRegistry, default_registry
from crosshedge.cli.common import ConfigOption, JsonOption, resolve_config
from crosshedge.cli.output import command_errors, console, emit
from crosshedge.config.loader import Config
from crosshedge.config.strategy import PolicySettings
from crosshedge.errors import ConfigError
from orchestrator.snapshot import Snapshot, chain_context, connect_all, take_snapshot
from risk.aggregate import RiskReport, aggregate
from risk.policy import Decision, PolicyInput, VenueCost, decide, venue_cost_from_state
from risk.stress import StressGrid, stress_grid


def marks_from_venues(states: Sequence[VenueState]) -> dict[str, float]:
    """Median mid per underlying over every venue quoted in USD."""
    mids: dict[str, list[float]] = {}
    for v in states:
        if v.quote.underlying == "USD":
            mids.setdefault(v.underlying, []).append(v.mid_price)
    return {u: statistics.median(m) for u, m in mids.items()}


def venue_costs(snap: Snapshot) -> dict[str, tuple[VenueCost, ...]]:
    """Each underlying's venues with their swap gas (USD), fee and impact slope."""
    out: dict[str, list[VenueCost]] = {}
    for chain in snap.chains.values():
        for v in chain.venues:
            out.setdefault(v.underlying, []).append(venue_cost_from_state(v, chain.swap_gas_usd.get(v.venue, 0.0)))
    return {u: tuple(c) for u, c in out.items()}


def decisions(report: RiskReport, costs: Mapping[str, tuple[VenueCost, ...]], settings: PolicySettings
              ) -> list[Decision]:
    """The configured policy's verdict for every underlying (pure: plain inputs in, decisions out)."""
    return [
        decide(PolicyInput(underlying=u.underlying, spot=u.price, net_delta=u.delta, gamma=u.gamma, vanna=u.vanna,
                           vol=u.vol, tau=u.tau, costs=costs.get(u.underlying, ())), settings)
        for u in report.underlyings
    ]


def read_positions(cfg: Config, snap: Snapshot, connections: Mapping[str, Any], registry: AdapterRegistry,
                   now: datetime) -> list[BaseModel]:
    """Every position source of chains.yaml, read at the snapshot's blocks."""
    out: list[BaseModel] = []
    for name, spec in cfg.raw.positions.items():
        source = registry.positions(spec.adapter)
        if spec.adapter == "erc20":  # already read with the snapshot, at the same blocks
            out += [p for c in snap.chains.values() for p in c.inventory]
            continue
        try:
            settings = source.config_model.model_validate(spec.settings)
        except ValueError as exc:
            raise ConfigError(f"{cfg.source}: positions.{name}.settings: {exc}") from None
        if isinstance(settings, OptionBookSettings):
            path = settings.path if settings.path.is_absolute() else cfg.source.parent / settings.path
            settings = settings.model_copy(update={"path": path, "as_of": settings.as_of or now})
            out += source.read_positions(None, settings, None)
            continue
        for chain_name, c in snap.chains.items():
            ctx = chain_context(cfg, chain_name, connections[chain_name])
            out += source.read_positions(ctx, settings, c.block_number)
    return out


def _fmt(x: float) -> str:
    return f"{x:,.2f}" if abs(x) < 1000 else f"{x:,.0f}"


def _risk_table(report: RiskReport, decs: list[Decision]) -> Table:
    table = Table(title=f"risk as of {report.as_of:%Y-%m-%d %H:%M} UTC (cash ${report.cash_usd:,.0f}, "
                        f"book value ${report.value_usd:,.0f})")
    for col in ("und.", "source", "chain/venue", "n", "Δ units", "Δ $", "Γ $/1%", "vega $/pt", "θ $/day"):
        table.add_column(col, justify="left" if col in {"und.", "source", "chain/venue"} else "right")
    for u in report.underlyings:
        for ln in u.lines:
            table.add_row(u.underlying, ln.source, ln.chain, str(ln.positions), _fmt(ln.delta), _fmt(ln.delta_usd),
                          _fmt(ln.gamma_usd), _fmt(ln.vega), _fmt(ln.theta_day))
        table.add_row(f"[bold]{u.underlying}", "[bold]net", f"@ {u.price:,.2f}", "", f"[bold]{_fmt(u.delta)}",
                      f"[bold]{_fmt(u.delta_usd)}", _fmt(u.gamma_usd), _fmt(u.vega), _fmt(u.theta_day),
                      end_section=True)
    for d in decs:
        verdict = "[bold red]TRADE[/]" if d.trade else "[green]hold[/]"
        table.caption = (table.caption or "") + (
            f"\n{d.underlying} {d.policy}: band [{_fmt(d.lower)}, {_fmt(d.upper)}] → {verdict}: {d.reason}")
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
            cells.append(f"[{color}]{c.pnl_usd:,.0f}[/] ({sum(c.delta_usd.values()):,.0f})")
        table.add_row(f"{ds:+.0%}", *cells)
    return table


def risk(
    config: ConfigOption = None,  # type: ignore[assignment]
    json_output: JsonOption = False,
    stress: Annotated[bool, typer.Option("--stress", help="Add the price x implied-vol shock grid.")] = False,
) -> None:
    """Greeks per underlying (net, per source and chain), the policy's band and whether it fires."""
    with command_errors():
        cfg = resolve_config(config)
        registry = default_registry()
        now = datetime.now(UTC)
        with console.status("reading venues and positions on every chain ..."):
            connections, _ = connect_all(cfg, cfg.raw.execution.rpc_timeout_s)
            snap = take_snapshot(cfg, connections, registry)
            positions = read_positions(cfg, snap, connections, registry, now)
        marks = marks_from_venues(snap.venue_states())
        report = aggregate(positions, marks, now)
        decs = decisions(report, venue_costs(snap), cfg.raw.policy)
        grid = stress_grid(positions, marks, now) if stress else None
        payload: dict[str, Any] = {"report": report, "decisions": decs, "stress": grid}
        emit(payload, json_output, _risk_table(report, decs))
        if grid is not None and not json_output:
            console.print(_stress_table(grid))


def register(app: typer.Typer) -> None:
    app.command("risk")(risk)


__all__ = ["decisions", "marks_from_venues", "read_positions", "register", "risk", "venue_costs"]
