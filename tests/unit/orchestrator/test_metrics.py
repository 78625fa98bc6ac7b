"""Metrics: multiprocess counters add up across forked children and never go down; the functions the stages call;
the ledger-derived series; a busy metrics port is one sentence and exit code 1.

Multiprocess mode is chosen by prometheus_client when it is first imported, so those tests run a small script in
a fresh interpreter with ``PROMETHEUS_MULTIPROC_DIR`` set, fork real children in it and scrape the real HTTP endpoint.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

from adapters.option_book import load_book
from crosshedge import ConfigError
from crosshedge.cli.worker import MULTIPROC_ENV, prepare_metrics_dir
from orchestrator import (
    Ledger,
    LedgerCollector,
    RunState,
    record_cost,
    record_event,
    record_run_state,
    redis_client,
    set_band,
    set_book_greeks,
    set_inventory,
    start_metrics_server,
)
from orchestrator.metrics import multiprocess_dir
from risk import aggregate

REPO = Path(__file__).resolve().parents[3]

# Runs in a fresh interpreter: two forked children count 2 and 3 events, the parent scrapes its own endpoint;
# then five "runs" each in a child that exits (as Celery pool children are replaced), with a scrape after each.
FORK_SCRIPT = r"""
import json, os, sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
from orchestrator import record_event, record_run_state, start_metrics_server
from orchestrator.metrics import observe_task

server = start_metrics_server(0)

def scrape():
    text = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10).read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}

def in_child(fn):
    pid = os.fork()
    if pid == 0:
        fn()
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0

def count(n):
    def body():
        for _ in range(n):
            record_event("breaker", "base")
        observe_task("crosshedge.plan", "SUCCESS", 0.3)
    return body

in_child(count(2))
in_child(count(3))
first = scrape()
runs = []
for _ in range(5):
    in_child(lambda: record_run_state("reconciled"))
    runs.append(scrape().get(("crosshedge_runs_total", (("state", "reconciled"),)), 0.0))
out = {
    "events": first.get(("crosshedge_events_total", (("chain", "base"), ("kind", "breaker")))),
    "plan_count": first.get(("crosshedge_task_duration_seconds_count",
                             (("state", "SUCCESS"), ("task", "crosshedge.plan")))),
    "runs": runs,
    "files": sorted(os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"])),
}
print(json.dumps(out))
"""


def _run_script(script: str, tmp_path: Path) -> dict[str, object]:
    directory = tmp_path / "mp"
    directory.mkdir()
    env = {**os.environ, MULTIPROC_ENV: str(directory)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=REPO,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_forked_children_add_up_in_one_scrape_and_counters_never_go_down(tmp_path: Path) -> None:
    result = _run_script(FORK_SCRIPT, tmp_path)
    assert result["events"] == 5.0  # 2 + 3, from two processes that had both exited before the scrape
    assert result["plan_count"] == 2.0  # the histogram is summed across processes too
    # Each run's child exits before the scrape: its count stays, so the counter only ever rises, by one per run.
    assert result["runs"] == [1.0, 2.0, 3.0, 4.0, 5.0]
    files = result["files"]
    assert isinstance(files, list) and sum(str(f).startswith("counter_") for f in files) >= 7  # one per child


def test_setting_the_directory_after_prometheus_client_was_imported_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # This interpreter imported prometheus_client without the variable: its values live in memory only.
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    with pytest.raises(ConfigError, match="set after prometheus_client was imported"):
        multiprocess_dir()


def test_the_metrics_directory_is_emptied_and_locked_per_process_tree(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "mp"
    directory.mkdir()
    (directory / "counter_999999.db").write_bytes(b"stale")
    monkeypatch.setenv(MULTIPROC_ENV, str(directory))
    assert prepare_metrics_dir() == directory
    assert not list(directory.glob("*.db"))  # a previous run's values do not leak into this one
    # A second worker pointed at the same directory would mix and wipe the first one's counters.
    with pytest.raises(ConfigError, match="in use by another running worker"):
        prepare_metrics_dir()


def _sample(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_record_event_counts_per_kind_and_chain() -> None:
    before = _sample("crosshedge_events_total", kind="replaced", chain="arbitrum")
    no_chain = _sample("crosshedge_events_total", kind="failed", chain="")
    record_event("replaced", "arbitrum")
    record_event("replaced", "arbitrum")
    record_event("failed", None)
    assert _sample("crosshedge_events_total", kind="replaced", chain="arbitrum") == before + 2
    assert _sample("crosshedge_events_total", kind="failed", chain="") == no_chain + 1


def test_run_states_accept_the_ledger_enum() -> None:
    before = _sample("crosshedge_runs_total", state="noop")
    record_run_state(RunState.NOOP)
    assert _sample("crosshedge_runs_total", state="noop") == before + 1


def test_cost_below_zero_is_counted_apart_so_counters_only_rise() -> None:
    pred, real = _sample("crosshedge_cost_usd_total", kind="predicted"), _sample("crosshedge_cost_usd_total",
                                                                                   kind="realised")
    better = _sample("crosshedge_cost_improvement_usd_total", kind="realised")
    record_cost(12.5, 10.0)
    record_cost(3.0, -4.0)  # filled better than the mark
    assert _sample("crosshedge_cost_usd_total", kind="predicted") == pytest.approx(pred + 15.5)
    assert _sample("crosshedge_cost_usd_total", kind="realised") == pytest.approx(real + 10.0)
    assert _sample("crosshedge_cost_improvement_usd_total", kind="realised") == pytest.approx(better + 4.0)


def test_a_non_finite_value_is_refused_and_counted() -> None:
    rejected = _sample("crosshedge_metric_values_rejected_total", metric="cost_realised")
    real = _sample("crosshedge_cost_usd_total", kind="realised")
    record_cost(1.0, math.nan)
    assert _sample("crosshedge_metric_values_rejected_total", metric="cost_realised") == rejected + 1
    assert _sample("crosshedge_cost_usd_total", kind="realised") == real  # not poisoned with NaN
    set_inventory("base", "USDC", 1500.0)
    set_inventory("base", "USDC", math.inf)
    assert _sample("crosshedge_inventory", chain="base", token="USDC") == 1500.0


@pytest.mark.parametrize(("delta", "distance"), [(5.0, -5.0), (-8.0, -2.0), (12.0, 2.0), (-13.0, 3.0)])
def test_band_distance_is_positive_outside_and_the_negated_headroom_inside(delta: float, distance: float) -> None:
    set_band("ETH", delta, -10.0, 10.0)
    assert _sample("crosshedge_band_distance", underlying="ETH") == pytest.approx(distance)
    assert _sample("crosshedge_delta", underlying="ETH") == delta
    assert (_sample("crosshedge_band_lower", underlying="ETH"), _sample("crosshedge_band_upper", underlying="ETH")) \
        == (-10.0, 10.0)


def _families(collector: LedgerCollector) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {f.name: [(s.labels, s.value) for s in f.samples] for f in collector.collect()}


def test_ledger_collector_reads_halt_last_success_and_open_runs(ledger: Ledger) -> None:
    clock = [1000.0]
    ledger._clock = lambda: clock[0]  # the ledger stamps updated_at with its clock: drive it
    ledger.create_run("r1", kind="test")
    for state in (RunState.SNAPSHOTTED, RunState.NOOP):
        ledger.set_run_state("r1", state)
    clock[0] = 1100.0
    ledger.create_run("r2", kind="test")
    ledger.set_run_state("r2", RunState.SNAPSHOTTED)
    ledger.halt_lane("base.desk", "desk review")
    collector = LedgerCollector(ledger, clock=lambda: 1400.0)
    seen = _families(collector)
    assert seen["crosshedge_ledger_up"] == [({}, 1.0)]
    assert seen["crosshedge_halted"] == [({}, 0.0)]
    assert seen["crosshedge_lane_halted"] == [({"lane": "base.desk"}, 1.0)]
    assert seen["crosshedge_last_successful_run_timestamp_seconds"] == [({}, 1000.0)]
    assert seen["crosshedge_open_runs"] == [({}, 1.0)]
    assert seen["crosshedge_open_run_idle_seconds"] == [({}, 300.0)]  # r2 has not moved since 1100
    ledger.set_halt("desk review")
    assert _families(collector)["crosshedge_halted"] == [({}, 1.0)]


def test_ledger_collector_says_down_when_redis_cannot_be_reached() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    collector = LedgerCollector(Ledger(redis_client(f"redis://127.0.0.1:{port}/0", timeout_s=0.5)))
    assert _families(collector) == {"crosshedge_ledger_up": [({}, 0.0)]}


def test_start_metrics_server_refuses_a_busy_port_in_one_sentence() -> None:
    server = start_metrics_server(0)
    try:
        with pytest.raises(ConfigError) as err:
            start_metrics_server(server.port)
    finally:
        server.close()
    message = str(err.value)
    assert f"metrics port {server.port} on 127.0.0.1: already in use" in message and "\n" not in message


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:  # a real listener: what a second worker on the same port would meet
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_worker_on_a_busy_metrics_port_exits_1_with_one_sentence(tmp_path: Path, busy_port: int) -> None:
    config = {
        "chains": {"base": {"chain_id": 8453, "rpc_url": "http://127.0.0.1:9", "block_time_s": 2, "wallet": "desk"}},
        "wallets": {"desk": {"address": "0x" + "a1" * 20, "key_env": "CROSSHEDGE_TEST_UNSET_KEY"}},
        "execution": {"redis_dir": str(tmp_path / "redis"), "metrics_port": busy_port},
    }
    path = tmp_path / "chains.yaml"
    path.write_text(yaml.safe_dump(config))
    # The port is bound before anything connects: an external Redis URL that nothing serves is never dialled.
    env = {**os.environ, "CROSSHEDGE_REDIS_URL": "redis://127.0.0.1:9/0", MULTIPROC_ENV: str(tmp_path / "mp")}
    exe = Path(sys.executable).parent / "crosshedge"
    out = subprocess.run([str(exe), "worker", "-c", str(path), "--lane", "base", "--concurrency", "1"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False)
    assert out.returncode == 1, (out.stdout, out.stderr)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert f"metrics port {busy_port} on 127.0.0.1: already in use" in lines[0]
    assert "Traceback" not in out.stderr + out.stdout


def test_book_greeks_per_bucket_and_line_and_vanished_series_go_to_zero() -> None:
    now = datetime(2026, 11, 21, tzinfo=UTC)
    book = load_book(REPO / "examples" / "book.yaml", now)
    marks = {"ETH": 3000.0, "BTC": 60000.0}
    full = aggregate(book, marks, now)
    set_book_greeks(full)
    eth = full.underlying("ETH")

    def sample(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, labels)

    for b in eth.buckets:
        assert sample("crosshedge_book_greek", underlying="ETH", greek="vega", bucket=b.bucket) == pytest.approx(b.vega)
    assert sample("crosshedge_book_greek", underlying="ETH", greek="delta", bucket="all") == pytest.approx(eth.delta)
    assert sample("crosshedge_book_greek", underlying="ETH", greek="vega", bucket=">180d") == 0.0
    assert sample("crosshedge_book_vega_top_line_share", underlying="ETH") == pytest.approx(0.77, abs=0.01)
    aevo = {"underlying": "ETH", "greek": "vega", "source": "option_book", "chain": "aevo"}
    assert sample("crosshedge_book_line_greek", **aevo) == pytest.approx(
        next(ln.vega for ln in eth.lines if ln.chain == "aevo"))
    set_book_greeks(aggregate([p for p in book if p.venue != "aevo"], marks, now))  # the aevo lines are gone
    assert sample("crosshedge_book_line_greek", **aevo) == 0.0
    assert sample("crosshedge_book_greek", underlying="ETH", greek="vega", bucket="90-180d") != 0.0
