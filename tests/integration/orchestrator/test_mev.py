"""MEV on the devnet: crosshedge's swaps sent through the public mempool are sandwiched, through the relay they are not.

Real parts: the session devnet's anvil chains (official Uniswap bytecode), the private relay and the sandwich
searcher as processes (``devnet.mev.relay``, ``devnet.mev.sandwich``, each acting through the real contracts), and
crosshedge's real sender: full runs (snapshot, plan, approval and swap intents signed, sent, confirmed, reconciled)
driven in process on the session's embedded Redis, in a ledger namespace of their own so the session's Celery
worker never picks these runs up (it would send with the session's config, which has no relay).

Public blocks are mined by the test: automine is off on the chain, and a block is mined once the searcher has
decided on every pending crosshedge swap (at most ``DECIDE_S``): a block time long enough for a searcher to act, as
a 12 s or 2 s chain gives it, without racing the box's load. Automine is switched back on afterwards (and
``chain_snapshot`` reverts every chain).

"Saw nothing" means no sighting of a pending transaction: anvil lists a transaction in its pool while it seals the
block that holds it (~5 ms), and a searcher polling then may glimpse a relayed one after its block is fixed; it logs
that as ``late`` (never acted on), and the test reports how many there were.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from eth_account import Account
from web3 import Web3

from adapters import Side
from crosshedge.config import Config, load_config
from devnet import (
    STATE_FILE,
    DevnetProcess,
    RelayOptions,
    SearcherOptions,
    read_events,
    start_relay,
    start_searcher,
    stop_relay,
    stop_searcher,
    wait_ready,
)
from orchestrator import (
    IntentKind,
    IntentRecord,
    Ledger,
    RunContext,
    RunReport,
    RunState,
    redis_client,
)
from tests.integration.orchestra import Orchestra
from tests.integration.orchestrator.helpers import Want, assert_ledger_invariants, drive, make_plan

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHAIN = "arbitrum"
# Sandwichable trades: each one's own price impact is large against its pool's fee (a sandwich pays only then),
# one through each router the searcher reads (V3 exactInputSingle, V2 swapExactTokensForTokens), both directions.
WANTS = [Want(CHAIN, "v3_weth_usdc_100", Side.SELL, 10.0), Want(CHAIN, "v2_weth_usdc", Side.BUY, 3.0)]
DECIDE_S = 30.0  # the longest a public block waits for the searcher's decision on a pending swap


def rpc(w3: Web3, method: str, *params: Any) -> Any:
    reply = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in reply, f"{method}: {reply}"
    return reply.get("result")


def wait_for(predicate: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RelayClient:
    """Raw JSON-RPC to the relay: whole replies, errors included."""

    def __init__(self, url: str) -> None:
        self.url = url

    def post(self, body: bytes) -> Any:
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def call(self, method: str, *params: Any) -> dict[str, Any]:
        reply: dict[str, Any] = self.post(json.dumps({"jsonrpc": "2.0", "id": 7, "method": method,
                                                      "params": list(params)}).encode())
        return reply

    def result(self, method: str, *params: Any) -> Any:
        reply = self.call(method, *params)
        assert "error" not in reply, f"{method}: {reply}"
        return reply["result"]

    def status(self, tx_hash: str) -> dict[str, Any]:
        status: dict[str, Any] = self.result("relay_getTransactionStatus", tx_hash)
        return status


@dataclass
class Rig:
    """The chain under test with automine off, its relay, and (when started) the searcher."""

    orch: Orchestra
    w3: Web3
    relay: DevnetProcess
    state_dir: Path
    tmp: Path
    bot: DevnetProcess | None = None

    def relay_client(self) -> RelayClient:
        return RelayClient(self.relay.url)

    def bot_events(self) -> list[dict[str, Any]]:
        assert self.bot is not None
        events: list[dict[str, Any]] = read_events(self.bot.log)
        return events

    def config(self, private: bool) -> Config:
        """The session's config in a ledger namespace of its own; with ``private`` the chain sends via the relay."""
        raw = yaml.safe_load(self.orch.config_path.read_text())
        raw["execution"]["key_prefix"] = f"mev-{uuid.uuid4().hex[:8]}"
        raw["chains"][CHAIN]["confirmations"] = 1  # blocks come only when someone trades here
        if private:
            raw["chains"][CHAIN]["private_rpc_url"] = self.relay.url
        path = self.tmp / f"mev-{'private' if private else 'public'}.chains.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        return load_config(path)


@pytest.fixture
def rig(orch: Orchestra, chain_snapshot: dict[str, str], tmp_path: Path) -> Iterator[Rig]:
    w3 = orch.w3(CHAIN)
    for proxy in orch.proxies.values():
        proxy.mode = ""  # an earlier test may have left its fault armed (`fresh` resets them only at the start)
    state_dir = tmp_path / "mev"
    upstream = orch.devnet.state["chains"][CHAIN]["rpc_url"]
    relay = start_relay(RelayOptions(name=CHAIN, upstream=upstream, port=free_port(), block_time_s=0.25), state_dir)
    the_rig = Rig(orch=orch, w3=w3, relay=relay, state_dir=state_dir, tmp=tmp_path)
    try:
        wait_ready(relay.url, timeout_s=30)
        yield the_rig
    finally:
        stop_searcher(CHAIN, state_dir)
        stop_relay(CHAIN, state_dir)
        rpc(w3, "evm_setAutomine", True)  # the chain's mining mode as the session had it


def start_bot(rig: Rig) -> None:
    """The searcher on the chain's public node, funded while automine is still on; then automine off."""
    accounts = list(rig.w3.eth.accounts)
    state_file = rig.orch.devnet.manager.state_dir / STATE_FILE
    rig.bot = start_searcher(SearcherOptions(name=CHAIN, rpc_url=rig.orch.devnet.state["chains"][CHAIN]["rpc_url"],
                                             state_file=state_file, chain=CHAIN, account=str(accounts[3]),
                                             poll_s=0.02, fund_usd=6_000_000, heartbeat_s=0.2), rig.state_dir)
    wait_for(lambda: any(e["event"] == "ready" for e in rig.bot_events()), 90,
             f"the searcher to fund itself (log: {rig.bot.log})")
    rpc(rig.w3, "evm_setAutomine", False)


class PublicMiner(threading.Thread):
    """Mines the chain's public blocks: as soon as every pending crosshedge swap has the searcher's decision."""

    def __init__(self, rig: Rig, operator: str) -> None:
        super().__init__(daemon=True)
        self.rig, self.operator = rig, Web3.to_checksum_address(operator)
        contracts = rig.orch.devnet.state["chains"][CHAIN]["contracts"]
        self.routers = {Web3.to_checksum_address(contracts[k]) for k in ("swap_router", "v2_router")}
        self.stop = threading.Event()
        self.blocks = 0
        self.pooled: set[str] = set()  # every transaction it found in the public pool
        self.error: BaseException | None = None

    def decided(self, tx_hash: str) -> bool:
        return any(e.get("victim") == tx_hash or (e.get("tx") == tx_hash and e["event"] in ("skip", "late", "error"))
                   for e in self.rig.bot_events())

    def run(self) -> None:
        waiting_since: float | None = None
        try:
            while not self.stop.wait(0.05):
                content = rpc(self.rig.w3, "txpool_content")["pending"]
                txs = [tx for by_nonce in content.values() for tx in by_nonce.values()]
                if not txs:
                    waiting_since = None
                    continue
                self.pooled |= {tx["hash"] for tx in txs}
                victims = [tx["hash"] for tx in txs if Web3.to_checksum_address(tx["from"]) == self.operator
                           and tx.get("to") and Web3.to_checksum_address(tx["to"]) in self.routers]
                waiting_since = waiting_since or time.monotonic()
                if all(self.decided(v) for v in victims) or time.monotonic() - waiting_since > DECIDE_S:
                    rpc(self.rig.w3, "evm_mine")
                    self.blocks += 1
                    waiting_since = None
        except BaseException as exc:  # reported by the test, which joins this thread
            self.error = exc


@dataclass
class Execution:
    run_id: str
    report: RunReport
    records: list[IntentRecord]
    ledger: Ledger
    miner: PublicMiner
    hashes: set[str] = field(default_factory=set)

    def swaps(self) -> list[IntentRecord]:
        return [r for r in self.records if r.spec.kind is IntentKind.SWAP]


def execute(rig: Rig, private: bool) -> Execution:
    """A full crosshedge execution of ``WANTS`` (approval + swap per trade) with public blocks mined meanwhile."""
    config = rig.config(private)
    ledger = Ledger(redis_client(rig.orch.url), prefix=config.raw.execution.key_prefix)
    ctx = RunContext(config=config, ledger=ledger)
    plan = make_plan(config, WANTS, slippage_bps=config.raw.execution.slippage_bps)
    miner = PublicMiner(rig, ctx.wallet_address(CHAIN))
    miner.start()
    try:
        report = drive(ctx, plan, f"mev-{'private' if private else 'public'}-{uuid.uuid4().hex[:6]}")
    finally:
        miner.stop.set()
        miner.join(timeout=10)
    assert miner.error is None, f"the public miner failed: {miner.error!r}"
    records = ledger.intents(report.run_id)
    assert report.state == RunState.RECONCILED.value, report
    assert report.balance_diff == {}, f"the ledger differs from the chain: {report.balance_diff}"
    assert_ledger_invariants(ledger, report.run_id, rig.orch.w3s())
    assert [r.spec.kind for r in records] == [IntentKind.APPROVE, IntentKind.SWAP] * len(WANTS)
    hashes = {a.tx_hash for r in records for a in r.attempts}
    return Execution(run_id=report.run_id, report=report, records=records, ledger=ledger, miner=miner,
                     hashes=hashes)


def loss_bp(record: IntentRecord) -> float:
    assert record.fill is not None, f"{record.spec.id} has no fill"
    expected = record.spec.expected_amount_out_raw
    return (expected - record.fill.amount_out_raw) / expected * 1e4


def test_public_mempool_swaps_are_sandwiched(rig: Rig) -> None:
    start_bot(rig)
    run = execute(rig, private=False)
    slippage = rig.orch.config.raw.execution.slippage_bps
    events = rig.bot_events()
    for swap in run.swaps():
        assert swap.fill is not None and swap.receipt is not None
        tx_hash = swap.receipt.tx_hash
        sandwich = next((e for e in events if e["event"] == "sandwich" and e["victim"] == tx_hash), None)
        landed = next((e for e in events if e["event"] == "landed" and e["victim"] == tx_hash), None)
        assert sandwich is not None, f"{swap.spec.venue}: the searcher did not sandwich {tx_hash}: {events[-8:]}"
        assert landed is not None and landed["ordered"], f"{swap.spec.venue}: not front/victim/back: {landed}"
        assert landed["statuses"] == ["0x1", "0x1", "0x1"] and int(landed["profit"]) > 0, landed
        # What the searcher booked is what crosshedge's ledger booked: the victim got less than its exact quote,
        # and at least its minimum, which held.
        assert int(landed["victim_out"]) == swap.fill.amount_out_raw
        assert swap.spec.min_amount_out_raw <= swap.fill.amount_out_raw < swap.spec.expected_amount_out_raw
        lost = loss_bp(swap)
        one_unit_bp = 1e4 / swap.spec.expected_amount_out_raw  # the minimum is rounded down to a whole raw unit
        assert 0.5 * slippage < lost <= slippage + one_unit_bp, f"{swap.spec.venue}: lost {lost:.4f} bp"
        print(f"public {swap.spec.venue}: lost {lost:.4f} bp to the sandwich (tolerance {slippage} bp); "
              f"searcher profit {int(landed['profit'])} raw {sandwich['front_in']} in")


def test_private_relay_swaps_are_not_sandwiched(rig: Rig) -> None:
    start_bot(rig)
    started = time.time()
    run = execute(rig, private=True)
    ended = time.time()
    # It was watching the public pool while crosshedge executed: its heartbeats (every 0.2 s) during the run
    # show its poll count going up.
    beats = [int(e["polls"]) for e in rig.bot_events() if e["event"] == "watching" and started <= e["t"] <= ended]
    assert len(beats) >= 2 and beats[-1] > beats[0], f"the searcher was not polling during the run: {beats}"
    for swap in run.swaps():
        assert swap.fill is not None
        # Nothing traded against it between the quote and the fill: the exact quote, to the wei.
        assert swap.fill.amount_out_raw == swap.spec.expected_amount_out_raw, (swap.spec.venue, loss_bp(swap))
    relay = rig.relay_client()
    for tx_hash in run.hashes:  # every approval and swap went in a block the relay built
        status = relay.status(tx_hash)
        receipt = rig.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        assert status == {"status": "included", "blockNumber": receipt["blockNumber"]}, (tx_hash, status)
    events = rig.bot_events()
    acted = [e for e in events if e["event"] in ("seen", "skip", "sandwich", "landed", "error")
             and (e.get("tx") in run.hashes or e.get("victim") in run.hashes)]
    assert acted == [], f"the searcher saw a private transaction pending: {acted}"
    late = [e for e in events if e["event"] == "late" and e.get("tx") in run.hashes]
    print(f"private: 0 bp lost; {len(run.hashes)} transactions via the relay, none seen pending by the searcher "
          f"({len(late)} glimpsed by it while their block was being sealed, {len(run.miner.pooled & run.hashes)} by "
          f"the test's 20 Hz pool watcher); {run.miner.blocks} public blocks mined, "
          f"other pool transactions: {sorted(run.miner.pooled - run.hashes)}")



def test_relay_answers_like_a_node_and_holds_transactions_out_of_the_public_pool(rig: Rig) -> None:
    w3, relay = rig.w3, rig.relay_client()
    rpc(w3, "evm_setAutomine", False)  # only the relay mines here
    chain_id = int(w3.eth.chain_id)
    account = Account.create()
    rpc(w3, "anvil_setBalance", account.address, hex(10**20))
    base_fee = int(w3.eth.get_block("pending")["baseFeePerGas"] or 0)

    def signed(nonce: int, max_fee: int = 3 * base_fee + 10**7, tip: int = 10**7, chain: int = chain_id,
               value: int = 1) -> tuple[str, str]:
        tx = account.sign_transaction({"to": "0x" + "11" * 20, "value": value, "gas": 21_000, "nonce": nonce,
                                       "maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip, "chainId": chain,
                                       "type": 2})
        return "0x" + bytes(tx.raw_transaction).hex(), Web3.to_hex(tx.hash)

    def public_pool() -> set[str]:
        content = rpc(w3, "txpool_content")
        return {tx["hash"] for section in ("pending", "queued") for by_nonce in content[section].values()
                for tx in by_nonce.values()}

    # A transaction that cannot enter yet (nonce 1 before 0) is held across builds, never in the public pool.
    first_raw, first_hash = signed(1)
    assert relay.result("eth_sendRawTransaction", first_raw) == first_hash
    assert relay.status(first_hash)["status"] == "pending"
    assert first_hash not in public_pool()
    assert int(relay.result("eth_getTransactionCount", account.address, "pending"), 16) == 2
    # A replacement at the same nonce needs a higher fee cap and tip; a higher one replaces it.
    cheaper, _ = signed(1, max_fee=3 * base_fee + 10**7 - 1)
    refused = relay.call("eth_sendRawTransaction", cheaper)
    assert "replacement transaction underpriced" in refused["error"]["message"], refused
    second_raw, second_hash = signed(1, max_fee=4 * base_fee + 10**7, tip=2 * 10**7)
    assert relay.result("eth_sendRawTransaction", second_raw) == second_hash
    assert relay.status(first_hash)["status"] == "dropped" and second_hash in relay.status(first_hash)["reason"]
    assert not {first_hash, second_hash} & public_pool()
    # Nonce 0 arrives: both go into one block, in nonce order.
    zero_raw, zero_hash = signed(0)
    assert relay.result("eth_sendRawTransaction", zero_raw) == zero_hash
    wait_for(lambda: relay.status(second_hash)["status"] == "included", 30, "the relay to include nonces 0 and 1")
    receipts = [w3.eth.get_transaction_receipt(h) for h in (zero_hash, second_hash)]  # type: ignore[arg-type]
    assert receipts[0]["blockNumber"] == receipts[1]["blockNumber"] == relay.status(zero_hash)["blockNumber"]
    assert receipts[0]["transactionIndex"] < receipts[1]["transactionIndex"]
    assert all(r["status"] == 1 for r in receipts)
    # The same bytes again answer the same hash; what a node refuses, the relay refuses in a node's words.
    assert relay.result("eth_sendRawTransaction", zero_raw) == zero_hash
    refusals = {
        "nonce too low": signed(0, value=2)[0],
        "max fee per gas less than block base fee": signed(2, max_fee=base_fee // 4, tip=0)[0],
        "invalid chain id": signed(2, chain=chain_id + 1)[0],
        "insufficient funds": signed(2, value=10**21)[0],
    }
    for words, raw in refusals.items():
        reply = relay.call("eth_sendRawTransaction", raw)
        assert "error" in reply and words in reply["error"]["message"], (words, reply)
    for bad in ("0x", "0xzz", "0x02f8", "not hex", 7):
        reply = relay.call("eth_sendRawTransaction", bad)
        assert reply["error"]["code"] == -32602, (bad, reply)
    for hidden in ("txpool_content", "eth_sendTransaction", "evm_mine", "anvil_setBalance"):
        assert relay.call(hidden)["error"]["code"] == -32601, hidden
    assert relay.post(b"{not json")["error"]["code"] == -32700
    # Reads are forwarded (a batch too), and the relay never put anything in the public pool.
    batch = relay.post(json.dumps([{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                                   {"jsonrpc": "2.0", "id": 2, "method": "eth_getTransactionCount",
                                    "params": [account.address, "latest"]}]).encode())
    assert [r["result"] for r in sorted(batch, key=lambda r: r["id"])] == [hex(chain_id), "0x2"]
    assert public_pool() == set()
