"""`crosshedge demo`: the main job on the embedded default (see orchestrator/demo.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from crosshedge.cli.common import ConfigOption, JsonOption, config_path
from crosshedge.cli.output import command_errors, console, emit
from crosshedge.demo import DemoOptions, DemoStep, run_demo, summary_rows, summary_table


def _line(step: DemoStep) -> str:
    prices = "  ".join(f"{u} {p:,.0f}" for u, p in sorted(step.prices.items()))
    deltas = "  ".join(
        f"{u} Δ {step.delta_before[u]:+.2f}→{step.delta_after.get(u, 0.0):+.2f} "
        f"[{step.band[u][0]:+.1f},{step.band[u][1]:+.1f}]"
        for u in sorted(step.delta_before) if u in step.band
    )
    action = (f"[green]hedged[/] {step.trades} trades on {','.join(step.chains_traded) or '-'} "
              f"cost ${step.cost_usd:,.2f}" if step.fired else f"[dim]{step.reason or 'inside band'}[/]")
    return f"[dim]{step.timestamp}[/] {prices} | {deltas} | {action}"


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
        """Live hedging on the devnet: real prices move the pools; scheduled runs keep the book in band."""
        with command_errors():
            opts = DemoOptions(config_path=config_path(config), steps=steps, start=start, out_dir=out,
                               keep_devnet=keep)
            progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=console, disable=json_output)
            with progress:
                task = progress.add_task("setting up", total=steps)

                def on_status(message: str) -> None:
                    progress.update(task, description=message)

                def on_step(step: DemoStep) -> None:
                    progress.update(task, advance=1, description=f"hour {step.step + 1}/{steps}")
                    if not json_output:
                        progress.console.print(_line(step))

                result, plot = run_demo(opts, on_step=on_step, on_status=on_status)
            summary = {**summary_rows(result), "plot": str(plot)}
            if json_output:
                emit({"summary": summary, "steps": result}, True)
            else:
                console.print(summary_table(result))
                console.print(f"plot: {plot}")
