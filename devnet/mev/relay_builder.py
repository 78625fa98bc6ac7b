"""The private relay's block building: held transactions go to anvil together with the block that includes them.

Every ``block_time_s`` (0: as soon as a transaction arrives) a build takes the held transactions that can enter
the next block (each sender's next nonces in order, fee cap at or above the next base fee, within the block gas
limit) and sends them to anvil with ``evm_mine`` in one JSON-RPC batch, so anvil pools them and seals the block in
the same request. After the block each one must have a receipt: one anvil pooled but did not mine is withdrawn at
once (``anvil_dropTransaction``) and held for the next build, so it never sits in the public pool; one the chain
refused is dropped with its reason; one not includable for ``max_wait_blocks`` builds is dropped.

Usage (through :class:`devnet.mev.relay_endpoint.Relay`, which builds on this)::

    relay.start()           # learn the chain id, start the builder thread
    relay.build_once()      # one build by hand: the hashes it mined
    relay.stop()
"""

from __future__ import annotations

import threading
import time
from typing import Any

from crosshedge import RpcError
from devnet.mev.relay_pool import RelayPool, _Held


class RelayBuilder(RelayPool):
    """A relay pool that builds blocks from what it holds, in a background thread."""

    def start(self) -> None:
        """Learn the chain id and start building blocks in a background thread."""
        if self.chain_id is None:
            self.chain_id = int(self.upstream.call("eth_chainId"), 16)
        self._builder = threading.Thread(target=self._run, name="relay-builder", daemon=True)
        self._builder.start()

    def stop(self) -> None:
        self._stop.set()
        self._arrived.set()
        if self._builder is not None:
            self._builder.join(timeout=10)

    def _run(self) -> None:
        next_slot = time.monotonic()
        while not self._stop.is_set():
            if self.block_time_s > 0:
                if self._stop.wait(max(0.0, next_slot - time.monotonic())):
                    return
                next_slot = max(next_slot + self.block_time_s, time.monotonic())
            else:
                self._arrived.wait(0.5)  # also retries a held transaction that could not enter the last block
                self._arrived.clear()
            try:
                self.build_once()
            except RpcError as exc:
                self._log("upstream_error", error=str(exc))

    def build_once(self) -> list[str]:
        """Include what can enter the next block, in one batch with the block itself; returns the hashes mined."""
        with self._lock:
            held = sorted(self._held.values(), key=lambda h: (h.tx.sender, h.tx.nonce))
        if not held:
            return []
        senders = sorted({h.tx.sender for h in held})
        replies = self.upstream.batch([("eth_getBlockByNumber", ["pending", False]),
                                       *[("eth_getTransactionCount", [s, "latest"]) for s in senders]])
        if any("error" in r for r in replies):
            raise RpcError(f"node at {self.upstream.url} refused the reads of a build: {replies}")
        pending = replies[0]["result"] or {}
        base_fee = int(pending.get("baseFeePerGas") or "0x0", 16)
        gas_limit = int(pending.get("gasLimit") or "0x0", 16)
        mined_nonce = {s: int(r["result"], 16) for s, r in zip(senders, replies[1:], strict=True)}
        self._resolve_used([h for h in held if h.tx.nonce < mined_nonce[h.tx.sender]])
        picked = self._pick(held, mined_nonce, base_fee, gas_limit)
        if not picked:
            return []
        calls = [("eth_sendRawTransaction", [h.tx.raw]) for h in picked] + [("evm_mine", [])]
        sent = self.upstream.batch(calls)
        return self._settle(picked, sent[:-1])

    def _pick(self, held: list[_Held], mined_nonce: dict[str, int], base_fee: int, gas_limit: int) -> list[_Held]:
        """Each sender's next nonces in order while they pay the base fee and fit the block; ages the rest."""
        picked: list[_Held] = []
        expect, gas = dict(mined_nonce), 0
        for h in held:
            tx = h.tx
            if tx.nonce < mined_nonce[tx.sender]:
                continue  # its nonce is used: _resolve_used books it
            if tx.nonce == expect[tx.sender] and tx.max_fee >= base_fee and gas + tx.gas <= gas_limit:
                picked.append(h)
                expect[tx.sender] += 1
                gas += tx.gas
            else:
                h.builds += 1
                if h.builds >= self.max_wait_blocks:
                    self._drop(h, "dropped", f"not includable for {h.builds} blocks (nonce gap, or a fee cap under "
                                             f"the base fee {base_fee})")
        return picked

    def _resolve_used(self, used: list[_Held]) -> None:
        """Held transactions whose nonce the chain has used: included (a build whose settling was cut short) when
        they have a receipt, else dropped (another transaction took the nonce)."""
        if not used:
            return
        receipts = self.upstream.batch([("eth_getTransactionReceipt", [h.tx.hash]) for h in used])
        for h, receipt in zip(used, receipts, strict=True):
            found = receipt.get("result")
            if found:
                with self._lock:
                    self._held.pop(h.tx.hash, None)
                    self._set_status(h.tx.hash, "included", blockNumber=int(found["blockNumber"], 16))
            else:
                self._drop(h, "dropped", f"nonce {h.tx.nonce} was used by another transaction")

    def _settle(self, picked: list[_Held], sent: list[dict[str, Any]]) -> list[str]:
        """Book what the block holds; withdraw what anvil kept in its pool; drop what the chain refused."""
        receipts = self.upstream.batch([("eth_getTransactionReceipt", [h.tx.hash]) for h in picked])
        mined: list[str] = []
        for h, reply, receipt in zip(picked, sent, receipts, strict=True):
            found = receipt.get("result")
            if found:
                mined.append(h.tx.hash)
                with self._lock:
                    self._held.pop(h.tx.hash, None)
                    self._set_status(h.tx.hash, "included", blockNumber=int(found["blockNumber"], 16))
            elif "error" in reply and "already known" not in str(reply["error"]).lower():
                self._drop(h, "failed", f"the chain refused it: {reply['error'].get('message', reply['error'])}")
            else:
                # In anvil's pool but not in the block (the block was sealed first): take it out before anyone
                # can see it there, and hold it for the next build.
                self.upstream.call("anvil_dropTransaction", h.tx.hash)
                self._log("withdrawn", tx=h.tx.hash, reason="not in the sealed block; held for the next one")
        if mined:
            blocks = sorted({int(r["result"]["blockNumber"], 16) for r in receipts if r.get("result")})
            self._log("included", blocks=blocks, txs=mined)
        return mined


__all__ = ["RelayBuilder"]
