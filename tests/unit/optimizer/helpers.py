"""Small problems and an exact piecewise-linear venue model shared by the optimizer's unit tests."""

from __future__ import annotations

import math

from adapters import Side, VenueState
from optimizer import HedgeProblem, HedgeTarget, cp_state


def pwl_quote(state: VenueState, side: Side, amount_in: int) -> int:
    """An exact venue model that follows the state's piecewise-linear curve to the raw unit (zero model error)."""
    curve = state.sell if side is Side.SELL else state.buy
    left = amount_in / 10 ** (state.base.decimals if side is Side.SELL else state.quote.decimals)
    out = 0.0
    for seg in curve.segments:
        if side is Side.SELL:
            take = min(left, seg.size)
            out, left = out + take * seg.price, left - take
        else:
            take = min(left, seg.size * seg.price)
            out, left = out + take / seg.price, left - take
        if left <= 0:
            break
    scale: int = 10 ** (state.quote.decimals if side is Side.SELL else state.base.decimals)
    return math.floor(out * scale)


def make_problem(current: float = 150.0, **overrides: object) -> HedgeProblem:
    """Three ETH venues on three chains and one BTC venue; ETH 150 long against a ±20 band."""
    venues = [
        cp_state("ethereum", "v2", "ETH", mid=3000, depth_usd=40e6),
        cp_state("arbitrum", "v3", "ETH", mid=3001, depth_usd=15e6, fee_pips=500),
        cp_state("base", "v2", "ETH", mid=2999, depth_usd=5e6),
        cp_state("base", "btc", "BTC", mid=60000, depth_usd=20e6),
    ]
    fields: dict[str, object] = {
        "targets": [
            HedgeTarget(underlying="ETH", current_delta=current, target=0, lower=-20, upper=20,
                        mark_price_usd=3000, risk_price=1.0),
            HedgeTarget(underlying="BTC", current_delta=0.1, target=0, lower=-1, upper=1, mark_price_usd=60000),
        ],
        "venues": venues,
        "gas_usd": {"ethereum/v2": 15.0, "arbitrum/v3": 0.2, "base/v2": 0.05, "base/btc": 0.05},
        "inventory": {"ethereum": {"WETH": 100, "USDC": 1e6}, "arbitrum": {"WETH": 60, "USDC": 1e5},
                      "base": {"WETH": 20, "USDC": 5e5}},
        "as_of": 1_700_000_010,
    }
    fields.update(overrides)
    return HedgeProblem.model_validate(fields)
