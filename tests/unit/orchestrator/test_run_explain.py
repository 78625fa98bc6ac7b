"""A run's P&L explain from the ledger: its stored risk report to the next run's, with the run's realised costs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrator import Ledger, PolicyVerdicts, run_summary, with_explains
from orchestrator.reconcile import RunReport
from tests.unit.explain_helpers import T0, risk_at, ticking_ledger


@pytest.fixture
def ledger() -> Ledger:
    return ticking_ledger("x")


def report(run_id: str, residual: float) -> RunReport:
    return RunReport(run_id=run_id, state="reconciled", partial=False, halted="", trades=[], predicted_cost_usd=4.0,
                     realised_cost_usd=5.0, approval_gas_usd=1.5, failed_gas_usd=0.0, balance_diff={},
                     residual_delta={"ETH": residual}, outside_band=[])


def test_each_run_is_explained_up_to_the_next_run_with_a_risk_report(ledger: Ledger) -> None:
    first, second = risk_at(3000.0, T0), risk_at(3030.0, T0 + timedelta(hours=6))
    for rid in ("r1", "r-no-risk", "r2"):
        ledger.create_run(rid, kind="beat")
    ledger.put_blob("r1", "decisions", PolicyVerdicts(decisions=(), risk=first))
    ledger.put_blob("r1", "report", report("r1", residual=0.0))  # hedged flat
    ledger.put_blob("r2", "decisions", PolicyVerdicts(decisions=(), risk=second))
    rows = with_explains(ledger, [run_summary(ledger, r.id) for r in ledger.runs(10)])
    by_id = {r.run.id: r for r in rows}
    assert [r.run.id for r in rows] == ["r2", "r-no-risk", "r1"]
    assert by_id["r2"].explain is None and by_id["r-no-risk"].explain is None  # newest: nothing to explain to yet
    e = by_id["r1"].explain
    assert e is not None and by_id["r1"].explain_to == "r2"
    u = first.underlying("ETH")
    assert e.delta == pytest.approx(0.0, abs=1e-9)  # the post-hedge residual delta was 0
    assert e.gamma == pytest.approx(0.5 * u.gamma * 30.0**2) and e.theta == pytest.approx(u.theta_day / 4)
    assert (e.gas, e.fees) == pytest.approx((-1.5, -3.5))  # approval gas; realised cost less gas
    assert e.actual == pytest.approx(second.value_usd - first.value_usd)

