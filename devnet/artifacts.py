"""Official contract build artifacts, loaded from node_modules at run time (never copied into the repo).

Usage::

    art = load_artifact("SwapRouter")
    contract = w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from crosshedge import ConfigError

_PERP = "@perp/curie-deployments/optimism/core/artifacts"
_PERP_CORE = ("ClearingHouse", "ClearingHouseConfig", "MarketRegistry", "OrderBook", "AccountBalance", "Exchange",
              "InsuranceFund", "Vault", "CollateralManager", "QuoteToken", "BaseToken")
_PERP_ORACLE = ("ChainlinkPriceFeedV3", "PriceFeedDispatcher")
#: Where each contract's artifact lives inside node_modules (package, path). Pinned by package.json.
ARTIFACT_PATHS: dict[str, str] = {
    "UniswapV3Factory": "@uniswap/v3-core/artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json",
    "UniswapV3Pool": "@uniswap/v3-core/artifacts/contracts/UniswapV3Pool.sol/UniswapV3Pool.json",
    "SwapRouter": "@uniswap/v3-periphery/artifacts/contracts/SwapRouter.sol/SwapRouter.json",
    "QuoterV2": "@uniswap/v3-periphery/artifacts/contracts/lens/QuoterV2.sol/QuoterV2.json",
    "NonfungiblePositionManager": (
        "@uniswap/v3-periphery/artifacts/contracts/NonfungiblePositionManager.sol/NonfungiblePositionManager.json"
    ),
    "UniswapInterfaceMulticall": (
        "@uniswap/v3-periphery/artifacts/contracts/lens/UniswapInterfaceMulticall.sol/UniswapInterfaceMulticall.json"
    ),
    "UniswapV2Factory": "@uniswap/v2-core/build/UniswapV2Factory.json",
    "UniswapV2Pair": "@uniswap/v2-core/build/UniswapV2Pair.json",
    "UniswapV2Router02": "@uniswap/v2-periphery/build/UniswapV2Router02.json",
    "WETH9": "@uniswap/v2-periphery/build/WETH9.json",
    "ERC20PresetMinterPauser": "@openzeppelin/contracts/build/contracts/ERC20PresetMinterPauser.json",
    "PoolManager": "@uniswap/v4-core/out/PoolManager.sol/PoolManager.json",
    "PositionManager": "@uniswap/v4-periphery/foundry-out/PositionManager.sol/PositionManager.json",
    "StateView": "@uniswap/v4-periphery/foundry-out/StateView.sol/StateView.json",
    "V4Quoter": "@uniswap/v4-periphery/foundry-out/V4Quoter.sol/V4Quoter.json",
    "UniversalRouter": "@uniswap/universal-router/artifacts/contracts/UniversalRouter.sol/UniversalRouter.json",
    # An interface (ABI only): Permit2's allowance half, which approvals for PositionManager and the router use.
    "IAllowanceTransfer": "@uniswap/v4-periphery/foundry-out/IAllowanceTransfer.sol/IAllowanceTransfer.default.json",
    # Across's L1 SpokePool (the devnet's bridge on every chain) and the proxy it lives behind.
    "Ethereum_SpokePool": (
        "@across-protocol/contracts/dist/evm/artifacts/Ethereum_SpokePool.sol/Ethereum_SpokePool.json"
    ),
    "ERC1967Proxy": "@across-protocol/contracts/dist/evm/artifacts/ERC1967Proxy.sol/ERC1967Proxy.json",
    # Perpetual Protocol v2 (Curie, @perp/curie-contract 2.6.0 and its oracle): the hardhat artifacts shipped with
    # their Optimism deployment in @perp/curie-deployments (devnet.perp).
    **{name: f"{_PERP}/contracts/{name}.sol/{name}.json" for name in _PERP_CORE},
    **{name: f"{_PERP}/oracle-contracts/contracts/{name}.sol/{name}.json" for name in _PERP_ORACLE},
}
#: Permit2 ships no compiled artifact on npm; v4-periphery's copy of the permit2 repo embeds its runtime code in
#: this Foundry test helper (which etches it at the canonical address), so the devnet reads it from there.
PERMIT2_RUNTIME_SOURCE = "@uniswap/v4-periphery/lib/permit2/test/utils/DeployPermit2.sol"


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str  # 0x-prefixed creation code


def node_modules_dir() -> Path:
    """node_modules next to the repo's package.json (the project root)."""
    return Path(__file__).resolve().parents[1] / "node_modules"


@cache
def load_artifact(name: str, root: Path | None = None) -> Artifact:
    """The ABI and creation bytecode of ``name``; a missing install is a one-sentence error."""
    rel = ARTIFACT_PATHS[name]
    path = (root or node_modules_dir()) / rel
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: contract artifact for {name} is missing; run `npm ci` (./run does)") from None
    code = data.get("bytecode")
    if isinstance(code, dict):  # truffle/waffle style
        code = code.get("object")
    if not code:
        code = data["evm"]["bytecode"]["object"]
    code = code if code.startswith("0x") else "0x" + code
    return Artifact(name=name, abi=data["abi"], bytecode=code)


@cache
def permit2_runtime(root: Path | None = None) -> str:
    """Permit2's runtime bytecode (0x-prefixed), the one ``hex"..."`` literal of its DeployPermit2 test helper."""
    path = (root or node_modules_dir()) / PERMIT2_RUNTIME_SOURCE
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: Permit2's runtime code is missing; run `npm ci` (./run does)") from None
    found: list[str] = re.findall(r'hex"([0-9a-fA-F]+)"', text)
    if len(found) != 1:
        raise ConfigError(f"{path}: expected one hex literal with Permit2's runtime code, found {len(found)}")
    return "0x" + found[0]


def anvil_binary(root: Path | None = None) -> Path:
    """The anvil executable shipped by the npm package @foundry-rs/anvil-linux-amd64."""
    path = (root or node_modules_dir()) / "@foundry-rs/anvil-linux-amd64/bin/anvil"
    if not path.exists():
        raise ConfigError(f"{path}: anvil is not installed; run `npm ci` (./run does)")
    return path
