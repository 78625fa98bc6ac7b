"""Benchmark: read every venue on every devnet chain; wall time and RPC round trips per chain next to the floor.

The floor is measured in the same run: one ``eth_blockNumber`` round trip per chain, chains in parallel. A venue
read is :func:`orchestrator.snapshot.read_venues` of every venue of a chain at "latest", chains in parallel: the
adapters' staged reads share multicalls (V2 pairs ride in the first V3 round), the first multicall reports the block
and pins the rest to it. ``read`` is the steady state (the adapters remember each pool's bitmap words and ticks
from the previous read: 1 round trip per chain); ``cold_read`` uses fresh adapter instances every repetition
(3 round trips per chain). Prints one JSON object (medians of --repeat).

Usage::

    .venv/bin/python bench/bench_read_venues.py                  # uses the running devnet of ./chains.yaml
    .venv/bin/python bench/bench_read_venues.py --start          # starts its own devnet (ports +900), stops it after
"""

from __future__ import annotations

import argparse
import functools
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

from adapters import AdapterRegistry, RoundTripCounter, connect, default_registry
from crosshedge.cli.common import resolve_config
from crosshedge.config import Config, load_config
from devnet import DevnetManager
from orchestrator import chain_context, read_venues


def read_chain(config: Config, name: str, w3: Any, registry: AdapterRegistry) -> int:
    """Every venue of chain ``name`` at its latest block (the first multicall reports which block that is)."""
    _, states = read_venues(chain_context(config, name, w3), config.venues_on(name), registry, "latest")
    return len(states)


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


def read_cold(config: Config, conns: dict[str, Any], registry: AdapterRegistry, name: str) -> int:
    return read_chain(config, name, conns[name], registry)


def fresh_registry(config: Config) -> AdapterRegistry:
    """A registry with new adapter instances (no pool hints), every venue adapter loaded before any timing."""
    registry = AdapterRegistry.from_entry_points()
    for adapter in {v.adapter for v in config.venues}:
        registry.venue(adapter)
    return registry


def bench(config: Config, repeat: int) -> dict[str, Any]:
    names = list(config.chains)
    counters = {n: RoundTripCounter() for n in names}
    conns = {n: connect(n, config.chains[n], 10, counters[n]) for n in names}
    registry = default_registry()
    venues = {n: read_chain(config, n, conns[n], registry) for n in names}  # warm-up (imports, connections, hints)
    runs: dict[str, list[float]] = {"floor": [], "read": [], "cold_read": []}
    per_chain: dict[str, dict[str, list[float]]] = {k: {n: [] for n in names} for k in runs}
    trips: dict[str, dict[str, int]] = {"read": {}, "cold_read": {}}
    for _ in range(repeat):
        cold = fresh_registry(config)
        jobs: dict[str, Callable[[str], Any]] = {
            "floor": lambda n: conns[n].eth.block_number,
            "read": lambda n: read_chain(config, n, conns[n], registry),
            "cold_read": functools.partial(read_cold, config, conns, cold),
        }
        for kind, job in jobs.items():
            for c in counters.values():
                c.reset()
            wall, per = timed_parallel(names, job)
            runs[kind].append(wall)
            for n, sec in per.items():
                per_chain[kind][n].append(sec)
            if kind in trips:
                trips[kind] = {n: counters[n].count for n in names}

    def ratio(kind: str, n: str | None = None) -> float:
        xs, floor = (runs[kind], runs["floor"]) if n is None else (per_chain[kind][n], per_chain["floor"][n])
        return round(statistics.median(xs) / statistics.median(floor), 1)

    return {
        "repeat": repeat,
        "chains": {
            n: {"venues": venues[n], "read_ms": ms(per_chain["read"][n]), "read_round_trips": trips["read"][n],
                "cold_read_ms": ms(per_chain["cold_read"][n]), "cold_read_round_trips": trips["cold_read"][n],
                "floor_ms": ms(per_chain["floor"][n]), "floor_round_trips": 1,
                "ratio_to_floor": ratio("read", n), "cold_ratio_to_floor": ratio("cold_read", n)}
            for n in names
        },
        "all_chains": {"read_ms": ms(runs["read"]), "cold_read_ms": ms(runs["cold_read"]),
                       "floor_ms": ms(runs["floor"]), "ratio_to_floor": ratio("read"),
                       "cold_ratio_to_floor": ratio("cold_read")},
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
