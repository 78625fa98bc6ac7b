"""The ledger's state machines, write-ahead storage and nonce allocation against a real Redis server."""

from __future__ import annotations

import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crosshedge import LeaseLostError, LedgerError
from orchestrator import EmbeddedRedis, redis_client
from orchestrator.ledger import (
    INTENT_TRANSITIONS,
    Attempt,
    Intent,
    IntentKind,
    IntentState,
    Ledger,
    RunState,
    TxFields,
)

ROUTER = "0x" + "11" * 20
TOKEN = "0x" + "22" * 20
SENDER = "0x" + "33" * 20


def make_intent(run_id: str, seq: int, chain: str = "ethereum") -> Intent:
    return Intent(id=f"{run_id}.{chain}.{seq}", run_id=run_id, seq=seq, kind=IntentKind.APPROVE, chain=chain,
                  wallet="operator", sender=SENDER, target=TOKEN, token_in=TOKEN, amount_in_raw=10**18,
                  spender=ROUTER)


def fields(nonce: int) -> TxFields:
    return TxFields(chain_id=1, nonce=nonce, to=TOKEN, data="0x", value=0, gas=60_000)


def attempt(h: str) -> Attempt:
    return Attempt(tx_hash=h, max_fee_per_gas=2, max_priority_fee_per_gas=1, signed_at=0.0)


def test_run_lifecycle_and_idempotent_create(ledger: Ledger) -> None:
    assert ledger.create_run("r1", kind="manual")
    assert not ledger.create_run("r1", kind="manual")  # same trigger delivered twice: one run
    for state in (RunState.SNAPSHOTTED, RunState.PLANNED, RunState.EXECUTING, RunState.CONFIRMED,
                  RunState.RECONCILED):
        assert ledger.set_run_state("r1", state)
    assert not ledger.set_run_state("r1", RunState.RECONCILED)  # already there: a no-op, not an error
    assert not ledger.set_run_state("r1", RunState.EXECUTING)  # a late duplicate stage: the run stays ended
    assert ledger.run("r1").state is RunState.RECONCILED
    assert ledger.create_run("r2", kind="manual")
    with pytest.raises(LedgerError, match="cannot move from 'created' to 'executing'"):
        ledger.set_run_state("r2", RunState.EXECUTING)  # skipping the stages in between is a bug
    assert [r.id for r in ledger.runs()] == ["r2", "r1"]  # newest first


def test_intent_happy_path_and_history(ledger: Ledger) -> None:
    ledger.create_run("r1", kind="manual")
    intent = make_intent("r1", 0)
    ledger.add_intents("r1", [intent])
    ledger.add_intents("r1", [intent])  # idempotent
    assert ledger.intent_ids("r1") == [intent.id]
    assert ledger.lanes("r1") == ["ethereum.operator"]
    nonce = ledger.allocate_nonce(intent.id, intent.lane, 5)
    assert nonce == 5
    assert ledger.record_signed(intent.id, "0xdeadbeef", attempt("0xaa"), fields(nonce))
    rec = ledger.intent(intent.id)
    assert rec.state is IntentState.SIGNED and rec.nonce == 5 and rec.tx_hash == "0xaa"
    assert "deadbeef" not in rec.model_dump_json()  # raw bytes are kept out of the record
    assert ledger.raw_tx(intent.id, 0) == "0xdeadbeef"
    assert ledger.transition(intent.id, IntentState.SENT)
    ledger.add_attempt(intent.id, 1, "0xbeef", attempt("0xbb"))
    assert [a.tx_hash for a in ledger.intent(intent.id).attempts] == ["0xaa", "0xbb"]
    assert ledger.transition(intent.id, IntentState.INCLUDED)
    assert ledger.transition(intent.id, IntentState.CONFIRMED)
    assert ledger.transition(intent.id, IntentState.RECONCILED)
    assert [(h.source, h.to) for h in ledger.history(intent.id)] == [
        ("planned", "signed"), ("signed", "sent"), ("sent", "included"), ("included", "confirmed"),
        ("confirmed", "reconciled")]


def test_advance_returns_the_intent_as_the_move_left_it(ledger: Ledger) -> None:
    ledger.create_run("r1", kind="manual")
    intent = make_intent("r1", 0)
    ledger.add_intents("r1", [intent])
    ledger.record_signed(intent.id, "0x01", attempt("0xaa"), fields(3))
    sent = ledger.advance(intent.id, IntentState.SENT)
    assert sent == ledger.intent(intent.id) and sent.state is IntentState.SENT and sent.tx_hash == "0xaa"
    included = ledger.advance(intent.id, IntentState.INCLUDED, gas_cost_wei="42")
    assert included.state is IntentState.INCLUDED and included.gas_cost_wei == 42
    assert ledger.advance(intent.id, IntentState.INCLUDED) == included  # already there: the record, unchanged
    with pytest.raises(LedgerError, match="cannot move from 'included' to 'signed'"):
        ledger.advance(intent.id, IntentState.SIGNED)


def test_transition_all_moves_each_intent_as_one_by_one(ledger: Ledger) -> None:
    ledger.create_run("r1", kind="manual")
    intents = [make_intent("r1", i) for i in range(3)]
    ledger.add_intents("r1", intents)
    for i in intents[:2]:
        for state in (IntentState.SIGNED, IntentState.SENT, IntentState.INCLUDED, IntentState.CONFIRMED):
            ledger.transition(i.id, state)
    assert ledger.transition_all([i.id for i in intents[:2]], IntentState.RECONCILED) == [True, True]
    assert ledger.transition_all([intents[0].id], IntentState.RECONCILED) == [False]  # already there
    assert [h.to for h in ledger.history(intents[1].id)][-1] == "reconciled"
    with pytest.raises(LedgerError, match="cannot move from 'planned' to 'reconciled'"):
        ledger.transition_all([intents[2].id], IntentState.RECONCILED)
    assert ledger.transition_all([], IntentState.RECONCILED) == []


def test_second_signature_is_refused(ledger: Ledger) -> None:
    ledger.create_run("r1", kind="manual")
    intent = make_intent("r1", 0)
    ledger.add_intents("r1", [intent])
    assert ledger.record_signed(intent.id, "0x01", attempt("0xaa"), fields(0))
    assert not ledger.record_signed(intent.id, "0x02", attempt("0xbb"), fields(0))
    assert ledger.raw_tx(intent.id, 0) == "0x01" and ledger.intent(intent.id).tx_hash == "0xaa"


def test_stale_attempt_index_is_refused(ledger: Ledger) -> None:
    ledger.create_run("r1", kind="manual")
    intent = make_intent("r1", 0)
    ledger.add_intents("r1", [intent])
    ledger.record_signed(intent.id, "0x01", attempt("0xaa"), fields(0))
    with pytest.raises(LedgerError, match="cannot add attempt"):
        ledger.add_attempt(intent.id, 1, "0x02", attempt("0xbb"))  # not 'sent' yet
    ledger.transition(intent.id, IntentState.SENT)
    with pytest.raises(LedgerError, match="stale"):
        ledger.add_attempt(intent.id, 0, "0x02", attempt("0xbb"))


ALL = list(IntentState)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.lists(st.sampled_from(ALL), min_size=1, max_size=6))
def test_only_declared_transitions_succeed(redis_url: str, path: list[IntentState]) -> None:
    ledger = Ledger(redis_client(redis_url), prefix="hyp")
    ledger.clear_namespace()  # the fixture is per test, not per example: start each example clean
    ledger.create_run("r", kind="t")
    ledger.add_intents("r", [make_intent("r", 0)])
    current = IntentState.PLANNED
    for target in path:
        legal = target in INTENT_TRANSITIONS[current]
        if legal:
            assert ledger.transition("r.ethereum.0", target)
            current = target
        elif target == current:
            assert not ledger.transition("r.ethereum.0", target)
        else:
            with pytest.raises(LedgerError):
                ledger.transition("r.ethereum.0", target)
        assert ledger.intent("r.ethereum.0").state is current


def test_concurrent_signers_only_one_wins(ledger: Ledger, redis_url: str) -> None:
    ledger.create_run("r1", kind="manual")
    intent = make_intent("r1", 0)
    ledger.add_intents("r1", [intent])
    wins: list[bool] = []

    def sign(i: int) -> None:
        mine = Ledger(redis_client(redis_url), prefix="t")
        wins.append(mine.record_signed(intent.id, f"0x0{i}", attempt(f"0x{i:02x}"), fields(0)))

    threads = [threading.Thread(target=sign, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]


def test_nonces_contiguous_reused_and_released(ledger: Ledger) -> None:
    ledger.create_run("r1", kind="manual")
    intents = [make_intent("r1", i) for i in range(4)]
    ledger.add_intents("r1", intents)
    lane = intents[0].lane
    assert ledger.allocate_nonce(intents[0].id, lane, 7) == 7
    assert ledger.allocate_nonce(intents[0].id, lane, 7) == 7  # redelivery: same nonce
    assert ledger.allocate_nonce(intents[1].id, lane, 7) == 8  # chain still says 7 (not mined): ledger wins
    assert ledger.release_nonce(intents[1].id, lane)  # the last one can be given back
    assert ledger.allocate_nonce(intents[2].id, lane, 7) == 8
    assert not ledger.release_nonce(intents[0].id, lane)  # not the last: would leave a gap
    assert ledger.allocate_nonce(intents[3].id, lane, 12) == 12  # the chain moved on (outside use): follow it
    assert ledger.lane_nonces(lane) == {7: intents[0].id, 8: intents[2].id, 12: intents[3].id}


def test_allocating_with_a_renewal_extends_the_lease_or_allocates_nothing(ledger: Ledger) -> None:
    ledger.create_run("r1", kind="manual")
    intents = [make_intent("r1", i) for i in range(2)]
    ledger.add_intents("r1", intents)
    lease = ledger.acquire("lane:ethereum.operator", "exec-1", 30)
    assert lease is not None
    assert ledger.allocate_nonce(intents[0].id, intents[0].lane, 3, lease=lease, renew=True) == 3
    ledger.release(lease.name, lease.owner)  # lost: another executor may take the lane now
    with pytest.raises(LeaseLostError, match="lapsed"):
        ledger.allocate_nonce(intents[1].id, intents[1].lane, 3, lease=lease, renew=True)
    assert ledger.intent(intents[1].id).nonce is None and ledger.lane_nonces(intents[0].lane) == {3: intents[0].id}


def test_unknown_intent_and_illegal_jump(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="no intent"):
        ledger.intent("nope")
    ledger.create_run("r1", kind="manual")
    ledger.add_intents("r1", [make_intent("r1", 0)])
    with pytest.raises(LedgerError, match="from 'planned' to 'confirmed'"):
        ledger.transition("r1.ethereum.0", IntentState.CONFIRMED)


def test_claim_and_done_fan_in(ledger: Ledger) -> None:
    ledger.create_run("r1", kind="manual")
    assert ledger.mark_done("r1", "snapshot", "a") == 1
    assert ledger.mark_done("r1", "snapshot", "a") == 1  # redelivered: counted once
    assert ledger.mark_done("r1", "snapshot", "b") == 2
    assert ledger.claim("r1", "plan") and not ledger.claim("r1", "plan")


def test_ledger_survives_a_redis_restart(ledger: Ledger, redis_server: EmbeddedRedis) -> None:
    ledger.create_run("r1", kind="manual")
    ledger.add_intents("r1", [make_intent("r1", 0)])
    ledger.record_signed("r1.ethereum.0", "0x01", attempt("0xaa"), fields(3))
    redis_server.restart()
    again = Ledger(redis_client(redis_server.url), prefix="t")
    assert again.intent("r1.ethereum.0").state is IntentState.SIGNED
    assert again.raw_tx("r1.ethereum.0", 0) == "0x01"


def test_locks_and_notional(ledger: Ledger) -> None:
    assert ledger.acquire("run", "a", 60)
    assert ledger.acquire("run", "a", 60)  # re-entrant for its owner
    assert not ledger.acquire("run", "b", 60)
    ledger.release("run", "b")  # not the owner: nothing happens
    assert ledger.lease_owner("run") == "a"
    ledger.release("run", "a")
    assert ledger.acquire("run", "b", 60)
    ledger.add_notional("r1", 10.5)
    ledger.add_notional("r1", 10.5)  # a run books its notional once
    ledger.add_notional("r2", 1.5)
    assert ledger.notional_since(0.0) == pytest.approx(12.0)
    assert ledger.notional_totals(0.0, "r1") == pytest.approx((10.5, 12.0))  # one read for both caps' windows
    assert ledger.notional_totals(0.0, "r2", exclude="r2") == pytest.approx((0.0, 10.5))
