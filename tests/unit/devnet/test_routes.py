"""Devnet route venues and cross pools: named from their legs, refused where a leg or the router is missing, and a
WBTC/WETH pool priced and budgeted in WETH (not as if WETH were a dollar)."""

from __future__ import annotations

from typing import Any

import pytest

from crosshedge.config import DevnetChain, DevnetPool, DevnetRoute
from devnet.deploy import is_route_leg_only, lp_needs, pair_price, route_venues
from devnet.deployer import DeployError

PRICES = {"ETH": 3000.0, "BTC": 60000.0}
CROSS = DevnetPool(kind="uniswap_v3", base="WBTC", quote="WETH", fee=500, depth_usd=3_000_000)
V4_LEG: dict[str, Any] = {
    "kind": "uniswap_v4", "pool_manager": "0x" + "4" * 40, "state_view": "0x" + "5" * 40,
    "currency0": "0x" + "6" * 40, "currency1": "0x" + "7" * 40, "fee": 1500, "tick_spacing": 30,
    "hooks": "0x" + "0" * 40}
SECTIONS: dict[str, dict[str, Any]] = {
    "v3_wbtc_weth_500": {"kind": "uniswap_v3", "pool": "0x" + "1" * 40},
    "v3_weth_usdc_500": {"kind": "uniswap_v3", "pool": "0x" + "2" * 40},
    "v2_weth_usdc": {"kind": "uniswap_v2", "pair": "0x" + "3" * 40},
    "v4_wbtc_usdc_1500": V4_LEG}
SYMBOLS = {"v3_wbtc_weth_500": ("WBTC", "WETH"), "v3_weth_usdc_500": ("WETH", "USDC"), "v2_weth_usdc": ("WETH", "USDC"),
           "v4_wbtc_usdc_1500": ("WBTC", "USDC")}
#: What deploy_chain hands route_venues: each pool's leg section with its token symbols (for the route's name).
LEGS = {name: {**section, "symbols": SYMBOLS[name]} for name, section in SECTIONS.items()}


def _chain(*routes: list[str]) -> DevnetChain:
    return DevnetChain(chain_id=1, port=20000, base_fee_gwei=1, block_time_s=1, pools=[CROSS],
                       routes=[DevnetRoute(legs=r) for r in routes])


def test_route_venues_are_named_from_their_legs_and_carry_them_in_order() -> None:
    venues = route_venues(_chain(["v3_wbtc_weth_500", "v3_weth_usdc_500"], ["v3_wbtc_weth_500", "v2_weth_usdc"],
                                 ["v3_wbtc_weth_500", "v4_wbtc_usdc_1500"]), LEGS, "0x" + "a" * 40, "0x" + "b" * 40)
    # The tokens in SELL order from the legs' pairs: the V4 route sells WETH for WBTC, then WBTC for USDC.
    assert list(venues) == ["route_wbtc_weth_usdc_500_500", "route_wbtc_weth_usdc_500_v2",
                            "route_weth_wbtc_usdc_500_v4_1500"]
    assert venues["route_wbtc_weth_usdc_500_v2"]["legs"] == [SECTIONS["v3_wbtc_weth_500"], SECTIONS["v2_weth_usdc"]]
    assert venues["route_weth_wbtc_usdc_500_v4_1500"]["legs"] == [SECTIONS["v3_wbtc_weth_500"], V4_LEG]
    assert venues["route_wbtc_weth_usdc_500_500"]["adapter"] == "uniswap_route"


def test_a_route_whose_legs_do_not_chain_is_refused() -> None:
    with pytest.raises(DeployError, match="must share exactly one token"):
        route_venues(_chain(["v3_weth_usdc_500", "v2_weth_usdc"]), LEGS, "0x" + "a" * 40, "0x" + "b" * 40)


def test_a_route_over_a_missing_pool_or_without_a_router_is_refused() -> None:
    with pytest.raises(DeployError, match=r"legs \['v3_wbtc_usdc_3000'\] are not pools of the chain"):
        route_venues(_chain(["v3_wbtc_usdc_3000", "v3_weth_usdc_500"]), LEGS, "0x" + "a" * 40, "0x" + "b" * 40)
    with pytest.raises(DeployError, match="UniversalRouter: give the chain v4_pools"):
        route_venues(_chain(["v3_wbtc_weth_500", "v3_weth_usdc_500"]), LEGS, None, "0x" + "b" * 40)


def test_a_cross_pool_is_priced_and_budgeted_in_its_quote_token() -> None:
    assert is_route_leg_only(CROSS)
    assert pair_price(PRICES, CROSS) == pytest.approx(20.0)  # WETH per WBTC
    needs = lp_needs(_chain(), PRICES)
    # Twice the depth on each side: $6M of WBTC (100 BTC) and $6M of WETH (2000 ETH), not 6M WETH.
    assert needs["WBTC"] == round(6_000_000 / 60_000 * 10**8)
    assert needs["WETH"] == round(6_000_000 / 3_000 * 10**18)
