"""The degenbot side of bench_quotes.py, run by the bench venv's interpreter (degenbot needs Python >= 3.12).

Reads a recorded pool state (adapters.pool_state's JSON, version 1) and the amounts per bucket from a job file,
builds degenbot's ``UniswapV3Pool`` offline from that state, times ``_calculate_swap`` (the swap that
``calculate_tokens_out_from_tokens_in`` wraps, called directly because the wrapper needs ERC20 token objects that
degenbot only builds from a chain) and prints JSON: per bucket the median µs per quote and the outputs.

Imports nothing from crosshedge: this interpreter has only degenbot and its dependencies.

Usage::

    .crosshedge/bench-venv/bin/python bench/degenbot_quotes.py JOB.json
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from degenbot.uniswap.v3_libraries.tick_math import MIN_SQRT_RATIO
from degenbot.uniswap.v3_liquidity_pool import UniswapV3Pool
from degenbot.uniswap.v3_types import UniswapV3BitmapAtWord, UniswapV3LiquidityAtTick, UniswapV3PoolState


def offline_pool(state: dict[str, Any]) -> UniswapV3Pool:
    """A degenbot pool from a recorded state, without a chain: the attributes its swap reads, nothing else.

    Its constructor reads immutables and slot0 from a node; the state already holds them. Every initialized tick
    is given, so the liquidity map is complete (degenbot's non-sparse path, which walks known ticks only).
    """
    spacing = int(state["tick_spacing"])
    bitmap: dict[int, int] = {}
    data: dict[int, UniswapV3LiquidityAtTick] = {}
    for t in state["ticks"]:
        tick, net = int(t["tick"]), int(t["liquidity_net"])
        word, bit = (tick // spacing) >> 8, (tick // spacing) & 0xFF
        bitmap[word] = bitmap.get(word, 0) | (1 << bit)
        data[tick] = UniswapV3LiquidityAtTick(liquidity_net=net, liquidity_gross=abs(net))
    pool = UniswapV3Pool.__new__(UniswapV3Pool)
    pool.address = state["address"]
    pool.fee, pool.tick_spacing = int(state["fee"]), spacing
    pool.sparse_liquidity_map = False
    pool._state = UniswapV3PoolState(
        address=state["address"], block=int(state["block_number"]), liquidity=int(state["liquidity"]),
        sqrt_price_x96=int(state["sqrt_price_x96"]), tick=int(state["tick"]),
        tick_bitmap={w: UniswapV3BitmapAtWord(bitmap=b) for w, b in bitmap.items()}, tick_data=data,
    )
    pool._swap_step_cache = {}
    pool._swap_step_cache_lock = threading.Lock()
    return pool


def quote(pool: UniswapV3Pool, amount: int) -> int:
    """Token1 out for an exact token0 input (zeroForOne, no price limit: QuoterV2's default)."""
    _amount0, amount1, *_ = pool._calculate_swap(
        zero_for_one=True, amount_specified=amount, sqrt_price_limit_x96=MIN_SQRT_RATIO + 1
    )
    return -int(amount1)


def time_bucket(pool: UniswapV3Pool, amounts: list[int], repeat: int) -> tuple[float, list[int]]:
    outs = [quote(pool, a) for a in amounts]  # warm: degenbot caches each fully consumed range step
    per_call = []
    for a in amounts:
        start = time.perf_counter()
        for _ in range(repeat):
            quote(pool, a)
        per_call.append((time.perf_counter() - start) / repeat * 1e6)
    return statistics.median(per_call), outs


def main(job_path: str) -> None:
    job = json.loads(Path(job_path).read_text())
    pool = offline_pool(job["state"])
    result = {}
    for name, amounts in job["buckets"].items():
        median_us, outs = time_bucket(pool, [int(a) for a in amounts], int(job["repeat"]))
        result[name] = {"median_us": median_us, "outs": [str(o) for o in outs]}
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
