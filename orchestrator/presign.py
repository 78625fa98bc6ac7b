"""What the sender reads from the chain before it signs, in as few round trips as the checks allow.

One JSON-RPC batch carries the head block (the chain's clock for the deadline), the pending block (the next base
fee, for the fee cap and the gas breaker), the account's pending transaction count (the nonce floor) and, where
the transaction is known before the terms are (an approval, a revocation), its simulation; the swap's fresh venue
read rides in the same batch (orchestrator.terms). A swap's own simulation needs its calldata, which needs the
fresh quote: it is a second batch (``eth_call`` and ``eth_estimateGas`` together). Every check reads the same
facts as before, in the same order; only the round trips are shared.

Usage::

    reads = PresignReads(lane.w3, lane.chain, lane.signer.address)
    reads.simulate_early(sender, approval_tx)          # optional: known before the terms
    reads.batch.send()
    now = max(clock(), reads.head_timestamp()); base = reads.next_base_fee(); floor = reads.pending_nonce()
    gas = reads.simulated_gas(approval_tx, where) or simulate(w3, sender, tx, where)
"""

from __future__ import annotations

from typing import Any

from web3 import Web3

from adapters import RpcBatch, TxRequest, checksum_address, error_message, hex_int
from crosshedge import RpcError, UnsafeTransactionError

#: Extra gas over the estimate: state can move between simulation and inclusion.
_HEADROOM_DIV, _HEADROOM_ADD = 5, 10_000


class PresignReads:
    """The pre-signing reads of one intent, gathered in one :class:`RpcBatch` (see the module docstring)."""

    def __init__(self, w3: Web3, chain: str, account: str) -> None:
        self.chain = chain
        self.batch = RpcBatch(w3, chain)
        self._head = self.batch.add("eth_getBlockByNumber", ["latest", False])
        self._pending = self.batch.add("eth_getBlockByNumber", ["pending", False])
        self._nonce = self.batch.add("eth_getTransactionCount", [checksum_address(account), "pending"])
        self._early: tuple[TxRequest, str, int, int] | None = None

    def simulate_early(self, sender: str, tx: TxRequest) -> None:
        """Put ``tx``'s simulation in the batch (it is known before the terms); used if it is the one signed."""
        call, estimate = add_simulation(self.batch, sender, tx)
        self._early = (tx, sender, call, estimate)

    def simulated_gas(self, sender: str, tx: TxRequest, where: str) -> int | None:
        """The gas limit from the early simulation when it was of exactly ``tx`` from ``sender`` (None otherwise);
        UnsafeTransactionError when it reverted."""
        if self._early is None:
            return None
        early, early_sender, call, estimate = self._early
        if (early.to, early.data, early.value, early_sender) != (tx.to, tx.data, tx.value, sender):
            return None
        return simulation_gas(self.batch, call, estimate, where)

    def head_timestamp(self) -> int:
        return self._block(self._head, "latest")[1]

    def next_base_fee(self) -> int:
        """The base fee the next block will charge: the pending block's, the latest's where there is none."""
        response = self.batch.response(self._pending)
        if "error" in response or not isinstance(response.get("result"), dict):
            return self._block(self._head, "latest")[2]
        return self._block(self._pending, "pending")[2]

    def pending_nonce(self) -> int:
        return self._quantity(self.batch.result(self._nonce), "the pending transaction count")

    def _block(self, index: int, tag: str) -> tuple[int, int, int]:
        block = self.batch.result(index)
        if not isinstance(block, dict):
            raise RpcError(f"chain {self.chain}: eth_getBlockByNumber({tag}) returned {str(block)[:80]}")
        return (self._quantity(block.get("number"), f"the {tag} block's number"),
                self._quantity(block.get("timestamp"), f"the {tag} block's timestamp"),
                self._quantity(block.get("baseFeePerGas") or "0x0", f"the {tag} block's base fee"))

    def _quantity(self, value: Any, what: str) -> int:
        try:
            return hex_int(value, what)
        except ValueError as exc:
            raise RpcError(f"chain {self.chain}: {exc}") from None


def add_simulation(batch: RpcBatch, sender: str, tx: TxRequest) -> tuple[int, int]:
    """Add ``eth_call`` (at the latest block) and ``eth_estimateGas`` of ``tx`` to ``batch``; their indices."""
    call = {"from": checksum_address(sender), "to": tx.to, "data": tx.data or "0x", "value": hex(tx.value)}
    return batch.add("eth_call", [call, "latest"]), batch.add("eth_estimateGas", [call])


def simulation_gas(batch: RpcBatch, call: int, estimate: int, where: str) -> int:
    """The gas limit from a simulation in ``batch`` (estimate plus headroom); UnsafeTransactionError naming
    ``where`` when the call or the estimate reverted."""
    for index in (call, estimate):
        message = error_message(batch.response(index))
        if message is not None:
            raise UnsafeTransactionError(f"{where}: simulation (eth_call) reverted: {_short(message)}")
    try:
        gas = hex_int(batch.result(estimate), "eth_estimateGas's answer")
    except ValueError as exc:
        raise RpcError(f"chain {batch.chain}: {exc}") from None
    return gas + gas // _HEADROOM_DIV + _HEADROOM_ADD


def _short(text: str) -> str:
    return text if len(text) < 200 else text[:200] + "..."


__all__ = ["PresignReads", "add_simulation", "simulation_gas"]
