"""The uniswap_v4 adapter against the plugin contract: conformance, its pyproject entry point, the state it hands
the execution side, and the curves and quotes built from a read."""

from __future__ import annotations

import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from web3 import Web3

from adapters import ChainContext, Side, TokenInfo, VenueEntry, VenueState, ordered_curve_ok
from adapters.conformance import AdapterConformance, check_entry_point
from adapters.registry import ENTRY_POINT_GROUP
from adapters.uniswap import math as m
from adapters.uniswap_v4 import PERMIT2_ADDRESS, SWAP_GAS, PoolKey, UniswapV4Adapter, UniswapV4Config, V4Read
from crosshedge import AdapterError

ROOT = Path(__file__).resolve().parents[3]
USDC = TokenInfo(chain="ethereum", symbol="USDC", address=Web3.to_checksum_address("0x" + "a0" * 20), decimals=6,
                 underlying="USD")
WETH = TokenInfo(chain="ethereum", symbol="WETH", address=Web3.to_checksum_address("0x" + "c0" * 20), decimals=18,
                 underlying="ETH")
NATIVE = "0x" + "00" * 20
SECTION: dict[str, object] = {
    "pool_manager": "0x" + "11" * 20, "state_view": "0x" + "22" * 20, "universal_router": "0x" + "33" * 20,
           "permit2": PERMIT2_ADDRESS, "v4_quoter": "0x" + "44" * 20, "currency0": NATIVE,
           "currency1": USDC.address, "fee": 250, "tick_spacing": 5, "weth": WETH.address}
ENTRY = VenueEntry("v4_eth_usdc_250", "ethereum", "uniswap_v4", UniswapV4Config.model_validate(SECTION))


class TestUniswapV4Conformance(AdapterConformance):
    adapter = UniswapV4Adapter()
    example_venue = ENTRY


def test_pyproject_registers_the_adapter_under_its_name() -> None:
    # The shared venv's metadata predates this entry point, so it is read from pyproject.toml and loaded as
    # importlib.metadata would load it once installed.
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"][ENTRY_POINT_GROUP]
    ep = EntryPoint(name="uniswap_v4", value=declared["uniswap_v4"], group=ENTRY_POINT_GROUP)
    assert type(check_entry_point("uniswap_v4", eps=[ep])) is UniswapV4Adapter


def test_contracts_approve_permit2_and_call_only_the_router_and_permit2() -> None:
    contracts = UniswapV4Adapter().contracts(ENTRY)
    assert contracts.spender == PERMIT2_ADDRESS and contracts.router == SECTION["universal_router"]
    assert contracts.called == {"universal_router": SECTION["universal_router"], "permit2": PERMIT2_ADDRESS}
    assert contracts.read["pool_manager"] == SECTION["pool_manager"]  # reached through the router, never sent to


def _read(protocol_fee: int = 0) -> V4Read:
    """ETH/USDC near 3,000 USDC (token0 native ETH, 18 decimals; token1 USDC, 6): tick = ln(3000e-12)/ln(1.0001),
    on the spacing."""
    tick = -196255
    nets = {tick - 5 * 400: 10**18, tick + 5 * 400: -10**18, tick - 5 * 40: 3 * 10**18, tick + 5 * 40: -3 * 10**18}
    bitmap: dict[int, int] = {}
    for t in nets:
        word, bit = m.tick_position(t // 5)
        bitmap[word] = bitmap.get(word, 0) | 1 << bit
    lo, hi = min(bitmap) - 1, max(bitmap) + 1
    key = PoolKey(NATIVE, USDC.address, 250, 5)
    return V4Read("v4_eth_usdc_250", key, WETH, USDC, m.get_sqrt_ratio_at_tick(tick) + 12345, tick, 4 * 10**18, 250,
                  protocol_fee, (lo, hi), {w: bitmap.get(w, 0) for w in range(lo, hi + 1)}, nets, 100, 1_700_000_000)


def _state(protocol_fee: int = 0) -> VenueState:
    ctx = ChainContext(name="ethereum", chain_id=1, w3=Web3(), tokens={USDC.address: USDC, WETH.address: WETH})
    assert isinstance(ENTRY.config, UniswapV4Config)
    return UniswapV4Adapter()._state(ctx, _read(protocol_fee), ENTRY.config)


def test_state_tells_the_execution_side_everything_it_needs() -> None:
    pool = _state().pool
    assert pool["pool_key"] == {"currency0": NATIVE, "currency1": USDC.address, "fee": 250,
                                "tick_spacing": 5, "hooks": "0x" + "00" * 20}
    assert pool["pool_id"] == PoolKey(NATIVE, USDC.address, 250, 5).pool_id
    assert (pool["pool_manager"], pool["universal_router"], pool["permit2"]) == (
        SECTION["pool_manager"], SECTION["universal_router"], PERMIT2_ADDRESS)
    assert pool["weth"] == WETH.address and pool["native"] and pool["base_is_currency0"]


def test_native_pool_trades_the_wallets_weth_with_convex_curves_and_exact_quotes() -> None:
    state = _state()
    assert state.base == WETH and state.quote == USDC and 2500 < state.mid_price < 3500
    assert state.gas_units == SWAP_GAS and ordered_curve_ok(state.sell) and ordered_curve_ok(state.buy)
    adapter = UniswapV4Adapter()
    sold = adapter.quote(state, Side.SELL, 10**18)
    assert 0.99 * state.mid_price * 1e6 < sold < state.mid_price * 1e6  # 1 ETH at the mid, less 2.5 bp and impact
    with pytest.raises(AdapterError, match="amount_in must be positive"):
        adapter.quote(state, Side.SELL, 0)


def test_protocol_fee_of_the_direction_lowers_only_that_directions_quote() -> None:
    adapter, plain = UniswapV4Adapter(), _state()
    charged = _state(protocol_fee=1000)  # zeroForOne only: selling ETH (currency0)
    assert adapter.quote(charged, Side.SELL, 10**18) < adapter.quote(plain, Side.SELL, 10**18)
    assert adapter.quote(charged, Side.BUY, 10**9) == adapter.quote(plain, Side.BUY, 10**9)
    assert charged.pool["swap_fee"] == {"zero_for_one": 1250, "one_for_zero": 250}  # 1000 + 250 - floor(0.25)
