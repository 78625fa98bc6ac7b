"""Sizing and pricing one sandwich by simulation, on the latest state, before anything is sent.

The searcher (devnet.mev.searcher) hands each pending swap it can read to :meth:`SandwichPlanner.plan`, which answers
the best bundle or why there is none: the largest front-run after which the victim's own call still gets its
minimum (bisection over ``eth_simulateV1`` bundles [front-run, victim]), then [front-run, victim, back-run] priced
at that size and a few smaller ones, net of gas at the next base fee plus tip, in USD from the devnet's V3 pools.

Usage::

    planner = SandwichPlanner(rpc, chain_state, account, min_profit_usd=0.0)
    verdict = planner.plan(swap, busy_pools=set())     # (Bundle, numbers) to send, or the reason to skip
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode
from web3 import Web3

from devnet.mev.jsonrpc import JsonRpcClient
from devnet.mev.swap_calls import PendingSwap, call_data, swap_call

#: A pool as PendingSwap.pool_key names it: (router, token a, token b, fee).
PoolKey = tuple[str, str, str, int]


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


def usd_prices(rpc: JsonRpcClient, chain: Mapping[str, Any]) -> dict[str, float]:
    """USD per whole token for every devnet token: USD tokens at 1, the others from a V3 pool against one."""
    tokens: dict[str, Any] = {Web3.to_checksum_address(t["address"]): t for t in chain["tokens"].values()}
    prices: dict[str, float] = {a: 1.0 for a, t in tokens.items() if t["underlying"] == "USD"}
    pools = [v["pool"] for v in chain["venues"].values() if v["adapter"] == "uniswap_v3"]
    # slot0(), token0(), token1() of every V3 pool, in one round trip
    calls = [("eth_call", [{"to": pool, "data": data}, "latest"]) for pool in pools
             for data in ("0x3850c7bd", "0x0dfe1681", "0xd21220a7")]
    replies = [r.get("result") or "0x" for r in rpc.batch(calls)] if calls else []
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


@dataclass
class SandwichPlanner:
    """Sizes and prices sandwiches of pending swaps for ``account`` (see the module docstring)."""

    rpc: JsonRpcClient
    chain: dict[str, Any]  # the chain's devnet state: contracts, tokens, venues, accounts
    account: str
    min_profit_usd: float = 0.0

    def plan(self, swap: PendingSwap, busy_pools: Collection[PoolKey]) -> str | tuple[Bundle, dict[str, Any]]:
        """The best bundle and its numbers, or why there is none (``busy_pools``: pools with a sandwich in flight)."""
        if swap.price_limit:
            return "the swap has a price limit: a front-run would only make it fill less"
        if swap.pool_key in busy_pools:
            return "a sandwich on this pool is still in flight"
        prices = usd_prices(self.rpc, self.chain)
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
        """The account's balance of ``token`` (its inventory for a front-run)."""
        data = call_data("balanceOf(address)", ["address"], [self.account])
        return int(self.rpc.call("eth_call", {"to": token, "data": data}, "latest"), 16)

    def _simulate(self, calls: list[dict[str, str]]) -> list[dict[str, Any]]:
        result = self.rpc.call("eth_simulateV1", {"blockStateCalls": [{"calls": calls}]}, "latest")
        return list(result[0]["calls"])

    def _out(self, kind: str, call: Mapping[str, Any]) -> int | None:
        if call.get("status") != "0x1":
            return None
        data = bytes.fromhex(call["returnData"][2:])
        return int(decode(["uint256"], data)[0]) if kind == "v3" else int(decode(["uint256[]"], data)[0][-1])

    def front(self, swap: PendingSwap, amount: int, min_out: int = 0) -> dict[str, str]:
        """The front-run's call: ``amount`` in the victim's direction, through the victim's router and pool."""
        return swap_call(swap.kind, swap.router, self.account, swap.token_in, swap.token_out, swap.fee, amount,
                         min_out, 2**40)

    def back(self, swap: PendingSwap, amount: int, min_out: int) -> dict[str, str]:
        """The back-run's call: ``amount`` (what the front-run bought) sold back the other way."""
        return swap_call(swap.kind, swap.router, self.account, swap.token_out, swap.token_in, swap.fee, amount,
                         min_out, 2**40)

    def _victim_call(self, swap: PendingSwap) -> dict[str, str]:
        return {"from": swap.sender, "to": swap.router, "data": swap.data}

    def _victim_ok(self, swap: PendingSwap, front_in: int) -> bool:
        """True when the victim's call still succeeds (gets its minimum) after a front-run of ``front_in``."""
        calls = ([self.front(swap, front_in)] if front_in else []) + [self._victim_call(swap)]
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
        front = self.front(swap, front_in)
        front_out = self._out(swap.kind, self._simulate([front])[0])
        if not front_out:
            return None
        back = self.back(swap, front_out, 0)
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


__all__ = ["Bundle", "PoolKey", "SandwichPlanner", "usd_prices"]
