"""How long `crosshedge --help` takes, next to a bare interpreter start measured in the same run (goal: < 1 s).

The help lists every command without importing any of them (crosshedge.cli.app's lazy group), so it should cost
little more than starting Python with typer and rich.

Usage::

    .venv/bin/python bench/bench_cli.py      # prints one JSON line
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROUNDS = 7
EXE = Path(sys.executable).parent / "crosshedge"


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    timed([str(EXE), "--help"])  # warm the file cache
    help_s = [timed([str(EXE), "--help"]) for _ in range(ROUNDS)]
    bare_s = [timed([sys.executable, "-c", "pass"]) for _ in range(ROUNDS)]
    worker_imports_s = [timed([sys.executable, "-c", "import orchestrator.tasks"]) for _ in range(3)]
    median = statistics.median(help_s)
    print(json.dumps({
        "benchmark": "cli_help", "rounds": ROUNDS, "help_median_s": round(median, 3),
        "help_max_s": round(max(help_s), 3), "python_start_median_s": round(statistics.median(bare_s), 3),
        "worker_path_import_median_s": round(statistics.median(worker_imports_s), 3),
        "goal_s": 1.0, "meets_goal": median < 1.0,
    }))


if __name__ == "__main__":
    main()
