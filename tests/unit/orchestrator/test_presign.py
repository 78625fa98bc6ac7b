"""The sender's pre-signing reads: one batch, the same facts as the separate reads gave, the same refusals."""

from __future__ import annotations

from typing import Any

import pytest
from web3 import Web3
from web3.providers import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from adapters import TxRequest
from crosshedge import RpcError, UnsafeTransactionError
from orchestrator.presign import PresignReads, add_simulation, simulation_gas

ACCOUNT = "0x" + "33" * 20
TOKEN = Web3.to_checksum_address("0x" + "22" * 20)
LATEST = {"number": "0x64", "timestamp": "0x6553f100", "baseFeePerGas": "0x3b9aca00"}
REVERT = {"error": {"code": 3, "message": "execution reverted: STF", "data": "0x08c379a0"}}


class Node(JSONBaseProvider):
    def __init__(self, answers: dict[str, Any]) -> None:
        super().__init__()
        self.answers, self.batches = answers, 0

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        raise AssertionError(f"{method} sent alone: every pre-signing read goes in the batch")

    def make_batch_request(self, batch: list[tuple[RPCEndpoint, Any]]) -> list[RPCResponse]:
        self.batches += 1
        out: list[RPCResponse] = []
        for method, params in batch:
            key = f"{method}:{params[0]}" if method == "eth_getBlockByNumber" else method
            answer = self.answers[key]
            if isinstance(answer, dict) and "error" in answer:
                out.append({"jsonrpc": "2.0", "id": 1, "error": answer["error"]})
            else:
                out.append({"jsonrpc": "2.0", "id": 1, "result": answer})
        return out


def approval(data: str = "0x095ea7b3") -> TxRequest:
    return TxRequest(chain_id=1, to=TOKEN, data=data)


def answers(**changes: Any) -> dict[str, Any]:
    pending = {**LATEST, "baseFeePerGas": "0x77359400"}
    return {"eth_getBlockByNumber:latest": LATEST, "eth_getBlockByNumber:pending": pending,
            "eth_getTransactionCount": "0x9", "eth_call": "0x" + "00" * 31 + "01", "eth_estimateGas": "0xb3b0",
            **changes}


def test_one_batch_gives_the_clock_the_next_base_fee_the_nonce_floor_and_the_approvals_simulation() -> None:
    node = Node(answers())
    reads = PresignReads(Web3(node), "ethereum", ACCOUNT)
    reads.simulate_early(ACCOUNT, approval())
    reads.batch.send()
    assert node.batches == 1
    assert reads.head_timestamp() == 0x6553F100 and reads.next_base_fee() == 2 * 10**9 and reads.pending_nonce() == 9
    assert reads.simulated_gas(ACCOUNT, approval(), "intent a") == 0xB3B0 + 0xB3B0 // 5 + 10_000
    assert reads.simulated_gas(ACCOUNT, approval("0x095ea7b300"), "intent a") is None  # not the tx simulated


def test_no_pending_block_means_the_latest_base_fee() -> None:
    reads = PresignReads(Web3(Node(answers(**{"eth_getBlockByNumber:pending": {"error": {"code": -32000,
                                                                                           "message": "no"}}}))),
                         "ethereum", ACCOUNT)
    reads.batch.send()
    assert reads.next_base_fee() == 10**9


@pytest.mark.parametrize("failing", ["eth_call", "eth_estimateGas"])
def test_a_reverting_simulation_refuses_the_transaction(failing: str) -> None:
    reads = PresignReads(Web3(Node(answers(**{failing: REVERT}))), "ethereum", ACCOUNT)
    reads.simulate_early(ACCOUNT, approval())
    reads.batch.send()
    with pytest.raises(UnsafeTransactionError, match=r"intent a: simulation \(eth_call\) reverted: execution reverted"):
        reads.simulated_gas(ACCOUNT, approval(), "intent a")


def test_a_node_error_on_a_read_is_retryable_not_a_verdict() -> None:
    reads = PresignReads(Web3(Node(answers(eth_getTransactionCount={"error": {"code": -32603, "message": "busy"}}))),
                         "base", ACCOUNT)
    reads.batch.send()
    with pytest.raises(RpcError, match="chain base: eth_getTransactionCount failed: busy"):
        reads.pending_nonce()


def test_a_swap_simulation_is_its_own_batch_of_call_and_estimate() -> None:
    node = Node(answers())
    reads = PresignReads(Web3(node), "base", ACCOUNT)
    call, estimate = add_simulation(reads.batch, ACCOUNT, approval())
    reads.batch.send()
    assert simulation_gas(reads.batch, call, estimate, "intent s") == 0xB3B0 + 0xB3B0 // 5 + 10_000
