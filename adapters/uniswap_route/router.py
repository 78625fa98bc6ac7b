"""A route's swap as UniversalRouter commands: consecutive V3 legs as one V3_SWAP_EXACT_IN over a multi-pool path,
V2 legs as V2_SWAP_EXACT_IN; the router holds the intermediate tokens between commands.

Layouts follow universal-router 2.1.0's ``Dispatcher.sol`` (read, not copied): V3_SWAP_EXACT_IN and
V2_SWAP_EXACT_IN both take ``(recipient, amountIn, amountOutMin, path, payerIsUser)``, the V3 path packed as
token ‖ fee (3 bytes) ‖ token …, the V2 path an address array. The first command pulls the input from the caller
through Permit2 (``payerIsUser``); each later one spends the router's whole balance of its input
(CONTRACT_BALANCE), which is exactly what the command before delivered to it (ADDRESS_THIS). Only the last command
pays the recipient and carries the minimum: the final output is what ``min_amount_out`` protects (the router reverts
V3TooLittleReceived / V2TooLittleReceived below it).

Usage::

    data = route_calldata(groups, amount_in, min_out, recipient, deadline)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi.abi import encode
from eth_utils.address import to_checksum_address

#: execute(bytes commands, bytes[] inputs, uint256 deadline)
EXECUTE_SELECTOR = bytes.fromhex("3593564c")
V3_SWAP_EXACT_IN, V2_SWAP_EXACT_IN, PERMIT2_PERMIT = 0x00, 0x08, 0x0A
#: Recipient constant the router maps to itself (v4-periphery ActionConstants.ADDRESS_THIS).
ADDRESS_THIS = "0x0000000000000000000000000000000000000002"
#: amountIn meaning the router's whole balance of the command's input token.
CONTRACT_BALANCE = 2**255
#: Leg kind -> UniversalRouter command for a run of consecutive legs of that kind.
COMMAND_OF_KIND = {"uniswap_v3": V3_SWAP_EXACT_IN, "uniswap_v2": V2_SWAP_EXACT_IN}


@dataclass(frozen=True)
class Hop:
    """One leg in swap order: its kind, the token in and out, and its fee (pips; the V3 path needs it)."""

    kind: str
    token_in: str
    token_out: str
    fee: int


def groups_of(hops: Sequence[Hop]) -> list[list[Hop]]:
    """Consecutive hops of the same kind, each run one router command (a V3 run is one multi-pool path)."""
    out: list[list[Hop]] = []
    for hop in hops:
        if hop.kind not in COMMAND_OF_KIND:
            raise ValueError(f"no UniversalRouter command for {hop.kind} legs")
        if out and out[-1][0].kind == hop.kind:
            out[-1].append(hop)
        else:
            out.append([hop])
    return out


def v3_path(hops: Sequence[Hop]) -> bytes:
    """token ‖ fee ‖ token ‖ fee ‖ token (Uniswap V3 Path encoding)."""
    path = bytes.fromhex(hops[0].token_in[2:])
    for hop in hops:
        path += hop.fee.to_bytes(3, "big") + bytes.fromhex(hop.token_out[2:])
    return path


def _swap_input(group: Sequence[Hop], recipient: str, amount_in: int, min_out: int, payer_is_user: bool) -> bytes:
    head = [to_checksum_address(recipient), amount_in, min_out]
    if group[0].kind == "uniswap_v3":
        return encode(["address", "uint256", "uint256", "bytes", "bool"], [*head, v3_path(group), payer_is_user])
    path = [to_checksum_address(group[0].token_in)] + [to_checksum_address(h.token_out) for h in group]
    return encode(["address", "uint256", "uint256", "address[]", "bool"], [*head, path, payer_is_user])


def route_commands(hops: Sequence[Hop], amount_in: int, min_out: int, recipient: str,
                   permit: bytes | None = None) -> tuple[bytes, list[bytes]]:
    """``execute``'s commands and inputs for the route (see module doc); ``permit`` is a PERMIT2_PERMIT input
    (a signed PermitSingle for exactly ``amount_in``) to run first, when the wallet has no standing allowance."""
    commands, inputs = [], []
    if permit is not None:
        commands.append(PERMIT2_PERMIT)
        inputs.append(permit)
    groups = groups_of(hops)
    for i, group in enumerate(groups):
        last = i == len(groups) - 1
        commands.append(COMMAND_OF_KIND[group[0].kind])
        inputs.append(_swap_input(group, recipient if last else ADDRESS_THIS, amount_in if i == 0 else
                                  CONTRACT_BALANCE, min_out if last else 0, payer_is_user=i == 0))
    return bytes(commands), inputs


def route_calldata(hops: Sequence[Hop], amount_in: int, min_out: int, recipient: str, deadline: int,
                   permit: bytes | None = None) -> str:
    """0x calldata of ``UniversalRouter.execute(commands, inputs, deadline)`` for the route."""
    commands, inputs = route_commands(hops, amount_in, min_out, recipient, permit)
    return "0x" + (EXECUTE_SELECTOR + encode(["bytes", "bytes[]", "uint256"], [commands, inputs, deadline])).hex()


__all__ = ["ADDRESS_THIS", "COMMAND_OF_KIND", "CONTRACT_BALANCE", "EXECUTE_SELECTOR", "Hop", "groups_of",
           "route_calldata", "route_commands", "v3_path"]
