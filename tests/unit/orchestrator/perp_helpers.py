"""A perp market with the wallet's account and a planned perp trade on it, for the unit tests of perp execution."""

from __future__ import annotations

from typing import Any

from adapters import PerpMarketState, PerpPosition, Side, TokenInfo
from optimizer import PlannedPerpTrade
from tests.unit.optimizer.perp_helpers import vamm_curves


def usdc(chain: str = "arbitrum") -> TokenInfo:
    return TokenInfo(chain=chain, symbol="USDC", address="0x" + "11" * 20, decimals=6, underlying="USD")


def market(size: float = 0.0, free: float = 0.0, value: float = 0.0, mark: float = 3000.0,
           index: float = 3000.0, chain: str = "arbitrum") -> PerpMarketState:
    """An ETH market at ``mark`` whose account holds ``size`` (no vAMM state: it cannot be quoted exactly)."""
    sell, buy = vamm_curves(mark, 20e6)
    position = PerpPosition(underlying="ETH", size=size, open_notional=-size * mark, collateral_usd=value,
                            mark_price=mark, index_price=index, chain=chain, market="eth_perp")
    return PerpMarketState(
        chain=chain, chain_id=42161, market="eth_perp", adapter="perp_curie", block_number=10,
        block_timestamp=1_700_000_000, underlying="ETH", base_token="0x" + "22" * 20, quote_token="0x" + "33" * 20,
        collateral=usdc(chain), clearing_house="0x" + "44" * 20, vault="0x" + "55" * 20, market_price=mark,
        mark_price=mark,
        market_twap_price=mark, index_price=index, index_twap_price=index, twap_interval_s=900,
        daily_funding_rate=0.0, max_funding_rate=0.1, exchange_fee_ratio=0.001, uniswap_fee_ratio=0.003,
        insurance_fund_fee_ratio=0.1, mm_ratio=0.0625, im_ratio=0.1, max_ticks_crossed=1000, gas_units=500_000,
        pool={}, sell=sell, buy=buy, account="0x" + "66" * 20, position=position, free_collateral_usd=free,
        account_value_usd=value)


def trade(side: Side, base: float, size_before: float = 0.0, chain: str = "arbitrum",
          **fields: Any) -> PlannedPerpTrade:
    """``base`` units on ``side`` from ``size_before``, at 3000 a unit (``fields`` override any value)."""
    signed = base if side is Side.BUY else -base
    values: dict[str, Any] = {
        "chain": chain, "market": "eth_perp", "underlying": "ETH", "side": side, "base_amount": base,
        "quote_amount": base * 3000, "expected_price": 3000.0, "fee_usd": 3.0 * base, "impact_usd": 0.0,
        "value_cost_usd": 3.0 * base,
        "funding_usd": 0.0, "gas_usd": 0.1, "size_before": size_before, "size_after": size_before + signed,
        "grows": abs(size_before + signed) > abs(size_before), "account_value_after_usd": 0.0,
        "free_collateral_after_usd": 0.0, "margin_ratio_after": None, "liquidation_price_after": None}
    values.update(fields)
    return PlannedPerpTrade.model_validate(values)
