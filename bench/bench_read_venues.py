"""Benchmark: read every venue on every devnet chain; wall time and RPC round trips per chain next to the floor.

The floor is measured in the same run: one ``eth_blockNumber`` round trip per chain, chains in parallel. A venue
read is: the block number, then every adapter's ``read`` of all its venues on that chain pinned to that block
(Uniswap V3: 3 multicalls for all pools; V2: 1), chains in parallel. Prints one JSON object (medians of --repeat).

Usage::

    .venv/bin/python bench/bench_read_venues.py                  # uses the running devnet of ./chains.yaml
    .venv/bin/python bench/bench_read_venues.py --start          # starts its own devnet (ports +900), stops it after
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.registry import AdapterRegistry, default_registry
from adapters.rpc import RoundTripCounter, connect
from orchestrator.commands.common import resolve_config
from orchestrator.config import Config, load_config
from orchestrator.devnet.manager import DevnetManager
from orchestrator.snapshot import chain_context


def read_chain(config: Config, name: str, w3: Any, registry: AdapterRegistry) -> int:
    block = w3.eth.block_number
    ctx = chain_context(config, name, w3)
    by_adapter: dict[str, list[Any]] = {}
    for entry in config.venues_on(name):
        by_adapter.setdefault(entry.adapter, []).append(entry)
    return sum(len(registry.venue(a).read(ctx, entries, block)) for a, entries in by_adapter.items())


def timed_parallel(names: list[str], fn: Callable[[str], Any]) -> tuple[float, dict[str, float]]:
    def one(name: str) -> float:
        t = time.perf_counter()
        fn(name)
        return time.perf_counter() - t

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        per = dict(zip(names, pool.map(one, names), strict=True))
    return time.perf_counter() - t0, per


def ms(xs: list[float]) -> float:
    return round(statistics.median(xs) * 1000, 2)


def bench(config: Config, repeat: int) -> dict[str, Any]:
    names = list(config.chains)
    counters = {n: RoundTripCounter() for n in names}
    conns = {n: connect(n, config.chains[n], 10, counters[n]) for n in names}
    registry = default_registry()
    venues = {n: read_chain(config, n, conns[n], registry) for n in names}  # warm-up (imports, connections)
    floor_wall, read_wall = [], []
    floor_chain: dict[str, list[float]] = {n: [] for n in names}
    read_chain_s: dict[str, list[float]] = {n: [] for n in names}
    trips: dict[str, int] = {}
    for _ in range(repeat):
        wall, per = timed_parallel(names, lambda n: conns[n].eth.block_number)
        floor_wall.append(wall)
        for n, s in per.items():
            floor_chain[n].append(s)
        for c in counters.values():
            c.reset()
        wall, per = timed_parallel(names, lambda n: read_chain(config, n, conns[n], registry))
        read_wall.append(wall)
        for n, s in per.items():
            read_chain_s[n].append(s)
        trips = {n: counters[n].count for n in names}
    return {
        "repeat": repeat,
        "chains": {
            n: {"venues": venues[n], "read_ms": ms(read_chain_s[n]), "read_round_trips": trips[n],
                "floor_ms": ms(floor_chain[n]), "floor_round_trips": 1,
                "ratio_to_floor": round(statistics.median(read_chain_s[n]) / statistics.median(floor_chain[n]), 1)}
            for n in names
        },
        "all_chains": {"read_ms": ms(read_wall), "floor_ms": ms(floor_wall),
                       "ratio_to_floor": round(statistics.median(read_wall) / statistics.median(floor_wall), 1)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("chains.yaml"))
    parser.add_argument("--start", action="store_true", help="start a private devnet (ports +900) for the run")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    if not args.start:
        print(json.dumps(bench(resolve_config(args.config), args.repeat), indent=2))
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = yaml.safe_load(args.config.read_text())
        data["devnet"]["state_dir"] = str(Path(tmp) / "devnet")
        for chain in data["devnet"]["chains"].values():
            chain["port"] += 900
        data.pop("positions", None)
        path = Path(tmp) / "chains.yaml"
        path.write_text(yaml.safe_dump(data))
        base = load_config(path)
        assert base.raw.devnet is not None
        manager = DevnetManager(base.raw.devnet, root=Path(tmp))
        manager.up()
        try:
            print(json.dumps(bench(resolve_config(path), args.repeat), indent=2))
        finally:
            manager.down()


if __name__ == "__main__":
    main()
