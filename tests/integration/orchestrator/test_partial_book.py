"""Risk is never computed from a partial book: real anvil chains, a real Redis, a real worker, arbitrum's RPC down.

The historic bug: with arbitrum unreachable the snapshot went partial, risk was computed without arbitrum's
holdings (150 WETH, 5 WBTC and its LP positions), and the run bought ~210 ETH and reported "in band". Here the
option book is rewritten so that the whole book (every chain) is flat in ETH and BTC: the right answer is no trade,
and a book missing arbitrum's holdings would look over 150 ETH short and buy. The beat path is the one under test
(``policy_tick``, the ``crosshedge.tick`` task, and the run a tick starts: ``start_run(kind="beat")``), and each
test checks the operator's nonce on every chain directly on anvil (not through the fault proxies).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters import default_registry
from orchestrator import (
    DEFAULT_QUEUE,
    RunState,
    Snapshot,
    connect_all,
    create_app,
    decisions_for,
    policy_tick,
    start_run,
    take_snapshot,
)
from orchestrator.coverage import KnownPositions, PositionMemory
from orchestrator.planning import PolicyVerdicts
from risk import Decision
from tests.integration.orchestra import Orchestra
from tests.integration.orchestrator.helpers import replaced_book

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
EXE = str(Path(sys.executable).parent / "crosshedge")
DOWN = "arbitrum"
UNDERLYINGS = {"ETH", "BTC"}  # arbitrum holds both (150 WETH, 5 WBTC, and LP positions)
STRIKES = {"ETH": 300.0, "BTC": 6000.0}  # a tenth of the price: calls with a delta of 1


@pytest.fixture
def flat_book(fresh: Orchestra, tmp_path: Path) -> Iterator[Orchestra]:
    """The worker's option book rewritten to short deep in-the-money calls (delta 1) against everything the
    wallets and LP positions hold on every chain: the whole book is ETH- and BTC-flat."""

    def lines(net: dict[str, float]) -> list[dict[str, Any]]:
        return [{"id": f"{u.lower()}-itm", "underlying": u, "type": "call", "strike": strike, "expiry": "90d",
                 "size": -round(net[u], 6), "vol": 0.6, "venue": "test"} for u, strike in STRIKES.items()]

    with replaced_book(fresh, tmp_path, lines):
        yield fresh


def tx_counts(orch: Orchestra) -> dict[str, int]:
    """The operator's transaction count on every chain, read from anvil directly."""
    return {c: int(orch.w3(c).eth.get_transaction_count(orch.config.wallets[s.wallet].address))  # type: ignore[arg-type]
            for c, s in orch.config.chains.items()}


def whole_book(orch: Orchestra, at: Snapshot | None = None) -> dict[str, Decision]:
    """The policy's decisions from every chain read in full (nothing remembered, nothing stood in): now, or at the
    blocks and marks of snapshot ``at`` with arbitrum's holdings read now and added (its venues left out, as they
    were from ``at``'s marks)."""
    registry = default_registry()
    connections, failed = connect_all(orch.config, timeout=10)
    assert not failed, failed
    snap = take_snapshot(orch.config, connections, registry)
    if at is not None:
        held = snap.chains[DOWN].model_copy(update={"venues": (), "swap_gas_usd": {}})
        snap = at.model_copy(update={"chains": {**at.chains, DOWN: held}, "failed": {}})
    return {d.underlying: d for d in decisions_for(orch.config, registry, snap, connections)}


def beat_run(orch: Orchestra) -> str:
    """What a tick does when its policy fires: start a beat run and hand its snapshot stage to the worker."""
    rid = start_run(orch.ctx(), kind="beat")
    create_app(orch.config, orch.url).send_task("crosshedge.snapshot", args=[rid], queue=DEFAULT_QUEUE)
    return rid


def run_decisions(orch: Orchestra, rid: str) -> dict[str, Decision]:
    verdicts = orch.ledger().blob(rid, "decisions", PolicyVerdicts)
    assert verdicts is not None, orch.ledger().events(rid)
    return {d.underlying: d for d in verdicts.decisions}


def runs_json(orch: Orchestra, rid: str) -> dict[str, Any]:
    """``crosshedge runs --run RID --json`` as a script runs it."""
    env = {**os.environ, "CROSSHEDGE_REDIS_URL": orch.url}
    out = subprocess.run([EXE, "runs", "--run", rid, "--json", "--config", str(orch.config_path)],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc


def coverage_events(doc: dict[str, Any]) -> dict[str, str]:
    """Underlying -> the message of its coverage event, from a `runs --run --json` document."""
    found = [e["message"] for e in doc["events"] if e["kind"] == "coverage"]
    return {m.split(":", 1)[0]: m for m in found}


def ages(text: str) -> list[float]:
    """The ages of the last-known positions a reason cites (not of anything else it quotes as old, such as a stale
    head in the chain's own failure sentence)."""
    return [float(a) for a in re.findall(r"last-known positions (?:from block \d+, |are )(\d+) s old", text)]


def assert_blocked_and_nothing_signed(orch: Orchestra, rid: str, before: dict[str, int], why: str) -> None:
    """The run ended without a trade; each of arbitrum's underlyings is blocked, in its decision and in `runs`."""
    run = orch.wait_run(rid, 90)
    # No trade can be planned, so the run ends as a no-op (a failure would have to say why, in the same words).
    assert run.state in (RunState.NOOP, RunState.FAILED), run
    assert run.state is RunState.NOOP or (DOWN in run.error and "no trade" in run.error), run
    assert run.partial, run
    decisions = run_decisions(orch, rid)
    assert set(decisions) == UNDERLYINGS
    for d in decisions.values():
        assert not d.trade and d.trade_units == 0.0, d
        assert d.reason.startswith(f"blocked: chain {DOWN}: ") and why in d.reason, d.reason
        assert "no trade is planned for what it holds" in d.reason, d.reason
    doc = runs_json(orch, rid)
    assert doc["run"]["id"] == rid and doc["run"]["partial"] is True and doc["intents"] == []
    assert any(e["kind"] == "chain_down" and e["chain"] == DOWN for e in doc["events"]), doc["events"]
    events = coverage_events(doc)
    assert set(events) == UNDERLYINGS, doc["events"]
    for u, message in events.items():
        assert message == f"{u}: {decisions[u].reason}"
    assert orch.ledger().intents(rid) == []
    assert tx_counts(orch) == before  # nothing signed, on any chain


def test_a_chain_never_read_in_full_blocks_what_it_holds_on_the_beat(flat_book: Orchestra) -> None:
    orch = flat_book
    before = tx_counts(orch)
    orch.proxies[DOWN].mode = "down"
    tick = policy_tick(orch.ctx(), create_app(orch.config, orch.url))
    # A book without arbitrum's holdings would be far outside the band: the tick would start a buying run.
    assert tick.action == "none" and tick.run_id is None, tick
    assert tick.reason.count(f"blocked: chain {DOWN}: ") == len(UNDERLYINGS) and "none known" in tick.reason, tick
    rid = beat_run(orch)
    assert_blocked_and_nothing_signed(orch, rid, before, "none known")


def test_recent_last_known_positions_stand_in_with_a_widened_band(flat_book: Orchestra) -> None:
    orch = flat_book
    before = tx_counts(orch)
    assert not any(d.trade for d in whole_book(orch).values())  # the whole book is flat: in band
    # The beat (the worker's crosshedge.tick) reads every chain in full and remembers what each holds.
    orch.send("crosshedge.tick", [])
    known: KnownPositions = orch.wait_for(lambda: PositionMemory(orch.ledger()).recall(DOWN), timeout_s=60,
                                          what=f"the tick to remember {DOWN}'s positions")
    assert known.spot and known.lp, known
    orch.proxies[DOWN].mode = "down"
    rid = beat_run(orch)
    run = orch.wait_run(rid, 90)
    assert run.state is RunState.NOOP and run.partial, (run, orch.ledger().events(rid))  # flat: no trade is due
    decisions = run_decisions(orch, rid)
    assert set(decisions) == UNDERLYINGS
    at = orch.ledger().blob(rid, "snapshot", Snapshot)
    assert at is not None and DOWN in at.failed and DOWN not in at.chains
    orch.proxies[DOWN].mode = ""
    ref = whole_book(orch, at)  # the whole book at the run's blocks and marks
    for u, d in decisions.items():
        # The whole book's delta (arbitrum's 150 WETH / 5 WBTC and its LP included), not the partial one.
        assert d.net_delta == pytest.approx(ref[u].net_delta, abs=1e-4), (d, ref[u])
        # Widened by their staleness, on both sides alike: by the stale LP positions' gamma (spot has none).
        widened = (ref[u].lower - d.lower, d.upper - ref[u].upper)
        assert widened[1] == pytest.approx(widened[0], rel=1e-3, abs=1e-12), (d, ref[u])
        assert widened[0] > 0 if u in {p.underlying for p in known.lp} else widened[0] >= 0, (d, ref[u])
        assert d.lower <= d.net_delta <= d.upper and not d.trade, d
        assert f"chain {DOWN}: " in d.reason and f"last-known positions from block {known.block}" in d.reason, d
        assert "band widened by" in d.reason, d.reason
        cited = ages(d.reason)
        assert len(cited) == 1, d.reason
        assert 0 <= cited[0] <= time.time() - known.at + 1, d.reason
    events = coverage_events(runs_json(orch, rid))
    assert set(events) == UNDERLYINGS and all("last-known" in m for m in events.values()), events
    assert tx_counts(orch) == before


def test_last_known_positions_past_max_position_age_block_again(flat_book: Orchestra) -> None:
    orch = flat_book
    before = tx_counts(orch)
    limit = 2.0
    with orch.configured(max_position_age_s=limit):
        ctx = orch.ctx()
        app = create_app(orch.config, orch.url)
        assert policy_tick(ctx, app).action == "none"  # every chain read in full, and remembered
        known = PositionMemory(orch.ledger()).recall(DOWN)
        assert known is not None
        orch.wait_for(lambda: time.time() - known.at > limit, timeout_s=10, what="the positions to age past the limit")
        orch.proxies[DOWN].mode = "down"
        tick = policy_tick(ctx, app)
        assert tick.action == "none", tick
        assert tick.reason.count(f"blocked: chain {DOWN}: ") == len(UNDERLYINGS), tick
        assert f"(limit {limit:g} s)" in tick.reason and ages(tick.reason), tick
        assert all(a >= limit for a in ages(tick.reason)), tick
        rid = beat_run(orch)
        assert_blocked_and_nothing_signed(orch, rid, before, f"(limit {limit:g} s)")
        assert all(a >= limit for d in run_decisions(orch, rid).values() for a in ages(d.reason))
