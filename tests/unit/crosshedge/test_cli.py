"""The CLI keeps the README's promises, in-process (typer's CliRunner; stdout and stderr are captured apart).

Every command prints a table for people and JSON with ``--json``; exit codes are 0 ok, 1 error, 2 bad usage, 3
halted or a limit hit; an error is one line on stderr naming the file, field, chain or run. Commands that need the
ledger run against a real embedded Redis in a temporary directory; the chain in these configs is a closed local
port (nothing listens), so a chain read fails the way a down RPC does. What needs anvil or a worker process lives
in tests/integration/crosshedge/.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from crosshedge.cli import app
from crosshedge.cli.rebalance import abandon
from crosshedge.config import load_config
from optimizer import Plan
from orchestrator import (
    EmbeddedRedis,
    IntentState,
    KillSwitch,
    Ledger,
    RunContext,
    RunLock,
    RunState,
    open_ledger,
    plan_run,
    redis_client,
    start_run,
)
from orchestrator.ledger import Attempt, TxFields  # test setup only: a signed intent without a chain
from tests.quiet_http import QuietHTTPServer
from tests.unit.optimizer.helpers import make_problem
from tests.unit.orchestrator.stage_helpers import ROUTER, USDC, WALLET, WETH, sell_plan, snapshot

REPO = Path(__file__).resolve().parents[3]
POOL = "0x" + "c3" * 20
NOW = 1_700_000_000.0


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def invoke(*args: str) -> Result:
    # A wide terminal, so table cells are not folded mid-word (an error line never is: stderr soft-wraps).
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})


def one_line(text: str) -> str:
    """The single non-empty line of ``text`` (fails when there are several: an error is one sentence)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, text
    return lines[0]


# -- commands that need no service ---------------------------------------------------------------------------------


def test_backtest_without_prices_is_bad_usage() -> None:
    out = invoke("backtest", "--config", "/nonexistent/chains.yaml")
    assert out.exit_code == 2, out.output
    assert "--prices" in one_line(out.stderr)
    assert out.stdout == ""


@pytest.mark.parametrize(("args", "named"), [
    (["--policy", "no_such_policy"], "no_such_policy"),
    (["--start", "yesterday"], "--start"),
])
def test_bad_backtest_options_are_bad_usage(tmp_path: Path, args: list[str], named: str) -> None:
    out = invoke("backtest", "--prices", str(tmp_path / "prices.csv"), "--config", str(tmp_path / "none.yaml"), *args)
    assert out.exit_code == 2, out.output
    assert named in one_line(out.stderr)


def test_an_unreadable_price_file_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "prices.csv"
    out = invoke("backtest", "--prices", str(missing), "--config", str(tmp_path / "none.yaml"))
    assert out.exit_code == 1, out.output
    assert str(missing) in one_line(out.stderr)
    assert "Traceback" not in out.output


def test_backtest_prints_a_table_and_one_json_document(shared_data: Path, tmp_path: Path) -> None:
    common = ["--start", "2022-06-01", "--end", "2022-06-04", "--policy", "delta_threshold",
              "--config", str(tmp_path / "none.yaml"), "--book", str(REPO / "examples" / "book.yaml")]
    eth, btc = f"ETH={shared_data / 'ethusdt_1h.csv'}", f"BTC={shared_data / 'btcusdt_1h.csv'}"
    table = invoke("backtest", "--prices", eth, *common)
    assert table.exit_code == 0, table.output
    assert "ETH 2022-06-01" in table.stdout and "CVaR95" in table.stdout and "┃" in table.stdout
    both = invoke("backtest", "--prices", eth, "--prices", btc, "--json", *common)
    assert both.exit_code == 0, both.output
    doc = json.loads(both.stdout)  # one document, whatever the number of --prices files
    assert [b["result"]["underlying"] for b in doc["backtests"]] == ["ETH", "BTC"]


def test_plan_from_a_saved_problem_prints_tables_and_json(tmp_path: Path) -> None:
    path = tmp_path / "problem.json"
    path.write_text(make_problem().model_dump_json())
    table = invoke("plan", "--problem", str(path), "--explain")
    assert table.exit_code == 0, table.output
    assert "plan:" in table.stdout and "why each venue" in table.stdout and "{'" not in table.stdout
    data = json.loads(invoke("plan", "--problem", str(path), "--json").stdout)
    assert data["trades"] and "explanation" not in data
    Plan.model_validate({k: v for k, v in data.items() if k != "decisions"})


def test_a_bad_config_is_one_line_naming_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "chains.yaml"
    path.write_text("chains:\n  ethereum: {chain_id: one}\n")
    for command in (["venues"], ["risk"], ["status"], ["runs"], ["rebalance", "--dry-run"], ["devnet", "status"]):
        out = invoke(*command, "--config", str(path))
        assert out.exit_code == 1, (command, out.output)
        line = one_line(out.stderr)
        assert str(path) in line and "chains.ethereum.chain_id" in line, (command, line)


class FakeNode:
    """Something else on a devnet port: answers eth_chainId like a node of chain 31337 and records what it got."""

    def __init__(self) -> None:
        self.methods: list[str] = []
        node = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                node.methods.append(body.get("method", ""))
                out = json.dumps({"jsonrpc": "2.0", "id": body.get("id"), "result": "0x7a69"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_devnet_up_on_a_taken_port_refuses_before_starting_anything(tmp_path: Path) -> None:
    node = FakeNode()
    try:
        data = yaml.safe_load((REPO / "chains.yaml").read_text())
        data["devnet"]["state_dir"] = str(tmp_path / "devnet")
        names = list(data["devnet"]["chains"])
        for name in names:
            data["devnet"]["chains"][name]["port"] = closed_port()
        taken = names[1]
        data["devnet"]["chains"][taken]["port"] = node.port
        path = tmp_path / "chains.yaml"
        path.write_text(yaml.safe_dump(data))
        out = invoke("devnet", "up", "--config", str(path))
    finally:
        node.server.shutdown()
    assert out.exit_code == 1, out.output
    line = one_line(out.stderr)
    assert f"port {node.port}" in line and "chain id 31337" in line and f"chains.{taken}.port" in line, line
    assert str(path) in line
    assert node.methods == ["eth_chainId"]  # asked who it is, nothing deployed to it
    assert not (tmp_path / "devnet" / "operator.keystore.json").exists()
    assert not list((tmp_path / "devnet").glob("anvil-*.json")) if (tmp_path / "devnet").exists() else True


def test_devnet_down_with_nothing_running_prints_a_table_and_json(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "chains.yaml").read_text())
    data["devnet"]["state_dir"] = str(tmp_path / "devnet")
    path = tmp_path / "chains.yaml"
    path.write_text(yaml.safe_dump(data))
    table = invoke("devnet", "down", "--config", str(path))
    assert table.exit_code == 0, table.output
    assert "nothing was running" in table.stdout and "┃" in table.stdout
    assert json.loads(invoke("devnet", "down", "--config", str(path), "--json").stdout) == {"stopped": []}


# -- commands on the ledger: a real embedded Redis -------------------------------------------------------------------


@pytest.fixture(scope="module")
def redis_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("redis")
    server = EmbeddedRedis(directory)
    server.ensure_running()
    yield directory
    server.stop()


@pytest.fixture
def config_path(tmp_path: Path, redis_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A one-chain config on the module's Redis (emptied first); its chain's RPC is a closed port."""
    monkeypatch.delenv("CROSSHEDGE_REDIS_URL", raising=False)
    monkeypatch.delenv("CROSSHEDGE_CONFIG", raising=False)
    redis_client(EmbeddedRedis(redis_dir).url).flushall()
    data = {
        "chains": {"ethereum": {
            "chain_id": 1, "rpc_url": f"http://127.0.0.1:{closed_port()}", "block_time_s": 12, "wallet": "ops",
            "tokens": {"WETH": {"address": WETH, "decimals": 18, "underlying": "ETH"},
                       "USDC": {"address": USDC, "decimals": 6, "underlying": "USD"}},
            "venues": {"v3": {"adapter": "uniswap_v3", "pool": POOL, "router": ROUTER}},
        }},
        "wallets": {"ops": {"address": WALLET, "key_env": "UNIT_TEST_KEY"}},
        "execution": {"redis_dir": str(redis_dir), "rpc_timeout_s": 1.0},
    }
    path = tmp_path / "chains.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def context(path: Path) -> RunContext:
    config = load_config(path)
    return RunContext(config=config, ledger=open_ledger(config))


def planned_run(ctx: RunContext, run_id: str, signed: bool) -> tuple[str, str]:
    """A run with an approval and a swap recorded (the approval signed when ``signed``); their intent ids."""
    start_run(ctx, kind="test", run_id=run_id)
    ctx.ledger.put_blob(run_id, "snapshot", snapshot(NOW))
    ctx.ledger.set_run_state(run_id, RunState.SNAPSHOTTED)
    plan_run(ctx, run_id, planner=lambda *_: sell_plan(1.0))
    approve, swap = ctx.ledger.intents(run_id)
    if signed:
        nonce = ctx.ledger.allocate_nonce(approve.spec.id, approve.spec.nonce_sequence, 7)
        ctx.ledger.record_signed(approve.spec.id, "sealed:v1:00", Attempt(
            tx_hash="0x" + "aa" * 32, max_fee_per_gas=2, max_priority_fee_per_gas=1, signed_at=NOW),
            TxFields(chain_id=1, nonce=nonce, to=ROUTER, data="0x", value=0, gas=60_000))
    return approve.spec.id, swap.spec.id


def test_runs_lists_nothing_yet(config_path: Path) -> None:
    table = invoke("runs", "--config", str(config_path))
    assert table.exit_code == 0, table.output
    assert "no runs" in table.stdout
    assert json.loads(invoke("runs", "--config", str(config_path), "--json").stdout) == []


def test_runs_lists_runs_and_shows_one_in_full(config_path: Path) -> None:
    ctx = context(config_path)
    planned_run(ctx, "r-full", signed=False)
    listing = invoke("runs", "--config", str(config_path))
    assert listing.exit_code == 0, listing.output
    assert "r-full" in listing.stdout and "executing" in listing.stdout
    full = invoke("runs", "--run", "r-full", "--config", str(config_path))
    assert full.exit_code == 0, full.output
    assert "intents of r-full" in full.stdout and "approve" in full.stdout and "swap" in full.stdout
    doc = json.loads(invoke("runs", "--run", "r-full", "--json", "--config", str(config_path)).stdout)
    assert doc["run"]["id"] == "r-full" and [i["kind"] for i in doc["intents"]] == ["approve", "swap"]
    missing = invoke("runs", "--run", "r-nope", "--config", str(config_path))
    assert missing.exit_code == 1 and "run r-nope" in one_line(missing.stderr)


def test_runs_cancel_ends_an_unsigned_run_with_its_reason(config_path: Path) -> None:
    ctx = context(config_path)
    approve, swap = planned_run(ctx, "r-cancel", signed=False)
    out = invoke("runs", "cancel", "r-cancel", "--reason", "started by mistake", "--json", "--config",
                 str(config_path))
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["cancelled"] is True and doc["run"]["run"]["state"] == "failed"
    run = ctx.ledger.run("r-cancel")
    assert run.state is RunState.FAILED and run.error == "cancelled: started by mistake"
    assert {ctx.ledger.intent(i).state for i in (approve, swap)} == {IntentState.SKIPPED}
    assert RunLock(ctx.ledger, 60).holder() is None  # the next run may start
    listed = invoke("runs", "--config", str(config_path))
    assert "started by mistake" in listed.stdout
    again = invoke("runs", "cancel", "r-cancel", "--reason", "again", "--config", str(config_path))
    assert again.exit_code == 0 and "already cancelled" in again.stdout


def test_runs_cancel_refuses_a_run_that_signed_something(config_path: Path) -> None:
    ctx = context(config_path)
    _, swap = planned_run(ctx, "r-signed", signed=True)
    out = invoke("runs", "cancel", "r-signed", "--reason", "too late", "--config", str(config_path))
    assert out.exit_code == 1, out.output
    line = one_line(out.stderr)
    assert "r-signed" in line and "already signed" in line and "runs fail" in line
    assert ctx.ledger.run("r-signed").state is RunState.EXECUTING  # untouched
    assert ctx.ledger.intent(swap).state is IntentState.PLANNED


def test_runs_fail_skips_the_unsigned_and_leaves_the_signed_to_be_reconciled(config_path: Path) -> None:
    ctx = context(config_path)
    approve, swap = planned_run(ctx, "r-fail", signed=True)
    out = invoke("runs", "fail", "r-fail", "--reason", "base RPC is down for the day", "--config", str(config_path))
    assert out.exit_code == 0, out.output
    assert "confirm and reconcile" in out.stdout
    run = ctx.ledger.run("r-fail")
    assert run.state is RunState.EXECUTING and run.error == "base RPC is down for the day"
    assert ctx.ledger.intent(swap).state is IntentState.SKIPPED
    assert ctx.ledger.intent(approve).state is IntentState.SIGNED  # out there: confirmed and reconciled later
    assert RunLock(ctx.ledger, 60).holder() == "r-fail"


def test_runs_fail_ends_an_unsigned_run_and_releases_the_lock(config_path: Path) -> None:
    ctx = context(config_path)
    planned_run(ctx, "r-fail2", signed=False)
    out = invoke("runs", "fail", "r-fail2", "--reason", "venue paused", "--json", "--config", str(config_path))
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["ended"] is True
    assert ctx.ledger.run("r-fail2").state is RunState.FAILED
    assert RunLock(ctx.ledger, 60).holder() is None


@pytest.mark.parametrize(("args", "code"), [
    (["cancel", "r-x"], 2),                      # no --reason
    (["cancel", "r-x", "--reason", "  "], 2),    # a blank one
    (["fail", "r-x", "--reason", "why"], 1),     # no such run
])
def test_runs_cancel_and_fail_usage(config_path: Path, args: list[str], code: int) -> None:
    out = invoke("runs", *args, "--config", str(config_path))
    assert out.exit_code == code, out.output
    assert "Traceback" not in out.output


def test_rebalance_with_no_worker_is_cancelled_when_it_gives_up(config_path: Path) -> None:
    out = invoke("rebalance", "--timeout", "0.5", "--json", "--config", str(config_path))
    assert out.exit_code == 1, out.output
    line = one_line(out.stderr)
    assert "not finished" in line and "is cancelled" in line and "never execute" in line
    doc = json.loads(out.stdout)  # a script learns which run it was, and what became of it
    assert doc["abandoned"] is True and "is cancelled" in doc["outcome"]
    ledger = context(config_path).ledger
    (run,) = ledger.runs(5)
    assert run.id == doc["run_id"]
    assert run.state is RunState.FAILED and run.error.startswith("cancelled: rebalance stopped following it")
    assert RunLock(ledger, 60).holder() is None


def test_an_abandoned_run_is_still_cancelled_through_a_redis_restart(config_path: Path, redis_dir: Path) -> None:
    """Redis going away is often why following stopped: the cancel waits for it to come back, then ends the run."""
    ctx = context(config_path)
    start_run(ctx, kind="test", run_id="r-restart")
    server = EmbeddedRedis(redis_dir)
    server.stop()
    comeback = threading.Timer(1.0, server.ensure_running)
    comeback.start()
    try:
        outcome = abandon(ctx, "r-restart", "test: gave up while Redis restarted")
    finally:
        comeback.join()
    assert "r-restart is cancelled" in outcome, outcome
    run = ctx.ledger.run("r-restart")
    assert run.state is RunState.FAILED and run.error == "cancelled: test: gave up while Redis restarted"


def test_rebalance_refuses_when_halted_or_another_run_is_going(config_path: Path) -> None:
    ctx = context(config_path)
    KillSwitch(ctx.ledger).halt("desk review")
    halted = invoke("rebalance", "--no-wait", "--config", str(config_path))
    assert halted.exit_code == 3, halted.output
    assert "desk review" in one_line(halted.stderr)
    assert ctx.ledger.runs(5) == []  # nothing was started
    KillSwitch(ctx.ledger).resume()
    start_run(ctx, kind="test", run_id="r-busy")
    busy = invoke("rebalance", "--no-wait", "--config", str(config_path))
    assert busy.exit_code == 3, busy.output
    assert "r-busy" in one_line(busy.stderr)


def test_rebalance_no_wait_prints_the_queued_run(config_path: Path) -> None:
    out = invoke("rebalance", "--no-wait", "--json", "--config", str(config_path))
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["state"] == "queued" and context(config_path).ledger.run(doc["run_id"]).state is RunState.CREATED


def test_status_without_redis_is_exit_1(tmp_path: Path, config_path: Path) -> None:
    data = yaml.safe_load(config_path.read_text())
    data["execution"]["redis_dir"] = str(tmp_path / "no-redis-here")
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(data))
    out = invoke("status", "--config", str(path))
    assert out.exit_code == 1, out.output
    assert "Redis" in one_line(out.stderr)
    assert not (tmp_path / "no-redis-here" / "redis.pid").exists()  # status observes: it started nothing


def test_status_names_the_down_chain_and_prints_the_rest(config_path: Path) -> None:
    ctx = context(config_path)
    planned_run(ctx, "r-last", signed=False)
    out = invoke("status", "--ping-timeout", "0.2", "--config", str(config_path))
    assert out.exit_code == 0, out.output
    down = [ln for ln in out.stderr.splitlines() if "chain ethereum" in ln]
    assert len(down) == 1 and "Traceback" not in out.output  # one sentence for the chain
    assert "halted" in out.stdout and "r-last" in out.stdout and "none answered" in out.stdout
    doc = json.loads(invoke("status", "--json", "--ping-timeout", "0.2", "--config", str(config_path)).stdout)
    assert doc["halted"] is None and doc["workers"] == [] and set(doc["chains_down"]) == {"ethereum"}
    assert doc["last_run"]["id"] == "r-last" and doc["last_run"]["state"] == "executing"


def test_status_lists_stuck_runs_and_exits_3_when_halted(config_path: Path, redis_dir: Path) -> None:
    config = load_config(config_path)
    old = Ledger(redis_client(EmbeddedRedis(redis_dir).url), prefix=config.raw.execution.key_prefix,
                 clock=lambda: NOW)  # a run last touched long ago
    start_run(RunContext(config=config, ledger=old, clock=lambda: NOW), kind="test", run_id="r-stuck")
    KillSwitch(old).halt("desk review")
    out = invoke("status", "--json", "--stuck-after", "60", "--ping-timeout", "0.2", "--config", str(config_path))
    assert out.exit_code == 3, out.output
    doc = json.loads(out.stdout)  # the JSON is printed in full; the exit code says halted
    assert doc["halted"] is not None and "desk review" in doc["halted"]
    assert [r["id"] for r in doc["stuck"]] == ["r-stuck"]
    assert "desk review" in out.stderr.splitlines()[-1]


def test_venues_names_each_down_chain_and_exits_1_when_none_is_readable(config_path: Path) -> None:
    out = invoke("venues", "--json", "--config", str(config_path))
    assert out.exit_code == 1, out.output
    assert json.loads(out.stdout)["failed"].keys() == {"ethereum"}
    lines = out.stderr.splitlines()
    assert any(ln.startswith("warning: chain ethereum") for ln in lines) and lines[-1].startswith("error:")
    assert len([ln for ln in lines if "ethereum" in ln]) == 1
