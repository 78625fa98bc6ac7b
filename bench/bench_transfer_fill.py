"""Benchmark: deposit -> fill wall time on the devnet's bridge, next to the relayer's configured delay.

Brings a devnet up (from the deployment cache when it has one, on ports beside a running demo or test session),
then for each relayer delay restarts the devnet's relayer (devnet.relayer) with it and makes ``--deposits`` USDC
deposits ethereum -> base, each built by the ``across`` adapter from the generated config's route and sent from the
devnet's trader. The time is from the deposit's receipt to the destination's ``FilledRelay`` log for it (polled every
20 ms). The relayer fills ``delay`` seconds after the deposit's block *timestamp* (whole seconds on anvil), so the
floor is the delay less up to one second, plus the fill's own mining. Prints JSON.

Usage: .venv/bin/python bench/bench_transfer_fill.py [--delays 0.5,2,4] [--deposits 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import yaml
from web3 import Web3
from web3.types import TxParams

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters import default_registry
from crosshedge.config import GENERATED_CONFIG, DevnetSpec, load_config, resolve_generated
from devnet import DevnetManager, load_artifact, start_relayer
from orchestrator import transfer_routes

REPO = Path(__file__).resolve().parents[1]
FILLED_RELAY = "0x" + bytes(Web3.keccak(text="FilledRelay(bytes32,bytes32,uint256,uint256,uint256,uint256,uint256,"
                                             "uint32,uint32,bytes32,bytes32,bytes32,bytes32,bytes32,"
                                             "(bytes32,bytes32,uint256,uint8))")).hex()
TX = {"maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9}


def one_deposit(w3o: Web3, w3d: Web3, route: Any, trader: str, recipient: str, spoke_d: str) -> float:
    adapter = default_registry().transfer("across")
    quote = adapter.quote(route, 1_000 * 10**6)
    token = w3o.eth.contract(address=Web3.to_checksum_address(route.token_in.address),
                             abi=load_artifact("ERC20PresetMinterPauser").abi)
    spender = adapter.contracts(route.origin).spender
    w3o.eth.wait_for_transaction_receipt(token.functions.approve(spender, quote.amount_in_raw).transact(
        cast(TxParams, {**TX, "from": trader})))
    now = int(w3o.eth.get_block("latest")["timestamp"])
    tx = adapter.build_deposit(route, quote, depositor=trader, recipient=recipient, quote_timestamp=now,
                               fill_deadline=now + quote.fill_deadline_s)
    from_block = w3d.eth.block_number
    sent = w3o.eth.send_transaction(cast(TxParams, {**TX, "from": trader, "to": tx.to, "data": tx.data,
                                                    "gas": 300_000}))
    receipt = w3o.eth.wait_for_transaction_receipt(sent)
    started = time.perf_counter()
    d = adapter.parse_deposit(route, receipt)
    topic = "0x" + d.deposit_id.to_bytes(32, "big").hex()
    while time.perf_counter() - started < 60:
        logs = w3d.eth.get_logs({"address": Web3.to_checksum_address(spoke_d), "fromBlock": from_block,
                                 "topics": [FILLED_RELAY, None, topic]})
        if logs:
            return time.perf_counter() - started
        time.sleep(0.02)
    raise RuntimeError("no fill within 60 s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delays", default="0.5,2,4")
    parser.add_argument("--deposits", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("bench_transfer_fill.json"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = yaml.safe_load((REPO / "chains.yaml").read_text())
        data["devnet"]["state_dir"] = str(Path(tmp) / "devnet")
        for chain in data["devnet"]["chains"].values():
            chain["port"] += 3100
        config_path = Path(tmp) / "chains.yaml"
        config_path.write_text(yaml.safe_dump(data, sort_keys=False))
        spec = DevnetSpec.model_validate(data["devnet"])
        manager = DevnetManager(spec, root=Path(tmp))
        try:
            state = manager.up()
            config = resolve_generated(load_config(config_path))
            assert (manager.state_dir / GENERATED_CONFIG).exists()
            route = next(r for r in transfer_routes(config, default_registry()) if r.key == "ethereum->base/USDC")
            w3o, w3d = (Web3(Web3.HTTPProvider(config.chains[c].rpc_url)) for c in ("ethereum", "base"))
            trader = state["chains"]["ethereum"]["accounts"]["trader"]
            spoke_d = state["chains"]["base"]["across"]["spoke_pool"]
            for delay in (float(x) for x in args.delays.split(",")):
                start_relayer(manager.state_dir, delay_s=delay, fill=True)
                time.sleep(1.0)  # the relayer's first scan
                times = [one_deposit(w3o, w3d, route, trader, trader, spoke_d) for _ in range(args.deposits)]
                rows.append({"relayer_delay_s": delay, "deposits": len(times),
                             "fill_wall_s_median": round(statistics.median(times), 3),
                             "fill_wall_s_all": [round(t, 3) for t in times],
                             "median_minus_delay_s": round(statistics.median(times) - delay, 3)})
                print(json.dumps(rows[-1]))
        finally:
            manager.down()
    out = {"benchmark": "deposit_to_fill", "route": "ethereum->base/USDC", "rows": rows,
           "note": "fills are due delay s after the deposit's block timestamp (whole seconds)"}
    args.out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
