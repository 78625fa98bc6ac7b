"""`crosshedge demo`: the main job on the embedded default (see crosshedge/demo/driver.py).

Exit codes: 0 when every hour was replayed, hours whose hedge failed included (each is printed with the ledger's
reason, marked on the plot and counted in the summary: the demo did its job, and shows that hour as it was);
1 on an error that stopped the demo (a chain, Redis or a worker lost); 2 for a bad ``--steps`` or ``--start``,
before anything starts; 3 when trading was halted (the kill switch or a halted lane), before or during the replay.

Usage::

    crosshedge demo --steps 48 --start "2022-11-08 00:00:00"
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from crosshedge.cli.common import ConfigOption, JsonOption, config_path
from crosshedge.cli.output import EXIT_HALTED, CommandFailedError, UsageError, command_errors, console, emit
from crosshedge.demo import DemoOptionError, DemoOptions, DemoResult, DemoStep, run_demo, summary_rows, summary_table
from risk import PnlExplain


def _line(step: DemoStep) -> str:
    prices = "  ".join(f"{u} {p:,.0f}" for u, p in sorted(step.prices.items()))
    deltas = "  ".join(
        f"{u} Δ {step.delta_before[u]:+.2f}→{step.delta_after.get(u, 0.0):+.2f} "
        f"[{step.band[u][0]:+.1f},{step.band[u][1]:+.1f}]"
        for u in sorted(step.delta_before) if u in step.band
    )
    if step.failed:
        action = f"[bold red]hedge failed:[/] {escape(step.error)}"
    elif step.fired:
        action = (f"[green]hedged[/] {step.trades} trades on {','.join(step.chains_traded) or '-'} "
                  f"cost ${step.cost_usd:,.2f}")
        if step.outside_band:
            action += f" [yellow](ended outside the band: {', '.join(step.outside_band)})[/]"
    else:
        action = f"[dim]{escape(step.reason or 'inside band')}[/]"
    return f"[dim]{step.timestamp}[/] {prices} | {deltas} | {action}"


def _explain_table(explain: PnlExplain) -> Table:
    table = Table(title="P&L explain over the demo's runs (USD): each run's snapshot to the next run's",
                  caption="delta uses the post-hedge delta; fees and gas are the runs' realised costs")
    table.add_column("part")
    table.add_column("USD", justify="right")
    for key in ("actual", "delta", "gamma", "vega", "theta", "funding", "fees", "gas", "unexplained"):
        table.add_row(key, f"{getattr(explain, key):,.2f}")
    return table


def _finish(result: DemoResult, json_output: bool) -> None:
    summary = {**summary_rows(result.steps), "plot": str(result.plot), "steps_file": str(result.steps_file),
               "halted": result.halted, "pnl_explain": result.explain}
    if json_output:
        emit({"summary": summary, "steps": result.steps}, True)
    else:
        console.print(summary_table(result.steps))
        if result.explain is not None:
            console.print(_explain_table(result.explain))
        console.print(f"plot: {result.plot}")
    if result.halted:
        raise CommandFailedError(f"demo halted after hour {len(result.steps)}: {result.halted}", EXIT_HALTED)


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        config: ConfigOption = None,
        steps: Annotated[int, typer.Option("--steps", help="Hours of the real price path to replay.")] = 24,
        start: Annotated[str, typer.Option("--start", help="Start of the path (UTC, as in the CSV).")] = (
            "2022-06-12 00:00:00"),
        out: Annotated[Path, typer.Option("--out", help="Where the plot and step log go.")] = Path(".crosshedge/demo"),
        keep: Annotated[bool, typer.Option("--keep-devnet", help="Leave the chains running afterwards.")] = False,
        json_output: JsonOption = False,
    ) -> None:
        """Live hedging on the devnet: real prices move the pools; scheduled runs keep the book in band.

        Exit codes: 0 every hour replayed (failed hours shown and counted), 1 error, 2 bad option, 3 halted.
        """
        with command_errors():
            opts = DemoOptions(config_path=config_path(config), steps=steps, start=start, out_dir=out,
                               keep_devnet=keep)
            progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=console, disable=json_output)
            with progress:
                task = progress.add_task("checking the options", total=max(steps, 0))

                def on_status(message: str) -> None:
                    progress.update(task, description=message)

                def on_step(step: DemoStep) -> None:
                    progress.update(task, advance=1, description=f"hour {step.step + 1}/{steps}")
                    if not json_output:
                        progress.console.print(_line(step))

                try:
                    result = run_demo(opts, on_step=on_step, on_status=on_status)
                except DemoOptionError as exc:
                    raise UsageError(str(exc)) from None
            _finish(result, json_output)
