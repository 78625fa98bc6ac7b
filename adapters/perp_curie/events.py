"""Curie's ClearingHouse events in a mined receipt: PositionChanged, decoded into :class:`adapters.perps.PerpFill`.

Usage::

    fills = decode_position_changed(receipt, clearing_house, base_token, chain="optimism", market="eth_perp")
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hexbytes import HexBytes
from web3 import Web3

from adapters.perps import PerpFill
from adapters.rpc import checksum_address, decode

POSITION_CHANGED = bytes(Web3.keccak(
    text="PositionChanged(address,address,int256,int256,uint256,int256,int256,uint256)"))
_DATA = ("int256", "int256", "uint256", "int256", "int256", "uint256")


def _hex(value: Any) -> str:
    return "0x" + bytes(HexBytes(value)).hex()


def _address_topic(topic: Any) -> str:
    return checksum_address("0x" + bytes(HexBytes(topic))[-20:].hex())


def decode_position_changed(receipt: Mapping[str, Any], clearing_house: str, base_token: str, chain: str,
                            market: str) -> list[PerpFill]:
    """Every PositionChanged the ClearingHouse emitted in ``receipt`` for ``base_token``, in log order (another
    contract's log with the same topic, or another market's, is not this market's fill)."""
    house, base = checksum_address(clearing_house), checksum_address(base_token)
    fills = []
    for log in receipt.get("logs", []):
        topics = log["topics"]
        if len(topics) != 3 or bytes(HexBytes(topics[0])) != POSITION_CHANGED:
            continue
        if checksum_address(log["address"]) != house or _address_topic(topics[2]) != base:
            continue
        size, notional, fee, open_notional, pnl, sqrt_after = decode(_DATA, bytes(HexBytes(log["data"])))
        fills.append(PerpFill(
            chain=chain, market=market, trader=_address_topic(topics[1]), base_token=base,
            exchanged_position_size=int(size), exchanged_position_notional=int(notional), fee=int(fee),
            open_notional=int(open_notional), realized_pnl=int(pnl), sqrt_price_x96_after=int(sqrt_after),
            tx_hash=_hex(log["transactionHash"]), block_number=int(log["blockNumber"]),
            log_index=int(log["logIndex"]),
        ))
    return fills


__all__ = ["POSITION_CHANGED", "decode_position_changed"]
