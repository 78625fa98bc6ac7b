"""A bounded chaos soak: two dozen runs through the real worker while it is killed, Redis restarts, mining stops,
one block is reorganised away and the operator's key sends a transaction of its own.

Then an independent check from chain data alone (every block of every chain scanned for the operator's
transactions, ERC20 ``Transfer`` logs decoded here, not by crosshedge): no intent landed twice, none was lost, every
transaction on chain is one the ledger (or the test) sent, nonces are contiguous, every fill and every gas cost in
the ledger equals the chain's to the wei, balances moved by exactly what the ledger booked, and every run ended.

The schedule of faults is drawn from a seeded generator (``CROSSHEDGE_CHAOS_SEED`` replays another); the timing
within a run is the machine's, which is the point. Nothing is mocked.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from adapters import Side
from orchestrator import TERMINAL_RUN_STATES, IntentKind, IntentRecord, IntentState, RunState
from tests.integration.orchestra import Orchestra
from tests.integration.orchestrator.helpers import Want, make_plan

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEED = int(os.environ.get("CROSSHEDGE_CHAOS_SEED", "20261201"))
TRANSFER_TOPIC = Web3.keccak(text="Transfer(address,address,uint256)").hex().removeprefix("0x")
ERC20_BALANCE_OF = [{"name": "balanceOf", "type": "function", "stateMutability": "view",
                     "inputs": [{"name": "a", "type": "address"}], "outputs": [{"name": "", "type": "uint256"}]}]

# Small trades on every chain, each followed by its reverse on the same venue: neither inventory nor the pools drift
# across the soak (a pool pushed away from the others would rightly trip the venue-deviation breaker).
TRADES = [Want(chain, venue, side, size) for chain, venue, size in [
    ("ethereum", "v3_weth_usdc_500", 0.4), ("arbitrum", "v2_weth_usdc", 0.3), ("base", "v3_weth_usdc_500", 0.3),
    ("ethereum", "v2_weth_usdc", 0.4), ("arbitrum", "v3_weth_usdc_500", 0.5), ("base", "v2_weth_usdc", 0.1),
] for side in (Side.SELL, Side.BUY)]
# One fault per run. Two whole-worker kills only: each holds its lanes for the lease TTL before they resume.
FAULTS = (["child_kill"] * 6 + ["worker_kill"] * 2 + ["redis_restart"] * 4 + ["mining_pause"] * 5
          + ["crash:before_sign", "crash:after_sign", "crash:after_broadcast", "crash:before_book"]
          + ["reorg", "external_nonce", "none"])


@dataclass
class Soak:
    orch: Orchestra
    rng: random.Random
    operator: str
    start_blocks: dict[str, int]
    run_ids: list[str] = field(default_factory=list)
    external: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # chain -> tx hashes
    log: list[str] = field(default_factory=list)

    def rpc(self, chain: str, method: str, params: list[Any]) -> Any:
        return self.orch.w3(chain).provider.make_request(method, params)  # type: ignore[arg-type]

    def kill_a_child(self) -> None:
        assert self.orch.worker is not None
        found = subprocess.run(["pgrep", "-P", str(self.orch.worker.pid)], check=False, capture_output=True,
                               text=True)
        children = found.stdout.split()
        if children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(self.rng.choice(children)), signal.SIGKILL)

    def pause_mining(self, chain: str, seconds: float) -> None:
        self.rpc(chain, "evm_setAutomine", [False])  # the block producer waits while automine is off
        time.sleep(seconds)
        self.rpc(chain, "evm_setAutomine", [True])
        self.rpc(chain, "evm_mine", [])

    def send_external(self, chain: str) -> None:
        """A zero-value self-transfer signed with the operator's key outside crosshedge (a second tool, a human)."""
        w3 = self.orch.w3(chain)
        me = Account.from_key(self.orch.private_key_hex)
        base_fee = int(w3.eth.get_block("latest")["baseFeePerGas"])
        signed = me.sign_transaction({
            "chainId": self.orch.config.chains[chain].chain_id, "to": me.address, "value": 0, "gas": 21_000,
            "nonce": w3.eth.get_transaction_count(me.address, "pending"), "maxFeePerGas": base_fee * 3 + 10**9,
            "maxPriorityFeePerGas": 10**9, "type": 2})
        tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
        self.external[chain].add(Web3.to_hex(tx_hash))

    def reorg_an_included_swap(self, rid: str, chain: str) -> None:
        """Mine by hand, one block per transaction sent, until the run's swap is included (one block deep, below
        its depth), then replace that block."""
        ledger = self.orch.ledger()

        def in_state(kind: IntentKind, state: IntentState) -> IntentRecord | None:
            return next((r for r in ledger.intents(rid) if r.spec.kind is kind and r.state is state), None)

        self.orch.wait_for(lambda: in_state(IntentKind.APPROVE, IntentState.SENT), timeout_s=60, what="approval")
        self.rpc(chain, "evm_mine", [])
        self.orch.wait_for(lambda: in_state(IntentKind.SWAP, IntentState.SENT), timeout_s=60, what="swap sent")
        self.rpc(chain, "evm_mine", [])
        self.orch.wait_for(lambda: in_state(IntentKind.SWAP, IntentState.INCLUDED), timeout_s=60, what="included")
        assert self.rpc(chain, "anvil_reorg", [1, []]).get("error") is None
        self.orch.wait_for(lambda: any(e.kind == "reorg" for e in ledger.events(rid)), timeout_s=60,
                           what=f"run {rid}'s reorg noticed")
        self.rpc(chain, "evm_setAutomine", [True])
        self.rpc(chain, "evm_mine", [])

    def one_run(self, index: int, fault: str) -> None:
        want = TRADES[index % len(TRADES)]
        if fault == "external_nonce":
            self.send_external(want.chain)
        if fault == "reorg":
            want = TRADES[0]  # ethereum: 3 blocks deep before booking, so a 1-block reorg is below the depth
            self.rpc(want.chain, "evm_setAutomine", [False])
        if fault.startswith("crash:"):
            self.orch.arm(fault.removeprefix("crash:"))
        rid = self.orch.submit(make_plan(self.orch.config, [want]), f"chaos-{SEED}-{index:02d}")
        self.run_ids.append(rid)
        if fault != "reorg":
            time.sleep(self.rng.uniform(0.0, 1.5))  # the fault lands somewhere in the run, wherever that is
        if fault == "child_kill":
            self.kill_a_child()
        elif fault == "worker_kill":
            self.orch.kill_worker_tree()
            self.orch.restart_worker()
        elif fault == "redis_restart":
            self.orch.redis.restart()
        elif fault == "mining_pause":
            self.pause_mining(want.chain, self.rng.uniform(1.0, 4.0))
        elif fault == "reorg":
            self.reorg_an_included_swap(rid, want.chain)
        run = self.orch.wait_run(rid, timeout_s=180)
        if fault.startswith("crash:"):  # a point this run never reached must not fire in the next one
            (self.orch.crash_dir / fault.removeprefix("crash:")).unlink(missing_ok=True)
        note = "" if run.state is RunState.RECONCILED else f" ({run.error}; events: {self.orch.ledger().events(rid)})"
        self.log.append(f"{rid}: {fault} -> {run.state}{note}")


def operator_transactions(orch: Orchestra, chain: str, operator: str, start: int) -> list[dict[str, Any]]:
    """Every transaction the operator's address sent in blocks after ``start`` on the canonical chain."""
    w3 = orch.w3(chain)
    found = []
    for number in range(start + 1, int(w3.eth.block_number) + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        txs: list[Any] = list(block["transactions"])  # full transactions (dicts), not hashes
        for tx in txs:
            if str(tx["from"]).lower() == operator:
                found.append({"hash": Web3.to_hex(tx["hash"]), "nonce": int(tx["nonce"]), "block": number,
                              "block_hash": Web3.to_hex(block["hash"])})
    return found


def transfers(receipt: Any) -> list[tuple[str, str, str, int]]:
    """(token, from, to, amount) of every ERC20 Transfer log in a receipt, decoded from the raw topics."""
    out = []
    for log in receipt["logs"]:
        topics = [Web3.to_hex(t).removeprefix("0x") for t in log["topics"]]
        if len(topics) == 3 and topics[0] == TRANSFER_TOPIC:
            out.append((str(log["address"]).lower(), "0x" + topics[1][-40:], "0x" + topics[2][-40:],
                        int(Web3.to_hex(log["data"]), 16)))
    return out


def balances(orch: Orchestra, chain: str, operator: str, block: int) -> dict[str, int]:
    w3 = orch.w3(chain)
    who = Web3.to_checksum_address(operator)
    out = {"native": int(w3.eth.get_balance(who, block_identifier=block))}
    for token in orch.config.chains[chain].tokens.values():
        contract = w3.eth.contract(address=Web3.to_checksum_address(token.address), abi=ERC20_BALANCE_OF)
        out[token.address.lower()] = int(contract.functions.balanceOf(who).call(block_identifier=block))
    return out


def audit(soak: Soak) -> dict[str, int]:
    """The independent check; returns what it counted (for the failure message and the test's own floor)."""
    ledger = soak.orch.ledger()
    runs = [ledger.run(rid) for rid in soak.run_ids]
    children = [r for r in ledger.runs(limit=500) if r.parent in set(soak.run_ids)]  # follow-ups of soak runs
    assert all(r.state in TERMINAL_RUN_STATES for r in [*runs, *children]), [(r.id, r.state) for r in runs]
    records = [rec for run in [*runs, *children] for rec in ledger.intents(run.id)]
    counts: Counter[str] = Counter()
    for chain in soak.orch.config.chains:
        counts.update(audit_chain(soak, chain, [r for r in records if r.spec.chain == chain]))
    counts["reconciled_runs"] = sum(1 for r in runs if r.state is RunState.RECONCILED)
    return dict(counts)


def gas_paid(w3: Web3, tx_hash: str) -> int:
    receipt = w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    return int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])


def audit_chain(soak: Soak, chain: str, mine: list[IntentRecord]) -> Counter[str]:
    orch, me, start = soak.orch, soak.operator, soak.start_blocks[chain]
    w3 = orch.w3(chain)
    on_chain = operator_transactions(orch, chain, me, start)
    by_hash = {tx["hash"]: tx for tx in on_chain}
    attempt_owner = {a.tx_hash: r for r in mine for a in r.attempts}
    # Every transaction on chain is one the ledger signed, or the test's own external one.
    strangers = [h for h in by_hash if h not in attempt_owner and h not in soak.external[chain]]
    assert not strangers, f"{chain}: transactions on chain the ledger never signed: {strangers}"
    # Nonces on chain are contiguous from where the soak began.
    nonces = sorted(tx["nonce"] for tx in on_chain)
    first = int(w3.eth.get_transaction_count(Web3.to_checksum_address(me), start))
    assert nonces == list(range(first, first + len(nonces))), f"{chain}: nonces {nonces}"
    counts: Counter[str] = Counter(transactions=len(on_chain))
    token_delta: Counter[str] = Counter()
    for r in mine:
        counts.update(audit_intent(w3, me, r, by_hash, token_delta))
    # Gas: what the chain charged the operator is what the ledger booked, plus the external transactions'.
    gas_on_chain = sum(gas_paid(w3, tx["hash"]) for tx in on_chain)
    gas_booked = sum(r.gas_cost_wei for r in mine)
    external_gas = sum(gas_paid(w3, h) for h in soak.external[chain])
    assert gas_on_chain == gas_booked + external_gas, f"{chain}: chain {gas_on_chain} wei, ledger {gas_booked}"
    # Balances moved by exactly what the ledger booked.
    before, after = balances(orch, chain, me, start), balances(orch, chain, me, int(w3.eth.block_number))
    assert after["native"] - before["native"] == -gas_on_chain, f"{chain}: native balance"
    for token, amount in before.items():
        if token != "native":
            assert after[token] - amount == token_delta[token], f"{chain}: {token} moved {after[token] - amount}"
    return counts


def audit_intent(w3: Web3, me: str, r: IntentRecord, by_hash: dict[str, dict[str, Any]],
                 token_delta: Counter[str]) -> Counter[str]:
    """No intent twice, none lost: a signed intent has exactly one landed transaction, the one it booked; its fill
    equals the receipt's own Transfer logs to the wei."""
    counts: Counter[str] = Counter()
    landed = [a.tx_hash for a in r.attempts if a.tx_hash in by_hash]
    if not r.attempts or r.state is IntentState.SKIPPED:
        assert not landed, f"{r.spec.id} ({r.state}) has a transaction on chain: {landed}"
        assert r.gas_cost_wei == 0, f"{r.spec.id} ({r.state}) booked gas without a transaction"
        return counts
    assert len(landed) == 1, f"{r.spec.id} ({r.state}): landed {landed}"
    assert r.receipt is not None and r.receipt.tx_hash == landed[0], f"{r.spec.id}: {r.receipt}"
    tx = by_hash[landed[0]]
    assert (r.receipt.block_number, r.receipt.block_hash) == (tx["block"], tx["block_hash"]), r.spec.id
    assert r.nonce == tx["nonce"], f"{r.spec.id}: ledger nonce {r.nonce}, chain {tx['nonce']}"
    assert r.gas_cost_wei == gas_paid(w3, landed[0]), r.spec.id
    counts[f"{r.spec.kind.value}s"] += 1
    if r.fill is not None:
        assert r.fill.tx_hash == landed[0], r.spec.id
        moved = transfers(w3.eth.get_transaction_receipt(landed[0]))  # type: ignore[arg-type]
        token_in, token_out = r.spec.token_in.lower(), (r.spec.token_out or "").lower()
        paid = sum(a for t, src, _, a in moved if t == token_in and src == me)
        got = sum(a for t, _, dst, a in moved if t == token_out and dst == me)
        assert (r.fill.amount_in_raw, r.fill.amount_out_raw) == (paid, got), f"{r.spec.id}: {moved}"
        token_delta[token_in] -= r.fill.amount_in_raw
        token_delta[token_out] += r.fill.amount_out_raw
        counts["fills"] += 1
    return counts


def test_a_chaos_soak_ends_with_the_ledger_equal_to_the_chain(fresh: Orchestra) -> None:
    rng = random.Random(SEED)
    me = next(iter(fresh.config.wallets.values())).address.lower()
    starts = {c: int(fresh.w3(c).eth.block_number) for c in fresh.config.chains}
    soak = Soak(orch=fresh, rng=rng, operator=me, start_blocks=starts)
    faults = list(FAULTS)
    rng.shuffle(faults)
    for index, fault in enumerate(faults):
        soak.one_run(index, fault)
    counted = audit(soak)
    summary = f"seed {SEED}: {counted}\n" + "\n".join(soak.log)
    assert len(soak.run_ids) >= 20, summary
    # The faults are all ones the design recovers from: every run ends reconciled, each trade filled once.
    assert counted["reconciled_runs"] == len(soak.run_ids), summary
    assert counted.get("fills", 0) == counted.get("swaps", 0) >= len(soak.run_ids), summary
    print(summary)  # shown with -rP: what the soak did and what the audit counted
