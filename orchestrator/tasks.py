"""Thin Celery tasks: ids in, ledger re-read, one plain stage function, next stage enqueued.

The canvas of one run (fan-in through the ledger, not chords: there is no result backend)::

    snapshot(run) -> plan(run) -> execute_lane(run, lane) on queue lane.<chain>.<wallet>, one per lane
                  -> confirm_lane(run, lane) on the same queue -> reconcile(run) when every lane is confirmed
                  -> snapshot(follow-up run) when the residual delta is still outside the band (bounded)

Every task is idempotent: the ledger's state machines decide what is left to do, so a redelivered message (worker
killed, Redis restarted, visibility timeout) repeats nothing that already happened.

What happens on an error is decided by the error tree alone (:attr:`CrosshedgeError.retryable`): a retryable error
backs off briefly and re-queues at once (never an ETA/countdown for trades), at most ``MAX_RETRIES`` times; a
terminal one, or a retryable one past its budget, ends the run with its sentence (orchestrator.runs.fail_run),
which releases the run lock so the next beat tick can start a new run. An unexpected exception is a bug: it ends
the run too (fail closed) and is logged with its traceback. ``recover`` re-enqueues whatever a stalled run needs;
workers run it when they start and ``crosshedge beat`` before every policy check.

Usage::

    tasks.register(app)
    app.send_task("crosshedge.snapshot", args=[run_id])
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from celery import Celery, Task

from crosshedge import CrosshedgeError, LedgerUnavailableError
from crosshedge.config import resolve_config
from orchestrator.context import RunContext, open_context
from orchestrator.execution import confirm_lane, execute_lane, lane_confirmed, lanes_finished
from orchestrator.ledger import RunState
from orchestrator.logs import log_context
from orchestrator.metrics import record_run_failure
from orchestrator.planning import plan_run, snapshot_run
from orchestrator.queues import DEFAULT_QUEUE, lane_queue
from orchestrator.reconcile import reconcile_run
from orchestrator.recovery import recover_runs, resume_run
from orchestrator.runs import RunExistsError, fail_run, start_run
from orchestrator.scheduling import policy_tick
from orchestrator.signer import WalletSigner
from orchestrator.transfers import track_open_transfers

log = logging.getLogger("crosshedge.tasks")
T = TypeVar("T")
MAX_RETRIES = 30


class CrosshedgeTask(Task):  # type: ignore[misc]
    """Base task: one RunContext per worker process, built on first use (config, ledger, connections, keys)."""

    abstract = True
    _ctx: RunContext | None = None
    #: Keystores unlocked by `crosshedge worker` before the pool forks (so a password is asked once).
    preloaded_signers: dict[str, WalletSigner] = {}  # noqa: RUF012 - process-wide on purpose

    @property
    def ctx(self) -> RunContext:
        if CrosshedgeTask._ctx is None:
            CrosshedgeTask._ctx = build_context(self.app)
        return CrosshedgeTask._ctx


def build_context(app: Celery) -> RunContext:
    """The worker's RunContext from the app's config path (the ledger shares the broker's Redis)."""
    ctx = open_context(resolve_config(Path(app.conf.crosshedge_config_path)))
    ctx.add_signers(CrosshedgeTask.preloaded_signers)
    return ctx


def preload_signers(signers: dict[str, WalletSigner]) -> None:
    """Keys unlocked before the worker pool forks: every task's context starts with them."""
    CrosshedgeTask.preloaded_signers = dict(signers)


def stop_reason(exc: BaseException, retries: int, what: str) -> str | None:
    """None when ``exc`` should be retried (retryable and within budget), else the sentence the run ends with."""
    if isinstance(exc, CrosshedgeError):
        if exc.retryable:
            return None if retries < MAX_RETRIES else f"{exc} (gave up after {retries} retries)"
        return str(exc)
    return f"internal error in {what}: {type(exc).__name__}: {exc}"  # a bug, not a condition: fail closed


def guard(task: CrosshedgeTask, run_id: str, what: str, fn: Callable[[], T]) -> T | None:
    """Run one stage: retry a retryable error (bounded), end the run on a terminal one; None when it ended."""
    try:
        return fn()
    except Exception as exc:  # decided by the error tree (stop_reason); nothing is swallowed
        retries = task.request.retries
        reason = stop_reason(exc, retries, what)
        if reason is None:
            if isinstance(exc, LedgerUnavailableError):
                CrosshedgeTask._ctx = None  # reconnect from scratch after a Redis restart
            log.info("%s: %s (retryable): %s; retrying", what, type(exc).__name__, exc)
            time.sleep(min(0.2 * 2**retries, 5.0))
            raise task.retry(countdown=0, max_retries=MAX_RETRIES) from None  # countdown=0: no ETA message
        if isinstance(exc, CrosshedgeError):
            log.warning("%s: run %s ends: %s", what, run_id, reason)
        else:
            log.exception("%s: unexpected %s; run %s ends", what, type(exc).__name__, run_id)
        record_run_failure(type(exc).__name__)
        _end(task, run_id, reason)
        return None


def _end(task: CrosshedgeTask, run_id: str, reason: str) -> None:
    if not task.ctx.ledger.has_run(run_id):  # a follow-up that could not even be created
        return
    if not fail_run(task.ctx, run_id, reason):
        resume_run(task.app, task.ctx, task.ctx.ledger.run(run_id))  # signed intents still need confirming


def send(app: Celery, name: str, args: list[Any], queue: str) -> None:
    app.send_task(name, args=args, queue=queue)


def after_execute(app: Celery, ctx: RunContext, run_id: str, lane: str) -> None:
    """Enqueue the lane's confirm stage, or (execute_lane confirmed it: the depth was reached at once) reconcile
    when every lane is confirmed."""
    if not lane_confirmed(ctx, run_id, lane):
        send(app, "crosshedge.confirm_lane", [run_id, lane], lane_queue(lane))
    else:
        reconcile_once(app, ctx, run_id)


def reconcile_once(app: Celery, ctx: RunContext, run_id: str) -> None:
    """Enqueue reconcile when every lane is confirmed, once: of two lanes finishing together only the first to
    claim it sends it (a message lost after the claim is re-sent by the recover sweep, from the run's state)."""
    if lanes_finished(ctx, run_id, "confirm") and ctx.ledger.claim(run_id, "reconcile"):
        send(app, "crosshedge.reconcile", [run_id], DEFAULT_QUEUE)


def register(app: Celery) -> None:
    """Register crosshedge's tasks on ``app``."""

    def task(name: str) -> Callable[[Callable[..., Any]], Any]:
        decorator: Callable[[Callable[..., Any]], Any] = app.task(
            name=f"crosshedge.{name}", bind=True, base=CrosshedgeTask, acks_late=True, reject_on_worker_lost=True,
            ignore_result=True)

        def register_one(body: Callable[..., Any]) -> Any:
            @functools.wraps(body)
            def with_context(self: CrosshedgeTask, *args: str) -> None:
                # Every log line of the task carries its run id and lane (tasks take (run_id[, lane])).
                with log_context(run_id=args[0] if args else None, lane=args[1] if len(args) > 1 else None):
                    body(self, *args)

            return decorator(with_context)

        return register_one

    @task("snapshot")
    def snapshot(self: CrosshedgeTask, run_id: str) -> None:
        if guard(self, run_id, f"snapshot {run_id}", lambda: snapshot_run(self.ctx, run_id)) is not None:
            send(app, "crosshedge.plan", [run_id], DEFAULT_QUEUE)

    @task("plan")
    def plan(self: CrosshedgeTask, run_id: str) -> None:
        delivery = str(self.request.id)
        lanes = guard(self, run_id, f"plan {run_id}", lambda: plan_run(self.ctx, run_id, delivery=delivery))
        for lane in lanes or []:
            send(app, "crosshedge.execute_lane", [run_id, lane], lane_queue(lane))

    @task("execute_lane")
    def execute(self: CrosshedgeTask, run_id: str, lane: str) -> None:
        delivery = str(self.request.id)
        if guard(self, run_id, f"execute {run_id} {lane}",
                 lambda: execute_lane(self.ctx, run_id, lane, delivery=delivery)) is not None:
            after_execute(app, self.ctx, run_id, lane)

    @task("confirm_lane")
    def confirm(self: CrosshedgeTask, run_id: str, lane: str) -> None:
        delivery = str(self.request.id)
        ok = guard(self, run_id, f"confirm {run_id} {lane}",
                   lambda: confirm_lane(self.ctx, run_id, lane, delivery=delivery))
        if ok:
            reconcile_once(app, self.ctx, run_id)

    @task("reconcile")
    def reconcile(self: CrosshedgeTask, run_id: str) -> None:
        if self.ctx.ledger.run(run_id).state in (RunState.FAILED, RunState.NOOP):
            return  # ended early (cancelled, failed before anything landed): nothing to reconcile
        report = guard(self, run_id, f"reconcile {run_id}", lambda: reconcile_run(self.ctx, run_id))
        if report is not None and report.followup:
            parent = self.ctx.ledger.run(run_id)
            followup = report.followup
            def start_followup() -> str | None:
                try:
                    return start_run(self.ctx, kind=parent.kind, run_id=followup, parent=run_id,
                                     followup=parent.followup + 1)
                except RunExistsError:  # a second delivery of this reconcile: the first started it, leave it be
                    return None

            started = guard(self, followup, f"follow-up of {run_id}", start_followup)
            if started:
                send(app, "crosshedge.snapshot", [started], DEFAULT_QUEUE)

    @task("tick")
    def tick(self: CrosshedgeTask) -> None:
        try:
            result = policy_tick(self.ctx, app)
        except CrosshedgeError as exc:  # nothing was started: the next tick asks again
            if isinstance(exc, LedgerUnavailableError):
                CrosshedgeTask._ctx = None
            log.warning("policy tick: %s", exc)
            return
        log.info("policy tick: %s: %s", result.action, result.reason)

    @task("recover")
    def recover(self: CrosshedgeTask) -> None:
        try:
            recover_runs(app, self.ctx)
            track_open_transfers(self.ctx)  # transfers outlive their runs: every sweep moves the open ones along
        except LedgerUnavailableError as exc:  # the next sweep will try again; nothing to end
            CrosshedgeTask._ctx = None
            log.info("recover: %s", exc)


__all__ = [
    "MAX_RETRIES",
    "CrosshedgeTask",
    "build_context",
    "guard",
    "preload_signers",
    "register",
    "stop_reason",
]
