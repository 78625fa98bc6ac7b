"""End to end through the real worker: risk -> policy -> optimizer -> execute -> confirm -> reconcile."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from crosshedge.config.loader import load_config
from orchestrator import run as stages
from orchestrator.assess import decisions_for
from orchestrator.ledger import IntentKind, IntentState, RunState
from orchestrator.snapshot import take_snapshot
from tests.integration.orchestrator.conftest import Orchestra
from tests.integration.orchestrator.helpers import assert_ledger_invariants

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXCESS_ETH = 450.0  # more than any one chain's wallet holds: the hedge must use at least two chains


@pytest.fixture
def calibrated_book(fresh: Orchestra, tmp_path: Path) -> Iterator[Path]:
    """Rewrite the worker's book so the whole position is EXCESS_ETH long and BTC flat; restore it after."""
    raw = yaml.safe_load(fresh.config_path.read_text())
    book_path = Path(next(v for v in raw["positions"].values() if v["adapter"] == "option_book")["settings"]["path"])
    raw["positions"] = {k: v for k, v in raw["positions"].items() if v["adapter"] != "option_book"}
    (tmp_path / "no-book.yaml").write_text(yaml.safe_dump(raw))
    base = load_config(tmp_path / "no-book.yaml")
    ctx = stages.RunContext(config=base, ledger=fresh.ledger())
    connections = {c: ctx.w3(c) for c in ctx.chains()}
    snap = take_snapshot(base, connections, ctx.registry)
    net = {d.underlying: d.net_delta for d in decisions_for(base, ctx.registry, snap, connections)}
    # Short deep in-the-money calls (delta -1 each) offset the wallets and LPs down to the excess wanted.
    lines = [{"id": "eth-itm", "underlying": "ETH", "type": "call", "strike": 300, "expiry": "90d",
              "size": -(net.get("ETH", 0.0) - EXCESS_ETH), "vol": 0.6, "venue": "test"}]
    if net.get("BTC"):
        lines.append({"id": "btc-itm", "underlying": "BTC", "type": "call", "strike": 6000, "expiry": "90d",
                      "size": -net["BTC"], "vol": 0.5, "venue": "test"})
    original = book_path.read_text()
    book_path.write_text(yaml.safe_dump({"positions": lines}))
    yield book_path
    book_path.write_text(original)


def test_run_hedges_into_the_band_on_two_chains(fresh: Orchestra, calibrated_book: Path) -> None:
    ctx = fresh.ctx()
    rid = stages.start_run(ctx, kind="e2e", run_id="e2e")
    fresh.send("crosshedge.snapshot", [rid])
    run_ids = [rid]
    while True:  # the run and its bounded follow-ups (the LP's delta moves with the price each trade pushes)
        run = fresh.wait_run(run_ids[-1], timeout_s=120)
        assert run.state is RunState.RECONCILED, (run, fresh.ledger().events(run.id))
        report = fresh.ledger().blob(run.id, "report")
        if not report["followup"]:
            break
        fresh.wait_for(lambda r=report: _exists(fresh, r["followup"]), what="follow-up run")
        run_ids.append(report["followup"])
    assert len(run_ids) <= 1 + fresh.config.raw.execution.max_followups
    assert report["outside_band"] == [], report["residual_delta"]
    chains = set()
    for rid in run_ids:
        assert fresh.ledger().blob(rid, "report")["balance_diff"] == {}
        assert_ledger_invariants(fresh.ledger(), rid, fresh.w3s(), last_run=rid == run_ids[-1])
        chains |= {r.spec.chain for r in fresh.ledger().intents(rid)
                   if r.spec.kind is IntentKind.SWAP and r.state is IntentState.RECONCILED and r.fill}
    assert len(chains) >= 2, chains


def _exists(orch: Orchestra, run_id: str) -> bool:
    try:
        orch.ledger().run(run_id)
        return True
    except Exception:
        return False
