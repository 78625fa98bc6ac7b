"""What the demo shows at the end: a summary table and a plot of delta and cumulative cost over time.

Usage::

    steps = [DemoStep(...), ...]
    console.print(summary_table(steps)); plot_steps(steps, Path("demo.png"))
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # the demo runs headless; a PNG is what people open
import matplotlib.pyplot as plt
from pydantic import BaseModel, ConfigDict
from rich.table import Table


class DemoStep(BaseModel):
    """One tick of the demo: the market moved, the policy was asked, maybe a hedge ran."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    step: int
    timestamp: str  # of the real price path
    prices: dict[str, float]
    delta_before: dict[str, float]  # net delta per underlying, units
    delta_after: dict[str, float]
    band: dict[str, tuple[float, float]]  # (lower, upper) per underlying
    fired: bool
    reason: str
    run_id: str | None = None
    run_state: str | None = None
    trades: int = 0
    chains_traded: list[str] = []
    cost_usd: float = 0.0  # realised (gas + fee + impact) of this step's run
    predicted_cost_usd: float = 0.0


def _inside(delta: float, band: tuple[float, float]) -> bool:
    """Inside the band, allowing the optimizer's own tolerance at the edge (it hedges *to* the edge)."""
    slack = 0.01 * max(abs(band[0]), abs(band[1]), 1e-9)
    return band[0] - slack <= delta <= band[1] + slack


def summary_rows(steps: list[DemoStep]) -> dict[str, float | int]:
    runs = [s for s in steps if s.run_id]
    underlyings = sorted({u for s in steps for u in s.delta_after})
    breaches = sum(
        1 for s in steps for u in underlyings
        if u in s.band and not _inside(s.delta_after.get(u, 0.0), s.band[u])
    )
    return {
        "steps": len(steps),
        "runs": len(runs),
        "trades": sum(s.trades for s in steps),
        "chains_traded": len({c for s in steps for c in s.chains_traded}),
        "realised_cost_usd": round(sum(s.cost_usd for s in steps), 2),
        "predicted_cost_usd": round(sum(s.predicted_cost_usd for s in steps), 2),
        "steps_outside_band_after_hedge": breaches,
    }


def summary_table(steps: list[DemoStep]) -> Table:
    table = Table(title="crosshedge demo: summary")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in summary_rows(steps).items():
        table.add_row(key.replace("_", " "), f"{value:,}" if isinstance(value, int) else f"{value:,.2f}")
    return table


def plot_steps(steps: list[DemoStep], path: Path) -> Path:
    """Delta per underlying with its band (top) and cumulative hedging cost (bottom), saved as PNG."""
    underlyings = sorted({u for s in steps for u in s.delta_after})
    x = [s.step for s in steps]
    fig, axes = plt.subplots(len(underlyings) + 1, 1, figsize=(10, 3 * (len(underlyings) + 1)), sharex=True)
    for ax, underlying in zip(axes, underlyings, strict=False):
        before = [s.delta_before.get(underlying, 0.0) for s in steps]
        after = [s.delta_after.get(underlying, 0.0) for s in steps]
        lower = [s.band.get(underlying, (0.0, 0.0))[0] for s in steps]
        upper = [s.band.get(underlying, (0.0, 0.0))[1] for s in steps]
        ax.fill_between(x, lower, upper, color="tab:green", alpha=0.15, label="no-trade band")
        ax.plot(x, before, color="tab:red", alpha=0.6, marker=".", linestyle="none", label="delta before run")
        ax.step(x, after, where="post", color="tab:blue", label="delta after run")
        ax.axhline(0.0, color="grey", linewidth=0.5)
        ax.set_ylabel(f"{underlying} delta (units)")
        ax.legend(loc="upper left", fontsize=8)
    cumulative, total = [], 0.0
    for s in steps:
        total += s.cost_usd
        cumulative.append(total)
    axes[-1].step(x, cumulative, where="post", color="tab:purple")
    axes[-1].set_ylabel("cumulative hedging cost (USD)")
    axes[-1].set_xlabel("step (one hour of the real price path)")
    fig.suptitle("crosshedge demo: book delta kept in band across three chains")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
