"""The code a Uniswap venue's contracts must hold: the official npm build artifacts, read from node_modules at run
time (never copied into the repo), as :class:`CodeExpectation` values with their immutables masked.

The packages are those package.json pins (``@uniswap/v3-core`` 1.0.1, ``@uniswap/v3-periphery`` 1.4.4,
``@uniswap/v2-core`` 1.0.1, ``@uniswap/v2-periphery``, and for V4 ``@uniswap/v4-core``, ``@uniswap/v4-periphery``,
``@uniswap/universal-router``; Permit2's runtime comes from v4-periphery's copy of the permit2 repo). Their V3
pool and V2 pair builds are the ones mainnet's factories deploy (the init code hashes are mainnet's
``0xe34f…8b54`` and ``0x96e8…845f``); a router or quoter compiled differently on some chain does not match, and is
verified by pinning its hash in ``code_hashes`` instead. node_modules is the repo's own, or
``$CROSSHEDGE_NODE_MODULES``. A missing artifact does not raise: the expectation says why it is unavailable, and the
verifier refuses the address unless its hash is pinned.

Usage::

    expected = artifact_code("SwapRouter", embeds=("factory", "WETH9"))
    expected.matches(w3.eth.get_code(router))
"""

from __future__ import annotations

import json
import os
import re
from functools import cache
from pathlib import Path

from adapters.contract import CodeExpectation, masked_keccak

#: Environment variable naming the node_modules directory that holds the artifacts (default: the repo's).
NODE_MODULES_ENV = "CROSSHEDGE_NODE_MODULES"

#: Artifact name -> (package, path inside node_modules).
ARTIFACTS: dict[str, tuple[str, str]] = {
    "UniswapV3Factory": (
        "@uniswap/v3-core", "@uniswap/v3-core/artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json"),
    "UniswapV3Pool": ("@uniswap/v3-core", "@uniswap/v3-core/artifacts/contracts/UniswapV3Pool.sol/UniswapV3Pool.json"),
    "SwapRouter": ("@uniswap/v3-periphery", "@uniswap/v3-periphery/artifacts/contracts/SwapRouter.sol/SwapRouter.json"),
    "QuoterV2": ("@uniswap/v3-periphery", "@uniswap/v3-periphery/artifacts/contracts/lens/QuoterV2.sol/QuoterV2.json"),
    "UniswapInterfaceMulticall": (
        "@uniswap/v3-periphery",
        "@uniswap/v3-periphery/artifacts/contracts/lens/UniswapInterfaceMulticall.sol/UniswapInterfaceMulticall.json",
    ),
    "UniswapV2Factory": ("@uniswap/v2-core", "@uniswap/v2-core/build/UniswapV2Factory.json"),
    "UniswapV2Pair": ("@uniswap/v2-core", "@uniswap/v2-core/build/UniswapV2Pair.json"),
    "UniswapV2Router02": ("@uniswap/v2-periphery", "@uniswap/v2-periphery/build/UniswapV2Router02.json"),
    "PoolManager": ("@uniswap/v4-core", "@uniswap/v4-core/out/PoolManager.sol/PoolManager.json"),
    "StateView": ("@uniswap/v4-periphery", "@uniswap/v4-periphery/foundry-out/StateView.sol/StateView.json"),
    "PositionManager": ("@uniswap/v4-periphery",
                        "@uniswap/v4-periphery/foundry-out/PositionManager.sol/PositionManager.json"),
    "V4Quoter": ("@uniswap/v4-periphery", "@uniswap/v4-periphery/foundry-out/V4Quoter.sol/V4Quoter.json"),
    "UniversalRouter": ("@uniswap/universal-router",
                        "@uniswap/universal-router/artifacts/contracts/UniversalRouter.sol/UniversalRouter.json"),
}
#: Permit2 ships no build artifact on npm; v4-periphery's copy of the permit2 repo embeds its runtime code
#: (immutables filled in for Foundry's test chain) as the one ``hex"..."`` literal of this Foundry test helper,
#: which the devnet etches at the canonical address.
PERMIT2_SOURCE = ("@uniswap/v4-periphery", "@uniswap/v4-periphery/lib/permit2/test/utils/DeployPermit2.sol")


def node_modules() -> Path:
    """``$CROSSHEDGE_NODE_MODULES``, else node_modules beside the repo's package.json."""
    configured = os.environ.get(NODE_MODULES_ENV)
    return Path(configured) if configured else _repo_node_modules()


@cache
def _repo_node_modules() -> Path:
    return Path(__file__).resolve().parents[2] / "node_modules"


def runtime_code(path: Path) -> bytes:
    """The runtime code (``deployedBytecode``) of a hardhat, truffle or waffle artifact file.

    Raises OSError if the file cannot be read and ValueError if it holds no runtime code or unlinked libraries.
    """
    data = json.loads(path.read_text())
    code = data.get("deployedBytecode")
    if isinstance(code, dict):
        code = code.get("object")
    if not code:
        code = data.get("evm", {}).get("deployedBytecode", {}).get("object")
    if not isinstance(code, str) or not code.removeprefix("0x"):
        raise ValueError("it holds no deployedBytecode")
    if "__" in code:
        raise ValueError("its runtime code has unlinked library references")
    return bytes.fromhex(code.removeprefix("0x"))


def artifact_code(name: str, embeds: tuple[str, ...] = ()) -> CodeExpectation:
    """What an address holding the artifact ``name``'s contract must hold; ``embeds`` names its immutables."""
    return _artifact_code(name, embeds, node_modules())


@cache
def _artifact_code(name: str, embeds: tuple[str, ...], root: Path) -> CodeExpectation:
    package, rel = ARTIFACTS[name]
    label = f"{name} ({package})"
    path = root / rel
    try:
        runtime = runtime_code(path)
    except OSError:
        return CodeExpectation(contract=label, embeds=embeds, unavailable=f"{path} is missing (run `npm ci`)")
    except ValueError as exc:
        return CodeExpectation(contract=label, embeds=embeds, unavailable=f"{path} is not usable: {exc}")
    return CodeExpectation.of_runtime(label, runtime, embeds)


def permit2_code() -> CodeExpectation:
    """The code a venue's ``permit2`` must hold: the canonical Permit2 runtime (see :data:`PERMIT2_SOURCE`) with
    its two immutables, the chain id and EIP-712 domain separator it was deployed with, masked.

    The literal was built on Foundry's test chain (31337), so those slots hold that chain's values; masking them
    lets the Permit2 any chain deployed verify from npm alone (Permit2 rebuilds the separator when the chain id
    differs from its cached one, so the masked values never decide what a signature means).
    """
    return _permit2_code(node_modules())


#: Permit2's EIP712 reads its cache as ``block.chainid == _CACHED_CHAIN_ID ? _CACHED_DOMAIN_SEPARATOR : build()``:
#: CHAINID, PUSH32 <chain id>, SUB, PUSH2 <build>, JUMPI, PUSH32 <domain separator>.
_CACHED_DOMAIN = re.compile(rb"\x46\x7f(.{32})\x03\x61..\x57\x7f(.{32})", re.DOTALL)


def _permit2_slots(runtime: bytes) -> tuple[int, ...] | None:
    """The offsets of Permit2's chain id and domain separator slots, every place its code reads them; None when
    the code does not read them as Permit2's EIP712 does."""
    found = list(_CACHED_DOMAIN.finditer(runtime))
    if len(found) != 1:
        return None
    chain_id, separator = found[0].group(1), found[0].group(2)
    slots = [i + 1 for i in range(len(runtime) - 32) if runtime[i] == 0x7F
             and runtime[i + 1 : i + 33] in (chain_id, separator)]
    return tuple(slots)


@cache
def _permit2_code(root: Path) -> CodeExpectation:
    package, rel = PERMIT2_SOURCE
    label, path = f"Permit2 ({package})", root / rel
    embeds = ("chain id", "domain separator")
    try:
        found = re.findall(r'hex"([0-9a-fA-F]+)"', path.read_text())
    except OSError:
        return CodeExpectation(contract=label, embeds=embeds, unavailable=f"{path} is missing (run `npm ci`)")
    if len(found) != 1:
        return CodeExpectation(contract=label, embeds=embeds, unavailable=f"{path} is not usable: it holds "
                               f"{len(found)} hex literals, not the one with Permit2's runtime code")
    runtime = bytes.fromhex(found[0])
    slots = _permit2_slots(runtime)
    if slots is None:
        return CodeExpectation(contract=label, embeds=embeds, unavailable=f"{path} is not usable: its code does "
                               "not read a cached chain id and domain separator as Permit2 does")
    # Its immutables are filled in (not zero PUSH32s), so immutable_slots cannot find them: they are located above.
    return CodeExpectation(contract=label, code_hash=masked_keccak(runtime, slots), size=len(runtime),
                           immutables=slots, embeds=embeds)


def multicall_code() -> CodeExpectation:
    """The code the chain's ``multicall`` must hold: UniswapInterfaceMulticall (no immutables)."""
    return artifact_code("UniswapInterfaceMulticall")


__all__ = ["ARTIFACTS", "NODE_MODULES_ENV", "PERMIT2_SOURCE", "artifact_code", "multicall_code", "node_modules",
           "permit2_code", "runtime_code"]
