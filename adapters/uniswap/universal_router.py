"""UniversalRouter commands any route may use: Permit2 permits and pulls, WETH wrapping, ``execute`` calldata.

Layouts follow universal-router 2.1.0's ``Commands.sol`` and ``Dispatcher.sol`` (read, not copied): each command's
input is the ABI encoding of the values its ``dispatch`` branch decodes. A command without ``FLAG_ALLOW_REVERT``
that fails reverts the whole ``execute``, so a permit Permit2 refuses (a stale nonce, an expired signature) stops
the swap before any token moves. Protocol-specific swap commands (V4_SWAP's action plans) live with their adapter.

Usage::

    commands, inputs = commands_and_inputs([
        (Command.PERMIT2_PERMIT, permit2_permit(signed)),
        (Command.V4_SWAP, plan),
    ])
    data = execute_calldata(commands, inputs, deadline)   # UniversalRouter.execute(bytes, bytes[], uint256)
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum

from eth_abi.abi import encode
from eth_utils.address import to_checksum_address

from adapters.permit2 import MAX_UINT160, SignedPermit

#: execute(bytes commands, bytes[] inputs, uint256 deadline)
EXECUTE_SELECTOR = bytes.fromhex("3593564c")
#: Recipients the router maps (v4-periphery ActionConstants): the caller of ``execute``, and the router itself.
MSG_SENDER = "0x0000000000000000000000000000000000000001"
ADDRESS_THIS = "0x0000000000000000000000000000000000000002"
#: An amount meaning "the router's whole balance" (WRAP_ETH, SETTLE) and "the whole open delta" (V4 TAKE, SETTLE).
CONTRACT_BALANCE = 2**255
OPEN_DELTA = 0
_PERMIT_SINGLE = "((address,uint160,uint48,uint48),address,uint256)"


class Command(IntEnum):
    """universal-router ``Commands``: one byte per command of ``execute``."""

    V3_SWAP_EXACT_IN = 0x00
    PERMIT2_TRANSFER_FROM = 0x02
    SWEEP = 0x04
    V2_SWAP_EXACT_IN = 0x08
    PERMIT2_PERMIT = 0x0A
    WRAP_ETH = 0x0B
    UNWRAP_WETH = 0x0C
    V4_SWAP = 0x10


def permit2_permit(permit: SignedPermit) -> bytes:
    """PERMIT2_PERMIT input: ``(PermitSingle, bytes signature)``; the router calls ``Permit2.permit`` with the
    caller of ``execute`` as owner."""
    return encode([_PERMIT_SINGLE, "bytes"], [permit.permit_single(), bytes.fromhex(permit.signature[2:])])


def permit2_transfer_from(token: str, recipient: str, amount: int) -> bytes:
    """PERMIT2_TRANSFER_FROM input: pull ``amount`` of ``token`` from the caller to ``recipient`` through the
    caller's Permit2 allowance for the router."""
    if not 0 < amount <= MAX_UINT160:
        raise ValueError(f"a Permit2 transfer moves 1..2**160-1 units, not {amount}")
    return encode(["address", "address", "uint160"], [to_checksum_address(token), to_checksum_address(recipient),
                                                      amount])


def wrap_eth(recipient: str, amount: int) -> bytes:
    """WRAP_ETH input: wrap ``amount`` of the router's ether (CONTRACT_BALANCE: all of it) to ``recipient``."""
    return encode(["address", "uint256"], [to_checksum_address(recipient), amount])


def unwrap_weth(recipient: str, amount_minimum: int) -> bytes:
    """UNWRAP_WETH input: unwrap all of the router's WETH (at least ``amount_minimum``) and send it to
    ``recipient`` (ADDRESS_THIS keeps the ether in the router for the next command)."""
    return encode(["address", "uint256"], [to_checksum_address(recipient), amount_minimum])


def commands_and_inputs(steps: Sequence[tuple[Command, bytes]]) -> tuple[bytes, list[bytes]]:
    """``execute``'s commands (one byte each, none allowed to revert) and inputs."""
    return bytes(int(command) for command, _ in steps), [data for _, data in steps]


def execute_calldata(commands: bytes, inputs: Sequence[bytes], deadline: int) -> str:
    """0x calldata of ``UniversalRouter.execute(commands, inputs, deadline)``."""
    return "0x" + (EXECUTE_SELECTOR + encode(["bytes", "bytes[]", "uint256"], [commands, list(inputs), deadline])).hex()


__all__ = [
    "ADDRESS_THIS",
    "CONTRACT_BALANCE",
    "EXECUTE_SELECTOR",
    "MSG_SENDER",
    "OPEN_DELTA",
    "Command",
    "commands_and_inputs",
    "execute_calldata",
    "permit2_permit",
    "permit2_transfer_from",
    "unwrap_weth",
    "wrap_eth",
]
