"""What the P&L-explain tests of runs, the CLI and the demo share: an in-memory ledger on a ticking clock and the
risk report of a short call at a given spot and time (fakeredis: unit tests only; integration tests use Redis)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import fakeredis

from adapters import OptionPosition
from orchestrator import Ledger
from risk import RiskReport, aggregate

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def ticking() -> Iterator[float]:
    t = 1_700_000_000.0
    while True:
        t += 1.0
        yield t


def ticking_ledger(prefix: str) -> Ledger:
    """A ledger whose clock moves one second per reading (run order is creation order)."""
    clock = ticking()
    return Ledger(fakeredis.FakeRedis(decode_responses=True), prefix=prefix, clock=lambda: next(clock))


def risk_at(spot: float, when: datetime) -> RiskReport:
    """The book's risk: 10 short 30-day ETH calls struck at 3,000, marked at ``spot`` at ``when``."""
    call = OptionPosition(id="c", underlying="ETH", kind="call", strike=3000, expiry=T0 + timedelta(days=30),
                          size=-10, vol=0.6, venue="deribit", tenor_days=30)
    return aggregate([call], {"ETH": spot}, when)
