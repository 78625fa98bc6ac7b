"""Acceptance on the devnet: a plan made from a real three-chain snapshot with the real adapters' exact quotes,
executed on chain, realises its predicted cost within 1 bp of notional.

The operator wallet is impersonated (anvil_impersonateAccount) to send each planned swap: impersonation stands in
for the signer here, which the orchestrator's own tests cover. Each swap is preceded by an approval of exactly its
amount_in to the router the adapter's TxRequest targets.
"""

from __future__ import annotations

import statistics
from typing import Any

import pytest
from web3 import Web3

from adapters import Side, VenueState, calldata, default_registry
from crosshedge.config import OptimizerSettings
from optimizer import HedgeProblem, HedgeTarget, PlannedTrade, Planner, registry_quoter
from orchestrator import Snapshot, connect_all, take_snapshot
from tests.integration.conftest import DEV_TX_FEES

pytestmark = pytest.mark.integration

PER_CHAIN_WETH = 25.0  # inventory cap per chain, so the hedge below cannot be done on one chain


def _problem(snap: Snapshot) -> HedgeProblem:
    """Long 70 ETH of delta against a ±5 band, each chain's wallet allowed at most 25 WETH: ≥ 3 chains must sell."""
    venues = [v for v in snap.venue_states() if v.underlying == "ETH"]
    mark = statistics.median(v.mid_price for v in venues)
    inventory: dict[str, dict[str, float]] = {}
    for c in snap.chains.values():
        held = {p.symbol: p.amount for p in c.inventory}
        inventory[c.chain] = {**held, "WETH": min(held.get("WETH", 0.0), PER_CHAIN_WETH)}
    return HedgeProblem(
        targets=[HedgeTarget(underlying="ETH", current_delta=70.0, target=0.0, lower=-5.0, upper=5.0,
                             mark_price_usd=mark, risk_price=0.5)],
        venues=venues,
        gas_usd={f"{c.chain}/{name}": usd for c in snap.chains.values() for name, usd in c.swap_gas_usd.items()},
        inventory=inventory, as_of=max(c.block_timestamp for c in snap.chains.values()),
        settings=OptimizerSettings(max_price_impact_bps=300.0),
    )


def _balance(w3: Web3, token: str, holder: str) -> int:
    raw = w3.eth.call({"to": token, "data": calldata("balanceOf(address)", holder)})  # type: ignore[typeddict-item]
    return int.from_bytes(raw, "big")


def _send(w3: Web3, sender: str, tx: dict[str, Any]) -> Any:
    sent = w3.eth.send_transaction({"from": sender, **DEV_TX_FEES, **tx})  # type: ignore[typeddict-item]
    receipt = w3.eth.wait_for_transaction_receipt(sent, timeout=30)
    assert receipt["status"] == 1, f"transaction to {tx['to']} reverted"
    return receipt


def _execute(
    devnet: Any, snap: Snapshot, state: VenueState, trade: PlannedTrade, operator: str
) -> tuple[float, int, int]:
    """Send one planned swap as the impersonated operator; return (gas paid in USD, raw paid in, raw received)."""
    w3 = devnet.w3(state.chain)
    chain = snap.chains[state.chain]
    token_in, token_out = (state.base, state.quote) if trade.side is Side.SELL else (state.quote, state.base)
    adapter, deadline = default_registry().venue(state.adapter), chain.block_timestamp + 3600
    tx = adapter.build_swap(state, trade.side, trade.amount_in_raw, trade.min_amount_out_raw, operator, deadline)
    priority = int(devnet.config.chains[state.chain].gas.priority_fee_gwei * 1e9)
    fees = {"maxPriorityFeePerGas": priority, "maxFeePerGas": 4 * chain.gas_price_wei + priority}
    spender, permits = tx.to, default_registry().permit2_venue(state.adapter)
    if permits is not None:
        # The impersonated operator has no key to sign a permit here (the lane signs one in production): it gives
        # the router the same exact Permit2 allowance on chain, which the permit-less swap then spends.
        permit = permits.permit_request(state, trade.side, trade.amount_in_raw, deadline)
        spender = permit.permit2
        _send(w3, operator, {"to": permit.permit2, "gas": 100_000, **fees, "data": calldata(
            "approve(address,address,uint160,uint48)", token_in.address, permit.spender, permit.amount,
            permit.expiration)})
    _send(w3, operator, {"to": token_in.address, "gas": 100_000, **fees,
                         "data": calldata("approve(address,uint256)", spender, trade.amount_in_raw)})
    before_in, before_out = _balance(w3, token_in.address, operator), _balance(w3, token_out.address, operator)
    receipt = _send(w3, operator, {"to": tx.to, "data": tx.data, "value": tx.value, "gas": 1_500_000, **fees})
    paid = before_in - _balance(w3, token_in.address, operator)
    got = _balance(w3, token_out.address, operator) - before_out
    assert paid == trade.amount_in_raw and got >= trade.min_amount_out_raw
    # anvil charges no L1 data fee; the rollup would, so the snapshot's per-swap L1 fee is added as charged
    gas_usd = receipt["gasUsed"] * receipt["effectiveGasPrice"] / 1e18 * chain.native_usd + chain.l1_data_fee_usd
    return gas_usd, paid, got


def test_plan_executed_on_chain_realises_its_predicted_cost(devnet: Any, chain_snapshot: dict[str, str]) -> None:
    connections, _ = connect_all(devnet.config, timeout=30)
    snap = take_snapshot(devnet.config, connections, default_registry())
    problem = _problem(snap)
    plan = Planner(quoter=registry_quoter).plan(problem, with_explanation=False)
    chains = {t.chain for t in plan.trades}
    assert len(chains) >= 2, f"the plan should need several chains, got {plan.trades}"
    assert -5.0 - 1e-9 <= plan.residual_delta["ETH"] <= 5.0 + 1e-9

    operator = Web3.to_checksum_address(devnet.state["operator"])
    states = {f"{v.chain}/{v.venue}": v for v in problem.venues}
    mark = problem.targets[0].mark_price_usd
    realised = notional = 0.0
    for chain in chains:
        devnet.w3(chain).provider.make_request("anvil_impersonateAccount", [operator])
    try:
        for trade in plan.trades:
            st = states[trade.venue_key]
            gas_usd, paid, got = _execute(devnet, snap, st, trade, operator)
            assert got == trade.expected_amount_out_raw  # exact model = chain, to the raw unit
            base = paid / 10**st.base.decimals if trade.side is Side.SELL else got / 10**st.base.decimals
            quote = got / 10**st.quote.decimals if trade.side is Side.SELL else paid / 10**st.quote.decimals
            realised += gas_usd + (mark * base - quote if trade.side is Side.SELL else quote - mark * base)
            notional += mark * base
    finally:
        for chain in chains:
            devnet.w3(chain).provider.make_request("anvil_stopImpersonatingAccount", [operator])
    print(f"chains {sorted(chains)} trades {len(plan.trades)} realised ${realised:.4f} "
          f"predicted ${plan.cost.total_usd:.4f} notional ${notional:,.0f} safeguard {plan.stats.safeguard!r} "
          f"polish gain ${plan.stats.polish_gain_usd:.4f}")
    assert abs(realised - plan.cost.total_usd) <= 1e-4 * notional, (realised, plan.cost.total_usd, notional)
