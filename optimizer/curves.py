"""Walking a venue's (or a perp vAMM's) piecewise-linear cost curve: what a size fetches, and how far it reaches.

Usage::

    curve_quote(state.sell, 2.5)      # USD received for selling 2.5 base units along the curve
    curve_capacity(state.buy)         # the most base units the curve can buy
"""

from __future__ import annotations

from adapters import Curve


def curve_quote(curve: Curve, base_amount: float) -> float:
    """Quote units for ``base_amount`` along the piecewise-linear curve (received for SELL, paid for BUY)."""
    left, total = base_amount, 0.0
    for seg in curve.segments:
        take = min(left, seg.size)
        total += take * seg.price
        left -= take
        if left <= 0:
            break
    return total


def curve_capacity(curve: Curve) -> float:
    """The base units the curve reaches: the sum of its pieces."""
    return sum(seg.size for seg in curve.segments)


__all__ = ["curve_capacity", "curve_quote"]
