"""Benchmark: read every venue on every devnet chain; wall time and RPC round trips per chain next to the floor,
through the read lens and through the multicall, side by side.

The floor is measured in the same run: one ``eth_blockNumber`` round trip per chain, chains in parallel. A venue
read is :func:`orchestrator.snapshot.read_venues` of every venue of a chain at "latest", chains in parallel.
``lens``: the read lens, one eth_call per chain with a state override (the default path). ``multicall``: the
staged multicall rounds, as on an RPC without state overrides (V2 pairs ride in the first V3 round, the first
multicall reports the block and pins the rest to it). ``read`` is the steady state (adapter instances kept: on the
multicall path they remember each pool's bitmap words and ticks, 1 round trip per chain); ``cold_read`` uses fresh
adapter instances every repetition (multicall: 3 round trips per chain; lens: still 1). Prints one JSON object
(medians of --repeat; ratios are a path's median time over the floor's).

On localhost anvil answers a round trip in under a millisecond, so what is left above the floor there is the
reads' CPU (decoding, exact curves), not round trips. ``--rtt-ms 0,20`` measures each path again with every
request (the floor's too) delayed by a round trip of a hosted RPC (bench/latency_proxy.py), in the same run.

Usage::

    .venv/bin/python bench/bench_read_venues.py                  # uses the running devnet of ./chains.yaml
    .venv/bin/python bench/bench_read_venues.py --start          # starts its own devnet (ports +900), stops it after
    .venv/bin/python bench/bench_read_venues.py --start --rtt-ms 0,20   # also at a 20 ms round trip
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
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
from bench.latency_proxy import LatencyProxy
from crosshedge import HeadMovedError
from crosshedge.cli.common import resolve_config
from crosshedge.config import Config, load_config
from devnet import DevnetManager
from orchestrator import HEAD_MOVED_ATTEMPTS, chain_context, read_venues

PATHS = ("lens", "multicall")


#: Reads begun again because a block was mined between a multicall read's rounds, per path (the snapshot does the
#: same: orchestrator.snapshot.HEAD_MOVED_ATTEMPTS); the repeated round trips are in the timings.
HEAD_MOVED: dict[str, int] = dict.fromkeys(PATHS, 0)


def read_chain(config: Config, name: str, w3: Any, registry: AdapterRegistry, path: str = "lens") -> int:
    """Every venue of chain ``name`` at its latest block (the first call reports which block that is), through the
    read lens or (``path="multicall"``) the staged multicall rounds, as on an RPC without state overrides."""
    ctx = chain_context(config, name, w3)
    if path == "multicall":
        ctx = dataclasses.replace(ctx, read_lens=False)
    for _ in range(HEAD_MOVED_ATTEMPTS - 1):
        try:
            return len(read_venues(ctx, config.venues_on(name), registry, "latest")[1])
        except HeadMovedError:
            HEAD_MOVED[path] += 1
    return len(read_venues(ctx, config.venues_on(name), registry, "latest")[1])


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


def fresh_registry(config: Config) -> AdapterRegistry:
    """A registry with new adapter instances (no pool hints), every venue adapter loaded before any timing."""
    registry = AdapterRegistry.from_entry_points()
    for adapter in {v.adapter for v in config.venues}:
        registry.venue(adapter)
    return registry


def _jobs(config: Config, conns: dict[str, Any], warm: dict[str, AdapterRegistry]) -> dict[str, Callable[[str], Any]]:
    """Per kind of read, what one chain does: the floor, then each path warm (its registry kept) and cold."""
    jobs: dict[str, Callable[[str], Any]] = {"floor": lambda n: conns[n].eth.block_number}
    for path in PATHS:
        cold = fresh_registry(config)
        jobs[f"{path}_read"] = functools.partial(lambda p, n: read_chain(config, n, conns[n], warm[p], p), path)
        jobs[f"{path}_cold_read"] = functools.partial(lambda p, r, n: read_chain(config, n, conns[n], r, p), path, cold)
    return jobs


def bench(config: Config, repeat: int, urls: dict[str, str] | None = None) -> dict[str, Any]:
    """Medians and ratios of every path; ``urls`` replaces chains' RPC URLs (a latency proxy in front of each)."""
    names = list(config.chains)
    HEAD_MOVED.update(dict.fromkeys(PATHS, 0))
    counters = {n: RoundTripCounter() for n in names}
    settings = {n: config.chains[n].model_copy(update={"rpc_url": urls[n]}) if urls else config.chains[n]
                for n in names}
    conns = {n: connect(n, settings[n], 10, counters[n]) for n in names}
    warm = {p: default_registry() if p == "lens" else fresh_registry(config) for p in PATHS}
    # Warm-up (imports, connections, hints, the lens build and the connection's override check).
    venues = {n: max(read_chain(config, n, conns[n], warm[p], p) for p in PATHS) for n in names}
    kinds = ["floor"] + [f"{p}_{k}" for p in PATHS for k in ("read", "cold_read")]
    runs: dict[str, list[float]] = {k: [] for k in kinds}
    per_chain: dict[str, dict[str, list[float]]] = {k: {n: [] for n in names} for k in kinds}
    trips: dict[str, dict[str, int]] = {k: {} for k in kinds}
    for _ in range(repeat):
        for kind, job in _jobs(config, conns, warm).items():  # the kinds interleave, so drift hits them alike
            for c in counters.values():
                c.reset()
            wall, per = timed_parallel(names, job)
            runs[kind].append(wall)
            for n, sec in per.items():
                per_chain[kind][n].append(sec)
            trips[kind] = {n: counters[n].count for n in names}

    def ratio(kind: str, n: str | None = None) -> float:
        xs, floor = (runs[kind], runs["floor"]) if n is None else (per_chain[kind][n], per_chain["floor"][n])
        return round(statistics.median(xs) / statistics.median(floor), 2)

    def path_figures(path: str, n: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k in ("read", "cold_read"):
            kind = f"{path}_{k}"
            out[f"{k}_ms"] = ms(runs[kind] if n is None else per_chain[kind][n])
            if n is not None:
                out[f"{k}_round_trips"] = trips[kind][n]
            out[f"{k}_ratio_to_floor"] = ratio(kind, n)
        return out

    return {
        "repeat": repeat,
        "chains": {
            n: {"venues": venues[n], "floor_ms": ms(per_chain["floor"][n]), "floor_round_trips": trips["floor"][n],
                **{p: path_figures(p, n) for p in PATHS}}
            for n in names
        },
        "all_chains": {"floor_ms": ms(runs["floor"]), **{p: path_figures(p, None) for p in PATHS}},
        "head_moved_retries": dict(HEAD_MOVED),
    }


def bench_at(config: Config, repeat: int, rtts: list[float]) -> dict[str, Any]:
    """One :func:`bench` per round-trip delay (0: straight to the devnet), in one run."""
    if rtts == [0.0]:
        return bench(config, repeat)
    out: dict[str, Any] = {"repeat": repeat, "by_rtt_ms": {}}
    for rtt in rtts:
        if rtt == 0:
            out["by_rtt_ms"]["0"] = bench(config, repeat)
            continue
        with contextlib.ExitStack() as stack:
            proxies = {n: stack.enter_context(LatencyProxy(config.chains[n].rpc_url, rtt)) for n in config.chains}
            out["by_rtt_ms"][f"{rtt:g}"] = bench(config, repeat, {n: p.url for n, p in proxies.items()})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("chains.yaml"))
    parser.add_argument("--start", action="store_true", help="start a private devnet (ports +offset) for the run")
    parser.add_argument("--port-offset", type=int, default=900, help="added to chains.yaml's ports with --start")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--rtt-ms", default="0", help="comma-separated round-trip delays to measure at, e.g. 0,20")
    args = parser.parse_args()
    rtts = [float(x) for x in args.rtt_ms.split(",")]
    if not args.start:
        print(json.dumps(bench_at(resolve_config(args.config), args.repeat, rtts), indent=2))
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = yaml.safe_load(args.config.read_text())
        data["devnet"]["state_dir"] = str(Path(tmp) / "devnet")
        for chain in data["devnet"]["chains"].values():
            chain["port"] += args.port_offset
        data.pop("positions", None)
        path = Path(tmp) / "chains.yaml"
        path.write_text(yaml.safe_dump(data))
        base = load_config(path)
        assert base.raw.devnet is not None
        manager = DevnetManager(base.raw.devnet, root=Path(tmp))
        manager.up()
        try:
            print(json.dumps(bench_at(resolve_config(path), args.repeat, rtts), indent=2))
        finally:
            manager.down()


if __name__ == "__main__":
    main()
