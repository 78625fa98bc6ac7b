"""The pure parts of perp execution: the margin a trade needs deposited, the mark/index breaker, the margin ratio
after a trade, and the optimizer's PerpOption built from a snapshot's market."""

from __future__ import annotations

from typing import Any

import pytest

from adapters import PerpMarketState, PerpPosition, Side, TokenInfo
from crosshedge import CircuitBreakerError
from optimizer import PlannedPerpTrade
from orchestrator.assess import perp_options
from orchestrator.perp_intents import margin_needed_usd
from orchestrator.perp_terms import check_mark_index, margin_ratio_after
from orchestrator.snapshot import ChainSnapshot, Snapshot
from tests.unit.optimizer.perp_helpers import vamm_curves

USDC = TokenInfo(chain="arbitrum", symbol="USDC", address="0x" + "11" * 20, decimals=6, underlying="USD")


def market(size: float = 0.0, free: float = 0.0, value: float = 0.0, mark: float = 3000.0,
           index: float = 3000.0) -> PerpMarketState:
    sell, buy = vamm_curves(mark, 20e6)
    position = PerpPosition(underlying="ETH", size=size, open_notional=-size * mark, collateral_usd=value,
                            mark_price=mark, index_price=index, chain="arbitrum", market="eth_perp")
    return PerpMarketState(
        chain="arbitrum", chain_id=42161, market="eth_perp", adapter="perp_curie", block_number=10,
        block_timestamp=1_700_000_000, underlying="ETH", base_token="0x" + "22" * 20, quote_token="0x" + "33" * 20,
        collateral=USDC, clearing_house="0x" + "44" * 20, vault="0x" + "55" * 20, market_price=mark,
        mark_price=mark,
        market_twap_price=mark, index_price=index, index_twap_price=index, twap_interval_s=900,
        daily_funding_rate=0.0, max_funding_rate=0.1, exchange_fee_ratio=0.001, uniswap_fee_ratio=0.003,
        insurance_fund_fee_ratio=0.1, mm_ratio=0.0625, im_ratio=0.1, max_ticks_crossed=1000, gas_units=500_000,
        pool={}, sell=sell, buy=buy, account="0x" + "66" * 20, position=position, free_collateral_usd=free,
        account_value_usd=value)


def trade(side: Side, base: float, size_before: float = 0.0, **fields: Any) -> PlannedPerpTrade:
    signed = base if side is Side.BUY else -base
    values: dict[str, Any] = {
        "chain": "arbitrum", "market": "eth_perp", "underlying": "ETH", "side": side, "base_amount": base,
        "quote_amount": base * 3000, "expected_price": 3000.0, "fee_usd": 3.0 * base, "impact_usd": 0.0,
        "value_cost_usd": 3.0 * base,
        "funding_usd": 0.0, "gas_usd": 0.1, "size_before": size_before, "size_after": size_before + signed,
        "grows": abs(size_before + signed) > abs(size_before), "account_value_after_usd": 0.0,
        "free_collateral_after_usd": 0.0, "margin_ratio_after": None, "liquidation_price_after": None}
    values.update(fields)
    return PlannedPerpTrade.model_validate(values)


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
