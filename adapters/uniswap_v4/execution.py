"""Executing a Uniswap V4 swap: one ``UniversalRouter.execute`` carrying the Permit2 permit, and its fill.

The wallet trades ERC20s only, WETH included; native-ether pools are reached by (un)wrapping inside the call:

* token in: PERMIT2_PERMIT, then V4_SWAP: SWAP_EXACT_IN_SINGLE (``amountOutMinimum`` = the swap's minimum, so a
  worse price reverts), SETTLE from the user through Permit2, TAKE the output;
* WETH in, ether pool: PERMIT2_PERMIT, PERMIT2_TRANSFER_FROM (WETH to the router), UNWRAP_WETH (kept in the
  router), V4_SWAP settling from the router's ether (payerIsUser false);
* ether out: TAKE to the router, then WRAP_ETH of the router's balance to the wallet.

Every SETTLE names exactly ``amount_in``: a swap that consumed less (the pool ran out of liquidity) leaves a
currency unsettled and PoolManager reverts the whole call, rather than stranding the rest in the router.

The fill comes from PoolManager's ``Swap`` event for this pool id. Its amounts are the swapper's balance deltas
(what it paid negative, what it took positive: ``Pool.swap``'s ``swapDelta``, despite IPoolManager's wording), and
they are cross-checked against the wallet's own token Transfer events (a hook or a wrap that moved anything else
shows up as a mismatch, and the receipt is refused).

``state.pool`` holds (from the adapter's read): ``pool_key`` {currency0, currency1, fee, tick_spacing, hooks},
``pool_id``, ``pool_manager``, ``universal_router``, ``permit2``, ``weth`` (address or None), ``base_is_currency0``
and ``chain_id``.

Usage::

    request = v4_permit_request(state, Side.SELL, amount_in, deadline)
    tx = build_v4_swap(state, Side.SELL, amount_in, min_out, wallet, deadline, signer.sign_permit(request, n, cid))
    fill = parse_v4_fill(state, receipt)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode, encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3

from adapters.permit2 import PermitRequest, SignedPermit
from adapters.receipts import SwapAmounts
from adapters.types import Fill, Side, TxRequest, VenueState
from adapters.uniswap.universal_router import (
    ADDRESS_THIS,
    CONTRACT_BALANCE,
    OPEN_DELTA,
    Command,
    commands_and_inputs,
    execute_calldata,
    permit2_permit,
    permit2_transfer_from,
    unwrap_weth,
    wrap_eth,
)
from adapters.uniswap_v4.encoding import Action, PoolKey, encode_actions, swap_exact_in_single
from crosshedge import AdapterError, UnsafeTransactionError

#: PoolManager ``Swap(bytes32 indexed id, address indexed sender, int128, int128, uint160, uint128, int24, uint24)``
SWAP_TOPIC = keccak(text="Swap(bytes32,address,int128,int128,uint160,uint128,int24,uint24)")
TRANSFER_TOPIC = keccak(text="Transfer(address,address,uint256)")


@dataclass(frozen=True)
class V4Route:
    """One swap's path through a V4 pool, in the wallet's terms: the ERC20s it pays and receives, the pool's
    currencies for them (the native currency where the pool holds ether) and the direction."""

    key: PoolKey
    zero_for_one: bool
    token_in: str  # the wallet's ERC20 (WETH for ether)
    token_out: str
    currency_in: str  # the pool's currency (0x0 for ether)
    currency_out: str

    @property
    def native_in(self) -> bool:
        return int(self.currency_in, 16) == 0

    @property
    def native_out(self) -> bool:
        return int(self.currency_out, 16) == 0


def _where(state: VenueState) -> str:
    return f"chain {state.chain}: venue {state.venue}"


def pool_key_of(state: VenueState) -> PoolKey:
    """The state's pool key; AdapterError naming the venue when the state holds none."""
    try:
        k = state.pool["pool_key"]
        return PoolKey(k["currency0"], k["currency1"], int(k["fee"]), int(k["tick_spacing"]), k["hooks"])
    except (KeyError, TypeError, ValueError) as exc:
        raise AdapterError(f"{_where(state)}: the state holds no valid V4 pool key ({exc})") from None


def route_of(state: VenueState, side: Side) -> V4Route:
    """The swap's route; AdapterError when a pool currency is neither the configured token nor, for ether, the
    configured WETH (the wallet would pay or receive something the books do not know)."""
    key = pool_key_of(state)
    base_is_0 = bool(state.pool["base_is_currency0"])
    base_c, quote_c = (key.currency0, key.currency1) if base_is_0 else (key.currency1, key.currency0)
    weth = state.pool.get("weth")
    for currency, token in ((base_c, state.base.address), (quote_c, state.quote.address)):
        expected = weth if int(currency, 16) == 0 else currency
        if expected is None or expected.lower() != token.lower():
            raise AdapterError(f"{_where(state)}: pool currency {currency} is not the configured token {token}"
                               + (" (an ether pool needs the chain's WETH)" if int(currency, 16) == 0 else ""))
    if side is Side.SELL:
        return V4Route(key, base_is_0, state.base.address, state.quote.address, base_c, quote_c)
    return V4Route(key, not base_is_0, state.quote.address, state.base.address, quote_c, base_c)


def v4_permit_request(state: VenueState, side: Side, amount_in: int, deadline: int) -> PermitRequest:
    """The Permit2 permit a V4 swap needs: the wallet's token in, exactly ``amount_in``, for the Universal Router,
    expiring (and its signature due) at ``deadline``."""
    route = route_of(state, side)
    return PermitRequest(permit2=state.pool["permit2"], token=route.token_in, spender=state.pool["universal_router"],
                         amount=amount_in, expiration=deadline, sig_deadline=deadline)


def _check_permit(state: VenueState, side: Side, amount_in: int, deadline: int, permit: SignedPermit) -> None:
    """UnsafeTransactionError unless ``permit`` is exactly what :func:`v4_permit_request` asks for this swap."""
    wanted = v4_permit_request(state, side, amount_in, deadline)
    if permit.request != wanted:
        raise UnsafeTransactionError(
            f"{_where(state)}: the permit ({permit.request.amount} of {permit.request.token} for "
            f"{permit.request.spender} until {permit.request.expiration}) is not the swap's ({amount_in} of "
            f"{wanted.token} for {wanted.spender} until {deadline})")


def v4_swap_plan(route: V4Route, amount_in: int, min_out: int, recipient: str) -> bytes:
    """The V4_SWAP action plan: swap exact in (``min_out`` enforced), settle exactly ``amount_in`` (from the user
    through Permit2, or from the router's ether), take the whole output to ``recipient`` (the router for ether)."""
    take_to = ADDRESS_THIS if route.native_out else recipient
    return encode_actions([
        (Action.SWAP_EXACT_IN_SINGLE, swap_exact_in_single(route.key, route.zero_for_one, amount_in, min_out)),
        (Action.SETTLE, encode(["address", "uint256", "bool"],
                               [to_checksum_address(route.currency_in), amount_in, not route.native_in])),
        (Action.TAKE, encode(["address", "address", "uint256"],
                             [to_checksum_address(route.currency_out), to_checksum_address(take_to), OPEN_DELTA])),
    ])


def build_v4_swap(state: VenueState, side: Side, amount_in: int, min_out: int, wallet: str, deadline: int,
                  permit: SignedPermit | None) -> TxRequest:
    """``UniversalRouter.execute`` of an exact-in swap of ``amount_in`` for at least ``min_out`` to ``wallet``.

    ``permit`` (signed by ``wallet``) leads the call; None relies on a standing Permit2 allowance of the router
    (the orchestrator always passes one). UnsafeTransactionError for a permit of anything but this swap's input.
    """
    if amount_in <= 0 or min_out <= 0 or amount_in >= 2**128 or min_out >= 2**128:
        raise AdapterError(f"{_where(state)}: amount in and minimum out must be in 1..2**128-1 (got {amount_in}, "
                           f"{min_out}); a zero minimum would accept any price")
    route = route_of(state, side)
    steps: list[tuple[Command, bytes]] = []
    if permit is not None:
        _check_permit(state, side, amount_in, deadline, permit)
        steps.append((Command.PERMIT2_PERMIT, permit2_permit(permit)))
    if route.native_in:
        steps += [(Command.PERMIT2_TRANSFER_FROM, permit2_transfer_from(route.token_in, ADDRESS_THIS, amount_in)),
                  (Command.UNWRAP_WETH, unwrap_weth(ADDRESS_THIS, amount_in))]
    steps.append((Command.V4_SWAP, v4_swap_plan(route, amount_in, min_out, wallet)))
    if route.native_out:
        steps.append((Command.WRAP_ETH, wrap_eth(wallet, CONTRACT_BALANCE)))
    commands, inputs = commands_and_inputs(steps)
    token_in, token_out = (state.base, state.quote) if side is Side.SELL else (state.quote, state.base)
    return TxRequest(
        chain_id=int(state.pool["chain_id"]), to=to_checksum_address(state.pool["universal_router"]),
        data=execute_calldata(commands, inputs, deadline),
        description=f"{state.venue}: {side.value} {amount_in} {token_in.symbol} for >= {min_out} {token_out.symbol} "
        "(Universal Router, V4)")


def _topics(log: Mapping[str, Any]) -> list[HexBytes]:
    return [HexBytes(t) for t in log["topics"]]


def _swap_deltas(state: VenueState, receipt: Mapping[str, Any], tx_hash: str) -> tuple[int, int]:
    """(amount0, amount1) of the one Swap event of this pool in the receipt (the swapper's deltas)."""
    manager = to_checksum_address(state.pool["pool_manager"])
    pool_id = HexBytes(state.pool["pool_id"])
    found = [log for log in receipt["logs"] if to_checksum_address(log["address"]) == manager
             and _topics(log)[:2] == [HexBytes(SWAP_TOPIC), pool_id]]
    if len(found) != 1:
        raise AdapterError(f"{_where(state)}: transaction {tx_hash} has {len(found)} Swap events of pool "
                           f"{state.pool['pool_id']} from PoolManager {manager}, not one")
    amount0, amount1, *_ = decode(["int128", "int128", "uint160", "uint128", "int24", "uint24"],
                                  HexBytes(found[0]["data"]))
    return int(amount0), int(amount1)


def _amounts(state: VenueState, amount0: int, amount1: int, tx_hash: str) -> SwapAmounts:
    base, quote = (amount0, amount1) if state.pool["base_is_currency0"] else (amount1, amount0)
    if base < 0 < quote:  # the swapper paid base: a sell
        return SwapAmounts(Side.SELL, -base, quote, -base, quote)
    if quote < 0 < base:
        return SwapAmounts(Side.BUY, -quote, base, base, -quote)
    raise AdapterError(f"{_where(state)}: transaction {tx_hash}'s Swap event moved ({amount0}, {amount1}), "
                       "not one currency in and the other out")


def wallet_transfers(receipt: Mapping[str, Any], token: str, wallet: str) -> tuple[int, int]:
    """(sent by ``wallet``, received by ``wallet``) of ``token`` in the receipt's Transfer events."""
    sent = received = 0
    token, wallet = to_checksum_address(token), to_checksum_address(wallet)
    for log in receipt["logs"]:
        topics = _topics(log)
        if to_checksum_address(log["address"]) != token or len(topics) != 3 or topics[0] != HexBytes(TRANSFER_TOPIC):
            continue
        src, dst = (to_checksum_address(t[-20:]) for t in topics[1:])
        value = int.from_bytes(HexBytes(log["data"])[:32], "big")
        sent += value if src == wallet else 0
        received += value if dst == wallet else 0
    return sent, received


def parse_v4_fill(state: VenueState, receipt: Mapping[str, Any]) -> Fill:
    """The pool's Swap event in a mined receipt as a Fill, checked against the sender's own token transfers
    (it paid exactly the input and received exactly the output); AdapterError naming the venue otherwise."""
    tx_hash = HexBytes(receipt["transactionHash"]).to_0x_hex()
    if int(receipt.get("status", 0)) != 1:
        raise AdapterError(f"{_where(state)}: transaction {tx_hash} reverted")
    if not Web3.is_address(receipt.get("from")):
        raise AdapterError(f"{_where(state)}: the receipt of {tx_hash} names no sender to check the fill against")
    swap = _amounts(state, *_swap_deltas(state, receipt, tx_hash), tx_hash)
    token_in, token_out = (state.base, state.quote) if swap.side is Side.SELL else (state.quote, state.base)
    paid, _ = wallet_transfers(receipt, token_in.address, receipt["from"])
    _, got = wallet_transfers(receipt, token_out.address, receipt["from"])
    if (paid, got) != (swap.amount_in, swap.amount_out):
        raise AdapterError(f"{_where(state)}: transaction {tx_hash}: the wallet paid {paid} {token_in.symbol} and "
                           f"received {got} {token_out.symbol}, but the Swap event says {swap.amount_in} in and "
                           f"{swap.amount_out} out")
    return Fill(
        chain=state.chain, venue=state.venue, tx_hash=tx_hash, block_number=int(receipt["blockNumber"]),
        side=swap.side, amount_in_raw=swap.amount_in, amount_out_raw=swap.amount_out,
        base_amount=swap.base / 10**state.base.decimals, quote_amount=swap.quote / 10**state.quote.decimals,
        gas_used=int(receipt["gasUsed"]), effective_gas_price_wei=int(receipt.get("effectiveGasPrice", 0)),
    )


__all__ = [
    "SWAP_TOPIC",
    "TRANSFER_TOPIC",
    "V4Route",
    "build_v4_swap",
    "parse_v4_fill",
    "pool_key_of",
    "route_of",
    "v4_permit_request",
    "v4_swap_plan",
    "wallet_transfers",
]
