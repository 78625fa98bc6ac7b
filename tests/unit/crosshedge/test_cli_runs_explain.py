"""`crosshedge runs`: the P&L explain table, and one run explained up to the next run that stored a risk report."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import fakeredis
from rich.console import Console

from adapters import OptionPosition
from crosshedge.cli.runs import explain_table, explained
from orchestrator import Ledger, PolicyVerdicts, run_summary
from risk import aggregate

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def ticking() -> Iterator[float]:
    t = 1_700_000_000.0
    while True:
        t += 1.0
        yield t


def test_one_run_is_explained_to_the_next_and_tabled() -> None:
    clock = ticking()
    ledger = Ledger(fakeredis.FakeRedis(decode_responses=True), prefix="r", clock=lambda: next(clock))
    call = OptionPosition(id="c", underlying="ETH", kind="call", strike=3000, expiry=T0 + timedelta(days=30),
                          size=-10, vol=0.6, venue="deribit", tenor_days=30)
    for rid, spot, hours in (("a", 3000.0, 0), ("b", 3050.0, 3)):
        ledger.create_run(rid, kind="beat")
        risk = aggregate([call], {"ETH": spot}, T0 + timedelta(hours=hours))
        ledger.put_blob(rid, "decisions", PolicyVerdicts(decisions=(), risk=risk))
    row = explained(ledger, run_summary(ledger, "a"))
    assert row.explain_to == "b" and row.explain is not None and row.explain.delta < 0  # short call, spot up
    assert explained(ledger, run_summary(ledger, "b")).explain is None
    console = Console(width=200, record=True)
    console.print(explain_table([row]))
    text = console.export_text()
    assert "P&L explain per run" in text and "unexplained" in text and "│ a " in text
