"""The money path fails closed under hostile input and bad luck: real anvil chains, a real Redis, a real worker.

Each test reproduces a way the earlier code failed open (a saved plan declaring its own notional, a stale plan,
reorgs at and past the confirmation depth, an external transaction of the operator's key dropped or replacing
ours, a SIGKILL right after a plan's intents were recorded, a whole worker killed mid-lane) and checks what must
hold: nothing unsafe reaches the chain, nothing is executed twice or lost, and the ledger equals the chain.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_account import Account
from eth_typing import ChecksumAddress
from web3 import Web3

from adapters import Side
from crosshedge import HeadMovedError
from orchestrator import IntentKind, IntentState, RunReport, RunState
from tests.integration.orchestra import Orchestra
from tests.integration.orchestrator.helpers import Want, assert_ledger_invariants, make_plan, snapshot

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ETH_TRADE = Want("ethereum", "v3_weth_usdc_500", Side.SELL, 0.5)
ARB_TRADE = Want("arbitrum", "v2_weth_usdc", Side.BUY, 1.0)


def rpc(orch: Orchestra, chain: str, method: str, params: list[Any]) -> Any:
    return orch.w3(chain).provider.make_request(method, params)  # type: ignore[arg-type]


def operator(orch: Orchestra) -> ChecksumAddress:
    return Web3.to_checksum_address(next(iter(orch.config.wallets.values())).address)


def finish(orch: Orchestra, run_id: str, timeout_s: float = 90.0) -> RunReport:
    run = orch.wait_run(run_id, timeout_s)
    assert run.state is RunState.RECONCILED, (run, orch.ledger().events(run_id))
    assert_ledger_invariants(orch.ledger(), run_id, orch.w3s())
    report = orch.ledger().blob(run_id, "report", RunReport)
    assert report is not None and report.balance_diff == {}, report
    return report


def intent_in(orch: Orchestra, run_id: str, kind: IntentKind, state: IntentState) -> Any:
    return next((r for r in orch.ledger().intents(run_id) if r.spec.kind is kind and r.state is state), None)


def external_tx(orch: Orchestra, chain: str, nonce: int, tip_gwei: float) -> str:
    """Sign and send a zero-value self-transfer with the operator's own key, outside crosshedge."""
    w3 = orch.w3(chain)
    me = Account.from_key(orch.private_key_hex)
    base = int(w3.eth.get_block("latest")["baseFeePerGas"])
    tip = int(tip_gwei * 1e9)
    signed = me.sign_transaction({"chainId": orch.config.chains[chain].chain_id, "nonce": nonce, "to": me.address,
                                  "value": 0, "gas": 21_000, "maxFeePerGas": base * 4 + tip,
                                  "maxPriorityFeePerGas": tip, "type": 2})
    return Web3.to_hex(w3.eth.send_raw_transaction(signed.raw_transaction))


def test_a_saved_plan_cannot_declare_its_way_past_the_caps(fresh: Orchestra) -> None:
    big = make_plan(fresh.config, [Want("ethereum", "v3_weth_usdc_500", Side.SELL, 100.0)])
    lie = big.model_copy(update={"trades": [t.model_copy(update={"quote_amount": 1.0, "min_amount_out_raw": 1})
                                            for t in big.trades]})
    before = fresh.w3("ethereum").eth.get_transaction_count(operator(fresh))
    with fresh.configured(max_trade_usd=10_000.0, max_notional_usd_per_run=10_000.0):
        rid = fresh.submit(lie, "lie")
        run = fresh.wait_run(rid, 60)
        records = fresh.ledger().intents(rid)
    assert fresh.w3("ethereum").eth.get_transaction_count(operator(fresh)) == before  # nothing was sent
    assert all(not r.attempts for r in records), [(r.spec.id, r.state) for r in records]
    # Refused on the notional recomputed from a fresh quote (~$150k), not on the $1 the plan declared.
    stops = [e.message for e in fresh.ledger().events(rid) if e.kind in ("refused", "halted")]
    assert stops and "$10,000" in stops[0], fresh.ledger().events(rid)
    assert run.state in (RunState.RECONCILED, RunState.FAILED)


def test_the_minimum_out_is_recomputed_from_a_fresh_quote(fresh: Orchestra) -> None:
    plan = make_plan(fresh.config, [ETH_TRADE])
    loose = plan.model_copy(update={"trades": [t.model_copy(update={"min_amount_out_raw": 1}) for t in plan.trades]})
    rid = fresh.submit(loose, "minout")
    finish(fresh, rid)
    swap = next(r for r in fresh.ledger().intents(rid) if r.spec.kind is IntentKind.SWAP)
    assert swap.tx is not None and swap.fill is not None
    # exactInputSingle((tokenIn, tokenOut, fee, recipient, deadline, amountIn, amountOutMinimum, sqrtPriceLimitX96))
    params = abi_decode(["(address,address,uint24,address,uint256,uint256,uint256,uint160)"],
                        bytes.fromhex(swap.tx.data[10:]))[0]
    slippage = fresh.config.raw.execution.slippage_bps / 1e4
    assert params[6] >= int(swap.fill.amount_out_raw * (1 - slippage)) - 1, (params[6], swap.fill.amount_out_raw)


def test_a_stale_plan_is_never_executed(fresh: Orchestra) -> None:
    plan = make_plan(fresh.config, [ETH_TRADE])
    old = plan.model_copy(update={"created_at": time.time() - 3600})
    before = fresh.w3("ethereum").eth.get_transaction_count(operator(fresh))
    rid = fresh.submit(old, "stale")
    fresh.wait_run(rid, 60)
    assert fresh.w3("ethereum").eth.get_transaction_count(operator(fresh)) == before
    stale = [e.message for e in fresh.ledger().events(rid) if e.kind == "stale_plan"]
    assert stale and "s old" in stale[0] and "max_plan_age_s" in stale[0], stale
    assert all(r.state is IntentState.SKIPPED for r in fresh.ledger().intents(rid))


def test_a_reorg_before_the_confirmation_depth_is_unbooked_and_lands_once(fresh: Orchestra) -> None:
    assert fresh.config.chains["ethereum"].confirmations >= 2
    plan = make_plan(fresh.config, [ETH_TRADE])
    rpc(fresh, "ethereum", "evm_setAutomine", [False])  # the test mines, the producer waits
    rid = fresh.submit(plan, "reorg")
    fresh.wait_for(lambda: intent_in(fresh, rid, IntentKind.APPROVE, IntentState.SENT), what="approval sent")
    rpc(fresh, "ethereum", "evm_mine", [])
    fresh.wait_for(lambda: intent_in(fresh, rid, IntentKind.SWAP, IntentState.SENT), what="swap sent")
    rpc(fresh, "ethereum", "evm_mine", [])
    included = fresh.wait_for(lambda: intent_in(fresh, rid, IntentKind.SWAP, IntentState.INCLUDED), what="included")
    assert fresh.ledger().run(rid).state is RunState.EXECUTING  # not booked: only 1 of 3 blocks deep
    assert rpc(fresh, "ethereum", "anvil_reorg", [1, []]).get("error") is None  # the swap's block is replaced
    fresh.wait_for(lambda: any(e.kind == "reorg" for e in fresh.ledger().events(rid)), what="reorg noticed")
    rpc(fresh, "ethereum", "evm_setAutomine", [True])
    rpc(fresh, "ethereum", "evm_mine", [])
    finish(fresh, rid)
    swap = fresh.ledger().intent(included.spec.id)
    assert swap.reorgs == 1 and len(swap.attempts) == 1  # the same signed bytes landed again
    assert swap.receipt is not None and swap.receipt.tx_hash == included.receipt.tx_hash
    assert swap.receipt.block_hash != included.receipt.block_hash


def test_a_reorg_past_the_depth_halts_the_lane_before_anything_more_is_signed(fresh: Orchestra) -> None:
    assert fresh.config.chains["arbitrum"].confirmations == 1
    finish(fresh, fresh.submit(make_plan(fresh.config, [ARB_TRADE]), "booked"))
    me = operator(fresh)
    sent = fresh.w3("arbitrum").eth.get_transaction_count(me)
    assert rpc(fresh, "arbitrum", "anvil_reorg", [2, []]).get("error") is None  # both booked txs leave the chain
    assert fresh.w3("arbitrum").eth.get_transaction_count(me) < sent
    rid = fresh.submit(make_plan(fresh.config, [ARB_TRADE]), "after-reorg")
    run = fresh.wait_run(rid, 60)
    assert run.state is RunState.FAILED and "left the chain" in run.error, run
    assert fresh.ledger().lane_halt_reason("arbitrum.operator") is not None
    assert all(not r.attempts for r in fresh.ledger().intents(rid))


def test_an_external_transaction_dropped_from_the_mempool_leaves_a_gap_that_is_filled(fresh: Orchestra) -> None:
    me = operator(fresh)
    w3 = fresh.w3("arbitrum")
    rpc(fresh, "arbitrum", "evm_setAutomine", [False])
    nonce = w3.eth.get_transaction_count(me, "pending")
    outsider = external_tx(fresh, "arbitrum", nonce, tip_gwei=0.001)
    rid = fresh.submit(make_plan(fresh.config, [ARB_TRADE]), "gap")
    approval = fresh.wait_for(lambda: intent_in(fresh, rid, IntentKind.APPROVE, IntentState.SENT), what="sent")
    assert approval.nonce == nonce + 1
    assert rpc(fresh, "arbitrum", "anvil_dropTransaction", [outsider]).get("error") is None
    rpc(fresh, "arbitrum", "evm_setAutomine", [True])
    rpc(fresh, "arbitrum", "evm_mine", [])
    finish(fresh, rid)
    fillers = [r for r in fresh.ledger().intents(rid) if r.spec.kind is IntentKind.NONCE_FILL]
    assert [f.nonce for f in fillers] == [nonce] and fillers[0].state is IntentState.RECONCILED
    assert any(e.kind == "nonce_gap" for e in fresh.ledger().events(rid))


def test_an_external_replacement_of_a_pending_approval_frees_the_lane_at_once(fresh: Orchestra) -> None:
    rpc(fresh, "arbitrum", "evm_setAutomine", [False])
    rid = fresh.submit(make_plan(fresh.config, [ARB_TRADE]), "replaced")
    approval = fresh.wait_for(lambda: intent_in(fresh, rid, IntentKind.APPROVE, IntentState.SENT), what="sent")
    external_tx(fresh, "arbitrum", approval.nonce, tip_gwei=50.0)  # same nonce, a much higher tip: ours is replaced
    rpc(fresh, "arbitrum", "evm_setAutomine", [True])
    rpc(fresh, "arbitrum", "evm_mine", [])
    replaced_at = time.monotonic()
    run = fresh.wait_run(rid, 60)
    assert time.monotonic() - replaced_at < 30, "the lane was held long after its nonce was taken"
    assert run.state is RunState.RECONCILED
    states = {r.spec.kind: r.state for r in fresh.ledger().intents(rid)}
    assert states[IntentKind.APPROVE] is IntentState.RECONCILED and states[IntentKind.SWAP] is IntentState.SKIPPED
    assert "not in the ledger" in fresh.ledger().intent(approval.spec.id).error


def test_a_sigkill_right_after_the_intents_are_recorded_orphans_nothing(fresh: Orchestra) -> None:
    plan = make_plan(fresh.config, [ETH_TRADE, ARB_TRADE])
    fresh.arm("after_intents")
    rid = fresh.submit(plan, "kill-intents")
    report = finish(fresh, rid)
    assert not (fresh.crash_dir / "after_intents").exists(), "the crash point was never reached"
    records = fresh.ledger().intents(rid)
    assert sorted(r.spec.kind.value for r in records) == ["approve", "approve", "swap", "swap"]
    assert {t.chain for t in report.trades} == {"ethereum", "arbitrum"}


def test_a_whole_worker_killed_mid_lane_resumes_within_30_seconds(fresh: Orchestra) -> None:
    rpc(fresh, "ethereum", "evm_setAutomine", [False])
    rid = fresh.submit(make_plan(fresh.config, [ETH_TRADE]), "kill-all")
    approval = fresh.wait_for(lambda: intent_in(fresh, rid, IntentKind.APPROVE, IntentState.SENT), what="sent")
    fresh.kill_worker_tree()
    killed_at = time.monotonic()
    fresh.restart_worker()
    rpc(fresh, "ethereum", "evm_setAutomine", [True])
    rpc(fresh, "ethereum", "evm_mine", [])
    fresh.wait_for(lambda: fresh.ledger().intent(approval.spec.id).state is not IntentState.SENT, timeout_s=60,
                   what="the lane resumed")
    assert time.monotonic() - killed_at < 30
    finish(fresh, rid)


def test_a_misconfigured_venue_is_refused_alone_and_the_chain_keeps_its_holdings(fresh: Orchestra) -> None:
    config = fresh.config
    weth = config.chains["ethereum"].tokens["WETH"].address
    broken = [v if v.name != "v3_weth_usdc_3000" else type(v)(name=v.name, chain=v.chain, adapter=v.adapter,
              config=v.config.model_copy(update={"pool": weth}), enabled=v.enabled) for v in config.venues]
    snap = snapshot(config.model_copy(update={"venues": tuple(broken)}))
    eth = snap.chains["ethereum"]
    # The contract verifier sees it first: a token has no factory(), so the pool is not one the config may trade.
    reason = eth.refused_venues.get("v3_weth_usdc_3000", "")
    assert list(eth.refused_venues) == ["v3_weth_usdc_3000"]
    assert "venue v3_weth_usdc_3000" in reason and weth.lower() in reason.lower() and "refused" in reason
    assert eth.inventory and eth.inventory_error is None
    assert {v.venue for v in eth.venues} == {e.name for e in config.venues_on("ethereum")} - {"v3_weth_usdc_3000"}


def test_a_halt_stops_the_rebroadcast_of_a_dropped_transaction_until_resume(fresh: Orchestra) -> None:
    me = operator(fresh)
    w3 = fresh.w3("arbitrum")
    rpc(fresh, "arbitrum", "evm_setAutomine", [False])
    rid = fresh.submit(make_plan(fresh.config, [ARB_TRADE]), "halt-rebroadcast")
    approval = fresh.wait_for(lambda: intent_in(fresh, rid, IntentKind.APPROVE, IntentState.SENT), what="sent")
    sent_before = w3.eth.get_transaction_count(me)
    fresh.ledger().set_halt("test: nothing reaches a chain")
    assert rpc(fresh, "arbitrum", "anvil_dropTransaction", [approval.tx_hash]).get("error") is None
    rpc(fresh, "arbitrum", "evm_setAutomine", [True])
    fresh.wait_for(lambda: any(e.kind == "halted" and "not re-broadcast" in e.message
                               for e in fresh.ledger().events(rid)), timeout_s=60, what="the re-broadcast refused")
    rpc(fresh, "arbitrum", "evm_mine", [])
    assert w3.eth.get_transaction_count(me) == sent_before  # nothing of ours was mined while halted
    assert not any(e.kind == "rebroadcast" for e in fresh.ledger().events(rid))
    fresh.ledger().clear_halt()
    report = finish(fresh, rid)
    assert any(e.kind == "rebroadcast" for e in fresh.ledger().events(rid))
    landed = fresh.ledger().intent(approval.spec.id).receipt
    assert landed is not None and landed.tx_hash == approval.tx_hash  # the same signed bytes
    assert report.trades and report.trades[0].state == "confirmed"


def test_a_router_typed_as_an_account_gets_no_approval_and_no_call(fresh: Orchestra) -> None:
    outsider = Account.create().address  # an account with no code: the historic typo that handed funds away

    def eoa_router(raw: dict[str, Any]) -> None:
        raw["chains"]["arbitrum"]["venues"]["v2_weth_usdc"]["router"] = outsider

    me = operator(fresh)
    sent = fresh.w3("arbitrum").eth.get_transaction_count(me)
    plan = make_plan(fresh.config, [ARB_TRADE])  # a plan names the venue, not its router
    with fresh.configured(edit=eoa_router) as config:
        assert config.venue("arbitrum", "v2_weth_usdc").config.model_dump()["router"] == outsider
        rid = fresh.submit(plan, "eoa-router")
        run = fresh.wait_run(rid, 60)
    refused = [e.message for e in fresh.ledger().events(rid) if e.kind == "venue_refused"]
    assert any("v2_weth_usdc" in m and outsider.lower() in m.lower() and "no code" in m for m in refused), refused
    assert run.state is RunState.NOOP and not fresh.ledger().intents(rid), run  # the trade was dropped
    assert all(not r.attempts for r in fresh.ledger().intents(rid))
    assert fresh.w3("arbitrum").eth.get_transaction_count(me) == sent  # nothing signed, nothing sent


def test_a_block_mined_under_the_snapshot_reads_the_chain_again(fresh: Orchestra,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The race is forced, not waited for: the first holdings read on ethereum mines a block and reports the head
    moved, as the pinned readers do when anvil answers from the new head. The snapshot reads the chain again at
    the new head instead of failing the run (RpcError is an OSError, and the snapshot once wrapped it)."""
    import orchestrator.snapshot as snapshot_module

    real = snapshot_module.read_wallet_inventory
    ethereum_reads: list[int] = []

    def moved_once(config: Any, registry: Any, ctx: Any, block: int) -> Any:
        if ctx.name == "ethereum":
            ethereum_reads.append(block)
        if ethereum_reads == [block] and ctx.name == "ethereum":
            rpc(fresh, "ethereum", "evm_mine", [])
            raise HeadMovedError(f"chain ethereum: reads pinned to block {block} ran at block {block + 1}")
        return real(config, registry, ctx, block)

    monkeypatch.setattr(snapshot_module, "read_wallet_inventory", moved_once)
    head = int(fresh.w3("ethereum").eth.block_number)
    snap = snapshot(fresh.config)
    eth = snap.chains["ethereum"]
    assert "ethereum" not in snap.failed and eth.inventory and eth.inventory_error is None
    assert len(ethereum_reads) == 2 and eth.block_number == ethereum_reads[1] > ethereum_reads[0] >= head
