"""`crosshedge demo`: the whole system live on the embedded default.

Embedded Redis, a fresh three-chain devnet, real Celery worker processes, the example option book and the
operator's LP positions and inventory. A market driver moves every devnet pool along a real hourly ETH/BTC price
path from ../shared/data (arbitraging each pool to the path's price, one hour per step, compressed in time), and
each step asks the policy, as `crosshedge beat` does, and lets the workers hedge when it fires. It ends with a
summary table and a plot of delta and cumulative cost over time.

Usage::

    result = run_demo(DemoOptions(config_path=Path("chains.yaml"), steps=24))
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from celery import Celery

from crosshedge.config import Config, load_config, resolve_generated
from crosshedge.demo.report import DemoStep, plot_steps
from crosshedge.errors import ConfigError
from devnet import DevnetManager, MarketDriver, load_price_path
from orchestrator import (
    RunContext,
    RunReport,
    create_app,
    decisions_for,
    open_context,
    policy_tick,
    take_snapshot,
    wait_for_run,
)
from risk import Decision

REPO_ROOT = Path(__file__).resolve().parents[2]
PRICE_FILES = {"ETH": "ethusdt_1h.csv", "BTC": "btcusdt_1h.csv"}


@dataclass(frozen=True)
class DemoOptions:
    config_path: Path
    steps: int = 24
    start: str = "2022-06-12 00:00:00"  # the June 2022 sell-off: ETH fell ~30% in two days
    data_dir: Path = REPO_ROOT.parent / "shared" / "data"
    out_dir: Path = Path(".crosshedge/demo")
    workers: int = 1
    run_timeout_s: float = 120.0
    keep_devnet: bool = False


def price_paths(opts: DemoOptions, devnet_prices: dict[str, float]) -> list[tuple[str, dict[str, float]]]:
    """The real hourly paths, rescaled so step 0 sits at the devnet's prices (the shape is the market's)."""
    paths = {}
    for underlying, filename in PRICE_FILES.items():
        rows = load_price_path(opts.data_dir / filename, opts.start, opts.steps + 1)
        scale = devnet_prices[underlying] / rows[0][1]
        paths[underlying] = [(ts, close * scale) for ts, close in rows]
    n = min(len(p) for p in paths.values())
    return [(paths["ETH"][i][0], {u: p[i][1] for u, p in paths.items()}) for i in range(1, n)]


@contextmanager
def worker_processes(config_path: Path, count: int, log_dir: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Real `crosshedge worker` processes serving every queue; stopped (warm, then cold) on exit."""
    log_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    for i in range(count):
        log = (log_dir / f"worker-{i}.log").open("wb")
        cmd = [sys.executable, "-c", "from crosshedge.cli.app import main; main()", "worker", "--config",
               str(config_path), "--name", f"demo{i}", "--loglevel", "WARNING", "--metrics-port", "0"]
        procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _band(decisions: list[Decision]) -> dict[str, tuple[float, float]]:
    return {d.underlying: (d.lower, d.upper) for d in decisions}


def one_step(ctx: RunContext, celery: Celery, step: int, timestamp: str, prices: dict[str, float],
             run_timeout_s: float) -> DemoStep:
    """Ask the policy as `crosshedge beat` would; when it fires, follow the workers' run to its report."""
    connections = {c: ctx.w3(c) for c in ctx.chains()}
    snap = take_snapshot(ctx.config, connections, ctx.registry, allow_partial=True, verifier=ctx.verifier)
    before = decisions_for(ctx.config, ctx.registry, snap, connections)
    delta_before = {d.underlying: d.net_delta for d in before}
    result = policy_tick(ctx, celery)
    if result.action != "run" or result.run_id is None:
        return DemoStep(step=step, timestamp=timestamp, prices=prices, delta_before=delta_before,
                        delta_after=delta_before, band=_band(before), fired=False, reason=result.reason)
    last = wait_for_run(ctx.ledger, result.run_id, run_timeout_s)
    runs = [result.run_id] + ([last] if last != result.run_id else [])
    reports = [rep for rep in (ctx.ledger.blob(r, "report", RunReport) for r in runs) if rep is not None]
    final = reports[-1].residual_delta if reports else delta_before
    trades = [t for rep in reports for t in rep.trades]
    return DemoStep(
        step=step, timestamp=timestamp, prices=prices, delta_before=delta_before,
        delta_after={u: float(v) for u, v in final.items()},
        band=_band(before), fired=True, reason=result.reason, run_id=result.run_id,
        run_state=str(ctx.ledger.run(last).state), trades=len(trades),
        chains_traded=sorted({t.chain for t in trades}),
        cost_usd=sum(r.realised_cost_usd for r in reports),
        predicted_cost_usd=sum(r.predicted_cost_usd for r in reports),
    )


def _compressed_time(config: Config) -> Config:
    """The demo replays an hour a step, a second or two apart: beat's run-id slot must be that short too, or two
    steps would share one run id (and the second would rightly be refused as already started)."""
    policy = config.raw.policy.model_copy(update={"check_interval_s": 0.25})
    return config.model_copy(update={"raw": config.raw.model_copy(update={"policy": policy})})


def run_demo(opts: DemoOptions, on_step: Callable[[DemoStep], None] | None = None,
             on_status: Callable[[str], None] | None = None) -> tuple[list[DemoStep], Path]:
    """Bring everything up, drive the market for ``opts.steps`` hours, hedge live; returns steps and the plot."""
    status = on_status or (lambda _msg: None)
    base = load_config(opts.config_path)
    if base.raw.devnet is None:
        raise ConfigError(f"{opts.config_path}: devnet: the demo needs a devnet section to start its own chains")
    manager = DevnetManager(base.raw.devnet, root=opts.config_path.resolve().parent)
    status("starting three anvil chains and deploying Uniswap V3/V2, WETH9 and tokens")
    state = manager.up()
    config: Config = _compressed_time(resolve_generated(base))
    try:
        status("starting embedded Redis and Celery workers")
        ctx = open_context(config)
        celery = create_app(config)
        # A fresh devnet makes any earlier ledger (runs, locks, intents, queued messages) describe chains that no
        # longer exist: start the demo's namespace empty. Only the configured key prefix and queues are touched.
        ctx.ledger.clear_namespace()
        celery.control.purge()
        driver = MarketDriver.from_state(state, {n: c.base_fee_gwei for n, c in base.raw.devnet.chains.items()})
        path = price_paths(opts, base.raw.devnet.prices)
        steps: list[DemoStep] = []
        with worker_processes(opts.config_path, opts.workers, opts.out_dir / "logs"):
            for i, (timestamp, prices) in enumerate(path):
                driver.move_to(prices)
                step = one_step(ctx, celery, i, timestamp, prices, opts.run_timeout_s)
                steps.append(step)
                if on_step:
                    on_step(step)
        plot = plot_steps(steps, opts.out_dir / "demo.png")
        (opts.out_dir / "steps.json").write_text("[" + ",".join(s.model_dump_json() for s in steps) + "]")
        return steps, plot
    finally:
        if not opts.keep_devnet:
            manager.down()  # the ledger stays in the embedded Redis (AOF) for `crosshedge runs`
