"""The notional caps of a trade about to be signed, counted from what the ledger says was signed already.

Usage::

    check_caps(ctx, run_id, intent_id, notional_usd)   # CircuitBreakerError above the per-run or 24 h cap
"""

from __future__ import annotations

from crosshedge import CircuitBreakerError
from orchestrator.context import RunContext

DAY_S = 86_400.0


def check_caps(ctx: RunContext, run_id: str, intent_id: str, notional: float) -> None:
    """CircuitBreakerError when signing ``notional`` more would break the run's or the rolling day's cap (swaps,
    bridge deposits and perp orders all count; ``intent_id`` itself is not counted twice)."""
    this_run, day = ctx.ledger.notional_totals(ctx.clock() - DAY_S, f"{run_id}.", exclude=intent_id)
    per_run, per_day = ctx.execution.max_notional_usd_per_run, ctx.execution.max_notional_usd_per_day
    if this_run + notional > per_run:
        raise CircuitBreakerError(f"run {run_id}: signing ${notional:,.0f} more would take the run to "
                                  f"${this_run + notional:,.0f}, above the per-run cap of ${per_run:,.0f}")
    if day + notional > per_day:
        raise CircuitBreakerError(f"run {run_id}: signing ${notional:,.0f} more would take the last 24 h to "
                                  f"${day + notional:,.0f}, above the per-day cap of ${per_day:,.0f}")


__all__ = ["check_caps"]
