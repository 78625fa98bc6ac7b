"""The desk at a glance: the kill switch, the workers, the runs, the book's delta against its band, the inventory.

:func:`build_status` reads the ledger first (the kill switch and the recent runs: if Redis cannot be read that is
``LedgerUnavailableError``, and nothing else is worth showing), then asks the Celery workers for a ping with a short
timeout, then reads every chain afresh (snapshot at each chain's head, the positions at those blocks, the policy's
decision per underlying). A chain that cannot be read is listed in ``chains_down`` with its one sentence and the
rest is still reported; a worker ping or a risk read that fails is one sentence too, never an exception.

Usage::

    ctx = open_context(config, start_redis=False)
    report = build_status(ctx, create_app(config, url), stuck_after_s=300)
    if report.halted: ...
"""

from __future__ import annotations

from celery import Celery
from kombu.exceptions import OperationalError
from redis import RedisError

from crosshedge import CrosshedgeError, Frozen
from orchestrator.assess import decisions_for
from orchestrator.context import RunContext
from orchestrator.ledger import TERMINAL_RUN_STATES, RunRecord, RunState
from orchestrator.snapshot import Snapshot, connect_all, take_snapshot
from risk import marks_from_venues

#: A run that is not finished and has not moved for this long is listed as stuck.
STUCK_AFTER_S = 300.0
#: How long to wait for the workers' pong.
PING_TIMEOUT_S = 1.0
#: How many recent runs are looked at for stuck ones.
RUNS_SCANNED = 50


class WorkerLine(Frozen):
    """A Celery worker that answered the ping."""

    name: str
    ok: bool


class RunLine(Frozen):
    """A run as the status shows it."""

    id: str
    kind: str
    state: RunState
    updated_at: float
    idle_s: float  # since its last state change
    partial: bool
    halted: str
    error: str


class DeltaLine(Frozen):
    """One underlying: the book's net delta now, the policy's band and whether it would trade."""

    underlying: str
    policy: str
    net_delta: float
    mark_usd: float | None
    delta_usd: float | None
    lower: float
    upper: float
    target: float
    trade: bool
    reason: str


class InventoryLine(Frozen):
    """The wallet's holding of one token on one chain, at the snapshot's block."""

    chain: str
    symbol: str
    underlying: str
    amount: float
    usd: float | None
    block_number: int


class StatusReport(Frozen):
    """Everything ``crosshedge status`` shows; each part that could not be read says why in one sentence."""

    as_of: float
    halted: str | None  # the kill switch's reason, None when trading is allowed
    workers: list[WorkerLine]
    workers_error: str = ""
    last_run: RunLine | None
    stuck: list[RunLine]
    stuck_after_s: float
    deltas: list[DeltaLine]
    inventory: list[InventoryLine]
    chains_down: dict[str, str]  # chain -> the sentence saying why it could not be read
    inventory_unknown: dict[str, str]  # chain -> why its wallet holdings could not be read (never shown as 0)
    risk_error: str = ""  # why the deltas could not be computed (with the chains that were read)


def _line(run: RunRecord, now: float) -> RunLine:
    return RunLine(id=run.id, kind=run.kind, state=run.state, updated_at=run.updated_at,
                   idle_s=max(0.0, now - run.updated_at), partial=run.partial, halted=run.halted, error=run.error)


def ping_workers(app: Celery, timeout_s: float = PING_TIMEOUT_S) -> tuple[list[WorkerLine], str]:
    """The workers that answer a ping within ``timeout_s``, and the sentence saying why they could not be asked."""
    try:
        replies = app.control.ping(timeout=timeout_s) or []
    except (OperationalError, RedisError, OSError) as exc:
        return [], f"workers: could not ask them through the broker ({type(exc).__name__}: {exc})"
    workers = [WorkerLine(name=name, ok=body.get("ok") == "pong")
               for reply in replies for name, body in reply.items()]
    return sorted(workers, key=lambda w: w.name), ""


def read_book(ctx: RunContext) -> tuple[Snapshot, list[DeltaLine], str]:
    """A fresh snapshot of every chain that answers, and the policy's view of the book over it.

    Returns (snapshot, delta lines, the sentence saying why the deltas could not be computed, or "").
    """
    config = ctx.config
    connections, down = connect_all(config, ctx.execution.rpc_timeout_s, allow_partial=True)
    snap = take_snapshot(config, connections, ctx.registry, allow_partial=True, clock=ctx.clock,
                         verifier=ctx.verifier)
    if down:
        snap = snap.model_copy(update={"failed": {**snap.failed, **down}})  # the connection error says more
    if not snap.chains:
        return snap, [], "risk: no chain could be read, so the book's delta is unknown"
    marks = marks_from_venues(snap.venue_states())
    try:
        decisions = decisions_for(config, ctx.registry, snap, connections)
    except CrosshedgeError as exc:
        return snap, [], f"risk: {exc}"
    lines = []
    for d in decisions:
        mark = marks.get(d.underlying)
        lines.append(DeltaLine(underlying=d.underlying, policy=d.policy, net_delta=d.net_delta, mark_usd=mark,
                               delta_usd=None if mark is None else d.net_delta * mark, lower=d.lower, upper=d.upper,
                               target=d.target, trade=d.trade, reason=d.reason))
    return snap, lines, ""


def inventory_of(snap: Snapshot) -> list[InventoryLine]:
    """Every wallet holding in the snapshot, valued at the venues' median marks (USD tokens at 1)."""
    marks = {**marks_from_venues(snap.venue_states()), "USD": 1.0}
    out = []
    for chain in snap.chains.values():
        for p in chain.inventory:
            mark = marks.get(p.underlying)
            out.append(InventoryLine(chain=p.chain, symbol=p.symbol, underlying=p.underlying, amount=p.amount,
                                     usd=None if mark is None else p.amount * mark, block_number=p.block_number))
    return sorted(out, key=lambda line: (line.chain, line.symbol))


def build_status(ctx: RunContext, app: Celery | None, *, stuck_after_s: float = STUCK_AFTER_S,
                 ping_timeout_s: float = PING_TIMEOUT_S, read_chains: bool = True) -> StatusReport:
    """The status now. LedgerUnavailableError when Redis cannot be read; everything else degrades to a sentence.

    ``app`` None skips the worker ping (nobody to ask); ``read_chains`` False skips the chain reads.
    """
    now = ctx.clock()
    halted = ctx.ledger.halt_reason()
    runs = ctx.ledger.runs(RUNS_SCANNED)
    last = _line(runs[0], now) if runs else None
    stuck = [_line(r, now) for r in runs
             if r.state not in TERMINAL_RUN_STATES and now - r.updated_at > stuck_after_s]
    workers, workers_error = ping_workers(app, ping_timeout_s) if app is not None else ([], "")
    deltas: list[DeltaLine] = []
    inventory: list[InventoryLine] = []
    down: dict[str, str] = {}
    unknown: dict[str, str] = {}
    risk_error = ""
    if read_chains:
        snap, deltas, risk_error = read_book(ctx)
        inventory, down = inventory_of(snap), dict(snap.failed)
        unknown = {c: cs.inventory_error for c, cs in snap.chains.items() if cs.inventory_error is not None}
    return StatusReport(as_of=now, halted=halted, workers=workers, workers_error=workers_error, last_run=last,
                        stuck=stuck, stuck_after_s=stuck_after_s, deltas=deltas, inventory=inventory,
                        chains_down=down, inventory_unknown=unknown, risk_error=risk_error)


__all__ = [
    "PING_TIMEOUT_S",
    "STUCK_AFTER_S",
    "DeltaLine",
    "InventoryLine",
    "RunLine",
    "StatusReport",
    "WorkerLine",
    "build_status",
    "inventory_of",
    "ping_workers",
    "read_book",
]
