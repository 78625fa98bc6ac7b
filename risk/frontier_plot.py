"""The backtest's efficient-frontier plot: total hedging cost against daily P&L std, one curve per policy family.

Lower-left is better. Each policy family has its own colour (the Okabe–Ito colour-blind-safe palette), marker and
line style; a swept family is a line through its grid points with the parameter written next to each point,
placed so that no two labels overlap; the fixed-daily hedge is ringed as the reference and the chosen point (the
cheapest band policy at <= daily std) is marked with a star and named.

Usage::

    plot_frontier(result, Path("frontier.png"))
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from risk.backtest import BacktestResult, PolicyResult, best_band_vs_daily

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision deficiency.
_STYLE = {
    "fixed_interval": ("#000000", "s", "-"),
    "delta_threshold": ("#E69F00", "^", "--"),
    "vol_threshold": ("#56B4E9", "v", "-."),
    "whalley_wilmott": ("#009E73", "o", "-"),
    "zakamouline": ("#CC79A7", "D", ":"),
    "cost_aware_band": ("#0072B2", "P", "--"),
}
_OFFSETS = ((6, 5), (6, -11), (-6, 5), (-6, -11), (6, 14), (6, -20), (-6, 14), (-6, -20), (14, -3), (-14, -3))


def _short(value: float | None) -> str:
    if value is None:
        return ""
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _place_labels(ax: Any, fig: Any, items: list[tuple[str, float, float, str]]) -> None:
    """Annotate each (text, x, y, colour), trying offsets until the label overlaps no label placed before it."""
    renderer = fig.canvas.get_renderer()
    placed: list[Any] = []
    for text, x, y, colour in items:
        for k, (dx, dy) in enumerate(_OFFSETS):
            ann = ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=7, color=colour,
                              ha="left" if dx > 0 else "right")
            box = ann.get_window_extent(renderer).expanded(1.05, 1.1)
            if not any(box.overlaps(b) for b in placed) or k == len(_OFFSETS) - 1:
                placed.append(box)
                break
            ann.remove()


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
    labels: list[tuple[str, float, float, str]] = []
    for name, family in families.items():
        colour, marker, style = _STYLE.get(name, ("#999999", "o", "-"))
        rows = sorted(family, key=lambda r: r.pnl_std_usd)
        xs, ys = [r.pnl_std_usd for r in rows], [r.total_cost_usd for r in rows]
        ax.plot(xs, ys, marker=marker, linestyle=style, color=colour, linewidth=1.5, markersize=7,
                label=name.replace("_", " "))
        labels += [(_short(r.value), x, y, colour) for r, x, y in zip(rows, xs, ys, strict=True)
                   if r.param is not None and len(rows) > 1]
    daily = [r for r in result.results if r.policy == "fixed_interval" and r.value in (None, 24.0)]
    if daily:
        d = daily[0]
        ax.scatter([d.pnl_std_usd], [d.total_cost_usd], s=260, facecolors="none", edgecolors="black", linewidths=2,
                   zorder=5, label="fixed daily (reference)")
        ax.axvline(d.pnl_std_usd, color="0.6", linestyle=":", linewidth=1)
        ax.axhline(0.7 * d.total_cost_usd, color="0.6", linestyle="--", linewidth=1)
        ax.text(ax.get_xlim()[1], 0.7 * d.total_cost_usd, " 70% of daily cost", va="bottom", ha="right", fontsize=8,
                color="0.4")
        best = best_band_vs_daily(result)["best"]
        chosen = next((r for r in result.results if r.label == best), None)
        if chosen is not None:
            ax.scatter([chosen.pnl_std_usd], [chosen.total_cost_usd], marker="*", s=420, color="#D55E00",
                       edgecolors="black", linewidths=0.8, zorder=6, label=f"chosen: {chosen.label}")
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
    _place_labels(ax, fig, labels)
    fig.savefig(path)
    plt.close(fig)
    return path
