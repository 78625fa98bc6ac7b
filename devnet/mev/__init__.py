"""The devnet's stand-ins for the MEV supply chain, as real processes acting through the real contracts.

``relay`` (with ``relay_pool``, ``relay_builder``, ``relay_endpoint``) is a private relay in the manner of a
builder endpoint: it holds signed transactions out of the public mempool and includes them at its block times.
``sandwich`` (with ``searcher``, ``sandwich_planner``, ``swap_calls``) is a searcher that sandwiches the router
swaps it sees pending. ``signed_tx``, ``jsonrpc`` and ``processes`` are what both share.

Usage::

    from devnet.mev import RelayOptions, start_relay
    relay = start_relay(RelayOptions(name="base", upstream="http://127.0.0.1:18547", port=18647), state_dir)
"""

from devnet.mev.jsonrpc import RelayRequestError
from devnet.mev.processes import DevnetProcess, read_events
from devnet.mev.relay import RelayOptions, relay_running, start_relay, stop_relay
from devnet.mev.relay_endpoint import Relay
from devnet.mev.sandwich import SearcherOptions, searcher_running, start_searcher, stop_searcher
from devnet.mev.searcher import Searcher
from devnet.mev.signed_tx import SignedTx, decode_signed
from devnet.mev.swap_calls import PendingSwap, decode_swap

__all__ = [
    "DevnetProcess",
    "PendingSwap",
    "Relay",
    "RelayOptions",
    "RelayRequestError",
    "Searcher",
    "SearcherOptions",
    "SignedTx",
    "decode_signed",
    "decode_swap",
    "read_events",
    "relay_running",
    "searcher_running",
    "start_relay",
    "start_searcher",
    "stop_relay",
    "stop_searcher",
]
