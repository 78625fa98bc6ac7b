"""Permit2 AllowanceTransfer permits: what a venue asks to be signed, the EIP-712 message, the nonce to sign.

A venue whose router pulls tokens through Permit2 (Uniswap's UniversalRouter) needs, besides the wallet's exact
ERC20 approval of Permit2, a Permit2 allowance for the router. Rather than a second on-chain approval, the swap
itself carries a signed ``PermitSingle`` (UniversalRouter's PERMIT2_PERMIT command) for exactly the swap's input,
expiring with the swap's deadline. Nothing here is specific to one protocol: any venue or route that swaps through a
Permit2 spender describes its permit as a :class:`PermitRequest`; the lane's signer signs
:func:`permit_typed_data` at the nonce :func:`read_permit_nonce` reads, giving a :class:`SignedPermit`.

Layouts follow Permit2's ``IAllowanceTransfer`` and ``PermitHash`` (the EIP-712 domain is ``name = "Permit2"``,
the chain id and Permit2's address; no version).

Usage::

    request = venue.permit_request(state, Side.SELL, amount_in, deadline)
    nonce = read_permit_nonce(w3, "base", request, owner)       # RpcError when it cannot be read
    permit = signer.sign_permit(request, nonce, chain_id)      # SignedPermit(request, nonce, signature)
    tx = venue.build_permit_swap(state, Side.SELL, amount_in, min_out, owner, deadline, permit)
"""

from __future__ import annotations

from typing import Any

from eth_abi.abi import decode, encode
from eth_utils.address import to_checksum_address
from pydantic import Field, field_validator
from web3 import Web3

from adapters.rpc import RpcBatch
from crosshedge import Frozen, RpcError

MAX_UINT160 = 2**160 - 1
MAX_UINT48 = 2**48 - 1
#: allowance(address owner, address token, address spender) -> (uint160 amount, uint48 expiration, uint48 nonce)
ALLOWANCE_SELECTOR = bytes.fromhex("927da105")

PERMIT_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "PermitDetails": [
        {"name": "token", "type": "address"},
        {"name": "amount", "type": "uint160"},
        {"name": "expiration", "type": "uint48"},
        {"name": "nonce", "type": "uint48"},
    ],
    "PermitSingle": [
        {"name": "details", "type": "PermitDetails"},
        {"name": "spender", "type": "address"},
        {"name": "sigDeadline", "type": "uint256"},
    ],
}


class PermitRequest(Frozen):
    """The Permit2 allowance a swap needs: ``spender`` may pull ``amount`` of ``token`` from the signer until
    ``expiration``; the signature is good until ``sig_deadline`` (both unix seconds). ``permit2`` is the Permit2
    contract the permit is for (its address is part of the signed domain)."""

    permit2: str
    token: str
    spender: str
    amount: int = Field(gt=0, le=MAX_UINT160)
    expiration: int = Field(gt=0, le=MAX_UINT48)
    sig_deadline: int = Field(gt=0, lt=2**256)

    @field_validator("permit2", "token", "spender")
    @classmethod
    def _address(cls, value: str) -> str:
        if not Web3.is_address(value):
            raise ValueError(f"{value!r} is not an address")
        return to_checksum_address(value)


class SignedPermit(Frozen):
    """A :class:`PermitRequest` signed by its owner at Permit2 ``nonce``: 65 bytes r ‖ s ‖ v, 0x-prefixed."""

    request: PermitRequest
    nonce: int = Field(ge=0, le=MAX_UINT48)
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")

    def permit_single(self) -> tuple[tuple[str, int, int, int], str, int]:
        """``IAllowanceTransfer.PermitSingle`` as eth_abi takes it."""
        r = self.request
        return (r.token, r.amount, r.expiration, self.nonce), r.spender, r.sig_deadline


def permit_typed_data(request: PermitRequest, nonce: int, chain_id: int) -> dict[str, Any]:
    """The full EIP-712 message of a ``PermitSingle`` (eth-account's ``encode_typed_data(full_message=...)``)."""
    return {
        "types": PERMIT_TYPES,
        "primaryType": "PermitSingle",
        "domain": {"name": "Permit2", "chainId": chain_id, "verifyingContract": request.permit2},
        "message": {
            "details": {"token": request.token, "amount": request.amount, "expiration": request.expiration,
                        "nonce": nonce},
            "spender": request.spender,
            "sigDeadline": request.sig_deadline,
        },
    }


def allowance_calldata(owner: str, token: str, spender: str) -> str:
    """Calldata of ``Permit2.allowance(owner, token, spender)``."""
    args = encode(["address", "address", "address"], [to_checksum_address(a) for a in (owner, token, spender)])
    return "0x" + (ALLOWANCE_SELECTOR + args).hex()


def decode_allowance(data: bytes) -> tuple[int, int, int]:
    """(amount, expiration, nonce) from ``allowance``'s return data; ValueError when it is not that."""
    if len(data) != 96:
        raise ValueError(f"allowance returned {len(data)} bytes, not 96")
    amount, expiration, nonce = decode(["uint160", "uint48", "uint48"], data)
    return int(amount), int(expiration), int(nonce)


def read_permit_nonce(w3: Web3, chain: str, request: PermitRequest, owner: str, block: str = "latest") -> int:
    """The nonce Permit2 expects next for (``owner``, the request's token and spender), read at ``block``.

    Read fresh right before signing (it is the nonce of the permit, so a stale one makes the swap revert).
    RpcError naming the chain when the call fails or returns something that is not an allowance.
    """
    batch = RpcBatch(w3, chain)
    call = {"to": request.permit2, "data": allowance_calldata(owner, request.token, request.spender)}
    index = batch.add("eth_call", [call, block])
    batch.send()
    raw = batch.result(index)
    try:
        return decode_allowance(bytes.fromhex(str(raw).removeprefix("0x")))[2]
    except ValueError as exc:
        raise RpcError(f"chain {chain}: Permit2 {request.permit2} allowance({owner}, {request.token}, "
                       f"{request.spender}) gave no nonce: {exc}") from None


__all__ = [
    "ALLOWANCE_SELECTOR",
    "MAX_UINT48",
    "MAX_UINT160",
    "PERMIT_TYPES",
    "PermitRequest",
    "SignedPermit",
    "allowance_calldata",
    "decode_allowance",
    "permit_typed_data",
    "read_permit_nonce",
]
