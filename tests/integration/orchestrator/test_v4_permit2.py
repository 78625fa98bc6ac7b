"""A Uniswap V4 trade through the orchestrator: planning makes the exact approval of Permit2 and the swap intent; the
lane reads Permit2's nonce, signs the permit and the swap, lands it once; the fill is parsed and reconciled.

The V4 venue is the installed ``uniswap_v4`` adapter, added to the session's config as the devnet's
``devnet.v4_venues`` writes it; the stages run in process (``drive``) on the session's Redis and devnet, in this
test's registry, so a venue that misbehaves on purpose (``_Greedy``) can stand in for it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import yaml
from eth_abi.abi import decode
from web3.types import RPCEndpoint

from adapters import (
    ENTRY_POINT_GROUP,
    AdapterRegistry,
    PermitRequest,
    Side,
    VenueState,
    check_live_venue,
    check_static,
)
from adapters.uniswap.universal_router import EXECUTE_SELECTOR, Command
from adapters.uniswap_v4 import UniswapV4Adapter
from crosshedge import AdapterConformanceError
from crosshedge.config import Config, load_config
from devnet.v4 import v4_venue_sections
from orchestrator import IntentKind, IntentState, RunContext, RunState
from tests.integration.adapters.adapter_helpers import at_head
from tests.integration.adapters.v4_exec_helpers import balance, contract
from tests.integration.orchestra import Orchestra
from tests.integration.orchestrator.helpers import Want, assert_ledger_invariants, drive, make_plan

pytestmark = pytest.mark.integration
CHAIN = "base"


def _registry() -> AdapterRegistry:
    installed = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return AdapterRegistry(entry_points_by_name=installed, adapters={UniswapV4Adapter.name: UniswapV4Adapter()})


@pytest.fixture
def v4_config(fresh: Orchestra, tmp_path: Path) -> Iterator[tuple[Config, AdapterRegistry, str]]:
    """The session's config with the chain's native ETH/USDC V4 pool added as a venue."""
    settings = fresh.devnet.config.chains[CHAIN]
    assert settings.uniswap_v4 is not None
    pool = next(n for n, p in sorted(settings.uniswap_v4.pools.items()) if int(p.currency0, 16) == 0)
    raw = yaml.safe_load(fresh.config_path.read_text())
    raw["chains"][CHAIN]["venues"][pool] = v4_venue_sections(settings.uniswap_v4.model_dump(),
                                                             settings.tokens["WETH"].address)[pool]
    path = tmp_path / "v4.chains.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    registry = _registry()
    yield load_config(path, registry), registry, pool


def _allowance(fresh: Orchestra, token: str, owner: str, spender: str) -> int:
    erc20 = contract(fresh.w3(CHAIN), "ERC20PresetMinterPauser", token)
    return int(erc20.functions.allowance(owner, spender).call())


@pytest.mark.parametrize("side", [Side.SELL, Side.BUY])
def test_a_v4_trade_is_signed_by_the_lane_lands_once_and_reconciles(
        fresh: Orchestra, v4_config: tuple[Config, AdapterRegistry, str], side: Side) -> None:
    config, registry, pool = v4_config
    ctx = RunContext(config=config, ledger=fresh.ledger(), registry=registry)
    w3, wallet = fresh.w3(CHAIN), ctx.wallet_address(CHAIN)
    plan = make_plan(config, [Want(CHAIN, pool, side, 0.5)], slippage_bps=config.raw.execution.slippage_bps,
                     registry=registry)
    (trade,) = plan.trades
    v4 = config.chains[CHAIN].uniswap_v4
    assert v4 is not None
    tokens_before = {t: balance(w3, t, wallet) for t in (trade.token_in, trade.token_out)}
    start = int(w3.eth.block_number)
    report = drive(ctx, plan, f"v4-permit2-{side.value}")
    assert report.state == RunState.RECONCILED.value, report
    assert report.balance_diff == {}, f"the ledger differs from the chain: {report.balance_diff}"
    assert_ledger_invariants(ctx.ledger, report.run_id, fresh.w3s())
    records = ctx.ledger.intents(report.run_id)
    assert [r.spec.kind for r in records] == [IntentKind.APPROVE, IntentKind.SWAP]  # no third, on-chain approval
    approve, swap = records
    assert (approve.spec.spender, swap.spec.target) == (v4.permit2, v4.universal_router)
    assert swap.tx is not None and swap.tx.to == v4.universal_router
    data = bytes.fromhex(swap.tx.data[2:])
    commands, _inputs, _deadline = decode(["bytes", "bytes[]", "uint256"], data[4:])
    assert data[:4] == EXECUTE_SELECTOR and commands[0] == Command.PERMIT2_PERMIT
    fill = swap.fill
    assert fill is not None and swap.receipt is not None
    moved = (tokens_before[trade.token_in] - balance(w3, trade.token_in, wallet),
             balance(w3, trade.token_out, wallet) - tokens_before[trade.token_out])
    assert (fill.side, fill.amount_in_raw, fill.amount_out_raw) == (side, trade.amount_in_raw, moved[1])
    assert moved[0] == trade.amount_in_raw and fill.amount_out_raw >= swap.spec.min_amount_out_raw
    # Exactly once: one Swap of this pool from the wallet's transactions since the run began.
    manager = contract(w3, "PoolManager", v4.pool_manager)
    swaps = [e for e in manager.events.Swap().get_logs(from_block=start)
             if w3.eth.get_transaction(e["transactionHash"])["from"] == wallet]
    assert [e["transactionHash"].to_0x_hex() for e in swaps] == [swap.receipt.tx_hash]
    # Nothing left approved: the exact ERC20 approval was spent, and so was the permit's Permit2 allowance.
    assert _allowance(fresh, trade.token_in, wallet, v4.permit2) == 0
    permit2 = contract(w3, "IAllowanceTransfer", v4.permit2)
    amount, _expiration, nonce = permit2.functions.allowance(wallet, trade.token_in, v4.universal_router).call()
    assert amount == 0 and nonce >= 1


def test_a_fee_bump_replacement_of_a_v4_swap_carries_the_same_permit(
        fresh: Orchestra, v4_config: tuple[Config, AdapterRegistry, str]) -> None:
    """The swap is priced out by a base-fee spike while pending; the lane re-signs the stored call (same permit,
    same nonce) with bumped fees, and that replacement lands and spends the permit."""
    config, registry, pool = v4_config
    ctx = RunContext(config=config, ledger=fresh.ledger(), registry=registry)
    w3, wallet = fresh.w3(CHAIN), ctx.wallet_address(CHAIN)
    plan = make_plan(config, [Want(CHAIN, pool, Side.SELL, 0.5)], slippage_bps=config.raw.execution.slippage_bps,
                     registry=registry)
    v4 = config.chains[CHAIN].uniswap_v4
    assert v4 is not None
    permit2 = contract(w3, "IAllowanceTransfer", v4.permit2)
    nonce_before = permit2.functions.allowance(wallet, plan.trades[0].token_in, v4.universal_router).call()[2]
    w3.provider.make_request(RPCEndpoint("evm_setAutomine"), [False])
    result: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: result.update(report=drive(ctx, plan, "v4-permit2-bump")), daemon=True)
    runner.start()
    try:
        swap = _pending_swap(fresh, ctx, "v4-permit2-bump")
        spike = swap.attempts[0].max_fee_per_gas * 3
        w3.provider.make_request(RPCEndpoint("anvil_setNextBlockBaseFeePerGas"), [hex(spike)])
        w3.provider.make_request(RPCEndpoint("evm_mine"), [])  # a block the swap cannot enter
        fresh.wait_for(lambda: any(e.kind == "replaced" and e.intent == swap.spec.id
                                   for e in ctx.ledger.events("v4-permit2-bump")), what="replacement")
    finally:
        w3.provider.make_request(RPCEndpoint("evm_setAutomine"), [True])
        w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        runner.join(timeout=120)
    assert result["report"].state == RunState.RECONCILED.value, result
    landed = ctx.ledger.intent(swap.spec.id)
    assert len(landed.attempts) >= 2 and landed.receipt is not None and landed.tx is not None
    assert landed.receipt.tx_hash == landed.attempts[-1].tx_hash != landed.attempts[0].tx_hash
    mined = w3.eth.get_transaction(landed.receipt.tx_hash)  # type: ignore[arg-type]
    assert "0x" + bytes(mined["input"]).hex() == swap.tx.data == landed.tx.data  # the first signature's call
    assert mined["nonce"] == swap.nonce
    after = permit2.functions.allowance(wallet, plan.trades[0].token_in, v4.universal_router).call()[2]
    assert after == nonce_before + 1 and landed.fill is not None


def _pending_swap(fresh: Orchestra, ctx: RunContext, run_id: str) -> Any:
    """Mine the approval when it is pending, then return the swap once it is sent (automine is off)."""
    def sent_swap() -> Any:
        records = ctx.ledger.intents(run_id) if ctx.ledger.has_run(run_id) else []
        for r in records:
            if r.spec.kind is IntentKind.APPROVE and r.state is IntentState.SENT:
                fresh.w3(CHAIN).provider.make_request(RPCEndpoint("evm_mine"), [])
            if r.spec.kind is IntentKind.SWAP and r.state is IntentState.SENT and r.tx is not None:
                return r
        return None

    return fresh.wait_for(sent_swap, timeout_s=60, what="the swap sent")


def test_the_conformance_suite_checks_a_permit2_venues_permit(
        fresh: Orchestra, v4_config: tuple[Config, AdapterRegistry, str]) -> None:
    config, registry, pool = v4_config
    ctx = RunContext(config=config, ledger=fresh.ledger(), registry=registry)
    chain, venue = ctx.chain_context(CHAIN), config.venue(CHAIN, pool)
    check_static(UniswapV4Adapter(), venue)
    _, state = at_head(chain, partial(check_live_venue, UniswapV4Adapter(), chain, venue))
    assert state.pool["permit2"] == config.chains[CHAIN].uniswap_v4.permit2  # type: ignore[union-attr]

    class Greedy(UniswapV4Adapter):  # asks for more than the swap's input, for longer than its deadline
        def permit_request(self, state: VenueState, side: Side, amount_in: int, deadline: int) -> PermitRequest:
            asked = super().permit_request(state, side, amount_in, deadline)
            return asked.model_copy(update={"amount": amount_in * 2, "expiration": deadline + 86_400})

    with pytest.raises(AdapterConformanceError, match=r"permit_request\(v4_\w+\) is for \d+ of .*not the sell's") as e:
        at_head(chain, partial(check_live_venue, Greedy(), chain, venue))
    assert "not at the swap's deadline" in str(e.value)


class _Greedy(UniswapV4Adapter):
    """Asks a permit for twice the swap's input (a venue bug, or worse): the sender must refuse to sign it."""

    def permit_request(self, state: VenueState, side: Side, amount_in: int, deadline: int) -> PermitRequest:
        return super().permit_request(state, side, amount_in, deadline).model_copy(update={"amount": 2 * amount_in})


def test_a_permit_for_more_than_the_swap_is_never_signed_and_the_approval_is_revoked(
        fresh: Orchestra, v4_config: tuple[Config, AdapterRegistry, str]) -> None:
    config, _registry, pool = v4_config
    installed = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    registry = AdapterRegistry(entry_points_by_name=installed, adapters={_Greedy.name: _Greedy()})
    config = load_config(config.source, registry)
    ctx = RunContext(config=config, ledger=fresh.ledger(), registry=registry)
    w3, wallet = fresh.w3(CHAIN), ctx.wallet_address(CHAIN)
    plan = make_plan(config, [Want(CHAIN, pool, Side.SELL, 0.5)], slippage_bps=config.raw.execution.slippage_bps,
                     registry=registry)
    token_in = plan.trades[0].token_in
    v4 = config.chains[CHAIN].uniswap_v4
    assert v4 is not None
    permit2 = contract(w3, "IAllowanceTransfer", v4.permit2)
    nonce_before = permit2.functions.allowance(wallet, token_in, v4.universal_router).call()[2]
    report = drive(ctx, plan, "v4-permit2-greedy")
    records = {r.spec.kind: r for r in ctx.ledger.intents(report.run_id)}
    swap = records[IntentKind.SWAP]
    assert not swap.attempts and swap.nonce is None and swap.receipt is None, swap  # refused before any signature
    assert swap.error is not None and "asks a permit for" in swap.error
    assert records[IntentKind.APPROVE].receipt is not None and records[IntentKind.REVOKE].receipt is not None
    assert _allowance(fresh, token_in, wallet, v4.permit2) == 0  # the exact approval was revoked
    assert permit2.functions.allowance(wallet, token_in, v4.universal_router).call()[2] == nonce_before
    assert any(e.kind == "refused" and e.intent == swap.spec.id for e in ctx.ledger.events(report.run_id))
