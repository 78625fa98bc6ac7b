"""`crosshedge backtest --instrument perp|cheapest`: the funding source sentence, the hedge legs table, the JSON,
CSV funding, and bad combinations of the perp options as bad usage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crosshedge.cli import app

REPO = Path(__file__).resolve().parents[3]
WIDE = {"COLUMNS": "300"}


def _args(shared_data: Path, tmp_path: Path, *more: str) -> list[str]:
    return ["backtest", "--prices", f"ETH={shared_data / 'ethusdt_1h.csv'}", "--config", str(tmp_path / "none.yaml"),
            "--book", str(REPO / "examples" / "book.yaml"), "--start", "2022-11-07", "--end", "2022-11-10",
            "--policy", "whalley_wilmott", *more]


def test_perp_run_shows_the_funding_source_and_the_legs_columns(shared_data: Path, tmp_path: Path) -> None:
    out = CliRunner().invoke(app, _args(shared_data, tmp_path, "--instrument", "perp", "--funding-daily", "0.0001"),
                             env=WIDE)
    assert out.exit_code == 0, out.output
    text = " ".join(out.stdout.split())  # the caption wraps
    assert "Hedge legs ETH 2022-11-07→2022-11-09: instrument perp" in text
    assert "funding: a constant 0.0100% per day (given, an assumption, not market data)" in text
    for col in ("spot/perp trades", "perp fees $", "perp impact $", "funding $", "liq. penalty $", "all-in cost $",
                "liquidations", "min MR"):
        assert col in text, col
    doc = json.loads(CliRunner().invoke(app, [*_args(shared_data, tmp_path, "--instrument", "perp",
                                                     "--funding-daily", "0.0001"), "--json"]).stdout)
    result = doc["result"]
    assert result["hedge"]["instrument"] == "perp" and result["hedge"]["funding_kind"] == "constant"
    assert result["hedge"]["collateral_usd"] > 0 and result["hedge"]["perp"]["fee_bps"] == 10.0
    ww = result["results"][1]
    assert ww["instrument"] == "perp" and ww["perp_trades"] == ww["trades"] and ww["funding_usd"] > 0
    assert ww["explain"]["funding"] == pytest.approx(-ww["funding_usd"])
    assert {"perp_fees_usd", "perp_impact_usd", "spot_fees_usd", "spot_impact_usd", "liquidations",
            "min_margin_ratio", "all_in_cost_usd", "liquidated_at"} <= set(ww)


def test_csv_funding_matches_the_constant_and_names_its_file(shared_data: Path, tmp_path: Path) -> None:
    csv_path = tmp_path / "rates.csv"
    csv_path.write_text("rate,timestamp\n0.0001,2022-11-01T00:00:00Z\n0.0001,2022-11-08T00:00:00Z\n")
    by_csv = json.loads(CliRunner().invoke(app, [*_args(shared_data, tmp_path, "--instrument", "cheapest",
                                                        "--funding-csv", str(csv_path)), "--json"]).stdout)
    const = json.loads(CliRunner().invoke(app, [*_args(shared_data, tmp_path, "--instrument", "cheapest",
                                                       "--funding-daily", "0.0001"), "--json"]).stdout)
    assert str(csv_path) in by_csv["result"]["hedge"]["funding"]
    assert "mean time between" in by_csv["result"]["hedge"]["horizon"]
    for a, b in zip(by_csv["result"]["results"], const["result"]["results"], strict=True):
        assert a["funding_usd"] == pytest.approx(b["funding_usd"]) and a["all_in_cost_usd"] == pytest.approx(
            b["all_in_cost_usd"])


def test_devnet_funding_is_said_to_be_zero_and_not_a_history(shared_data: Path, tmp_path: Path) -> None:
    out = CliRunner().invoke(app, _args(shared_data, tmp_path, "--instrument", "perp"), env=WIDE)
    assert out.exit_code == 0, out.output
    assert "the devnet model, zero" in " ".join(out.stdout.split()) and "not a funding history" in out.stdout


def test_spot_output_has_no_legs_table(shared_data: Path, tmp_path: Path) -> None:
    out = CliRunner().invoke(app, _args(shared_data, tmp_path), env=WIDE)
    assert out.exit_code == 0 and "Hedge legs" not in out.stdout
    doc = json.loads(CliRunner().invoke(app, [*_args(shared_data, tmp_path), "--json"]).stdout)
    assert doc["result"]["hedge"] is None


def test_a_funding_file_starting_after_the_first_bar_is_an_error_naming_it(shared_data: Path,
                                                                           tmp_path: Path) -> None:
    late = tmp_path / "late.csv"
    late.write_text("timestamp,rate\n2022-11-08,0.0001\n")
    out = CliRunner().invoke(app, _args(shared_data, tmp_path, "--instrument", "perp", "--funding-csv", str(late)))
    assert out.exit_code == 1 and str(late) in out.stderr and "no funding rate at or before" in out.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,rate\n2022-11-01,1bp\n")
    out = CliRunner().invoke(app, _args(shared_data, tmp_path, "--instrument", "perp", "--funding-csv", str(bad)))
    assert out.exit_code == 1 and f"{bad}: line 2: rate '1bp' is not a number" in out.stderr


@pytest.mark.parametrize(
    ("more", "message"),
    [
        (["--instrument", "futures"], "--instrument 'futures'"),
        (["--funding-daily", "0.0001"], "--funding-daily applies to perp hedges"),
        (["--instrument", "perp", "--funding-daily", "0.0001", "--funding-csv", "x.csv"], "not both"),
        (["--instrument", "perp", "--funding-daily", "1"], "past Curie's 10%/day cap"),
        (["--instrument", "perp", "--perp-collateral-usd", "0"], "--perp-collateral-usd 0 must be positive"),
        (["--instrument", "perp", "--funding-horizon-days", "2"], "--instrument cheapest assumes"),
        (["--instrument", "perp", "--out-of-sample", "2022-11-08"], "--out-of-sample hedges on spot only"),
    ],
)
def test_bad_perp_options_are_bad_usage(shared_data: Path, tmp_path: Path, more: list[str], message: str) -> None:
    out = CliRunner().invoke(app, _args(shared_data, tmp_path, *more))
    assert out.exit_code == 2, out.output
    assert message in out.stderr
