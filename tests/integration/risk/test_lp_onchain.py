"""LP Greeks against the chain: delta = the token0 the position holds, and gamma = a finite difference of the
position's on-chain value across small pool-price moves.

The on-chain value comes from the NonfungiblePositionManager itself: ``decreaseLiquidity`` of the whole liquidity,
run with eth_call from the owner, returns exactly the (amount0, amount1) the position would pay out at the pool's
current price. Price moves are made by rewriting the pool's slot0 (sqrtPriceX96 and tick) with anvil_setStorageAt
inside the per-test snapshot, so the pool's own SqrtPriceMath does the arithmetic.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from eth_typing import HexStr
from web3 import Web3
from web3.types import RPCEndpoint

from adapters import LpPosition, calldata, decode
from adapters.uniswap_v3_lp import UniswapV3LpPositions, UniswapV3LpSettings
from orchestrator import chain_context
from risk import human_price, human_range, lp_delta, lp_gamma
from tests.integration.adapters.adapter_helpers import at_head

NOW = datetime(2026, 1, 1, tzinfo=UTC)  # LP positions value at their block; the time only labels them

pytestmark = pytest.mark.integration
Q96 = 2**96


def _positions(devnet, chain: str) -> tuple[Web3, str, list[LpPosition]]:  # type: ignore[no-untyped-def]
    w3 = devnet.w3(chain)
    ctx = chain_context(devnet.config, chain, w3)
    _, positions = at_head(ctx, lambda block: UniswapV3LpPositions().read_positions(ctx, UniswapV3LpSettings(), block,
                                                                                  NOW))
    return w3, str(ctx.extras["wallet"]), positions


def _onchain_amounts(w3: Web3, owner: str, p: LpPosition) -> tuple[int, int]:
    data = calldata("decreaseLiquidity((uint256,uint128,uint256,uint256,uint256))",
                    (p.token_id, p.liquidity, 0, 0, 2**64))
    out = w3.eth.call({"from": Web3.to_checksum_address(owner), "to": Web3.to_checksum_address(p.position_manager),
                       "data": HexStr(data)})
    a0, a1 = decode(("uint256", "uint256"), bytes(out))
    return int(a0), int(a1)


def _set_pool_price(w3: Web3, pool: str, sqrt_price_x96: int) -> None:
    """Rewrite slot0's sqrtPriceX96 (bits 0-159) and tick (160-183), keeping the other packed fields."""
    word = int.from_bytes(w3.eth.get_storage_at(Web3.to_checksum_address(pool), 0), "big")
    tick = math.floor(math.log((sqrt_price_x96 / Q96) ** 2) / math.log(1.0001))
    word &= ~((1 << 184) - 1)
    word |= ((tick & ((1 << 24) - 1)) << 160) | sqrt_price_x96
    w3.provider.make_request(RPCEndpoint("anvil_setStorageAt"), [pool, "0x0", "0x" + word.to_bytes(32, "big").hex()])


def _value_usd(w3: Web3, owner: str, p: LpPosition) -> tuple[float, float]:
    """(on-chain value in USD at the pool price, the pool's USD price of the risky token)."""
    a0, a1 = _onchain_amounts(w3, owner, p)
    assert p.pool is not None
    word = int.from_bytes(w3.eth.get_storage_at(Web3.to_checksum_address(p.pool), 0), "big")
    price = human_price(word & ((1 << 160) - 1), p.decimals0, p.decimals1, p.risky_is_token0)
    risky, quote = (a0 / 10**p.decimals0, a1 / 10**p.decimals1) if p.risky_is_token0 else (
        a1 / 10**p.decimals1, a0 / 10**p.decimals0)
    return risky * price + quote, price


def test_lp_delta_equals_token0_held_on_chain(devnet, chain_snapshot) -> None:  # type: ignore[no-untyped-def]
    checked = 0
    for chain in devnet.chains():
        w3, owner, positions = _positions(devnet, chain)
        for p in positions:
            assert p.sqrt_price_x96 is not None and p.liquidity > 0
            rng = human_range(p.liquidity, p.tick_lower, p.tick_upper, p.decimals0, p.decimals1, p.risky_is_token0)
            price = human_price(p.sqrt_price_x96, p.decimals0, p.decimals1, p.risky_is_token0)
            a0, a1 = _onchain_amounts(w3, owner, p)
            held = (a0 / 10**p.decimals0) if p.risky_is_token0 else (a1 / 10**p.decimals1)
            delta = float(lp_delta(rng.liquidity, price, rng.lower, rng.upper))
            assert delta == pytest.approx(held, rel=1e-9, abs=1e-12), (chain, p.token_id)
            checked += 1
    assert checked >= 1


def test_lp_gamma_matches_finite_difference_of_onchain_value(devnet, chain_snapshot) -> None:  # type: ignore[no-untyped-def]
    w3, owner, positions = _positions(devnet, "ethereum")
    p = next(x for x in positions if x.liquidity > 0)
    assert p.sqrt_price_x96 is not None and p.pool is not None
    rng = human_range(p.liquidity, p.tick_lower, p.tick_upper, p.decimals0, p.decimals1, p.risky_is_token0)
    # Centre the pool price in the position's range so +-h stays inside it, then move it by +-h.
    mid_sqrt = int(Q96 * 1.0001 ** ((p.tick_lower + p.tick_upper) / 4))
    values, prices = [], []
    for rel in (-1.0, 0.0, 1.0):
        sqrt_p = int(mid_sqrt * math.sqrt(1 + rel * 2e-3))  # +-0.2% in price
        _set_pool_price(w3, p.pool, sqrt_p)
        v, s = _value_usd(w3, owner, p)
        values.append(v)
        prices.append(s)
    h_up, h_dn = prices[2] - prices[1], prices[1] - prices[0]
    fd_gamma = 2 * ((values[2] - values[1]) / h_up - (values[1] - values[0]) / h_dn) / (h_up + h_dn)
    fd_delta = (values[2] - values[0]) / (prices[2] - prices[0])
    gamma = float(lp_gamma(rng.liquidity, prices[1], rng.lower, rng.upper))
    delta = float(lp_delta(rng.liquidity, prices[1], rng.lower, rng.upper))
    assert gamma < 0
    assert fd_gamma == pytest.approx(gamma, rel=2e-2)
    assert fd_delta == pytest.approx(delta, rel=1e-3)
