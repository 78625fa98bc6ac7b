"""Perp as part of `devnet up`: a chain with ``perp: true`` gets Perpetual Protocol v2 (Curie) after everything else,
its addresses in the devnet state and the generated config's ``perps`` section, and the market driver keeps its index
and vAMM on the price path (the index set by the aggregator, the vAMM traded to it by the devnet's trader).

The module runs a one-chain devnet of its own (ports free beside the session's devnet, no block producer, no
relayer, no deployment cache).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from web3 import HTTPProvider, Web3

from crosshedge.config import (
    GENERATED_CONFIG,
    DevnetBridgeSettings,
    DevnetChain,
    DevnetPool,
    DevnetSpec,
    load_config,
)
from devnet import CACHE_ENV, DevnetManager, MarketDriver, load_artifact, perp_contract
from tests.integration.conftest import _port_offset

pytestmark = pytest.mark.integration

BASE_PORT = 19745  # apart from chains.yaml's ports and the other perp modules'; low enough for every port slot (<= 6)
INDEX_PRICE = 3000.0
#: Hourly-sized moves, then two jumps past Curie's per-trade tick cap (about 10%) that the driver takes in pieces.
PATH = (2900.0, 3050.0, 3450.0, 3000.0)
E18 = 10**18


@pytest.fixture(scope="module")
def perp_devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevnetManager, dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("perp-market")
    chain = DevnetChain(chain_id=10, port=BASE_PORT + _port_offset([BASE_PORT]), base_fee_gwei=0.01, block_time_s=2,
                        pools=[DevnetPool(base="WETH", quote="USDC", depth_usd=2_000_000, positions=2)], perp=True)
    spec = DevnetSpec(state_dir=tmp / "devnet", block_interval_s=0.0, prices={"ETH": INDEX_PRICE, "BTC": 60_000.0},
                      chains={"optimism": chain}, bridge=DevnetBridgeSettings(relayer=False))
    manager = DevnetManager(spec, root=tmp, use_cache=False)
    try:
        yield manager, manager.up()
    finally:
        manager.down()


def test_devnet_up_deploys_perp_and_writes_it_into_the_generated_config(
        perp_devnet: tuple[DevnetManager, dict[str, Any]]) -> None:
    manager, state = perp_devnet
    chain = state["chains"]["optimism"]
    perp = chain["perps"]["eth_perp"]
    for key in ("clearing_house", "vault", "exchange", "account_balance", "market_registry", "base_token",
                "quote_token", "pool", "aggregator"):
        assert Web3.is_checksum_address(perp[key]), key
    assert "code_hashes" not in perp and {perp["clearing_house"], perp["pool"]} <= set(chain["code_hashes"])
    w3 = Web3(HTTPProvider(chain["rpc_url"], request_kwargs={"timeout": 30}))
    # The warm-up's clock jump is taken from a start in the past: the chain ends on the wall clock, not ahead of it.
    assert abs(int(w3.eth.get_block("latest")["timestamp"]) - time.time()) < 120
    generated = yaml.safe_load((manager.state_dir / GENERATED_CONFIG).read_text())
    section = generated["chains"]["optimism"]["perps"]["eth_perp"]
    assert section["adapter"] == "perp_curie" and (section["underlying"], section["collateral"]) == ("ETH", "USDC")
    assert {k: v for k, v in section.items() if k not in {"adapter", "underlying", "collateral"}} == {
        k: perp[k] for k in ("clearing_house", "vault", "exchange", "account_balance", "market_registry",
                             "clearing_house_config", "base_token", "quote_token", "pool")}
    config = load_config(manager.state_dir / GENERATED_CONFIG)  # the loader validates it with the adapter's model
    [entry] = config.perps_on("optimism")
    assert (entry.name, entry.adapter, entry.chain_id) == ("eth_perp", "perp_curie", 10)
    house = perp_contract(w3, "ClearingHouse", perp["clearing_house"])
    assert house.functions.getVault().call() == perp["vault"]


def test_the_market_driver_keeps_the_index_and_the_vamm_on_the_path(
        perp_devnet: tuple[DevnetManager, dict[str, Any]]) -> None:
    _, state = perp_devnet
    chain, perp = state["chains"]["optimism"], state["chains"]["optimism"]["perps"]["eth_perp"]
    driver = MarketDriver.from_state(state, {"optimism": 0.01})
    assert [p.chain for p in driver.perps] == ["optimism"]
    w3 = driver.w3s["optimism"]
    base = perp_contract(w3, "BaseToken", perp["base_token"])
    pool = w3.eth.contract(address=perp["pool"], abi=load_artifact("UniswapV3Pool").abi)
    balance = perp_contract(w3, "AccountBalance", perp["account_balance"])
    trader = chain["accounts"]["trader"]
    for price in PATH:
        assert driver.move_to({"ETH": price, "BTC": 60_000.0}) >= 2  # the spot pool's swap and the vAMM's trade
        assert base.functions.getIndexPrice(0).call() == round(price * 10**8) * 10**10  # 8-decimal aggregator
        mark = (pool.functions.slot0().call()[0] / 2**96) ** 2  # vUSD per vETH: base is token0, both 18 decimals
        assert abs(mark / price - 1) < 5e-3, (price, mark)
    # The taker holds what the arbitrage left it: back at the start price, (about) flat again.
    size = balance.functions.getTakerPositionSize(trader, perp["base_token"]).call()
    assert abs(size) < E18 // 10, size


def test_a_cached_perp_chain_restores_with_its_market_and_a_forward_clock(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The deployment cache's dump and restore keep Perp: the same addresses, the clock never runs backwards (the
    warm-up's jump is inside the dump), and the driver trades the restored vAMM."""
    monkeypatch.delenv(CACHE_ENV, raising=False)  # this test's own cache directory, even in a cache-off session
    port = BASE_PORT + 7
    chain = DevnetChain(chain_id=10, port=port + _port_offset([port]), base_fee_gwei=0.01, block_time_s=2,
                        pools=[DevnetPool(base="WETH", quote="USDC", depth_usd=2_000_000, positions=2)], perp=True)
    spec = DevnetSpec(state_dir=tmp_path / "devnet", block_interval_s=0.0, prices={"ETH": INDEX_PRICE},
                      chains={"optimism": chain}, bridge=DevnetBridgeSettings(relayer=False))
    manager = DevnetManager(spec, root=tmp_path, cache_dir=tmp_path / "cache")
    try:
        first = manager.up()
        w3 = Web3(HTTPProvider(first["chains"]["optimism"]["rpc_url"], request_kwargs={"timeout": 30}))
        head = int(w3.eth.get_block("latest")["timestamp"])
        manager.down()
        again = manager.up()
        assert (first["cache"], again["cache"]) == ("miss", "hit")
        assert again["chains"]["optimism"]["perps"]["eth_perp"] == first["chains"]["optimism"]["perps"]["eth_perp"]
        w3 = Web3(HTTPProvider(again["chains"]["optimism"]["rpc_url"], request_kwargs={"timeout": 30}))
        assert int(w3.eth.get_block("latest")["timestamp"]) >= head
        perp = again["chains"]["optimism"]["perps"]["eth_perp"]
        driver = MarketDriver.from_state(again, {"optimism": 0.01})
        driver.move_to({"ETH": 3100.0})
        pool = w3.eth.contract(address=perp["pool"], abi=load_artifact("UniswapV3Pool").abi)
        assert abs((pool.functions.slot0().call()[0] / 2**96) ** 2 / 3100.0 - 1) < 5e-3
    finally:
        manager.down()
