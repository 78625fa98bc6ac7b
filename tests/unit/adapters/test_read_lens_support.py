"""The lens's per-connection memory: a refusal holds for a while, then the lens is tried again."""

from __future__ import annotations

from web3 import Web3

from adapters.rpc.lens.driver import _Support


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_refusal_expires_and_success_is_kept() -> None:
    clock = Clock()
    support = _Support(retry_after_s=600, clock=clock)
    refused, fine = Web3(Web3.HTTPProvider("http://127.0.0.1:1")), Web3(Web3.HTTPProvider("http://127.0.0.1:2"))
    assert support.get(refused) is None  # untried
    support.put(refused, "the RPC refused an eth_call state override: invalid params")
    support.put(fine, True)
    clock.now += 599
    assert support.get(refused) == "the RPC refused an eth_call state override: invalid params"
    clock.now += 1
    assert support.get(refused) is None  # ten minutes on: the next read tries the lens again
    assert support.get(fine) is True  # a connection that ran the lens stays on it
    support.put(refused, "still refused")
    assert support.get(refused) == "still refused"  # a new refusal starts a new wait
