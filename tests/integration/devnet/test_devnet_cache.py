"""The devnet's deployment cache: a warm start is the cold start it cached, and a bad entry is deployed afresh.

The module runs a devnet of its own from the repo's chains.yaml (ports free beside the session's devnet, the block
producer off so the heads stay where ``up`` left them) against a cache directory of its own: ``cold`` deploys it
once and keeps a copy of the entry it stored, which each test puts back (and spoils) before its own ``up``.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from eth_account import Account
from web3 import HTTPProvider, Web3

from crosshedge.config import load_config
from devnet import DevnetCache, DevnetManager, cache_key, load_artifact
from devnet.cache import CacheEntryError
from tests.integration.conftest import REPO_ROOT, _port_offset, write_test_config

pytestmark = pytest.mark.integration


@dataclass
class Cold:
    """The cold start: its devnet (down again), state, generated config and readings, and its cache entry."""

    manager: DevnetManager
    cache: DevnetCache
    key: str
    pristine: Path  # a copy of the entry the cold start stored
    state: dict[str, Any]
    generated: str
    readings: dict[str, Any]

    def up(self) -> dict[str, Any]:
        try:
            return self.manager.up()
        except BaseException:
            self.manager.down()
            raise

    def put_back(self) -> Path:
        """The cold start's entry, as it stored it; returns its directory."""
        entry = self.cache.entry(self.key)
        shutil.rmtree(entry, ignore_errors=True)
        shutil.copytree(self.pristine, entry)
        return entry


@pytest.fixture(scope="module")
def cold(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cold]:
    tmp = tmp_path_factory.mktemp("devnet-cache")
    ports = [c["port"] for c in yaml.safe_load((REPO_ROOT / "chains.yaml").read_text())["devnet"]["chains"].values()]
    spec = load_config(write_test_config(tmp, _port_offset(ports))).raw.devnet
    assert spec is not None
    spec = spec.model_copy(update={"block_interval_s": 0.0})  # no producer: the heads stay put between readings
    manager = DevnetManager(spec, root=tmp, cache_dir=tmp / "cache")
    try:
        state = manager.up()
        assert state["cache"] == "miss"
        cache, key = DevnetCache(tmp / "cache"), cache_key(spec)
        shutil.copytree(cache.entry(key), tmp / "pristine")
        yield Cold(manager, cache, key, tmp / "pristine", state,
                   (manager.state_dir / "chains.generated.yaml").read_text(), readings(state))
    finally:
        manager.down()


def _call(w3: Web3, artifact: str, address: str, fn: str, *args: Any) -> Any:
    contract = w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(artifact).abi)
    return getattr(contract.functions, fn)(*args).call()


def readings(state: dict[str, Any]) -> dict[str, Any]:
    """Per chain at its head: the head number, every pool's price and liquidity (V3 slot0, V2 reserves, V4 slot0
    from StateView), the balances of every token in every pool and wallet, and the dev accounts' nonces."""
    out: dict[str, Any] = {}
    for name, chain in state["chains"].items():
        w3 = Web3(HTTPProvider(chain["rpc_url"], request_kwargs={"timeout": 30}))
        pools: dict[str, Any] = {}
        holders = [state["operator"], *chain["accounts"].values()]
        for venue, section in chain["venues"].items():
            if section["adapter"] == "uniswap_v3":
                pools[venue] = [list(_call(w3, "UniswapV3Pool", section["pool"], "slot0")),
                                _call(w3, "UniswapV3Pool", section["pool"], "liquidity")]
                holders.append(section["pool"])
            elif section["adapter"] == "uniswap_v2":
                pools[venue] = list(_call(w3, "UniswapV2Pair", section["pair"], "getReserves"))[:2]
                holders.append(section["pair"])
            # Route venues are made of pools listed here or under v4; V4 pools live in the singleton PoolManager.
        v4 = chain.get("uniswap_v4") or {}
        for pool, spec in v4.get("pools", {}).items():
            pool_id = bytes.fromhex(spec["pool_id"][2:])
            pools[f"v4:{pool}"] = [list(_call(w3, "StateView", v4["state_view"], "getSlot0", pool_id)),
                                   _call(w3, "StateView", v4["state_view"], "getLiquidity", pool_id)]
        if v4:
            holders.append(v4["pool_manager"])
        balances = {f"{token}@{holder}": _call(w3, "ERC20PresetMinterPauser", spec["address"], "balanceOf",
                                               Web3.to_checksum_address(holder))
                    for token, spec in chain["tokens"].items() for holder in holders}
        balances |= {f"ETH@{h}": w3.eth.get_balance(Web3.to_checksum_address(h)) for h in holders}
        out[name] = {"head": w3.eth.block_number, "pools": pools, "balances": balances,
                     "nonces": {role: w3.eth.get_transaction_count(a) for role, a in chain["accounts"].items()}}
    return out


def _without_timing(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k not in ("cache", "seconds")}


def test_a_warm_start_is_the_cold_start_it_cached(cold: Cold) -> None:
    cold.manager.down()
    entry = cold.put_back()
    warm = cold.up()
    assert warm["cache"] == "hit"
    assert (cold.manager.state_dir / "chains.generated.yaml").read_text() == cold.generated
    assert _without_timing(warm) == _without_timing(cold.state)
    assert readings(warm) == cold.readings  # the same heads, pools, balances and nonces
    for name, chain in warm["chains"].items():
        head = Web3(HTTPProvider(chain["rpc_url"])).eth.get_block("latest")
        assert time.time() - head["timestamp"] < 60, f"{name}: the loaded head is stamped with the cache's age"
    keystore, password = Path(warm["keystore"]), Path(warm["password_file"])
    key = Account.decrypt(json.loads(keystore.read_text()), password.read_text())
    assert Account.from_key(key).address == warm["operator"] == cold.state["operator"]
    assert {oct(p.stat().st_mode & 0o777) for p in (keystore, password, *entry.iterdir())} == {"0o600"}
    assert oct(entry.stat().st_mode & 0o777) == oct(cold.cache.root.stat().st_mode & 0o777) == "0o700"
    assert warm["seconds"] < cold.state["seconds"]


def test_an_entry_anvil_refuses_is_deployed_afresh_and_replaced(cold: Cold) -> None:
    """Whole in the manifest's eyes (the hash is updated) but not a state anvil loads: the chains have been
    started by then, so this is the fallback that stops them and deploys."""
    cold.manager.down()
    entry = cold.put_back()
    dump = entry / "chain-base.state.gz"
    dump.write_bytes(b"\x1f\x8b not a state")
    manifest = json.loads((entry / "manifest.json").read_text())
    manifest["files"][dump.name] = hashlib.sha256(dump.read_bytes()).hexdigest()
    (entry / "manifest.json").write_text(json.dumps(manifest))

    again = cold.up()
    assert again["cache"] == "rebuilt"
    assert again["operator"] != cold.state["operator"]  # deployed afresh, for a new operator
    for name, chain in again["chains"].items():
        w3 = Web3(HTTPProvider(chain["rpc_url"]))
        for address, digest in chain["code_hashes"].items():
            assert "0x" + bytes(Web3.keccak(bytes(w3.eth.get_code(address)))).hex() == digest, (name, address)
    funded = readings(again)
    assert all(v > 0 for chain in funded.values() for k, v in chain["balances"].items()
               if k.endswith(again["operator"])), "the new operator is funded"
    assert _without_timing(again)["chains"].keys() == cold.state["chains"].keys()
    cold.manager.down()
    assert cold.up()["cache"] == "hit"  # the entry was replaced by a good one


def test_a_torn_entry_is_a_miss_and_is_removed(cold: Cold) -> None:
    """A file that does not match its hash (a truncated copy) or no manifest (a store that died before its last
    file) is never loaded into a chain: the entry goes, and the next deployment stores a whole one."""
    dump = cold.put_back() / "chain-arbitrum.state.gz"
    dump.write_bytes(dump.read_bytes()[:1000])
    with pytest.raises(CacheEntryError, match=re.escape("chain-arbitrum.state.gz does not match its sha256")):
        cold.cache.load(cold.key)
    assert not cold.cache.entry(cold.key).exists()
    (cold.put_back() / "manifest.json").unlink()
    assert cold.cache.load(cold.key) is None
    assert not cold.cache.entry(cold.key).exists()
    assert cold.cache.load(cold.key) is None  # nothing at all is a miss too
