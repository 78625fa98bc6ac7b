"""Prometheus metrics read from the ledger at scrape time: runs, trades, cost, residual delta, task latency.

Workers fork (prefork pool), so in-process counters would be split across children; instead every figure comes
from Redis when Prometheus scrapes, and task latency is recorded into Redis by the ``task_prerun``/``task_postrun``
signals of whichever process ran the task. The worker and ``crosshedge beat`` serve the endpoint.

Usage::

    start_metrics_server(9464, redis_url, prefix="ch")      # then: curl localhost:9464/metrics
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import start_http_server
from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from crosshedge import LedgerError
from orchestrator.ledger import Ledger
from orchestrator.reconcile import RunReport
from orchestrator.redis_server import redis_client


class LedgerCollector(Collector):
    """Reads the last ``window`` runs from the ledger on every scrape."""

    def __init__(self, ledger: Ledger, window: int = 200) -> None:
        self.ledger = ledger
        self.window = window

    def collect(self) -> Iterator[Any]:
        try:
            yield from self._collect()
        except LedgerError:
            up = GaugeMetricFamily("crosshedge_ledger_up", "1 when the ledger (Redis) could be read")
            up.add_metric([], 0.0)
            yield up

    def _collect(self) -> Iterator[Any]:
        runs = CounterMetricFamily("crosshedge_runs", "Runs by state", labels=["state"])
        trades = CounterMetricFamily("crosshedge_trade_intents", "Trade intents by chain and state",
                                     labels=["chain", "kind", "state"])
        predicted = CounterMetricFamily("crosshedge_cost_predicted_usd", "Predicted cost of reconciled runs")
        realised = CounterMetricFamily("crosshedge_cost_realised_usd", "Realised cost of reconciled runs")
        residual = GaugeMetricFamily("crosshedge_residual_delta", "Residual delta after the last reconciled run",
                                     labels=["underlying"])
        by_state: dict[str, int] = {}
        by_intent: dict[tuple[str, str, str], int] = {}
        pred = real = 0.0
        latest_residual: dict[str, float] | None = None
        for run in self.ledger.runs(self.window):
            by_state[run.state] = by_state.get(run.state, 0) + 1
            for rec in self.ledger.intents(run.id):
                key = (rec.spec.chain, rec.spec.kind.value, rec.state.value)
                by_intent[key] = by_intent.get(key, 0) + 1
            report = self.ledger.blob(run.id, "report", RunReport)
            if report is not None:
                pred += report.predicted_cost_usd
                real += report.realised_cost_usd
                if latest_residual is None:
                    latest_residual = report.residual_delta
        for state, n in by_state.items():
            runs.add_metric([state], n)
        for (chain, kind, state), n in by_intent.items():
            trades.add_metric([chain, kind, state], n)
        predicted.add_metric([], pred)
        realised.add_metric([], real)
        for underlying, delta in (latest_residual or {}).items():
            residual.add_metric([underlying], float(delta))
        up = GaugeMetricFamily("crosshedge_ledger_up", "1 when the ledger (Redis) could be read")
        up.add_metric([], 1.0)
        yield from (runs, trades, predicted, realised, residual, up, *self._latency())

    def _latency(self) -> Iterator[Any]:
        family = HistogramMetricFamily("crosshedge_task_seconds", "Task latency", labels=["task"])
        for lat in self.ledger.latencies():
            buckets = [(b, float(n)) for b, n in lat.buckets.items()] + [("+Inf", float(lat.count))]
            family.add_metric([lat.task], buckets, lat.sum_s)
        yield family


def connect_latency_signals(ledger_factory: Any) -> None:
    """Record every task's wall time through Celery's prerun/postrun signals."""
    from celery.signals import task_postrun, task_prerun

    started: dict[str, float] = {}

    def _pre(task_id: str | None = None, **_: Any) -> None:
        if task_id:
            started[task_id] = time.perf_counter()

    def _post(task_id: str | None = None, task: Any = None, **_: Any) -> None:
        t0 = started.pop(task_id or "", None)
        if t0 is not None and task is not None:
            with contextlib.suppress(LedgerError):  # metrics never break a task
                ledger_factory().record_latency(str(task.name), time.perf_counter() - t0)

    task_prerun.connect(_pre, weak=False)
    task_postrun.connect(_post, weak=False)


def start_metrics_server(port: int, redis_url: str, prefix: str) -> None:
    """Serve /metrics on ``port`` from the ledger at ``redis_url``; hooks task latency recording."""
    ledger = Ledger(redis_client(redis_url), prefix=prefix)
    REGISTRY.register(LedgerCollector(ledger))
    connect_latency_signals(lambda: Ledger(redis_client(redis_url), prefix=prefix))
    start_http_server(port)
