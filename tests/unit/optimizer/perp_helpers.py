"""Small problems with perp markets for the perp tests: a constant-product vAMM's curves with Curie's fee, one spot
venue, and an account."""

from __future__ import annotations

from typing import Any

import numpy as np

from adapters import Curve, Segment, Side
from optimizer import HedgeProblem, HedgeTarget, cp_state
from optimizer.perps import PerpOption


def vamm_curves(mid: float, depth_usd: float, fee: float = 0.001, pieces: int = 16,
                reach: float = 0.3) -> tuple[Curve, Curve]:
    """Short and long curves of a constant-product vAMM at ``mid`` (fee on the quote, as a venue's curves take it)."""
    x, y = depth_usd / mid, depth_usd
    edges = reach * x * (np.arange(pieces + 1) / pieces) ** 2
    sold = y * edges * (1 - fee) / (x + edges * (1 - fee))
    paid = y * edges / ((x - edges) * (1 - fee))
    widths = np.diff(edges)
    sell = tuple(Segment(size=float(w), price=float(p)) for w, p in zip(widths, np.diff(sold) / widths, strict=True))
    buy = tuple(Segment(size=float(w), price=float(p)) for w, p in zip(widths, np.diff(paid) / widths, strict=True))
    return Curve(side=Side.SELL, segments=sell), Curve(side=Side.BUY, segments=buy)


def perp(chain: str = "arbitrum", market: str = "eth-perp", *, mid: float = 3000.0, depth_usd: float = 20e6,
         pieces: int = 16, **fields: Any) -> PerpOption:
    """An ETH perp market at ``mid`` with a well-funded flat account unless ``fields`` say otherwise."""
    sell, buy = vamm_curves(mid, depth_usd, pieces=pieces)
    values: dict[str, Any] = {"chain": chain, "market": market, "underlying": "ETH", "sell": sell, "buy": buy,
                              "mid_price": mid, "mark_price": mid, "index_price": mid, "collateral_usd": 1e6,
                              "gas_usd": 0.5}
    values.update(fields)
    return PerpOption.model_validate(values)


def perp_problem(current: float = 50.0, *, perps: tuple[PerpOption, ...] = (), weth: float = 1_000.0,
                 usdc: float = 1e7, spot_depth: float = 40e6, risk_price: float = 1.0, band: float = 5.0,
                 **overrides: Any) -> HedgeProblem:
    """One ETH spot venue on ethereum (gas $5) and the given perp markets; ETH ``current`` against ±``band``."""
    fields: dict[str, Any] = {
        "targets": [HedgeTarget(underlying="ETH", current_delta=current, target=0, lower=-band, upper=band,
                                mark_price_usd=3000, risk_price=risk_price)],
        "venues": [cp_state("ethereum", "v2", "ETH", mid=3000, depth_usd=spot_depth)],
        "gas_usd": {"ethereum/v2": 5.0},
        "inventory": {"ethereum": {"WETH": weth, "USDC": usdc}},
        "as_of": 1_700_000_010,
        "perps": perps,
    }
    fields.update(overrides)
    return HedgeProblem.model_validate(fields)
