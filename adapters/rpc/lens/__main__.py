"""``python -m adapters.rpc.lens``: build the read lens now (idempotent: a cached build is kept); ``./run`` calls it
after ``npm ci``. Prints the cache file."""

from __future__ import annotations

import sys

from adapters.rpc.lens.build import build
from crosshedge import AdapterError

if __name__ == "__main__":
    try:
        print(build(force="--force" in sys.argv[1:]))
    except AdapterError as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(1)
