"""The devnet's block producer: keeps blocks coming on every chain, as a real chain does when nobody trades.

anvil mines only when a transaction arrives (automine). A real chain produces a block every block time whatever
happens, and crosshedge relies on that: a receipt is booked only once it is buried under the chain's confirmation
depth, and a chain whose head stops moving counts as stale. This process mines one block per chain every
``interval`` seconds (the devnet's compressed block time), with the chain's configured base fee (an empty block
would otherwise lower the next base fee by 12.5%, and a few minutes of them would make gas free). It leaves a
chain alone while its automine is off: a test or the chaos soak is then controlling mining by hand.

Usage::

    python -m devnet.producer --state-dir .crosshedge/devnet --interval 1.0      # (what `devnet up` starts)
    start_producer(state_dir, interval_s=1.0); stop_producer(state_dir)
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from devnet.pids import terminate

PID_FILE = "producer.json"
STATE_FILE = "state.json"


def _rpc(session: requests.Session, url: str, method: str, params: list[Any]) -> Any:
    response = session.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=5)
    return response.json().get("result")


def produce_once(session: requests.Session, url: str, base_fee_wei: int) -> bool:
    """Mine one block on the chain at ``url`` unless its automine is off; True when a block was mined."""
    if _rpc(session, url, "anvil_getAutomine", []) is not True:
        return False
    _rpc(session, url, "anvil_setNextBlockBaseFeePerGas", [hex(base_fee_wei)])
    _rpc(session, url, "evm_mine", [])
    return True


def run(state_dir: Path, interval_s: float) -> None:
    """Produce blocks until the devnet's state file disappears or every chain stays unreachable for a while."""
    session = requests.Session()
    session.trust_env = False
    unreachable_since: float | None = None
    while (state_dir / STATE_FILE).exists():
        chains = json.loads((state_dir / STATE_FILE).read_text()).get("chains", {})
        reached = 0
        for chain in chains.values():
            try:
                produce_once(session, chain["rpc_url"], int(chain["base_fee_wei"]))
                reached += 1
            except (requests.RequestException, ValueError, KeyError):
                continue  # that chain is down or restarting; the others still get their blocks
        now = time.monotonic()
        unreachable_since = None if reached else (unreachable_since or now)
        if unreachable_since is not None and now - unreachable_since > 30:
            return  # the devnet is gone: nothing left to produce for
        time.sleep(interval_s)


def start_producer(state_dir: Path, interval_s: float) -> int:
    """Start the producer detached (it outlives the command that started it); returns its pid."""
    stop_producer(state_dir)
    log = (state_dir / "producer.log").open("ab")
    code = "from devnet.producer import main; main()"
    proc = subprocess.Popen([sys.executable, "-c", code, "--state-dir", str(state_dir), "--interval", str(interval_s)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    (state_dir / PID_FILE).write_text(json.dumps({"pid": proc.pid}))
    return proc.pid


def stop_producer(state_dir: Path, timeout_s: float = 5.0) -> bool:
    """Stop the devnet's producer; True when one was running."""
    path = state_dir / PID_FILE
    try:
        pid = int(json.loads(path.read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return False
    path.unlink(missing_ok=True)
    return terminate(pid, group=False, timeout_s=timeout_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run(args.state_dir, args.interval)


if __name__ == "__main__":
    main()


__all__ = ["produce_once", "run", "start_producer", "stop_producer"]
