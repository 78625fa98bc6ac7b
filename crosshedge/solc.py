"""The project's own contracts compiled offline with the npm ``solc`` package (solc-js, pinned in package.json),
each build cached by the hash of its source, the compiler version and the settings. The bytecode is never
committed: a process that finds no cached build compiles at first use (a few seconds).

Two users, each with its own cache directory and error: the read lens (adapters.rpc.lens.build, its runtime code
for an eth_call state override) and the devnet's contracts (devnet.contracts_build, e.g. the Chainlink-style
aggregator Perp's index price reads).

Usage::

    build = SolcBuild(source=Path("ReadLens.sol"), contract="ReadLens", settings=SETTINGS, cache_dir=cache,
                      node_modules=nm, what="read lens", error=AdapterError)
    out = build.output()       # the contract's standard-JSON output: out["evm"]["deployedBytecode"]["object"], ...
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crosshedge.errors import CrosshedgeError

# solc-js reads the standard JSON on stdin and writes its answer to stdout.
_COMPILE_JS = (
    "const solc = require('solc'); let s = '';"
    "process.stdin.on('data', d => s += d).on('end', () => process.stdout.write(solc.compile(s)));"
)
_lock = threading.Lock()  # one compile at a time in a process; each cache file is written atomically
#: Part of every build's key: a cache file written in another layout is never read as this one.
_FORMAT = b"solc-build-2"


@dataclass(frozen=True)
class SolcBuild:
    """One contract of one source file, compiled with ``settings`` (standard JSON) into ``cache_dir``. Failures are
    ``error`` (the caller's kind of error) with a sentence starting with ``what``."""

    source: Path
    contract: str
    settings: dict[str, Any]
    cache_dir: Path
    node_modules: Path
    what: str
    error: type[CrosshedgeError]

    def solc_version(self) -> str:
        """The version of the npm ``solc`` package installed."""
        manifest = self.node_modules / "solc" / "package.json"
        try:
            return str(json.loads(manifest.read_text())["version"])
        except (OSError, ValueError, KeyError) as exc:
            raise self.error(f"{self.what}: npm package solc is not installed at {manifest.parent} ({exc}); run "
                             "./run (npm ci)") from None

    def key(self) -> str:
        """What the cached build depends on: the source, the compiler version and the settings."""
        if not self.source.exists():
            raise self.error(f"{self.what}: {self.source} does not exist (no contract {self.contract} to compile)")
        digest = hashlib.sha256(_FORMAT)
        digest.update(self.source.read_bytes())
        digest.update(self.solc_version().encode())
        digest.update(json.dumps(self.settings, sort_keys=True).encode())
        return digest.hexdigest()[:16]

    def path(self) -> Path:
        return self.cache_dir / f"{self.contract}-{self.key()}.json"

    def build(self, force: bool = False) -> Path:
        """Compile unless a build of this source, compiler and settings is cached; returns the cache file."""
        path = self.path()
        with _lock:
            if path.exists() and not force:
                return path
            output = self._compile()
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"contract": self.contract, "solc": self.solc_version(), "key": self.key(),
                                       "output": output}))
            tmp.replace(path)  # atomic: a concurrent reader sees the whole file or none
        return path

    def output(self, force: bool = False) -> dict[str, Any]:
        """The contract's compiler output (what ``settings``' outputSelection asked for), built when not cached."""
        path = self.build(force)
        try:
            output = json.loads(path.read_text())["output"]
        except (OSError, ValueError, KeyError) as exc:
            raise self.error(f"{self.what}: the cached build {path} is unreadable ({exc}); delete it") from None
        if not isinstance(output, dict):
            raise self.error(f"{self.what}: the cached build {path} holds no compiler output; delete it")
        return output

    def _compile(self) -> dict[str, Any]:
        node = shutil.which("node")
        if node is None:
            raise self.error(f"{self.what}: node is not on PATH, so {self.source.name} cannot be compiled")
        request = {"language": "Solidity", "sources": {self.source.name: {"content": self.source.read_text()}},
                   "settings": self.settings}
        env = dict(os.environ, NODE_PATH=str(self.node_modules))
        try:
            done = subprocess.run([node, "-e", _COMPILE_JS], input=json.dumps(request), capture_output=True,
                                  text=True, env=env, timeout=120, check=True)
            answer = json.loads(done.stdout)
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            raise self.error(f"{self.what}: solc-js failed to compile {self.source.name} ({exc})") from None
        errors = [e.get("formattedMessage", e) for e in answer.get("errors", []) if e.get("severity") == "error"]
        if errors:
            raise self.error(f"{self.what}: {self.source.name} does not compile: {str(errors[0]).strip()[:300]}")
        try:
            output = answer["contracts"][self.source.name][self.contract]
        except KeyError:
            raise self.error(f"{self.what}: solc-js produced no output for {self.contract}") from None
        return dict(output)


__all__ = ["SolcBuild"]
