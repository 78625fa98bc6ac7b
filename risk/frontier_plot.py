"""The backtest's efficient-frontier plot: total hedging cost against daily P&L std, one curve per policy family.

Lower-left is better. Each policy family is one colour; a swept family is a line through its grid points with the
parameter written next to each point; the fixed-daily hedge is marked as the reference.

Usage::

    plot_frontier(result, Path("frontier.png"))
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from risk.backtest import BacktestResult, PolicyResult

_MARKERS = {"fixed_interval": "s", "delta_threshold": "^", "vol_threshold": "v", "whalley_wilmott": "o",
            "zakamouline": "D", "cost_aware_band": "*"}


def _short(value: float | None) -> str:
    if value is None:
        return ""
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def plot_frontier(result: BacktestResult, path: Path) -> Path:
    """Write the frontier PNG for ``result`` to ``path`` and return the path."""
    # matplotlib costs half a second to import: only the commands that draw pay for it, not every user of risk.
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    families: dict[str, list[PolicyResult]] = defaultdict(list)
    for r in result.results:
        families[r.policy].append(r)
    fig, ax = plt.subplots(figsize=(10, 6.5), dpi=120)
    for name, family in families.items():
        rows = sorted(family, key=lambda r: r.pnl_std_usd)
        xs, ys = [r.pnl_std_usd for r in rows], [r.total_cost_usd for r in rows]
        ax.plot(xs, ys, marker=_MARKERS.get(name, "o"), linewidth=1.5, markersize=7, label=name.replace("_", " "))
        for r, x, y in zip(rows, xs, ys, strict=True):
            if r.param is not None and len(rows) > 1:
                ax.annotate(_short(r.value), (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7,
                            color="0.35")
    daily = [r for r in result.results if r.policy == "fixed_interval" and r.value in (None, 24.0)]
    if daily:
        d = daily[0]
        ax.scatter([d.pnl_std_usd], [d.total_cost_usd], s=260, facecolors="none", edgecolors="black", linewidths=2,
                   zorder=5, label="fixed daily (reference)")
        ax.axvline(d.pnl_std_usd, color="0.6", linestyle=":", linewidth=1)
        ax.axhline(0.7 * d.total_cost_usd, color="0.6", linestyle="--", linewidth=1)
        ax.text(ax.get_xlim()[1], 0.7 * d.total_cost_usd, " 70% of daily cost", va="bottom", ha="right", fontsize=8,
                color="0.4")
    ax.set_xlabel("hedged P&L std per day (USD)  →  riskier")
    ax.set_ylabel("total hedging cost (USD: gas + fee + impact)  →  dearer")
    ax.set_title(f"Hedging frontier: {result.underlying} {result.start[:10]} → {result.end[:10]}, "
                 f"{result.book_lines}-line rolling book ({result.bars:,} bars)", fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=9, loc="upper right")
    ax.ticklabel_format(style="plain", axis="both")
    ax.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
    ax.xaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
