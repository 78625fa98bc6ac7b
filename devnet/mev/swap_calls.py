"""The Uniswap router calls the sandwich searcher reads in the mempool and makes itself, as calldata.

A victim is a pending ``SwapRouter.exactInputSingle`` (V3) or ``UniswapV2Router02.swapExactTokensForTokens`` (V2)
with a single hop; :func:`decode_swap` reads one from a ``txpool_content`` entry, :func:`swap_call` makes the same
call for the searcher's front- and back-runs, and :func:`transferred` reads what a mined swap actually paid out.

Usage::

    swap = decode_swap(tx, {router: "v3"})    # PendingSwap, or None for anything else
    call = swap_call("v3", router, me, weth, usdc, 500, amount_in, min_out, deadline)
    got = transferred(receipt, usdc, me)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode, encode
from eth_abi.exceptions import DecodingError
from web3 import Web3

EXACT_INPUT_SINGLE = "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"
EXACT_INPUT_TYPE = "(address,address,uint24,address,uint256,uint256,uint256,uint160)"
SWAP_EXACT_TOKENS = "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)"
SWAP_EXACT_TYPES = ("uint256", "uint256", "address[]", "address", "uint256")
TRANSFER_TOPIC = Web3.to_hex(Web3.keccak(text="Transfer(address,address,uint256)"))


def selector(signature: str) -> bytes:
    """The 4-byte function selector of ``signature``."""
    return bytes(Web3.keccak(text=signature)[:4])


def call_data(signature: str, types: list[str], values: list[Any]) -> str:
    """The calldata of ``signature`` with ``values`` ABI-encoded as ``types``."""
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
        data = call_data(EXACT_INPUT_SINGLE, [EXACT_INPUT_TYPE],
                          [(token_in, token_out, fee, sender, deadline, amount_in, min_out, 0)])
    else:
        data = call_data(SWAP_EXACT_TOKENS, list(SWAP_EXACT_TYPES),
                          [amount_in, min_out, [token_in, token_out], sender, deadline])
    return {"from": sender, "to": router, "data": data}


def transferred(receipt: Mapping[str, Any], token: str, to: str) -> int:
    """The sum of ``token``'s ERC20 Transfer events to ``to`` in a receipt."""
    topic = "0x" + "00" * 12 + to[2:].lower()
    return sum(int(log["data"], 16) for log in receipt.get("logs", [])
               if log["address"].lower() == token.lower() and len(log["topics"]) == 3
               and log["topics"][0] == TRANSFER_TOPIC and log["topics"][2].lower() == topic)


__all__ = [
    "EXACT_INPUT_SINGLE",
    "EXACT_INPUT_TYPE",
    "SWAP_EXACT_TOKENS",
    "SWAP_EXACT_TYPES",
    "TRANSFER_TOPIC",
    "PendingSwap",
    "call_data",
    "decode_swap",
    "selector",
    "swap_call",
    "transferred",
]
