"""The bridge routes a plan is offered (orchestrator.bridging.transfer_options): quoted by the adapter's schedule at
the snapshot, origin gas in USD at the snapshot's gas price, and left out (with the reason) when the snapshot refused
a section or cannot price the token."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters import default_registry
from crosshedge.config import load_config
from optimizer import HedgeTarget, cp_state
from orchestrator import build_problem, transfer_routes
from orchestrator.bridging import APPROVE_GAS, transfer_options
from orchestrator.snapshot import ChainSnapshot, Snapshot
from tests.unit.crosshedge.test_config_transfers import write


def chain_snap(name: str, chain_id: int, gas_gwei: float, l1_fee: float = 0.0,
               refused: dict[str, str] | None = None) -> ChainSnapshot:
    return ChainSnapshot(chain=name, chain_id=chain_id, block_number=10, block_timestamp=1_700_000_000,
                         base_fee_wei=None, gas_price_wei=int(gas_gwei * 1e9), native_underlying="ETH",
                         native_usd=2000.0, l1_data_fee_usd=l1_fee, swap_gas_usd={}, venues=(), inventory=(),
                         refused_transfers=refused or {})


def test_each_route_carries_the_schedule_gas_and_latency(tmp_path: Path) -> None:
    config = load_config(write(tmp_path))
    snap = Snapshot(taken_at=1_700_000_000, chains={"ethereum": chain_snap("ethereum", 1, 20.0),
                                                     "base": chain_snap("base", 8453, 0.01, l1_fee=0.05)})
    options = {o.key: o for o in transfer_options(config, default_registry(), snap)}
    assert sorted(options) == ["base->ethereum/USDC", "ethereum->base/USDC"]
    out = options["ethereum->base/USDC"]
    assert (out.fee_bps, out.fixed_fee_raw, out.latency_s, out.price_usd, out.decimals) == (5.0, 0, 4.0, 1.0, 6)
    route = next(r for r in transfer_routes(config, default_registry()) if r.key == "ethereum->base/USDC")
    gas_units = default_registry().transfer("across").quote(route, 10**6).gas_units
    assert out.gas_usd == pytest.approx((gas_units + APPROVE_GAS) * 20e-9 * 2000.0)
    back = options["base->ethereum/USDC"]
    assert back.gas_usd == pytest.approx((gas_units + APPROVE_GAS) * 0.01e-9 * 2000.0 + 2 * 0.05)


def test_a_refused_section_or_an_unread_chain_offers_no_route(tmp_path: Path) -> None:
    config = load_config(write(tmp_path))
    snap = Snapshot(taken_at=1_700_000_000, chains={
        "ethereum": chain_snap("ethereum", 1, 20.0, refused={"across": "SpokePool is not verified"}),
        "base": chain_snap("base", 8453, 0.01)})
    refused: dict[str, str] = {}
    assert transfer_options(config, default_registry(), snap, refused) == []
    assert refused == {"ethereum->base/USDC": "SpokePool is not verified",
                       "base->ethereum/USDC": "SpokePool is not verified"}
    only_one = Snapshot(taken_at=1_700_000_000, chains={"base": chain_snap("base", 8453, 0.01)})
    assert transfer_options(config, default_registry(), only_one) == []


def test_a_venue_with_an_empty_curve_is_left_out_of_the_problem(tmp_path: Path) -> None:
    """A pool whose price ran past the liquidity read on one side (an empty sell curve) cannot fail the run's
    problem: it is left out with its gas, and the other venues are planned on."""
    config = load_config(write(tmp_path))
    good = cp_state("ethereum", "deep", "ETH", mid=2000.0, depth_usd=5e6, timestamp=1_700_000_000)
    dry = cp_state("ethereum", "dry", "ETH", mid=2000.0, depth_usd=5e6, timestamp=1_700_000_000)
    dry = dry.model_copy(update={"sell": dry.sell.model_copy(update={"segments": ()})})
    chain = chain_snap("ethereum", 1, 20.0).model_copy(update={"venues": (good, dry),
                                                              "swap_gas_usd": {"deep": 5.0, "dry": 5.0}})
    snap = Snapshot(taken_at=1_700_000_000, chains={"ethereum": chain})
    target = HedgeTarget(underlying="ETH", current_delta=10.0, target=0.0, lower=-1.0, upper=1.0,
                         mark_price_usd=2000.0, risk_price=1.0)
    problem = build_problem(config, snap, [], set(), set(), targets=[target])
    assert [v.venue for v in problem.venues] == ["deep"] and problem.gas_usd == {"ethereum/deep": 5.0}
