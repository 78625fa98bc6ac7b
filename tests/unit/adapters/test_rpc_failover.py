"""Failover between a chain's RPC endpoints, head agreement and head freshness, against real local HTTP servers.

Each endpoint is a tiny JSON-RPC server (``FakeNode``) speaking the handful of methods the connection uses, with
faults it can be told to show: HTTP 503, a closed port, a body that is not JSON, an answer slower than the timeout.
No anvil is needed for these rules; tests/integration/adapters/test_rpc_failover.py runs them against real chains.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from eth_typing import HexStr
from hypothesis import given
from hypothesis import strategies as st
from web3 import HTTPProvider, Web3
from web3.types import RPCEndpoint

from adapters.rpc import (
    Call,
    FailoverEndpoint,
    FailoverPolicy,
    FailoverProvider,
    RoundTripCounter,
    batch_call,
    check_head_fresh,
    check_heads,
    connect,
    default_tolerance_blocks,
    redact_url,
    rpc_status,
)
from adapters.rpc.connection import LAG_WINDOW_S, _http_provider
from crosshedge import ChainMismatchError, RpcError, StaleDataError
from crosshedge.config.chains import ChainSettings
from tests.quiet_http import QuietHTTPServer

CHAIN_ID = 8453
KEY = "k3yK3yk3yK3yk3yK3yk3yK3yk3yK3y00"  # what a provider's API key in the URL path looks like
EPOCH = 1_700_000_000


class FakeNode:
    """A JSON-RPC endpoint on 127.0.0.1: ``head`` blocks of one chain whose hashes follow ``fork`` from ``fork_at``.

    ``fault``: "" (healthy), "503", "garbage" (200 with HTML), "limited" (JSON-RPC -32005), "slow" (answers after
    ``slow_s``); ``close()`` makes
    the port refuse connections. Every POST's methods are recorded in ``posts``.
    """

    def __init__(self, chain_id: int = CHAIN_ID, head: int = 100) -> None:
        self.chain_id, self.head = chain_id, head
        self.fork, self.fork_at = "main", 10**18
        self.fault = ""  # "", "503", "garbage", "limited", "slow"
        self.slow_s = 5.0
        self.posts: list[list[str]] = []
        self.sent: list[str] = []
        self._lock = threading.Lock()
        node = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                node.record(body)
                if node.fault == "503":
                    self.send_response(503)
                    self.end_headers()
                    return
                if node.fault == "slow":
                    time.sleep(node.slow_s)
                out = b"<html>gateway</html>" if node.fault == "garbage" else json.dumps(node.reply(body)).encode()
                if node.fault == "limited":  # Infura's way: HTTP 200, JSON-RPC error -32005
                    limited = {"jsonrpc": "2.0", "id": 1, "error": {"code": -32005, "message": "limit"}}
                    out = json.dumps(limited).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v3/{KEY}"
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

    def block_hash(self, n: int) -> str:
        return "0x" + hashlib.sha256(f"{self.fork if n >= self.fork_at else 'main'}:{n}".encode()).hexdigest()

    def block(self, n: int) -> dict[str, str] | None:
        if n > self.head:
            return None
        return {"number": hex(n), "hash": self.block_hash(n), "timestamp": hex(EPOCH + 2 * n)}

    def reply(self, body: Any) -> Any:
        return [self.answer(r) for r in body] if isinstance(body, list) else self.answer(body)

    def answer(self, req: dict[str, Any]) -> dict[str, Any]:
        method, params = req["method"], req.get("params") or []
        result: Any
        if method == "eth_chainId":
            result = hex(self.chain_id)
        elif method == "eth_blockNumber":
            result = hex(self.head)
        elif method == "eth_getBlockByNumber":
            result = self.block(self.head if params[0] == "latest" else int(params[0], 16))
        elif method == "eth_call":  # the calldata echoed back: a result the test can check
            result = params[0].get("data", "0x")
        elif method == "eth_sendRawTransaction":
            self.sent.append(params[0])
            result = "0x" + hashlib.sha256(bytes.fromhex(params[0][2:])).hexdigest()
        elif method == "evm_snapshot":
            result = "0x1"
        else:
            return {"jsonrpc": "2.0", "id": req["id"], "error": {"code": -32601, "message": f"no {method}"}}
        return {"jsonrpc": "2.0", "id": req["id"], "result": result}


@dataclass(frozen=True)
class Endpoints:
    """The ChainSettings fields connect() uses (a FailoverEndpoint)."""

    rpc_url: str
    rpc_urls: list[str] = field(default_factory=list)
    chain_id: int = CHAIN_ID
    block_time_s: float = 2.0
    head_age_limit_s: float = 30.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def nodes() -> Iterator[list[FakeNode]]:
    made = [FakeNode(), FakeNode(), FakeNode()]
    yield made
    for node in made:
        with contextlib.suppress(OSError):
            node.close()


def provider_over(nodes: list[FakeNode], clock: Clock, counter: RoundTripCounter | None = None,
                  timeout: float = 5.0, **policy: Any) -> tuple[Web3, FailoverProvider]:
    """A FailoverProvider built by hand, for a controlled clock (connect() builds the same over time.monotonic)."""
    endpoints = [(redact_url(n.url), _http_provider(n.url, timeout, counter, None, cache_chain_id=False))
                 for n in nodes]
    provider = FailoverProvider("base", CHAIN_ID, endpoints, FailoverPolicy(**policy), clock=clock,
                                sleep=lambda s: None)
    provider.open()
    return Web3(provider), provider


def call(w3: Web3, tag: bytes = b"\x01\x02") -> bytes:
    return bytes(w3.eth.call({"to": "0x" + "11" * 20, "data": "0x" + tag.hex()}))  # type: ignore[typeddict-item]


def served(node: FakeNode) -> int:
    return node.methods().count("eth_call")


# ---------------------------------------------------------------- failover of reads


@pytest.mark.parametrize("fault", ["503", "garbage", "limited", "closed", "slow"])
def test_a_read_fails_over_and_the_answering_endpoint_stays_preferred(nodes: list[FakeNode], fault: str) -> None:
    a, b, _ = nodes
    w3 = connect("base", Endpoints(a.url, [b.url]), timeout=1.0, retries=2)
    assert call(w3) == b"\x01\x02" and served(a) == 1 and served(b) == 0
    if fault == "closed":
        a.close()
    else:
        a.fault = fault
    assert call(w3, b"\x03") == b"\x03"  # no error: the fallback answered
    assert served(b) == 1
    status = rpc_status(w3)
    assert status.preferred == redact_url(b.url)
    assert status.endpoints[0].state == "down" and status.endpoints[0].detail
    tried = len(a.posts)
    assert call(w3, b"\x04") == b"\x04" and served(b) == 2
    assert len(a.posts) == tried  # the failed primary is not asked again while the fallback is preferred


def test_preference_is_bounded_and_a_failed_primary_is_rechecked_before_it_serves(nodes: list[FakeNode]) -> None:
    a, b, _ = nodes
    clock = Clock()
    w3, provider = provider_over([a, b], clock, prefer_for_s=60.0, check_interval_s=None)
    a.fault = "503"
    call(w3)
    assert rpc_status(w3).preferred == redact_url(b.url)
    a.fault = ""
    tried = len(a.posts)  # the failed attempt
    clock.now += 59.0
    call(w3)
    assert len(a.posts) == tried  # still within the bounded preference
    clock.now += 2.0
    before = len(a.posts)
    assert call(w3, b"\x09") == b"\x09"
    assert a.posts[before:] == [["eth_chainId", "eth_getBlockByNumber"], ["eth_call"]]  # re-checked, then used
    assert rpc_status(w3).preferred == redact_url(a.url)
    del provider


def test_every_endpoint_down_is_one_rpc_error_after_bounded_rounds(nodes: list[FakeNode]) -> None:
    a, b, _ = nodes
    clock = Clock()
    w3, provider = provider_over([a, b], clock, retries=3, check_interval_s=None)
    a.fault = b.fault = "503"
    with pytest.raises(RpcError, match=r"chain base: eth_call failed on every RPC \(") as info:
        call(w3)
    assert KEY not in str(info.value) and "HTTP 503" in str(info.value)
    # Each round asks the preferred endpoint, then re-checks the failed one before it may serve.
    assert 1 <= served(a) + served(b) <= provider.policy.retries * 2


def test_connect_with_every_endpoint_unreachable_names_each_redacted_url(nodes: list[FakeNode]) -> None:
    a, b, _ = nodes
    a.close()
    b.fault = "503"
    with pytest.raises(RpcError, match=r"chain base: every RPC is unreachable") as info:
        connect("base", Endpoints(a.url, [b.url]), timeout=1.0, retries=1)
    message = str(info.value)
    assert redact_url(a.url) in message and redact_url(b.url) in message and KEY not in message


def test_concurrent_reads_survive_the_primary_going_down(nodes: list[FakeNode]) -> None:
    a, b, _ = nodes
    w3 = connect("base", Endpoints(a.url, [b.url]), timeout=2.0)
    results: list[bytes] = []
    errors: list[BaseException] = []

    def reader(i: int) -> None:
        for j in range(10):
            try:
                results.append(call(w3, bytes([i, j])))
            except BaseException as exc:  # collected and asserted on below
                errors.append(exc)
            if i == 0 and j == 3:
                a.fault = "503"

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == sorted(bytes([i, j]) for i in range(6) for j in range(10))
    assert served(b) > 0


# ---------------------------------------------------------------- chain ids


def test_an_endpoint_on_another_chain_is_refused_at_connect_with_its_redacted_url(nodes: list[FakeNode]) -> None:
    a, b, _ = nodes
    b.chain_id = 10
    with pytest.raises(ChainMismatchError) as info:
        connect("base", Endpoints(a.url, [b.url]), timeout=2.0)
    assert str(info.value) == f"chain base: RPC {redact_url(b.url)} serves chain id 10, expected {CHAIN_ID}"
    assert KEY not in str(info.value) and not info.value.retryable


def test_an_endpoint_down_at_connect_is_chain_checked_before_it_serves(nodes: list[FakeNode]) -> None:
    a, b, c = nodes
    b.fault = c.fault = "503"
    w3 = connect("base", Endpoints(a.url, [b.url, c.url]), timeout=2.0, retries=1)
    assert [e.state for e in rpc_status(w3).endpoints] == ["serving", "down", "down"]
    a.fault, b.fault, c.fault = "503", "", ""
    b.chain_id = 10  # it came back pointed at another chain
    with pytest.raises(ChainMismatchError, match="serves chain id 10"):
        call(w3)
    assert served(b) == 0  # refused before any read reached it
    assert call(w3, b"\x07") == b"\x07" and served(c) == 1  # the third endpoint, once checked, serves
    assert [e.state for e in rpc_status(w3).endpoints] == ["down", "refused", "serving"]


def test_eth_chain_id_is_answered_from_the_checked_config(nodes: list[FakeNode]) -> None:
    counter = RoundTripCounter()
    w3 = connect("base", Endpoints(nodes[0].url, [nodes[1].url]), counter=counter)
    counter.reset()
    assert w3.eth.chain_id == CHAIN_ID
    assert counter.count == 0


# ---------------------------------------------------------------- round trips


def test_healthy_warm_reads_cost_exactly_what_one_endpoint_costs(nodes: list[FakeNode]) -> None:
    a, b, _ = nodes
    costs = []
    for settings in (Endpoints(a.url), Endpoints(a.url, [b.url])):
        counter = RoundTripCounter()
        w3 = connect("base", settings, counter=counter)
        counter.reset()
        call(w3)
        calls = [Call("0x" + "22" * 20, bytes([i])) for i in range(5)]
        _, results = batch_call(w3, calls, 100, None, "base")  # one JSON-RPC batch (multicall.py's _via_batch)
        assert [r.data for r in results] == [c.data for c in calls]
        w3.eth.get_block("latest")
        costs.append(dict(counter.methods))
    assert costs[0] == costs[1] == {"eth_call": 1, "batch": 1, "eth_getBlockByNumber": 1}
    assert b.posts == [["eth_chainId", "eth_getBlockByNumber"]]  # the fallback saw only its connect-time check


def test_head_checks_run_on_a_cadence_inside_reads(nodes: list[FakeNode]) -> None:
    clock, counter = Clock(), RoundTripCounter()
    w3, provider = provider_over(nodes, clock, counter, check_interval_s=10.0)
    counter.reset()
    call(w3)
    clock.now += 9.0
    call(w3)
    assert counter.count == 2  # within the interval: no check
    clock.now += 1.0
    counter.reset()
    call(w3)
    assert counter.methods == {"batch": len(nodes), "eth_call": 1}  # one probe per endpoint, then the read
    assert provider.status().checked_age_s == 0.0


# ---------------------------------------------------------------- head agreement


def test_a_lagging_endpoint_is_demoted_until_it_catches_up(nodes: list[FakeNode]) -> None:
    a, b, _ = nodes
    settings = Endpoints(a.url, [b.url])
    tolerance = default_tolerance_blocks(settings.block_time_s)
    b.head = a.head - tolerance - 1
    w3 = connect("base", settings, timeout=2.0, retries=1)
    status = rpc_status(w3)
    assert status.demoted == (redact_url(b.url),)
    assert status.endpoints[1].lag_blocks == tolerance + 1 and status.endpoints[1].state == "demoted"
    a.fault = "503"
    with pytest.raises(RpcError):
        call(w3)
    assert served(b) == 0  # a lagging endpoint serves no reads, even with the primary down
    b.head = a.head
    status = check_heads(w3)
    assert status.demoted == () and status.endpoints[1].state == "serving"
    assert call(w3, b"\x05") == b"\x05" and served(b) == 1


def test_heads_within_tolerance_are_compared_at_the_lowest_head(nodes: list[FakeNode]) -> None:
    a, b, _ = nodes
    counter = RoundTripCounter()
    b.head = a.head - 1
    w3 = connect("base", Endpoints(a.url, [b.url]), counter=counter)
    status = rpc_status(w3)
    assert status.split is None and status.demoted == ()
    assert a.posts[-1] == ["eth_getBlockByNumber"]  # the higher endpoint was asked for block b.head
    assert counter.count == 3  # two probes, one lookup at the lowest head


def test_a_hash_split_refuses_reads_until_the_endpoints_agree(nodes: list[FakeNode]) -> None:
    a, b, _ = nodes
    clock = Clock()
    b.fork, b.fork_at = "other", a.head - 3  # same height, another history for the last blocks
    w3, provider = provider_over([a, b], clock, split_recheck_s=2.0, check_interval_s=None)
    assert provider.status().split is not None
    with pytest.raises(StaleDataError, match=rf"chain base: RPC .* disagree on the hash of block {a.head}") as info:
        call(w3)
    assert info.value.retryable and KEY not in str(info.value)
    b.fault = "503"
    clock.now += 2.0
    with pytest.raises(StaleDataError):
        call(w3)  # one side of the split did not answer the re-check: they have not agreed
    b.fault, b.fork_at = "", 10**18  # it came back, reorged onto the same chain
    with pytest.raises(StaleDataError):
        call(w3)  # not re-checked yet: split_recheck_s has not passed
    clock.now += 2.0
    assert call(w3, b"\x06") == b"\x06"
    assert provider.status().split is None


def test_a_split_endpoint_left_behind_is_demoted_and_reads_resume(nodes: list[FakeNode]) -> None:
    a, b, _ = nodes
    clock = Clock()
    b.fork, b.fork_at = "other", a.head
    w3, provider = provider_over([a, b], clock, tolerance_blocks=2, split_recheck_s=1.0, check_interval_s=None)
    with pytest.raises(StaleDataError):
        call(w3)
    a.head += 3  # the chain moved on; the endpoint on the other branch did not
    clock.now += 1.0
    assert call(w3, b"\x08") == b"\x08" and served(a) == 1 and served(b) == 0
    status = provider.status()
    assert status.split is None and status.demoted == (redact_url(b.url),)


def test_sends_ignore_a_split_and_reach_the_first_endpoint_that_answers(nodes: list[FakeNode]) -> None:
    a, b, _ = nodes
    b.fork, b.fork_at = "other", a.head
    w3, _ = provider_over([a, b], Clock(), check_interval_s=None)
    a.fault = "503"
    raw = HexStr("0x02f86b" + "ab" * 40)
    w3.eth.send_raw_transaction(raw)
    assert b.sent == [raw]


# ---------------------------------------------------------------- sends and other methods


def test_a_send_fails_over_with_the_same_bytes_and_reaches_a_lagging_endpoint_last(nodes: list[FakeNode]) -> None:
    a, b, c = nodes
    settings = Endpoints(a.url, [b.url, c.url])
    c.head = a.head - default_tolerance_blocks(settings.block_time_s) - 5
    w3 = connect("base", settings, timeout=2.0, retries=1)
    assert rpc_status(w3).demoted == (redact_url(c.url),)
    raw = HexStr("0x02f86b" + "cd" * 40)
    a.fault = "503"
    tx_hash = w3.eth.send_raw_transaction(raw)
    assert b.sent == [raw] and tx_hash.hex() == hashlib.sha256(bytes.fromhex(raw[2:])).hexdigest()
    b.fault = "503"
    w3.eth.send_raw_transaction(raw)
    assert c.sent == [raw]  # demoted for reads, still good enough to relay the same signed bytes
    assert "eth_sendRawTransaction" in a.methods()


def test_methods_not_known_to_be_idempotent_do_not_fail_over(nodes: list[FakeNode]) -> None:
    a, b, _ = nodes
    w3 = connect("base", Endpoints(a.url, [b.url]), timeout=2.0)
    a.fault = "503"
    with pytest.raises(RpcError, match=rf"chain base: evm_snapshot failed on RPC {re.escape(redact_url(a.url))}"):
        w3.provider.make_request(RPCEndpoint("evm_snapshot"), [])
    assert "evm_snapshot" not in b.methods()


def test_no_error_or_log_line_shows_the_api_key(nodes: list[FakeNode], caplog: pytest.LogCaptureFixture) -> None:
    a, b, _ = nodes
    caplog.set_level(logging.DEBUG, logger="web3")
    caplog.set_level(logging.DEBUG, logger="adapters")
    b.head = a.head - 50
    w3 = connect("base", Endpoints(a.url, [b.url]), timeout=2.0, retries=1)
    a.fault = "503"
    with pytest.raises(RpcError) as info:
        call(w3)
    assert "demoted" in caplog.text and "failed" in caplog.text  # the transitions were logged...
    assert KEY not in caplog.text and KEY not in str(info.value)  # ...without the key


# ---------------------------------------------------------------- defaults and freshness


@given(st.floats(0.05, 60.0))
def test_default_tolerance_covers_the_lag_window_and_no_more(block_time_s: float) -> None:
    tolerance = default_tolerance_blocks(block_time_s)
    assert tolerance >= 2 and tolerance * block_time_s >= LAG_WINDOW_S - 1e-9
    assert tolerance == 2 or (tolerance - 1) * block_time_s < LAG_WINDOW_S


def test_chain_settings_drive_the_failover_policy(nodes: list[FakeNode]) -> None:
    settings = ChainSettings(chain_id=CHAIN_ID, rpc_url=nodes[0].url, rpc_urls=[nodes[1].url, nodes[0].url],
                             block_time_s=0.25, wallet="desk")
    assert isinstance(settings, FailoverEndpoint)
    w3 = connect("base", settings, timeout=2.0)
    provider = w3.provider
    assert isinstance(provider, FailoverProvider)
    assert provider.policy.tolerance_blocks == default_tolerance_blocks(settings.block_time_s)
    assert provider.policy.check_interval_s == settings.head_age_limit_s / 3
    assert [e.url for e in rpc_status(w3).endpoints] == [redact_url(nodes[0].url), redact_url(nodes[1].url)]


def test_check_head_fresh_refuses_an_old_head_and_names_chain_block_and_age() -> None:
    limit = 30.0
    head_ts = EPOCH
    check_head_fresh("base", head_ts, head_ts + limit, limit)  # exactly at the limit: fresh
    with pytest.raises(StaleDataError) as info:
        check_head_fresh("base", head_ts, head_ts + 95.2, limit, block=123, url=f"https://rpc.example/v3/{KEY}")
    assert str(info.value) == (f"chain base: head block 123 from RPC https://rpc.example/v3/*** is 95 s old "
                               f"(limit {limit:g} s); its RPC is lagging or the chain halted")
    assert info.value.retryable


def test_connect_without_failover_fields_is_one_endpoint(nodes: list[FakeNode]) -> None:
    class Bare:
        chain_id = CHAIN_ID
        rpc_url = nodes[0].url

    w3 = connect("base", Bare(), timeout=2.0)
    assert [e.url for e in rpc_status(w3).endpoints] == [redact_url(nodes[0].url)]
    assert call(w3) == b"\x01\x02"


def test_status_of_a_plain_web3_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="not a FailoverProvider"):
        rpc_status(Web3(HTTPProvider("http://127.0.0.1:1")))
