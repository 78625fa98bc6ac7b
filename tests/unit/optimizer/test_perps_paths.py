"""A plan with perp trades through the rest of the optimizer: the model without perps is the model as before, the
model with them is DPP, replay prices the perp trades, polish and repair keep them, and limits check them."""

from __future__ import annotations

import dataclasses

import pytest

from optimizer import HedgeProblem, Planner, replay, violation
from optimizer.diagnose import usable_venues
from optimizer.model import HedgeModel
from optimizer.packing import pack, shape_of
from optimizer.polish import polish
from optimizer.repair import reperp
from tests.unit.optimizer.helpers import make_problem, pwl_quote
from tests.unit.optimizer.perp_helpers import perp, perp_problem

PLANNER = Planner(quoter=pwl_quote)


def test_without_perps_the_model_has_no_perp_part(problem: HedgeProblem) -> None:
    shape = shape_of(problem, usable_venues(problem))
    assert shape.perps == () and shape.perp_segments == 0
    assert pack(problem, usable_venues(problem), shape).perps is None
    model = HedgeModel(shape)
    assert "perp_fills" not in model.compiled.columns
    assert not any(v.name().startswith("perp") for v in model.problem.variables())


def test_with_perps_the_model_is_dpp_and_cached_by_shape() -> None:
    problem = perp_problem(50.0, perps=(perp(),), weth=10.0)
    shape = shape_of(problem, usable_venues(problem))
    assert shape.perps == (("arbitrum/eth-perp", "ETH"),)
    assert HedgeModel(shape).problem.is_dcp(dpp=True)
    planner = Planner(quoter=pwl_quote)
    planner.plan(problem)
    other = perp_problem(40.0, perps=(perp(collateral_usd=5e4, daily_funding_rate=0.001),), weth=3.0)
    assert planner.model(shape_of(other, usable_venues(other)))[1]  # same shape: the compiled model is reused


def test_replay_polish_and_repair_keep_and_price_the_perp_trades() -> None:
    problem = perp_problem(80.0, perps=(perp(),), weth=30.0,
                           venues=make_problem().venues[:2], gas_usd={"ethereum/v2": 5.0, "arbitrum/v3": 0.2},
                           inventory={"ethereum": {"WETH": 15.0}, "arbitrum": {"WETH": 15.0}})
    got = PLANNER.plan(problem)
    assert got.perp_trades and len(got.trades) == 2
    again = replay(got, problem, quoter=pwl_quote)
    assert again.objective_usd == pytest.approx(got.objective_usd, rel=1e-9)
    assert again.residual_delta == pytest.approx(got.residual_delta)
    assert again.perp_cost_usd == pytest.approx(sum(p.cost_usd for p in got.perp_trades))
    assert all(p.margin_ok for p in again.perp_trades)
    polished = polish(problem, got, pwl_quote, rounds=8)
    assert polished.perp_trades == got.perp_trades and polished.objective_usd <= got.objective_usd + 1e-9
    # a perp trade re-sized past the band is a breach the limits name and the repair step puts back
    bigger = reperp(problem, got, 0, got.perp_trades[0].base_amount + 100.0)
    assert bigger is not None and violation(problem, bigger) is not None


def test_a_switched_off_perp_market_is_not_traded() -> None:
    problem = perp_problem(96.0, weth=73.0, perps=(perp(),), disabled_venues=["arbitrum/eth-perp"])
    with pytest.raises(Exception, match="cannot sell 91 ETH"):
        PLANNER.plan(problem)
    assert dataclasses.is_dataclass(shape_of(problem, usable_venues(problem)))
