"""The demo's summary explains its runs' P&L: each run's stored risk report to the next run's, summed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import fakeredis
import pytest

from adapters import OptionPosition
from crosshedge.demo import DemoStep, demo_explain
from orchestrator import Ledger, PolicyVerdicts
from risk import RiskReport, aggregate

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def ticking() -> Iterator[float]:
    t = 1_700_000_000.0
    while True:
        t += 1.0
        yield t


@pytest.fixture
def ledger() -> Ledger:
    clock = ticking()
    return Ledger(fakeredis.FakeRedis(decode_responses=True), prefix="d", clock=lambda: next(clock))


def risk_at(spot: float, when: datetime) -> RiskReport:
    call = OptionPosition(id="c", underlying="ETH", kind="call", strike=3000, expiry=T0 + timedelta(days=30),
                          size=-10, vol=0.6, venue="deribit", tenor_days=30)
    return aggregate([call], {"ETH": spot}, when)


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
