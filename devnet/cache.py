"""A cache of deployed devnet chains: each chain's anvil state right after deployment, reloaded instead of
deploying again when nothing that determines it has changed.

An entry is keyed by a hash of everything the deployed state depends on (:func:`cache_key`): the devnet spec
without what does not reach the chains (ports, state dir, the block producer's interval), the installed npm
packages whose bytecode is deployed and anvil's own entry, anvil's version, the devnet's deploy sources and the
Python packages that encode the deployment's calls. A change to any of them is a different key, so an entry is
never invalidated in place; the newest few are kept.

An entry holds, per chain, the gzipped ``anvil_dumpState`` taken after the last deployment transaction and before
the base fee is settled, the chain's deploy state (addresses, venues, code hashes), and the operator wallet it was
funded for: its address, encrypted keystore and password, 0600 in a 0700 directory as in the devnet's state dir
(anvil's dump holds no key). ``manifest.json`` is written last, with each file's sha256, and the entry appears by
one rename, so a reader sees a whole entry or none; a file that does not match its hash makes the entry a miss.

Usage::

    cache = DevnetCache(root / ".crosshedge" / "devnet-cache")
    key = cache_key(spec)
    entry = cache.load(key)            # None: deploy, then cache.store(key, deployed)
    restore_chain(w3, entry.dumps["ethereum"], entry.chains["ethereum"], base_fee_wei)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from web3 import Web3

from crosshedge.config import DevnetSpec
from devnet.anvil import anvil_rpc
from devnet.artifacts import ARTIFACT_PATHS, PERMIT2_RUNTIME_SOURCE, anvil_binary, node_modules_dir
from devnet.deployer import DeployError

#: Bumped when an entry's layout or what it records changes: older entries are then other keys, never misread.
FORMAT = 1
#: A directory for the cache, or ``off``; the default is <root>/.crosshedge/devnet-cache (see DevnetManager).
CACHE_ENV = "CROSSHEDGE_DEVNET_CACHE"
MANIFEST = "manifest.json"
KEEP_ENTRIES = 4
#: The Python packages that encode the deployment's transactions and checks.
_PY_PACKAGES = ("web3", "eth-account", "eth-abi")
_ANVIL_PACKAGE = "@foundry-rs/anvil-linux-amd64"
_DEVNET_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Deployed:
    """What one deployment leaves behind: the operator it funded and, per chain, its deploy state and dump."""

    operator: str
    keystore: str  # the operator's encrypted keystore (JSON text)
    password: str
    chains: dict[str, dict[str, Any]]  # name -> deploy state without URLs
    dumps: dict[str, bytes]  # name -> gzipped anvil_dumpState
    heads: dict[str, int]  # name -> block number of the dump


def _npm_packages(lock_path: Path) -> dict[str, Any]:
    """The lock entries (version, integrity) of the packages whose bytecode is deployed, their nested
    dependencies, and anvil. node_modules' own hidden lockfile says what is installed, the repo's what is wanted."""
    wanted = {_package_of(rel) for rel in (*ARTIFACT_PATHS.values(), PERMIT2_RUNTIME_SOURCE)} | {_ANVIL_PACKAGE}
    try:
        packages: dict[str, Any] = json.loads(lock_path.read_text()).get("packages", {})
    except (OSError, ValueError):
        return {"missing": str(lock_path)}
    return {path: {k: entry.get(k) for k in ("version", "resolved", "integrity")}
            for path, entry in sorted(packages.items())
            if any(path == f"node_modules/{p}" or path.startswith(f"node_modules/{p}/") for p in wanted)}


def _package_of(rel: str) -> str:
    parts = rel.split("/")
    return "/".join(parts[:2]) if rel.startswith("@") else parts[0]


def _anvil_version() -> str:
    try:
        out = subprocess.run([str(anvil_binary()), "--version"], capture_output=True, text=True, timeout=30,
                             check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown: {exc}"  # a key no entry has: the devnet deploys (and says why anvil is missing)
    return out.stdout.strip()


def _sources() -> dict[str, str]:
    # Every top-level devnet module, not a list of the deploy's: a module the deploy starts importing is covered.
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(_DEVNET_DIR.glob("*.py"))}


def key_inputs(spec: DevnetSpec) -> dict[str, Any]:
    """Everything the deployed chains depend on, as JSON-able values (:func:`cache_key` hashes them)."""
    # The demo's inventory enters its own deployment's key through operator_inventory (DevnetSpec.for_demo).
    chains = {name: chain.model_dump(mode="json", exclude={"port", "demo_inventory", "demo_perp_collateral"})
              for name, chain in spec.chains.items()}
    versions: dict[str, str | None] = {}
    for package in _PY_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    nm = node_modules_dir()
    lock = nm / ".package-lock.json"
    return {
        "format": FORMAT,
        "spec": {"prices": spec.prices, "chains": chains},
        "npm": _npm_packages(lock if lock.exists() else nm.parent / "package-lock.json"),
        "anvil": _anvil_version(),
        "sources": _sources(),
        "python": versions,
    }


def cache_key(spec: DevnetSpec) -> str:
    """A hex digest naming the cache entry for ``spec``'s deployment on this install."""
    text = json.dumps(key_inputs(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


class DevnetCache:
    """Entries under ``root``, one directory per key."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def entry(self, key: str) -> Path:
        return self.root / key

    def load(self, key: str) -> Deployed | None:
        """The entry for ``key``, or None when there is none. An entry that is not whole (a missing file, a hash
        mismatch, unreadable JSON) is removed, so the deployment that follows can store a good one, and raises
        CacheEntryError saying why."""
        entry = self.entry(key)
        if not (entry / MANIFEST).exists():
            self.discard(key)  # not one this class wrote (they appear whole); it would block storing a good one
            return None
        try:
            return self._read(entry)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.discard(key)
            raise CacheEntryError(f"entry {entry} is unusable ({exc})") from None

    def _read(self, entry: Path) -> Deployed:
        manifest = json.loads((entry / MANIFEST).read_text())
        files: dict[str, bytes] = {}
        for name, digest in manifest["files"].items():
            data = (entry / name).read_bytes()
            if _sha(data) != digest:
                raise ValueError(f"{name} does not match its sha256")
            files[name] = data
        chains = json.loads(files["chains.json"])
        names = list(chains)
        return Deployed(operator=manifest["operator"], keystore=files["operator.keystore.json"].decode(),
                        password=files["operator.password"].decode(), chains=chains,
                        dumps={n: files[f"chain-{n}.state.gz"] for n in names},
                        heads={n: int(manifest["heads"][n]) for n in names})

    def store(self, key: str, deployed: Deployed) -> Path:
        """Write the entry for ``key`` (whole, by rename); an entry another process stored first is kept."""
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)  # the operator's keystore and password live here, as in the state dir
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=self.root))  # 0700
        try:
            files = {"chains.json": json.dumps(deployed.chains).encode(),  # in order: the generated config keeps it
                     "operator.keystore.json": deployed.keystore.encode(),
                     "operator.password": deployed.password.encode(),
                     **{f"chain-{n}.state.gz": dump for n, dump in deployed.dumps.items()}}
            for name, data in files.items():
                _write_private(tmp / name, data)
            manifest = {"format": FORMAT, "key": key, "created": time.time(), "operator": deployed.operator,
                        "heads": deployed.heads, "files": {n: _sha(d) for n, d in files.items()}}
            _write_private(tmp / MANIFEST, json.dumps(manifest, indent=2).encode())  # last: the entry is whole
            try:
                tmp.rename(self.entry(key))
            except OSError:  # another session stored the same key meanwhile: same inputs, same deployment
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._prune(keep=key)
        return self.entry(key)

    def discard(self, key: str) -> None:
        shutil.rmtree(self.entry(key), ignore_errors=True)

    def _prune(self, keep: str) -> None:
        """Keep the newest entries; a stale temporary directory (a store that died) goes after an hour."""
        entries = sorted((p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                         key=lambda p: p.stat().st_mtime, reverse=True)
        for old in [p for p in entries if p.name != keep][KEEP_ENTRIES - 1:]:
            shutil.rmtree(old, ignore_errors=True)
        for tmp in self.root.glob(".tmp-*"):
            with contextlib.suppress(OSError):
                if time.time() - tmp.stat().st_mtime > 3600:
                    shutil.rmtree(tmp, ignore_errors=True)


class CacheEntryError(DeployError):
    """A cache entry that exists but cannot be used; the devnet deploys afresh instead."""


def dump_chain(w3: Web3) -> tuple[bytes, int]:
    """The chain's whole state (accounts, code, storage, blocks, receipts) gzipped, and its head block number."""
    head = int(w3.eth.block_number)
    text = anvil_rpc(w3, "anvil_dumpState")
    if not isinstance(text, str) or not text.startswith("0x"):
        raise DeployError(f"anvil_dumpState returned {type(text).__name__}, not hex")
    return bytes.fromhex(text[2:]), head


def restore_chain(w3: Web3, name: str, dump: bytes, state: dict[str, Any], head: int, exact: bool = True) -> None:
    """Load ``dump`` into a fresh anvil and check it is the recorded deployment: the head block is the one
    dumped (``exact`` False: at least that one, for a chain anvil mines on a timer) and every contract's runtime
    code hashes as recorded (CacheEntryError otherwise).

    The clock is set to now before the next block: the dumped head is as old as the cache, and a head that old
    reads as stale against the wall clock.
    """
    if anvil_rpc(w3, "anvil_loadState", "0x" + dump.hex()) is not True:
        raise CacheEntryError(f"devnet {name}: anvil_loadState refused the cached state")
    found = int(w3.eth.block_number)
    if found < head or (exact and found != head):
        raise CacheEntryError(f"devnet {name}: cached state loaded at block {found}, expected {head}")
    for address, digest in state.get("code_hashes", {}).items():
        if "0x" + bytes(Web3.keccak(bytes(w3.eth.get_code(address)))).hex() != digest:
            raise CacheEntryError(f"devnet {name}: {address} does not hold the cached deployment's code")
    anvil_rpc(w3, "evm_setTime", int(time.time()))


__all__ = ["CACHE_ENV", "CacheEntryError", "Deployed", "DevnetCache", "cache_key", "dump_chain", "key_inputs",
           "restore_chain"]
