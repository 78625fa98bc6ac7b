"""`crosshedge plan [--json] [--problem FILE] [--explain] [--save-problem FILE]`: the cheapest hedge trades now.

From a saved problem (``--problem FILE``, a HedgeProblem JSON: works with no chain running) or from the live
devnet/chains (snapshot -> risk -> policy -> problem, through the orchestrator's assessment). ``--explain`` adds
why each venue was or wasn't used (its marginal cost per unit against the plan's, and its gas).

Usage::

    crosshedge plan --problem problem.json --explain
    crosshedge plan --json --save-problem /tmp/problem.json
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from adapters import default_registry
from crosshedge.cli.common import ConfigOption, JsonOption, resolve_config
from crosshedge.cli.output import command_errors, emit, working
from optimizer import HedgeProblem, Plan, load_problem
from optimizer import plan as make_plan
from orchestrator import connect_all, decide_and_plan, take_snapshot
from risk import Decision

ProblemOption = Annotated[
    Path | None, typer.Option("--problem", "-p", help="Plan this saved HedgeProblem JSON instead of live state.")
]
ExplainOption = Annotated[bool, typer.Option("--explain", help="Say why each venue was or wasn't used.")]
SaveOption = Annotated[Path | None, typer.Option("--save-problem", help="Also write the problem JSON here.")]


def live_problem(config_file: Path | None) -> tuple[list[Decision], HedgeProblem | None]:
    """The policy's decisions and the problem from the chains now (thin glue over orchestrator.snapshot and
    orchestrator.assess); the problem is None when the policy fires for no underlying."""
    config = resolve_config(config_file)
    registry = default_registry()
    with working("reading every chain and asking the policy ..."):
        connections, _ = connect_all(config, config.raw.execution.rpc_timeout_s)
        snap = take_snapshot(config, connections, registry)
        decisions, problem, _ = decide_and_plan(config, registry, snap, connections, set(), set())
    return decisions, problem


def _num(x: float) -> str:
    return f"{x:,.4g}" if abs(x) < 1000 else f"{x:,.0f}"


def decisions_table(decisions: list[Decision], title: str = "policy per underlying") -> Table:
    """One row per underlying: net delta, the band, the target, whether the policy fires and why."""
    table = Table(title=title)
    for col in ("und.", "policy", "net Δ", "band", "target", "verdict", "reason"):
        table.add_column(col, justify="right" if col in {"net Δ", "target"} else "left", overflow="fold")
    for d in decisions:
        verdict = "[bold red]TRADE[/]" if d.trade else "[green]hold[/]"
        table.add_row(d.underlying, d.policy, _num(d.net_delta), f"[{_num(d.lower)}, {_num(d.upper)}]",
                      _num(d.target), verdict, escape(d.reason))
    return table


def trades_table(result: Plan) -> Table:
    title = (f"plan: {len(result.trades)} trade(s), cost ${result.cost.total_usd:,.2f} (gas ${result.cost.gas_usd:,.2f}"
             f", fee ${result.cost.fee_usd:,.2f}, impact ${result.cost.impact_usd:,.2f}), risk ${result.risk_usd:,.2f}"
             f" — {result.stats.method}, build {result.stats.build_ms:.0f} ms, solve {result.stats.solve_ms:.0f} ms")
    table = Table(title=title)
    for col in ("chain", "venue", "side", "base", "quote", "price", "min out (raw)", "gas $", "fee $", "impact $"):
        table.add_column(col)
    for t in result.trades:
        base_symbol = t.token_in if t.side == "sell" else t.token_out
        table.add_row(t.chain, t.venue, str(t.side), f"{t.base_amount:,.6g} {base_symbol}",
                      f"{t.quote_amount:,.2f}", f"{t.expected_price:,.4f}", str(t.min_amount_out_raw),
                      f"{t.gas_usd:,.2f}", f"{t.fee_usd:,.2f}", f"{t.impact_usd:,.2f}")
    return table


def explain_table(result: Plan) -> Table:
    table = Table(title="why each venue was or wasn't used")
    for col in ("venue", "side", "used", "first piece $/unit", "gas $", "reason"):
        table.add_column(col)
    for e in result.explanation:
        cost = "" if e.marginal_cost_usd is None else f"{e.marginal_cost_usd:,.4f}"
        table.add_row(e.venue, str(e.side or ""), "yes" if e.used else "no", cost, f"{e.gas_usd:,.2f}", e.reason)
    return table


def register(app: typer.Typer) -> None:
    @app.command("plan")
    def plan_command(
        json_output: JsonOption = False,
        problem_file: ProblemOption = None,
        explain: ExplainOption = False,
        save_problem: SaveOption = None,
        config: ConfigOption = None,
    ) -> None:
        """Plan the cheapest hedge trades across venues and chains (from live state or a saved problem)."""
        with command_errors():
            decisions: list[Decision] = []
            if problem_file is not None:
                problem: HedgeProblem | None = load_problem(problem_file)
            else:
                decisions, problem = live_problem(config)
            if problem is None:
                note = "nothing to hedge: the policy fires for no underlying"
                emit({"trades": [], "decisions": decisions, "note": note}, json_output,
                     decisions_table(decisions, title=note))
                return
            if save_problem is not None:
                save_problem.write_text(problem.model_dump_json(indent=2))
            with working("solving the hedge problem ..."):
                result = make_plan(problem)
            data: dict[str, Any] = result.model_dump(mode="json")
            if not explain:
                data.pop("explanation")
            if decisions:
                data["decisions"] = [d.model_dump(mode="json") for d in decisions]
            tables: list[RenderableType] = [trades_table(result)]
            if result.note:
                tables.append(escape(result.note))
            if explain:
                tables.append(explain_table(result))
            emit(data, json_output, *tables)
