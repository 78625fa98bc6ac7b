"""Exact presolve on the run's data (not a model): cut each piece to what its trade can carry on its own.

Every limit that bounds one trade by itself (the band's room in the trade's direction, the impact cap, the chain's
inventory, the run's notional) gives a cap on that trade's size. Because every curve is convex (cost, fee, impact slack
and quote spent per unit all rise piece by piece), any feasible fill can be re-ordered cheapest-piece-first without
breaking a limit or raising the cost, so pieces that start past the cap are never needed by an optimal plan and get
an upper bound of 0, the piece straddling the cap is cut to size, and a trade whose cap is below the minimum trade
size is switched off. The result only sets parameter values (piece upper bounds, ``enabled``) of the one cvxpy model.
This holds for user terms whose cost depends on fills only through per-trade amounts, switches and net moves.

Usage::

    data = presolve(shape, pack(problem, states, shape))
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from optimizer.packing import ModelShape, PackedData


def prefix_room(width: np.ndarray, usage: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """Largest in-order fill per row whose summed ``width·usage`` stays ≤ ``limit`` (``usage`` non-decreasing).

    Rows are trades, columns pieces. The running usage falls then rises (usage changes sign at most once), so the
    pieces that fit whole form a prefix; the first that does not fit is taken in part.
    """
    run = np.cumsum(width * usage, axis=1)
    slack = 1e-12 * (np.abs(limit) + np.abs(width * usage).sum(axis=1))
    fits = np.cumprod(run <= (limit + slack)[:, None], axis=1).astype(bool)
    full = (width * fits).sum(axis=1)
    first = fits.sum(axis=1)  # index of the first piece that does not fit whole (K when all do)
    rows = np.flatnonzero(first < width.shape[1])
    before = np.where(first[rows] > 0, run[rows, np.maximum(first[rows] - 1, 0)], 0.0)
    rate = usage[rows, first[rows]]
    part = np.where(rate > 0, (limit[rows] - before) / np.where(rate > 0, rate, 1.0), width[rows, first[rows]])
    full[rows] += np.clip(part, 0.0, width[rows, first[rows]])
    return np.asarray(full, dtype=float)


@dataclass(frozen=True)
class Layout:
    """Index maps fixed by the shape: per trade (2v+s) its underlying, side and inventory group."""

    trade_underlying: np.ndarray  # (T,)
    is_sell: np.ndarray  # (T,) bool
    trade_group: np.ndarray  # (T,) row of inv_base (sells) or inv_quote (buys)


def layout_of(shape: ModelShape) -> Layout:
    u_index = {u: i for i, u in enumerate(shape.underlyings)}
    bg = {g: i for i, g in enumerate(shape.base_groups)}
    qg = {g: i for i, g in enumerate(shape.quote_groups)}
    under, group = [], []
    for chain, u, base, quote in shape.venues:
        under += [u_index[u], u_index[u]]
        group += [bg[(chain, base)], qg[(chain, quote)]]
    t = 2 * len(shape.venues)
    return Layout(np.array(under, dtype=int), np.arange(t) % 2 == 0, np.array(group, dtype=int))


def trade_caps(layout: Layout, data: PackedData, k: int) -> np.ndarray:
    """(T,) the most base units each trade can carry on its own; 0 for a trade that cannot be made at all."""
    t = layout.is_sell.size
    width, slack, price = (a.reshape(t, k) for a in (data.width, data.impact_slack, data.price))
    u, sell = layout.trade_underlying, layout.is_sell
    direction = np.clip(np.where(sell, -data.move_lower[u], data.move_upper[u]), 0.0, None)
    mark = data.notional.reshape(t, k).max(axis=1)
    notional = data.max_notional / np.where(mark > 0, mark, 1.0)
    impact = prefix_room(width, slack, np.zeros(t))
    # What a chain's wallet could spend: held now, plus the most the bridge routes into it could bring.
    flows = data.transfers
    inv_base = data.inv_base + flows.inflow_base if flows is not None else data.inv_base
    inv_quote = data.inv_quote + flows.inflow_quote if flows is not None else data.inv_quote
    inventory = np.where(sell, inv_base[np.where(sell, layout.trade_group, 0)] if inv_base.size else 0.0,
                         prefix_room(width, price, inv_quote[np.where(sell, 0, layout.trade_group)])
                         if inv_quote.size else 0.0)
    cap = np.minimum.reduce([direction, notional, impact, inventory]) * (data.enabled > 0)
    too_small = cap < data.min_units - 1e-12 * np.maximum(1.0, data.min_units)
    return np.where(too_small | (cap <= 0), 0.0, cap * (1 + 1e-12))


def piece_upper(shape: ModelShape, data: PackedData) -> tuple[np.ndarray, np.ndarray]:
    """(n,) each piece's upper bound after the cut and (2V,) which trades stay enabled (see module docstring)."""
    k, t = shape.segments, 2 * len(shape.venues)
    cap = trade_caps(layout_of(shape), data, k)
    width = data.width.reshape(t, k)
    start = np.cumsum(width, axis=1) - width
    upper = np.clip(np.minimum(width, cap[:, None] - start), 0.0, None)
    return upper.ravel(), np.where(cap > 0, data.enabled, 0.0)


def presolve(shape: ModelShape, data: PackedData) -> PackedData:
    """``data`` with the pieces' upper bounds cut and unusable trades switched off (see module docstring)."""
    upper, enabled = piece_upper(shape, data)
    return replace(data, upper=upper, enabled=enabled)
