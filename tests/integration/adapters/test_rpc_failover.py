"""Failover, head agreement and head freshness against the real devnet: anvil chains behind HTTP proxies of our own.

Each ``Proxy`` forwards JSON-RPC to one anvil and can answer 503 or stop listening, so "the primary goes down" is a
real refused or failing HTTP endpoint; a lagging endpoint is a second, real anvil forked from the devnet at an
older block. Nothing is mocked.
"""

from __future__ import annotations

import json
import queue
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.types import RPCEndpoint

from adapters import AdapterRegistry, default_registry
from adapters.rpc import (
    RoundTripCounter,
    batch_call,
    check_head_fresh,
    check_heads,
    connect,
    default_tolerance_blocks,
    encode_call,
    redact_url,
    rpc_status,
)
from crosshedge import ChainMismatchError, RpcError, StaleDataError
from crosshedge.config.chains import ChainSettings
from devnet.artifacts import anvil_binary
from orchestrator import chain_context, read_venues
from tests.integration.conftest import DevnetHandle
from tests.quiet_http import QuietHTTPServer

pytestmark = pytest.mark.integration

CHAIN = "base"
KEY = "0123456789abcdef0123456789abcdef"  # what a provider's API key in the URL path looks like


class Proxy:
    """Forwards JSON-RPC to ``upstream``; ``mode`` "down" answers 503, ``close()`` stops listening. Records the
    methods of every POST it receives."""

    def __init__(self, upstream: str) -> None:
        self.upstream, self.mode = upstream, ""
        self.posts: list[list[str]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                proxy.record(json.loads(body))
                if proxy.mode == "down":
                    self.send_response(503)
                    self.end_headers()
                    return
                req = urllib.request.Request(proxy.upstream, data=body, headers={"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(req, timeout=30) as resp:
                        status, out = 200, resp.read()
                except urllib.error.URLError:
                    status, out = 502, b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def record(self, body: Any) -> None:
        with self._lock:
            self.posts.append([r["method"] for r in body] if isinstance(body, list) else [body["method"]])

    def methods(self) -> list[str]:
        with self._lock:
            return [m for post in self.posts for m in post]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def forked_anvil(upstream: str, chain_id: int, block: int) -> Iterator[str]:
    """A second anvil forked from ``upstream`` at ``block`` (a real node that stays behind); yields its URL."""
    proc = subprocess.Popen(
        [str(anvil_binary()), "--fork-url", upstream, "--fork-block-number", str(block), "--chain-id", str(chain_id),
         "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def drain() -> None:  # keep reading, or anvil blocks on a full pipe once it logs requests
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=drain, daemon=True).start()
    try:
        while True:
            found = re.search(r"Listening on (127\.0\.0\.1:\d+)", lines.get(timeout=60))
            if found:
                break
        yield f"http://{found.group(1)}"
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.fixture
def pair(devnet: DevnetHandle) -> Iterator[tuple[Proxy, Proxy]]:
    upstream = devnet.state["chains"][CHAIN]["rpc_url"]
    a, b = Proxy(upstream), Proxy(upstream)
    yield a, b
    for proxy in (a, b):
        proxy.close()


def settings_for(devnet: DevnetHandle, primary: str, *more: str) -> ChainSettings:
    return devnet.config.chains[CHAIN].model_copy(update={"rpc_url": primary, "rpc_urls": list(more)})


def test_reads_continue_on_the_second_endpoint_when_the_primary_goes_down(
    devnet: DevnetHandle, pair: tuple[Proxy, Proxy], still_chains: None
) -> None:
    a, b = pair
    w3 = connect(CHAIN, settings_for(devnet, a.url, b.url), timeout=10)
    ctx = chain_context(devnet.config, CHAIN, w3)
    entries = devnet.config.venues_on(CHAIN)
    registry = default_registry()
    number, before = read_venues(ctx, entries, registry, "latest")
    assert "eth_call" not in b.methods()  # healthy: the fallback only saw its connect-time check
    a.mode = "down"
    assert read_venues(ctx, entries, registry, number) == (number, before)  # no error, the same state
    assert "eth_call" in b.methods()
    a.close()  # from answering 503 to refusing connections
    assert w3.eth.get_block("latest")["number"] >= number
    status = rpc_status(w3)
    assert status.preferred == b.url and status.endpoints[0].state == "down"


def test_a_warm_read_costs_the_same_round_trips_with_a_healthy_fallback(
    devnet: DevnetHandle, pair: tuple[Proxy, Proxy], still_chains: None
) -> None:
    a, b = pair
    entries = devnet.config.venues_on(CHAIN)
    tokens = [t.address for t in devnet.config.chains[CHAIN].tokens.values()]
    costs = []
    for settings in (settings_for(devnet, a.url), settings_for(devnet, a.url, b.url)):
        counter = RoundTripCounter()
        ctx = chain_context(devnet.config, CHAIN, connect(CHAIN, settings, timeout=30, counter=counter))
        registry = AdapterRegistry.from_entry_points()
        number, cold = read_venues(ctx, entries, registry, "latest")
        counter.reset()
        assert read_venues(ctx, entries, registry, number) == (number, cold)  # warm: one multicall
        warm_multicall = counter.count
        counter.reset()
        _, results = batch_call(ctx.w3, [encode_call(t, "decimals()") for t in tokens], number, None, CHAIN)
        assert all(r.success for r in results)  # one JSON-RPC batch (multicall.py's _via_batch)
        costs.append((warm_multicall, counter.count))
    assert costs[0] == costs[1] == (1, 1)


def test_an_endpoint_on_another_chain_is_refused_at_connect_with_its_redacted_url(
    devnet: DevnetHandle, pair: tuple[Proxy, Proxy]
) -> None:
    a, _ = pair
    other = Proxy(devnet.state["chains"]["arbitrum"]["rpc_url"])
    try:
        keyed = f"{other.url}/v2/{KEY}"
        with pytest.raises(ChainMismatchError) as info:
            connect(CHAIN, settings_for(devnet, a.url, keyed), timeout=10)
    finally:
        other.close()
    expected = devnet.config.chains[CHAIN].chain_id
    served = devnet.config.chains["arbitrum"].chain_id
    assert str(info.value) == f"chain {CHAIN}: RPC {redact_url(keyed)} serves chain id {served}, expected {expected}"
    assert KEY not in str(info.value)


def test_a_lagging_endpoint_is_demoted_and_a_fork_at_the_same_height_refuses_reads(
    devnet: DevnetHandle, pair: tuple[Proxy, Proxy], chain_snapshot: dict[str, str]
) -> None:
    a, _ = pair
    settings = devnet.config.chains[CHAIN]
    behind = default_tolerance_blocks(settings.block_time_s) + 3
    direct = devnet.w3(CHAIN)
    # Heights are asserted exactly: the devnet's block producer must not mine in between (it waits while automine
    # is off; one block it decided on just before may still come, so wait for the head to hold still).
    direct.provider.make_request(RPCEndpoint("evm_setAutomine"), [False])
    fork_at = quiet_head(direct)
    with forked_anvil(devnet.state["chains"][CHAIN]["rpc_url"], settings.chain_id, fork_at) as fork_url:
        lagging = Proxy(fork_url)
        try:
            direct.provider.make_request(RPCEndpoint("anvil_mine"), [hex(behind)])
            w3 = connect(CHAIN, settings_for(devnet, a.url, lagging.url), timeout=10)
            status = rpc_status(w3)
            assert status.demoted == (lagging.url,) and status.split is None
            fork = status.endpoints[1]
            assert fork.state == "demoted" and fork.lag_blocks == behind
            assert fork.head is not None and fork.head.number == fork_at
            a.mode = "down"
            with pytest.raises(RpcError, match=f"chain {CHAIN}: "):
                w3.eth.get_block("latest")
            assert lagging.methods().count("eth_getBlockByNumber") == 1  # its connect-time probe, no read
            # The forked node mines its own blocks up to the devnet's height: caught up, but on another history.
            lagging_w3 = connect(CHAIN, settings_for(devnet, fork_url), timeout=10)
            lagging_w3.provider.make_request(RPCEndpoint("anvil_mine"), [hex(behind), hex(777)])
            a.mode = ""
            status = check_heads(w3)
            assert status.demoted == ()
            assert status.split is not None and f"block {fork_at + behind}" in status.split
            with pytest.raises(StaleDataError, match=f"chain {CHAIN}: RPC .* disagree on the hash"):
                w3.eth.get_block("latest")
        finally:
            lagging.close()
            direct.provider.make_request(RPCEndpoint("evm_setAutomine"), [True])


def quiet_head(w3: Web3, still_s: float = 1.5, timeout_s: float = 10.0) -> int:
    """The head once it has not moved for ``still_s`` (longer than the producer's interval)."""
    deadline = time.monotonic() + timeout_s
    head, since = int(w3.eth.block_number), time.monotonic()
    while time.monotonic() < deadline:
        now = int(w3.eth.block_number)
        if now != head:
            head, since = now, time.monotonic()
        elif time.monotonic() - since >= still_s:
            return head
        time.sleep(0.1)
    raise AssertionError(f"chain {CHAIN}: the head kept moving with automine off")


def test_check_head_fresh_refuses_an_old_head(devnet: DevnetHandle, pair: tuple[Proxy, Proxy]) -> None:
    a, b = pair
    settings = settings_for(devnet, a.url, b.url)
    w3 = connect(CHAIN, settings, timeout=10)
    head = w3.eth.get_block("latest")
    limit = settings.head_age_limit_s
    check_head_fresh(CHAIN, head["timestamp"], head["timestamp"] + limit, limit, block=head["number"])
    late = head["timestamp"] + limit + 65
    with pytest.raises(StaleDataError) as info:
        check_head_fresh(CHAIN, head["timestamp"], late, limit, block=head["number"], url=rpc_status(w3).preferred)
    assert str(info.value) == (f"chain {CHAIN}: head block {head['number']} from RPC {a.url} is {limit + 65:.0f} s "
                               f"old (limit {limit:g} s); its RPC is lagging or the chain halted")


def test_a_signed_transaction_is_sent_through_the_fallback_when_the_primary_is_down(
    devnet: DevnetHandle, pair: tuple[Proxy, Proxy], chain_snapshot: dict[str, str]
) -> None:
    a, b = pair
    settings = settings_for(devnet, a.url, b.url)
    w3 = connect(CHAIN, settings, timeout=10)
    account = Account.create()
    devnet.w3(CHAIN).provider.make_request(RPCEndpoint("anvil_setBalance"), [account.address, hex(10**18)])
    base_fee = int(w3.eth.get_block("latest")["baseFeePerGas"])
    signed = account.sign_transaction({
        "chainId": settings.chain_id, "nonce": 0, "to": account.address, "value": 1, "gas": 21_000,
        "maxFeePerGas": 2 * base_fee + 10**9, "maxPriorityFeePerGas": 10**9, "type": 2,
    })
    a.mode = "down"
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    assert tx_hash == signed.hash
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt["status"] == 1
    assert "eth_sendRawTransaction" in a.methods() and "eth_sendRawTransaction" in b.methods()
