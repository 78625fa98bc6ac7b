"""The problem and plan values: JSON round trip, validation with clear errors, the risk term's definition."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from crosshedge import InputError
from optimizer import Planner, cp_quote
from optimizer.problem import HedgeProblem, HedgeTarget, Plan, load_problem, risk_breakpoints, risk_usd
from tests.unit.optimizer.helpers import make_problem


def test_problem_and_plan_round_trip_through_json(problem: HedgeProblem) -> None:
    again = HedgeProblem.model_validate_json(problem.model_dump_json())
    assert again == problem
    plan = Planner(quoter=cp_quote).plan(problem)
    assert Plan.model_validate_json(plan.model_dump_json()) == plan


def test_nan_and_negative_sizes_are_refused() -> None:
    with pytest.raises(ValidationError, match="finite"):
        HedgeTarget(underlying="ETH", current_delta=math.nan, target=0, lower=-1, upper=1, mark_price_usd=3000)
    with pytest.raises(ValidationError, match="greater than 0"):
        HedgeTarget(underlying="ETH", current_delta=0, target=0, lower=-1, upper=1, mark_price_usd=-5)
    with pytest.raises(ValidationError, match="inside the band"):
        HedgeTarget(underlying="ETH", current_delta=0, target=5, lower=-1, upper=1, mark_price_usd=3000)


def test_load_problem_names_file_and_field(tmp_path: Path, problem: HedgeProblem) -> None:
    data = json.loads(problem.model_dump_json())
    data["targets"][0]["mark_price_usd"] = "lots"
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"p\.json: targets\.0\.mark_price_usd"):
        load_problem(bad)
    with pytest.raises(InputError, match="cannot read"):
        load_problem(tmp_path / "missing.json")


@given(
    current=st.floats(-50, 50), target=st.floats(-5, 5), half=st.floats(5, 40), price=st.floats(0, 10),
    pieces=st.integers(2, 32), at=st.floats(0, 1),
)
def test_risk_term_is_exact_at_breakpoints_and_above_the_quadratic(
    current: float, target: float, half: float, price: float, pieces: int, at: float
) -> None:
    t = HedgeTarget(underlying="ETH", current_delta=current, target=target, lower=target - half,
                    upper=target + half, mark_price_usd=3000, risk_price=price)
    for b in risk_breakpoints(t, pieces):
        assert risk_usd(t, float(b), pieces) == pytest.approx(price * (b - target) ** 2, abs=1e-9)
    r = t.lower + at * (t.upper - t.lower)
    assert risk_usd(t, r, pieces) >= price * (r - target) ** 2 - 1e-9
    assert risk_usd(t, r, pieces) <= price * (r - target) ** 2 + price * (2 * half / pieces) ** 2 / 4 + 1e-9


def test_make_problem_helper_is_valid() -> None:
    assert make_problem().target("ETH") is not None
