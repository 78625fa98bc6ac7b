"""A real `crosshedge worker` (prefork, every queue, JSON logs) serves /metrics for its whole process tree.

The session's workers run with ``--metrics-port 0`` (orchestra.py), so ``metrics_worker`` starts one with a port
of its own after ``fresh_idle`` has reset everything (with no worker running), and stops it after the test. Real anvil
chains, real Redis, real pool children: the task latency histogram is filled in the children and summed by the
main process's endpoint.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters import Side
from orchestrator import RunState
from tests.integration.orchestra import REPO, Orchestra, stop_worker
from tests.integration.orchestrator.helpers import Want, make_plan

pytestmark = [pytest.mark.integration]

BASE_TRADE = Want("base", "v3_wbtc_usdc_3000", Side.SELL, 0.02)
STAGE_TASKS = ("crosshedge.snapshot", "crosshedge.plan", "crosshedge.execute_lane", "crosshedge.reconcile")
# Not a stage every run passes through: execute_lane confirms a lane itself when its depth is reached at once.
OPTIONAL_TASKS = ("crosshedge.confirm_lane",)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MetricsWorker:
    def __init__(self, orch: Orchestra, port: int, log_from: int) -> None:
        self.orch, self.port, self.log_from = orch, port, log_from

    def scrape(self) -> Samples:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as resp:
            text = resp.read().decode()
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}

    def scrape_if_beat_since(self, since: float) -> Samples | None:
        """A scrape, once the worker's heartbeat (every 2 s while it is alive) is not older than ``since``."""
        samples = self.scrape()
        return samples if samples.get(("crosshedge_heartbeat_timestamp_seconds", ()), 0.0) >= since else None

    def scrape_when_idle_since(self, since: float) -> Samples | None:
        """:meth:`scrape_if_beat_since`, once no task is running any more (the reconcile task marks its run
        reconciled a moment before it returns, and the gauge drops when it has)."""
        samples = self.scrape_if_beat_since(since)
        busy = samples is None or any(k[0] == "crosshedge_tasks_running" and v != 0 for k, v in samples.items())
        return None if busy else samples

    def log_lines(self) -> list[str]:
        return self.orch.worker_log.read_text(errors="replace")[self.log_from:].splitlines()


@pytest.fixture
def metrics_worker(fresh_idle: Orchestra) -> Iterator[MetricsWorker]:
    fresh = fresh_idle
    port = _free_port()
    seen = len(fresh.worker_log.read_text(errors="replace"))
    env = {**os.environ, "CROSSHEDGE_REDIS_URL": fresh.url, "CROSSHEDGE_TEST_CRASH_DIR": str(fresh.crash_dir),
           "PYTHONUNBUFFERED": "1"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the worker makes its own
    with fresh.worker_log.open("ab") as log:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "crosshedge"), "worker", "--config",
                                 str(fresh.config_path), "--concurrency", "4", "--metrics-port", str(port),
                                 "--log-format", "json"], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    fresh.worker = proc
    fresh.wait_for(lambda: " ready." in fresh.worker_log.read_text(errors="replace")[seen:] or proc.poll() is not None,
                   timeout_s=60, what="the metrics worker to be ready")
    assert proc.poll() is None, fresh.log_tail()
    yield MetricsWorker(fresh, port, seen)
    stop_worker(fresh)  # a warm shutdown, unlike fresh_idle's kill: the worker removes its metrics directory


def test_a_run_fills_the_task_histogram_and_the_ledger_series(metrics_worker: MetricsWorker) -> None:
    orch = metrics_worker.orch
    started = time.time()
    run_id = orch.submit(make_plan(orch.config, [BASE_TRADE]), "metrics-r1")
    run = orch.wait_run(run_id, timeout_s=120)
    assert run.state is RunState.RECONCILED, (run, orch.ledger().events(run_id), orch.log_tail(60))
    samples = orch.wait_for(lambda: metrics_worker.scrape_when_idle_since(started), timeout_s=20,
                            what="a worker heartbeat after the run started, with no task running")
    for task in STAGE_TASKS + OPTIONAL_TASKS:
        labels = (("state", "SUCCESS"), ("task", task))
        count = samples.get(("crosshedge_task_duration_seconds_count", labels), 0.0)
        if task in OPTIONAL_TASKS and count == 0:
            continue
        assert count >= 1, f"{task}: no SUCCESS observation"
        buckets = sorted((float(dict(k[1])["le"]), v) for k, v in samples.items()
                         if k[0] == "crosshedge_task_duration_seconds_bucket"
                         and dict(k[1])["task"] == task and dict(k[1])["state"] == "SUCCESS")
        assert [v for _, v in buckets] == sorted(v for _, v in buckets)  # cumulative
        assert buckets[-1] == (float("inf"), count)
        assert samples[("crosshedge_task_duration_seconds_sum", labels)] > 0
    assert samples[("crosshedge_ledger_up", ())] == 1.0
    assert samples[("crosshedge_halted", ())] == 0.0
    assert samples[("crosshedge_open_runs", ())] == 0.0
    assert samples[("crosshedge_last_successful_run_timestamp_seconds", ())] == pytest.approx(
        orch.ledger().run(run_id).updated_at)
    assert not any(k[0] == "crosshedge_tasks_running" and v != 0 for k, v in samples.items())
    orch.ledger().set_halt("metrics test")
    assert metrics_worker.scrape()[("crosshedge_halted", ())] == 1.0  # read from the ledger at scrape time
    orch.ledger().clear_halt()


def test_worker_logs_are_json_lines_with_the_context_fields(metrics_worker: MetricsWorker) -> None:
    orch = metrics_worker.orch
    run = orch.wait_run(orch.submit(make_plan(orch.config, [BASE_TRADE]), "metrics-r2"), timeout_s=120)
    assert run.state is RunState.RECONCILED, run
    records = [json.loads(line) for line in metrics_worker.log_lines() if line.startswith("{")]
    assert any(r["message"].endswith(" ready.") and r["logger"].startswith("celery") for r in records)
    assert all({"ts", "level", "logger", "message", "run_id", "chain", "lane"} <= set(r) for r in records)
    # Nothing but JSON on the worker's output (Celery's banner is replaced by one JSON line).
    assert [line for line in metrics_worker.log_lines() if line.strip() and not line.startswith("{")] == []


def test_event_and_run_counters_match_the_ledger(metrics_worker: MetricsWorker) -> None:
    orch = metrics_worker.orch
    orch.ledger().set_halt("metrics test: nothing may be signed")
    try:
        run_id = orch.submit(make_plan(orch.config, [BASE_TRADE]), "metrics-r3")
        run = orch.wait_run(run_id, timeout_s=120)
    finally:
        orch.ledger().clear_halt()
    kinds = Counter(e.kind for e in orch.ledger().events(run_id))
    assert kinds["halted"] >= 1, kinds
    samples = metrics_worker.scrape()
    for kind, n in kinds.items():
        got = sum(v for k, v in samples.items() if k[0] == "crosshedge_events_total" and dict(k[1])["kind"] == kind)
        assert got == n, f"{kind}: counter {got}, ledger {n}"
    assert samples.get(("crosshedge_runs_total", (("state", run.state.value),)), 0.0) >= 1
