"""A mined route swap's receipt as a :class:`Fill`: the wallet's token Transfers, checked against the legs' Swaps.

What the wallet paid is the input token's Transfer from the sender (``receipt.from``) to the first leg's custodian
(its pool or pair; V4's PoolManager); what it got is the output token's Transfer from the last leg's custodian. The
first leg's Swap event must report the same input and the last leg's the same output: a receipt where they disagree
(a leg that is not the route's, an extra pull) is refused.

Usage::

    fill = fill_of_route(state, receipt, adapter.hops)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hexbytes import HexBytes
from web3 import Web3

from adapters.types import Fill, Side, VenueState
from adapters.uniswap_route.legs import LEG_KINDS
from adapters.uniswap_route.router import Hop
from crosshedge import AdapterError

TRANSFER_TOPIC = HexBytes(Web3.keccak(text="Transfer(address,address,uint256)"))


def _topic_address(topic: HexBytes) -> str:
    return Web3.to_checksum_address(topic[-20:])


def _transfers(receipt: Mapping[str, Any], token: str) -> list[tuple[str, str, int]]:
    """(from, to, amount) of every Transfer ``token`` emitted in the receipt, in log order."""
    out = []
    for log in receipt["logs"]:
        topics = [HexBytes(t) for t in log["topics"]]
        if Web3.to_checksum_address(log["address"]) == token and len(topics) == 3 and topics[0] == TRANSFER_TOPIC:
            out.append((_topic_address(topics[1]), _topic_address(topics[2]), int.from_bytes(HexBytes(log["data"]))))
    return out


def _custodian(leg: Mapping[str, Any]) -> str:
    """The contract holding the leg's tokens (recorded states from before V4 legs name only the pool)."""
    return Web3.to_checksum_address(str(leg.get("custodian", leg["address"])))


def _swap_amounts(receipt: Mapping[str, Any], leg: Mapping[str, Any], hop: Hop) -> tuple[int, int]:
    kind = LEG_KINDS[str(leg["kind"])]
    for log in receipt["logs"]:
        if kind.is_swap_log(dict(leg), log):
            return kind.decode_swap(HexBytes(log["data"]), hop.token_in == leg["token0"])
    raise ValueError(f"no Swap event of leg pool {leg['address']}")


def fill_of_route(state: VenueState, receipt: Mapping[str, Any], hops_of: Callable[[VenueState, Side], Sequence[Hop]]
                  ) -> Fill:
    """The route's fill (see module doc); AdapterError naming chain and venue when the receipt is not one."""
    where = f"chain {state.chain}: venue {state.venue}"
    tx_hash = HexBytes(receipt["transactionHash"]).to_0x_hex()
    if int(receipt.get("status", 0)) != 1:
        raise AdapterError(f"{where}: transaction {tx_hash} reverted")
    wallet = Web3.to_checksum_address(str(receipt["from"]))
    legs = state.pool["legs"]
    for side in (Side.SELL, Side.BUY):
        hops = list(hops_of(state, side))
        ordered = legs if side is Side.SELL else legs[::-1]
        first, last = _custodian(ordered[0]), _custodian(ordered[-1])
        paid = [a for f, t, a in _transfers(receipt, Web3.to_checksum_address(hops[0].token_in))
                if f == wallet and t == first]
        got = [a for f, _, a in _transfers(receipt, Web3.to_checksum_address(hops[-1].token_out)) if f == last]
        if not paid or not got:
            continue
        try:
            swap_in, _ = _swap_amounts(receipt, ordered[0], hops[0])
            _, swap_out = _swap_amounts(receipt, ordered[-1], hops[-1])
        except ValueError as exc:
            raise AdapterError(f"{where}: transaction {tx_hash}: {exc}") from None
        if (sum(paid), sum(got)) != (swap_in, swap_out):
            raise AdapterError(f"{where}: transaction {tx_hash}: the wallet's transfers ({sum(paid)} in, {sum(got)} "
                               f"out) disagree with the legs' Swap events ({swap_in} in, {swap_out} out)")
        base, quote = (swap_in, swap_out) if side is Side.SELL else (swap_out, swap_in)
        return Fill(chain=state.chain, venue=state.venue, tx_hash=tx_hash, block_number=int(receipt["blockNumber"]),
                    side=side, amount_in_raw=swap_in, amount_out_raw=swap_out,
                    base_amount=base / 10**state.base.decimals, quote_amount=quote / 10**state.quote.decimals,
                    gas_used=int(receipt["gasUsed"]), effective_gas_price_wei=int(receipt.get("effectiveGasPrice", 0)))
    raise AdapterError(f"{where}: transaction {tx_hash} moves no input from {wallet} into the route's first pool "
                       "and output out of its last")
