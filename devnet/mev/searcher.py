"""The sandwich searcher's loop: it watches a chain's public mempool, sends the sandwiches that pay, books them.

It polls ``txpool_content``; a router swap it can read (devnet.mev.swap_calls) is acted on once it is listed at two
consecutive polls and is still pending once its bundle is prepared (devnet.mev.sandwich_planner sizes and prices it);
then the front- and back-run are sent from the searcher's unlocked dev account with bids that order them around
the victim, and once all three have receipts the outcome is logged. Its capital (wrapped ETH, tokens minted by the
devnet's deployer) is set up by :meth:`Searcher.fund`.

Usage (what ``python -m devnet.mev.sandwich`` runs; see devnet.mev.sandwich for the whole story)::

    searcher = Searcher(JsonRpcClient(rpc_url), chain_state, account)
    searcher.fund(usd_per_token=50_000)
    searcher.run(stop_event)
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from web3 import Web3

from crosshedge import RpcError
from devnet.mev.jsonrpc import JsonRpcClient
from devnet.mev.processes import print_event
from devnet.mev.sandwich_planner import Bundle, SandwichPlanner, usd_prices
from devnet.mev.swap_calls import PendingSwap, call_data, decode_swap, transferred

MAX_UINT = 2**256 - 1


@dataclass
class Sandwich:
    victim: PendingSwap
    front: str
    back: str
    bundle: Bundle
    sent_at: float



@dataclass
class Searcher:
    """Watches one chain's public mempool and sandwiches what pays (see devnet.mev.sandwich)."""

    rpc: JsonRpcClient
    chain: dict[str, Any]  # the chain's devnet state: contracts, tokens, venues, accounts
    account: str
    emit: Callable[[dict[str, Any]], None] = print_event
    poll_s: float = 0.05
    min_profit_usd: float = 0.0
    heartbeat_s: float = 1.0
    polls: int = 0
    _done: OrderedDict[str, None] = field(default_factory=OrderedDict, repr=False)  # hashes dealt with
    _sighted: dict[str, PendingSwap] = field(default_factory=dict, repr=False)  # swaps listed once so far
    _inflight: dict[str, Sandwich] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.account = Web3.to_checksum_address(self.account)
        c = self.chain["contracts"]
        self.routers: dict[str, str] = {Web3.to_checksum_address(c["swap_router"]): "v3",
                                        Web3.to_checksum_address(c["v2_router"]): "v2"}
        self.planner = SandwichPlanner(self.rpc, self.chain, self.account, self.min_profit_usd)

    def log(self, event: str, **fields: Any) -> None:
        self.emit({"t": round(time.time(), 3), "event": event, **fields})

    # -- capital ---------------------------------------------------------------------------------------------
    def fund(self, usd_per_token: float) -> None:
        """Wrap ETH and have the deployer mint the other tokens (``usd_per_token`` worth each); approve routers."""
        prices, calls = self.usd_prices(), []
        for symbol, token in self.chain["tokens"].items():
            price = prices.get(Web3.to_checksum_address(token["address"]))
            if price is None:
                continue  # a token no pool prices: the searcher cannot value a sandwich in it anyway
            amount = int(usd_per_token / price * 10 ** token["decimals"])
            if symbol == "WETH":
                calls.append({"from": self.account, "to": token["address"], "data": "0xd0e30db0", "value": hex(amount)})
            else:
                calls.append({"from": self.chain["accounts"]["deployer"], "to": token["address"],
                              "data": call_data("mint(address,uint256)", ["address", "uint256"],
                                                [self.account, amount])})
            calls += [{"from": self.account, "to": token["address"],
                       "data": call_data("approve(address,uint256)", ["address", "uint256"], [r, MAX_UINT])}
                      for r in self.routers]
        hashes = [self.rpc.call("eth_sendTransaction", {**c, "gas": hex(200_000)}) for c in calls]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # mined by automine or the devnet's block producer
            receipts = [r.get("result") for r in self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])]
            if all(receipts):
                if any(r is None or r["status"] != "0x1" for r in receipts):
                    raise RpcError(f"node at {self.rpc.url}: a funding transaction of the searcher reverted")
                self.log("ready", account=self.account, balances=self.balances())
                return
            time.sleep(0.1)
        raise RpcError(f"node at {self.rpc.url}: the searcher's funding was not mined within 60 s (mining off?)")

    def balances(self) -> dict[str, int]:
        tokens = self.chain["tokens"]
        calls = [("eth_call", [{"to": t["address"], "data": call_data("balanceOf(address)", ["address"],
                                                                     [self.account])}, "latest"])
                 for t in tokens.values()]
        return {s: int(r["result"], 16) for s, r in zip(tokens, self.rpc.batch(calls), strict=True)}

    def usd_prices(self) -> dict[str, float]:
        """USD per whole token for every devnet token: USD tokens at 1, the others from a V3 pool against one."""
        return usd_prices(self.rpc, self.chain)

    def balances_of(self, token: str) -> int:
        """The searcher's balance of ``token`` (its inventory for a front-run)."""
        return self.planner.balances_of(token)

    # -- watching --------------------------------------------------------------------------------------------
    def run(self, stop: threading.Event, exit_after_s: float = 60.0) -> None:
        """Poll until ``stop``, or until the node has not answered for ``exit_after_s`` (the devnet is gone)."""
        last_beat, gone_since = 0.0, None
        while not stop.is_set():
            started = time.monotonic()
            try:
                head = self.poll_once()
                gone_since = None
            except RpcError as exc:
                self.log("error", error=str(exc))
                gone_since = gone_since or started
                if started - gone_since > exit_after_s:
                    self.log("stopped", reason=f"the node has not answered for {exit_after_s:.0f} s")
                    return
                stop.wait(1.0)
                continue
            if started - last_beat >= self.heartbeat_s:
                last_beat = started
                self.log("watching", polls=self.polls, head=head, inflight=len(self._inflight))
            stop.wait(max(0.0, self.poll_s - (time.monotonic() - started)))

    def poll_once(self) -> int:
        """Read the public pool once, consider what is new, book what landed; returns the head block."""
        pool, head = self.rpc.batch([("txpool_content", []), ("eth_blockNumber", [])])
        if "error" in pool or "error" in head:
            raise RpcError(f"node at {self.rpc.url} refused txpool_content/eth_blockNumber: {pool} {head}")
        self.polls += 1
        pending = [tx for by_nonce in (pool["result"] or {}).get("pending", {}).values() for tx in by_nonce.values()]
        listed = {tx["hash"] for tx in pending}
        for tx_hash in [h for h in self._sighted if h not in listed]:
            # Listed once, gone at the next poll: mined within a poll of appearing (anvil lists a transaction
            # while it seals the block that holds it). Nothing can be ordered before it any more.
            self._forget(tx_hash)
            self.log("late", tx=tx_hash, reason="gone from the pool by the next poll (already in a block)")
        for tx in pending:
            if tx["hash"] in self._done or Web3.to_checksum_address(tx["from"]) == self.account:
                continue
            if tx["hash"] not in self._sighted:
                swap = decode_swap(tx, self.routers)
                if swap is None:
                    self._forget(tx["hash"])
                else:
                    self._sighted[swap.hash] = swap  # acted on if still listed at the next poll
                continue
            swap = self._sighted[tx["hash"]]
            self._forget(swap.hash)
            try:
                self.consider(swap)
            except (RpcError, ValueError, KeyError) as exc:
                self.log("error", tx=swap.hash, error=f"{type(exc).__name__}: {exc}")
        self._book_landed()
        return int(head["result"], 16)

    def _forget(self, tx_hash: str) -> None:
        """Never look at ``tx_hash`` again (bounded: a long-running searcher keeps the last 100,000)."""
        self._sighted.pop(tx_hash, None)
        self._done[tx_hash] = None
        while len(self._done) > 100_000:
            self._done.popitem(last=False)

    # -- one victim ------------------------------------------------------------------------------------------
    def consider(self, swap: PendingSwap) -> None:
        """Size, price and (when it pays) send a sandwich of ``swap``."""
        verdict = self.planner.plan(swap, {s.victim.pool_key for s in self._inflight.values()})
        if not self._still_pending(swap):
            self.log("late", tx=swap.hash, reason="mined before its bundle was ready")
            return
        self.log("seen", tx=swap.hash, sender=swap.sender, kind=swap.kind, token_in=swap.token_in,
                 token_out=swap.token_out, fee=swap.fee, amount_in=str(swap.amount_in), min_out=str(swap.min_out))
        if isinstance(verdict, str):
            self.log("skip", tx=swap.hash, reason=verdict)
            return
        bundle, numbers = verdict
        self._send(swap, bundle, numbers)

    def _still_pending(self, swap: PendingSwap) -> bool:
        receipt, count = self.rpc.batch([("eth_getTransactionReceipt", [swap.hash]),
                                         ("eth_getTransactionCount", [swap.sender, "latest"])])
        return receipt.get("result") is None and int(count.get("result") or "0x0", 16) <= swap.nonce

    def _send(self, swap: PendingSwap, bundle: Bundle, numbers: dict[str, Any]) -> None:
        fees = numbers["fees"]
        nonce = int(self.rpc.call("eth_getTransactionCount", self.account, "pending"), 16)
        front = {**self.planner.front(swap, bundle.front_in, min_out=bundle.front_out), "nonce": hex(nonce),
                 "gas": hex(bundle.gas_front * 5 // 4 + 30_000), "maxFeePerGas": hex(fees["front_max_fee"]),
                 "maxPriorityFeePerGas": hex(fees["front_tip"])}
        # The back-run never sells below what the front-run paid: out of order, it reverts instead.
        back = {**self.planner.back(swap, bundle.front_out, bundle.front_in),
                "nonce": hex(nonce + 1), "gas": hex(bundle.gas_back * 5 // 4 + 30_000),
                "maxFeePerGas": hex(fees["back_max_fee"]), "maxPriorityFeePerGas": hex(fees["back_tip"])}
        front_hash = self.rpc.call("eth_sendTransaction", front)
        back_hash = self.rpc.call("eth_sendTransaction", back)
        self._inflight[swap.hash] = Sandwich(victim=swap, front=front_hash, back=back_hash, bundle=bundle,
                                             sent_at=time.monotonic())
        self.log("sandwich", victim=swap.hash, front=front_hash, back=back_hash, front_in=str(bundle.front_in),
                 front_out=str(bundle.front_out), victim_min_out=str(swap.min_out),
                 victim_out_expected=str(bundle.victim_out), profit_expected=str(bundle.profit),
                 victim_max_fee=swap.max_fee, victim_tip=swap.tip, **numbers)

    def _book_landed(self) -> None:
        """Log the outcome of every sandwich whose three transactions have receipts (or that waited too long)."""
        for victim, s in list(self._inflight.items()):
            replies = self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in (s.front, victim, s.back)])
            front, mined, back = (r.get("result") for r in replies)
            if not (front and mined and back) and time.monotonic() - s.sent_at < 120:
                continue
            del self._inflight[victim]
            spots = [(int(r["blockNumber"], 16), int(r["transactionIndex"], 16)) for r in (front, mined, back) if r]
            # one block, front-run before the victim before the back-run
            ordered = len(spots) == 3 and spots[0] < spots[1] < spots[2] and spots[0][0] == spots[2][0]
            victim_out = transferred(mined, s.victim.token_out, s.victim.recipient) if mined else 0
            back_in = transferred(back, s.victim.token_in, self.account) if back and back["status"] == "0x1" else 0
            self.log("landed", victim=victim, front=s.front, back=s.back, spots=spots, ordered=ordered,
                     statuses=[r["status"] if r else None for r in (front, mined, back)],
                     victim_out=str(victim_out), victim_min_out=str(s.victim.min_out),
                     profit=str(back_in - s.bundle.front_in if back_in else -s.bundle.front_in))


__all__ = ["Sandwich", "Searcher"]
