"""Real parts for integration tests: a three-chain anvil devnet running the official Uniswap bytecode.

``devnet`` starts its own devnet (ports offset from the default so a running demo is left alone; one per xdist
worker) from the repo's chains.yaml, once per session. ``chain_snapshot`` reverts every chain after a test.

Every devnet the tests start (the session's, the demo's, ``crosshedge devnet up`` in a subprocess) shares the
repo's deployment cache, .crosshedge/devnet-cache (devnet.cache): the first deploys and stores, the others load
it, and a later session with the same inputs deploys nothing. ``CROSSHEDGE_DEVNET_CACHE`` set (a directory, or
``off``) is left as it is.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from web3 import HTTPProvider, Web3
from web3.types import RPCEndpoint, TxParams, Wei

from crosshedge.config import Config, load_config, resolve_generated
from devnet import CACHE_ENV, DevnetManager, free_port_offset

REPO_ROOT = Path(__file__).resolve().parents[2]
DEVNET_CACHE = REPO_ROOT / ".crosshedge" / "devnet-cache"
#: Fees a test's own transactions pay: 100 gwei, five times the highest devnet base fee (ethereum's 20 gwei) and
#: still cheap for the operator's 5 ETH of gas money. web3's default (twice the latest block's base fee) races the
#: block producer, which sets every next block's base fee back to the chain's level after a burst of near-empty
#: automined blocks has lowered it: a transaction priced just before stays pending for good.
DEV_TX_FEES: TxParams = {"maxFeePerGas": Wei(10**11), "maxPriorityFeePerGas": Wei(10**9)}


@dataclass
class DevnetHandle:
    """A running test devnet: its config (resolved), the chains.yaml that describes it, and its state."""

    config: Config
    config_path: Path
    state: dict[str, Any]
    manager: DevnetManager
    _w3: dict[str, Web3] = field(default_factory=dict)

    def w3(self, chain: str) -> Web3:
        """One Web3 per chain for the session."""
        if chain not in self._w3:
            url = self.state["chains"][chain]["rpc_url"]
            self._w3[chain] = Web3(HTTPProvider(url, request_kwargs={"timeout": 30}))
        return self._w3[chain]

    def chains(self) -> list[str]:
        return list(self.state["chains"])

    def reload(self) -> Config:
        """Re-read the config (after a test edits the chains.yaml copy)."""
        return resolve_generated(load_config(self.config_path))


def _port_offset(base_ports: list[int]) -> int:
    """An offset from chains.yaml's ports at which every chain's port is free (a demo, another session or xdist
    worker may hold the others). Workers start their search at different offsets so they do not race."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    # Several test sessions on one machine (people working side by side) start their searches apart.
    start = int(os.environ.get("CROSSHEDGE_TEST_PORT_SLOT", "0"))
    offset = free_port_offset(base_ports, (1000 + 37 * ((worker + 4 * start) * 50 + step) for step in range(200)))
    if offset is None:
        raise RuntimeError(f"no free ports for a test devnet from slot {start}")
    return offset


def write_test_config(tmp: Path, port_offset: int, transfers: bool = False) -> Path:
    """A copy of the repo's chains.yaml with its devnet under ``tmp`` and file paths made absolute; without
    ``transfers`` the optimizer plans no bridge transfer (``optimizer.max_transfers`` 0)."""
    data = yaml.safe_load((REPO_ROOT / "chains.yaml").read_text())
    data["devnet"]["state_dir"] = str(tmp / "devnet")
    for chain in data["devnet"]["chains"].values():
        chain["port"] += port_offset
    # The devnet bridges (its SpokePools and relayer), but the session's shared tests plan hedges the way they always
    # have: no transfer is planned unless a test turns routes on (tests/integration/orchestrator/test_transfers.py).
    if not transfers:
        data.setdefault("optimizer", {})["max_transfers"] = 0
    for source in data.get("positions", {}).values():
        path = source.get("settings", {}).get("path")
        if path and not Path(path).is_absolute():
            source["settings"]["path"] = str(REPO_ROOT / path)
    out = tmp / "chains.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


@pytest.fixture(scope="session", autouse=True)
def devnet_cache_env() -> Iterator[None]:
    """Point every devnet of the session at the repo's deployment cache (see the module docstring)."""
    with pytest.MonkeyPatch.context() as patch:
        if CACHE_ENV not in os.environ:
            patch.setenv(CACHE_ENV, str(DEVNET_CACHE))
        yield


@pytest.fixture(scope="session")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevnetHandle]:
    tmp = tmp_path_factory.mktemp("devnet")
    ports = [c["port"] for c in yaml.safe_load((REPO_ROOT / "chains.yaml").read_text())["devnet"]["chains"].values()]
    config_path = write_test_config(tmp, _port_offset(ports))
    base = load_config(config_path)
    assert base.raw.devnet is not None
    manager = DevnetManager(base.raw.devnet, root=tmp)
    state = manager.up()
    try:
        yield DevnetHandle(config=resolve_generated(base), config_path=config_path, state=state, manager=manager)
    finally:
        manager.down()


@contextlib.contextmanager
def held_still(devnet: DevnetHandle) -> Iterator[None]:
    """No block is mined on any chain inside the block (automine off: the block producer leaves such a chain alone).

    For reads that must see one block: anvil may answer a call pinned to the head from the next block when one is
    mined meanwhile (the adapters rightly refuse that read with HeadMovedError, and the snapshot reads again). A test
    that must see two reads at one block holds the chains still instead of retrying. No transaction can be mined
    inside it either: a test that sends some does so between two such blocks.
    """
    for chain in devnet.chains():
        devnet.w3(chain).provider.make_request(RPCEndpoint("evm_setAutomine"), [False])
    time.sleep(0.3)  # a mine the producer began before it saw automine off lands now, not during the test
    try:
        yield
    finally:
        for chain in devnet.chains():
            devnet.w3(chain).provider.make_request(RPCEndpoint("evm_setAutomine"), [True])


@pytest.fixture
def still_chains(devnet: DevnetHandle) -> Iterator[None]:
    """The whole test runs :func:`held_still`."""
    with held_still(devnet):
        yield


@pytest.fixture
def chain_snapshot(devnet: DevnetHandle) -> Iterator[dict[str, str]]:
    """evm_snapshot every chain before the test and evm_revert after it; yields the snapshot ids.

    anvil's evm_revert restores state but not the fee market: the next block's base fee stays wherever the test's
    blocks pushed it (40 near-empty blocks take 20 gwei to 0.1 gwei). It is put back too, so no test leaks gas prices,
    and so is the clock (evm_revert winds it back to the snapshot's time), with a fresh head block.
    """
    ids, next_base_fee = {}, {}
    for chain in devnet.chains():
        w3 = devnet.w3(chain)
        ids[chain] = w3.provider.make_request(RPCEndpoint("evm_snapshot"), [])["result"]
        next_base_fee[chain] = w3.eth.get_block("pending")["baseFeePerGas"]
    yield ids
    for chain, snap in ids.items():
        w3 = devnet.w3(chain)
        w3.provider.make_request(RPCEndpoint("evm_setAutomine"), [True])
        reverted = w3.provider.make_request(RPCEndpoint("evm_revert"), [snap])
        # A failed revert would leak this test's trades into every later test: fail loudly instead.
        assert reverted.get("result") is True, f"evm_revert on {chain} failed: {reverted}"
        # evm_revert also winds anvil's clock back to the snapshot: without this, every later block would be
        # stamped that much in the past, and the heads would look stale against the wall clock. The head itself
        # is the snapshot's old block until the next one: one block is mined now, so the next test's first read
        # never sees a head as old as this test was long (a stale-head refusal).
        w3.provider.make_request(RPCEndpoint("evm_setTime"), [int(time.time())])
        w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        w3.provider.make_request(RPCEndpoint("anvil_setNextBlockBaseFeePerGas"), [hex(next_base_fee[chain])])
