"""The problem and plan values: JSON round trip, validation with clear errors, the risk term's definition."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from typer.testing import CliRunner

from crosshedge import InputError
from crosshedge.cli.app import app
from optimizer import Planner, cp_quote
from optimizer.problem import (
    HedgeProblem,
    HedgeTarget,
    MarkFarFromMidsWarning,
    Plan,
    load_problem,
    risk_breakpoints,
    risk_usd,
)
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


def _with_venue(problem: HedgeProblem, **changes: object) -> dict[str, object]:
    data: dict[str, object] = json.loads(problem.model_dump_json())
    for path, value in changes.items():
        node: Any = data["venues"]
        node = node[0]
        *parents, leaf = path.split("__")
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        node[leaf] = value
    return data


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"fee_pips": -5}, r"venues\.ethereum/v2\.fee_pips"),
        ({"block_timestamp": 1_700_000_010 + 10_000}, r"block_timestamp: .* after as_of"),
        ({"sell__segments": []}, r"venues\.ethereum/v2\.sell: the curve has no segments"),
        ({"buy__segments__0__price": math.inf}, r"ethereum/v2\.buy\.segments\.0: size and price must be finite"),
        ({"mid_price": math.inf}, r"mid_price: expected a finite positive price"),
    ],
)
def test_bad_venue_input_is_refused_in_one_sentence(problem: HedgeProblem, changes: dict[str, object],
                                                   match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        HedgeProblem.model_validate(_with_venue(problem, **changes))


@pytest.mark.parametrize(
    ("update", "match"),
    [
        ({"disabled_venues": ["ethereum/v22"]}, r"disabled_venues: 'ethereum/v22' is not a venue"),
        ({"disabled_chains": ["arbitrium"]}, r"disabled_chains: 'arbitrium' is not a chain"),
        ({"gas_usd": {"ethereum/v2": -1.0, "arbitrum/v3": 0.2, "base/v2": 0.05, "base/btc": 0.05}}, r"gas_usd\."),
        ({"tick_gas_usd": {"ethereum/v2": -0.5}}, r"tick_gas_usd\.ethereum/v2: expected a finite non-negative"),
        ({"tick_gas_usd": {"arbitrum/v3": math.nan}}, r"tick_gas_usd\.arbitrum/v3\n.*finite number"),
        ({"tick_gas_usd": {"arbitrum/v33": 0.1}}, r"tick_gas_usd: 'arbitrum/v33' is not a venue"),
    ],
)
def test_unknown_switches_and_negative_gas_are_refused(problem: HedgeProblem, update: dict[str, object],
                                                       match: str) -> None:
    data = json.loads(problem.model_dump_json())
    data.update(update)
    with pytest.raises(ValidationError, match=match):
        HedgeProblem.model_validate(data)


def test_huge_risk_price_is_refused_with_the_way_out(problem: HedgeProblem) -> None:
    data = json.loads(problem.model_dump_json())
    data["targets"][0]["risk_price"] = 1e200
    with pytest.raises(ValidationError, match="narrow the band"):
        HedgeProblem.model_validate(data)


def test_mark_far_from_the_mids_warns(problem: HedgeProblem) -> None:
    data = json.loads(problem.model_dump_json())
    data["targets"][0]["mark_price_usd"] = 30_000.0  # 10x the ETH venues' mids
    with pytest.warns(MarkFarFromMidsWarning, match=r"targets\.ETH\.mark_price_usd"):
        HedgeProblem.model_validate(data)


@pytest.mark.parametrize("changes", [{"buy__segments__0__price": math.inf}, {"sell__segments": []}])
def test_cli_says_what_is_wrong_with_a_saved_problem_without_a_traceback(
    tmp_path: Path, problem: HedgeProblem, changes: dict[str, object]
) -> None:
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(_with_venue(problem, **changes)).replace("Infinity", "1e999"))
    out = CliRunner().invoke(app, ["plan", "--problem", str(path), "--json"])
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert "venues.ethereum/v2" in out.output
