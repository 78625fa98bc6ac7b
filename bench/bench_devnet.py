"""Benchmark: bring the three-chain devnet up from nothing (anvil start + all deployments), then from the
deployment cache (anvil start + loading each chain's cached state). Prints JSON.

Usage: .venv/bin/python bench/bench_devnet.py [--runs 3]
Goal (issue 2): under 20 s for three chains with everything deployed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from crosshedge.config import DevnetSpec
from devnet import DevnetManager

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = yaml.safe_load((REPO / "chains.yaml").read_text())
        data["devnet"]["state_dir"] = str(Path(tmp) / "devnet")
        for chain in data["devnet"]["chains"].values():
            chain["port"] += 3000  # beside a running demo or test devnet
        spec = DevnetSpec.model_validate(data["devnet"])  # the devnet section alone needs no adapters
        times: list[float] = []
        warm: list[float] = []
        txs = 0
        for cached, into in ((False, times), (True, warm)):
            manager = DevnetManager(spec, root=Path(tmp), cache_dir=Path(tmp) / "cache", use_cache=cached)
            try:
                if cached:
                    manager.up()  # stores the entry the timed runs load
                for _ in range(args.runs):
                    started = time.perf_counter()
                    state = manager.up()
                    into.append(time.perf_counter() - started)
                    txs = max(txs, sum(c["tx_count"] for c in state["chains"].values()))
                    assert state["cache"] == ("hit" if cached else "off"), state["cache"]
            finally:
                manager.down()
    print(json.dumps({
        "benchmark": "devnet_up",
        "chains": len(spec.chains),
        "venues": sum(len(c.pools) for c in spec.chains.values()),
        "v4_pools": sum(len(c.v4_pools) for c in spec.chains.values()),  # on the chains' PoolManager, not venues
        "transactions": txs,
        "runs": args.runs,
        "seconds_median": round(statistics.median(times), 3),
        "seconds_all": [round(t, 3) for t in times],
        "cached_seconds_median": round(statistics.median(warm), 3),
        "cached_seconds_all": [round(t, 3) for t in warm],
        "goal_seconds": 20,
    }))


if __name__ == "__main__":
    main()
