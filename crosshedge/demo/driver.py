"""`crosshedge demo`: the whole system live on the embedded default.

Embedded Redis, a fresh three-chain devnet, real Celery worker processes, the example option book and the
operator's LP positions and inventory. A market driver moves every devnet pool along a real hourly ETH/BTC price
path from ../shared/data (arbitraging each pool to the path's price, one hour per step, compressed in time), and
each step asks the policy, as `crosshedge beat` does, and lets the workers hedge when it fires. It ends with a
summary table and a plot of delta and cumulative cost over time.

* **Checked first.** ``--steps`` and ``--start`` are checked against the price files before anything starts
  (:mod:`crosshedge.demo.options`); the previous run's plot and step log are removed before the devnet starts.
* **One run per hour.** Each step ticks the policy with its own idempotency key (the replayed hour,
  ``beat-demo-20220612T010000``), so no two hours share a run and a repeated tick of one hour is the same run.
* **A failed hour is shown, not fatal.** A run that fails (no plan meets the limits, a refusal) or does not finish
  in ``run_timeout_s`` (then the demo fails it, which skips what is unsigned) ends that hour with the ledger's
  reason; the demo goes on and counts it.
* **Same prices, same trades and costs.** The devnet's block producer is replaced by :class:`BlockClock` (every
  block at the configured base fee, so gas does not depend on timing); the option book's tenors count from the
  valuation time, so the risk does not depend on the wall clock either.
* **Halted stops it.** The kill switch or a halted lane ends the replay after that hour (the CLI exits 3).
* **Nothing left running.** Workers, block clock, devnet (unless ``keep_devnet``) and the embedded Redis are
  stopped at the end; the ledger stays in Redis's AOF, so `crosshedge runs` reads it afterwards.

Usage::

    result = run_demo(DemoOptions(config_path=Path("chains.yaml"), steps=24))
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery import Celery

from crosshedge.config import Config, load_config, resolve_generated
from crosshedge.demo.blocks import BlockClock
from crosshedge.demo.options import DemoOptions, PathStep, price_paths
from crosshedge.demo.report import DemoStep, outside_band, plot_steps
from crosshedge.errors import ConfigError, ExecutionError, HaltedError, NotReadyError
from devnet import DevnetManager, MarketDriver
from orchestrator import (
    IntentKind,
    Ledger,
    RunContext,
    RunReport,
    RunState,
    create_app,
    decisions_for,
    fail_run,
    open_context,
    open_ledger,
    owned_server,
    policy_tick,
    run_summary,
    take_snapshot,
    wait_for_run,
    with_explains,
)
from risk import Decision, PnlExplain

PLOT_FILE, STEPS_FILE = "demo.png", "steps.json"
#: Chain seconds each replayed hour's price holds before the hedge (BlockClock.hold). Curie's mark is the median of
#: its vAMM's 15 s TWAP, its 30 min TWAP and the index plus the 15 min premium (markPriceConfig 1800/900): with no
#: chain time between steps the premium window still sees the old price, and the mark stayed near the start price
#: while the index fell 15% (measured), so every perp trade tripped the mark/index breaker. 15 min at the new
#: price is what the premium window needs (the mark then equals the index to the cent, measured); it is less than
#: an Across fill deadline, so a transfer in flight still fills.
PRICE_HOLD_S = 900


@dataclass(frozen=True)
class DemoResult:
    """What a demo did: its steps, the plot and step log it wrote, and why it stopped early (halted) if it did."""

    steps: list[DemoStep]
    plot: Path
    steps_file: Path
    halted: str | None = None
    explain: PnlExplain | None = None  # the book's P&L explain over the demo's runs (demo_explain)


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


def step_key(timestamp: str) -> str:
    """The idempotency key of the step replaying ``timestamp``: ``demo-20220612T010000`` (one run per hour)."""
    return "demo-" + re.sub(r"[^0-9]", "", timestamp[:10]) + "T" + re.sub(r"[^0-9]", "", timestamp[11:])


def _band(decisions: list[Decision]) -> dict[str, tuple[float, float]]:
    return {d.underlying: (d.lower, d.upper) for d in decisions}


def run_chain(ledger: Ledger, run_id: str) -> list[str]:
    """``run_id`` and the follow-ups it started, in order."""
    runs = [run_id]
    while True:
        report = ledger.blob(runs[-1], "report", RunReport)
        if report is None or not report.followup or not ledger.has_run(report.followup):
            return runs
        runs.append(report.followup)


def _timed_out(ctx: RunContext, run_id: str, timeout_s: float) -> str:
    """End a run the demo gave up on (unsigned intents skipped; signed ones still confirmed); returns why."""
    run = ctx.ledger.run(run_id)
    events = ctx.ledger.events(run_id)
    last = f"; last event: {events[-1].kind}: {events[-1].message}" if events else ""
    reason = f"not finished after {timeout_s:g}s (state {run.state.value}{last}); ended by the demo"
    fail_run(ctx, run_id, reason)
    return reason


def follow_run(ctx: RunContext, run_id: str, timeout_s: float) -> tuple[list[str], str]:
    """Follow a run and its follow-ups to their end; returns their ids and why the hedge failed ("" if it did not).

    The reason is the ledger's: a failed run's sentence (an infeasible plan, a refusal), a halt, or, when the run
    did not finish within ``timeout_s``, the timeout with the run's state and last event (the run is then failed).
    """
    try:
        wait_for_run(ctx.ledger, run_id, timeout_s)
    except NotReadyError:
        runs = run_chain(ctx.ledger, run_id)
        return runs, f"run {runs[-1]}: {_timed_out(ctx, runs[-1], timeout_s)}"
    runs = run_chain(ctx.ledger, run_id)
    for rid in runs:
        run = ctx.ledger.run(rid)
        if run.error:
            return runs, run.error if run.error.startswith(f"run {rid}") else f"run {rid}: {run.error}"
        if run.halted:
            return runs, f"run {rid}: halted: {run.halted}"
        if run.state not in (RunState.RECONCILED, RunState.NOOP):
            return runs, f"run {rid}: ended {run.state.value}"
    return runs, ""


def one_step(ctx: RunContext, celery: Celery, step: int, timestamp: str, prices: dict[str, float],
             run_timeout_s: float, clock: BlockClock | None = None) -> DemoStep:
    """Ask the policy as `crosshedge beat` would; when it fires, follow the workers' run to its report.

    The demo's own reads (its snapshot, the policy tick's) run with ``clock`` paused: no block lands under them.
    """
    with clock.paused() if clock is not None else nullcontext():
        connections = {c: ctx.w3(c) for c in ctx.chains()}
        snap = take_snapshot(ctx.config, connections, ctx.registry, allow_partial=True, verifier=ctx.verifier)
        before = decisions_for(ctx.config, ctx.registry, snap, connections)
        delta_before, band = {d.underlying: d.net_delta for d in before}, _band(before)
        owed = {p.key: p.position.owed_funding_usd for cs in snap.chains.values() for p in cs.perps
                if p.position is not None}
        result = policy_tick(ctx, celery, key=step_key(timestamp))
    if result.action != "run" or result.run_id is None:
        return DemoStep(step=step, timestamp=timestamp, prices=prices, delta_before=delta_before,
                        delta_after=delta_before, band=band, fired=False, reason=result.reason,
                        perp_funding_owed=owed)
    runs, error = follow_run(ctx, result.run_id, run_timeout_s)
    reports = [rep for rep in (ctx.ledger.blob(r, "report", RunReport) for r in runs) if rep is not None]
    after = {u: float(v) for u, v in reports[-1].residual_delta.items()} if reports else delta_before
    trades = [t for rep in reports for t in rep.trades]
    moved = [t for rep in reports for t in rep.transfers]
    deposits = [i for r in runs for i in ctx.ledger.intents(r) if i.spec.kind is IntentKind.DEPOSIT]
    swaps = [t for t in trades if t.kind is IntentKind.SWAP]
    perps = [t for t in trades if t.kind is IntentKind.PERP_ORDER]
    return DemoStep(
        step=step, timestamp=timestamp, prices=prices, delta_before=delta_before, delta_after=after, band=band,
        fired=True, reason=result.reason, run_id=result.run_id, run_ids=runs,
        run_state=ctx.ledger.run(runs[-1]).state.value, error=error, outside_band=outside_band(after, band),
        trades=len(trades), chains_traded=sorted({t.chain for t in trades}),
        cost_usd=sum(r.realised_cost_usd for r in reports),
        predicted_cost_usd=sum(r.predicted_cost_usd for r in reports),
        spot_cost_usd=sum(t.realised_cost_usd - t.gas_usd for t in swaps),
        perp_fee_usd=sum(t.fee_usd for t in perps),
        perp_impact_usd=sum(t.realised_cost_usd - t.gas_usd - t.fee_usd for t in perps),
        gas_usd=sum(t.gas_usd for t in trades), perp_funding_owed=owed,
        perp_markets_traded=sorted({f"{t.chain}/{t.venue}" for t in perps if t.base_amount > 0}),
        transfers=len(moved), transfer_cost_usd=sum(i.spec.predicted_cost_usd for i in deposits),
        # The workers' clock: the block clock runs each chain ahead of the host by its own block count, so a fill's
        # block time less its deposit's quote time compares two clocks seconds apart (TransferRecord.seen_latency_s).
        transfer_latencies_s=[t.seen_latency_s for t in moved if t.seen_latency_s is not None],
    )


def halt_reason(ledger: Ledger) -> str | None:
    """Why nothing may trade now (the kill switch, or a halted lane), or None."""
    reason = ledger.halt_reason()
    if reason is not None:
        return f"kill switch is set: {reason} (run `crosshedge resume`)"
    for lane, why in sorted(ledger.halted_lanes().items()):
        return f"lane {lane} is halted: {why} (run `crosshedge resume` once it is resolved)"
    return None


def _check_workers(procs: list[subprocess.Popen[bytes]], log_dir: Path) -> None:
    for i, proc in enumerate(procs):
        if proc.poll() is not None:
            raise ExecutionError(f"demo: worker {i} exited with code {proc.returncode}; see "
                                 f"{log_dir / f'worker-{i}.log'}")


def write_steps(path: Path, steps: list[DemoStep]) -> None:
    """The step log, rewritten after every step (a demo that stops early leaves what it did, never an old log)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[" + ",".join(s.model_dump_json() for s in steps) + "]")


def clear_outputs(out_dir: Path) -> tuple[Path, Path]:
    """Remove the previous run's plot and step log; returns their paths (plot, steps)."""
    plot, steps = out_dir / PLOT_FILE, out_dir / STEPS_FILE
    for path in (plot, steps):
        path.unlink(missing_ok=True)
    return plot, steps


def demo_explain(ledger: Ledger, steps: list[DemoStep]) -> PnlExplain | None:
    """The P&L explain summed over the demo's runs, each from its snapshot to the next run's (the last run has no
    next one, so the hours after it are not in it); None when fewer than two runs stored a risk report."""
    ids = [rid for s in steps for rid in s.run_ids]
    rows = with_explains(ledger, [run_summary(ledger, rid) for rid in reversed(ids) if ledger.has_run(rid)])
    parts = [r.explain for r in rows if r.explain is not None]
    return PnlExplain.total(parts) if parts else None


def _replay(opts: DemoOptions, base: Config, state: dict[str, Any], path: list[PathStep], steps_file: Path,
            on_step: Callable[[DemoStep], None], status: Callable[[str], None]
            ) -> tuple[list[DemoStep], str | None, PnlExplain | None]:
    """Workers up, then each hour: move the market, tick the policy, follow the run. Returns (steps, halted, the
    runs' P&L explain)."""
    assert base.raw.devnet is not None  # run_demo checked
    config = resolve_generated(base)
    status("starting embedded Redis and Celery workers")
    ctx = open_context(config)
    celery = create_app(config)
    # A fresh devnet makes any earlier ledger (runs, locks, intents, queued messages) describe chains that no
    # longer exist: start the demo's namespace empty. Only the configured key prefix and queues are touched.
    ctx.ledger.clear_namespace()
    celery.control.purge()
    driver = MarketDriver.from_state(state, {n: c.base_fee_gwei for n, c in base.raw.devnet.chains.items()})
    steps: list[DemoStep] = []
    log_dir = opts.out_dir / "logs"
    depth = {n: c.confirmations for n, c in base.raw.devnet.chains.items()}
    with (BlockClock.from_state(state, depth) as clock,
          worker_processes(opts.config_path, opts.workers, log_dir) as procs):
        for i, (timestamp, prices) in enumerate(path):
            _check_workers(procs, log_dir)
            with clock.on_arrival():  # the arbitrage swaps need not wait for blocks; the hedges do
                driver.move_to(prices)
            clock.hold(PRICE_HOLD_S)
            step = one_step(ctx, celery, i, timestamp, prices, opts.run_timeout_s, clock)
            steps.append(step)
            write_steps(steps_file, steps)
            on_step(step)
            halted = halt_reason(ctx.ledger)
            if halted is not None:
                return steps, halted, demo_explain(ctx.ledger, steps)
    return steps, None, demo_explain(ctx.ledger, steps)


def _stop_redis(base: Config) -> None:
    """Stop the embedded Redis (SHUTDOWN flushes its AOF: `crosshedge runs` reads the ledger afterwards)."""
    server = owned_server(base.redis_dir)
    if server is not None:  # an external CROSSHEDGE_REDIS_URL is its operator's, not the demo's
        server.stop()


def run_demo(opts: DemoOptions, on_step: Callable[[DemoStep], None] | None = None,
             on_status: Callable[[str], None] | None = None) -> DemoResult:
    """Bring everything up, drive the market for ``opts.steps`` hours, hedge live (see module docstring).

    Raises DemoOptionError (a bad ``--steps``/``--start``) and ConfigError before anything starts, HaltedError when
    the kill switch is already set; returns a DemoResult whose ``halted`` says why it stopped early.
    """
    status = on_status or (lambda _msg: None)
    base = load_config(opts.config_path)
    if base.raw.devnet is None:
        raise ConfigError(f"{opts.config_path}: devnet: the demo needs a devnet section to start its own chains")
    path = price_paths(opts, base.raw.devnet.prices)
    plot_file, steps_file = clear_outputs(opts.out_dir)
    root = opts.config_path.resolve().parent
    # The devnet's block producer is not started: BlockClock is the demo's (every block at the held base fee).
    manager = DevnetManager(base.raw.devnet.for_demo().model_copy(update={"block_interval_s": 0.0}), root=root)
    started = False
    try:
        already = halt_reason(open_ledger(base))
        if already is not None:
            raise HaltedError(f"demo: not started: {already}")
        status("starting three anvil chains and deploying Uniswap V3/V2, WETH9 and tokens")
        started = True
        state = manager.up()
        steps, halted, explain = _replay(opts, base, state, path, steps_file, on_step or (lambda _s: None), status)
    finally:
        if started and opts.keep_devnet:
            DevnetManager(base.raw.devnet.for_demo(), root=root).start_block_producer()  # as `devnet up` leaves it
        elif started:
            manager.down()
        _stop_redis(base)
    return DemoResult(steps=steps, plot=plot_steps(steps, plot_file, halted), steps_file=steps_file, halted=halted,
                      explain=explain)


__all__ = ["DemoResult", "clear_outputs", "demo_explain", "follow_run", "halt_reason", "one_step", "run_chain",
           "run_demo", "step_key", "worker_processes", "write_steps"]
