"""Requests from several callers share ONE JSON-RPC batch: the staged reads' first round rides in it."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from web3 import Web3
from web3.providers import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from adapters.rpc import Call, RpcBatch, StageResult, encode_call, error_message, hex_int, run_stages
from adapters.rpc.multicall import MULTICALL_RETURNS
from crosshedge import RpcError

MULTICALL = "0x" + "aa" * 20
POOL = "0x" + "bb" * 20


class FakeNode(JSONBaseProvider):
    """Answers batches from a table of methods; records every batch (a batch is one round trip)."""

    def __init__(self, answers: dict[str, Any]) -> None:
        super().__init__()
        self.answers = answers
        self.batches: list[list[str]] = []
        self.single: list[str] = []

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        self.single.append(method)
        return self._answer(method, params)

    def make_batch_request(self, batch: list[tuple[RPCEndpoint, Any]]) -> list[RPCResponse]:
        self.batches.append([m for m, _ in batch])
        return [self._answer(m, p) for m, p in batch]

    def _answer(self, method: str, params: Any) -> RPCResponse:
        answer = self.answers[method]
        value = answer(params) if callable(answer) else answer
        if isinstance(value, dict) and "error" in value:
            return {"jsonrpc": "2.0", "id": 1, "error": value["error"]}
        return {"jsonrpc": "2.0", "id": 1, "result": value}


def multicall_answer(block: int, results: list[tuple[bool, bytes]]) -> str:
    return "0x" + abi_encode(list(MULTICALL_RETURNS), [block, [(ok, 0, data) for ok, data in results]]).hex()


def test_a_batch_is_sent_once_and_each_caller_reads_its_own_answers() -> None:
    node = FakeNode({"eth_blockNumber": "0x10", "eth_getTransactionCount": "0x7",
                     "eth_call": {"error": {"code": 3, "message": "execution reverted", "data": "0x08c379a0"}}})
    batch = RpcBatch(Web3(node), "base")
    head = batch.add("eth_blockNumber", [])
    nonce = batch.add("eth_getTransactionCount", ["0x" + "11" * 20, "pending"])
    call = batch.add("eth_call", [{"to": POOL, "data": "0x"}, "latest"])
    batch.send()
    batch.send()  # already sent: nothing more goes out
    assert node.batches == [["eth_blockNumber", "eth_getTransactionCount", "eth_call"]]
    assert hex_int(batch.result(head), "head") == 16 and hex_int(batch.result(nonce), "nonce") == 7
    assert error_message(batch.response(call)) == "execution reverted (0x08c379a0)"
    with pytest.raises(RpcError, match="chain base: eth_call failed: execution reverted"):
        batch.result(call)
    with pytest.raises(RuntimeError, match="already sent"):
        batch.add("eth_chainId", [])


def test_a_batch_the_node_cannot_answer_is_one_rpc_error() -> None:
    class Broken(FakeNode):
        def make_batch_request(self, batch: list[tuple[RPCEndpoint, Any]]) -> list[RPCResponse]:
            raise OSError("connection refused")

    batch = RpcBatch(Web3(Broken({})), "arbitrum")
    batch.add("eth_blockNumber", [])
    with pytest.raises(RpcError, match=r"chain arbitrum: JSON-RPC batch \(eth_blockNumber\) failed"):
        batch.send()


def test_the_first_round_of_staged_reads_rides_in_the_callers_batch() -> None:
    slot0, ticks = encode_call(POOL, "slot0()"), encode_call(POOL, "ticks(int24)", 60)

    def reader() -> Any:
        first: StageResult = yield [slot0]
        second: StageResult = yield [ticks]
        return first[0], first[1][0].data, second[1][0].data

    def multicall(params: Any) -> str:
        assert params[0]["to"] == MULTICALL
        return multicall_answer(41, [(True, b"\x01" * 32)]) if params[1] == "latest" else multicall_answer(
            int(params[1], 16), [(True, b"\x02" * 32)])

    node = FakeNode({"eth_call": multicall, "eth_getBlockByNumber": {"number": "0x29"}})
    batch = RpcBatch(Web3(node), "base")
    mine = batch.add("eth_getBlockByNumber", ["latest", False])
    block, [value] = run_stages(Web3(node), [reader()], "latest", MULTICALL, "base", batch=batch)
    # One batch (the caller's request and the first round's multicall), then the second round pinned to the block.
    assert node.batches == [["eth_getBlockByNumber", "eth_call"]] and node.single == ["eth_call"]
    assert block == 41 and value == (41, b"\x01" * 32, b"\x02" * 32)
    assert batch.result(mine) == {"number": "0x29"}


def test_without_a_multicall_the_first_round_is_plain_calls_in_the_batch() -> None:
    calls = [Call(POOL, b"\x01"), Call(POOL, b"\x02")]

    def reader() -> Any:
        _, results = yield calls
        return [(r.success, r.data) for r in results]

    def call(params: Any) -> Any:
        return "0x0a" if params[0]["data"] == "0x01" else {"error": {"code": 3, "message": "reverted"}}

    node = FakeNode({"eth_call": call, "eth_blockNumber": "0x5", "eth_getTransactionCount": "0x1"})
    batch = RpcBatch(Web3(node), "base")
    batch.add("eth_getTransactionCount", ["0x" + "11" * 20, "pending"])
    block, [value] = run_stages(Web3(node), [reader()], 5, None, "base", batch=batch)
    assert node.batches == [["eth_getTransactionCount", "eth_call", "eth_call"]]
    assert block == 5 and value == [(True, b"\x0a"), (False, b"")]
