"""The devnet's own contracts (``devnet/contracts/*.sol``; so far the Chainlink-style PriceAggregator Perp's index
price reads), compiled offline with the npm ``solc`` package like the read lens (crosshedge.solc), cached under
``.crosshedge/devnet-contracts/`` (or ``$CROSSHEDGE_DEVNET_CONTRACTS_DIR``). The bytecode is never committed.

Usage::

    art = compiled_artifact("PriceAggregator")  # devnet.artifacts.Artifact: ABI and creation code
    w3.eth.contract(abi=art.abi, bytecode=art.bytecode).constructor(8, "ETH / USD").transact(...)
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from crosshedge import SolcBuild
from devnet.artifacts import Artifact, node_modules_dir
from devnet.deployer import DeployError

CONTRACTS_DIR = Path(__file__).with_name("contracts")
_REPO = Path(__file__).resolve().parents[1]
#: Environment variable naming the directory compiled devnet contracts are cached in.
CACHE_ENV = "CROSSHEDGE_DEVNET_CONTRACTS_DIR"
# Paris: no PUSH0, the same target the read lens uses (anvil runs anything newer, so this is only consistency).
SETTINGS = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "paris",
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
}


def cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else _REPO / ".crosshedge" / "devnet-contracts"


def contract_build(name: str) -> SolcBuild:
    """The build of ``devnet/contracts/<name>.sol``'s contract ``name``."""
    return SolcBuild(source=CONTRACTS_DIR / f"{name}.sol", contract=name, settings=SETTINGS, cache_dir=cache_dir(),
                     node_modules=node_modules_dir(), what="devnet", error=DeployError)


@functools.cache
def compiled_artifact(name: str) -> Artifact:
    """The ABI and creation code of the devnet contract ``name`` (compiled at first use when not cached)."""
    build = contract_build(name)
    out = build.output()
    try:
        return Artifact(name=name, abi=out["abi"], bytecode="0x" + str(out["evm"]["bytecode"]["object"]))
    except (KeyError, TypeError) as exc:
        raise DeployError(f"devnet: the cached build {build.path()} holds no creation code ({exc}); delete it") \
            from None


__all__ = ["CACHE_ENV", "CONTRACTS_DIR", "compiled_artifact", "contract_build"]
