"""The devnet's background processes (anvils, the block producer, the relay and the searcher) are recorded by pid
in its state directory; these are the two things every one of them needs: is it alive, and stop it.

Usage::

    if pid_alive(pid):
        terminate(pid, group=True, timeout_s=5.0)
"""

from __future__ import annotations

import contextlib
import os
import signal
import time


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; reaps it first if it is our own exited child (a zombie still answers kill 0)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass  # not our child: kill 0 below tells
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, someone else's
    return True


def terminate(pid: int, group: bool, timeout_s: float) -> bool:
    """SIGTERM ``pid`` (its whole process group when ``group``), SIGKILL it after ``timeout_s``; False when it was
    already gone."""
    send = os.killpg if group else os.kill
    try:
        send(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):  # it exited between the last check and the kill
        send(pid, signal.SIGKILL)
    return True


__all__ = ["pid_alive", "terminate"]
