"""The policy check a schedule runs: resume stalled runs, ask the policy, start a run when it says trade.

Usage::

    result = policy_tick(ctx, app)      # TickResult(action="run", run_id=..., reason=...)
    result = policy_tick(ctx, app, key="demo-20220612T0100")   # the caller's own slot: run beat-demo-20220612T0100
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from celery import Celery

from crosshedge import CircuitBreakerError, Frozen, HaltedError, PlanError, RpcError
from orchestrator.assess import decisions_for, rebalancing
from orchestrator.context import RunContext
from orchestrator.coverage import PositionMemory
from orchestrator.inventory import build_inventory
from orchestrator.planning import observe_decisions, observe_snapshot
from orchestrator.queues import DEFAULT_QUEUE
from orchestrator.runs import make_run_id, start_run
from orchestrator.safety import RunLock, check_not_halted
from orchestrator.snapshot import Snapshot, take_snapshot
from orchestrator.transfers import transfer_routes
from risk import Decision


class TickResult(Frozen):
    """What one policy check did: started a run, waited for one in progress, or found nothing to do."""

    action: Literal["run", "wait", "none"]
    reason: str
    run_id: str | None = None


def policy_tick(ctx: RunContext, app: Celery, key: str | None = None) -> TickResult:
    """One policy check (see module docstring): one run per tick's slot, so a repeated tick is one run.

    The slot is ``policy.check_interval_s`` of the clock, or ``key`` when the caller names its ticks itself (the demo
    names each replayed hour): the same key maps to the same run (orchestrator.runs.make_run_id).
    """
    app.send_task("crosshedge.recover", queue=DEFAULT_QUEUE)
    holder = RunLock(ctx.ledger, ctx.execution.run_lock_ttl_s).holder()
    if holder:
        return TickResult(action="wait", reason=f"run {holder} in progress")
    try:
        check_not_halted(ctx.ledger)
        connections = {}
        for chain in ctx.chains():
            try:
                connections[chain] = ctx.w3(chain)
            except RpcError:
                ctx.drop_connection(chain)
        snap = take_snapshot(ctx.config, connections, ctx.registry, allow_partial=True, verifier=ctx.verifier)
        decisions = decisions_for(ctx.config, ctx.registry, snap, connections, PositionMemory(ctx.ledger))
        observe_snapshot(snap)
        observe_decisions(decisions)
    except (HaltedError, PlanError) as exc:
        return TickResult(action="none", reason=str(exc))
    trading = [d for d in decisions if d.trade]
    reasons = [d.reason for d in trading]
    if not trading:
        short = short_of_target(ctx, snap, decisions)
        if not short:
            return TickResult(action="none", reason="; ".join(d.reason for d in decisions) or "no exposure")
        reasons = ["no hedge fires; rebalance: " + ", ".join(short)]
    run_id = make_run_id("beat", ctx.clock(), ctx.config.raw.policy.check_interval_s, key=key)
    try:
        start_run(ctx, kind="beat", run_id=run_id)
    except CircuitBreakerError as exc:
        return TickResult(action="wait", reason=str(exc))
    app.send_task("crosshedge.snapshot", args=[run_id], queue=DEFAULT_QUEUE)
    return TickResult(action="run", run_id=run_id, reason="; ".join(reasons))


def short_of_target(ctx: RunContext, snap: Snapshot, decisions: Sequence[Decision]) -> list[str]:
    """The (chain, token) lines short of their inventory target that a configured route could refill, when a
    rebalance may run at all (orchestrator.assess.rebalancing); e.g. ``["base USDC 3% (target 25% ± 10%)"]``."""
    if not rebalancing(ctx.config, decisions, routed=any(e.enabled for e in ctx.config.transfers)):
        return []  # decided from the config alone: a tick with nothing to do reads no more than before
    routes = transfer_routes(ctx.config, ctx.registry)
    into = {(r.destination.chain, r.token_in.symbol) for r in routes}
    lines = build_inventory(ctx, snap).lines
    return [f"{x.chain} {x.symbol} {x.share:.0%} (target {x.target_share:.0%} ± {x.threshold:.0%})" for x in lines
            if x.status == "short" and (x.chain, x.symbol) in into and x.share is not None
            and x.target_share is not None and x.threshold is not None]


__all__ = ["TickResult", "policy_tick", "short_of_target"]
