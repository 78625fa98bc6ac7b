"""The CLI against real parts: anvil chains, the embedded Redis and real `crosshedge worker` processes.

Every command runs as a real subprocess (``.venv/bin/crosshedge``), so exit codes and the split between stdout (the
table or the JSON) and stderr (one sentence per problem) are what a user and a script get. The chains are reached
through the ``orch`` fixture's fault proxies (``mode = "down"`` makes a chain unreachable); the worker is stopped
and started where a test needs a run to wait for one. Nothing is mocked.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from web3 import HTTPProvider, Web3

from adapters import Side
from devnet import anvil_binary
from orchestrator import RunLock, RunState
from tests.integration.conftest import write_test_config
from tests.integration.orchestra import Orchestra, start_worker
from tests.integration.orchestrator.helpers import Want, make_plan

pytestmark = [pytest.mark.integration]

REPO = Path(__file__).resolve().parents[3]
EXE = str(Path(sys.executable).parent / "crosshedge")
ETH_TRADE = Want("ethereum", "v3_weth_usdc_500", Side.SELL, 0.5)


def cli(orch: Orchestra, *args: str, timeout_s: float = 180.0) -> subprocess.CompletedProcess[str]:
    """``crosshedge ARGS --config <the orch config>`` as a user runs it (wide terminal, same Redis as the worker)."""
    env = {**os.environ, "CROSSHEDGE_REDIS_URL": orch.url, "COLUMNS": "250"}
    return subprocess.run([EXE, *args, "--config", str(orch.config_path)], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=timeout_s, check=False)


def lines_about(stderr: str, word: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if word in ln]


def tx_counts(orch: Orchestra) -> dict[str, int]:
    """The operator's transaction count on every chain (read directly from anvil, not through the proxies)."""
    out: dict[str, int] = {}
    for chain in orch.config.chains:
        address = orch.config.wallets[orch.config.chains[chain].wallet].address
        out[chain] = int(orch.w3(chain).eth.get_transaction_count(address))  # type: ignore[arg-type]
    return out


def start_worker_and_drain(orch: Orchestra, run_id: str) -> None:
    """Start a worker and wait until it has handled the run's queued stages (snapshot, then plan)."""
    seen = len(orch.worker_log.read_text(errors="replace")) if orch.worker_log.exists() else 0
    orch.worker = start_worker(orch)

    def planned() -> bool:
        log = orch.worker_log.read_text(errors="replace")[seen:]
        return "crosshedge.plan[" in log and "succeeded" in log.split("crosshedge.plan[", 1)[1]

    orch.wait_for(planned, timeout_s=90, what=f"the worker to take run {run_id}'s queued stages")
    time.sleep(2.0)  # anything the plan stage would have enqueued (lane executions) gets its chance to run


def test_status_shows_the_worker_the_last_run_and_inventory(fresh: Orchestra) -> None:
    rid = fresh.submit(make_plan(fresh.config, [ETH_TRADE]), "status-run")
    assert fresh.wait_run(rid, 120).state is RunState.RECONCILED
    out = cli(fresh, "status", "--json", "--ping-timeout", "3")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["halted"] is None
    assert any(w["ok"] for w in doc["workers"]), doc["workers"]
    assert doc["last_run"]["id"] == rid and doc["last_run"]["state"] == "reconciled"
    assert {line["chain"] for line in doc["inventory"]} == set(fresh.config.chains)
    assert all(line["amount"] >= 0 for line in doc["inventory"])
    assert {d["underlying"] for d in doc["deltas"]} >= {"ETH"} and doc["chains_down"] == {}
    table = cli(fresh, "status", "--ping-timeout", "3")
    assert table.returncode == 0, table.stderr
    assert "alive" in table.stdout and rid in table.stdout and "inventory per chain" in table.stdout
    assert "delta against band" in table.stdout and "StatusReport(" not in table.stdout


def test_one_chain_down_is_one_sentence_and_the_rest_still_prints(fresh: Orchestra) -> None:
    fresh.proxies["arbitrum"].mode = "down"
    venues = cli(fresh, "venues")
    assert venues.returncode == 0, venues.stderr
    (said,) = lines_about(venues.stderr, "arbitrum")
    assert said.startswith("warning: chain arbitrum") and "Traceback" not in venues.stderr
    assert "ethereum" in venues.stdout and "base" in venues.stdout
    assert "ethereum: read by lens" in venues.stdout  # the read path is shown under the table
    rows = json.loads(cli(fresh, "venues", "--json").stdout)
    assert {r["chain"] for r in rows["venues"]} == {"ethereum", "base"} and set(rows["failed"]) == {"arbitrum"}
    assert rows["reads"] == {"ethereum": "lens", "base": "lens"}

    status = cli(fresh, "status", "--json", "--ping-timeout", "3")
    assert status.returncode == 0, status.stderr
    (said,) = lines_about(status.stderr, "chain arbitrum")
    assert said.startswith("warning: chain arbitrum") and "Traceback" not in status.stderr
    doc = json.loads(status.stdout)
    assert set(doc["chains_down"]) == {"arbitrum"}
    assert {line["chain"] for line in doc["inventory"]} == {"ethereum", "base"}
    assert any(w["ok"] for w in doc["workers"])
    table = cli(fresh, "status", "--ping-timeout", "3")
    assert table.returncode == 0 and "chains down" in table.stdout and "without arbitrum" in table.stdout


def test_runs_cancel_ends_an_unsigned_run_and_a_later_worker_never_executes_it(fresh_idle: Orchestra) -> None:
    fresh = fresh_idle  # no worker until the run is cancelled
    plan = make_plan(fresh.config, [ETH_TRADE])
    before = tx_counts(fresh)
    rid = fresh.submit(plan, "cancel-me")  # queued: its snapshot stage waits in Redis for a worker
    out = cli(fresh, "runs", "cancel", rid, "--reason", "operator: wrong size", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["run"]["run"]["state"] == "failed"
    ledger = fresh.ledger()
    assert ledger.run(rid).error == "cancelled: operator: wrong size"
    assert RunLock(ledger, 60).holder() is None
    start_worker_and_drain(fresh, rid)
    assert tx_counts(fresh) == before  # nothing reached any chain
    assert ledger.run(rid).state is RunState.FAILED
    assert all(not r.attempts for r in ledger.intents(rid))
    listed = cli(fresh, "runs")
    assert listed.returncode == 0 and "operator: wrong size" in listed.stdout


def test_an_abandoned_rebalance_never_executes_later(fresh_idle: Orchestra, tmp_path: Path) -> None:
    """The reviewer's case: no worker running, the rebalance gives up; a worker started afterwards trades nothing."""
    fresh = fresh_idle
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(make_plan(fresh.config, [ETH_TRADE]).model_dump_json())
    before = tx_counts(fresh)
    out = cli(fresh, "rebalance", "--plan", str(plan_file), "--timeout", "3")
    assert out.returncode == 1, out.stdout + out.stderr
    (line,) = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert line.startswith("error: rebalance abandoned") and "is cancelled" in line
    (run,) = fresh.ledger().runs(5)
    assert run.state is RunState.FAILED and run.error.startswith("cancelled: ")
    start_worker_and_drain(fresh, run.id)
    assert tx_counts(fresh) == before
    assert fresh.ledger().run(run.id).state is RunState.FAILED


def test_rebalance_follows_a_run_and_prints_its_tables(fresh: Orchestra, tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(make_plan(fresh.config, [ETH_TRADE]).model_dump_json())
    out = cli(fresh, "rebalance", "--plan", str(plan_file), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    last = doc["runs"][-1]
    assert last["run"]["state"] == "reconciled" and doc["last_run_id"] == last["run"]["id"]
    swaps = [i for i in last["intents"] if i["kind"] == "swap"]
    assert swaps and all(i["tx_hash"] for i in swaps)
    detail = cli(fresh, "runs", "--run", doc["run_id"])
    assert detail.returncode == 0 and "intents of" in detail.stdout and swaps[0]["tx_hash"] in detail.stdout
    dry = cli(fresh, "rebalance", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry run: the policy per underlying" in dry.stdout and "Decision(" not in dry.stdout
    assert "ETH" in dry.stdout and "{'" not in dry.stdout
    dry_json = json.loads(cli(fresh, "rebalance", "--dry-run", "--json").stdout)
    assert {d["underlying"] for d in dry_json["decisions"]} >= {"ETH"}


def test_a_redis_restart_while_following_is_never_a_traceback(fresh_idle: Orchestra, tmp_path: Path) -> None:
    fresh = fresh_idle  # the worker starts after the restart
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(make_plan(fresh.config, [ETH_TRADE]).model_dump_json())
    before = tx_counts(fresh)
    env = {**os.environ, "CROSSHEDGE_REDIS_URL": fresh.url, "COLUMNS": "250"}
    follower = subprocess.Popen([EXE, "rebalance", "--plan", str(plan_file), "--timeout", "150", "--config",
                                 str(fresh.config_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, cwd=REPO)
    try:
        fresh.wait_for(lambda: fresh.ledger().runs(5), timeout_s=60, what="the rebalance to create its run")
        time.sleep(1.0)  # it is following now (polling the ledger)
        fresh.redis.restart()
        fresh.worker = start_worker(fresh)
        stdout, stderr = follower.communicate(timeout=240)
    finally:
        if follower.poll() is None:
            follower.kill()
    assert "Traceback" not in stderr, stderr
    (run,) = fresh.ledger().runs(5)
    if follower.returncode == 0:  # followed through the restart: the run finished, and its table was printed
        assert run.state is RunState.RECONCILED and run.id in stdout
    else:  # gave up: one sentence, and the run was stopped before it signed anything
        assert follower.returncode == 1, stderr
        assert len([ln for ln in stderr.splitlines() if ln.strip()]) == 1, stderr
        fresh.wait_for(lambda: fresh.ledger().run(run.id).state in (RunState.FAILED, RunState.RECONCILED),
                       timeout_s=120, what="the abandoned run to end")
        if fresh.ledger().run(run.id).state is RunState.FAILED:
            assert tx_counts(fresh) == before


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_devnet_up_on_a_port_held_by_another_anvil_refuses_and_deploys_nothing(tmp_path: Path) -> None:
    port = _free_port()
    foreign = subprocess.Popen([str(anvil_binary()), "--host", "127.0.0.1", "--port", str(port), "--chain-id", "4242"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        w3 = Web3(HTTPProvider(f"http://127.0.0.1:{port}", request_kwargs={"timeout": 5}))
        deadline = time.monotonic() + 30
        while not w3.is_connected():
            assert time.monotonic() < deadline and foreign.poll() is None, "the foreign anvil did not start"
            time.sleep(0.1)
        path = write_test_config(tmp_path, 0)
        data: dict[str, Any] = yaml.safe_load(path.read_text())
        chains = data["devnet"]["chains"]
        for chain in chains.values():
            chain["port"] = _free_port()
        taken = "arbitrum"
        chains[taken]["port"] = port
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        out = subprocess.run([EXE, "devnet", "up", "--config", str(path)], capture_output=True, text=True,
                             env={**os.environ, "COLUMNS": "250"}, cwd=REPO, timeout=120, check=False)
        assert out.returncode == 1, out.stdout + out.stderr
        (line,) = [ln for ln in out.stderr.splitlines() if ln.strip()]
        assert f"port {port}" in line and "chain id 4242" in line and f"devnet.chains.{taken}.port" in line, line
        assert str(path) in line and "Traceback" not in out.stderr
        assert w3.eth.block_number == 0  # nothing was deployed onto the foreign node
        assert not any(_answers(c["port"]) for n, c in chains.items() if n != taken)  # no anvil was started
        assert not (tmp_path / "devnet" / "operator.keystore.json").exists()
    finally:
        foreign.terminate()
        foreign.wait(timeout=15)


def test_beat_once_with_a_chain_down_says_so_and_while_halted_exits_3(fresh: Orchestra) -> None:
    fresh.proxies["arbitrum"].mode = "down"
    down = cli(fresh, "beat", "--once", "--json")
    assert down.returncode == 0, down.stderr
    assert "Traceback" not in down.stderr
    tick = json.loads(down.stdout)
    # The book is not whole without arbitrum: nothing is started for what arbitrum holds, and it says why.
    assert tick["action"] == "none" and "arbitrum" in tick["reason"], tick
    fresh.proxies["arbitrum"].mode = ""
    fresh.ledger().set_halt("test: halted")
    try:
        halted = cli(fresh, "beat", "--once")
    finally:
        fresh.ledger().clear_halt()
    assert halted.returncode == 3, (halted.stdout, halted.stderr)
    assert "halted" in halted.stderr.lower() and "Traceback" not in halted.stderr
