"""The perp term of the hedge model: perp trades chosen jointly with the swaps and transfers, in the one MILP.

Per market ``p`` (size now ``s``), short and long fills ``0 ≤ δ ≤ w·z`` of its vAMM curve's pieces, ``z ∈ {0, 1}``
carrying the trade's gas (a venue's structure), and a switch ``g ∈ {0, 1}``: the trade grows the position. With
``x = Σ long δ − Σ short δ``, ``n = s + x`` (a variable) and ``a ≥ |n|`` (``a ≥ n``, ``a ≥ −n``)::

    delta        move_u += x                              (no inventory spent)
    cost         gas·z + Σ cost_k·δ_k + index·rate·days·x   (fee + impact against the mid; funding, signed)
    reduce-only  min(0, s) − M·g ≤ n ≤ max(0, s) + M·g      (g = 0: n between 0 and s, always allowed)
    margin       im·mark·a + k(x) ≤ min(collateral − owed, V₀) + M·(1 − g)
    liquidation  mm·mark·(1 + m)·a − m·mark·n + k(x) ≤ V₀ + M·(1 − g)      for m = −stress, +stress

``Σ cost_k·δ_k`` is the trade's fee + impact against the vAMM's mid; ``k(x) = Σ value_cost_k·δ_k`` what it takes
off the account value at the mark (optimizer.perps says why the two differ). Every row is affine in the variables
with parameter coefficients (``|n| ≤ a`` the only convex piece, on the ``≤`` side with a non-negative coefficient),
so the model stays DPP. Each ``M`` bounds its row's left side over every reachable size, so ``g = 1`` frees the
reduce-only box and ``g = 0`` frees the margin rows. The one-direction rule, the impact cap, the minimum size and
the run's notional and trade-count caps hold for perp trades as for swaps. See :mod:`optimizer.perps` for the
definitions.

Usage: built into every model (``HedgeModel`` adds :data:`PERP_TERM` after the core terms); without perps it adds
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optimizer.terms import ModelContext, RunView, TermParts, cp

_VECTORS = ("width", "cost", "value_cost", "impact_slack", "notional", "gas", "enabled", "min_units", "funding",
            "size0", "lo", "hi", "big_n", "im_mark", "im_room", "big_im", "mm_down", "mm_up", "lin_down", "lin_up",
            "value0", "big_down", "big_up")
_SIGNED = {"cost", "value_cost", "impact_slack", "funding", "size0", "lo", "hi", "im_room", "lin_down", "lin_up",
           "value0"}


class PerpTerm:
    """The perp markets' variables, costs and margin rules (see the module docstring)."""

    key = "perps"

    def build(self, m: ModelContext) -> TermParts:
        if m.perp_fills is None or m.perp_used is None or m.perp_grow is None:
            return TermParts()
        npp, n = m.n_perps, m.n_perp_fills
        sizes = {"width": n, "cost": n, "value_cost": n, "impact_slack": n, "notional": n, "gas": 2 * npp,
                 "enabled": 2 * npp, "min_units": 2 * npp}
        p = {name: cp.Parameter(sizes.get(name, npp), nonneg=name not in _SIGNED) for name in _VECTORS}
        p |= {"spot_notional": cp.Parameter(m.n_fills, nonneg=True), "max_notional": cp.Parameter(nonneg=True),
              "max_trades": cp.Parameter(nonneg=True)}
        fills, used, grow, mm = m.perp_fills, m.perp_used, m.perp_grow, m.m
        size = cp.Variable(npp, name="perp_size")
        size_abs = cp.Variable(npp, nonneg=True, name="perp_abs")
        net = mm["perp_net"] @ fills
        value_taken = mm["perp_of_fill"] @ cp.multiply(p["value_cost"], fills)
        sells = mm["perp_underlying"] @ m.sell_dir
        cons = [
            fills <= cp.multiply(p["width"], mm["perp_expand"] @ used), fills <= p["width"],
            used <= p["enabled"], used >= 0, used <= 1, grow >= 0, grow <= 1,
            mm["perp_per_trade"] @ fills >= cp.multiply(p["min_units"], used),
            mm["perp_per_trade"] @ cp.multiply(p["impact_slack"], fills) <= 0,
            used[0::2] <= sells, used[1::2] <= 1 - sells,
            size == p["size0"] + net, size_abs >= size, size_abs >= -size,
            size >= p["lo"] - cp.multiply(p["big_n"], grow), size <= p["hi"] + cp.multiply(p["big_n"], grow),
            cp.multiply(p["im_mark"], size_abs) + value_taken <= p["im_room"] + cp.multiply(p["big_im"], 1 - grow),
            cp.multiply(p["mm_down"], size_abs) - cp.multiply(p["lin_down"], size) + value_taken
            <= p["value0"] + cp.multiply(p["big_down"], 1 - grow),
            cp.multiply(p["mm_up"], size_abs) - cp.multiply(p["lin_up"], size) + value_taken
            <= p["value0"] + cp.multiply(p["big_up"], 1 - grow),
            # the run's caps count perp trades too (the core rows without them are implied by these)
            p["spot_notional"] @ m.fills + p["notional"] @ fills <= p["max_notional"],
            cp.sum(m.used) + cp.sum(used) <= p["max_trades"],
        ]
        cost = p["gas"] @ used + p["cost"] @ fills + p["funding"] @ net
        return TermParts(cons, cost=cost, params=p)

    def values(self, run: RunView) -> Mapping[str, Any]:
        data = run.data.perps
        if data is None:
            return {}
        most = run.data.max_trades  # optimizer.max_trades, or without one every trade the model has
        if run.problem.settings.max_trades is None:
            most += float(data.gas.size)
        return {**{name: getattr(data, name) for name in _VECTORS}, "spot_notional": run.data.notional,
                "max_notional": run.data.max_notional, "max_trades": most}


PERP_TERM = PerpTerm()
