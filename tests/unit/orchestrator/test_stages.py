"""The run stages' own logic, on the in-memory ledger: planning, caps, failing a run, recovery, the error policy.

No chain and no Redis server: a planner is injected and the snapshot is built by hand, so what is tested is the
stage's decisions (what it records, when it ends a run, what it gives back), not the parts around it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fakeredis
import pytest

from crosshedge import (
    AdapterError,
    ChainMismatchError,
    CircuitBreakerError,
    ConfigError,
    CrosshedgeError,
    InfeasiblePlanError,
    LeaseLostError,
    LedgerUnavailableError,
    NotReadyError,
    RpcError,
    StaleDataError,
    UnsafeTransactionError,
)
from optimizer import Plan
from orchestrator import (
    IntentKind,
    IntentState,
    Ledger,
    RunContext,
    RunLock,
    RunState,
    Snapshot,
    fail_run,
    plan_run,
    resume_run,
    start_run,
)
from orchestrator.caps import check_caps
from orchestrator.ledger import Attempt, TxFields
from orchestrator.tasks import MAX_RETRIES, stop_reason
from orchestrator.terms import check_plan_age
from tests.unit.orchestrator.stage_helpers import ROUTER, context, sell_plan, snapshot

NOW = 1_700_000_000.0


def snapshotted(ctx: RunContext, run_id: str, snap: Snapshot | None = None) -> str:
    start_run(ctx, kind="test", run_id=run_id)
    ctx.ledger.put_blob(run_id, "snapshot", snap or snapshot(NOW))
    ctx.ledger.set_run_state(run_id, RunState.SNAPSHOTTED)
    return run_id


def given(plan: Plan | None) -> Any:
    return lambda *_: plan


def test_plan_records_an_exact_approval_then_the_swap(tmp_path: Path, memory_ledger: Ledger) -> None:
    ctx = context(tmp_path, memory_ledger, NOW)
    rid = snapshotted(ctx, "r1")
    assert plan_run(ctx, rid, planner=given(sell_plan(10.0))) == ["ethereum.ops"]
    approve, swap = ctx.ledger.intents(rid)
    assert (approve.spec.kind, approve.spec.spender, approve.spec.amount_in_raw) == (IntentKind.APPROVE, ROUTER,
                                                                                     10 * 10**18)
    assert (swap.spec.kind, swap.spec.target, swap.spec.seq) == (IntentKind.SWAP, ROUTER, 1)
    assert ctx.ledger.run(rid).state is RunState.EXECUTING
    assert ctx.ledger.notional_since(NOW - 86_400) == 0.0  # booked as each swap is signed, at its fresh value
    assert plan_run(ctx, rid, planner=given(None)) == ["ethereum.ops"]  # a redelivered plan task plans nothing new
    assert len(ctx.ledger.intents(rid)) == 2


def test_nothing_to_do_ends_the_run_as_noop_and_frees_the_lock(tmp_path: Path, memory_ledger: Ledger) -> None:
    ctx = context(tmp_path, memory_ledger, NOW)
    rid = snapshotted(ctx, "r1")
    assert plan_run(ctx, rid, planner=given(None)) == []
    assert ctx.ledger.run(rid).state is RunState.NOOP
    assert RunLock(ctx.ledger, 60).holder() is None


def test_an_infeasible_plan_ends_the_run_with_its_sentence(tmp_path: Path, memory_ledger: Ledger) -> None:
    ctx = context(tmp_path, memory_ledger, NOW)
    rid = snapshotted(ctx, "r1")

    def infeasible(*_: object) -> Plan:
        raise InfeasiblePlanError("cannot sell 91.4 ETH of delta: the wallets hold 73.2 WETH")

    with pytest.raises(InfeasiblePlanError) as raised:
        plan_run(ctx, rid, planner=infeasible)
    assert stop_reason(raised.value, 0, "plan") == str(raised.value)  # terminal: no retry
    assert fail_run(ctx, rid, str(raised.value))
    run = ctx.ledger.run(rid)
    assert run.state is RunState.FAILED and "cannot sell 91.4 ETH" in run.error
    assert RunLock(ctx.ledger, 60).holder() is None
    assert start_run(ctx, kind="test", run_id="r2") == "r2"  # the next trigger can run


def test_a_plan_over_the_run_cap_fails_before_any_intent(tmp_path: Path, memory_ledger: Ledger) -> None:
    ctx = context(tmp_path, memory_ledger, NOW, max_notional_usd_per_run=10_000.0)
    rid = snapshotted(ctx, "r1")
    with pytest.raises(CircuitBreakerError, match="per-run cap"):
        plan_run(ctx, rid, planner=given(sell_plan(10.0)))
    assert ctx.ledger.run(rid).state is RunState.FAILED
    assert ctx.ledger.intents(rid) == []


@pytest.mark.parametrize(("hours_ago", "allowed"), [(23.0, False), (25.0, True)])
def test_the_daily_cap_is_a_rolling_24_hours(tmp_path: Path, hours_ago: float, allowed: bool) -> None:
    clock = {"now": NOW - hours_ago * 3600}
    ledger = Ledger(fakeredis.FakeRedis(decode_responses=True), prefix="m", clock=lambda: clock["now"])
    ledger.add_notional("earlier", 20_000.0)
    clock["now"] = NOW
    ctx = context(tmp_path, ledger, NOW, max_notional_usd_per_day=40_000.0)
    rid = snapshotted(ctx, "r1")
    if allowed:
        assert plan_run(ctx, rid, planner=given(sell_plan(10.0)))
    else:
        with pytest.raises(CircuitBreakerError, match="per-day cap"):
            plan_run(ctx, rid, planner=given(sell_plan(10.0)))


def test_trades_on_a_gas_capped_chain_are_dropped(tmp_path: Path, memory_ledger: Ledger) -> None:
    ctx = context(tmp_path, memory_ledger, NOW)
    rid = snapshotted(ctx, "r1", snapshot(NOW, gas_gwei=900.0))  # above the default 500 gwei cap
    assert plan_run(ctx, rid, planner=given(sell_plan(10.0))) == []
    assert ctx.ledger.run(rid).state is RunState.NOOP
    assert any(e.kind == "breaker" and "gas price" in e.message for e in ctx.ledger.events(rid))


def test_failing_a_run_with_a_signed_intent_keeps_it_open_for_confirmation(
        tmp_path: Path, memory_ledger: Ledger) -> None:
    ctx = context(tmp_path, memory_ledger, NOW)
    rid = snapshotted(ctx, "r1")
    plan_run(ctx, rid, planner=given(sell_plan(10.0)))
    approve, swap = ctx.ledger.intents(rid)
    nonce = ctx.ledger.allocate_nonce(approve.spec.id, approve.spec.nonce_sequence, 7)
    ctx.ledger.record_signed(approve.spec.id, "sealed:v1:00", Attempt(tx_hash="0xaa", max_fee_per_gas=2,
                             max_priority_fee_per_gas=1, signed_at=NOW),
                             TxFields(chain_id=1, nonce=nonce, to=ROUTER, data="0x", value=0, gas=60_000))
    ctx.ledger.allocate_nonce(swap.spec.id, swap.spec.nonce_sequence, 7)
    assert not fail_run(ctx, rid, "operator: stop")
    assert ctx.ledger.intent(swap.spec.id).state is IntentState.SKIPPED
    assert ctx.ledger.lane_nonces(swap.spec.nonce_sequence) == {7: approve.spec.id}  # the swap's nonce came back
    assert ctx.ledger.run(rid).state is RunState.EXECUTING and ctx.ledger.run(rid).error == "operator: stop"
    assert RunLock(ctx.ledger, 60).holder() == rid  # still held until the signed approval is accounted for


class Sent:
    """Records what a Celery app would be asked to send (resume_run only calls send_task)."""

    def __init__(self) -> None:
        self.tasks: list[tuple[str, list[str], str]] = []

    def send_task(self, name: str, args: list[str], queue: str) -> None:
        self.tasks.append((name, args, queue))


def test_resume_sends_what_each_state_needs(tmp_path: Path, memory_ledger: Ledger) -> None:
    ctx = context(tmp_path, memory_ledger, NOW)
    app = Sent()
    start_run(ctx, kind="test", run_id="r1")
    resume_run(app, ctx, ctx.ledger.run("r1"))
    ctx.ledger.put_blob("r1", "snapshot", snapshot(NOW))
    ctx.ledger.set_run_state("r1", RunState.SNAPSHOTTED)
    resume_run(app, ctx, ctx.ledger.run("r1"))
    plan_run(ctx, "r1", planner=given(sell_plan(1.0)))
    resume_run(app, ctx, ctx.ledger.run("r1"))
    ctx.ledger.mark_done("r1", "execute", "ethereum.ops")
    resume_run(app, ctx, ctx.ledger.run("r1"))
    ctx.ledger.mark_done("r1", "confirm", "ethereum.ops")
    resume_run(app, ctx, ctx.ledger.run("r1"))
    assert [(n, q) for n, _, q in app.tasks] == [
        ("crosshedge.snapshot", "crosshedge"), ("crosshedge.plan", "crosshedge"),
        ("crosshedge.execute_lane", "lane.ethereum.ops"), ("crosshedge.confirm_lane", "lane.ethereum.ops"),
        ("crosshedge.reconcile", "crosshedge")]


def all_errors() -> list[type[CrosshedgeError]]:
    out, todo = [], [CrosshedgeError]
    while todo:
        cls = todo.pop()
        out.append(cls)
        todo += cls.__subclasses__()
    return out


def test_every_error_says_retry_or_stop() -> None:
    retryable = {cls for cls in all_errors() if cls.retryable}
    assert {RpcError, StaleDataError, NotReadyError, LedgerUnavailableError, LeaseLostError} <= retryable
    assert not retryable & {ConfigError, AdapterError, InfeasiblePlanError, UnsafeTransactionError,
                            CircuitBreakerError, ChainMismatchError}
    assert all(isinstance(cls.retryable, bool) for cls in all_errors())


def test_the_task_layer_decides_from_the_error_alone() -> None:
    assert stop_reason(RpcError("chain base: timeout"), 0, "snapshot") is None
    assert "gave up after" in (stop_reason(RpcError("chain base: timeout"), MAX_RETRIES, "snapshot") or "")
    assert stop_reason(ChainMismatchError("chain base: serves 10"), 0, "snapshot") == "chain base: serves 10"
    assert stop_reason(KeyError("x"), 0, "plan r1") == "internal error in plan r1: KeyError: 'x'"


def test_a_stale_duplicate_stage_is_a_no_op_not_a_failure(memory_ledger: Ledger) -> None:
    memory_ledger.create_run("r1", kind="test")
    for state in (RunState.SNAPSHOTTED, RunState.PLANNED, RunState.EXECUTING):
        assert memory_ledger.set_run_state("r1", state)
    assert not memory_ledger.set_run_state("r1", RunState.SNAPSHOTTED)  # a duplicate snapshot task, late
    assert memory_ledger.run("r1").state is RunState.EXECUTING
    assert memory_ledger.put_blob_once("r1", "snapshot", snapshot(NOW))
    assert not memory_ledger.put_blob_once("r1", "snapshot", snapshot(NOW + 60))  # the run keeps its first one
    stored = memory_ledger.blob("r1", "snapshot", Snapshot)
    assert stored is not None and stored.taken_at == NOW


def test_an_old_or_undated_plan_is_never_executed(tmp_path: Path, memory_ledger: Ledger) -> None:
    ctx = context(tmp_path, memory_ledger, NOW, max_plan_age_s=120.0)
    check_plan_age(ctx, "r1", sell_plan().model_copy(update={"created_at": NOW - 60}))
    with pytest.raises(StaleDataError, match="121 s old"):
        check_plan_age(ctx, "r1", sell_plan().model_copy(update={"created_at": NOW - 121}))
    with pytest.raises(StaleDataError, match="does not say when it was made"):
        check_plan_age(ctx, "r1", sell_plan())


def test_caps_at_signing_count_what_was_signed_not_what_a_plan_declares(tmp_path: Path) -> None:
    ledger = Ledger(fakeredis.FakeRedis(decode_responses=True), prefix="m", clock=lambda: NOW)
    ctx = context(tmp_path, ledger, NOW, max_notional_usd_per_run=10_000.0, max_notional_usd_per_day=15_000.0)
    ledger.add_notional("r1.ethereum.ops.001.swap", 6_000.0)
    check_caps(ctx, "r1", "r1.ethereum.ops.003.swap", 4_000.0)
    with pytest.raises(CircuitBreakerError, match="per-run cap"):
        check_caps(ctx, "r1", "r1.ethereum.ops.003.swap", 4_001.0)
    ledger.add_notional("r0.ethereum.ops.001.swap", 8_000.0)  # an earlier run, inside the last 24 h
    with pytest.raises(CircuitBreakerError, match="per-day cap"):
        check_caps(ctx, "r2", "r2.ethereum.ops.001.swap", 2_000.0)
    check_caps(ctx, "r1", "r1.ethereum.ops.001.swap", 6_000.0)  # re-preparing an intent does not count it twice
