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
import hashlib
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

from crosshedge import AdapterError

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
# solc-js reads the standard JSON on stdin and writes its answer to stdout.
_COMPILE_JS = (
    "const solc = require('solc'); let s = '';"
    "process.stdin.on('data', d => s += d).on('end', () => process.stdout.write(solc.compile(s)));"
)
#: Same variable as adapters.uniswap.artifacts' (importing it from there would make adapters.rpc import a venue
#: package that imports adapters.rpc: a cycle).
NODE_MODULES_ENV = "CROSSHEDGE_NODE_MODULES"
_lock = threading.Lock()  # one compile at a time in a process; the cache file is written atomically


def node_modules() -> Path:
    """``$CROSSHEDGE_NODE_MODULES``, else node_modules beside the repo's package.json."""
    configured = os.environ.get(NODE_MODULES_ENV)
    return Path(configured) if configured else _REPO / "node_modules"


def cache_dir() -> Path:
    """``$CROSSHEDGE_LENS_DIR``, else ``.crosshedge/lens`` beside the repo's package.json."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else _REPO / ".crosshedge" / "lens"


def solc_version() -> str:
    """The version of the npm ``solc`` package installed; AdapterError when it is missing."""
    manifest = node_modules() / "solc" / "package.json"
    try:
        return str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError) as exc:
        raise AdapterError(f"read lens: npm package solc is not installed at {manifest.parent} ({exc}); "
                           "run ./run (npm ci)") from None


def build_key() -> str:
    """What the cached build depends on: the source, the compiler version and the settings."""
    digest = hashlib.sha256(SOURCE.read_bytes())
    digest.update(solc_version().encode())
    digest.update(json.dumps(SETTINGS, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def build(force: bool = False) -> Path:
    """Compile the lens unless a build for this source, compiler and settings is cached; returns the cache file."""
    path = cache_dir() / f"{CONTRACT}-{build_key()}.json"
    with _lock:
        if path.exists() and not force:
            return path
        code = _compile()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"contract": CONTRACT, "solc": solc_version(), "key": build_key(),
                                   "runtime": "0x" + code.hex()}))
        tmp.replace(path)  # atomic: a concurrent reader sees the whole file or none
    return path


@functools.cache
def lens_runtime_code() -> bytes:
    """The lens's runtime code (compiled at first use when not cached); AdapterError when it cannot be built."""
    path = build()
    try:
        runtime = json.loads(path.read_text())["runtime"]
        return bytes.fromhex(runtime.removeprefix("0x"))
    except (OSError, ValueError, KeyError) as exc:
        raise AdapterError(f"read lens: the cached build {path} is unreadable ({exc}); delete it") from None


def _compile() -> bytes:
    node = shutil.which("node")
    if node is None:
        raise AdapterError("read lens: node is not on PATH, so ReadLens.sol cannot be compiled")
    request = {"language": "Solidity", "sources": {SOURCE.name: {"content": SOURCE.read_text()}}, "settings": SETTINGS}
    env = dict(os.environ, NODE_PATH=str(node_modules()))
    try:
        done = subprocess.run([node, "-e", _COMPILE_JS], input=json.dumps(request), capture_output=True, text=True,
                              env=env, timeout=120, check=True)
        answer = json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise AdapterError(f"read lens: solc-js failed to compile {SOURCE.name} ({exc})") from None
    errors = [e.get("formattedMessage", e) for e in answer.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise AdapterError(f"read lens: {SOURCE.name} does not compile: {str(errors[0]).strip()[:300]}")
    try:
        code = answer["contracts"][SOURCE.name][CONTRACT]["evm"]["deployedBytecode"]["object"]
    except KeyError:
        raise AdapterError(f"read lens: solc-js produced no runtime code for {CONTRACT}") from None
    return bytes.fromhex(code)
