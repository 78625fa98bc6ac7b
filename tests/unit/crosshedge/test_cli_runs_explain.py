"""`crosshedge runs`: the P&L explain table, and one run explained up to the next run that stored a risk report."""

from __future__ import annotations

from datetime import timedelta

from rich.console import Console

from crosshedge.cli.runs import explain_table, explained
from orchestrator import PolicyVerdicts, run_summary
from tests.unit.explain_helpers import T0, risk_at, ticking_ledger


def test_one_run_is_explained_to_the_next_and_tabled() -> None:
    ledger = ticking_ledger("r")
    for rid, spot, hours in (("a", 3000.0, 0), ("b", 3050.0, 3)):
        ledger.create_run(rid, kind="beat")
        risk = risk_at(spot, T0 + timedelta(hours=hours))
        ledger.put_blob(rid, "decisions", PolicyVerdicts(decisions=(), risk=risk))
    row = explained(ledger, run_summary(ledger, "a"))
    assert row.explain_to == "b" and row.explain is not None and row.explain.delta < 0  # short call, spot up
    assert explained(ledger, run_summary(ledger, "b")).explain is None
    console = Console(width=200, record=True)
    console.print(explain_table([row]))
    text = console.export_text()
    assert "P&L explain per run" in text and "unexplained" in text and "│ a " in text
