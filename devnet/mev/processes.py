"""The devnet's helper processes (the private relay, the sandwich searcher): started detached, found, stopped.

Each runs ``main()`` of its module in a Python process of its own, in a session of its own so it outlives the
command that started it, with its pid recorded in ``<kind>-<name>.json`` in the devnet's state dir (like anvil's
records) and its output appended to ``<kind>-<name>.log``: one JSON event per line, which :func:`read_events`
reads back.

Usage::

    proc = spawn("relay", "ethereum", "devnet.mev.relay", ["--upstream", url, "--port", "18645"], state_dir, port=18645)
    process_running("relay", "ethereum", state_dir)    # the DevnetProcess while it is alive, else None
    events = read_events(proc.log)
    stop_process("relay", "ethereum", state_dir)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devnet.pids import pid_alive, terminate


@dataclass(frozen=True)
class DevnetProcess:
    """A devnet helper process started by the relay or the searcher, recorded in ``<kind>-<name>.json``."""

    kind: str
    name: str
    pid: int
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _pid_file(kind: str, name: str, state_dir: Path) -> Path:
    return state_dir / f"{kind}-{name}.json"


def spawn(kind: str, name: str, module: str, args: list[str], state_dir: Path, port: int = 0) -> DevnetProcess:
    """Start ``module.main()`` with ``args`` in a detached Python process (output appended to
    ``<kind>-<name>.log``) and record its pid."""
    state_dir.mkdir(parents=True, exist_ok=True)
    stop_process(kind, name, state_dir)
    log = state_dir / f"{kind}-{name}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # `-c` rather than `-m`: the devnet package imports these modules, and runpy would then run a second copy.
    code = f"from {module} import main; main()"
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env)
    _pid_file(kind, name, state_dir).write_text(json.dumps({"pid": proc.pid, "port": port, "log": str(log)}))
    return DevnetProcess(kind=kind, name=name, pid=proc.pid, port=port, log=log)


def process_running(kind: str, name: str, state_dir: Path) -> DevnetProcess | None:
    """The recorded process if it is still alive."""
    path = _pid_file(kind, name, state_dir)
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if not pid_alive(int(data["pid"])):
        return None
    return DevnetProcess(kind=kind, name=name, pid=int(data["pid"]), port=int(data["port"]), log=Path(data["log"]))


def stop_process(kind: str, name: str, state_dir: Path, timeout_s: float = 5.0) -> bool:
    """Terminate the recorded process group (SIGTERM, then SIGKILL); True if one was running."""
    proc = process_running(kind, name, state_dir)
    _pid_file(kind, name, state_dir).unlink(missing_ok=True)
    if proc is None:
        return False
    terminate(proc.pid, group=True, timeout_s=timeout_s)
    return True


def print_event(event: dict[str, Any]) -> None:
    """Log one event as a JSON line on stdout (the process's log file), flushed at once."""
    print(json.dumps(event, separators=(",", ":")), flush=True)


def read_events(log: Path) -> list[dict[str, Any]]:
    """The JSON events of a searcher's (or relay's) log; other lines (a traceback) are skipped."""
    if not log.exists():
        return []
    events = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except ValueError:
                continue  # a line still being written
    return events


__all__ = ["DevnetProcess", "print_event", "process_running", "read_events", "spawn", "stop_process"]
