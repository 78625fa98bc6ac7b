"""Devnet route venues and cross pools: named from their legs, refused where a leg or the router is missing, and a
WBTC/WETH pool priced and budgeted in WETH (not as if WETH were a dollar)."""

from __future__ import annotations

import pytest

from crosshedge.config import DevnetChain, DevnetPool, DevnetRoute
from devnet.deploy import is_route_leg_only, lp_needs, pair_price, route_venues
from devnet.deployer import DeployError

PRICES = {"ETH": 3000.0, "BTC": 60000.0}
CROSS = DevnetPool(kind="uniswap_v3", base="WBTC", quote="WETH", fee=500, depth_usd=3_000_000)
LEGS = {"v3_wbtc_weth_500": {"kind": "uniswap_v3", "pool": "0x" + "1" * 40},
        "v3_weth_usdc_500": {"kind": "uniswap_v3", "pool": "0x" + "2" * 40},
        "v2_weth_usdc": {"kind": "uniswap_v2", "pair": "0x" + "3" * 40}}


def _chain(*routes: list[str]) -> DevnetChain:
    return DevnetChain(chain_id=1, port=20000, base_fee_gwei=1, block_time_s=1, pools=[CROSS],
                       routes=[DevnetRoute(legs=r) for r in routes])


def test_route_venues_are_named_from_their_legs_and_carry_them_in_order() -> None:
    venues = route_venues(_chain(["v3_wbtc_weth_500", "v3_weth_usdc_500"], ["v3_wbtc_weth_500", "v2_weth_usdc"]),
                          LEGS, "0x" + "a" * 40, "0x" + "b" * 40)
    assert list(venues) == ["route_wbtc_weth_usdc_500_500", "route_wbtc_weth_usdc_500_v2"]
    assert venues["route_wbtc_weth_usdc_500_v2"]["legs"] == [LEGS["v3_wbtc_weth_500"], LEGS["v2_weth_usdc"]]
    assert venues["route_wbtc_weth_usdc_500_500"]["adapter"] == "uniswap_route"


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
