"""A run that cannot proceed ends as failed with its sentence, gives back the run lock, and the next tick runs.

Real worker, real Redis, real anvil: the policy fires on a book no wallet can hedge, the optimizer refuses
(InfeasiblePlanError, terminal), and the run must end at once instead of being re-planned forever.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator import (
    RunContext,
    RunLock,
    RunState,
    create_app,
    policy_tick,
    run_summary,
)
from tests.integration.orchestra import Orchestra
from tests.integration.orchestrator.helpers import replaced_book

pytestmark = [pytest.mark.integration, pytest.mark.slow]

UNHEDGEABLE_ETH = 50_000.0  # long this much ETH delta: far more WETH than every wallet holds together


@pytest.fixture
def unhedgeable_book(fresh: Orchestra, tmp_path: Path) -> Iterator[Path]:
    """The worker's book rewritten so the position is UNHEDGEABLE_ETH long: it must sell that much."""

    def lines(net: dict[str, float]) -> list[dict[str, Any]]:  # deep in-the-money long calls: delta +1 each
        return [{"id": "eth-itm", "underlying": "ETH", "type": "call", "strike": 300, "expiry": "90d",
                 "size": UNHEDGEABLE_ETH - net.get("ETH", 0.0), "vol": 0.6, "venue": "test"}]

    with replaced_book(fresh, tmp_path, lines) as book:
        yield book


def test_infeasible_plan_fails_the_run_with_its_sentence_and_the_next_tick_runs(
        fresh: Orchestra, unhedgeable_book: Path) -> None:
    app = create_app(fresh.config, fresh.url)
    ctx = fresh.ctx()
    first = policy_tick(ctx, app)
    assert first.action == "run" and first.run_id is not None, first
    run = fresh.wait_run(first.run_id, timeout_s=90)
    assert run.state is RunState.FAILED, run
    assert "cannot sell" in run.error and "ETH" in run.error, run.error
    assert RunLock(fresh.ledger(), 60).holder() is None  # the lock came back with the failure
    summary = run_summary(fresh.ledger(), first.run_id)
    assert summary.intents == [] and any(e.kind == "failed" for e in summary.events)
    later = RunContext(config=ctx.config, ledger=ctx.ledger, clock=lambda: ctx.clock() + 60.0)  # the next slot
    second = policy_tick(later, app)
    assert second.action == "run" and second.run_id not in (None, first.run_id), second
    assert fresh.wait_run(second.run_id or "", timeout_s=90).state is RunState.FAILED
