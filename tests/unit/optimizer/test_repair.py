"""The raw-unit gate: a rounding breach is repaired toward the safe side; what cannot be repaired is refused."""

from __future__ import annotations

import pytest

from adapters import Side
from crosshedge import PlanError
from optimizer import HedgeProblem, Plan, SolveStats, cp_quote
from optimizer.finalize import Allocation, build_plan
from optimizer.limits import first_breach
from optimizer.repair import repair

STATS = SolveStats(method="test", status="optimal")


def _plan(problem: HedgeProblem, *allocs: tuple[str, Side, float]) -> Plan:
    states = {f"{v.chain}/{v.venue}": v for v in problem.venues}
    return build_plan(problem, [Allocation(states[k], side, x) for k, side, x in allocs], stats=STATS,
                      model_objective=0.0, quoter=cp_quote)


def test_inventory_overspent_by_rounding_is_trimmed(problem: HedgeProblem) -> None:
    """Selling 1e-12 WETH more than base's wallet holds: trimmed to the raw units the wallet has, then in band."""
    draft = _plan(problem, ("ethereum/v2", Side.SELL, 100.0), ("base/v2", Side.SELL, 20.0 + 1e-12),
                  ("arbitrum/v3", Side.SELL, 15.0))
    breach = first_breach(problem, draft)
    assert breach is not None and breach.kind == "inventory" and "(base, WETH) inventory" in breach.message
    fixed = repair(problem, draft, cp_quote)
    assert first_breach(problem, fixed) is None
    assert sum(t.amount_in_raw for t in fixed.trades if t.chain == "base") == 20 * 10**18


def test_a_trade_just_under_the_minimum_is_topped_up(problem: HedgeProblem) -> None:
    s = problem.settings.model_copy(update={"min_trade_usd": 30_000.0})
    p = problem.model_copy(update={"settings": s})
    draft = _plan(p, ("ethereum/v2", Side.SELL, 100.0), ("arbitrum/v3", Side.SELL, 20.0),
                  ("base/v2", Side.SELL, 9.9999999))
    breach = first_breach(p, draft)
    assert breach is not None and breach.kind == "min_trade"
    fixed = repair(p, draft, cp_quote)
    assert first_breach(p, fixed) is None and min(t.base_amount for t in fixed.trades) * 3000 >= 30_000


def test_what_cannot_be_repaired_is_refused_with_the_limit(problem: HedgeProblem) -> None:
    s = problem.settings.model_copy(update={"max_trades": 1})
    p = problem.model_copy(update={"settings": s})
    draft = _plan(p, ("ethereum/v2", Side.SELL, 100.0), ("base/v2", Side.SELL, 20.0))
    with pytest.raises(PlanError, match="max_trades"):
        repair(p, draft, cp_quote)


def test_a_band_miss_is_closed_on_a_trade_whose_wallet_has_room(problem: HedgeProblem) -> None:
    """150 long, band ±20: 100 on ethereum (its whole wallet) + 29.9 on arbitrum misses by 0.1; ethereum is passed
    over (nothing left to sell there) and arbitrum sells the rest."""
    draft = _plan(problem, ("ethereum/v2", Side.SELL, 100.0), ("arbitrum/v3", Side.SELL, 29.9))
    breach = first_breach(problem, draft)
    assert breach is not None and breach.kind == "band_above"
    fixed = repair(problem, draft, cp_quote)
    assert first_breach(problem, fixed) is None
    assert next(t for t in fixed.trades if t.chain == "ethereum").amount_in_raw == 100 * 10**18
