"""Real parts for the integration tests that run the workers: Redis, an RPC fault proxy, a Celery worker process.

Loaded as a plugin by ``tests/conftest.py`` (``pytest_plugins``), so every integration directory shares one
``orch`` session (one worker, one set of proxies) instead of importing fixtures by name.

* ``orch`` (session): an embedded Redis, one fault-injecting HTTP proxy per chain in front of the devnet's anvils,
  a chains.yaml whose RPC URLs point at the proxies (short stuck/visibility timeouts), and the file that every
  ``crosshedge worker`` process of the session (prefork, every queue; one per test) logs to.
* ``fresh`` (per test): reverts the chains (``chain_snapshot``), empties Redis, resets the proxies and the kill
  switch, starts a worker; yields the session handle. The worker is killed when the test ends, before its chains
  are reverted. ``fresh_idle`` is the same with no worker running, for tests that start one themselves or need
  none.

The worker runs with ``CROSSHEDGE_TEST_CRASH_DIR`` set: a test arms crash point P by creating ``<dir>/P``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import yaml
from eth_account import Account
from web3 import Web3

from adapters import make_web3
from crosshedge.config import Config, load_config
from orchestrator import (
    DEFAULT_QUEUE,
    TERMINAL_RUN_STATES,
    EmbeddedRedis,
    Ledger,
    RunContext,
    create_app,
    redis_client,
    start_run,
)
from tests.integration.conftest import DevnetHandle
from tests.quiet_http import QuietHTTPServer

REPO = Path(__file__).resolve().parents[2]


class FaultProxy:
    """Forwards JSON-RPC to one anvil; ``mode`` injects faults: "down" (503), "slow_send" (forward
    eth_sendRawTransaction, then answer only after the client's timeout)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.mode = ""
        self.delay_s = 3.0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if proxy.mode == "down":
                    self.send_response(503)
                    self.end_headers()
                    return
                req = urllib.request.Request(proxy.upstream, data=body, headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=30) as resp:
                    out = resp.read()
                if proxy.mode == "slow_send" and b"eth_sendRawTransaction" in body:
                    time.sleep(proxy.delay_s)  # the tx is in anvil already; the client times out first
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@dataclass
class Orchestra:
    devnet: DevnetHandle
    config: Config
    config_path: Path
    redis: EmbeddedRedis
    proxies: dict[str, FaultProxy]
    crash_dir: Path
    worker_log: Path
    private_key_hex: str
    worker: subprocess.Popen[bytes] | None = None
    _w3s: dict[str, Web3] = field(default_factory=dict, repr=False)

    @property
    def url(self) -> str:
        return self.redis.url

    def ledger(self) -> Ledger:
        return Ledger(redis_client(self.url), prefix=self.config.raw.execution.key_prefix)

    def ctx(self) -> RunContext:
        return RunContext(config=self.config, ledger=self.ledger())

    def w3(self, chain: str) -> Web3:
        """A direct connection to the chain's anvil (not through the fault proxy), with read retries."""
        if chain not in self._w3s:
            self._w3s[chain] = make_web3(self.devnet.state["chains"][chain]["rpc_url"], timeout=30)
        return self._w3s[chain]

    def w3s(self) -> dict[str, Web3]:
        return {c: self.w3(c) for c in self.config.chains}

    @contextmanager
    def configured(self, edit: Callable[[dict[str, Any]], None] | None = None, **execution: Any) -> Iterator[Config]:
        """Run the block with the worker (and ``self.config``) on a copy of the config whose execution section has
        ``execution`` applied (and the raw YAML passed through ``edit``); the original comes back after, with a
        fresh worker."""
        original_path, original = self.config_path, self.config
        raw = yaml.safe_load(original_path.read_text())
        raw["execution"].update(execution)
        if edit is not None:
            edit(raw)
        changed = original_path.with_name(f"orch.{abs(hash(yaml.safe_dump(raw)))}.chains.yaml")
        changed.write_text(yaml.safe_dump(raw, sort_keys=False))
        self.config_path, self.config = changed, load_config(changed)
        stop_worker(self)
        self.worker = start_worker(self)
        try:
            yield self.config
        finally:
            self.config_path, self.config = original_path, original
            stop_worker(self)
            self.worker = start_worker(self)

    def kill_worker_tree(self) -> None:
        """SIGKILL the worker and every pool child at once (a machine crash, as far as the worker can tell)."""
        assert self.worker is not None
        found = subprocess.run(["pgrep", "-P", str(self.worker.pid)], check=False, capture_output=True, text=True)
        children = found.stdout.split()
        for pid in [*children, str(self.worker.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        self.worker.wait(timeout=15)

    def restart_worker(self) -> None:
        self.worker = start_worker(self)

    def arm(self, point: str) -> None:
        (self.crash_dir / point).touch()

    def submit(self, plan: Any, run_id: str) -> str:
        """Create a run with a given plan and hand it to the worker."""
        rid = start_run(self.ctx(), kind="test", run_id=run_id, plan_input=plan)
        create_app(self.config, self.url).send_task("crosshedge.snapshot", args=[rid], queue=DEFAULT_QUEUE)
        return rid

    def send(self, name: str, args: list[Any], queue: str = DEFAULT_QUEUE) -> None:
        create_app(self.config, self.url).send_task(name, args=args, queue=queue)

    def wait_run(self, run_id: str, timeout_s: float = 60.0) -> Any:
        ledger = self.ledger()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                run = ledger.run(run_id)
                if run.state in TERMINAL_RUN_STATES:
                    return run
            except Exception:
                pass
            time.sleep(0.1)
        raise AssertionError(f"run {run_id} not finished: {ledger.run(run_id)}; log tail:\n{self.log_tail()}")

    def wait_for(self, predicate: Any, timeout_s: float = 30.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; log tail:\n{self.log_tail()}")

    def log_tail(self, n: int = 30) -> str:
        return "\n".join(self.worker_log.read_text(errors="replace").splitlines()[-n:])

    def assert_no_secret_in_logs(self) -> None:
        text = self.worker_log.read_text(errors="replace").lower()
        assert self.private_key_hex.lower() not in text

    def assert_no_clear_transaction_in_redis(self) -> None:
        """Signed transactions are kept write-ahead, but sealed: no Redis value holds an EIP-1559 raw tx in clear."""
        client = redis_client(self.url)
        values: list[str] = []
        for key in client.scan_iter("*"):
            kind = client.type(key)
            if kind == "hash":
                values += [str(v) for v in client.hgetall(key).values()]
            elif kind == "string":
                values.append(str(client.get(key)))
            elif kind == "list":
                values += [str(v) for v in client.lrange(key, 0, -1)]
        # A raw EIP-1559 transaction is 0x02f8/0x02f9 and then well over 200 hex digits; a hash or address that
        # merely starts with 02f8 (one in 32,768) is 64 or 40 digits long and is not one.
        raw_tx = re.compile(r"0x02f[89][0-9a-f]{200,}")
        clear = [v[:20] for v in values if raw_tx.search(v.lower())]
        assert not clear, f"signed transactions in clear in Redis: {clear}"
        assert self.private_key_hex.lower() not in " ".join(values).lower()


def _test_config(devnet: DevnetHandle, proxies: dict[str, FaultProxy], tmp: Path) -> Path:
    raw = devnet.config.raw.model_dump(mode="json", exclude_none=True)
    raw.pop("devnet", None)
    for name, chain in raw["chains"].items():
        chain["rpc_url"] = proxies[name].url
    # The book is a copy the end-to-end test may rewrite (the worker re-reads it on every run).
    for source in raw.get("positions", {}).values():
        if source["adapter"] == "option_book":
            book = Path(source["settings"]["path"])
            book = book if book.is_absolute() else REPO / book
            (tmp / "book.yaml").write_text(book.read_text())
            source["settings"]["path"] = str(tmp / "book.yaml")
    raw["execution"].update({"max_followups": 3, "stuck_after_s": 1.0, "visibility_timeout_s": 60, "rpc_timeout_s": 2.0,
                             "metrics_port": 0, "recover_interval_s": 3.0, "redis_dir": str(tmp / "redis"),
                             "receipt_timeout_s": 60.0})
    path = tmp / "orch.chains.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def start_worker(orch: Orchestra) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CROSSHEDGE_REDIS_URL": orch.url, "CROSSHEDGE_TEST_CRASH_DIR": str(orch.crash_dir),
           "PYTHONUNBUFFERED": "1"}
    seen = orch.worker_log.stat().st_size if orch.worker_log.exists() else 0
    exe = str(Path(sys.executable).parent / "crosshedge")
    with orch.worker_log.open("ab") as log:  # the worker writes through its own copy of the descriptor
        proc = subprocess.Popen([exe, "worker", "--config", str(orch.config_path),
                                 "--concurrency", "4", "--metrics-port", "0"], stdout=log, stderr=subprocess.STDOUT,
                                env=env, cwd=REPO)
    deadline = time.monotonic() + 60
    # Polled often, from where this worker's lines begin: a test per worker start waits on this (the session's
    # log grows to megabytes, and a 0.2 s poll cost a tenth of a second per start on average).
    with orch.worker_log.open("rb") as reader:
        reader.seek(seen)
        lines = b""
        while time.monotonic() < deadline:
            lines += reader.read()
            if b" ready." in lines:
                return proc
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited: {orch.log_tail()}")
            time.sleep(0.05)
    raise RuntimeError(f"worker did not become ready: {orch.log_tail()}")


@pytest.fixture(scope="session")
def orch(devnet: DevnetHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orchestra]:
    tmp = tmp_path_factory.mktemp("orch")
    redis = EmbeddedRedis(tmp / "redis")
    redis.ensure_running()
    proxies = {c: FaultProxy(devnet.state["chains"][c]["rpc_url"]) for c in devnet.chains()}
    path = _test_config(devnet, proxies, tmp)
    config = load_config(path)
    wallet = next(iter(config.wallets.values()))
    assert wallet.keystore is not None and wallet.password_file is not None
    key = Account.decrypt(json.loads(wallet.keystore.read_text()), wallet.password_file.read_text().strip())
    crash = tmp / "crash"
    crash.mkdir()
    (tmp / "worker.log").touch()  # read after every test, also when the session's first tests started no worker
    orch = Orchestra(devnet=devnet, config=config, config_path=path, redis=redis, proxies=proxies, crash_dir=crash,
                     worker_log=tmp / "worker.log", private_key_hex=bytes(key).hex())
    try:  # no worker yet: `fresh` starts one per test, `fresh_idle` leaves it to the test
        yield orch
    finally:
        stop_worker(orch)
        redis.stop()


def stop_worker(orch: Orchestra) -> None:
    """Stop the worker (SIGTERM, then SIGKILL after 15 s) and forget it."""
    worker, orch.worker = orch.worker, None
    if worker is None:
        return
    worker.terminate()
    try:
        worker.wait(timeout=15)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait(timeout=15)


def kill_worker(orch: Orchestra) -> None:
    """SIGKILL the worker and its pool children, if one runs, and forget it. Between tests nothing it holds is
    worth a warm shutdown (about 3 s: Redis is emptied and the chains reverted next), and killing it at once means
    no task of the test that ended can still send to chains being reverted."""
    if orch.worker is None:
        return
    if orch.worker.poll() is None:
        orch.kill_worker_tree()
    orch.worker = None


@contextmanager
def _reset(orch: Orchestra, with_worker: bool) -> Iterator[Orchestra]:
    for proxy in orch.proxies.values():
        proxy.mode = ""
    for marker in orch.crash_dir.iterdir():
        marker.unlink()
    orch.redis.ensure_running()
    # Each test starts from an empty Redis (ledger, broker queues, unacked messages) and a new worker: a message a
    # killed worker left unacked would otherwise be redelivered into a later test, after its chains were reverted,
    # and re-broadcast stored transactions against state that no longer exists. The last test's worker is gone
    # already (killed at its end); this is for one a test left behind some other way.
    kill_worker(orch)
    redis_client(orch.url).flushall()
    if with_worker:
        orch.worker = start_worker(orch)
    try:
        yield orch
    finally:
        kill_worker(orch)  # before chain_snapshot's revert: the chains are reverted under no running task
    for chain in orch.config.chains:
        orch.w3(chain).provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    orch.assert_no_secret_in_logs()
    orch.assert_no_clear_transaction_in_redis()


@pytest.fixture
def fresh(orch: Orchestra, chain_snapshot: dict[str, str]) -> Iterator[Orchestra]:
    with _reset(orch, with_worker=True) as handle:
        yield handle


@pytest.fixture
def fresh_idle(orch: Orchestra, chain_snapshot: dict[str, str]) -> Iterator[Orchestra]:
    """``fresh`` without a worker: the test starts one (``orch.worker = start_worker(orch)``) when it needs one."""
    with _reset(orch, with_worker=False) as handle:
        yield handle
