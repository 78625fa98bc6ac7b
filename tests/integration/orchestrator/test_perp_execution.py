"""Perp trades execute exactly once, as swaps do: real anvil chains with Curie, a real Redis, a real worker.

A submitted plan's perp short lands once (its margin deposited first, its fill parsed, the position on chain equal
to the ledger's, reconciled with no diff); a worker killed right after signing the order, and the lane's task
delivered twice, still land one order; an order the venue refuses for its margin is marked failed and never
retried; the mark/index breaker and the margin alarm stop an order before anything is signed. A plan that
flattens the position sends Curie's closePosition, which leaves exactly nothing (not the plan's float residue);
a close whose position was closed behind the ledger's back is refused before signing and failed, not retried.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from eth_utils.abi import function_signature_to_4byte_selector
from hexbytes import HexBytes

from adapters import PerpMarketState, Side, default_registry
from adapters.perp_curie import CLOSE_POSITION
from devnet.perp import set_index_price
from optimizer import CostBreakdown, HedgeProblem, Plan, PlannedPerpTrade, SolveStats
from orchestrator import IntentKind, IntentState, RunReport, RunState, start_run
from orchestrator.perp_terms import fresh_perp
from tests.integration.conftest import DEV_TX_FEES
from tests.integration.orchestra import Orchestra
from tests.integration.orchestrator.helpers import assert_ledger_invariants, replaced_book, snapshot

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHAIN = "arbitrum"


def market_now(orch: Orchestra) -> PerpMarketState:
    return fresh_perp(orch.ctx(), CHAIN, "eth_perp")


def perp_plan(orch: Orchestra, base: float, side: Side = Side.SELL, **update: Any) -> Plan:
    """A plan of one perp order on arbitrum's market, quoted exactly on the chain's state now."""
    snap = snapshot(orch.config, default_registry())
    state = next(p for p in snap.chains[CHAIN].perps if p.market == "eth_perp")
    quote = default_registry().perp(state.adapter).quote(state, side, round(base * 1e18))
    size = state.position.size if state.position is not None else 0.0
    signed = base if side is Side.BUY else -base
    received = quote.quote_amount_raw / 1e18
    trade = PlannedPerpTrade(
        chain=CHAIN, market="eth_perp", underlying="ETH", side=side, base_amount=base, quote_amount=received,
        expected_price=received / base, fee_usd=quote.fee_raw / 1e18, impact_usd=0.0,
        value_cost_usd=quote.fee_raw / 1e18, funding_usd=0.0,
        gas_usd=snap.chains[CHAIN].perp_gas_usd.get("eth_perp", 0.0), size_before=size, size_after=size + signed,
        grows=abs(size + signed) > abs(size), account_value_after_usd=0.0, free_collateral_after_usd=0.0,
        margin_ratio_after=None, liquidation_price_after=None)
    trade = trade.model_copy(update=update)
    return Plan(trades=[], perp_trades=(trade,), cost=CostBreakdown(), pre_trade_delta={}, residual_delta={},
                risk_usd=0.0, objective_usd=0.0, model_objective_usd=0.0,
                stats=SolveStats(method="test", status="given"), created_at=time.time(),
                snapshot_blocks={c: cs.block_number for c, cs in snap.chains.items()})


def size_of(state: PerpMarketState) -> float:
    return state.position.size if state.position is not None else 0.0


def finished(orch: Orchestra, run_id: str, timeout_s: float = 120.0) -> RunReport:
    run = orch.wait_run(run_id, timeout_s)
    assert run.state is RunState.RECONCILED, (run, orch.ledger().events(run_id))
    assert_ledger_invariants(orch.ledger(), run_id, orch.w3s())
    report = orch.ledger().blob(run_id, "report", RunReport)
    assert report is not None and report.balance_diff == {} and report.perp_diff == {}, report
    return report


def orders(orch: Orchestra, run_id: str) -> list[Any]:
    return [r for r in orch.ledger().intents(run_id) if r.spec.kind is IntentKind.PERP_ORDER]


def test_a_perp_short_lands_once_its_fill_parsed_and_reconciled(fresh: Orchestra) -> None:
    before = size_of(market_now(fresh))
    rid = fresh.submit(perp_plan(fresh, 0.5), "perp-short")
    report = finished(fresh, rid)
    kinds = [r.spec.kind for r in fresh.ledger().intents(rid)]
    assert kinds == [IntentKind.APPROVE, IntentKind.PERP_DEPOSIT, IntentKind.PERP_ORDER], kinds
    [order] = orders(fresh, rid)
    assert order.state is IntentState.RECONCILED and len(order.attempts) == 1
    [fill] = report.perp_fills
    assert fill.exchanged_position_size == -(5 * 10**17) and fill.market == "eth_perp"
    assert abs(size_of(market_now(fresh)) - (before - 0.5)) < 1e-12
    [row] = [t for t in report.trades if t.kind is IntentKind.PERP_ORDER]
    assert row.base_amount == pytest.approx(0.5) and row.side is Side.SELL


def test_the_worker_killed_after_signing_the_order_lands_exactly_one(fresh: Orchestra) -> None:
    before = size_of(market_now(fresh))
    fresh.arm("after_sign.perp_order")
    rid = fresh.submit(perp_plan(fresh, 0.4), "perp-kill")
    report = finished(fresh, rid)
    assert not (fresh.crash_dir / "after_sign.perp_order").exists(), "the crash point was never reached"
    [order] = orders(fresh, rid)
    assert len(order.attempts) == 1  # the stored signature was broadcast after the crash, not a new one
    assert len(report.perp_fills) == 1
    assert abs(size_of(market_now(fresh)) - (before - 0.4)) < 1e-12


def test_the_lane_task_delivered_twice_sends_one_order(fresh: Orchestra) -> None:
    before = size_of(market_now(fresh))
    rid = fresh.submit(perp_plan(fresh, 0.3), "perp-dup")
    fresh.wait_for(lambda: fresh.ledger().lanes(rid), what="lanes")
    for lane in fresh.ledger().lanes(rid):
        for _ in range(2):
            fresh.send("crosshedge.execute_lane", [rid, lane], f"lane.{lane}")
    report = finished(fresh, rid)
    time.sleep(1.0)  # let the duplicates drain, then check nothing changed
    assert_ledger_invariants(fresh.ledger(), rid, fresh.w3s())
    assert len(report.perp_fills) == 1 and len(orders(fresh, rid)[0].attempts) == 1
    assert abs(size_of(market_now(fresh)) - (before - 0.3)) < 1e-12


def test_an_order_short_of_margin_is_failed_and_not_retried(fresh: Orchestra) -> None:
    """The deposit in front of the order is cut to a tenth of its initial margin (the plan's fee says so), so the
    ClearingHouse refuses the order for its free collateral: the order is failed with Curie's reason, once."""
    state = market_now(fresh)
    assert state.free_collateral_usd in (None, 0.0) or state.free_collateral_usd < 1.0
    margin = state.im_ratio * 1.0 * state.mark_price
    plan = perp_plan(fresh, 1.0)
    cut = plan.perp_trades[0].model_copy(update={"fee_usd": -0.9 * margin})
    with fresh.configured(perp_margin_buffer=0.0, perp_min_margin_ratio=0.001):
        rid = fresh.submit(plan.model_copy(update={"perp_trades": (cut,)}), "perp-nomargin")
        run = fresh.wait_run(rid, 120)
        [order] = orders(fresh, rid)
    assert order.state in (IntentState.FAILED, IntentState.RECONCILED) and order.receipt is None, order
    assert not order.attempts  # refused at simulation: nothing signed, nothing retried
    assert "CH_NEFCI" in order.error or "CH_NEMRM" in order.error, order.error
    refused = [e.message for e in fresh.ledger().events(rid) if e.kind == "refused"]
    assert refused and order.spec.id in refused[0]
    assert run.state is RunState.RECONCILED
    assert abs(size_of(market_now(fresh)) - size_of(state)) < 1e-12


def test_the_mark_index_breaker_refuses_before_anything_is_signed(fresh: Orchestra) -> None:
    state = market_now(fresh)
    plan = perp_plan(fresh, 0.5)
    aggregator = fresh.devnet.state["chains"][CHAIN]["perps"]["eth_perp"]["aggregator"]
    set_index_price(fresh.w3(CHAIN), aggregator, state.index_price * 1.05)
    moved = market_now(fresh)
    assert abs(moved.mark_price / moved.index_price - 1) > 0.02, (moved.mark_price, moved.index_price)
    rid = fresh.submit(replace_created(plan), "perp-breaker")
    run = fresh.wait_run(rid, 90)
    records = fresh.ledger().intents(rid)
    assert all(not r.attempts for r in records), [(r.spec.id, r.state) for r in records]
    assert all(r.state is IntentState.SKIPPED for r in records)
    assert "deviates" in run.halted and CHAIN in run.halted and "eth_perp" in run.halted, run
    assert "perp_max_mark_index_deviation" in run.halted


def test_the_margin_alarm_refuses_to_grow_a_thin_position(fresh: Orchestra) -> None:
    with fresh.configured(perp_min_margin_ratio=5.0):
        rid = fresh.submit(perp_plan(fresh, 0.5), "perp-alarm")
        run = fresh.wait_run(rid, 90)
        records = fresh.ledger().intents(rid)
        events = fresh.ledger().events(rid)
    assert all(not r.attempts for r in records), [(r.spec.id, r.state) for r in records]
    alarms = [e.message for e in events if e.kind == "margin_alarm"]
    assert alarms and "perp_min_margin_ratio" in alarms[0] and "arbitrum/eth_perp" in alarms[0], events
    assert "margin ratio" in run.halted


def test_a_plan_that_flattens_the_position_closes_it_to_exactly_zero(fresh: Orchestra) -> None:
    """The plan buys back 0.5 ETH less 1e-13 (a size the plan's floats got a hair wrong): an openPosition of that
    would leave a 100,000-wei short behind; the close sends closePosition, whose fill is the whole 0.5 held."""
    finished(fresh, fresh.submit(perp_plan(fresh, 0.5), "perp-open"))
    assert size_of(market_now(fresh)) == -0.5
    rid = fresh.submit(perp_plan(fresh, 0.5 - 1e-13, Side.BUY), "perp-close")
    report = finished(fresh, rid)  # reconciled, with no perp diff
    [order] = orders(fresh, rid)
    assert [r.spec.kind for r in fresh.ledger().intents(rid)] == [IntentKind.PERP_ORDER]  # no margin for a close
    assert order.spec.close and order.state is IntentState.RECONCILED and order.tx_hash is not None
    sent = fresh.w3(CHAIN).eth.get_transaction(order.tx_hash)
    assert bytes(HexBytes(sent["input"]))[:4] == function_signature_to_4byte_selector(CLOSE_POSITION)
    [fill] = report.perp_fills
    assert fill.exchanged_position_size == 5 * 10**17 and fill.open_notional == 0  # all of it, not the plan's
    assert size_of(market_now(fresh)) == 0.0  # exactly: the raw size is 0
    [row] = [t for t in report.trades if t.kind is IntentKind.PERP_ORDER]
    assert row.side is Side.BUY and row.base_amount == 0.5


def test_a_close_whose_position_was_closed_behind_the_ledger_is_failed_before_signing(fresh: Orchestra) -> None:
    finished(fresh, fresh.submit(perp_plan(fresh, 0.3), "perp-open"))
    plan = perp_plan(fresh, 0.3, Side.BUY)  # planned while the short is there
    close_outside_the_ledger(fresh)
    assert market_now(fresh).position is not None and size_of(market_now(fresh)) == 0.0
    rid = fresh.submit(replace_created(plan), "perp-gone")
    finished(fresh, rid)  # the snapshot saw it flat, and it is: nothing to tell apart
    [order] = orders(fresh, rid)
    assert order.spec.close and order.state is IntentState.RECONCILED and not order.attempts, order
    assert order.error.startswith(f"intent {order.spec.id}: chain {CHAIN}: perp market eth_perp: the account holds "
                                  "no position any more"), order.error
    refused = [e.message for e in fresh.ledger().events(rid) if e.kind == "refused"]
    assert refused == [order.error]  # refused once: a terminal error, never retried


def close_outside_the_ledger(orch: Orchestra) -> None:
    """Close the wallet's position from the wallet itself, as an operator would by hand (anvil impersonation)."""
    state = market_now(orch)
    adapter = default_registry().perp(state.adapter)
    quote = adapter.quote(state, Side.BUY, round(-size_of(state) * 1e18))
    deadline = state.block_timestamp + 3600
    tx = adapter.build_close(state, quote.quote_amount_raw * 2, deadline)
    w3, wallet = orch.w3(CHAIN), orch.ctx().wallet_address(CHAIN)
    w3.provider.make_request("anvil_impersonateAccount", [wallet])  # type: ignore[arg-type]
    try:
        call = {"from": wallet, "to": tx.to, "data": tx.data, "gas": 3_000_000, **DEV_TX_FEES}
        sent = w3.eth.send_transaction(call)  # type: ignore[arg-type]
        assert w3.eth.wait_for_transaction_receipt(sent)["status"] == 1
    finally:
        w3.provider.make_request("anvil_stopImpersonatingAccount", [wallet])  # type: ignore[arg-type]


def replace_created(plan: Plan) -> Plan:
    return plan.model_copy(update={"created_at": time.time()})




def test_a_planned_run_with_optimizer_perps_hands_the_optimizer_the_markets(fresh: Orchestra,
                                                                           tmp_path: Path) -> None:
    """With ``optimizer.perps`` on, the run's own planner lists each market with the wallet's account (here one
    funded by an earlier perp run) as a PerpOption; whatever the optimizer chooses lands and reconciles."""
    funding = perp_plan(fresh, 0.2)
    funded = funding.perp_trades[0].model_copy(update={"fee_usd": 20_000.0})  # a deposit of ~$20k comes first
    finished(fresh, fresh.submit(funding.model_copy(update={"perp_trades": (funded,)}), "perp-fund"))
    assert market_now(fresh).position is not None

    def lines(net: dict[str, float]) -> list[dict[str, Any]]:  # 20 ETH long over the wallets: the policy fires
        return [{"id": "eth-itm", "underlying": "ETH", "type": "call", "strike": 300, "expiry": "90d",
                 "size": -(net.get("ETH", 0.0) - 20.0), "vol": 0.6, "venue": "test"},
                {"id": "btc-itm", "underlying": "BTC", "type": "call", "strike": 6000, "expiry": "90d",
                 "size": -net.get("BTC", 0.0), "vol": 0.5, "venue": "test"}]

    def perps_on(raw: dict[str, Any]) -> None:
        raw.setdefault("optimizer", {})["perps"] = True
        raw["execution"]["max_followups"] = 0

    with replaced_book(fresh, tmp_path, lines), fresh.configured(edit=perps_on):
        rid = start_run(fresh.ctx(), kind="perp-e2e", run_id="perp-e2e")
        fresh.send("crosshedge.snapshot", [rid])
        report = finished(fresh, rid, timeout_s=180)
        problem = fresh.ledger().blob(rid, "problem", HedgeProblem)
    assert problem is not None
    keys = {p.key for p in problem.perps}
    assert "arbitrum/eth_perp" in keys, keys
    option = next(p for p in problem.perps if p.key == "arbitrum/eth_perp")
    assert option.collateral_usd > 10_000 and option.size == pytest.approx(-0.2)
    assert len(report.perp_fills) == len([r for r in orders(fresh, rid) if r.perp_fills])
