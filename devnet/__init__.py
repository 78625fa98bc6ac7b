"""A local multi-chain devnet: anvil processes running the official protocol bytecode from npm, and the third
parties a devnet must stand in for (the market driver that arbitrages pools along a real price path, a private
relay that includes transactions without a public mempool, a searcher that sandwiches what the mempool shows, the
Across relayer that fills bridge deposits). A chain with ``perp: true`` also gets Perpetual Protocol v2
(Curie, from npm, its index read from the devnet's own Chainlink-style aggregator; ``deploy_perp``), which the
market driver keeps on the price path; the repo's chains.yaml does not turn it on yet.

Usage::

    from devnet import DevnetManager, MarketDriver, RelayOptions, start_relay, start_relayer
    state = DevnetManager(config.raw.devnet, root=Path.cwd()).up()
    relay = start_relay(RelayOptions(name="base", upstream=state["chains"]["base"]["rpc_url"], port=18647), dir)
"""

from devnet.across import (
    RELAYER_ACCOUNT_INDEX,
    RELAYER_FUNDS,
    DevnetAcross,
    RefundableDeposit,
    deploy_spoke_pool,
    refund_expired,
    refund_leaf,
    relayer_funds_raw,
    spoke_pool,
)
from devnet.anvil import (
    AnvilOptions,
    anvil_rpc,
    free_port_offset,
    port_free,
    running,
    start_anvil,
    stop_anvil,
    wait_ready,
)
from devnet.artifacts import Artifact, anvil_binary, load_artifact, node_modules_dir
from devnet.cache import CACHE_ENV, DevnetCache, cache_key
from devnet.contracts_build import compiled_artifact
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
from devnet.perp import MAKER_ACCOUNT, aggregator_contract, deploy_perp, perp_contract, set_index_price
from devnet.relayer import AcrossRelayer, ChainLink, SeenDeposit, decide, relayer_running, start_relayer, stop_relayer
from devnet.v4_market import V4PoolRef

__all__ = [
    "CACHE_ENV",
    "MAKER_ACCOUNT",
    "RELAYER_ACCOUNT_INDEX",
    "RELAYER_FUNDS",
    "STATE_FILE",
    "AcrossRelayer",
    "AnvilOptions",
    "Artifact",
    "ChainLink",
    "ChainStatus",
    "DeployError",
    "DevnetAcross",
    "DevnetCache",
    "DevnetManager",
    "DevnetProcess",
    "MarketDriver",
    "PendingSwap",
    "PoolRef",
    "RefundableDeposit",
    "Relay",
    "RelayOptions",
    "RelayRequestError",
    "Searcher",
    "SearcherOptions",
    "SeenDeposit",
    "SignedTx",
    "V4PoolRef",
    "aggregator_contract",
    "anvil_binary",
    "anvil_rpc",
    "cache_key",
    "compiled_artifact",
    "decide",
    "decode_signed",
    "decode_swap",
    "deploy_chain",
    "deploy_perp",
    "deploy_spoke_pool",
    "free_port_offset",
    "load_artifact",
    "load_price_path",
    "node_modules_dir",
    "perp_contract",
    "port_free",
    "read_events",
    "refund_expired",
    "refund_leaf",
    "relay_running",
    "relayer_funds_raw",
    "relayer_running",
    "running",
    "searcher_running",
    "set_index_price",
    "settle_base_fee",
    "spoke_pool",
    "start_anvil",
    "start_relay",
    "start_relayer",
    "start_searcher",
    "stop_anvil",
    "stop_relay",
    "stop_relayer",
    "stop_searcher",
    "wait_ready",
]
