"""`crosshedge backtest --monte-carlo`: the textbook table with the user's parameters, as a table and as JSON."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from crosshedge.cli import app


def test_monte_carlo_defaults_to_hulls_example_with_his_column() -> None:
    out = CliRunner().invoke(app, ["backtest", "--monte-carlo", "--paths", "2000"], env={"COLUMNS": "250"})
    assert out.exit_code == 0, out.output
    assert "S0=49, K=50" in out.stdout and "Hull" in out.stdout and "0.34" in out.stdout


def test_monte_carlo_json_with_own_parameters() -> None:
    out = CliRunner().invoke(app, [
        "backtest", "--monte-carlo", "--s0", "100", "--strike", "100", "--rate", "0", "--vol", "0.8", "--drift", "0",
        "--maturity-weeks", "4", "--rebalance-weeks", "1", "--rebalance-weeks", "0.5", "--paths", "2000",
        "--seed", "3", "--put", "--derman-kamal", "--json"], env={"COLUMNS": "250"})
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["textbook"]["case"]["is_call"] is False and doc["textbook"]["seed"] == 3
    assert [r["rebalances"] for r in doc["textbook"]["rows"]] == [4, 8]
    assert [r["rebalances"] for r in doc["monte_carlo"]] == [52, 252]


def test_monte_carlo_bad_parameters_are_bad_usage() -> None:
    for args, named in ((["--rebalance-weeks", "3"], "does not divide"), (["--vol", "-1"], "--vol")):
        out = CliRunner().invoke(app, ["backtest", "--monte-carlo", "--paths", "100", *args])
        assert out.exit_code == 2, out.output
        assert named in out.stderr
