"""Turning a mined swap's receipt into a :class:`Fill`: the part every pool-style venue shares.

Each venue decodes its own Swap event (V2 reports amounts in/out, V3 signed deltas); finding the event, refusing a
reverted or event-less receipt and filling in the Fill's bookkeeping are the same for all of them.

Usage::

    return fill_from_receipt(state, receipt, SWAP_TOPIC, "pool", decode_v3_swap)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from hexbytes import HexBytes
from web3 import Web3

from adapters.types import Fill, Side, VenueState
from crosshedge import AdapterError


class SwapAmounts(NamedTuple):
    """One Swap event in the trade's own terms (raw units)."""

    side: Side
    amount_in: int
    amount_out: int
    base: int  # base moved, either direction
    quote: int  # quote moved, either direction


#: Decodes a Swap event's data for one venue type, given whether the base token is the pool's token0.
SwapDecoder = Callable[[bytes, bool], SwapAmounts]


def fill_from_receipt(
    state: VenueState, receipt: Mapping[str, Any], topic: bytes, what: str, decode_swap: SwapDecoder
) -> Fill:
    """The venue's Swap event in ``receipt`` as a Fill; AdapterError if the tx reverted or has no such event."""
    where = f"chain {state.chain}: venue {state.venue}"
    tx_hash = HexBytes(receipt["transactionHash"]).to_0x_hex()
    if int(receipt.get("status", 0)) != 1:
        raise AdapterError(f"{where}: transaction {tx_hash} reverted")
    address = Web3.to_checksum_address(state.pool["address"])
    for log in receipt["logs"]:
        topics = [HexBytes(t) for t in log["topics"]]
        if Web3.to_checksum_address(log["address"]) != address or not topics or topics[0] != topic:
            continue
        swap = decode_swap(HexBytes(log["data"]), bool(state.pool["base_is_token0"]))
        return Fill(
            chain=state.chain, venue=state.venue, tx_hash=tx_hash, block_number=int(receipt["blockNumber"]),
            side=swap.side, amount_in_raw=swap.amount_in, amount_out_raw=swap.amount_out,
            base_amount=swap.base / 10**state.base.decimals, quote_amount=swap.quote / 10**state.quote.decimals,
            gas_used=int(receipt["gasUsed"]), effective_gas_price_wei=int(receipt.get("effectiveGasPrice", 0)),
        )
    raise AdapterError(f"{where}: transaction {tx_hash} has no Swap event from {what} {address}")
