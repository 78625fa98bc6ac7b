"""The devnet's generated config lists its V4 pools as ``uniswap_v4`` venues only with ``devnet.v4_venues``; the
sections it writes validate with the adapter's own config model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.uniswap_v4 import NATIVE, PoolKey, UniswapV4Config
from crosshedge.config import DevnetSpec
from devnet import DevnetManager

USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
WETH = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
WBTC = "0x2260FAC5E5542a773Aa44fBCfeDf7C193bc2C599"


def _pool(c0: str, c1: str, fee: int, spacing: int) -> dict[str, Any]:
    return {"currency0": c0, "currency1": c1, "fee": fee, "tick_spacing": spacing, "hooks": NATIVE,
            "pool_id": PoolKey(c0, c1, fee, spacing).pool_id}


def _state() -> dict[str, Any]:
    v4 = {"pool_manager": "0x" + "11" * 20, "state_view": "0x" + "22" * 20, "v4_quoter": "0x" + "33" * 20,
          "position_manager": "0x" + "44" * 20, "universal_router": "0x" + "55" * 20,
          "permit2": "0x000000000022D473030F116dDEE9F6B43aC78BA3",
          "pools": {"v4_eth_usdc_250": _pool(NATIVE, USDC, 250, 5), "v4_wbtc_usdc_1500": _pool(WBTC, USDC, 1500, 30)}}
    chain = {"rpc_url": "http://127.0.0.1:1", "contracts": {"multicall": "0x" + "66" * 20}, "code_hashes": {},
             "tokens": {"WETH": {"address": WETH, "decimals": 18, "underlying": "ETH"}},
             "venues": {"v3_weth_usdc_500": {"adapter": "uniswap_v3", "pool": "0x" + "77" * 20}}, "uniswap_v4": v4}
    return {"chains": {"ethereum": chain}, "operator": "0x" + "88" * 20, "keystore": "k", "password_file": "p"}


def _generated(tmp_path: Path, v4_venues: bool | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"state_dir": str(tmp_path), "chains": {"ethereum": {
        "chain_id": 1, "port": 18545, "base_fee_gwei": 20, "block_time_s": 12}}}
    if v4_venues is not None:
        spec["v4_venues"] = v4_venues
    DevnetManager(DevnetSpec.model_validate(spec), tmp_path)._write_generated(_state())
    chains: dict[str, Any] = yaml.safe_load((tmp_path / "chains.generated.yaml").read_text())["chains"]
    return dict(chains["ethereum"])


@pytest.mark.parametrize("flag", [None, False])
def test_v4_pools_are_not_venues_by_default(tmp_path: Path, flag: bool | None) -> None:
    chain = _generated(tmp_path, flag)
    assert set(chain["venues"]) == {"v3_weth_usdc_500"} and set(chain["uniswap_v4"]["pools"]) == {
        "v4_eth_usdc_250", "v4_wbtc_usdc_1500"}


def test_v4_venues_flag_writes_them_as_uniswap_v4_venues(tmp_path: Path) -> None:
    chain = _generated(tmp_path, True)
    assert chain["uniswap_v4"]["pools"]  # the deployment section stays
    venues = chain["venues"]
    assert {n for n, v in venues.items() if v["adapter"] == "uniswap_v4"} == {"v4_eth_usdc_250", "v4_wbtc_usdc_1500"}
    eth = UniswapV4Config.model_validate({k: v for k, v in venues["v4_eth_usdc_250"].items() if k != "adapter"})
    btc = UniswapV4Config.model_validate({k: v for k, v in venues["v4_wbtc_usdc_1500"].items() if k != "adapter"})
    assert eth.weth == WETH and eth.key.pool_id == chain["uniswap_v4"]["pools"]["v4_eth_usdc_250"]["pool_id"]
    assert btc.weth is None and btc.key.pool_id == chain["uniswap_v4"]["pools"]["v4_wbtc_usdc_1500"]["pool_id"]
