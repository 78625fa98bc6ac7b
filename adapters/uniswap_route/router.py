"""A route's swap as UniversalRouter commands: consecutive V3 legs as one V3_SWAP_EXACT_IN over a multi-pool path,
V2 legs as V2_SWAP_EXACT_IN, V4 legs as one V4_SWAP action plan; the router holds the intermediate tokens between
commands.

Layouts follow universal-router 2.1.0's ``Dispatcher.sol`` (read, not copied): V3_SWAP_EXACT_IN and
V2_SWAP_EXACT_IN both take ``(recipient, amountIn, amountOutMin, path, payerIsUser)``, the V3 path packed as
token ‖ fee (3 bytes) ‖ token …, the V2 path an address array. The first command pulls the input from the caller
through Permit2 (``payerIsUser``); each later one spends the router's whole balance of its input
(CONTRACT_BALANCE), which is exactly what the command before delivered to it (ADDRESS_THIS). Only the last command
pays the recipient and carries the minimum: the final output is what ``min_amount_out`` protects (the router reverts
V3TooLittleReceived / V2TooLittleReceived below it).

A V4 run (v4-periphery's V4Router, read, not copied) is one unlock: the first group swaps exactly ``amountIn``
(SWAP_EXACT_IN_SINGLE) and SETTLEs exactly that from the user through Permit2; a later group first SETTLEs the
router's whole balance of its input (CONTRACT_BALANCE, payerIsUser false), which is then its credit. Every further
hop swaps the full credit of its input (OPEN_DELTA), and a TAKE of the whole output (OPEN_DELTA) pays the recipient,
or the router for the next command. The last hop carries the minimum (V4TooLittleReceived). A swap the pool fills
only partly leaves a currency unsettled, and PoolManager reverts the whole call rather than strand the rest.

Usage::

    data = route_calldata(groups, amount_in, min_out, recipient, deadline)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi.abi import encode
from eth_utils.address import to_checksum_address

from adapters.permit2 import SignedPermit
from adapters.uniswap.universal_router import (
    ADDRESS_THIS,
    CONTRACT_BALANCE,
    OPEN_DELTA,
    Command,
    commands_and_inputs,
    execute_calldata,
    permit2_permit,
)
from adapters.uniswap_v4.encoding import (
    NO_HOOKS,
    Action,
    PoolKey,
    encode_actions,
    sorted_currencies,
    swap_exact_in_single,
)

#: Leg kind -> UniversalRouter command for a run of consecutive legs of that kind.
COMMAND_OF_KIND = {"uniswap_v3": Command.V3_SWAP_EXACT_IN, "uniswap_v2": Command.V2_SWAP_EXACT_IN,
                   "uniswap_v4": Command.V4_SWAP}


@dataclass(frozen=True)
class Hop:
    """One leg in swap order: its kind, the token in and out, and its fee (pips; the V3 path and a V4 pool key need
    it); a V4 leg's key also needs its tick spacing and hooks."""

    kind: str
    token_in: str
    token_out: str
    fee: int
    tick_spacing: int = 0
    hooks: str = NO_HOOKS

    def pool_key(self) -> PoolKey:
        """The V4 pool key of this hop's pool."""
        currency0, currency1 = sorted_currencies(self.token_in, self.token_out)
        return PoolKey(currency0, currency1, self.fee, self.tick_spacing, self.hooks)

    @property
    def zero_for_one(self) -> bool:
        return int(self.token_in, 16) < int(self.token_out, 16)


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


def v4_plan(group: Sequence[Hop], recipient: str, amount_in: int, min_out: int, payer_is_user: bool) -> bytes:
    """The V4_SWAP action plan of a run of V4 hops (see module doc); ``amount_in`` is CONTRACT_BALANCE after the
    first group."""
    first, last = group[0], group[-1]
    settle = encode(["address", "uint256", "bool"], [to_checksum_address(first.token_in), amount_in, payer_is_user])
    steps: list[tuple[Action, bytes]] = [] if payer_is_user else [(Action.SETTLE, settle)]
    for k, hop in enumerate(group):
        swap_in = amount_in if payer_is_user and k == 0 else OPEN_DELTA
        steps.append((Action.SWAP_EXACT_IN_SINGLE, swap_exact_in_single(
            hop.pool_key(), hop.zero_for_one, swap_in, min_out if k == len(group) - 1 else 0)))
    if payer_is_user:
        steps.append((Action.SETTLE, settle))
    steps.append((Action.TAKE, encode(["address", "address", "uint256"], [
        to_checksum_address(last.token_out), to_checksum_address(recipient), OPEN_DELTA])))
    return encode_actions(steps)


def _swap_input(group: Sequence[Hop], recipient: str, amount_in: int, min_out: int, payer_is_user: bool) -> bytes:
    if group[0].kind == "uniswap_v4":
        return v4_plan(group, recipient, amount_in, min_out, payer_is_user)
    head = [to_checksum_address(recipient), amount_in, min_out]
    if group[0].kind == "uniswap_v3":
        return encode(["address", "uint256", "uint256", "bytes", "bool"], [*head, v3_path(group), payer_is_user])
    path = [to_checksum_address(group[0].token_in)] + [to_checksum_address(h.token_out) for h in group]
    return encode(["address", "uint256", "uint256", "address[]", "bool"], [*head, path, payer_is_user])


def route_commands(hops: Sequence[Hop], amount_in: int, min_out: int, recipient: str,
                   permit: SignedPermit | None = None) -> tuple[bytes, list[bytes]]:
    """``execute``'s commands and inputs for the route (see module doc); ``permit`` (a PermitSingle for exactly
    ``amount_in``, signed by the wallet) runs first as PERMIT2_PERMIT, when the wallet has no standing allowance."""
    steps: list[tuple[Command, bytes]] = [(Command.PERMIT2_PERMIT, permit2_permit(permit))] if permit else []
    groups = groups_of(hops)
    for i, group in enumerate(groups):
        last = i == len(groups) - 1
        steps.append((COMMAND_OF_KIND[group[0].kind],
                      _swap_input(group, recipient if last else ADDRESS_THIS, amount_in if i == 0 else
                                  CONTRACT_BALANCE, min_out if last else 0, payer_is_user=i == 0)))
    return commands_and_inputs(steps)


def route_calldata(hops: Sequence[Hop], amount_in: int, min_out: int, recipient: str, deadline: int,
                   permit: SignedPermit | None = None) -> str:
    """0x calldata of ``UniversalRouter.execute(commands, inputs, deadline)`` for the route."""
    commands, inputs = route_commands(hops, amount_in, min_out, recipient, permit)
    return execute_calldata(commands, inputs, deadline)


__all__ = ["COMMAND_OF_KIND", "Hop", "groups_of", "route_calldata", "route_commands", "v3_path", "v4_plan"]
