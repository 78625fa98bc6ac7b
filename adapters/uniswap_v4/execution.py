"""Uniswap V4 swaps and fills: UniversalRouter V4_SWAP with Permit2, fills from PoolManager's Swap event.

Placeholders until the execution work lands: the adapter delegates ``build_swap`` and ``parse_receipt`` here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.types import Fill, Side, TxRequest, VenueState
from crosshedge import AdapterError


def build_v4_swap(state: VenueState, side: Side, amount_in: int, min_amount_out: int, recipient: str,
                  deadline: int) -> TxRequest:
    """UniversalRouter ``execute`` of one exact-in V4 swap on the state's pool (not wired yet)."""
    raise AdapterError(f"chain {state.chain}: venue {state.venue}: Uniswap V4 swaps are not wired yet")


def parse_v4_fill(state: VenueState, receipt: Mapping[str, Any]) -> Fill:
    """The pool's Swap event on PoolManager in ``receipt`` as a Fill (not wired yet)."""
    raise AdapterError(f"chain {state.chain}: venue {state.venue}: Uniswap V4 swaps are not wired yet")


__all__ = ["build_v4_swap", "parse_v4_fill"]
