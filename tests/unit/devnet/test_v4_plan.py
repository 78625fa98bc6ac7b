"""The devnet's own V4 encodings (it may not import adapters) equal adapters.uniswap_v4's, byte for byte."""

from __future__ import annotations

import pytest

from adapters.uniswap_v4 import NATIVE, Action, PoolKey, encode_actions, mint_position, settle_pair, sweep
from devnet.v4 import PoolKey as DevnetPoolKey
from devnet.v4 import liquidity_for_amounts, mint_plan

USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
WBTC = "0x2260FAC5E5542a773Aa44fBCfeDf7C193bc2C599"
OWNER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_pool_id_is_the_mainnet_one() -> None:
    # Ethereum's hookless ETH/USDC 0.05% pool (tick spacing 10), as PoolManager knows it.
    expected = "0x21c67e77068de97969ba93d4aab21826d33ca12bb9f565d8496e8fda8a82ca27"
    assert PoolKey(NATIVE, USDC, 500, 10).pool_id == expected
    assert DevnetPoolKey(NATIVE, USDC, 500, 10).pool_id == expected


def test_mint_plans_agree() -> None:
    mints = [(-200_000, -199_000, 10**15, 10**18, 3 * 10**9), (-199_500, -198_000, 5 * 10**14, 0, 10**9)]
    for c0, c1 in ((NATIVE, USDC), (WBTC, USDC)):
        key = PoolKey(c0, c1, 250, 5)
        steps = [(Action.MINT_POSITION, mint_position(key, *m, OWNER)) for m in mints]
        steps.append((Action.SETTLE_PAIR, settle_pair(c0, c1)))
        if key.has_native:
            steps.append((Action.SWEEP, sweep(NATIVE, OWNER)))
        assert mint_plan(DevnetPoolKey(c0, c1, 250, 5), mints, OWNER) == encode_actions(steps)


def test_unsorted_currencies_are_refused() -> None:
    with pytest.raises(ValueError, match="not sorted"):
        PoolKey(USDC, NATIVE, 500, 10)


def test_liquidity_for_amounts_fits_both_amounts() -> None:
    # In range: the binding side decides; below/above the range only one amount counts.
    price = 1.0001**-199_500
    both = liquidity_for_amounts(price, -200_000, -199_000, 10**18, 10**9)
    only0 = liquidity_for_amounts(1.0001**-201_000, -200_000, -199_000, 10**18, 0)
    only1 = liquidity_for_amounts(1.0001**-198_000, -200_000, -199_000, 0, 10**9)
    assert min(both, only0, only1) > 0
    assert liquidity_for_amounts(price, -200_000, -199_000, 2 * 10**18, 2 * 10**9) >= 2 * both - 1
