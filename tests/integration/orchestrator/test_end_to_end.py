"""End to end through the real worker: risk -> policy -> optimizer -> execute -> confirm -> reconcile."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator import (
    IntentKind,
    IntentState,
    RunReport,
    RunState,
    start_run,
)
from tests.integration.orchestra import Orchestra
from tests.integration.orchestrator.helpers import assert_ledger_invariants, replaced_book

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXCESS_ETH = 450.0  # more than any one chain's wallet holds: the hedge must use at least two chains


@pytest.fixture
def calibrated_book(fresh: Orchestra, tmp_path: Path) -> Iterator[Path]:
    """The worker's book rewritten so the whole position is EXCESS_ETH long and BTC flat."""

    def lines(net: dict[str, float]) -> list[dict[str, Any]]:
        # Short deep in-the-money calls (delta -1 each) offset the wallets and LPs down to the excess wanted.
        out: list[dict[str, Any]] = [{"id": "eth-itm", "underlying": "ETH", "type": "call", "strike": 300,
                                      "expiry": "90d", "size": -(net.get("ETH", 0.0) - EXCESS_ETH), "vol": 0.6,
                                      "venue": "test"}]
        if net.get("BTC"):
            out.append({"id": "btc-itm", "underlying": "BTC", "type": "call", "strike": 6000, "expiry": "90d",
                        "size": -net["BTC"], "vol": 0.5, "venue": "test"})
        return out

    with replaced_book(fresh, tmp_path, lines) as book:
        yield book


def test_run_hedges_into_the_band_on_two_chains(fresh: Orchestra, calibrated_book: Path) -> None:
    ctx = fresh.ctx()
    rid = start_run(ctx, kind="e2e", run_id="e2e")
    fresh.send("crosshedge.snapshot", [rid])
    run_ids = [rid]
    while True:  # the run and its bounded follow-ups (the LP's delta moves with the price each trade pushes)
        run = fresh.wait_run(run_ids[-1], timeout_s=120)
        assert run.state is RunState.RECONCILED, (run, fresh.ledger().events(run.id))
        report = fresh.ledger().blob(run.id, "report", RunReport)
        assert report is not None
        followup = report.followup
        if not followup:
            break
        fresh.wait_for(lambda f=followup: fresh.ledger().has_run(f), what="follow-up run")
        run_ids.append(followup)
    assert len(run_ids) <= 1 + fresh.config.raw.execution.max_followups
    assert report.outside_band == [], report.residual_delta
    chains = set()
    for rid in run_ids:
        final = fresh.ledger().blob(rid, "report", RunReport)
        assert final is not None and final.balance_diff == {}
        assert_ledger_invariants(fresh.ledger(), rid, fresh.w3s(), last_run=rid == run_ids[-1])
        chains |= {r.spec.chain for r in fresh.ledger().intents(rid)
                   if r.spec.kind is IntentKind.SWAP and r.state is IntentState.RECONCILED and r.fill}
    assert len(chains) >= 2, chains
