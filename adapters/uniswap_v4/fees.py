"""Uniswap V4 swap fees: the LP fee, the protocol fee of the swap's direction, and the fee the pool charges.

v4-core ``Pool.swap`` charges one ``swapFee`` on the input of every step: the LP fee when the direction's protocol
fee is 0, else ``ProtocolFeeLibrary.calculateSwapFee``: protocolFee + lpFee − protocolFee·lpFee / 1e6 (floored).
The protocol's share is then carved out of each step's fee (``(amountIn + feeAmount)·protocolFee / 1e6``, or the
whole fee when the LP fee is 0); that moves fee growth between LPs and the protocol but no amount the swapper pays
or gets, so quotes need only ``swapFee``. slot0's ``protocolFee`` packs both directions in 12 bits each:
zeroForOne in the low 12, oneForZero in the high 12. A dynamic-fee pool (key fee ``0x800000``) keeps its current
LP fee in slot0's ``lpFee``, as every pool does (a static pool's equals its key fee), so the model always reads it
from slot0.

Usage::

    fee = swap_fee(lp_fee=3000, protocol_fee=(500 << 12) | 100, zero_for_one=True)  # 3000 + 100 - 0 = 3100
"""

from __future__ import annotations

PIPS_DENOMINATOR = 1_000_000
MAX_LP_FEE = 1_000_000  # LPFeeLibrary.MAX_LP_FEE: 100%
MAX_PROTOCOL_FEE = 1000  # ProtocolFeeLibrary.MAX_PROTOCOL_FEE: 0.1% per direction
DYNAMIC_FEE_FLAG = 0x800000  # LPFeeLibrary.DYNAMIC_FEE_FLAG: a pool key's fee marking a dynamic-fee pool


def is_dynamic_fee(key_fee: int) -> bool:
    """``LPFeeLibrary.isDynamicFee``: the key's fee is exactly the flag (not any fee with the bit set)."""
    return key_fee == DYNAMIC_FEE_FLAG


def direction_protocol_fee(protocol_fee: int, zero_for_one: bool) -> int:
    """The 12-bit protocol fee of one direction from slot0's packed ``protocolFee``."""
    return protocol_fee & 0xFFF if zero_for_one else (protocol_fee >> 12) & 0xFFF


def swap_fee(lp_fee: int, protocol_fee: int, zero_for_one: bool) -> int:
    """The fee in pips a swap in this direction pays on its input (see module doc)."""
    fee = direction_protocol_fee(protocol_fee, zero_for_one)
    if fee == 0:
        return lp_fee
    return fee + lp_fee - fee * lp_fee // PIPS_DENOMINATOR


__all__ = [
    "DYNAMIC_FEE_FLAG",
    "MAX_LP_FEE",
    "MAX_PROTOCOL_FEE",
    "PIPS_DENOMINATOR",
    "direction_protocol_fee",
    "is_dynamic_fee",
    "swap_fee",
]
