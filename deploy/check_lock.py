"""Fail the image build when an installed distribution is not pinned, at its exact version, by requirements.lock.

Run inside the image's venv after installing (Dockerfile, stage python-deps); pip, setuptools and wheel are the
build tools the Dockerfile pins itself.

Usage::

    python deploy/check_lock.py requirements.lock
"""

from __future__ import annotations

import re
import sys
from importlib.metadata import distributions
from pathlib import Path

BUILD_TOOLS = frozenset({"pip", "setuptools", "wheel"})


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(lock: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in lock.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            out[norm(name)] = version.strip()
    return out


def main(lock: Path) -> int:
    locked = locked_versions(lock)
    loose = sorted(f"{d.metadata['Name']}=={d.version}" for d in distributions()
                   if norm(d.metadata["Name"]) not in BUILD_TOOLS and locked.get(norm(d.metadata["Name"])) != d.version)
    if loose:
        print(f"{lock}: does not pin {', '.join(loose)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "requirements.lock")))
