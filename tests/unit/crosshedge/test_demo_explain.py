"""The demo's summary explains its runs' P&L: each run's stored risk report to the next run's, summed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crosshedge.demo import DemoStep, demo_explain
from orchestrator import Ledger, PolicyVerdicts
from tests.unit.explain_helpers import T0, risk_at, ticking_ledger


@pytest.fixture
def ledger() -> Ledger:
    return ticking_ledger("d")


def test_the_demo_sums_its_runs_explains(ledger: Ledger) -> None:
    risks = [risk_at(3000.0, T0), risk_at(3030.0, T0 + timedelta(hours=1)), risk_at(2990.0, T0 + timedelta(hours=2))]
    for i, r in enumerate(risks):
        ledger.create_run(f"d{i}", kind="beat")
        ledger.put_blob(f"d{i}", "decisions", PolicyVerdicts(decisions=(), risk=r))
    steps = [DemoStep(step=i, timestamp=str(i), prices={}, delta_before={}, delta_after={}, band={}, fired=True,
                      reason="", run_ids=[f"d{i}"]) for i in range(3)]
    total = demo_explain(ledger, steps)
    assert total is not None and total.actual == pytest.approx(risks[2].value_usd - risks[0].value_usd)
    assert demo_explain(ledger, steps[:1]) is None
