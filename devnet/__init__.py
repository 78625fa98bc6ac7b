"""A local multi-chain devnet: anvil processes running the official protocol bytecode from npm, and the third
parties a devnet must stand in for (the market driver that arbitrages pools along a real price path).

Usage::

    from devnet import DevnetManager, MarketDriver
    state = DevnetManager(config.raw.devnet, root=Path.cwd()).up()
"""

from devnet.anvil import AnvilOptions, anvil_rpc, running, start_anvil, stop_anvil, wait_ready
from devnet.artifacts import Artifact, anvil_binary, load_artifact, node_modules_dir
from devnet.deploy import DeployError, deploy_chain, settle_base_fee
from devnet.manager import STATE_FILE, ChainStatus, DevnetManager
from devnet.market import MarketDriver, PoolRef, load_price_path

__all__ = [
    "STATE_FILE",
    "AnvilOptions",
    "Artifact",
    "ChainStatus",
    "DeployError",
    "DevnetManager",
    "MarketDriver",
    "PoolRef",
    "anvil_binary",
    "anvil_rpc",
    "deploy_chain",
    "load_artifact",
    "load_price_path",
    "node_modules_dir",
    "running",
    "settle_base_fee",
    "start_anvil",
    "stop_anvil",
    "wait_ready",
]
