"""Resume stalled runs: re-enqueue the next stage of every unfinished run (idempotent stages make it harmless).

A stage can die between its ledger write and enqueueing the next stage (a SIGKILL, a Redis restart); the ledger
says where each run stands, so the next stage can always be found again. Workers sweep on start and on a timer;
``crosshedge beat`` sweeps before every policy check.

Usage::

    recover_runs(app, ctx)         # -> ids of the runs that were resumed
"""

from __future__ import annotations

from celery import Celery

from orchestrator.context import RunContext
from orchestrator.ledger import TERMINAL_RUN_STATES, RunRecord, RunState
from orchestrator.queues import DEFAULT_QUEUE, lane_queue


def recover_runs(app: Celery, ctx: RunContext, limit: int = 20, idle_s: float = 5.0) -> list[str]:
    """Re-enqueue the next stage of every unfinished recent run that has been idle for ``idle_s``."""
    resumed: list[str] = []
    now = ctx.clock()
    for run in ctx.ledger.runs(limit):
        if run.state in TERMINAL_RUN_STATES:
            continue
        if run.state is not RunState.EXECUTING and now - run.updated_at < idle_s:
            continue  # probably just moving on; a stage that died is picked up on a later sweep
        resume_run(app, ctx, run)
        resumed.append(run.id)
    return resumed


def resume_run(app: Celery, ctx: RunContext, run: RunRecord) -> None:
    """Enqueue what ``run`` needs next, from its state in the ledger."""
    if run.state is RunState.CREATED:
        app.send_task("crosshedge.snapshot", args=[run.id], queue=DEFAULT_QUEUE)
    elif run.state is RunState.SNAPSHOTTED:
        app.send_task("crosshedge.plan", args=[run.id], queue=DEFAULT_QUEUE)
    elif run.state in (RunState.PLANNED, RunState.EXECUTING):
        executed, confirmed = ctx.ledger.done(run.id, "execute"), ctx.ledger.done(run.id, "confirm")
        lanes = ctx.ledger.lanes(run.id)
        for lane in lanes:
            if ctx.ledger.lease_owner(f"lane:{lane}") is not None:
                continue  # a worker is on it (or died holding it: the lease lapses and its message comes back)
            if lane not in executed:
                app.send_task("crosshedge.execute_lane", args=[run.id, lane], queue=lane_queue(lane))
            elif lane not in confirmed:
                app.send_task("crosshedge.confirm_lane", args=[run.id, lane], queue=lane_queue(lane))
        if set(lanes) <= confirmed:
            app.send_task("crosshedge.reconcile", args=[run.id], queue=DEFAULT_QUEUE)
    elif run.state is RunState.CONFIRMED:
        app.send_task("crosshedge.reconcile", args=[run.id], queue=DEFAULT_QUEUE)


__all__ = ["recover_runs", "resume_run"]
