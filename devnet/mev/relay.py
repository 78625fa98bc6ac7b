"""A private transaction relay for a devnet chain: signed transactions reach a block without a public mempool.

The devnet's stand-in for a block builder's private endpoint (Flashbots Protect, MEV Blocker): a JSON-RPC server
that takes ``eth_sendRawTransaction``, answers the few reads a sender asks a send endpoint by forwarding them to the
chain's node, and keeps every other method (``txpool_*``, ``anvil_*``, ``evm_*``, ``eth_sendTransaction``) out.

Inclusion model:

* **Accepted or refused at once, like a node.** A transaction is decoded and checked against the chain before it is
  held: chain id, nonce (``nonce too low``), fee cap against the next block's base fee (``max fee per gas less than
  block base fee``), balance, block gas limit; the answer is its hash, or a JSON-RPC error in the words a node uses,
  so a sender's "maybe already sent" and "underpriced, replace it" handling works unchanged. Sending the same bytes
  again answers the same hash; a new transaction at a held (sender, nonce) replaces it only with a higher fee cap
  and tip (else ``replacement transaction underpriced``).
* **Held privately until the next block.** Nothing is forwarded on arrival. Every ``block_time_s`` (0: as soon as a
  transaction arrives) the relay builds: it takes the held transactions that can enter the next block (each
  sender's next nonces in order, fee cap at or above the next base fee, within the block gas limit) and sends them
  to anvil together with ``evm_mine`` in one JSON-RPC batch: anvil adds them to its pool and seals the block in
  the same request. A transaction that cannot enter yet (a nonce gap, a fee cap under the base fee) waits, and is
  dropped after ``max_wait_blocks`` builds, as a builder endpoint gives up after some blocks.
* **Verified after the block.** Each submitted transaction must have a receipt; one that anvil took into its pool
  but did not mine is withdrawn at once (``anvil_dropTransaction``) and held for the next build, so it never sits
  in the public pool. One the chain refused (its nonce was used meanwhile) is dropped with the chain's reason.
* **Status** as a builder endpoint reports it: ``relay_getTransactionStatus(hash)`` gives ``pending``, ``included``
  (with ``blockNumber``), ``failed`` or ``dropped`` (with ``reason``), or ``unknown``. ``eth_getTransactionCount``
  at ``pending`` counts the sender's held transactions, so a wallet asking the relay for its next nonce gets it.

What anvil shows: anvil seals a block from its pool, so while the block is being sealed (a few milliseconds) its
``txpool_content`` still lists the transactions that block already holds. Nothing sent after that moment can be
ordered before them: a searcher that sees them then sees them too late, and its transactions land in a later block.

The relay logs one JSON object per line on stdout (``listening``, ``accepted``, ``refused``, ``included``,
``withdrawn``, ``dropped``, ``failed``, ``upstream_error``, ``stopped``); it never logs the signed bytes. It exits
once the chain's node has not answered for ``--exit-after`` seconds (started detached, it must not outlive it).

This module is the process (its options, start and stop, ``main``); the relay itself is built up in layers, all in
devnet.mev: signed_tx (decoding), relay_pool (accepting and holding), relay_builder (building blocks) and
relay_endpoint (the JSON-RPC methods and the HTTP server), over jsonrpc and processes.

Usage::

    relay = start_relay(RelayOptions(name="ethereum", upstream="http://127.0.0.1:18545", port=18645,
                                     block_time_s=12.0), state_dir)
    wait_ready(relay.url)                       # devnet.anvil.wait_ready: the relay answers eth_chainId
    # chains.yaml: chains.ethereum.private_rpc_url: <relay.url>
    stop_relay("ethereum", state_dir)

    python -m devnet.mev.relay --upstream http://127.0.0.1:18545 --port 18645 --block-time 12
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path

from crosshedge import RpcError
from devnet.mev.jsonrpc import JsonRpcClient
from devnet.mev.processes import DevnetProcess, process_running, spawn, stop_process
from devnet.mev.relay_endpoint import Relay, serve


@dataclass(frozen=True)
class RelayOptions:
    name: str  # the chain's name: the pid file is relay-<name>.json
    upstream: str  # the chain's node (anvil)
    port: int
    block_time_s: float = 0.0  # a block of private transactions this often; 0: as soon as one arrives
    max_wait_blocks: int = 25


def start_relay(opts: RelayOptions, state_dir: Path) -> DevnetProcess:
    """Start the relay process for one chain (``python -m devnet.mev.relay``); wait for it with anvil's wait_ready."""
    args = ["--upstream", opts.upstream, "--port", str(opts.port), "--block-time", str(opts.block_time_s),
            "--max-wait-blocks", str(opts.max_wait_blocks)]
    return spawn("relay", opts.name, "devnet.mev.relay", args, state_dir, port=opts.port)


def relay_running(name: str, state_dir: Path) -> DevnetProcess | None:
    return process_running("relay", name, state_dir)


def stop_relay(name: str, state_dir: Path) -> bool:
    return stop_process("relay", name, state_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devnet.mev.relay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="the chain's node (anvil) URL")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--block-time", type=float, default=0.0, help="seconds between builds (0: on arrival)")
    parser.add_argument("--max-wait-blocks", type=int, default=25)
    parser.add_argument("--exit-after", type=float, default=60.0, help="exit when the node is gone this long")
    args = parser.parse_args(argv)
    relay = Relay(JsonRpcClient(args.upstream), block_time_s=args.block_time, max_wait_blocks=args.max_wait_blocks)
    deadline = time.monotonic() + 30
    while True:  # the node may still be starting
        try:
            relay.start()
            break
        except RpcError as exc:
            if time.monotonic() > deadline:
                raise SystemExit(f"relay: {exc}") from None
            time.sleep(0.2)
    server = serve(relay, args.host, args.port)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    threading.Thread(target=_exit_when_gone, args=(relay, server, args.exit_after), daemon=True).start()
    relay._log("listening", url=f"http://{args.host}:{args.port}", upstream=args.upstream, chain_id=relay.chain_id,
               block_time_s=args.block_time)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        relay.stop()
        server.server_close()


def _exit_when_gone(relay: Relay, server: ThreadingHTTPServer, exit_after_s: float) -> None:
    """Shut the server down once the chain's node has not answered for ``exit_after_s``: a relay is started
    detached, and must not outlive the devnet it relays to."""
    gone_since: float | None = None
    while True:
        time.sleep(2.0)
        try:
            relay.upstream.call("eth_blockNumber")
            gone_since = None
        except RpcError as exc:
            gone_since = gone_since or time.monotonic()
            if time.monotonic() - gone_since > exit_after_s:
                relay._log("stopped", reason=f"{exc}; gone for {exit_after_s:.0f} s")
                server.shutdown()
                return


if __name__ == "__main__":
    main()
