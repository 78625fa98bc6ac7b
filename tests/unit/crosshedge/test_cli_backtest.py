"""`crosshedge backtest`: std ratios with intervals, savings in words, P&L explain, out of sample, the plot."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from crosshedge.cli import app
from crosshedge.cli.backtest_report import saving_words

REPO = Path(__file__).resolve().parents[3]



def common(shared_data: Path, tmp_path: Path) -> list[str]:
    return ["--prices", f"ETH={shared_data / 'ethusdt_1h.csv'}", "--config", str(tmp_path / "none.yaml"),
            "--book", str(REPO / "examples" / "book.yaml")]


def test_a_negative_saving_reads_more_expensive() -> None:
    assert saving_words(0.3) == "30% cheaper" and saving_words(-0.3) == "30% more expensive"


def test_explain_and_ratios_in_table_and_json(shared_data: Path, tmp_path: Path) -> None:
    args = [*common(shared_data, tmp_path), "--start", "2022-06-01", "--end", "2022-06-08", "--policy",
            "whalley_wilmott", "--explain", "whalley_wilmott", "--plot", str(tmp_path / "f.png")]
    out = CliRunner().invoke(app, ["backtest", *args], env={"COLUMNS": "250"})
    assert out.exit_code == 0, out.output
    assert "std ratio [CI]" in out.stdout and "P&L explain per day: whalley_wilmott" in out.stdout
    assert not re.search(r"[-−]\d+% cheaper", out.stdout)  # savings in words, never "−30% cheaper"
    assert (tmp_path / "f.png").stat().st_size > 10_000
    doc = json.loads(CliRunner().invoke(app, ["backtest", *args, "--json", "--iv", "flat"]).stdout)
    result = doc["result"]
    assert result["iv_model"] == "flat" and result["explain_label"] == "whalley_wilmott"
    assert len(result["daily_explain"]) == 7 and set(result["results"][1]["explain"]) >= {"vega", "unexplained"}
    ww = result["results"][1]
    assert ww["std_ratio_lo"] <= ww["std_ratio"] <= ww["std_ratio_hi"]


def test_out_of_sample_tables_and_json(shared_data: Path, tmp_path: Path) -> None:
    args = [*common(shared_data, tmp_path), "--start", "2022-05-01", "--end", "2022-06-15", "--out-of-sample",
            "2022-06-01"]
    out = CliRunner().invoke(app, ["backtest", *args], env={"COLUMNS": "250"})
    assert out.exit_code == 0, out.output
    assert "out of sample: calibrated on 2022-05-01" in out.stdout and "Whalley–Wilmott" in out.stdout
    doc = json.loads(CliRunner().invoke(app, ["backtest", *args, "--json"]).stdout)
    oos = doc["out_of_sample"]
    assert [c["family"] for c in oos["choices"]] == ["whalley_wilmott", "zakamouline", "cost_aware_band"]
    assert oos["test"]["start"].startswith("2022-06-01") and oos["cost_aware_vs_ww"]["verdict"]


def test_bad_iv_and_split_are_bad_usage(shared_data: Path, tmp_path: Path) -> None:
    bad_iv = CliRunner().invoke(app, ["backtest", *common(shared_data, tmp_path), "--iv", "sabr"])
    assert bad_iv.exit_code == 2 and "--iv" in bad_iv.stderr
    split = CliRunner().invoke(app, ["backtest", *common(shared_data, tmp_path), "--start", "2022-05-01", "--end",
                                     "2022-05-20", "--out-of-sample", "2022-05-19T12:00"])
    assert split.exit_code == 2 and "--out-of-sample" in split.stderr
