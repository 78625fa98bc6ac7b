"""A multi-hop route trade through the orchestrator: planning makes the exact approval of Permit2 and the swap
intent; the lane reads Permit2's nonce, signs the permit and the swap (PERMIT2_PERMIT, then the legs' commands in
one UniversalRouter execute), lands it once; the fill is parsed from the receipt and reconciled, both ways.
"""

from __future__ import annotations

import pytest
from eth_abi.abi import decode
from web3 import Web3

from adapters import Side, calldata, default_registry
from adapters.uniswap.universal_router import EXECUTE_SELECTOR, Command
from adapters.uniswap_route import LEG_KINDS
from orchestrator import IntentKind, RunContext, RunState
from tests.integration.orchestra import Orchestra
from tests.integration.orchestrator.helpers import Want, assert_ledger_invariants, drive, make_plan

pytestmark = pytest.mark.integration
CHAIN = "base"


def _balance(w3: Web3, token: str, holder: str) -> int:
    raw = w3.eth.call({"to": token, "data": calldata("balanceOf(address)", holder)})  # type: ignore[typeddict-item]
    return int.from_bytes(raw, "big")


@pytest.mark.parametrize("side", [Side.SELL, Side.BUY])
def test_a_route_trade_is_signed_by_the_lane_lands_once_and_reconciles(fresh: Orchestra, side: Side) -> None:
    config = fresh.config
    route = next(v for v in config.venues_on(CHAIN) if v.adapter == "uniswap_route")
    ctx = RunContext(config=config, ledger=fresh.ledger(), registry=default_registry())
    w3, wallet = fresh.w3(CHAIN), ctx.wallet_address(CHAIN)
    plan = make_plan(config, [Want(CHAIN, route.name, side, 0.05)], slippage_bps=config.raw.execution.slippage_bps)
    (trade,) = plan.trades
    before = {t: _balance(w3, t, wallet) for t in (trade.token_in, trade.token_out)}
    start = int(w3.eth.block_number)
    report = drive(ctx, plan, f"route-permit2-{side.value}")
    assert report.state == RunState.RECONCILED.value, report
    assert report.balance_diff == {}, f"the ledger differs from the chain: {report.balance_diff}"
    assert_ledger_invariants(ctx.ledger, report.run_id, fresh.w3s())
    approve, swap = ctx.ledger.intents(report.run_id)
    assert [approve.spec.kind, swap.spec.kind] == [IntentKind.APPROVE, IntentKind.SWAP]
    router = route.config.model_dump()["router"]
    assert approve.spec.spender == route.config.model_dump()["permit2"] and swap.spec.target == router
    assert swap.tx is not None and swap.fill is not None and swap.receipt is not None
    data = bytes.fromhex(swap.tx.data[2:])
    commands = decode(["bytes", "bytes[]", "uint256"], data[4:])[0]
    assert data[:4] == EXECUTE_SELECTOR and commands[0] == Command.PERMIT2_PERMIT and len(commands) >= 2
    paid = before[trade.token_in] - _balance(w3, trade.token_in, wallet)
    got = _balance(w3, trade.token_out, wallet) - before[trade.token_out]
    assert (swap.fill.side, swap.fill.amount_in_raw, swap.fill.amount_out_raw) == (side, trade.amount_in_raw, got)
    assert paid == trade.amount_in_raw and got == trade.expected_amount_out_raw  # the exact composed quote
    # Exactly once: each leg's pool swapped once, in the swap's own transaction.
    for leg in route.config.model_dump()["legs"]:
        topic = "0x" + LEG_KINDS[leg["kind"]].swap_topic.hex()
        address = leg.get("pool") or leg["pair"]
        logs = w3.eth.get_logs({"address": address, "fromBlock": start, "topics": [topic]})
        assert [log["transactionHash"].to_0x_hex() for log in logs] == [swap.receipt.tx_hash]
