"""Fault injection against real anvil chains, a real Redis and a real Celery worker process.

After every test: no intent executed twice (each landed at its own nonce, one landed hash per intent), every
intent terminal, the ledger equal to the chain's balances, nonces contiguous, and the private key in no log.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from adapters import Side
from orchestrator import IntentKind, IntentState, KillSwitch, RunReport, RunState
from tests.integration.orchestra import Orchestra
from tests.integration.orchestrator.helpers import Want, assert_ledger_invariants, make_plan

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ETH_TRADE = Want("ethereum", "v3_weth_usdc_500", Side.SELL, 1.0)
ARB_TRADE = Want("arbitrum", "v2_weth_usdc", Side.BUY, 1.0)
BASE_TRADE = Want("base", "v3_wbtc_usdc_3000", Side.SELL, 0.02)


def rpc(orch: Orchestra, chain: str, method: str, params: list[Any]) -> Any:
    return orch.w3(chain).provider.make_request(method, params)  # type: ignore[arg-type]


def finish(orch: Orchestra, run_id: str, timeout_s: float = 60.0) -> RunReport:
    """Wait for the run and check every invariant; returns the report."""
    run = orch.wait_run(run_id, timeout_s)
    assert run.state is RunState.RECONCILED, (run, orch.ledger().events(run_id))
    ledger = orch.ledger()
    assert_ledger_invariants(ledger, run_id, orch.w3s())
    report = ledger.blob(run_id, "report", RunReport)
    assert report is not None and report.balance_diff == {}, report
    return report


def intent_in(orch: Orchestra, run_id: str, chain: str, kind: IntentKind, state: IntentState) -> Any:
    for r in orch.ledger().intents(run_id):
        if r.spec.chain == chain and r.spec.kind is kind and r.state is state:
            return r
    return None


@pytest.mark.parametrize("point", ["before_sign", "after_sign", "after_broadcast"])
def test_worker_sigkill_at_each_point(fresh: Orchestra, point: str) -> None:
    plan = make_plan(fresh.config, [ETH_TRADE, ARB_TRADE])
    fresh.arm(point)
    rid = fresh.submit(plan, f"kill-{point}")
    report = finish(fresh, rid)
    assert not (fresh.crash_dir / point).exists(), "the crash point was never reached"
    assert "WorkerLostError" in fresh.log_tail(400) or "SIGKILL" in fresh.log_tail(400)
    assert all(t.state == "confirmed" and t.attempts == 1 for t in report.trades)
    assert {t.chain for t in report.trades} == {"ethereum", "arbitrum"}


def test_same_message_delivered_twice(fresh: Orchestra) -> None:
    plan = make_plan(fresh.config, [ETH_TRADE, BASE_TRADE])
    rid = fresh.submit(plan, "dup")
    fresh.send("crosshedge.snapshot", [rid])
    fresh.wait_for(lambda: fresh.ledger().lanes(rid), what="lanes")
    for lane in fresh.ledger().lanes(rid):
        for _ in range(2):
            fresh.send("crosshedge.execute_lane", [rid, lane], f"lane.{lane}")
    report = finish(fresh, rid)
    time.sleep(1.0)  # let the duplicates drain, then check nothing changed
    assert_ledger_invariants(fresh.ledger(), rid, fresh.w3s())
    assert len(report.trades) == 2


def test_rpc_timeout_on_send_where_the_tx_landed(fresh: Orchestra) -> None:
    plan = make_plan(fresh.config, [ARB_TRADE])
    fresh.proxies["arbitrum"].mode = "slow_send"
    rid = fresh.submit(plan, "timeout")
    report = finish(fresh, rid, timeout_s=90)
    assert report.trades[0].state == "confirmed" and report.trades[0].attempts == 1


def test_dropped_transaction_is_rebroadcast(fresh: Orchestra) -> None:
    plan = make_plan(fresh.config, [ARB_TRADE])
    rpc(fresh, "arbitrum", "evm_setAutomine", [False])
    rid = fresh.submit(plan, "drop")
    sent = fresh.wait_for(lambda: intent_in(fresh, rid, "arbitrum", IntentKind.APPROVE, IntentState.SENT),
                          what="approval sent")
    assert rpc(fresh, "arbitrum", "anvil_dropTransaction", [sent.tx_hash]).get("error") is None
    fresh.wait_for(lambda: any(e.kind == "rebroadcast" for e in fresh.ledger().events(rid)), what="rebroadcast")
    rpc(fresh, "arbitrum", "evm_setAutomine", [True])
    rpc(fresh, "arbitrum", "evm_mine", [])
    finish(fresh, rid)
    approval = fresh.ledger().intent(sent.spec.id)
    assert len(approval.attempts) == 1 and approval.receipt is not None
    assert approval.receipt.tx_hash == sent.tx_hash  # the same bytes landed


def test_base_fee_spike_replaces_at_the_same_nonce(fresh: Orchestra) -> None:
    plan = make_plan(fresh.config, [ETH_TRADE])
    rpc(fresh, "ethereum", "evm_setAutomine", [False])
    rid = fresh.submit(plan, "spike")
    sent = fresh.wait_for(lambda: intent_in(fresh, rid, "ethereum", IntentKind.APPROVE, IntentState.SENT),
                          what="approval sent")
    first = sent.attempts[0]
    spike = first.max_fee_per_gas * 3  # far above the signed fee cap, below the chain's 500 gwei cap
    rpc(fresh, "ethereum", "anvil_setNextBlockBaseFeePerGas", [hex(spike)])
    rpc(fresh, "ethereum", "evm_mine", [])  # a block our transaction cannot enter
    assert fresh.w3("ethereum").eth.get_block("latest")["transactions"] == []
    fresh.wait_for(lambda: any(e.kind == "replaced" for e in fresh.ledger().events(rid)), what="replacement")
    rpc(fresh, "ethereum", "evm_setAutomine", [True])
    rpc(fresh, "ethereum", "evm_mine", [])
    finish(fresh, rid)
    approval = fresh.ledger().intent(sent.spec.id)
    assert len(approval.attempts) == 2 and approval.receipt is not None
    second = approval.attempts[1]
    assert approval.receipt.tx_hash == second.tx_hash
    assert second.max_fee_per_gas >= first.max_fee_per_gas * 1.125
    assert second.max_priority_fee_per_gas >= first.max_priority_fee_per_gas * 1.125


def test_swap_reverting_on_chain_is_failed_with_gas_booked(fresh: Orchestra) -> None:
    plan = make_plan(fresh.config, [BASE_TRADE])
    rpc(fresh, "base", "evm_setAutomine", [False])
    rid = fresh.submit(plan, "revert")
    fresh.wait_for(lambda: intent_in(fresh, rid, "base", IntentKind.APPROVE, IntentState.SENT), what="approval")
    rpc(fresh, "base", "evm_mine", [])
    swap = fresh.wait_for(lambda: intent_in(fresh, rid, "base", IntentKind.SWAP, IntentState.SENT), what="swap")
    assert swap.tx is not None and swap.tx.deadline is not None
    rpc(fresh, "base", "evm_setNextBlockTimestamp", [swap.tx.deadline + 60])  # mined after its deadline: reverts
    rpc(fresh, "base", "evm_mine", [])
    rpc(fresh, "base", "evm_setAutomine", [True])
    report = finish(fresh, rid)
    failed = fresh.ledger().intent(swap.spec.id)
    assert failed.state is IntentState.RECONCILED and failed.receipt is not None and failed.receipt.status == 0
    assert failed.gas_cost_wei > 0 and len(failed.attempts) == 1 and failed.fill is None
    assert report.failed_gas_usd > 0


def test_one_chain_down_others_proceed_and_run_is_partial(fresh: Orchestra) -> None:
    plan = make_plan(fresh.config, [ETH_TRADE, BASE_TRADE])
    fresh.proxies["base"].mode = "down"
    rid = fresh.submit(plan, "down")
    report = finish(fresh, rid)
    assert report.partial is True
    assert [t.chain for t in report.trades] == ["ethereum"]
    assert any(e.kind == "chain_down" and e.chain == "base" for e in fresh.ledger().events(rid))


def test_redis_restarted_mid_run_resumes(fresh: Orchestra) -> None:
    plan = make_plan(fresh.config, [ARB_TRADE])
    rpc(fresh, "arbitrum", "evm_setAutomine", [False])
    rid = fresh.submit(plan, "redis")
    fresh.wait_for(lambda: intent_in(fresh, rid, "arbitrum", IntentKind.APPROVE, IntentState.SENT), what="sent")
    fresh.redis.restart()
    rpc(fresh, "arbitrum", "evm_setAutomine", [True])
    rpc(fresh, "arbitrum", "evm_mine", [])
    report = finish(fresh, rid, timeout_s=120)
    assert report.trades[0].state == "confirmed"


def test_kill_switch_mid_run_stops_signing(fresh: Orchestra) -> None:
    plan = make_plan(fresh.config, [ETH_TRADE, Want("ethereum", "v2_weth_usdc", Side.SELL, 0.5)])
    rpc(fresh, "ethereum", "evm_setAutomine", [False])
    rid = fresh.submit(plan, "halt")
    fresh.wait_for(lambda: intent_in(fresh, rid, "ethereum", IntentKind.APPROVE, IntentState.SENT), what="sent")
    KillSwitch(fresh.ledger()).halt("test: stop now")
    rpc(fresh, "ethereum", "evm_setAutomine", [True])
    rpc(fresh, "ethereum", "evm_mine", [])
    report = finish(fresh, rid)
    records = fresh.ledger().intents(rid)
    # The approval landed, its swap and the second trade were not signed, and the revocation of the landed
    # approval could not be signed either (halted): it is recorded, skipped, and said in the events.
    assert [r.state for r in records] == [IntentState.RECONCILED] + [IntentState.SKIPPED] * 4
    assert records[-1].spec.kind is IntentKind.REVOKE and "kill switch" in records[-1].error
    assert any(e.kind == "allowance_left" for e in fresh.ledger().events(rid))
    assert all(not r.attempts for r in records[1:])
    assert "kill switch" in report.halted
    KillSwitch(fresh.ledger()).resume()


def test_circuit_breaker_trips_on_a_manipulated_pool(fresh: Orchestra) -> None:
    from tests.integration.orchestrator.market import push_price

    plan = make_plan(fresh.config, [ETH_TRADE, Want("ethereum", "v3_weth_usdc_3000", Side.SELL, 0.5)])
    push_price(fresh, "ethereum", "v3_weth_usdc_3000", sell_base=600.0)  # moves that pool far from the others
    rid = fresh.submit(plan, "breaker")
    report = finish(fresh, rid)
    assert [t.venue for t in report.trades] == ["v3_weth_usdc_500"]
    assert any(e.kind == "breaker" and "v3_weth_usdc_3000" in e.message for e in fresh.ledger().events(rid))
