"""Finding and ending redis-server processes through /proc (Linux): which ones serve a directory, and their exit.

The embedded Redis (orchestrator.redis_server.server) must never start a second server on a directory, and must never
signal a pid that is not its own redis-server; both questions are answered here from /proc, not from pid files
(a pid file outlives its process, and a stalled or booting server may not answer on its socket yet).

Usage::

    pids = redis_servers(directory, socket_path, conffile)    # live redis-servers serving the directory
    stopped, killed = wait_exit(pids, timeout_s=10.0)          # SIGKILL after the timeout
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def alive(pid: int) -> bool:
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


def wait_exit(pids: list[int], timeout_s: float) -> tuple[list[int], list[int]]:
    """Wait for ``pids`` to exit; SIGKILL what is left after ``timeout_s`` (the AOF is fsynced per write)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    killed = [p for p in pids if alive(p)]
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(alive(p) for p in killed):
        time.sleep(0.05)
    return [p for p in pids if not alive(p)], killed


def serves(pid: int, directory: Path, socket_path: Path, conffile: Path) -> bool:
    """True when ``pid`` is a live redis-server whose cwd is ``directory``, or whose command line (its process
    title, or the conf it was started with) names ``socket_path`` or ``conffile``."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    words = cmdline.split()
    if not words or not Path(words[0]).name.startswith("redis-server") or not alive(pid):
        return False
    if str(socket_path) in cmdline or str(conffile) in cmdline:
        return True
    try:
        return os.readlink(f"/proc/{pid}/cwd") == str(directory)
    except OSError:
        return False


def redis_servers(directory: Path, socket_path: Path, conffile: Path) -> list[int]:
    """Every live redis-server process serving ``directory`` (see :func:`serves`), found through /proc."""
    try:
        entries = [e.name for e in os.scandir("/proc") if e.name.isdigit()]
    except OSError:
        return []
    return sorted(int(pid) for pid in entries if serves(int(pid), directory, socket_path, conffile))


__all__ = ["alive", "redis_servers", "serves", "wait_exit"]
