"""A private transaction relay for a devnet chain: signed transactions reach a block without a public mempool.

The devnet's stand-in for a block builder's private endpoint (Flashbots Protect, MEV Blocker): a JSON-RPC server
that takes ``eth_sendRawTransaction``, answers the few reads a sender asks a send endpoint by forwarding them to the
chain's node, and keeps every other method (``txpool_*``, ``anvil_*``, ``evm_*``, ``eth_sendTransaction``) out.

Inclusion model:

* **Accepted or refused at once, like a node.** A transaction is decoded and checked against the chain before it is
  held: chain id, nonce (``nonce too low``), fee cap against the next block's base fee (``max fee per gas less than
  block base fee``), balance, block gas limit; the answer is its hash, or a JSON-RPC error in the words a node uses,
  so a sender's "maybe already sent" and "underpriced, replace it" handling works unchanged. Sending the same bytes
  again answers the same hash; a new transaction at a held (sender, nonce) replaces it only with a higher fee cap
  and tip (else ``replacement transaction underpriced``).
* **Held privately until the next block.** Nothing is forwarded on arrival. Every ``block_time_s`` (0: as soon as a
  transaction arrives) the relay builds: it takes the held transactions that can enter the next block (each
  sender's next nonces in order, fee cap at or above the next base fee, within the block gas limit) and sends them
  to anvil together with ``evm_mine`` in one JSON-RPC batch: anvil adds them to its pool and seals the block in
  the same request. A transaction that cannot enter yet (a nonce gap, a fee cap under the base fee) waits, and is
  dropped after ``max_wait_blocks`` builds, as a builder endpoint gives up after some blocks.
* **Verified after the block.** Each submitted transaction must have a receipt; one that anvil took into its pool
  but did not mine is withdrawn at once (``anvil_dropTransaction``) and held for the next build, so it never sits
  in the public pool. One the chain refused (its nonce was used meanwhile) is dropped with the chain's reason.
* **Status** as a builder endpoint reports it: ``relay_getTransactionStatus(hash)`` gives ``pending``, ``included``
  (with ``blockNumber``), ``failed`` or ``dropped`` (with ``reason``), or ``unknown``. ``eth_getTransactionCount``
  at ``pending`` counts the sender's held transactions, so a wallet asking the relay for its next nonce gets it.

What anvil shows: anvil seals a block from its pool, so while the block is being sealed (a few milliseconds) its
``txpool_content`` still lists the transactions that block already holds. Nothing sent after that moment can be
ordered before them: a searcher that sees them then sees them too late, and its transactions land in a later block.

The relay logs one JSON object per line on stdout (``listening``, ``accepted``, ``refused``, ``included``,
``withdrawn``, ``dropped``, ``failed``, ``upstream_error``, ``stopped``); it never logs the signed bytes. It exits
once the chain's node has not answered for ``--exit-after`` seconds (started detached, it must not outlive it).

Usage::

    relay = start_relay(RelayOptions(name="ethereum", upstream="http://127.0.0.1:18545", port=18645,
                                     block_time_s=12.0), state_dir)
    wait_ready(relay.url)                       # devnet.anvil.wait_ready: the relay answers eth_chainId
    # chains.yaml: chains.ethereum.private_rpc_url: <relay.url>
    stop_relay("ethereum", state_dir)

    python -m devnet.relay --upstream http://127.0.0.1:18545 --port 18645 --block-time 12
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from eth_account import Account
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from hexbytes import HexBytes
from web3 import Web3

from crosshedge import CrosshedgeError, InputError, RpcError
from devnet.anvil import _alive  # the same pid check anvil's records use (it also reaps our own exited children)

#: Reads a sender may ask its send endpoint (web3's middlewares, nonce and fee lookups, receipts): forwarded.
FORWARDED = frozenset({
    "eth_blockNumber", "eth_call", "eth_estimateGas", "eth_feeHistory", "eth_gasPrice", "eth_getBalance",
    "eth_getBlockByHash", "eth_getBlockByNumber", "eth_getCode", "eth_getTransactionByHash",
    "eth_getTransactionReceipt", "eth_maxPriorityFeePerGas", "net_version", "web3_clientVersion",
})
MAX_BODY_BYTES = 4 * 2**20
MAX_BATCH = 100
MAX_HELD = 4096
INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL, REFUSED = -32600, -32601, -32602, -32603, -32000


class RelayRequestError(InputError):
    """A request the relay answers with a JSON-RPC error (malformed, or a transaction the chain would refuse)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


# -- JSON-RPC to the chain's node ------------------------------------------------------------------------------
class JsonRpcClient:
    """A small JSON-RPC client over HTTP (one session per thread); transport failures are RpcError naming the URL.

    Usage: ``JsonRpcClient(url).call("eth_chainId")``, ``client.batch([("eth_blockNumber", []), ...])``
    """

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url, self.timeout_s = url, timeout_s
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # a local node: no proxy lookups on every request
            self._local.session = session
        return session

    def post(self, payload: Any, what: str) -> Any:
        try:
            response = self._session().post(self.url, json=payload, timeout=self.timeout_s)
            return response.json()
        except (requests.RequestException, ValueError) as exc:
            raise RpcError(f"node at {self.url} did not answer {what} ({type(exc).__name__})") from None

    def call(self, method: str, *params: Any) -> Any:
        """The result of one call; RpcError (naming the URL and the node's message) when it answers an error."""
        reply = self.post({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, method)
        if not isinstance(reply, dict) or "error" in reply:
            error = reply.get("error") if isinstance(reply, dict) else reply
            raise RpcError(f"node at {self.url} refused {method}: {error}")
        return reply.get("result")

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        """One JSON-RPC batch; the replies in the order of ``calls`` (each has ``result`` or ``error``)."""
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        replies = self.post(payload, "a batch of " + ", ".join(sorted({m for m, _ in calls})))
        if not isinstance(replies, list) or len(replies) != len(calls):
            raise RpcError(f"node at {self.url} answered a batch of {len(calls)} with {str(replies)[:200]}")
        by_id = {r.get("id"): r for r in replies if isinstance(r, dict)}
        return [by_id.get(i, {"error": {"code": INTERNAL, "message": "no reply"}}) for i in range(len(calls))]


# -- decoding signed transactions -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SignedTx:
    """What the relay needs to know of a signed transaction to judge and order it."""

    hash: str
    raw: str  # 0x-hex, as received
    sender: str
    nonce: int
    chain_id: int
    max_fee: int  # maxFeePerGas (gasPrice for legacy and EIP-2930 transactions)
    tip: int  # maxPriorityFeePerGas (gasPrice for legacy and EIP-2930 transactions)
    gas: int
    value: int

    @property
    def cost(self) -> int:
        """The most the sender can be charged: what its balance must cover."""
        return self.gas * self.max_fee + self.value


def _rlp_header(data: bytes, pos: int) -> tuple[bool, int, int]:
    """(is a list, payload start, payload end) of the RLP item at ``pos``."""
    first = data[pos]
    if first < 0x80:
        return False, pos, pos + 1
    if first < 0xC0:
        short, base = first < 0xB8, 0x80 if first < 0xB8 else 0xB7
        is_list = False
    else:
        short, base = first < 0xF8, 0xC0 if first < 0xF8 else 0xF7
        is_list = True
    if short:
        return is_list, pos + 1, pos + 1 + first - base
    width = first - base
    length = int.from_bytes(data[pos + 1:pos + 1 + width], "big")
    return is_list, pos + 1 + width, pos + 1 + width + length


def _legacy_fields(raw: bytes) -> list[int]:
    """nonce, gasPrice, gas, value and v of a legacy transaction (an RLP list of nine byte strings)."""
    is_list, pos, end = _rlp_header(raw, 0)
    if not is_list or end != len(raw):
        raise ValueError("not a single RLP list")
    items: list[bytes] = []
    while pos < end:
        nested, start, stop = _rlp_header(raw, pos)
        if nested or stop > end:
            raise ValueError("malformed RLP item")
        items.append(raw[start:stop])
        pos = stop
    if len(items) != 9:
        raise ValueError(f"a legacy transaction has 9 fields, this one {len(items)}")
    # nonce, gasPrice, gas, to, value, data, v, r, s: only the numbers the relay judges by
    return [int.from_bytes(items[i], "big") for i in (0, 1, 2, 4, 6)]


def decode_signed(raw_hex: Any) -> SignedTx:
    """Decode a signed transaction (EIP-2718 typed or EIP-155 legacy); RelayRequestError(-32602) when it is not one."""
    if not isinstance(raw_hex, str) or not raw_hex.startswith("0x") or len(raw_hex) < 4:
        raise RelayRequestError(INVALID_PARAMS, "invalid params: a signed transaction is a 0x-prefixed hex string")
    try:
        raw = bytes.fromhex(raw_hex[2:])
    except ValueError:
        raise RelayRequestError(INVALID_PARAMS, "invalid params: the signed transaction is not valid hex") from None
    try:
        if raw[0] < 0x80:  # an EIP-2718 envelope: type byte, then the typed payload
            fields = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
            chain_id: int | None = int(fields["chainId"])
            nonce, gas, value = int(fields["nonce"]), int(fields["gas"]), int(fields["value"])
            max_fee = int(fields.get("maxFeePerGas", fields.get("gasPrice", 0)))
            tip = int(fields.get("maxPriorityFeePerGas", fields.get("gasPrice", 0)))
        else:
            nonce, max_fee, gas, value, v = _legacy_fields(raw)
            tip = max_fee
            chain_id = (v - 35) // 2 if v >= 35 else None
        sender = Account.recover_transaction(raw)
    # Untrusted bytes: the parsers raise what they hit (TypeError, rlp's DecodingError, eth_keys' BadSignature,
    # ...); every one means "not a signed transaction", and nothing else runs inside this try.
    except Exception as exc:
        raise RelayRequestError(INVALID_PARAMS, f"invalid params: cannot decode the signed transaction "
                                           f"({type(exc).__name__}: {str(exc)[:120]})") from None
    if chain_id is None:
        raise RelayRequestError(REFUSED, "only replay-protected transactions (EIP-155) are accepted")
    return SignedTx(hash=Web3.to_hex(Web3.keccak(raw)), raw=raw_hex.lower(), sender=sender, nonce=nonce,
                    chain_id=chain_id, max_fee=max_fee, tip=tip, gas=gas, value=value)


# -- the relay --------------------------------------------------------------------------------------------------
@dataclass
class _Held:
    tx: SignedTx
    received: float
    builds: int = 0  # builds it has waited through without being includable


def _print_event(event: dict[str, Any]) -> None:
    print(json.dumps(event, separators=(",", ":")), flush=True)


@dataclass
class Relay:
    """The relay's state and logic (the HTTP server and the builder thread call into it)."""

    upstream: JsonRpcClient
    block_time_s: float = 0.0
    max_wait_blocks: int = 25
    emit: Callable[[dict[str, Any]], None] = _print_event
    chain_id: int | None = None  # asked of the node on start when not given
    _held: dict[str, _Held] = field(default_factory=dict, repr=False)
    _status: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _arrived: threading.Event = field(default_factory=threading.Event, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _builder: threading.Thread | None = field(default=None, repr=False)

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

    def _log(self, event: str, **fields: Any) -> None:
        self.emit({"t": round(time.time(), 3), "event": event, **fields})

    def _set_status(self, tx_hash: str, status: str, **fields: Any) -> None:
        self._status[tx_hash] = {"status": status, **fields}
        self._status.move_to_end(tx_hash)
        while len(self._status) > 4 * MAX_HELD:
            self._status.popitem(last=False)

    # -- JSON-RPC --------------------------------------------------------------------------------------------
    def handle(self, body: bytes) -> bytes | None:
        """Answer one HTTP body (a request or a batch); None when there is nothing to answer (notifications)."""
        try:
            request = json.loads(body)
        except ValueError:
            return _dump(_error(None, -32700, "parse error: the request body is not JSON"))
        if isinstance(request, list):
            if not request or len(request) > MAX_BATCH:
                return _dump(_error(None, INVALID_REQUEST, f"invalid request: a batch holds 1 to {MAX_BATCH} calls"))
            replies = [r for r in (self._answer(item) for item in request) if r is not None]
            return _dump(replies) if replies else None
        reply = self._answer(request)
        return _dump(reply) if reply is not None else None

    def _answer(self, item: Any) -> dict[str, Any] | None:
        if not isinstance(item, dict):
            return _error(None, INVALID_REQUEST, "invalid request: expected a JSON-RPC object")
        rid = item.get("id")
        method, params = item.get("method"), item.get("params", [])
        if item.get("jsonrpc") != "2.0" or not isinstance(method, str):
            return _error(rid, INVALID_REQUEST, "invalid request: needs jsonrpc \"2.0\" and a method name")
        if not isinstance(params, list):
            return _error(rid, INVALID_PARAMS, "invalid params: params must be an array")
        try:
            reply = {"jsonrpc": "2.0", "id": rid, "result": self.dispatch(method, params)}
        except RelayRequestError as exc:
            reply = _error(rid, exc.code, str(exc))
        except _NodeError as exc:
            reply = {"jsonrpc": "2.0", "id": rid, "error": exc.error}
        except RpcError as exc:
            reply = _error(rid, INTERNAL, f"relay: {exc}")
        return reply if "id" in item else None

    def dispatch(self, method: str, params: list[Any]) -> Any:
        """The result of one call, or RelayRequestError / an upstream error."""
        if method == "eth_sendRawTransaction":
            if len(params) != 1:
                raise RelayRequestError(INVALID_PARAMS,
                                        "invalid params: eth_sendRawTransaction takes one signed transaction")
            return self.submit(params[0])
        if method == "eth_chainId":
            return hex(self.chain_id or 0)
        if method == "relay_getTransactionStatus":
            if len(params) != 1 or not isinstance(params[0], str):
                raise RelayRequestError(INVALID_PARAMS, "invalid params: relay_getTransactionStatus takes a hash")
            return self.status(params[0])
        if method == "eth_getTransactionCount":
            return self._nonce(params)
        if method not in FORWARDED:
            raise RelayRequestError(METHOD_NOT_FOUND, f"the method {method} does not exist/is not available on "
                                                      "this private relay (it sends transactions and answers "
                                                      "basic reads)")
        return self._forward(method, params)

    def _forward(self, method: str, params: list[Any]) -> Any:
        reply = self.upstream.post({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, method)
        if not isinstance(reply, dict):
            raise RpcError(f"node at {self.upstream.url} answered {method} with {str(reply)[:200]}")
        if "error" in reply:
            raise _NodeError(reply["error"])
        return reply.get("result")

    def _nonce(self, params: list[Any]) -> Any:
        """The chain's count, and at ``pending`` also the sender's transactions held here."""
        count = self._forward("eth_getTransactionCount", params)
        if len(params) < 2 or params[1] != "pending" or not isinstance(params[0], str) or not Web3.is_address(
                params[0]):
            return count
        sender = Web3.to_checksum_address(params[0])
        with self._lock:
            held = [h.tx.nonce + 1 for h in self._held.values() if h.tx.sender == sender]
        return hex(max([int(count, 16), *held]))

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

    # -- building ----------------------------------------------------------------------------------------------
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

    def _drop(self, h: _Held, status: str, reason: str) -> None:
        with self._lock:
            self._held.pop(h.tx.hash, None)
            self._set_status(h.tx.hash, status, reason=reason)
        self._log(status, tx=h.tx.hash, sender=h.tx.sender, nonce=h.tx.nonce, reason=reason)


class _NodeError(CrosshedgeError):
    """The node's own JSON-RPC error for a forwarded read, passed on to the client as it is."""

    def __init__(self, error: Any) -> None:
        super().__init__(str(error))
        self.error = error


def _error(rid: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


# -- the HTTP server --------------------------------------------------------------------------------------------
def serve(relay: Relay, host: str, port: int) -> ThreadingHTTPServer:
    """A threaded HTTP server answering JSON-RPC POSTs with ``relay`` (call ``serve_forever`` on it)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return  # the relay logs its own events

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_BODY_BYTES:
                self._reply(_dump(_error(None, INVALID_REQUEST, f"invalid request: body of 1 to {MAX_BODY_BYTES} "
                                                                "bytes expected")), 413 if length else 400)
                return
            out = relay.handle(self.rfile.read(length))
            if out is None:
                self.send_response(204)
                self.end_headers()
                return
            self._reply(out, 200)

        def do_GET(self) -> None:
            self._reply(_dump(_error(None, INVALID_REQUEST, "invalid request: POST JSON-RPC")), 405)

        def _reply(self, body: bytes, code: int) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return ThreadingHTTPServer((host, port), Handler)


# -- processes (pid files in the devnet's state dir, like anvil's) ----------------------------------------------
@dataclass(frozen=True)
class DevnetProcess:
    """A devnet helper process started by this module or devnet.sandwich, recorded in ``<kind>-<name>.json``."""

    kind: str
    name: str
    pid: int
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _pid_file(kind: str, name: str, state_dir: Path) -> Path:
    return state_dir / f"{kind}-{name}.json"


def spawn(kind: str, name: str, module: str, args: list[str], state_dir: Path, port: int = 0) -> DevnetProcess:
    """Start ``module.main()`` with ``args`` in a detached Python process (output appended to
    ``<kind>-<name>.log``) and record its pid."""
    state_dir.mkdir(parents=True, exist_ok=True)
    stop_process(kind, name, state_dir)
    log = state_dir / f"{kind}-{name}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # `-c` rather than `-m`: the devnet package imports this module, and runpy would then run a second copy of it.
    code = f"from {module} import main; main()"
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env)
    _pid_file(kind, name, state_dir).write_text(json.dumps({"pid": proc.pid, "port": port, "log": str(log)}))
    return DevnetProcess(kind=kind, name=name, pid=proc.pid, port=port, log=log)


def process_running(kind: str, name: str, state_dir: Path) -> DevnetProcess | None:
    """The recorded process if it is still alive."""
    path = _pid_file(kind, name, state_dir)
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if not _alive(int(data["pid"])):
        return None
    return DevnetProcess(kind=kind, name=name, pid=int(data["pid"]), port=int(data["port"]), log=Path(data["log"]))


def stop_process(kind: str, name: str, state_dir: Path, timeout_s: float = 5.0) -> bool:
    """Terminate the recorded process group (SIGTERM, then SIGKILL); True if one was running."""
    proc = process_running(kind, name, state_dir)
    _pid_file(kind, name, state_dir).unlink(missing_ok=True)
    if proc is None:
        return False
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(proc.pid):
            return True
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    return True


@dataclass(frozen=True)
class RelayOptions:
    name: str  # the chain's name: the pid file is relay-<name>.json
    upstream: str  # the chain's node (anvil)
    port: int
    block_time_s: float = 0.0  # a block of private transactions this often; 0: as soon as one arrives
    max_wait_blocks: int = 25


def start_relay(opts: RelayOptions, state_dir: Path) -> DevnetProcess:
    """Start the relay process for one chain (``python -m devnet.relay``); wait for it with anvil's wait_ready."""
    args = ["--upstream", opts.upstream, "--port", str(opts.port), "--block-time", str(opts.block_time_s),
            "--max-wait-blocks", str(opts.max_wait_blocks)]
    return spawn("relay", opts.name, "devnet.relay", args, state_dir, port=opts.port)


def relay_running(name: str, state_dir: Path) -> DevnetProcess | None:
    return process_running("relay", name, state_dir)


def stop_relay(name: str, state_dir: Path) -> bool:
    return stop_process("relay", name, state_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devnet.relay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="the chain's node (anvil) URL")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--block-time", type=float, default=0.0, help="seconds between builds (0: on arrival)")
    parser.add_argument("--max-wait-blocks", type=int, default=25)
    parser.add_argument("--exit-after", type=float, default=60.0, help="exit when the node is gone this long")
    args = parser.parse_args(argv)
    relay = Relay(JsonRpcClient(args.upstream), block_time_s=args.block_time, max_wait_blocks=args.max_wait_blocks)
    deadline = time.monotonic() + 30
    while True:  # the node may still be starting
        try:
            relay.start()
            break
        except RpcError as exc:
            if time.monotonic() > deadline:
                raise SystemExit(f"relay: {exc}") from None
            time.sleep(0.2)
    server = serve(relay, args.host, args.port)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    threading.Thread(target=_exit_when_gone, args=(relay, server, args.exit_after), daemon=True).start()
    relay._log("listening", url=f"http://{args.host}:{args.port}", upstream=args.upstream, chain_id=relay.chain_id,
               block_time_s=args.block_time)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        relay.stop()
        server.server_close()


def _exit_when_gone(relay: Relay, server: ThreadingHTTPServer, exit_after_s: float) -> None:
    """Shut the server down once the chain's node has not answered for ``exit_after_s``: a relay is started
    detached, and must not outlive the devnet it relays to."""
    gone_since: float | None = None
    while True:
        time.sleep(2.0)
        try:
            relay.upstream.call("eth_blockNumber")
            gone_since = None
        except RpcError as exc:
            gone_since = gone_since or time.monotonic()
            if time.monotonic() - gone_since > exit_after_s:
                relay._log("stopped", reason=f"{exc}; gone for {exit_after_s:.0f} s")
                server.shutdown()
                return


if __name__ == "__main__":
    main()
