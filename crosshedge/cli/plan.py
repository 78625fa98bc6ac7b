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
from rich.table import Table

from adapters import default_registry
from crosshedge.cli.common import ConfigOption, JsonOption, resolve_config
from crosshedge.cli.output import command_errors, console, emit
from optimizer import HedgeProblem, Plan, load_problem
from optimizer import plan as make_plan
from orchestrator import connect_all, decide_and_plan, take_snapshot

ProblemOption = Annotated[
    Path | None, typer.Option("--problem", "-p", help="Plan this saved HedgeProblem JSON instead of live state.")
]
ExplainOption = Annotated[bool, typer.Option("--explain", help="Say why each venue was or wasn't used.")]
SaveOption = Annotated[Path | None, typer.Option("--save-problem", help="Also write the problem JSON here.")]


def live_problem(config_file: Path | None) -> HedgeProblem | None:
    """The problem from the chains now (thin glue over orchestrator.snapshot and orchestrator.assess); None when
    the policy fires for no underlying."""
    config = resolve_config(config_file)
    registry = default_registry()
    connections, _ = connect_all(config)
    snap = take_snapshot(config, connections, registry)
    _, problem, _ = decide_and_plan(config, registry, snap, connections, set(), set())
    return problem


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
            problem = load_problem(problem_file) if problem_file is not None else live_problem(config)
            if problem is None:
                emit({"trades": [], "note": "nothing to hedge: the policy fires for no underlying"}, json_output)
                return
            if save_problem is not None:
                save_problem.write_text(problem.model_dump_json(indent=2))
            result = make_plan(problem)
            data: dict[str, Any] = result.model_dump(mode="json")
            if not explain:
                data.pop("explanation")
            if json_output:
                emit(data, True)
                return
            console.print(trades_table(result))
            if result.note:
                console.print(result.note)
            if explain:
                console.print(explain_table(result))
