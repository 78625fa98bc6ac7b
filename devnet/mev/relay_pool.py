"""The private relay's pool: the signed transactions it holds, and how each is judged when it arrives.

A transaction is accepted or refused at once, in the words a node uses (``nonce too low``, ``max fee per gas less
than block base fee``, ``replacement transaction underpriced``, ...), so a sender's own handling of those works
unchanged; an accepted one is held privately (never forwarded on arrival) until a build includes it
(devnet.mev.relay_builder). Every transaction's status is kept, bounded, for ``relay_getTransactionStatus``.

Usage (through :class:`devnet.mev.relay_endpoint.Relay`, which builds on this)::

    tx_hash = relay.submit("0x02f8...")         # RelayRequestError when the chain would refuse it
    relay.status(tx_hash)                       # {"status": "pending"}
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crosshedge import RpcError
from devnet.mev.jsonrpc import REFUSED, JsonRpcClient, RelayRequestError
from devnet.mev.processes import print_event
from devnet.mev.signed_tx import SignedTx, decode_signed

MAX_HELD = 4096


@dataclass
class _Held:
    tx: SignedTx
    received: float
    builds: int = 0  # builds it has waited through without being includable


@dataclass
class RelayPool:
    """The relay's state: the held transactions, their statuses, and the checks a transaction passes to be held."""

    upstream: JsonRpcClient
    block_time_s: float = 0.0
    max_wait_blocks: int = 25
    emit: Callable[[dict[str, Any]], None] = print_event
    chain_id: int | None = None  # asked of the node on start when not given
    _held: dict[str, _Held] = field(default_factory=dict, repr=False)
    _status: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _arrived: threading.Event = field(default_factory=threading.Event, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _builder: threading.Thread | None = field(default=None, repr=False)

    def _log(self, event: str, **fields: Any) -> None:
        self.emit({"t": round(time.time(), 3), "event": event, **fields})

    def _set_status(self, tx_hash: str, status: str, **fields: Any) -> None:
        self._status[tx_hash] = {"status": status, **fields}
        self._status.move_to_end(tx_hash)
        while len(self._status) > 4 * MAX_HELD:
            self._status.popitem(last=False)

    def status(self, tx_hash: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._status.get(tx_hash.lower(), {"status": "unknown"}))

    # -- accepting ---------------------------------------------------------------------------------------------
    def submit(self, raw_hex: Any) -> str:
        """Check and hold a signed transaction; its hash, or RelayRequestError in a node's words."""
        tx = decode_signed(raw_hex)
        if tx.chain_id != self.chain_id:
            raise self._refuse(tx, REFUSED, f"invalid chain id: the transaction is for chain {tx.chain_id}, "
                                            f"this relay submits to chain {self.chain_id}")
        with self._lock:
            known = tx.hash in self._held or self._status.get(tx.hash, {}).get("status") == "included"
        pending, count, balance = self._chain_view(tx.sender)
        base_fee = int(pending.get("baseFeePerGas") or "0x0", 16)
        if known:
            # The same bytes again answer the same hash, as a node that has them does; unless the base fee has
            # overtaken a held one's fee cap: then the node's words tell the sender to replace it.
            with self._lock:
                still_held = tx.hash in self._held
            if still_held and tx.max_fee < base_fee:
                raise self._refuse(tx, REFUSED, f"max fee per gas less than block base fee: maxFeePerGas "
                                                f"{tx.max_fee}, next base fee {base_fee}")
            return tx.hash
        if tx.nonce < count:
            raise self._refuse(tx, REFUSED, f"nonce too low: next nonce {count}, tx nonce {tx.nonce}")
        if tx.max_fee < base_fee:
            raise self._refuse(tx, REFUSED, f"max fee per gas less than block base fee: maxFeePerGas {tx.max_fee}, "
                                            f"next base fee {base_fee}")
        if tx.tip > tx.max_fee:
            raise self._refuse(tx, REFUSED, "max priority fee per gas higher than max fee per gas")
        if tx.gas > int(pending.get("gasLimit") or "0x0", 16):
            raise self._refuse(tx, REFUSED, f"exceeds block gas limit: gas {tx.gas}")
        if balance < tx.cost:
            raise self._refuse(tx, -32003, f"insufficient funds for gas * price + value: balance {balance}, "
                                           f"cost {tx.cost}")
        with self._lock:
            self._hold(tx)
        self._arrived.set()
        self._log("accepted", tx=tx.hash, sender=tx.sender, nonce=tx.nonce, max_fee=tx.max_fee, tip=tx.tip)
        return tx.hash

    def _chain_view(self, sender: str) -> tuple[dict[str, Any], int, int]:
        """(the pending block header, the sender's mined nonce, its balance) in one round trip."""
        replies = self.upstream.batch([("eth_getBlockByNumber", ["pending", False]),
                                       ("eth_getTransactionCount", [sender, "latest"]),
                                       ("eth_getBalance", [sender, "latest"])])
        for reply in replies:
            if "error" in reply:
                raise RpcError(f"node at {self.upstream.url} refused a read: {reply['error']}")
        return replies[0]["result"] or {}, int(replies[1]["result"], 16), int(replies[2]["result"], 16)

    def _hold(self, tx: SignedTx) -> None:
        """Hold ``tx`` (lock held): it replaces a held one at its (sender, nonce) only with higher fees."""
        if tx.hash in self._held or self._status.get(tx.hash, {}).get("status") == "included":
            return  # the same bytes, sent twice at once, or included while this copy was being checked
        same = next((h for h in self._held.values() if (h.tx.sender, h.tx.nonce) == (tx.sender, tx.nonce)), None)
        if same is not None:
            if tx.max_fee <= same.tx.max_fee or tx.tip < same.tx.tip:
                raise self._refuse(tx, REFUSED, "replacement transaction underpriced: the held transaction at nonce "
                                                f"{tx.nonce} has maxFeePerGas {same.tx.max_fee}, tip {same.tx.tip}")
            del self._held[same.tx.hash]
            self._set_status(same.tx.hash, "dropped", reason=f"replaced by {tx.hash}")
        elif len(self._held) >= MAX_HELD:
            raise self._refuse(tx, REFUSED, f"txpool is full: this relay holds {MAX_HELD} transactions")
        self._held[tx.hash] = _Held(tx=tx, received=time.time())
        self._set_status(tx.hash, "pending")

    def _refuse(self, tx: SignedTx, code: int, message: str) -> RelayRequestError:
        self._log("refused", tx=tx.hash, sender=tx.sender, nonce=tx.nonce, reason=message)
        return RelayRequestError(code, message)

    def _drop(self, h: _Held, status: str, reason: str) -> None:
        with self._lock:
            self._held.pop(h.tx.hash, None)
            self._set_status(h.tx.hash, status, reason=reason)
        self._log(status, tx=h.tx.hash, sender=h.tx.sender, nonce=h.tx.nonce, reason=reason)


__all__ = ["MAX_HELD", "RelayPool"]
