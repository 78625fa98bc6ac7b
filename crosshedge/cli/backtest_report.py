"""Tables of `crosshedge backtest`: policies with std ratios and savings, the P&L explain, out-of-sample runs."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from risk import BacktestResult, OutOfSample, PnlExplain

_VERDICT = {"better": "measurably better than Whalley–Wilmott", "worse": "measurably worse than Whalley–Wilmott",
            "not measurably different": "not measurably better than Whalley–Wilmott (its intervals do not both "
                                        "sit at or below 1)"}
EXPLAIN_COLUMNS = ("actual", "delta", "gamma", "vega", "theta", "funding", "fees", "gas", "unexplained")


def saving_words(saving: float) -> str:
    """``0.3`` → "30% cheaper", ``-0.3`` → "30% more expensive" (never "−30% cheaper")."""
    return f"{saving:.0%} cheaper" if saving >= 0 else f"{-saving:.0%} more expensive"


def _ratio(lo: float | None, mid: float | None, hi: float | None) -> str:
    if mid is None:
        return "reference"
    return f"{mid:.3f}" if lo is None or hi is None else f"{mid:.3f} [{lo:.3f}, {hi:.3f}]"


def results_table(result: BacktestResult, title: str) -> Table:
    table = Table(title=title, caption=(
        f"std ratio = daily P&L std / {result.reference or 'fixed daily'}'s, [{result.bootstrap.level:.0%} stationary "
        f"block bootstrap, mean block {result.bootstrap.mean_block_days:g} d, {result.bootstrap.resamples:,} "
        f"resamples]; implied vol: {result.iv_model}"))
    for col in ("policy", "trades", "cost $", "gas $", "vs daily", "P&L mean $/d", "P&L std $/d",
                "std ratio [CI]", "CVaR95 $/d", "worst |Δ| $"):
        table.add_column(col, justify="left" if col == "policy" else "right", overflow="fold")  # never "fixed_i…"
    ref = next((r for r in result.results if r.label == result.reference), None)
    for r in result.results:
        vs = "" if ref is None or r is ref or ref.total_cost_usd == 0 else saving_words(
            1.0 - r.total_cost_usd / ref.total_cost_usd)
        table.add_row(r.label, f"{r.trades:,}", f"{r.total_cost_usd:,.0f}", f"{r.gas_usd:,.0f}", vs,
                      f"{r.pnl_mean_usd:,.0f}", f"{r.pnl_std_usd:,.0f}",
                      _ratio(r.std_ratio_lo, r.std_ratio, r.std_ratio_hi), f"{r.cvar95_usd:,.0f}",
                      f"{r.worst_delta_usd:,.0f}")
    return table


def _explain_cells(e: PnlExplain) -> list[str]:
    return [f"{getattr(e, k):,.0f}" for k in EXPLAIN_COLUMNS]


def explain_table(result: BacktestResult) -> Table:
    """The whole run's P&L explain per policy (USD)."""
    table = Table(title=f"P&L explain {result.underlying} {result.start[:10]}→{result.end[:10]} (USD, whole run)",
                  caption="Greeks at the start of each bar; delta = (book + hedge) Δ·dS; funding is the perp leg's "
                          "(0 for spot hedges)")
    table.add_column("policy", overflow="fold")
    for col in EXPLAIN_COLUMNS:
        table.add_column(col, justify="right")
    for r in result.results:
        table.add_row(r.label, *_explain_cells(r.explain))
    return table


def daily_explain_table(result: BacktestResult) -> Table:
    table = Table(title=f"P&L explain per day: {result.explain_label} (USD)")
    table.add_column("day")
    for col in EXPLAIN_COLUMNS:
        table.add_column(col, justify="right")
    for d in result.daily_explain:
        table.add_row(d.day, *_explain_cells(d))
    return table


def oos_tables(oos: OutOfSample) -> Sequence[Table]:
    """Calibration and test figures of each frozen choice, and the cost-aware band against Whalley–Wilmott."""
    cal, test = oos.calibration, oos.test
    table = Table(title=(f"{test.underlying} out of sample: calibrated on {cal.start[:10]}→{cal.end[:10]}, "
                         f"frozen, tested on {test.start[:10]}→{test.end[:10]} (implied vol: {test.iv_model})"))
    for col in ("family", "frozen parameter", "in sample vs daily", "in sample std ratio [CI]",
                "out of sample vs daily", "out of sample std ratio [CI]"):
        table.add_column(col, justify="left" if col in {"family", "frozen parameter"} else "right", overflow="fold")
    for c in oos.choices:
        table.add_row(c.family, f"{c.param}={c.value:g}", saving_words(c.calibration_saving),
                      _ratio(c.calibration.std_ratio_lo, c.calibration.std_ratio, c.calibration.std_ratio_hi),
                      saving_words(c.test_saving), _ratio(c.test.std_ratio_lo, c.test.std_ratio, c.test.std_ratio_hi))
    p = oos.cost_aware_vs_ww
    if p is not None:
        table.caption = (
            f"out of sample, {p.a} against {p.b}: std ratio {_ratio(p.std_ratio_lo, p.std_ratio, p.std_ratio_hi)}, "
            f"cost ratio {_ratio(p.cost_ratio_lo, p.cost_ratio, p.cost_ratio_hi)}: the cost-aware band is "
            f"{_VERDICT[p.verdict]}")
    return [table]
