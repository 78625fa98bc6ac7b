"""`crosshedge backtest --monte-carlo`: the textbook hedging experiment with the user's own parameters.

Hull's performance measure, std(PV of the cost of writing and delta hedging the option) / BS price, for each
``--rebalance-weeks`` interval, on GBM paths with drift ``--drift`` (defaults: Hull's example S=49, K=50, r=5%,
σ=20%, μ=13%, T=20 weeks, so the bare command reproduces his table). ``--derman-kamal`` adds the Derman–Kamal check
(S=K=100, σ=20%, T=1, r=0: MC hedging-error std against √(π/4)·σ·vega/√N).
"""

from __future__ import annotations

from pydantic import ValidationError
from rich.table import Table

from crosshedge import InputError
from crosshedge.cli.output import UsageError, emit
from risk import HedgeCostRow, TextbookCase, derman_kamal_table, hedge_cost_table

HULL_INTERVALS = (5.0, 4.0, 2.0, 1.0, 0.5, 0.25)
#: Hull's printed performance measures for his example (the defaults), shown beside ours when the case is his.
HULL_TABLE = {5.0: 0.42, 4.0: 0.34, 2.0: 0.26, 1.0: 0.19, 0.5: 0.14, 0.25: 0.09}


def _textbook_table(case: TextbookCase, rows: tuple[HedgeCostRow, ...], paths: int, seed: int) -> Table:
    kind = "call" if case.is_call else "put"
    table = Table(title=(f"Delta hedging a short {kind} (GBM, {paths:,} paths, seed {seed}): S0={case.s0:g}, "
                         f"K={case.strike:g}, r={case.rate:.2%}, σ={case.vol:.2%}, μ={case.drift:.2%}, "
                         f"T={case.years * 52:g} weeks"),
                  caption="performance = std(PV of hedge cost) / BS price (Hull); ± is the Monte Carlo standard error")
    hull = case == TextbookCase(is_call=True)
    for col in ("rebalance every (weeks)", "rebalances", "performance", "± SE", "mean PV cost / price",
                *(("Hull",) if hull else ())):
        table.add_column(col, justify="right")
    for r in rows:
        ref = HULL_TABLE.get(r.interval_weeks)
        table.add_row(f"{r.interval_weeks:g}", str(r.rebalances), f"{r.performance:.4f}", f"{r.performance_se:.4f}",
                      f"{r.mean_cost:.4f}", *((f"{ref:.2f}" if ref is not None else "",) if hull else ()))
    return table


def _dk_table(paths: int) -> tuple[list[object], Table]:
    rows = derman_kamal_table((52, 252), paths=paths)
    table = Table(title=f"Derman–Kamal (GBM, {paths:,} paths): S=K=100, σ=20%, T=1: hedging-error std vs formula")
    for col in ("rebalances", "MC std", "√(π/4)σ·vega/√N", "ratio"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(str(r.rebalances), f"{r.pnl_std:.4f}", f"{r.derman_kamal:.4f}", f"{r.ratio:.3f}")
    return list(rows), table


def monte_carlo(case: dict[str, float | bool], intervals: list[float] | None, paths: int, seed: int,
                derman_kamal: bool, json_output: bool) -> None:
    """Run the textbook table (and the Derman–Kamal check when asked); bad parameters are bad usage (exit 2)."""
    try:
        tc = TextbookCase.model_validate(case)
        rows = hedge_cost_table(tc, tuple(intervals or HULL_INTERVALS), paths=paths, seed=seed)
    except ValidationError as exc:
        e = exc.errors()[0]
        raise UsageError(f"backtest --monte-carlo: --{str(e['loc'][0]).replace('_', '-')}: {e['msg']}") from None
    except InputError as exc:
        raise UsageError(f"backtest --monte-carlo: {exc}") from None
    payload: dict[str, object] = {"textbook": {"case": tc, "paths": paths, "seed": seed, "rows": list(rows)}}
    tables = [_textbook_table(tc, rows, paths, seed)]
    if derman_kamal:
        dk_rows, dk = _dk_table(paths)
        payload["monte_carlo"] = dk_rows
        tables.append(dk)
    emit(payload, json_output, *tables)

