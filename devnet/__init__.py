"""A local multi-chain devnet: anvil processes running the official protocol bytecode from npm, and the third
parties a devnet must stand in for (the market driver that arbitrages pools along a real price path, a private
relay that includes transactions without a public mempool, a searcher that sandwiches what the mempool shows).

Usage::

    from devnet import DevnetManager, MarketDriver, RelayOptions, start_relay
    state = DevnetManager(config.raw.devnet, root=Path.cwd()).up()
    relay = start_relay(RelayOptions(name="base", upstream=state["chains"]["base"]["rpc_url"], port=18647), dir)
"""

from devnet.anvil import AnvilOptions, anvil_rpc, running, start_anvil, stop_anvil, wait_ready
from devnet.artifacts import Artifact, anvil_binary, load_artifact, node_modules_dir
from devnet.cache import CACHE_ENV, DevnetCache, cache_key
from devnet.deploy import deploy_chain, settle_base_fee
from devnet.deployer import DeployError
from devnet.manager import STATE_FILE, ChainStatus, DevnetManager
from devnet.market import MarketDriver, PoolRef, load_price_path
from devnet.mev import (
    DevnetProcess,
    PendingSwap,
    Relay,
    RelayOptions,
    RelayRequestError,
    Searcher,
    SearcherOptions,
    SignedTx,
    decode_signed,
    decode_swap,
    read_events,
    relay_running,
    searcher_running,
    start_relay,
    start_searcher,
    stop_relay,
    stop_searcher,
)

__all__ = [
    "CACHE_ENV",
    "STATE_FILE",
    "AnvilOptions",
    "Artifact",
    "ChainStatus",
    "DeployError",
    "DevnetCache",
    "DevnetManager",
    "DevnetProcess",
    "MarketDriver",
    "PendingSwap",
    "PoolRef",
    "Relay",
    "RelayOptions",
    "RelayRequestError",
    "Searcher",
    "SearcherOptions",
    "SignedTx",
    "anvil_binary",
    "anvil_rpc",
    "cache_key",
    "decode_signed",
    "decode_swap",
    "deploy_chain",
    "load_artifact",
    "load_price_path",
    "node_modules_dir",
    "read_events",
    "relay_running",
    "running",
    "searcher_running",
    "settle_base_fee",
    "start_anvil",
    "start_relay",
    "start_searcher",
    "stop_anvil",
    "stop_relay",
    "stop_searcher",
    "wait_ready",
]
