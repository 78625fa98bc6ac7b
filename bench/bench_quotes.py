"""Benchmark: exact Uniswap V3 quotes against degenbot's, at 0, 1, 10 and 100 initialized ticks crossed.

Both quote the same recorded pool state (adapters.pool_state, version 1: a WETH/USDC 0.05% ladder, 150 LP ranges
stacked around the price plus a full-range one, 302 initialized ticks) with the same amounts, in the same run:
for each bucket, ``--amounts`` distinct inputs that each cross exactly that many initialized ticks (checked against
the exact model). The project side is :meth:`UniswapV3Adapter.quote` on a VenueState (the production path; the
state's model is built once, as for every read); the degenbot side is ``UniswapV3Pool`` built offline from the same
state (``bench/degenbot_quotes.py``, in its own venv because degenbot needs Python >= 3.12). Both are warmed with one
pass over the amounts first (degenbot caches the range steps a swap consumes; the project its step checkpoints),
then each amount is timed over ``--repeat`` calls; the figure is the median per call.

degenbot is the ``bench`` extra of pyproject.toml (pinned; never a runtime dependency). The script creates
``.crosshedge/bench-venv`` with a Python >= 3.12 (``python3.12``/``python3.13`` on PATH or under ~/.pyenv) and
installs the pin there; when that is impossible the JSON says why and reports no degenbot figure.

Usage::

    .venv/bin/python bench/bench_quotes.py                 # JSON on stdout
    .venv/bin/python bench/bench_quotes.py --amounts 50 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

from web3 import Web3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters import ChainContext, Side, TickRecord, TokenInfo, TokenRecord, UniswapV3PoolState, VenueState
from adapters.uniswap import get_sqrt_ratio_at_tick
from adapters.uniswap_v3 import PoolModel, UniswapV3Adapter, UniswapV3Config, model_of_record
from adapters.uniswap_v3.reader import PoolRead

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".crosshedge" / "bench-venv"
BUCKETS = (0, 1, 10, 100)
CENTRE, SPACING, FEE = -195_600, 10, 500  # ~3,200 USDC per WETH (token0 WETH 18 decimals, token1 USDC 6)
WETH = TokenInfo(chain="bench", symbol="WETH", address="0x" + "22" * 20, decimals=18, underlying="ETH")
USDC = TokenInfo(chain="bench", symbol="USDC", address="0x" + "11" * 20, decimals=6, underlying="USD")


def ladder_state() -> UniswapV3PoolState:
    """The benchmark pool: a full-range position and 150 ranges [centre - 20k, centre + 20k) of equal liquidity."""
    nets: dict[int, int] = {-887270: 10**17, 887270: -(10**17)}
    for k in range(1, 151):
        nets[CENTRE - 20 * k] = nets.get(CENTRE - 20 * k, 0) + 10**16
        nets[CENTRE + 20 * k] = nets.get(CENTRE + 20 * k, 0) - 10**16
    tick = CENTRE + 5
    sqrt_price = (get_sqrt_ratio_at_tick(tick) + get_sqrt_ratio_at_tick(tick + 1)) // 2
    token = {"WETH": WETH, "USDC": USDC}
    t0, t1 = (TokenRecord(address=t.address, symbol=t.symbol, decimals=t.decimals, underlying=t.underlying)
              for t in (token["WETH"], token["USDC"]))
    return UniswapV3PoolState(
        protocol="uniswap_v3", version=1, chain="bench", chain_id=1, venue="v3_weth_usdc_500", address="0x" + "33" * 20,
        block_number=1, block_timestamp=1, token0=t0, token1=t1, base="token0", fee=FEE, tick_spacing=SPACING,
        sqrt_price_x96=sqrt_price, tick=tick, liquidity=sum(n for t, n in nets.items() if t <= tick),
        ticks=tuple(TickRecord(tick=t, liquidity_net=n) for t, n in sorted(nets.items())),
    )


def bucket_amounts(model: PoolModel, crossed: int, count: int, rng: random.Random) -> list[int]:
    """``count`` distinct token0 inputs that each cross exactly ``crossed`` initialized ticks going down."""
    below = sorted((t for t in model.liquidity_net if t <= model.tick), reverse=True)

    def reach(k: int) -> int:  # the input that reaches the k-th initialized tick below exactly (and crosses it)
        return model.swap_exact_in(True, 10**40, sqrt_price_limit=get_sqrt_ratio_at_tick(below[k - 1])).amount_in

    lo, hi = (10**9 if crossed == 0 else reach(crossed)) + 1, reach(crossed + 1) - 1
    picks = sorted({rng.randint(lo, hi) for _ in range(count)})
    assert all(model.swap_exact_in(True, a).initialized_ticks_crossed == crossed for a in picks)
    return picks


def venue_state(record: UniswapV3PoolState, adapter: UniswapV3Adapter) -> VenueState:
    """The VenueState a read of this pool returns (what the optimizer and executor quote against)."""
    read = PoolRead(record.venue, record.address, WETH, USDC, model_of_record(record), record.block_number,
                    record.block_timestamp)
    config = UniswapV3Config(pool=record.address, router="0x" + "44" * 20)
    return adapter._state(ChainContext("bench", 1, Web3(), {}), read, config)  # the read path's own builder


def project_times(state: VenueState, buckets: dict[str, list[int]], repeat: int) -> dict[str, Any]:
    adapter = UniswapV3Adapter()
    start = time.perf_counter()
    adapter.quote(state, Side.SELL, buckets["0"][0])
    first = (time.perf_counter() - start) * 1e6  # builds the state's model, then one quote
    out: dict[str, Any] = {"first_quote_us": first}
    for name, amounts in buckets.items():
        outs = [adapter.quote(state, Side.SELL, a) for a in amounts]  # warm
        per_call = []
        for a in amounts:
            t0 = time.perf_counter()
            for _ in range(repeat):
                adapter.quote(state, Side.SELL, a)
            per_call.append((time.perf_counter() - t0) / repeat * 1e6)
        out[name] = {"median_us": statistics.median(per_call), "outs": [str(o) for o in outs]}
    return out


def pinned_degenbot() -> str:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["bench"]
    return str(next(e for e in extras if e.startswith("degenbot")).split(";")[0].strip())


def _pythons312() -> list[str]:
    """Interpreters >= 3.12 to try, oldest minor first: degenbot's pins build on 3.12 where 3.13 may lack wheels."""
    found = [path for name in ("python3.12", "python3.13") if (path := shutil.which(name))]
    found += [str(p) for p in sorted(Path.home().glob(".pyenv/versions/3.1[2-9]*/bin/python"))]
    return list(dict.fromkeys(found))


def ensure_venv(pin: str) -> tuple[Path | None, str]:
    """The bench venv's interpreter with ``pin`` installed, or None and why not (each candidate Python is tried)."""
    python = VENV / "bin" / "python"
    version = pin.split("==")[1]
    check = [str(python), "-c", f"import importlib.metadata as m; assert m.version('degenbot') == '{version}'"]
    if python.exists() and subprocess.run(check, check=False, capture_output=True).returncode == 0:
        return python, "installed"
    bases = _pythons312()
    if not bases:
        return None, "no Python >= 3.12 found (python3.12/python3.13 on PATH or under ~/.pyenv); degenbot needs it"
    why = ""
    for base in bases:
        shutil.rmtree(VENV, ignore_errors=True)
        steps = [[base, "-m", "venv", str(VENV)], [str(python), "-m", "pip", "install", "-q", pin]]
        for step in steps:
            done = subprocess.run(step, check=False, capture_output=True, text=True, timeout=900)
            if done.returncode != 0:
                lines = [ln for ln in (done.stderr or done.stdout).splitlines() if not ln.startswith("WARNING:")]
                why = f"{' '.join(step[:4])} failed: {' '.join(lines)[-300:]}"
                break
        else:
            return python, f"installed now with {base}"
    return None, why


def _degenbot_home() -> Path:
    """A HOME for the degenbot process, with its config file written beforehand.

    degenbot reads ~/.config/degenbot/config.toml at import and, when there is none, creates one and a SQLite
    database beside it (on this machine that creation fails with 'database is locked'). An offline pool never
    touches the database, so a config naming a path of its own is all it needs, and nobody else's home is used.
    """
    home = VENV.parent / "bench-home"
    config = home / ".config" / "degenbot" / "config.toml"
    if not config.exists():
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(f'[database]\npath = "{config.parent / "degenbot.db"}"\n\n[rpc]\n')
    return home


def degenbot_times(python: Path, record: UniswapV3PoolState, buckets: dict[str, list[int]],
                   repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        job = Path(tmp) / "job.json"
        job.write_text(json.dumps({"state": record.model_dump(mode="json"), "buckets": buckets, "repeat": repeat}))
        home = _degenbot_home()
        done = subprocess.run([str(python), str(REPO / "bench" / "degenbot_quotes.py"), str(job)], check=False,
                              capture_output=True, text=True, timeout=1800, env={**os.environ, "HOME": str(home)})
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip()[-500:])
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--amounts", type=int, default=100, help="distinct inputs per bucket")
    parser.add_argument("--repeat", type=int, default=5, help="calls per input, timed together")
    args = parser.parse_args()
    record = ladder_state()
    model = model_of_record(record)
    rng = random.Random(1)
    buckets = {str(n): bucket_amounts(model, n, args.amounts, rng) for n in BUCKETS}
    mine = project_times(venue_state(record, UniswapV3Adapter()), buckets, args.repeat)
    pin = pinned_degenbot()
    python, how = ensure_venv(pin)
    theirs: dict[str, Any] | None = None
    reason = how
    if python is not None:
        try:
            theirs = degenbot_times(python, record, buckets, args.repeat)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            reason = f"degenbot run failed: {exc}"
    rows = []
    for n in BUCKETS:
        row: dict[str, Any] = {"ticks_crossed": n, "amounts": len(buckets[str(n)]),
                               "project_median_us": round(mine[str(n)]["median_us"], 2)}
        if theirs is not None:
            d = theirs[str(n)]["median_us"]
            row |= {"degenbot_median_us": round(d, 2), "degenbot_over_project": round(d / mine[str(n)]["median_us"], 2),
                    "outputs_equal": theirs[str(n)]["outs"] == mine[str(n)]["outs"]}
        else:
            row |= {"degenbot_median_us": None, "degenbot_over_project": None, "outputs_equal": None}
        rows.append(row)
    print(json.dumps({
        "pool": f"{record.venue}: fee {record.fee}, spacing {record.tick_spacing}, "
                f"{len(record.ticks)} initialized ticks",
        "repeat": args.repeat, "project_first_quote_us": round(mine["first_quote_us"], 1),
        "degenbot": {"version": pin, "available": theirs is not None, "how": reason, "python": str(python or "")},
        "buckets": rows,
    }, indent=2))


if __name__ == "__main__":
    main()
