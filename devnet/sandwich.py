"""A sandwich searcher for the devnet: it watches a chain's public mempool and sandwiches the Uniswap swaps it can.

The devnet's stand-in for the MEV bots that read every public mempool. It polls ``txpool_content``; each pending
``SwapRouter.exactInputSingle`` or ``UniswapV2Router02.swapExactTokensForTokens`` (calldata decoded with eth_abi) is
a candidate, and for each it does what a searcher does, through the real routers:

1. **Size the front-run**: the largest input in the victim's direction after which the victim's own call still
   succeeds, i.e. still gets its ``amountOutMinimum`` (bisection over ``eth_simulateV1`` bundles [front-run,
   victim] on the latest state), capped by the searcher's inventory. That is the most a sandwich can take.
2. **Price it**: [front-run, victim, back-run] simulated together at that size and a few smaller ones; the back-run
   sells everything the front-run bought. Profit is the back-run's output less the front-run's input, gas is
   priced at the next base fee plus tip, both in USD from the devnet's pools. The best size is sent only when it
   pays for its gas (and ``min_profit_usd``); a price-limited victim (``sqrtPriceLimitX96``) is left alone (a
   front-run only makes it fill less).
3. **Order it**: the front-run bids a higher fee cap and tip than the victim, the back-run a lower fee cap and no
   tip, so a block ordered by fee holds front-run, victim, back-run (anvil orders its pool by fee cap, a builder by
   tip; both agree on these bids). The front-run's minimum is its simulated output, the back-run's its input: a
   bundle that lands out of order reverts instead of trading at a loss.
4. **Book it**: after the block it checks the order and logs the victim's actual output and its own profit.

A swap is acted on once it is listed at two consecutive polls, and counts as seen only if it is still pending once
its bundle is prepared: anvil lists a transaction while it seals the block that holds it (a few milliseconds), and
one glimpsed then is gone by the next poll; it is logged as ``late``, never sandwiched (nothing sent after it can
be ordered before it).

It logs one JSON object per line on stdout: ``ready``, ``watching`` (heartbeat: polls, head), ``seen``, ``skip``
(with the reason), ``sandwich``, ``landed``, ``late``, ``error``, ``stopped`` (it exits once the node has not
answered for a minute: started detached, it must not outlive the devnet).

Devnet only: the searcher is an unlocked anvil dev account (``eth_sendTransaction``, as the market driver trades);
its capital is wrapped ETH and tokens minted by the devnet's deployer (the tokens' minter).

Usage::

    bot = start_searcher(SearcherOptions(name="arbitrum", rpc_url=url, state_file=state_dir / "state.json",
                                         chain="arbitrum", account=w3.eth.accounts[3], fund=True), state_dir)
    events = read_events(bot.log)      # [{"event": "ready", ...}, {"event": "sandwich", "victim": "0x..."}, ...]
    stop_searcher("arbitrum", state_dir)

    python -m devnet.sandwich --rpc URL --state .crosshedge/devnet/state.json --chain arbitrum --account 0x.. --fund
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_abi.abi import decode, encode
from eth_abi.exceptions import DecodingError
from web3 import Web3

from crosshedge import RpcError
from devnet.relay import DevnetProcess, JsonRpcClient, process_running, spawn, stop_process

EXACT_INPUT_SINGLE = "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"
EXACT_INPUT_TYPE = "(address,address,uint24,address,uint256,uint256,uint256,uint160)"
SWAP_EXACT_TOKENS = "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)"
SWAP_EXACT_TYPES = ("uint256", "uint256", "address[]", "address", "uint256")
TRANSFER_TOPIC = Web3.to_hex(Web3.keccak(text="Transfer(address,address,uint256)"))
MAX_UINT = 2**256 - 1


def selector(signature: str) -> bytes:
    return bytes(Web3.keccak(text=signature)[:4])


def _call_data(signature: str, types: list[str], values: list[Any]) -> str:
    return "0x" + (selector(signature) + encode(types, values)).hex()


@dataclass(frozen=True)
class PendingSwap:
    """A pending router swap, decoded from its calldata."""

    hash: str
    sender: str
    nonce: int
    router: str
    kind: str  # "v3" (SwapRouter.exactInputSingle) or "v2" (Router02.swapExactTokensForTokens)
    token_in: str
    token_out: str
    fee: int  # pips (V3); 3000 for V2
    amount_in: int
    min_out: int
    recipient: str
    price_limit: int  # sqrtPriceLimitX96 (V3); 0 for V2
    max_fee: int
    tip: int
    data: str

    @property
    def pool_key(self) -> tuple[str, str, str, int]:
        a, b = sorted((self.token_in, self.token_out))
        return self.router, a, b, self.fee


def decode_swap(tx: Mapping[str, Any], routers: Mapping[str, str]) -> PendingSwap | None:
    """The swap a pending transaction (as txpool_content lists it) makes, or None if it is not one we can read."""
    to = tx.get("to")
    if not isinstance(to, str) or not Web3.is_address(to) or Web3.to_checksum_address(to) not in routers:
        return None
    router = Web3.to_checksum_address(to)
    kind, data = routers[router], bytes.fromhex(str(tx.get("input") or "0x")[2:])
    try:
        if kind == "v3" and data[:4] == selector(EXACT_INPUT_SINGLE):
            ((token_in, token_out, fee, recipient, _, amount_in, min_out, limit),) = decode([EXACT_INPUT_TYPE],
                                                                                            data[4:])
        elif kind == "v2" and data[:4] == selector(SWAP_EXACT_TOKENS):
            amount_in, min_out, path, recipient, _ = decode(list(SWAP_EXACT_TYPES), data[4:])
            if len(path) != 2:
                return None  # multi-hop: not sized here
            (token_in, token_out), fee, limit = path, 3000, 0
        else:
            return None
    except DecodingError:
        return None
    gas_price = int(tx.get("gasPrice") or "0x0", 16)
    return PendingSwap(
        hash=str(tx["hash"]), sender=Web3.to_checksum_address(tx["from"]), nonce=int(tx["nonce"], 16), router=router,
        kind=kind, token_in=Web3.to_checksum_address(token_in), token_out=Web3.to_checksum_address(token_out),
        fee=int(fee), amount_in=int(amount_in), min_out=int(min_out), recipient=Web3.to_checksum_address(recipient),
        price_limit=int(limit), max_fee=int(tx.get("maxFeePerGas") or hex(gas_price), 16),
        tip=int(tx.get("maxPriorityFeePerGas") or hex(gas_price), 16), data="0x" + data.hex())


def swap_call(kind: str, router: str, sender: str, token_in: str, token_out: str, fee: int, amount_in: int,
              min_out: int, deadline: int) -> dict[str, str]:
    """A call of the router's exact-input swap (the same entry points the victims use)."""
    if kind == "v3":
        data = _call_data(EXACT_INPUT_SINGLE, [EXACT_INPUT_TYPE],
                          [(token_in, token_out, fee, sender, deadline, amount_in, min_out, 0)])
    else:
        data = _call_data(SWAP_EXACT_TOKENS, list(SWAP_EXACT_TYPES),
                          [amount_in, min_out, [token_in, token_out], sender, deadline])
    return {"from": sender, "to": router, "data": data}


def transferred(receipt: Mapping[str, Any], token: str, to: str) -> int:
    """The sum of ``token``'s ERC20 Transfer events to ``to`` in a receipt."""
    topic = "0x" + "00" * 12 + to[2:].lower()
    return sum(int(log["data"], 16) for log in receipt.get("logs", [])
               if log["address"].lower() == token.lower() and len(log["topics"]) == 3
               and log["topics"][0] == TRANSFER_TOPIC and log["topics"][2].lower() == topic)


@dataclass(frozen=True)
class Bundle:
    """A priced sandwich of one victim at one front-run size."""

    front_in: int
    front_out: int
    victim_out: int
    back_out: int
    gas_front: int
    gas_back: int

    @property
    def profit(self) -> int:
        return self.back_out - self.front_in


@dataclass
class Sandwich:
    victim: PendingSwap
    front: str
    back: str
    bundle: Bundle
    sent_at: float


def _print_event(event: dict[str, Any]) -> None:
    print(json.dumps(event, separators=(",", ":")), flush=True)


@dataclass
class Searcher:
    """Watches one chain's public mempool and sandwiches what pays (see the module docstring)."""

    rpc: JsonRpcClient
    chain: dict[str, Any]  # the chain's devnet state: contracts, tokens, venues, accounts
    account: str
    emit: Callable[[dict[str, Any]], None] = _print_event
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
                              "data": _call_data("mint(address,uint256)", ["address", "uint256"], [self.account,
                                                                                                   amount])})
            calls += [{"from": self.account, "to": token["address"],
                       "data": _call_data("approve(address,uint256)", ["address", "uint256"], [r, MAX_UINT])}
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
        calls = [("eth_call", [{"to": t["address"], "data": _call_data("balanceOf(address)", ["address"],
                                                                      [self.account])}, "latest"])
                 for t in tokens.values()]
        return {s: int(r["result"], 16) for s, r in zip(tokens, self.rpc.batch(calls), strict=True)}

    def usd_prices(self) -> dict[str, float]:
        """USD per whole token for every devnet token: USD tokens at 1, the others from a V3 pool against one."""
        tokens: dict[str, Any] = {Web3.to_checksum_address(t["address"]): t for t in self.chain["tokens"].values()}
        prices: dict[str, float] = {a: 1.0 for a, t in tokens.items() if t["underlying"] == "USD"}
        pools = [v["pool"] for v in self.chain["venues"].values() if v["adapter"] == "uniswap_v3"]
        # slot0(), token0(), token1() of every V3 pool, in one round trip
        calls = [("eth_call", [{"to": pool, "data": data}, "latest"]) for pool in pools
                 for data in ("0x3850c7bd", "0x0dfe1681", "0xd21220a7")]
        replies = [r.get("result") or "0x" for r in self.rpc.batch(calls)] if calls else []
        for i in range(0, len(replies), 3):
            slot0, word0, word1 = replies[i:i + 3]
            if min(len(slot0), len(word0), len(word1)) < 66:
                continue  # not a pool's answer
            t0, t1 = (Web3.to_checksum_address("0x" + w[-40:]) for w in (word0, word1))
            if t0 not in tokens or t1 not in tokens:
                continue
            # token1 per token0 in whole units, from sqrtPriceX96
            price = (int(slot0[2:66], 16) / 2**96) ** 2 * 10 ** (tokens[t0]["decimals"] - tokens[t1]["decimals"])
            if price <= 0:
                continue
            if t1 in prices and t0 not in prices:
                prices[t0] = price * prices[t1]
            elif t0 in prices and t1 not in prices:
                prices[t1] = prices[t0] / price
        return prices

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
        verdict = self._plan(swap)
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

    def _plan(self, swap: PendingSwap) -> str | tuple[Bundle, dict[str, Any]]:
        """The best bundle and its numbers, or why there is none."""
        if swap.price_limit:
            return "the swap has a price limit: a front-run would only make it fill less"
        if any(s.victim.pool_key == swap.pool_key for s in self._inflight.values()):
            return "a sandwich on this pool is still in flight"
        prices = self.usd_prices()
        if swap.token_in not in prices or swap.token_out not in prices:
            return "no USD price for its tokens"
        cap = self.balances_of(swap.token_in)
        if cap <= 0:
            return "no inventory of its input token"
        if not self._victim_ok(swap, 0):
            return "the swap reverts even without a front-run"
        front_max = self._largest_front(swap, cap)
        if front_max <= 0:
            return "its minimum output leaves nothing to take"
        base_fee = int(self.rpc.call("eth_getBlockByNumber", "pending", False)["baseFeePerGas"], 16)
        fees = self._bids(swap, base_fee)
        if fees is None:
            return "no fee room under the victim for a back-run"
        best: tuple[float, Bundle] | None = None
        for share in (8, 6, 4, 2, 1):  # the largest size and a few smaller: profit can peak before the cap
            bundle = self._bundle(swap, front_max * share // 8)
            if bundle is None:
                continue
            net = self._net_usd(swap, bundle, prices, fees, base_fee)
            if best is None or net > best[0]:
                best = (net, bundle)
        if best is None:
            return "no bundle simulates cleanly"
        net, bundle = best
        numbers = {"front_max": str(front_max), "net_usd": round(net, 4), "fees": fees}
        if net <= self.min_profit_usd:
            return f"unprofitable: best net ${net:,.4f} (front-run {bundle.front_in} of {front_max} max)"
        return bundle, numbers

    def balances_of(self, token: str) -> int:
        data = _call_data("balanceOf(address)", ["address"], [self.account])
        return int(self.rpc.call("eth_call", {"to": token, "data": data}, "latest"), 16)

    def _simulate(self, calls: list[dict[str, str]]) -> list[dict[str, Any]]:
        result = self.rpc.call("eth_simulateV1", {"blockStateCalls": [{"calls": calls}]}, "latest")
        return list(result[0]["calls"])

    def _out(self, kind: str, call: Mapping[str, Any]) -> int | None:
        if call.get("status") != "0x1":
            return None
        data = bytes.fromhex(call["returnData"][2:])
        return int(decode(["uint256"], data)[0]) if kind == "v3" else int(decode(["uint256[]"], data)[0][-1])

    def _front(self, swap: PendingSwap, amount: int, min_out: int = 0) -> dict[str, str]:
        return swap_call(swap.kind, swap.router, self.account, swap.token_in, swap.token_out, swap.fee, amount,
                         min_out, 2**40)

    def _victim_call(self, swap: PendingSwap) -> dict[str, str]:
        return {"from": swap.sender, "to": swap.router, "data": swap.data}

    def _victim_ok(self, swap: PendingSwap, front_in: int) -> bool:
        """True when the victim's call still succeeds (gets its minimum) after a front-run of ``front_in``."""
        calls = ([self._front(swap, front_in)] if front_in else []) + [self._victim_call(swap)]
        results = self._simulate(calls)
        return all(r.get("status") == "0x1" for r in results)

    def _largest_front(self, swap: PendingSwap, cap: int) -> int:
        """The largest front-run (at most ``cap``) the victim's minimum output survives, to 1e-7 of itself."""
        if self._victim_ok(swap, cap):
            return cap
        lo, hi = 0, min(cap, max(swap.amount_in, 1))
        while hi < cap and self._victim_ok(swap, hi):
            lo, hi = hi, min(cap, hi * 4)
        while hi - lo > max(1, hi // 10**7):
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if self._victim_ok(swap, mid) else (lo, mid)
        return lo

    def _bundle(self, swap: PendingSwap, front_in: int) -> Bundle | None:
        """[front-run, victim, back-run] simulated together at ``front_in``; None if any of them fails."""
        if front_in <= 0:
            return None
        front = self._front(swap, front_in)
        front_out = self._out(swap.kind, self._simulate([front])[0])
        if not front_out:
            return None
        back = swap_call(swap.kind, swap.router, self.account, swap.token_out, swap.token_in, swap.fee, front_out, 0,
                         2**40)
        results = self._simulate([front, self._victim_call(swap), back])
        victim_out, back_out = self._out(swap.kind, results[1]), self._out(swap.kind, results[2])
        if victim_out is None or back_out is None:
            return None
        return Bundle(front_in=front_in, front_out=front_out, victim_out=victim_out, back_out=back_out,
                      gas_front=int(results[0]["gasUsed"], 16), gas_back=int(results[2]["gasUsed"], 16))

    def _bids(self, swap: PendingSwap, base_fee: int) -> dict[str, int] | None:
        """Fee caps and tips that put the front-run before the victim and the back-run after it."""
        front_fee = swap.max_fee + max(1, swap.max_fee // 100)
        front_tip = min(swap.tip + max(1, swap.tip // 100), front_fee)
        back_fee = swap.max_fee - 1
        if back_fee < base_fee:
            return None
        return {"front_max_fee": front_fee, "front_tip": front_tip, "back_max_fee": back_fee, "back_tip": 0}

    def _net_usd(self, swap: PendingSwap, bundle: Bundle, prices: Mapping[str, float], fees: Mapping[str, int],
                 base_fee: int) -> float:
        decimals = next(t["decimals"] for t in self.chain["tokens"].values()
                        if Web3.to_checksum_address(t["address"]) == swap.token_in)
        profit_usd = bundle.profit / 10 ** int(decimals) * prices[swap.token_in]
        gas_wei = (bundle.gas_front * min(fees["front_max_fee"], base_fee + fees["front_tip"])
                   + bundle.gas_back * min(fees["back_max_fee"], base_fee + fees["back_tip"]))
        weth = Web3.to_checksum_address(self.chain["tokens"]["WETH"]["address"])
        return float(profit_usd - gas_wei / 1e18 * prices[weth])

    def _still_pending(self, swap: PendingSwap) -> bool:
        receipt, count = self.rpc.batch([("eth_getTransactionReceipt", [swap.hash]),
                                         ("eth_getTransactionCount", [swap.sender, "latest"])])
        return receipt.get("result") is None and int(count.get("result") or "0x0", 16) <= swap.nonce

    def _send(self, swap: PendingSwap, bundle: Bundle, numbers: dict[str, Any]) -> None:
        fees = numbers["fees"]
        nonce = int(self.rpc.call("eth_getTransactionCount", self.account, "pending"), 16)
        front = {**self._front(swap, bundle.front_in, min_out=bundle.front_out), "nonce": hex(nonce),
                 "gas": hex(bundle.gas_front * 5 // 4 + 30_000), "maxFeePerGas": hex(fees["front_max_fee"]),
                 "maxPriorityFeePerGas": hex(fees["front_tip"])}
        # The back-run never sells below what the front-run paid: out of order, it reverts instead.
        back = {**swap_call(swap.kind, swap.router, self.account, swap.token_out, swap.token_in, swap.fee,
                            bundle.front_out, bundle.front_in, 2**40),
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


# -- the process -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SearcherOptions:
    name: str  # the pid file is searcher-<name>.json
    rpc_url: str  # the chain's public node
    state_file: Path  # the devnet's state.json (addresses of routers, pools, tokens)
    chain: str
    account: str  # an unlocked dev account that nothing else uses (anvil's 4th: accounts 0-2 have roles)
    poll_s: float = 0.05
    min_profit_usd: float = 0.0
    fund_usd: float = 0.0  # > 0: wrap / mint this much of every token and approve the routers first
    heartbeat_s: float = 1.0  # a `watching` event this often


def start_searcher(opts: SearcherOptions, state_dir: Path) -> DevnetProcess:
    """Start ``python -m devnet.sandwich`` for one chain; its JSON-lines log is the returned process's ``log``."""
    args = ["--rpc", opts.rpc_url, "--state", str(opts.state_file), "--chain", opts.chain, "--account",
            opts.account, "--poll-s", str(opts.poll_s), "--min-profit-usd", str(opts.min_profit_usd),
            "--fund-usd", str(opts.fund_usd), "--heartbeat-s", str(opts.heartbeat_s)]
    return spawn("searcher", opts.name, "devnet.sandwich", args, state_dir)


def searcher_running(name: str, state_dir: Path) -> DevnetProcess | None:
    return process_running("searcher", name, state_dir)


def stop_searcher(name: str, state_dir: Path) -> bool:
    return stop_process("searcher", name, state_dir)


def read_events(log: Path) -> list[dict[str, Any]]:
    """The JSON events of a searcher's (or relay's) log; other lines (a traceback) are skipped."""
    if not log.exists():
        return []
    events = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except ValueError:
                continue  # a line still being written
    return events


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devnet.sandwich", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rpc", required=True, help="the chain's public node")
    parser.add_argument("--state", required=True, type=Path, help="the devnet's state.json")
    parser.add_argument("--chain", required=True)
    parser.add_argument("--account", required=True, help="an unlocked dev account the searcher trades from")
    parser.add_argument("--poll-s", type=float, default=0.05)
    parser.add_argument("--min-profit-usd", type=float, default=0.0)
    parser.add_argument("--fund-usd", type=float, default=0.0)
    parser.add_argument("--heartbeat-s", type=float, default=1.0)
    args = parser.parse_args(argv)
    chain = json.loads(args.state.read_text())["chains"][args.chain]
    searcher = Searcher(JsonRpcClient(args.rpc), chain, args.account, poll_s=args.poll_s,
                        min_profit_usd=args.min_profit_usd, heartbeat_s=args.heartbeat_s)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.fund_usd > 0:
        searcher.fund(args.fund_usd)
    else:
        searcher.log("ready", account=searcher.account, balances=searcher.balances())
    searcher.run(stop)


if __name__ == "__main__":
    main()
