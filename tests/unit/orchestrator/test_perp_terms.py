"""The pure parts of perp execution: the margin a trade needs deposited, the mark/index breaker, the margin ratio
after a trade, and the optimizer's PerpOption built from a snapshot's market."""

from __future__ import annotations

from typing import Any

import pytest

from adapters import Side
from crosshedge import CircuitBreakerError
from orchestrator.assess import perp_options
from orchestrator.perp_intents import margin_needed_usd
from orchestrator.perp_terms import check_mark_index, margin_ratio_after
from orchestrator.snapshot import ChainSnapshot, Snapshot
from tests.unit.orchestrator.perp_helpers import market, trade


def test_a_flat_account_deposits_the_initial_margin_its_buffer_and_the_fee() -> None:
    # 1 ETH short at 3000: IM 300, buffer 100% of it, fee 3
    assert margin_needed_usd(market(), trade(Side.SELL, 1.0), buffer=1.0) == pytest.approx(603.0)


def test_free_collateral_already_there_is_used_first_and_a_reducing_trade_needs_none() -> None:
    assert margin_needed_usd(market(free=10_000.0), trade(Side.SELL, 1.0), buffer=1.0) == 0.0
    short = market(size=-2.0, free=0.0, value=700.0)
    assert margin_needed_usd(short, trade(Side.BUY, 1.0, size_before=-2.0), buffer=1.0) == 0.0


def test_growing_a_position_deposits_only_for_the_growth_and_the_buffer_on_the_whole() -> None:
    short = market(size=-1.0, free=0.0, value=300.0)
    # the growth's IM 300, fee 3, buffer on 2 ETH of IM (600), no free collateral
    assert margin_needed_usd(short, trade(Side.SELL, 1.0, size_before=-1.0), buffer=1.0) == pytest.approx(903.0)


def test_the_mark_index_breaker_names_chain_market_both_prices_and_the_limit() -> None:
    check_mark_index(market(mark=3050.0, index=3000.0), 0.02)
    with pytest.raises(CircuitBreakerError) as err:
        check_mark_index(market(mark=3000.0, index=3150.0), 0.02)
    text = str(err.value)
    assert "arbitrum" in text and "eth_perp" in text and "3,000.00" in text and "3,150.00" in text
    assert "2.00%" in text and "perp_max_mark_index_deviation" in text


def test_the_margin_ratio_after_a_trade_counts_its_cost_and_a_pending_deposit() -> None:
    flat = market(value=0.0)
    assert margin_ratio_after(flat, -1.0, 3.0, extra_collateral_usd=603.0) == pytest.approx(0.2)
    assert margin_ratio_after(market(size=-1.0, value=300.0), 1.0, 0.0) is None  # flat after


def test_runs_hand_the_optimizer_each_market_with_an_account_as_a_perp_option() -> None:
    state = market(size=-1.5, free=100.0, value=900.0)
    # Only the fields perp_options reads (a whole chain snapshot is the integration tests' business).
    chain_snapshot: Any = ChainSnapshot.model_construct
    whole: Any = Snapshot.model_construct
    cs = chain_snapshot(chain="arbitrum", perps=(state,), perp_gas_usd={"eth_perp": 0.25})
    snap = whole(taken_at=0.0, chains={"arbitrum": cs}, failed={})
    [option] = perp_options(snap, set())
    assert option.key == "arbitrum/eth_perp" and option.size == -1.5 and option.collateral_usd == 900.0
    assert option.fee_pips == 1000 and option.gas_usd == 0.25 and option.im_ratio == 0.1
    assert option.sell == state.sell and option.mark_price == 3000.0
    assert perp_options(snap, {"arbitrum"}) == ()


def test_a_market_with_no_liquidity_left_on_a_side_is_not_offered() -> None:
    state = market(size=0.0, free=1_000.0, value=1_000.0)
    empty = state.model_copy(update={"sell": state.sell.model_copy(update={"segments": ()})})
    chain_snapshot: Any = ChainSnapshot.model_construct
    whole: Any = Snapshot.model_construct
    snap = whole(taken_at=0.0, chains={"arbitrum": chain_snapshot(chain="arbitrum", perps=(empty,),
                                                                   perp_gas_usd={})}, failed={})
    assert perp_options(snap, set()) == ()
