"""`crosshedge risk --var`: history loading, the VaR table and a bad history file failing before any chain read."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from adapters import load_book
from crosshedge.cli import app
from crosshedge.cli.output import UsageError
from crosshedge.cli.var import beta_caption, load_history, var_reports, var_table
from risk import stress_grid

REPO = Path(__file__).resolve().parents[3]


def write_csv(path: Path, closes: list[float]) -> Path:
    rows = [f"2024-01-{1 + i // 24:02d} {i % 24:02d}:00:00,{c},{c},{c},{c},1" for i, c in enumerate(closes)]
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    return path


def test_var_tables_from_small_histories(tmp_path: Path) -> None:
    eth = write_csv(tmp_path / "eth.csv", [3000 * (1 + 0.01 * ((i * 7) % 5 - 2)) for i in range(24 * 9 + 1)])
    btc = write_csv(tmp_path / "btc.csv", [60000 * (1 + 0.01 * ((i * 3) % 5 - 2)) for i in range(24 * 9 + 1)])
    hist = load_history([f"ETH={eth}", f"btc={btc}"], required=True)
    assert hist is not None and hist.underlyings == ("ETH", "BTC") and len(hist.ends) == 9
    now = datetime(2024, 1, 1, tzinfo=UTC)
    book = load_book(REPO / "examples" / "book.yaml", now)
    marks = {"ETH": 3000.0, "BTC": 60000.0}
    reports = var_reports(book, marks, now, hist, paths=600, seed=1, quiet=True)
    assert [r.method for r in reports] == ["historical", "monte_carlo"]
    console = Console(width=250, record=True)
    console.print(var_table(reports, hist))
    text = console.export_text()
    assert "VaR 99 $" in text and "Monte Carlo (seed 1)" in text and "ρ(ETH,BTC)" in text
    grid = stress_grid(book, marks, now, betas=hist.betas("ETH"))
    assert beta_caption(grid).startswith("price shock x is ETH's; BTC (1+x)^")


def test_bad_history_items() -> None:
    with pytest.raises(UsageError, match="UNDERLYING=CSV"):
        load_history(["eth.csv"], required=True)


def test_a_missing_history_file_fails_before_any_chain_read(tmp_path: Path) -> None:
    missing = tmp_path / "eth.csv"
    out = CliRunner().invoke(app, ["risk", "--var", "--history", f"ETH={missing}", "--config",
                                   str(REPO / "chains.yaml")])
    assert out.exit_code == 1, out.output
    assert str(missing) in out.stderr and "Traceback" not in out.output
