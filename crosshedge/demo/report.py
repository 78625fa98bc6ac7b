"""What the demo shows at the end: a summary table and a plot of delta and cumulative cost over time.

An hour whose hedge failed (no plan could be made, the run failed or did not finish) is marked on the plot and
counted in the summary with its reason; the title says the band was kept only when every hedged hour ended inside
it, and otherwise how many did not.

Usage::

    steps = [DemoStep(...), ...]
    console.print(summary_table(steps)); plot_steps(steps, Path("demo.png"))
"""

from __future__ import annotations

import statistics
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
    band: dict[str, tuple[float, float]]  # (lower, upper) per underlying, when the policy was asked
    fired: bool  # the policy said trade and a run was started
    reason: str
    run_id: str | None = None
    run_ids: list[str] = []  # the run and its follow-ups
    run_state: str | None = None  # of the last of them
    error: str = ""  # why the hour's hedge failed, from the ledger (or the demo's timeout); "" when it did not
    outside_band: list[str] = []  # underlyings whose delta ended outside their band after the hedge
    trades: int = 0
    chains_traded: list[str] = []
    cost_usd: float = 0.0  # realised (gas + fee + impact) of this step's runs
    predicted_cost_usd: float = 0.0
    # cost_usd split: swaps' fees and impact against the mark, perp orders' exchange fees and their impact (fill
    # against the same mark), and the gas of both
    spot_cost_usd: float = 0.0
    perp_fee_usd: float = 0.0
    perp_impact_usd: float = 0.0
    gas_usd: float = 0.0
    # "chain/market" -> the account's pending funding (USD, > 0 owed) when the step read the chains, before its
    # hedge; and the markets its hedge traded (a trade settles the pending funding: Curie's openPosition)
    perp_funding_owed: dict[str, float] = {}
    perp_markets_traded: list[str] = []
    transfers: int = 0  # bridge deposits of this step's runs
    transfer_cost_usd: float = 0.0  # their bridge fees and origin gas, as predicted when planned
    transfer_latencies_s: list[float] = []  # deposit -> fill, of those filled

    @property
    def failed(self) -> bool:
        """A run was started and did not end well: it failed (no plan could be made, a refusal, a timeout) or ended
        with an error; a run the policy called off at plan time (``noop``) did not fail."""
        return self.fired and (bool(self.error) or self.run_state not in ("reconciled", "noop"))

    @property
    def hedged(self) -> bool:
        """A run was started and reconciled without an error."""
        return self.fired and not self.failed and self.run_state == "reconciled"


def inside(delta: float, band: tuple[float, float]) -> bool:
    """Inside the band, edges included (the optimizer aims strictly inside it: orchestrator.assess.target_window)."""
    return band[0] <= delta <= band[1]


def outside_band(delta: dict[str, float], band: dict[str, tuple[float, float]]) -> list[str]:
    """The underlyings of ``band`` whose ``delta`` is outside it."""
    return sorted(u for u, b in band.items() if not inside(delta.get(u, 0.0), b))


def funding_paid(steps: list[DemoStep]) -> float:
    """Perp funding the accounts paid (< 0: received) between the first step's read and the last one's: each
    market's pending funding grows until a trade settles it, so an hour's funding is the pending amount read now
    less what was pending after the hour before (nothing when that hour's hedge traded the market)."""
    total, after = 0.0, dict[str, float]()
    for s in steps:
        for market, owed in s.perp_funding_owed.items():
            if market in after:
                total += owed - after[market]
            after[market] = owed
        for market in s.perp_markets_traded:
            after[market] = 0.0
    return total


def summary_rows(steps: list[DemoStep]) -> dict[str, float | int]:
    """The demo's figures: hours, runs, trades, costs (split into spot fees and impact, perp fees, perp impact,
    gas, and the perp funding paid), hedges that ended outside the band, hours that failed, and the bridge
    transfers (count, predicted cost, median deposit-to-fill seconds)."""
    hedged = [s for s in steps if s.hedged]
    latencies = [x for s in steps for x in s.transfer_latencies_s]
    return {
        "steps": len(steps),
        "hours_hedged": len(hedged),
        "hours_failed": sum(1 for s in steps if s.failed),
        "runs": sum(len(s.run_ids) for s in steps),
        "trades": sum(s.trades for s in steps),
        "chains_traded": len({c for s in steps for c in s.chains_traded}),
        "realised_cost_usd": round(sum(s.cost_usd for s in steps), 2),
        "predicted_cost_usd": round(sum(s.predicted_cost_usd for s in steps), 2),
        "spot_fees_and_impact_usd": round(sum(s.spot_cost_usd for s in steps), 2),
        "perp_fees_usd": round(sum(s.perp_fee_usd for s in steps), 2),
        "perp_impact_usd": round(sum(s.perp_impact_usd for s in steps), 2),
        "gas_usd": round(sum(s.gas_usd for s in steps), 2),
        "perp_funding_paid_usd": round(funding_paid(steps), 2),
        "hedged_hours_outside_band": sum(1 for s in hedged if s.outside_band),
        "transfers": sum(s.transfers for s in steps),
        "transfer_cost_usd": round(sum(s.transfer_cost_usd for s in steps), 2),
        "transfer_latency_median_s": round(statistics.median(latencies), 1) if latencies else 0.0,
    }


def summary_table(steps: list[DemoStep]) -> Table:
    table = Table(title="crosshedge demo: summary")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in summary_rows(steps).items():
        table.add_row(key.replace("_", " "), f"{value:,}" if isinstance(value, int) else f"{value:,.2f}")
    return table


def headline(steps: list[DemoStep], halted: str | None = None) -> str:
    """The plot's title: what happened to the band, in numbers ("kept in band" only when every hedged hour ended
    inside it and no hour's hedge failed)."""
    hedged = [s for s in steps if s.hedged]
    outside = sum(1 for s in hedged if s.outside_band)
    failed = sum(1 for s in steps if s.failed)
    if not hedged:
        text = "no hedge ran"
    elif outside == 0 and not failed:
        text = f"book delta kept in band across three chains (all {len(hedged)} hedged hours)"
    elif outside == 0:
        text = f"all {len(hedged)} hedged hours ended in band"
    else:
        text = f"{outside} of {len(hedged)} hedged hours ended outside the band"
    if failed:
        text += f"; {failed} hour{'s' if failed != 1 else ''} could not be hedged (marked x)"
    if halted:
        text += f"; halted after hour {len(steps)}"
    return f"crosshedge demo: {text}"


def plot_steps(steps: list[DemoStep], path: Path, halted: str | None = None) -> Path:
    """Delta per underlying with its band (top) and cumulative hedging cost (bottom), saved as PNG; hours whose
    hedge failed are marked with a red x at their delta."""
    underlyings = sorted({u for s in steps for u in s.delta_after})
    x = [s.step for s in steps]
    fig, grid = plt.subplots(len(underlyings) + 1, 1, figsize=(10, 3 * (len(underlyings) + 1)), sharex=True,
                             squeeze=False)
    axes = list(grid[:, 0])
    for ax, underlying in zip(axes, underlyings, strict=False):
        before = [s.delta_before.get(underlying, 0.0) for s in steps]
        after = [s.delta_after.get(underlying, 0.0) for s in steps]
        lower = [s.band.get(underlying, (0.0, 0.0))[0] for s in steps]
        upper = [s.band.get(underlying, (0.0, 0.0))[1] for s in steps]
        ax.fill_between(x, lower, upper, color="tab:green", alpha=0.15, label="no-trade band")
        ax.plot(x, before, color="tab:red", alpha=0.6, marker=".", linestyle="none", label="delta before run")
        ax.step(x, after, where="post", color="tab:blue", label="delta after run")
        failed = [s for s in steps if s.failed]
        if failed:
            ax.plot([s.step for s in failed], [s.delta_after.get(underlying, 0.0) for s in failed], color="red",
                    marker="x", markersize=8, linestyle="none", label="hedge failed")
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
    fig.suptitle(headline(steps, halted), fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


__all__ = ["DemoStep", "funding_paid", "headline", "inside", "outside_band", "plot_steps", "summary_rows",
           "summary_table"]
