"""The devnet runs the official bytecode with realistic, different liquidity on three chains."""

from __future__ import annotations

from collections import Counter

import pytest
from web3 import Web3

from devnet import load_artifact
from tests.integration.conftest import DevnetHandle

pytestmark = pytest.mark.integration


def _contract(w3: Web3, name: str, address: str):  # type: ignore[no-untyped-def]
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(name).abi)


def test_chains_have_their_ids_and_base_fees(devnet: DevnetHandle) -> None:
    fees = {}
    for name, chain in devnet.config.chains.items():
        w3 = devnet.w3(name)
        assert w3.eth.chain_id == chain.chain_id
        fees[name] = w3.eth.get_block("latest")["baseFeePerGas"]
    assert {c.chain_id for c in devnet.config.chains.values()} == {1, 42161, 8453}
    assert fees["ethereum"] > 100 * fees["arbitrum"] > 0, fees


def test_tokens_have_configured_decimals_on_chain(devnet: DevnetHandle) -> None:
    seen = set()
    for name, chain in devnet.config.chains.items():
        for symbol, token in chain.tokens.items():
            on_chain = _contract(devnet.w3(name), "ERC20PresetMinterPauser", token.address).functions.decimals().call()
            assert on_chain == token.decimals, (name, symbol)
            seen.add(token.decimals)
    assert seen == {6, 8, 18}


def test_v3_pools_hold_many_positions_over_different_ranges(devnet: DevnetHandle) -> None:
    for name in devnet.chains():
        w3 = devnet.w3(name)
        venues = devnet.state["chains"][name]["venues"]
        for venue, section in venues.items():
            if section["adapter"] != "uniswap_v3":
                continue
            pool = _contract(w3, "UniswapV3Pool", section["pool"])
            mints = pool.events.Mint().get_logs(from_block=0)
            ranges = {(m["args"]["tickLower"], m["args"]["tickUpper"]) for m in mints}
            assert len(ranges) >= 6, f"{name}/{venue} has only {len(ranges)} distinct LP ranges"
            assert pool.functions.liquidity().call() > 0


def test_pool_depths_differ_across_chains(devnet: DevnetHandle) -> None:
    liquidity = {}
    for name in devnet.chains():
        section = devnet.state["chains"][name]["venues"]["v3_weth_usdc_500"]
        liquidity[name] = _contract(devnet.w3(name), "UniswapV3Pool", section["pool"]).functions.liquidity().call()
    assert len(set(liquidity.values())) == 3
    assert liquidity["ethereum"] > liquidity["base"]


def test_operator_is_funded_and_owns_lp_positions(devnet: DevnetHandle) -> None:
    operator = devnet.state["operator"]
    for name, chain in devnet.config.chains.items():
        w3 = devnet.w3(name)
        assert w3.eth.get_balance(operator) > 0
        balances: Counter[str] = Counter()
        for symbol, token in chain.tokens.items():
            balances[symbol] = (
                _contract(w3, "ERC20PresetMinterPauser", token.address).functions.balanceOf(operator).call()
            )
        assert all(balances[s] > 0 for s in ("WETH", "WBTC", "USDC")), (name, balances)
        npm = _contract(w3, "NonfungiblePositionManager", chain.contracts["position_manager"])
        assert npm.functions.balanceOf(operator).call() >= 1


def test_generated_config_names_no_key(devnet: DevnetHandle) -> None:
    text = (devnet.manager.state_dir / "chains.generated.yaml").read_text()
    keystore = devnet.config.wallets["operator"].keystore
    assert keystore is not None and keystore.exists()
    assert oct(keystore.stat().st_mode & 0o777) == "0o600"
    assert "private" not in text.lower()
