"""Perp closes without a chain: which planned trades become closes and which stay opens, what the intent records
(and that a ledger written before closes existed still loads), a close's terms from the position held at signing,
and its refusal when that position is gone or flipped."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from adapters import PerpMarketState, PerpPosition, Side, default_registry
from crosshedge import CircuitBreakerError, UnsafeTransactionError
from optimizer import PlannedPerpTrade
from orchestrator import IntentKind, Ledger
from orchestrator.ledger import Intent, IntentRecord, IntentState
from orchestrator.perp_intents import closes, intents_from_perp_trades
from orchestrator.perp_terms import close_size_raw, close_terms, perp_terms
from orchestrator.snapshot import Snapshot
from tests.unit.orchestrator.perp_helpers import market, trade
from tests.unit.orchestrator.stage_helpers import context, snapshot

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "perp_curie"
E18 = 10**18
CHAIN = "ethereum"  # the stage helpers' one chain


@pytest.mark.parametrize(("planned", "close"), [
    (trade(Side.SELL, 2.0, size_before=2.0), True),  # a long sold to 0
    (trade(Side.BUY, 1.5, size_before=-1.5), True),  # a short bought back to 0
    (trade(Side.BUY, 1.5 - 1e-13, size_before=-1.5), True),  # a float's residue is dust: still flat
    (trade(Side.SELL, 10.0 - 5e-6, size_before=10.0), True),  # within the solver's tolerance of 10 ETH
    (trade(Side.SELL, 1.0, size_before=2.0), False),  # a reduction that keeps a position
    (trade(Side.SELL, 2.0 - 1e-4, size_before=2.0), False),  # 0.0001 ETH left is a position, not dust
    (trade(Side.SELL, 3.0, size_before=2.0), False),  # a flip grows the other side: an open
    (trade(Side.SELL, 1.0), False),  # from flat: an open
    (trade(Side.SELL, 1.0, size_before=-1.0), False),  # growing a short
])
def test_only_a_reducing_trade_that_leaves_the_position_flat_is_a_close(planned: PlannedPerpTrade,
                                                                        close: bool) -> None:
    assert closes(planned) is close


def test_a_trade_that_grows_is_never_a_close_even_when_its_size_after_reads_as_flat() -> None:
    # grows says Curie checks its margin: the plan's word wins over a size after that happens to be 0.
    assert not closes(trade(Side.SELL, 2.0, size_before=2.0, grows=True))


def _snapshot_with(state: PerpMarketState) -> Snapshot:
    snap = snapshot()
    chain = snap.chains[CHAIN].model_copy(update={"perps": (state,)})
    return snap.model_copy(update={"chains": {CHAIN: chain}})


def test_the_plan_s_flattening_trade_records_a_close_and_its_others_open(tmp_path: Path,
                                                                          memory_ledger: Ledger) -> None:
    ctx = context(tmp_path, memory_ledger)
    state = market(size=-2.0, free=100_000.0, value=100_000.0, chain=CHAIN)
    snap = _snapshot_with(state)
    seq: dict[str, int] = {}
    to_flat = trade(Side.BUY, 2.0, size_before=-2.0, chain=CHAIN)
    to_half = trade(Side.BUY, 1.0, size_before=-2.0, chain=CHAIN)
    planned = [to_flat, to_half]
    flat, partial = intents_from_perp_trades(ctx, "r1", snap, planned, seq, set())
    assert [i.kind for i in (flat, partial)] == [IntentKind.PERP_ORDER, IntentKind.PERP_ORDER]
    assert flat.close and not partial.close
    # A close keeps the plan's size, side and bound: signing re-scales them to what the account holds then.
    assert (flat.side, flat.amount_in_raw, flat.target) == (Side.BUY, 2 * E18, state.clearing_house)
    slip = ctx.execution.slippage_bps / 1e4
    assert flat.min_amount_out_raw == math.ceil(flat.expected_amount_out_raw * (1 + slip))  # the most paid
    assert (flat.seq, partial.seq) == (0, 1) and seq == {flat.lane: 2}


def test_a_close_needs_no_margin_deposit_in_front_of_it(tmp_path: Path, memory_ledger: Ledger) -> None:
    ctx = context(tmp_path, memory_ledger)
    snap = _snapshot_with(market(size=1.0, free=0.0, value=50.0, chain=CHAIN))  # a thin account
    [order] = intents_from_perp_trades(ctx, "r1", snap, [trade(Side.SELL, 1.0, size_before=1.0, chain=CHAIN)],
                                       {}, set())
    assert order.kind is IntentKind.PERP_ORDER and order.close and order.seq == 0


def test_a_close_round_trips_the_ledger_and_an_intent_written_before_closes_loads_as_an_open(
        tmp_path: Path, memory_ledger: Ledger) -> None:
    ctx = context(tmp_path, memory_ledger)
    snap = _snapshot_with(market(size=1.0, chain=CHAIN))
    [order] = intents_from_perp_trades(ctx, "r1", snap, [trade(Side.SELL, 1.0, size_before=1.0, chain=CHAIN)],
                                       {}, set())
    memory_ledger.add_intents("r1", [order])
    assert memory_ledger.intent(order.id).spec == order and memory_ledger.intent(order.id).spec.close
    # A spec stored by the version before ``close`` existed has no such key: it is an open, as it was then.
    old = order.model_dump(mode="json")
    del old["close"]
    assert Intent.model_validate(old).close is False


def _order(side: Side, planned_raw: int, bound: int) -> IntentRecord:
    spec = Intent(id="r1.ethereum.ops.000.perp_order", run_id="r1", seq=0, kind=IntentKind.PERP_ORDER, chain=CHAIN,
                  wallet="ops", sender="0x" + "e5" * 20, target="0x" + "44" * 20, token_in="0x" + "22" * 20,
                  amount_in_raw=planned_raw, venue="eth_perp", adapter="perp_curie", underlying="ETH", side=side,
                  min_amount_out_raw=bound, close=True)
    return IntentRecord(spec=spec, state=IntentState.PLANNED)


@pytest.mark.parametrize(("size", "side", "says"), [
    (0.0, Side.BUY, "holds no position any more, so the close planned for a short has nothing to close"),
    (0.8, Side.BUY, "the position flipped to a long of +0.8 base since the close was planned for a short"),
    (-0.8, Side.SELL, "the position flipped to a short of -0.8 base since the close was planned for a long"),
])
def test_a_close_with_its_position_gone_or_flipped_is_refused_naming_chain_and_market(
        tmp_path: Path, memory_ledger: Ledger, size: float, side: Side, says: str) -> None:
    ctx = context(tmp_path, memory_ledger)
    fresh = market(size=size, chain=CHAIN)
    order = _order(side, 2 * E18, 6_000 * E18)
    with pytest.raises(UnsafeTransactionError) as err:
        perp_terms(ctx, _snapshot_with(fresh), order, fresh)  # refused before any quote (this state has no vAMM)
    text = str(err.value)
    assert f"chain {CHAIN}: perp market eth_perp: " in text and says in text and text.endswith("; not signed")
    assert order.spec.id in text and "\n" not in text


def test_a_close_with_no_account_in_the_read_is_refused_too() -> None:
    fresh = market(size=-1.0, chain=CHAIN).model_copy(update={"position": None})
    with pytest.raises(UnsafeTransactionError, match="holds no position any more"):
        close_size_raw(_order(Side.BUY, E18, 3_000 * E18).spec, fresh)


def _recorded(size: float) -> PerpMarketState:
    """The recorded devnet market (exactly quotable) with the account holding ``size``."""
    state = PerpMarketState.model_validate_json((FIXTURES / "market_state.json").read_text())
    assert state.position is not None
    position: PerpPosition = state.position.model_copy(update={"size": size})
    return state.model_copy(update={"position": position})


def test_a_close_is_quoted_for_the_whole_size_held_not_the_plan_s(tmp_path: Path, memory_ledger: Ledger) -> None:
    """The plan said 2 ETH; the account holds 2 ETH and 3 wei more (the plan's float lost them). The close's bound
    is the exact quote of all of it, the slippage off, and its notional that size at the mark."""
    ctx = context(tmp_path, memory_ledger)
    held = 2 * E18 + 3
    fresh = _recorded(held / 1e18)
    size_raw = close_size_raw(_order(Side.SELL, 2 * E18, 1).spec, fresh)
    assert abs(size_raw - held) < 1_000  # the float size is within a few hundred wei of the raw one
    got = default_registry().perp("perp_curie").quote(fresh, Side.SELL, size_raw).quote_amount_raw
    terms = close_terms(ctx, _order(Side.SELL, 2 * E18, 1).spec, fresh)
    slip = ctx.execution.slippage_bps / 1e4
    assert terms.expected_out == got and terms.min_amount_out == math.floor(got * (1 - slip))
    assert terms.notional_usd == pytest.approx(2.0 * fresh.mark_price)


def test_a_close_never_takes_a_worse_price_than_the_plan_s_per_unit(tmp_path: Path,
                                                                   memory_ledger: Ledger) -> None:
    """The plan's bound is scaled to the size held: a plan that asked at least 3,100 a unit for 1 ETH stops a close
    of 2 ETH quoted below 6,200, as it would have stopped its own open."""
    ctx = context(tmp_path, memory_ledger)
    fresh = _recorded(2.0)
    with pytest.raises(CircuitBreakerError, match=r"past the plan's bound \(6200000000000000000000 raw\)"):
        close_terms(ctx, _order(Side.SELL, E18, 3_100 * E18).spec, fresh)
    loose = close_terms(ctx, _order(Side.SELL, E18, 2_000 * E18).spec, fresh)  # the quote's slippage binds
    assert 4_000 * E18 < loose.min_amount_out < loose.expected_out

