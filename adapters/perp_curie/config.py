"""The ``perp_curie`` section of one market in chains.yaml: Perpetual Protocol v2 (Curie) contracts by role.

Usage (chains.yaml)::

    chains:
      optimism:
        perps:
          eth_perp: {adapter: perp_curie, clearing_house: 0x..., vault: 0x..., exchange: 0x..., account_balance: 0x...,
                     market_registry: 0x..., clearing_house_config: 0x..., base_token: 0x..., quote_token: 0x...,
                     pool: 0x..., underlying: ETH, collateral: USDC, window_ticks: 2000}
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from adapters.rpc import Address


class PerpCurieConfig(BaseModel):
    """One Curie market: the protocol's contracts (shared by its markets), the market's base token and vAMM pool,
    the underlying its base tracks, the Vault's collateral (a configured token symbol) and how many ticks of the
    vAMM are read each side of its price (Curie caps a block's move at ``getMaxTickCrossedWithinBlock``, 1000 ticks
    on its ETH market, so a window past that is never traded)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    clearing_house: Address  # trades (openPosition, closePosition) and account value
    vault: Address  # deposits and withdrawals: the collateral approval's spender
    exchange: Address  # funding, mark TWAP, the tick cap
    account_balance: Address  # position size, open notional, mark price
    market_registry: Address  # the market's pool and fee ratios
    clearing_house_config: Address  # margin ratios, TWAP interval, funding cap
    base_token: Address  # the market's virtual base token (vETH); also its index price
    quote_token: Address  # the virtual quote token (vUSD)
    pool: Address  # the vAMM: a Uniswap V3 pool of base_token / quote_token
    underlying: str = Field(min_length=1)  # what one base unit tracks (ETH)
    collateral: str = Field(default="USDC", min_length=1)  # the Vault's settlement token, a configured symbol
    window_ticks: int = Field(default=2000, ge=1, le=887272)  # vAMM ticks read each side of its price
    trade_gas: int = Field(default=650_000, gt=0)  # gas of one openPosition of typical size
