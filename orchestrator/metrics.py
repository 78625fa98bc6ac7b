"""Prometheus metrics: counters incremented where things happen, one HTTP endpoint per process tree.

Celery's prefork pool runs tasks in forked children, so the metrics use prometheus-client's multiprocess mode:
every process writes its values to files under ``PROMETHEUS_MULTIPROC_DIR`` and the process that serves the HTTP
port adds them up (MultiProcessCollector). That variable must be set before prometheus_client is first imported
(``crosshedge worker`` does so, with a directory of its own that it empties at start); a single process (``crosshedge
beat``, the CLI, tests) keeps values in memory instead. Counters only rise: they count what happened in this process
tree since it started (Prometheus' ``rate``/``increase`` handle restarts). Values that live in the ledger (kill
switch, last successful run, open runs) are read from it at scrape time by :class:`LedgerCollector`.

The stages call the ``record_*``/``set_*`` functions; the Celery signals (task latency, running tasks, heartbeat)
are wired by :func:`connect_worker_signals`. See deploy/prometheus/alerts.yml for what is alerted on.

Usage::

    server = start_metrics_server(9464, addr="0.0.0.0")   # binds now; a busy port is a ConfigError
    server.add_ledger(ledger)                              # halted, last successful run, open runs at scrape time
    connect_worker_signals()
    record_event("breaker", chain="base")                  # crosshedge_events_total{kind="breaker",chain="base"}
"""

from __future__ import annotations

import errno
import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from threading import Thread
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess, start_http_server
from prometheus_client import values as prometheus_values
from prometheus_client.core import GaugeMetricFamily, Metric

from crosshedge import ConfigError, LedgerError
from orchestrator.ledger import TERMINAL_RUN_STATES, Ledger, RunState
from risk import RiskReport, bucket_labels

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Seconds: a policy tick takes milliseconds, a lane waits for receipts for minutes.
TASK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
SUCCESSFUL_RUN_STATES = frozenset({RunState.RECONCILED, RunState.NOOP})
log = logging.getLogger("crosshedge.metrics")

EVENTS = Counter("crosshedge_events", "Ledger events by kind (breaker, halted, refused, rebroadcast, replaced, "
                 "gas_cap, chain_down, failed, ...) and chain ('' when the event names none)", ["kind", "chain"])
RUNS = Counter("crosshedge_runs", "Runs that entered each state", ["state"])
RUN_FAILURES = Counter("crosshedge_run_failures", "Runs ended by an error, by its class (InfeasiblePlanError, ...)",
                       ["error"])
INTENTS = Counter("crosshedge_intents", "Trade intents that entered each state", ["chain", "kind", "state"])
COST = Counter("crosshedge_cost_usd", "Cost of reconciled runs (kind: predicted or realised), USD; the part "
               "below zero is counted in crosshedge_cost_improvement_usd_total", ["kind"])
COST_IMPROVEMENT = Counter("crosshedge_cost_improvement_usd", "Negative cost (fills better than the mark), USD; "
                           "net cost = crosshedge_cost_usd_total - this", ["kind"])
RPC_ERRORS = Counter("crosshedge_rpc_errors", "RPC failures per chain", ["chain"])
REJECTED = Counter("crosshedge_metric_values_rejected", "Non-finite values refused by a metric (a bug upstream)",
                   ["metric"])
HEAD_LAG = Gauge("crosshedge_head_lag_seconds", "Wall clock minus the timestamp of the chain's latest head",
                 ["chain"], multiprocess_mode="mostrecent")
INVENTORY = Gauge("crosshedge_inventory", "Spendable wallet inventory in token units", ["chain", "token"],
                  multiprocess_mode="mostrecent")
IN_FLIGHT = Gauge("crosshedge_transfer_in_flight", "Funds in bridge transfers not yet landed, in token units, by the "
                  "chain they will land on (as of the last snapshot)", ["chain", "token"],
                  multiprocess_mode="mostrecent")
IN_FLIGHT_USD = Gauge("crosshedge_transfer_in_flight_usd", "USD value of every bridge transfer not yet landed (as of "
                      "the last snapshot)", multiprocess_mode="mostrecent")
#: Seconds: Across fills in seconds to minutes; a refund takes hours.
TRANSFER_BUCKETS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)
TRANSFER_SECONDS = Histogram("crosshedge_transfer_latency_seconds", "Deposit (quote time) to fill (the fill's block "
                             "time) per route", ["route"], buckets=TRANSFER_BUCKETS)
TRANSFERS = Counter("crosshedge_transfers", "Transfers that entered each state (deposited, filled, expired, "
                    "refunded, stuck) per route", ["route", "state"])
DELTA = Gauge("crosshedge_delta", "Net delta of the book per underlying", ["underlying"],
              multiprocess_mode="mostrecent")
BAND_LOWER = Gauge("crosshedge_band_lower", "Lower edge of the policy's band", ["underlying"],
                   multiprocess_mode="mostrecent")
BAND_UPPER = Gauge("crosshedge_band_upper", "Upper edge of the policy's band", ["underlying"],
                   multiprocess_mode="mostrecent")
BAND_DISTANCE = Gauge("crosshedge_band_distance", "How far net delta lies outside its band (> 0 outside; <= 0 "
                      "inside, minus the headroom to the nearest edge)", ["underlying"], multiprocess_mode="mostrecent")
TASK_SECONDS = Histogram("crosshedge_task_duration_seconds", "Celery task wall time by task and final state "
                         "(SUCCESS, RETRY, FAILURE)", ["task", "state"], buckets=TASK_BUCKETS)
TASKS_RUNNING = Gauge("crosshedge_tasks_running", "Tasks running now", ["task"], multiprocess_mode="livesum")
_BUCKET_LABELS = ("underlying", "greek", "bucket")
_LINE_LABELS = ("underlying", "greek", "source", "chain")
BOOK_GREEK = Gauge("crosshedge_book_greek", "The book's Greeks per underlying, Greek and expiry bucket (bucket 'all' "
                   "is the net, 'none' LP and spot), in the units of `crosshedge risk`", _BUCKET_LABELS,
                   multiprocess_mode="mostrecent")
BOOK_LINE_GREEK = Gauge("crosshedge_book_line_greek", "The book's Greeks per underlying, Greek, source (option book, "
                        "LP, spot adapters) and chain or venue", _LINE_LABELS, multiprocess_mode="mostrecent")
BOOK_VEGA_TOP_SHARE = Gauge("crosshedge_book_vega_top_line_share", "Share of the net vega in the one option line with "
                            "the largest |vega| (concentration)", ["underlying"], multiprocess_mode="mostrecent")
#: The Greeks exported per bucket and per line (a fixed list: label cardinality stays bounded).
BOOK_GREEKS = ("delta", "delta_usd", "gamma_usd", "vega", "theta_day", "vanna", "volga")
HEARTBEAT = Gauge("crosshedge_heartbeat_timestamp_seconds", "Unix time of the last heartbeat of the process tree "
                  "(a worker's event heartbeat, a beat tick)", multiprocess_mode="max")


def _finite(metric: str, value: float) -> bool:
    # A NaN would poison a counter for good; refuse it, and count the refusal so it is seen.
    if math.isfinite(value):
        return True
    REJECTED.labels(metric).inc()
    log.warning("metric %s: refused a non-finite value %r", metric, value)
    return False


def record_event(kind: str, chain: str | None = None) -> None:
    """Count one ledger event (call beside every ``ledger.add_event``)."""
    EVENTS.labels(kind, chain or "").inc()


def record_run_state(state: str) -> None:
    """Count a run entering ``state`` (call when ``set_run_state`` returned True)."""
    RUNS.labels(str(state)).inc()


def record_run_failure(error: str) -> None:
    """Count a run ended as failed by ``error`` (the exception's class name, e.g. ``InfeasiblePlanError``)."""
    RUN_FAILURES.labels(error).inc()


def record_intent(chain: str, kind: str, state: str) -> None:
    """Count an intent entering ``state`` (call when a transition returned True)."""
    INTENTS.labels(chain, str(kind), str(state)).inc()


def record_cost(predicted_usd: float, realised_usd: float) -> None:
    """Add a reconciled run's predicted and realised cost; a negative part goes to the improvement counter."""
    for kind, usd in (("predicted", predicted_usd), ("realised", realised_usd)):
        if _finite(f"cost_{kind}", usd):
            (COST if usd >= 0 else COST_IMPROVEMENT).labels(kind).inc(abs(usd))


def record_rpc_error(chain: str) -> None:
    """Count one failed RPC interaction with ``chain`` (connect, read, send)."""
    RPC_ERRORS.labels(chain).inc()


def set_head_lag(chain: str, seconds: float) -> None:
    """How far the chain's latest head trails the wall clock."""
    if _finite("head_lag", seconds):
        HEAD_LAG.labels(chain).set(seconds)


def set_inventory(chain: str, token: str, amount: float) -> None:
    """The wallet's spendable ``token`` (symbol) on ``chain``, in token units."""
    if _finite("inventory", amount):
        INVENTORY.labels(chain, token).set(amount)


def set_in_flight(amounts: dict[tuple[str, str], float], usd: float) -> None:
    """Funds arriving per (chain, token symbol), in token units, and their USD total; lines that landed drop to 0."""
    for (chain, token), amount in amounts.items():
        if _finite("transfer_in_flight", amount):
            IN_FLIGHT.labels(chain, token).set(amount)
    if _finite("transfer_in_flight_usd", usd):
        IN_FLIGHT_USD.set(usd)


def record_transfer(route: str, state: str, latency_s: float | None = None) -> None:
    """A transfer entered ``state``; a fill's deposit-to-fill seconds go to the latency histogram."""
    TRANSFERS.labels(route, state).inc()
    if latency_s is not None and _finite("transfer_latency", latency_s) and latency_s >= 0:
        TRANSFER_SECONDS.labels(route).observe(latency_s)


def set_band(underlying: str, delta: float, lower: float, upper: float) -> None:
    """Net delta against the policy's band [lower, upper], and the signed distance outside it."""
    if not all(_finite("band", v) for v in (delta, lower, upper)):
        return
    DELTA.labels(underlying).set(delta)
    BAND_LOWER.labels(underlying).set(lower)
    BAND_UPPER.labels(underlying).set(upper)
    BAND_DISTANCE.labels(underlying).set(max(lower - delta, delta - upper))


def _zero_missing(gauge: Gauge, names: tuple[str, ...], underlying: str, keep: set[tuple[str, ...]]) -> None:
    """Set to 0 this process's series of ``underlying`` that the new report no longer has (no stale risk)."""
    for family in gauge.collect():
        for sample in family.samples:
            labels = tuple(sample.labels.get(n, "") for n in names)
            if labels[0] == underlying and labels not in keep:
                gauge.labels(*labels).set(0.0)


def set_book_greeks(report: RiskReport) -> None:
    """The book's Greeks per (underlying, Greek, expiry bucket) and per (source, chain), and its vega concentration.

    Every default bucket is set (0 when empty), and series the previous report had but this one lacks go to 0.
    """
    for u in report.underlyings:
        rows: dict[str, Any] = {b.bucket: b for b in u.buckets} | {"all": u}
        keep: set[tuple[str, ...]] = set()
        for bucket in dict.fromkeys((*bucket_labels(), *rows)):
            row = rows.get(bucket)
            for greek in BOOK_GREEKS:
                value = float(getattr(row, greek)) if row is not None else 0.0
                if _finite("book_greek", value):
                    BOOK_GREEK.labels(u.underlying, greek, bucket).set(value)
                    keep.add((u.underlying, greek, bucket))
        _zero_missing(BOOK_GREEK, _BUCKET_LABELS, u.underlying, keep)
        keep = set()
        for ln in u.lines:
            for greek in BOOK_GREEKS:
                value = float(getattr(ln, greek))
                if _finite("book_line_greek", value):
                    BOOK_LINE_GREEK.labels(u.underlying, greek, ln.source, ln.chain).set(value)
                    keep.add((u.underlying, greek, ln.source, ln.chain))
        _zero_missing(BOOK_LINE_GREEK, _LINE_LABELS, u.underlying, keep)
        share = u.top_vega[0].vega_share if u.top_vega else 0.0
        if _finite("book_vega_share", share):
            BOOK_VEGA_TOP_SHARE.labels(u.underlying).set(share)


class MetricsObserver:
    """The ledger's observer (orchestrator.ledger.LedgerObserver): counts every event, run state and intent state
    where the ledger records it, so no stage has to remember to."""

    def on_event(self, kind: str, chain: str | None) -> None:
        record_event(kind, chain)

    def on_run_state(self, state: str) -> None:
        record_run_state(state)

    def on_intent(self, chain: str, kind: str, state: str) -> None:
        record_intent(chain, kind, state)


def heartbeat(now: float | None = None) -> None:
    """Mark this process tree alive (worker event heartbeats and beat ticks call it)."""
    HEARTBEAT.set(time.time() if now is None else now)


def observe_task(task: str, state: str, seconds: float) -> None:
    if _finite("task_duration", seconds):
        TASK_SECONDS.labels(task, state).observe(seconds)


def multiprocess_dir() -> Path | None:
    """The multiprocess directory when this process runs prometheus_client in multiprocess mode, else None.

    A ConfigError when the variable is set but prometheus_client was imported before it (values would be lost).
    """
    given = os.environ.get(MULTIPROC_ENV)
    active = bool(getattr(prometheus_values.ValueClass, "_multiprocess", False))
    if not given:
        return None
    if not active:
        raise ConfigError(f"{MULTIPROC_ENV}={given}: set after prometheus_client was imported; set it before the "
                          "process starts (crosshedge worker does)")
    if not Path(given).is_dir():
        raise ConfigError(f"{MULTIPROC_ENV}={given}: not a directory")
    return Path(given)


class _LiveMultiProcessCollector(multiprocess.MultiProcessCollector):
    """Sums every process's files; first drops the live-gauge files of processes that died (a SIGKILLed pool
    child never runs its shutdown signal, and its running-task gauge would stay up)."""

    def collect(self) -> Iterator[Metric]:
        for pid in _dead_pids(Path(self._path)):
            multiprocess.mark_process_dead(pid, self._path)  # type: ignore[no-untyped-call]
        yield from super().collect()  # type: ignore[no-untyped-call]


_LIVE_FILE = re.compile(r"gauge_live\w+_(\d+)\.db")


def _dead_pids(directory: Path) -> set[int]:
    pids = {int(m.group(1)) for p in directory.glob("gauge_live*_*.db") if (m := _LIVE_FILE.fullmatch(p.name))}
    return {pid for pid in pids if not _alive(pid)}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _InMemory:
    """The default registry's metrics (one process: this process's own values)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


class LedgerCollector:
    """Reads the ledger at scrape time (a handful of Redis reads): what lives there, not what happened here.

    ``crosshedge_ledger_up`` is 0 when the ledger cannot be read; the other series are then left out.
    """

    def __init__(self, ledger: Ledger, window: int = 50, clock: Callable[[], float] = time.time) -> None:
        self.ledger = ledger
        self.window = window  # recent runs read per scrape
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("crosshedge_ledger_up", "1 when the ledger (Redis) could be read at this scrape")
        try:
            families = list(self._read())
        except LedgerError as exc:
            log.warning("metrics: ledger not readable: %s", exc)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        yield from families

    def _read(self) -> Iterator[Metric]:
        halted = self.ledger.halt_reason() is not None
        runs = self.ledger.runs(self.window)
        now = self.clock()
        done = [r.updated_at for r in runs if r.state in SUCCESSFUL_RUN_STATES]
        open_runs = [r for r in runs if r.state not in TERMINAL_RUN_STATES]
        yield _gauge("crosshedge_halted", "1 while the kill switch is set", 1.0 if halted else 0.0)
        lanes = GaugeMetricFamily("crosshedge_lane_halted", "1 for each lane halted on its own", labels=["lane"])
        for lane in sorted(self.ledger.halted_lanes()):
            lanes.add_metric([lane], 1.0)
        yield lanes
        yield _gauge("crosshedge_last_successful_run_timestamp_seconds", "When the latest reconciled or noop run "
                     f"among the last {self.window} ended (0: none of them)", max(done, default=0.0))
        yield _gauge("crosshedge_open_runs", f"Runs not in a terminal state (among the last {self.window})",
                     float(len(open_runs)))
        yield _gauge("crosshedge_open_run_idle_seconds", "Seconds since the least recently updated open run last "
                     "moved (0: no open run); a stuck run grows this",
                     max((now - r.updated_at for r in open_runs), default=0.0))


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation)
    family.add_metric([], value)
    return family


@dataclass
class MetricsServer:
    """A running /metrics endpoint and the registry it serves."""

    port: int
    addr: str
    registry: CollectorRegistry
    thread: Thread
    server: Any
    collectors: list[Any] = field(default_factory=list)

    def add_ledger(self, ledger: Ledger, window: int = 50) -> None:
        """Serve the ledger-derived series too (halted, last successful run, open runs)."""
        collector = LedgerCollector(ledger, window)
        self.registry.register(collector)
        self.collectors.append(collector)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_metrics_server(port: int, addr: str = "127.0.0.1") -> MetricsServer:
    """Serve /metrics on ``addr:port`` now: this process tree's sum in multiprocess mode, else this process's.

    A port that cannot be bound is one ConfigError sentence naming the port (the CLI exits 1 with it).
    """
    registry = CollectorRegistry(auto_describe=False)
    directory = multiprocess_dir()
    if directory is not None:
        _LiveMultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    else:
        registry.register(_InMemory())
    try:
        server, thread = start_http_server(port, addr=addr, registry=registry)
    except OSError as exc:
        why = "already in use by another process" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise ConfigError(f"metrics port {port} on {addr}: {why}; give each worker and beat its own port "
                          "(--metrics-port, or execution.metrics_port; 0 turns the endpoint off)") from None
    # The bound port (``port`` 0 asks the OS for a free one: tests do).
    return MetricsServer(port=int(server.server_address[1]), addr=addr, registry=registry, thread=thread,
                         server=server)


def connect_worker_signals() -> None:
    """Task latency and running tasks (task_prerun/task_postrun, in the pool's children) and the heartbeat
    (the worker's event heartbeat, every 2 s while events are on; ``worker_ready``). Idempotent."""
    from celery.signals import heartbeat_sent, task_postrun, task_prerun, worker_process_shutdown, worker_ready

    started: dict[str, tuple[str, float]] = {}

    def _pre(task_id: str | None = None, task: Any = None, **_: Any) -> None:
        if task_id and task is not None:
            started[task_id] = (str(task.name), time.perf_counter())
            TASKS_RUNNING.labels(str(task.name)).inc()

    def _post(task_id: str | None = None, state: str | None = None, **_: Any) -> None:
        entry = started.pop(task_id or "", None)
        if entry is not None:
            name, t0 = entry
            TASKS_RUNNING.labels(name).dec()
            observe_task(name, state or "UNKNOWN", time.perf_counter() - t0)

    def _beat(**_: Any) -> None:
        heartbeat()

    def _child_exit(pid: int | None = None, **_: Any) -> None:
        directory = os.environ.get(MULTIPROC_ENV)
        if directory and pid:
            multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]

    task_prerun.connect(_pre, weak=False, dispatch_uid="crosshedge-metrics-prerun")
    task_postrun.connect(_post, weak=False, dispatch_uid="crosshedge-metrics-postrun")
    heartbeat_sent.connect(_beat, weak=False, dispatch_uid="crosshedge-metrics-heartbeat")
    worker_ready.connect(_beat, weak=False, dispatch_uid="crosshedge-metrics-ready")
    worker_process_shutdown.connect(_child_exit, weak=False, dispatch_uid="crosshedge-metrics-child-exit")


__all__ = [
    "MULTIPROC_ENV",
    "TASK_BUCKETS",
    "TRANSFER_BUCKETS",
    "LedgerCollector",
    "MetricsObserver",
    "MetricsServer",
    "connect_worker_signals",
    "heartbeat",
    "multiprocess_dir",
    "observe_task",
    "record_cost",
    "record_event",
    "record_intent",
    "record_rpc_error",
    "record_run_failure",
    "record_run_state",
    "record_transfer",
    "set_band",
    "set_book_greeks",
    "set_head_lag",
    "set_in_flight",
    "set_inventory",
    "start_metrics_server",
]
