"""The ledger's transfers (a real embedded Redis) and the arriving funds at a snapshot's pinned blocks."""

from __future__ import annotations

from typing import cast

import pytest

from adapters import Deposit, RelayFill
from adapters.transfers import Refund
from crosshedge import LedgerError
from orchestrator import Ledger, RunContext
from orchestrator.ledger import TransferRecord, TransferState
from orchestrator.transfers import arriving, landed_between

USDC_ETH, USDC_BASE = "0x" + "0A" * 20, "0x" + "0B" * 20
WALLET = "0x" + "CC" * 20


def record(tid: str = "r1.t0", deposit_block: int = 100, deadline: int = 2_000, **over: object) -> TransferRecord:
    deposit = Deposit(adapter="across", origin="ethereum", origin_chain_id=1, destination_chain_id=8453,
                      deposit_id=3, depositor=WALLET, recipient=WALLET, input_token=USDC_ETH, output_token=USDC_BASE,
                      input_amount=1_000_000, output_amount=999_000, quote_timestamp=1_000, fill_deadline=deadline,
                      exclusivity_deadline=0, exclusive_relayer="0x" + "00" * 20, tx_hash="0x" + "11" * 32,
                      block_number=deposit_block)
    body: dict[str, object] = {"id": tid, "run_id": "r1", "adapter": "across", "route": "ethereum->base/USDC",
                               "origin": "ethereum", "destination": "base", "symbol": "USDC", "deposit": deposit,
                               "destination_from_block": 50}
    return TransferRecord.model_validate(body | over)


def fill(block: int = 60) -> RelayFill:
    return RelayFill(destination="base", tx_hash="0x" + "22" * 32, block_number=block, block_timestamp=1_004,
                     relayer="0x" + "DD" * 20, output_amount=999_000, recipient=WALLET)


def test_a_transfer_is_added_once_and_moves_along_its_machine(ledger: Ledger) -> None:
    assert ledger.add_transfer(record())
    assert not ledger.add_transfer(record(deposit_block=999))  # a second delivery changes nothing
    assert ledger.transfer("r1.t0").deposit.block_number == 100
    assert ledger.move_transfer("r1.t0", TransferState.FILLED, fill=fill().model_dump_json())
    assert not ledger.move_transfer("r1.t0", TransferState.FILLED)  # already booked by another tracker
    got = ledger.transfer("r1.t0")
    assert got.state is TransferState.FILLED and got.fill == fill() and not got.open
    assert got.latency_s == 4.0
    assert ledger.transfer("r1.t0").seen_latency_s == got.updated_at - got.created_at >= 0  # the ledger's own times
    assert record().seen_latency_s is None  # not filled
    with pytest.raises(LedgerError, match="cannot move from 'filled' to 'refunded'"):
        ledger.move_transfer("r1.t0", TransferState.REFUNDED)
    assert [t.id for t in ledger.transfers("r1")] == ["r1.t0"] and ledger.transfers("other") == []


def test_expired_then_refunded_and_an_unknown_transfer(ledger: Ledger) -> None:
    ledger.add_transfer(record())
    ledger.move_transfer("r1.t0", TransferState.EXPIRED)
    refund = Refund(origin="ethereum", tx_hash="0x" + "33" * 32, block_number=130, log_index=2, amount=1_000_000)
    ledger.move_transfer("r1.t0", TransferState.REFUNDED, refund=refund.model_dump_json())
    assert ledger.transfer("r1.t0").refund == refund
    with pytest.raises(LedgerError, match="no transfer"):
        ledger.transfer("nope")


def never(_record: TransferRecord, _block: int) -> bool:
    return False


def test_in_flight_funds_arrive_at_the_destination_once() -> None:
    r = record()
    blocks, times = {"ethereum": 120, "base": 70}, {"ethereum": 1_500, "base": 1_500}
    assert arriving([r], blocks, times, never) == {("base", USDC_BASE): 999_000}
    # mined after the origin's pinned block: still in the origin's balance, nowhere else
    assert arriving([r], {"ethereum": 99, "base": 70}, times, never) == {}
    # filled at or before the destination's block: in its balance (whether or not the ledger booked it yet)
    assert arriving([r.model_copy(update={"fill": fill(60)})], blocks, times, never) == {}
    assert arriving([r], blocks, times, lambda _r, b: b >= 65) == {}
    # filled after the destination's block: still arriving
    assert arriving([r.model_copy(update={"fill": fill(80)})], blocks, times, never) == {("base", USDC_BASE): 999_000}


def test_expired_funds_arrive_back_at_the_origin_until_refunded() -> None:
    r = record(deadline=1_200)
    blocks, times = {"ethereum": 120, "base": 70}, {"ethereum": 1_500, "base": 1_500}
    assert arriving([r], blocks, times, never) == {("ethereum", USDC_ETH): 1_000_000}
    refund = Refund(origin="ethereum", tx_hash="0x" + "33" * 32, block_number=118, log_index=0, amount=1_000_000)
    assert arriving([r.model_copy(update={"refund": refund})], blocks, times, never) == {}
    late = refund.model_copy(update={"block_number": 121})
    assert arriving([r.model_copy(update={"refund": late})], blocks, times, never) == {
        ("ethereum", USDC_ETH): 1_000_000}


def test_landed_between_counts_fills_and_refunds_once_between_the_two_blocks() -> None:
    no_reads = cast(RunContext, None)  # every record below knows how it ended: nothing is read from a chain
    filled = record(state=TransferState.FILLED, fill=fill(60))
    refund = Refund(origin="ethereum", tx_hash="0x" + "33" * 32, block_number=130, log_index=0, amount=1_000_000)
    refunded = record("r1.t1", state=TransferState.REFUNDED, refund=refund)
    since, until = {"ethereum": 120, "base": 55}, {"ethereum": 140, "base": 65}
    assert landed_between(no_reads, [filled, refunded], since, until) == {
        "base": {USDC_BASE: 999_000}, "ethereum": {USDC_ETH: 1_000_000}}
    # both landed before the snapshot: already in its balances
    assert landed_between(no_reads, [filled, refunded], {"ethereum": 130, "base": 60}, until) == {}
    # neither landed by the later read yet
    assert landed_between(no_reads, [filled, refunded], {"ethereum": 100, "base": 50},
                          {"ethereum": 129, "base": 59}) == {}
