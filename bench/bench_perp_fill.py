"""Benchmark: a perp trade's wall time from "open" to "reconciled" through crosshedge, next to its floor.

Brings the repo's devnet up (from the repo's deployment cache, .crosshedge/devnet-cache, when it holds this
deployment; ``CROSSHEDGE_DEVNET_CACHE`` set is left as it is) on ports searched from ``CROSSHEDGE_TEST_PORT_SLOT``
(default 7) so a demo or another session's devnet is left alone, with the repo's block production: anvil
automines each transaction and the devnet's producer mines a block every ``devnet.block_interval_s``; the chain's
confirmation depth is the generated config's. An embedded Redis and one real ``crosshedge worker`` process
(prefork, every queue) run the stages. The wallet's Vault is funded once up front (approve + ``Vault.deposit``
sent directly), so every measured run is one ``perp_order`` intent and nothing else.

Then, per round (round 0 warms the worker and is not counted), one trade of ``--base`` ETH on the chain's
``eth_perp`` market, alternating short and long, done twice:

* **crosshedge**: a run with a given plan of that one perp trade, handed to the worker as the integration tests
  do (``start_run`` + the ``crosshedge.snapshot`` task). Timed from the run's move to ``executing`` (``plan_run``
  has recorded the intent and hands its lane to ``execute_lane``) to the intent's move to ``reconciled`` (the
  reconcile stage found the position on chain equal to the ledger's), both from the ledger's own transition
  stamps. The run must end reconciled with no balance or perp diff, its fill the trade's exact size.
* **floor**: the same order done directly, from the same operator account (its keystore, decrypted in this
  process): the market read at the head (which the order's bound needs), the adapter's ``quote`` and
  ``build_open``, a local signature, ``eth_sendRawTransaction``, the receipt polled every millisecond, and then
  blocks until the receipt is as deep as the chain's ``confirmations`` asks. The nonce is read and the gas limit
  fixed before the clock starts (a direct sender keeps both locally).

Prints JSON and writes it to ``--out`` (bench/bench_perp_fill.json).

Usage::

    CROSSHEDGE_TEST_PORT_SLOT=7 .venv/bin/python bench/bench_perp_fill.py [--trades 5] [--base 1.0] [--chain arbitrum]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from eth_account import Account
from hexbytes import HexBytes
from web3 import HTTPProvider, Web3
from web3.exceptions import TransactionNotFound

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters import PerpAdapter, PerpEntry, PerpMarketState, Side, TxRequest, default_registry
from crosshedge import CircuitBreakerError, HeadMovedError
from crosshedge.config import Config, load_config, resolve_generated
from devnet import CACHE_ENV, DevnetManager, free_port_offset
from optimizer import CostBreakdown, Plan, PlannedPerpTrade, SolveStats
from orchestrator import (
    DEFAULT_QUEUE,
    TERMINAL_RUN_STATES,
    EmbeddedRedis,
    IntentKind,
    IntentState,
    Ledger,
    RunContext,
    RunReport,
    RunState,
    approve_tx,
    create_app,
    redis_client,
    start_run,
)

REPO = Path(__file__).resolve().parents[1]
MARKET = "eth_perp"
#: Where this bench's port search starts (the other benches sit at +2600, +3000 and +3100); a slot moves it on.
PORT_BASE_OFFSET = 3400
FLOOR_GAS = 2_000_000  # a fixed limit well above an openPosition's gas (it costs no time)
VAULT_FUNDING_USDC = 20_000  # enough free collateral that no measured run needs a margin deposit
RUN_TIMEOUT_S = 120.0
STAGES = ("signed", "sent", "included", "confirmed", "reconciled")


def port_offset(base_ports: list[int]) -> int:
    """An offset from chains.yaml's ports at which every chain's port is free, searched from the session's slot."""
    slot = int(os.environ.get("CROSSHEDGE_TEST_PORT_SLOT", "7"))
    offset = free_port_offset(base_ports, (PORT_BASE_OFFSET + 37 * (50 * slot + step) for step in range(100)))
    if offset is None:
        raise RuntimeError(f"no free ports for the bench's devnet from slot {slot}")
    return offset


def write_config(tmp: Path) -> Path:
    """The repo's chains.yaml with its devnet under ``tmp`` on free ports, file paths absolute, the execution
    section's Redis under ``tmp``, no metrics endpoint and no follow-up runs."""
    data = yaml.safe_load((REPO / "chains.yaml").read_text())
    data["devnet"]["state_dir"] = str(tmp / "devnet")
    offset = port_offset([c["port"] for c in data["devnet"]["chains"].values()])
    for chain in data["devnet"]["chains"].values():
        chain["port"] += offset
    for source in data.get("positions", {}).values():
        path = source.get("settings", {}).get("path")
        if path and not Path(path).is_absolute():
            source["settings"]["path"] = str(REPO / path)
    data["execution"] = {**data.get("execution", {}), "redis_dir": str(tmp / "redis"), "metrics_port": 0,
                         "max_followups": 0}
    out = tmp / "chains.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def start_worker(config_path: Path, url: str, log_path: Path) -> subprocess.Popen[bytes]:
    """One ``crosshedge worker`` (prefork, every queue), in its own process group; returns once it is ready."""
    env = {**os.environ, "CROSSHEDGE_REDIS_URL": url, "PYTHONUNBUFFERED": "1"}
    exe = str(Path(sys.executable).parent / "crosshedge")
    with log_path.open("ab") as log:
        proc = subprocess.Popen([exe, "worker", "--config", str(config_path), "--concurrency", "4",
                                 "--metrics-port", "0"], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO,
                                start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if b" ready." in log_path.read_bytes():
            return proc
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited; see {log_path}")
        time.sleep(0.05)
    raise RuntimeError("worker did not become ready")


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a warm shutdown), then SIGKILL to the worker's own process group (it and its pool children)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # pool children the master left behind, if any


@dataclass
class Market:
    """The benchmarked market: its config entry, adapter and a plain Web3 to its chain (no middleware)."""

    ctx: RunContext
    chain: str
    entry: PerpEntry
    adapter: PerpAdapter
    w3: Web3

    def read(self) -> PerpMarketState:
        """The market and the wallet's account in it at the head (read again when the head moved mid-read)."""
        cc = self.ctx.chain_context(self.chain, self.w3)
        for _ in range(5):
            try:
                [state] = self.adapter.read(cc, [self.entry], int(self.w3.eth.block_number))
                return state
            except HeadMovedError:
                continue
        raise RuntimeError(f"{self.chain}/{MARKET}: the head moved during five reads")


def size_of(state: PerpMarketState) -> float:
    return state.position.size if state.position is not None else 0.0


def send_signed(w3: Web3, key: bytes, chain_id: int, tx: TxRequest, nonce: int, gas: int,
                fees: dict[str, int]) -> HexBytes:
    signed = Account.sign_transaction({"chainId": chain_id, "nonce": nonce, "to": Web3.to_checksum_address(tx.to),
                                       "data": tx.data, "value": tx.value, "gas": gas, "type": 2, **fees}, key)
    return HexBytes(w3.eth.send_raw_transaction(signed.raw_transaction))


def receipt_of(w3: Web3, tx_hash: HexBytes, timeout_s: float = 30.0) -> Any:
    """The receipt, polled every millisecond (anvil automines: it exists right after the send returns)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            return w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            time.sleep(0.001)
    raise RuntimeError(f"no receipt for {tx_hash.hex()} within {timeout_s} s")


def fund_vault(m: Market, key: bytes, fees: dict[str, int]) -> None:
    """Approve the Vault and deposit VAULT_FUNDING_USDC of the wallet's collateral into it, sent directly."""
    state = m.read()
    token = Web3.to_checksum_address(state.collateral.address)
    raw = VAULT_FUNDING_USDC * 10**state.collateral.decimals
    spender = m.adapter.contracts(m.entry).spender
    sender = m.ctx.wallet_address(m.chain)
    chain_id = m.ctx.config.chains[m.chain].chain_id
    for tx in (approve_tx(chain_id, token, spender, raw), m.adapter.build_deposit(m.entry, token, raw)):
        nonce = m.w3.eth.get_transaction_count(Web3.to_checksum_address(sender), "pending")
        receipt = receipt_of(m.w3, send_signed(m.w3, key, chain_id, tx, nonce, 500_000, fees))
        assert receipt["status"] == 1, f"vault funding transaction reverted: {tx.description}"


def perp_plan(state: PerpMarketState, adapter: PerpAdapter, side: Side, base: float) -> Plan:
    """A given plan of one perp order on the market, quoted exactly on ``state``."""
    quote = adapter.quote(state, side, round(base * 10**state.base_decimals))
    size = size_of(state)
    signed = base if side is Side.BUY else -base
    got = quote.quote_amount_raw / 10**state.quote_decimals
    fields: dict[str, Any] = {
        "chain": state.chain, "market": state.market, "underlying": state.underlying, "side": side,
        "base_amount": base, "quote_amount": got, "expected_price": got / base,
        "fee_usd": quote.fee_raw / 10**state.quote_decimals, "impact_usd": 0.0, "funding_usd": 0.0, "gas_usd": 0.0,
        "size_before": size, "size_after": size + signed, "grows": abs(size + signed) > abs(size),
        "account_value_after_usd": 0.0, "free_collateral_after_usd": 0.0, "margin_ratio_after": None,
        "liquidation_price_after": None,
        "value_cost_usd": got - base * state.mark_price if side is Side.BUY else base * state.mark_price - got}
    trade = PlannedPerpTrade(**fields)
    return Plan(trades=[], perp_trades=(trade,), cost=CostBreakdown(), pre_trade_delta={}, residual_delta={},
                risk_usd=0.0, objective_usd=0.0, model_objective_usd=0.0,
                stats=SolveStats(method="bench", status="given"), created_at=time.time(),
                snapshot_blocks={state.chain: state.block_number})


def crosshedge_trade(m: Market, app: Any, run_id: str, side: Side, base: float) -> dict[str, Any]:
    """One run of one perp order through the worker; its stage times (s after the hand-off) from the ledger."""
    ctx, ledger = m.ctx, m.ctx.ledger
    before = m.read()
    plan = perp_plan(before, m.adapter, side, base)
    deadline = time.monotonic() + 10
    while True:  # the previous run's lock is released just after its reconciled state is written
        try:
            submitted = time.time()
            rid = start_run(ctx, kind="bench", run_id=run_id, plan_input=plan)
            break
        except CircuitBreakerError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    app.send_task("crosshedge.snapshot", args=[rid], queue=DEFAULT_QUEUE)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while ledger.run(rid).state not in TERMINAL_RUN_STATES:
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {rid} not finished: {ledger.run(rid)}")
        time.sleep(0.005)
    run = ledger.run(rid)
    records = ledger.intents(rid)
    assert run.state is RunState.RECONCILED, (run, ledger.events(rid))
    assert [r.spec.kind for r in records] == [IntentKind.PERP_ORDER], [r.spec.id for r in records]
    [order] = records
    assert order.state is IntentState.RECONCILED and len(order.attempts) == 1, order
    report = ledger.blob(rid, "report", RunReport)
    assert report is not None and report.balance_diff == {} and report.perp_diff == {}, report
    signed_raw = round((base if side is Side.BUY else -base) * 10**before.base_decimals)
    assert [f.exchanged_position_size for f in report.perp_fills] == [signed_raw], report.perp_fills
    after = m.read()
    assert abs(size_of(after) - (size_of(before) + signed_raw / 10**before.base_decimals)) < 1e-12
    run_stamps = {t.to: t.at for t in ledger.run_history(rid)}
    handed = run_stamps[RunState.EXECUTING.value]
    stamps = {t.to: t.at for t in ledger.history(order.spec.id)}
    return {"run_id": rid, "side": side.value, "open_to_reconciled_s": stamps["reconciled"] - handed,
            "submit_to_reconciled_s": stamps["reconciled"] - submitted,
            "stages_s": {s: round(stamps[s] - handed, 4) for s in STAGES if s in stamps},
            "before_s": {s: round(t - submitted, 4) for s, t in run_stamps.items()
                         if s in (RunState.SNAPSHOTTED.value, RunState.EXECUTING.value)},
            "events": sorted({e.kind for e in ledger.events(rid)}),
            "block": order.receipt.block_number if order.receipt is not None else None}


def floor_trade(m: Market, key: bytes, side: Side, base: float, confirmations: int,
                fees: dict[str, int]) -> dict[str, Any]:
    """The same order sent directly: read, quote, build_open, sign, send, receipt, then the confirmation depth."""
    execution = m.ctx.execution
    chain_id = m.ctx.config.chains[m.chain].chain_id
    sender = Web3.to_checksum_address(m.ctx.wallet_address(m.chain))
    nonce = m.w3.eth.get_transaction_count(sender, "pending")  # a direct sender's local counter
    size_before = size_of(m.read())
    t0 = time.perf_counter()
    state = m.read()
    amount = round(base * 10**state.base_decimals)
    got = m.adapter.quote(state, side, amount).quote_amount_raw
    slip = execution.slippage_bps / 1e4
    bound = math.floor(got * (1 - slip)) if side is Side.SELL else math.ceil(got * (1 + slip))
    tx = m.adapter.build_open(state, side, amount, bound, state.block_timestamp + execution.deadline_s)
    signed = Account.sign_transaction({"chainId": chain_id, "nonce": nonce, "to": Web3.to_checksum_address(tx.to),
                                       "data": tx.data, "value": tx.value, "gas": FLOOR_GAS, "type": 2, **fees}, key)
    t1 = time.perf_counter()
    tx_hash = m.w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = receipt_of(m.w3, HexBytes(tx_hash))
    t2 = time.perf_counter()
    # A receipt is one block deep by itself: the head is read only when the chain asks for more.
    while confirmations > 1 and int(m.w3.eth.block_number) - int(receipt["blockNumber"]) + 1 < confirmations:
        time.sleep(0.001)
    t3 = time.perf_counter()
    assert receipt["status"] == 1, "the floor's openPosition reverted"
    fills = m.adapter.parse_fills(state, receipt)
    signed_raw = amount if side is Side.BUY else -amount
    assert [f.exchanged_position_size for f in fills] == [signed_raw], fills
    assert abs(size_of(m.read()) - (size_before + signed_raw / 10**state.base_decimals)) < 1e-12
    return {"side": side.value, "floor_s": t3 - t0, "read_build_sign_s": t1 - t0, "send_to_receipt_s": t2 - t1,
            "depth_wait_s": t3 - t2, "block": int(receipt["blockNumber"])}


def median(rows: list[dict[str, Any]], key: str) -> float:
    return round(float(statistics.median(r[key] for r in rows)), 4)


def summarise(args: argparse.Namespace, config: Config, spec_interval: float, cache: str,
              cross: list[dict[str, Any]], floor: list[dict[str, Any]]) -> dict[str, Any]:
    measured_x, measured_f = cross[1:], floor[1:]
    settings = config.chains[args.chain]
    stage_medians = {s: round(statistics.median(r["stages_s"][s] for r in measured_x), 4)
                     for s in STAGES if all(s in r["stages_s"] for r in measured_x)}
    a, b = median(measured_x, "open_to_reconciled_s"), median(measured_f, "floor_s")
    return {
        "benchmark": "perp_open_to_reconciled", "chain": args.chain, "market": MARKET, "adapter": "perp_curie",
        "base_per_trade": args.base, "trades": len(measured_x), "warmup_rounds": 1,
        "sides": [r["side"] for r in measured_x],
        "block_production": {"automine": True, "producer_interval_s": spec_interval,
                             "configured_block_time_s": settings.block_time_s,
                             "confirmations": settings.confirmations},
        "worker": {"processes": 1, "concurrency": 4, "broker": "embedded redis"},
        "devnet_cache": cache,
        "crosshedge": {
            "what": "run state 'executing' (intent handed to execute_lane) -> intent 'reconciled' (ledger stamps)",
            "median_s": a, "all_s": [round(r["open_to_reconciled_s"], 4) for r in measured_x],
            "stage_medians_s": stage_medians,
            "submit_to_reconciled_median_s": median(measured_x, "submit_to_reconciled_s"),
            "submit_to_reconciled_all_s": [round(r["submit_to_reconciled_s"], 4) for r in measured_x],
            "submit_to_snapshotted_executing_all_s": [r["before_s"] for r in measured_x],
            "run_events": sorted({k for r in measured_x for k in r["events"]})},
        "floor": {
            "what": "read at head + quote + build_open + sign, send_raw, receipt (1 ms poll), confirmation depth",
            "median_s": b, "all_s": [round(r["floor_s"], 4) for r in measured_f],
            "parts_median_s": {k: median(measured_f, k)
                               for k in ("read_build_sign_s", "send_to_receipt_s", "depth_wait_s")}},
        "ratio_to_floor": round(a / b, 2),
        "warmup": {"crosshedge_s": round(cross[0]["open_to_reconciled_s"], 4),
                   "floor_s": round(floor[0]["floor_s"], 4)},
    }


def rounds(m: Market, app: Any, key: bytes, args: argparse.Namespace,
           fees: dict[str, int]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Round 0 (the warm-up) and ``args.trades`` measured rounds, alternating short and long: crosshedge, then the
    floor, of the same order; each round's figures go to stderr as it ends."""
    confirmations = m.ctx.config.chains[m.chain].confirmations
    cross: list[dict[str, Any]] = []
    floor: list[dict[str, Any]] = []
    for i in range(args.trades + 1):
        side = Side.SELL if i % 2 == 0 else Side.BUY
        cross.append(crosshedge_trade(m, app, f"perp-fill-{i}", side, args.base))
        floor.append(floor_trade(m, key, side, args.base, confirmations, fees))
        print(json.dumps({"round": i, "side": side.value, "crosshedge_s": round(cross[-1]["open_to_reconciled_s"], 4),
                          "stages_s": cross[-1]["stages_s"], "before_s": cross[-1]["before_s"],
                          "events": cross[-1]["events"], "floor_s": round(floor[-1]["floor_s"], 4)}),
              file=sys.stderr)
    return cross, floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trades", type=int, default=5, help="measured rounds (after one warm-up round)")
    parser.add_argument("--base", type=float, default=1.0, help="ETH per trade")
    parser.add_argument("--chain", default="arbitrum", help="a devnet chain with a Curie market")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("bench_perp_fill.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="chperpfill") as d:
        tmp = Path(d)
        path = write_config(tmp)
        spec = load_config(path).raw.devnet
        assert spec is not None
        cache_dir = None if CACHE_ENV in os.environ else REPO / ".crosshedge" / "devnet-cache"
        manager = DevnetManager(spec, root=tmp, cache_dir=cache_dir)
        redis: EmbeddedRedis | None = None
        worker: subprocess.Popen[bytes] | None = None
        log_path = tmp / "worker.log"
        try:
            state = manager.up()
            config = resolve_generated(load_config(path))
            redis = EmbeddedRedis(tmp / "redis")
            url = redis.ensure_running()
            wallet = config.wallets[config.chains[args.chain].wallet]
            assert wallet.keystore is not None and wallet.password_file is not None
            key = bytes(Account.decrypt(json.loads(wallet.keystore.read_text()),
                                        wallet.password_file.read_text().strip()))
            ctx = RunContext(config=config, ledger=Ledger(redis_client(url), prefix=config.raw.execution.key_prefix),
                             registry=default_registry())
            entry = next(p for p in config.perps_on(args.chain) if p.name == MARKET)
            assert entry.adapter == "perp_curie", entry.adapter
            w3 = Web3(HTTPProvider(config.chains[args.chain].rpc_url, request_kwargs={"timeout": 30}))
            market = Market(ctx=ctx, chain=args.chain, entry=entry, adapter=ctx.registry.perp("perp_curie"), w3=w3)
            cap = int(config.chains[args.chain].gas.max_gas_price_gwei * 1e9)  # the chain's cap, far above its fee
            fees = {"maxFeePerGas": cap, "maxPriorityFeePerGas": min(cap, 10**7)}
            fund_vault(market, key, fees)
            worker = start_worker(path, url, log_path)
            cross, floor = rounds(market, create_app(config, url), key, args, fees)
            assert key.hex() not in log_path.read_text(errors="replace").lower(), "the key reached the worker log"
            out = summarise(args, config, spec.block_interval_s, str(state.get("cache")), cross, floor)
        finally:
            if worker is not None:
                stop_worker(worker)
            if redis is not None:
                redis.stop()
            manager.down()
    text = json.dumps(out, indent=2)
    print(text)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
