"""The read lens's runtime code: ``ReadLens.sol`` compiled offline with the npm ``solc`` package (solc-js, pinned
in package.json), cached by the hash of its source, compiler version and settings under ``.crosshedge/lens/``.

The bytecode is never committed: ``./run`` builds it after ``npm ci`` (``python -m adapters.rpc.lens``), and a
process that finds no cached build compiles it at first use (about 2 s). The cache directory is the repo's
``.crosshedge/lens`` or ``$CROSSHEDGE_LENS_DIR``; node_modules is the one the Uniswap artifacts come from.

Usage::

    code = lens_runtime_code()  # bytes of the deployed code, for an eth_call state override
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from crosshedge import AdapterError, SolcBuild

SOURCE = Path(__file__).with_name("ReadLens.sol")
_REPO = Path(__file__).resolve().parents[3]
CONTRACT = "ReadLens"
#: Environment variable naming the directory the compiled lens is cached in (default: the repo's .crosshedge/lens).
CACHE_ENV = "CROSSHEDGE_LENS_DIR"
# via-IR: the walk keeps more values live than the legacy code generator's stack allows. Paris: no PUSH0, so the
# same code runs on chains that have not adopted Shanghai.
SETTINGS = {
    "optimizer": {"enabled": True, "runs": 200},
    "viaIR": True,
    "evmVersion": "paris",
    "outputSelection": {"*": {CONTRACT: ["evm.deployedBytecode.object"]}},
}
#: Same variable as adapters.uniswap.artifacts' (importing it from there would make adapters.rpc import a venue
#: package that imports adapters.rpc: a cycle).
NODE_MODULES_ENV = "CROSSHEDGE_NODE_MODULES"


def node_modules() -> Path:
    """``$CROSSHEDGE_NODE_MODULES``, else node_modules beside the repo's package.json."""
    configured = os.environ.get(NODE_MODULES_ENV)
    return Path(configured) if configured else _REPO / "node_modules"


def cache_dir() -> Path:
    """``$CROSSHEDGE_LENS_DIR``, else ``.crosshedge/lens`` beside the repo's package.json."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else _REPO / ".crosshedge" / "lens"


def lens_build() -> SolcBuild:
    return SolcBuild(source=SOURCE, contract=CONTRACT, settings=SETTINGS, cache_dir=cache_dir(),
                     node_modules=node_modules(), what="read lens", error=AdapterError)


def build(force: bool = False) -> Path:
    """Compile the lens unless a build for this source, compiler and settings is cached; returns the cache file."""
    return lens_build().build(force)


@functools.cache
def lens_runtime_code() -> bytes:
    """The lens's runtime code (compiled at first use when not cached); AdapterError when it cannot be built."""
    build = lens_build()
    try:
        code = str(build.output()["evm"]["deployedBytecode"]["object"])
        return bytes.fromhex(code.removeprefix("0x"))
    except (KeyError, TypeError, ValueError) as exc:
        raise AdapterError(f"read lens: the cached build {build.path()} holds no runtime code ({exc}); delete it") \
            from None
