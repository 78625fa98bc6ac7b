"""Trigger-to-reconciled wall time of a run on the 3-chain devnet (real Redis, real Celery worker, anvil automine).

Each round: one run with a given plan of 3 swaps on 3 chains (an exact approval + a swap each: 6 transactions, one
lane per chain), timed from ``start_run`` to the run's ``reconciled`` state in the ledger. Next to it, the floor
measured in the same round: the unavoidable chain work of that run done directly in this process: one snapshot of
every chain (parallel), per lane 2 x (eth_sendRawTransaction + eth_getTransactionReceipt) of pre-signed
transactions (lanes in parallel), and the reconciliation's balance re-read of every chain (parallel).

Usage::

    .venv/bin/python bench/bench_execution.py          # prints one JSON object
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml
from eth_account import Account
from web3.exceptions import TransactionNotFound

from adapters import Side, default_registry
from crosshedge.config import load_config, resolve_generated
from devnet import DevnetManager
from orchestrator import (
    DEFAULT_QUEUE,
    EmbeddedRedis,
    Ledger,
    RunContext,
    RunState,
    approve_tx,
    chain_balances,
    create_app,
    redis_client,
    start_run,
    take_snapshot,
)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the bench shares the integration tests' plan helper (tests/ is not installed)
from tests.integration.orchestrator.helpers import Want, make_plan  # noqa: E402

ROUNDS = 10
PORT_OFFSET = 2600


def setup(tmp: Path) -> tuple[DevnetManager, Path]:
    data = yaml.safe_load((REPO / "chains.yaml").read_text())
    data["devnet"]["state_dir"] = str(tmp / "devnet")
    for chain in data["devnet"]["chains"].values():
        chain["port"] += PORT_OFFSET
        # Depth is the chain's wait, not crosshedge's work: with 1 the run and the floor wait for the same blocks.
        chain["confirmations"] = 1
    data["positions"] = {"inventory": {"adapter": "erc20", "settings": {}}}
    data["execution"] = {**data.get("execution", {}), "redis_dir": str(tmp / "redis"), "metrics_port": 0}
    path = tmp / "chains.yaml"
    path.write_text(yaml.safe_dump(data))
    manager = DevnetManager(load_config(path).raw.devnet, root=tmp)  # type: ignore[arg-type]
    manager.up()
    return manager, path


def wants(i: int) -> list[Want]:
    side = Side.SELL if i % 2 == 0 else Side.BUY
    return [Want("ethereum", "v3_weth_usdc_500", side, 1.0), Want("arbitrum", "v3_weth_usdc_500", side, 1.0),
            Want("base", "v3_weth_usdc_500", side, 1.0)]


def floor_s(ctx: RunContext, key: bytes) -> float:
    """The unavoidable part of one run, done directly: snapshot, 2 sends + receipts per lane, balance re-read."""
    chains = ctx.chains()
    t0 = time.perf_counter()
    take_snapshot(ctx.config, {c: ctx.w3(c) for c in chains}, ctx.registry)

    def lane(chain: str) -> None:
        w3 = ctx.w3(chain)
        settings = ctx.config.chains[chain]
        me = Account.from_key(key)
        nonce = w3.eth.get_transaction_count(me.address, "pending")
        # The sender reads the pending block's base fee too. The cap below is generous on purpose: a devnet chain's
        # base fee can jump back to its configured level within one block (measured on ethereum: 2.7 -> 20 gwei; the
        # cause is not pinned down), and a floor transaction refused as underpriced would time nothing. A cap costs
        # no time.
        base = int(w3.eth.get_block("pending")["baseFeePerGas"])
        token = settings.tokens["USDC"].address
        router = next(v.config.model_dump()["router"] for v in ctx.config.venues_on(chain))
        signed = []
        for k in range(2):  # signing is local; pre-sign so only the round trips are timed
            call = approve_tx(settings.chain_id, token, router, 0)
            tx = {"chainId": settings.chain_id, "nonce": nonce + k, "to": call.to, "data": call.data, "value": 0,
                  "gas": 60_000, "maxFeePerGas": max(base * 2, 200 * 10**9), "maxPriorityFeePerGas": 10**7, "type": 2}
            signed.append(me.sign_transaction(tx))
        for s in signed:
            h = w3.eth.send_raw_transaction(s.raw_transaction)
            while True:  # anvil mines right after the send returns: poll tightly (the floor's receipt wait)
                try:
                    w3.eth.get_transaction_receipt(h)
                    break
                except TransactionNotFound:
                    time.sleep(0.001)

    t1 = time.perf_counter()
    with ThreadPoolExecutor(len(chains)) as pool:
        list(pool.map(lane, chains))
    t2 = time.perf_counter()
    with ThreadPoolExecutor(len(chains)) as pool:
        list(pool.map(lambda c: chain_balances(ctx, c), chains))
    t3 = time.perf_counter()
    return (t1 - t0) + (t2 - t1) + (t3 - t2)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="chbench") as d:
        tmp = Path(d)
        manager, path = setup(tmp)
        redis = EmbeddedRedis(tmp / "redis")
        url = redis.ensure_running()
        config = resolve_generated(load_config(path))
        log = (tmp / "worker.log").open("wb")
        env = {**os.environ, "CROSSHEDGE_REDIS_URL": url}
        worker = subprocess.Popen([str(Path(sys.executable).parent / "crosshedge"), "worker", "--config", str(path),
                                   "--concurrency", "4", "--metrics-port", "0", "-l", "WARNING"],
                                  stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        try:
            wallet = next(iter(config.wallets.values()))
            assert wallet.keystore is not None and wallet.password_file is not None
            key = bytes(Account.decrypt(json.loads(wallet.keystore.read_text()), wallet.password_file.read_text()))
            ctx = RunContext(config=config, ledger=Ledger(redis_client(url)), registry=default_registry())
            app = create_app(config, url)
            times, floors = [], []
            for i in range(ROUNDS + 1):
                plan = make_plan(config, wants(i))
                t0 = time.perf_counter()
                rid = start_run(ctx, kind="bench", run_id=f"bench-{i}", plan_input=plan)
                app.send_task("crosshedge.snapshot", args=[rid], queue=DEFAULT_QUEUE)
                while ctx.ledger.run(rid).state not in (RunState.RECONCILED, RunState.FAILED, RunState.NOOP):
                    time.sleep(0.005)
                elapsed = time.perf_counter() - t0
                assert ctx.ledger.run(rid).state is RunState.RECONCILED
                fl = floor_s(ctx, key)
                if i > 0:  # round 0 warms the worker's connections and imports
                    times.append(elapsed)
                    floors.append(fl)
            median, floor = statistics.median(times), statistics.median(floors)
            venues = sum(len(ctx.config.venues_on(c)) for c in ctx.chains())
            print(json.dumps({
                "benchmark": "trigger_to_reconciled", "chains": len(ctx.chains()), "venues": venues,
                "transactions_per_run": 6, "rounds": ROUNDS, "median_s": round(median, 4),
                "min_s": round(min(times), 4), "max_s": round(max(times), 4), "floor_median_s": round(floor, 4),
                "ratio_to_floor": round(median / floor, 2), "goal_s": 2.0, "goal_ratio": 1.5,
                "meets_goals": median <= 2.0 and median / floor <= 1.5,
            }))
        finally:
            worker.terminate()
            worker.wait(timeout=20)
            redis.stop()
            manager.down()


if __name__ == "__main__":
    main()
