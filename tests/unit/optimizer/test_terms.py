"""User terms composed through the public API: a venue cap and a custom cost change the plan as they should."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cvxpy as cp
import pytest

from adapters import Side, VenueState
from crosshedge import InputError
from optimizer import HedgeProblem, ModelContext, Plan, Planner, RunView, TermParts, VenueCap, cp_quote, plan


class ChainPenalty:
    """A custom cost: ``usd_per_unit`` USD per base unit traded on ``chain`` (the module docstring's example)."""

    def __init__(self, chain: str, usd_per_unit: float) -> None:
        self.chain, self.usd = chain, usd_per_unit

    @property
    def key(self) -> str:
        return "chain_penalty"

    def build(self, m: ModelContext) -> TermParts:
        usd_per_unit = cp.Parameter(m.n_trades, nonneg=True)
        return TermParts(cost=usd_per_unit @ m.amounts, params={"usd_per_unit": usd_per_unit})

    def values(self, run: RunView) -> Mapping[str, Any]:
        def value(st: VenueState, side: Side) -> float:
            return self.usd if st.chain == self.chain else 0.0

        return {"usd_per_unit": run.trade_vector(value)}


def _sold(result: Plan, venue: str) -> float:
    return sum(t.base_amount for t in result.trades if t.venue_key == venue and t.side is Side.SELL)


def test_venue_cap_and_custom_cost_compose_through_the_public_api(problem: HedgeProblem) -> None:
    free = Planner(quoter=cp_quote).plan(problem, with_explanation=False)
    cap = _sold(free, "arbitrum/v3") - 5.0  # 5 ETH less than the cheap arbitrum venue takes uncapped
    assert cap > 0
    capped = plan(problem, quoter=cp_quote, terms=[VenueCap("arbitrum/v3", Side.SELL, max_units=cap)])
    assert _sold(capped, "arbitrum/v3") <= cap * (1 + 1e-9)
    assert capped.model_objective_usd >= free.model_objective_usd - 1e-9  # a cap can only cost more
    both = plan(problem, quoter=cp_quote, terms=[VenueCap("arbitrum/v3", Side.SELL, max_units=cap),
                                                 ChainPenalty("base", 500.0)])
    assert _sold(both, "base/v2") < _sold(capped, "base/v2")  # $500/ETH on base moves volume elsewhere
    assert _sold(both, "arbitrum/v3") <= cap * (1 + 1e-9)


def test_user_terms_share_the_built_model_per_shape(problem: HedgeProblem) -> None:
    planner = Planner(quoter=cp_quote, terms=[ChainPenalty("base", 1.0)])
    first = planner.plan(problem, with_explanation=False)
    again = planner.plan(problem.model_copy(update={"as_of": problem.as_of + 1}), with_explanation=False)
    assert not first.stats.cache_hit and again.stats.cache_hit


def test_a_cap_naming_an_unknown_venue_is_refused(problem: HedgeProblem) -> None:
    with pytest.raises(InputError, match="arbitrum/v9"):
        plan(problem, quoter=cp_quote, terms=[VenueCap("arbitrum/v9", Side.SELL, max_units=5.0)])


class _BadTerm(ChainPenalty):
    def values(self, run: RunView) -> Mapping[str, Any]:
        return {"usd_per_unit": -run.trade_vector(lambda st, side: 1.0)}  # negative into a nonneg parameter


def test_a_term_giving_a_bad_value_is_named(problem: HedgeProblem) -> None:
    with pytest.raises(InputError, match=r"term 'chain_penalty': parameter 'usd_per_unit'"):
        plan(problem, quoter=cp_quote, terms=[_BadTerm("base", 1.0)])
