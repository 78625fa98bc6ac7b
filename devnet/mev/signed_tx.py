"""Decoding the signed transactions the private relay receives: just enough to judge and order them.

The relay (devnet.mev.relay) checks a transaction against the chain before it holds it, as a node would: chain id,
nonce, fee cap and tip, gas, value and sender. Those come from the signed bytes here, for EIP-2718 typed
transactions and EIP-155 legacy ones; bytes that are not a signed transaction are a JSON-RPC ``invalid params``.

Usage::

    tx = decode_signed("0x02f8...")      # SignedTx(hash=..., sender=..., nonce=..., max_fee=..., ...)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from hexbytes import HexBytes
from web3 import Web3

from devnet.mev.jsonrpc import INVALID_PARAMS, REFUSED, RelayRequestError


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


__all__ = ["SignedTx", "decode_signed"]
