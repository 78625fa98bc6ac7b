"""Thin Celery tasks: ids in, ledger re-read, one plain function from orchestrator.run, next stage enqueued.

The canvas of one run (fan-in through the ledger, not chords: there is no result backend)::

    snapshot(run) -> plan(run) -> execute_lane(run, lane) on queue lane.<chain>.<wallet>, one per lane
                  -> confirm_lane(run, lane) on the same queue -> reconcile(run) when every lane is confirmed
                  -> snapshot(follow-up run) when the residual delta is still outside the band (bounded)

Every task is idempotent: the ledger's state machines decide what is left to do, so a redelivered message (worker
killed, Redis restarted, visibility timeout) repeats nothing that already happened. Named transient errors
(RpcError, a pending receipt, Redis connection loss) are retried with a short in-task backoff and an immediate
re-queue: never an ETA/countdown for trades. ``recover`` re-enqueues whatever a stalled run needs; workers run it
when they start and ``crosshedge beat`` before every policy check.

Usage::

    tasks.register(app)
    app.send_task("crosshedge.snapshot", args=[run_id])
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from celery import Celery, Task

from crosshedge.errors import (
    CircuitBreakerError,
    ExecutionError,
    HaltedError,
    RpcError,
    UnsafeTransactionError,
)
from orchestrator import run as stages
from orchestrator.ledger import TERMINAL_RUN_STATES, Ledger, RunState

log = logging.getLogger("crosshedge.tasks")
T = TypeVar("T")
MAX_RETRIES = 30
_PERMANENT = (UnsafeTransactionError, HaltedError, CircuitBreakerError)
_TRANSIENT = (RpcError, ExecutionError, redis.ConnectionError, redis.TimeoutError, ConnectionError)


class CrosshedgeTask(Task):  # type: ignore[misc]
    """Base task: one RunContext per worker process, built on first use (config, ledger, connections, keys)."""

    abstract = True
    _ctx: stages.RunContext | None = None

    @property
    def ctx(self) -> stages.RunContext:
        if CrosshedgeTask._ctx is None:
            CrosshedgeTask._ctx = build_context(self.app)
        return CrosshedgeTask._ctx


def build_context(app: Celery) -> stages.RunContext:
    """The worker's RunContext from the app's config path and broker (the ledger shares the broker's Redis)."""
    from pathlib import Path

    from crosshedge.cli.common import resolve_config
    from orchestrator.redis_server import redis_client

    config = resolve_config(Path(app.conf.crosshedge_config_path))
    ledger = Ledger(redis_client(app.conf.crosshedge_broker_url), prefix=config.raw.execution.key_prefix)
    ctx = stages.RunContext(config=config, ledger=ledger)
    preloaded = getattr(app, "crosshedge_signers", None)  # keystore unlocked by `crosshedge worker` before fork
    if preloaded:
        ctx._signers.update(preloaded)
    return ctx


def _guard(task: CrosshedgeTask, what: str, fn: Callable[[], T]) -> T | None:
    """Run one stage; transient errors back off briefly and re-queue at once; permanent ones are logged."""
    try:
        return fn()
    except _PERMANENT as exc:
        log.warning("%s: stopped: %s", what, exc)
        return None
    except _TRANSIENT as exc:
        retries = task.request.retries
        if retries >= MAX_RETRIES:
            log.error("%s: giving up after %d retries: %s (recover will resume it)", what, retries, exc)
            return None
        if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
            CrosshedgeTask._ctx = None  # reconnect from scratch after a Redis restart
        log.info("%s: transient %s: %s; retrying", what, type(exc).__name__, exc)
        time.sleep(min(0.2 * 2**retries, 5.0))
        raise task.retry(countdown=0, max_retries=MAX_RETRIES) from None  # countdown=0: no ETA message


def send(app: Celery, name: str, args: list[Any], queue: str | None = None) -> None:
    app.send_task(name, args=args, queue=queue or None)


def register(app: Celery) -> None:
    """Register crosshedge's tasks on ``app``."""
    from orchestrator.celery_app import DEFAULT_QUEUE, lane_queue

    def task(name: str) -> Callable[[Callable[..., Any]], Any]:
        decorator: Callable[[Callable[..., Any]], Any] = app.task(
            name=f"crosshedge.{name}", bind=True, base=CrosshedgeTask, acks_late=True, reject_on_worker_lost=True,
            ignore_result=True)
        return decorator

    @task("snapshot")
    def snapshot(self: CrosshedgeTask, run_id: str) -> None:
        if _guard(self, f"snapshot {run_id}", lambda: stages.snapshot_run(self.ctx, run_id)) is not None:
            send(app, "crosshedge.plan", [run_id], DEFAULT_QUEUE)

    @task("plan")
    def plan(self: CrosshedgeTask, run_id: str) -> None:
        lanes = _guard(self, f"plan {run_id}", lambda: stages.plan_run(self.ctx, run_id))
        for lane in lanes or []:
            send(app, "crosshedge.execute_lane", [run_id, lane], lane_queue(lane))

    @task("execute_lane")
    def execute_lane(self: CrosshedgeTask, run_id: str, lane: str) -> None:
        if _guard(self, f"execute {run_id} {lane}", lambda: stages.execute_lane(
            self.ctx, run_id, lane, delivery=str(self.request.id))) is not None:
            send(app, "crosshedge.confirm_lane", [run_id, lane], lane_queue(lane))

    @task("confirm_lane")
    def confirm_lane(self: CrosshedgeTask, run_id: str, lane: str) -> None:
        ok = _guard(self, f"confirm {run_id} {lane}", lambda: stages.confirm_lane(self.ctx, run_id, lane))
        if ok and stages.lanes_finished(self.ctx, run_id, "confirm"):
            send(app, "crosshedge.reconcile", [run_id], DEFAULT_QUEUE)

    @task("reconcile")
    def reconcile(self: CrosshedgeTask, run_id: str) -> None:
        report = _guard(self, f"reconcile {run_id}", lambda: stages.reconcile_run(self.ctx, run_id))
        if report is not None and report.followup:
            parent = self.ctx.ledger.run(run_id)
            started = _guard(self, f"follow-up of {run_id}", lambda: stages.start_run(
                self.ctx, kind=parent.kind, run_id=report.followup, parent=run_id, followup=parent.followup + 1))
            if started:
                send(app, "crosshedge.snapshot", [started], DEFAULT_QUEUE)

    @task("recover")
    def recover(self: CrosshedgeTask) -> None:
        _guard(self, "recover", lambda: recover_runs(app, self.ctx))


def recover_runs(app: Celery, ctx: stages.RunContext, limit: int = 20, idle_s: float = 5.0) -> list[str]:
    """Re-enqueue the next stage of every unfinished recent run (idempotent stages make duplicates harmless)."""
    from orchestrator.celery_app import DEFAULT_QUEUE, lane_queue

    resumed: list[str] = []
    now = ctx.clock()
    for run in ctx.ledger.runs(limit):
        if run.state in TERMINAL_RUN_STATES:
            continue
        if run.state is not RunState.EXECUTING and now - run.updated_at < idle_s:
            continue  # probably just moving on; a stage that died is picked up on a later sweep
        resumed.append(run.id)
        if run.state is RunState.CREATED:
            send(app, "crosshedge.snapshot", [run.id], DEFAULT_QUEUE)
        elif run.state is RunState.SNAPSHOTTED:
            send(app, "crosshedge.plan", [run.id], DEFAULT_QUEUE)
        elif run.state in (RunState.PLANNED, RunState.EXECUTING):
            executed, confirmed = ctx.ledger.done(run.id, "execute"), ctx.ledger.done(run.id, "confirm")
            for lane in ctx.ledger.lanes(run.id):
                if ctx.ledger.lock_owner(f"lane:{lane}") is not None:
                    continue  # a worker is on it (or died holding it: its message is redelivered)
                if lane not in executed:
                    send(app, "crosshedge.execute_lane", [run.id, lane], lane_queue(lane))
                elif lane not in confirmed:
                    send(app, "crosshedge.confirm_lane", [run.id, lane], lane_queue(lane))
            if stages.lanes_finished(ctx, run.id, "confirm"):
                send(app, "crosshedge.reconcile", [run.id], DEFAULT_QUEUE)
        elif run.state is RunState.CONFIRMED:
            send(app, "crosshedge.reconcile", [run.id], DEFAULT_QUEUE)
    return resumed
