"""The private relay's and the searcher's pure parts: decoding signed transactions and swap calldata, the JSON-RPC
envelope, and which held transactions enter the next block. (Against real anvil chains:
tests/integration/orchestrator/test_mev.py.)"""

from __future__ import annotations

import json
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_account import Account
from web3 import Web3

from devnet import PendingSwap, Relay, RelayRequestError, SignedTx, decode_signed, decode_swap
from devnet.mev.jsonrpc import JsonRpcClient
from devnet.mev.relay_pool import _Held
from devnet.mev.swap_calls import SWAP_EXACT_TOKENS, SWAP_EXACT_TYPES, selector, swap_call, transferred

KEY = Account.create()
CHAIN_ID = 42161
ROUTER_V3, ROUTER_V2 = "0x" + "a3" * 20, "0x" + "b2" * 20
WETH, USDC, DAI = "0x" + "01" * 20, "0x" + "02" * 20, "0x" + "03" * 20


def signed(nonce: int = 0, chain_id: int | None = CHAIN_ID, legacy: bool = False, max_fee: int = 3 * 10**9,
           tip: int = 10**9) -> str:
    tx: dict[str, Any] = {"to": "0x" + "11" * 20, "value": 5, "gas": 21_000, "nonce": nonce}
    if legacy:
        tx["gasPrice"] = max_fee
    else:
        tx.update({"maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip, "type": 2})
    if chain_id is not None:
        tx["chainId"] = chain_id
    return "0x" + bytes(KEY.sign_transaction(tx).raw_transaction).hex()


def relay(events: list[dict[str, Any]] | None = None) -> Relay:
    # Port 1 refuses connections at once: a test that reached the node would fail loudly, not hang.
    return Relay(JsonRpcClient("http://127.0.0.1:1", timeout_s=2), chain_id=CHAIN_ID,
                 emit=(events.append if events is not None else lambda _e: None))


def ask(r: Relay, body: Any) -> Any:
    out = r.handle(body if isinstance(body, bytes) else json.dumps(body).encode())
    return None if out is None else json.loads(out)


def call(method: str, *params: Any, rid: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "method": method, "params": list(params)}


# -- signed transactions ------------------------------------------------------------------------------------------
def test_decodes_a_dynamic_fee_transaction() -> None:
    raw = signed(nonce=7)
    tx = decode_signed(raw)
    assert (tx.sender, tx.nonce, tx.chain_id, tx.max_fee, tx.tip, tx.gas, tx.value) == (
        KEY.address, 7, CHAIN_ID, 3 * 10**9, 10**9, 21_000, 5)
    assert tx.hash == Web3.to_hex(Web3.keccak(hexstr=raw)) and tx.cost == 21_000 * 3 * 10**9 + 5


def test_decodes_a_replay_protected_legacy_transaction() -> None:
    tx = decode_signed(signed(nonce=3, legacy=True, max_fee=2 * 10**9))
    assert (tx.sender, tx.nonce, tx.chain_id, tx.max_fee, tx.tip) == (KEY.address, 3, CHAIN_ID, 2 * 10**9, 2 * 10**9)


def test_refuses_a_transaction_without_replay_protection() -> None:
    with pytest.raises(RelayRequestError, match="EIP-155") as info:
        decode_signed(signed(legacy=True, chain_id=None))
    assert info.value.code == -32000


@pytest.mark.parametrize("raw", ["", "0x", "0xzz", "1234", 5, None, "0x02", "0x02f8ff00", "0xf8", "0xc0",
                                 signed()[:-6], "0x" + "ab" * 40])
def test_refuses_what_is_not_a_signed_transaction(raw: Any) -> None:
    with pytest.raises(RelayRequestError) as info:
        decode_signed(raw)
    assert info.value.code == -32602


# -- the JSON-RPC envelope ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "code"), [
    (b"{not json", -32700),
    ([], -32600),
    ([1], -32600),
    ({"id": 1, "method": "eth_chainId"}, -32600),  # no "jsonrpc": "2.0"
    ({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": {"a": 1}}, -32602),
    (call("txpool_content"), -32601),
    (call("eth_sendTransaction", {}), -32601),
    (call("evm_mine"), -32601),
    (call("anvil_setBalance", "0x" + "11" * 20, "0x1"), -32601),
    (call("eth_sendRawTransaction"), -32602),
    (call("eth_sendRawTransaction", signed(), signed()), -32602),
    (call("eth_sendRawTransaction", "0xnothex"), -32602),
    (call("relay_getTransactionStatus", 5), -32602),
])
def test_malformed_requests_get_json_rpc_errors(body: Any, code: int) -> None:
    reply = ask(relay(), body)
    reply = reply[0] if isinstance(reply, list) else reply  # a batch of one bad call: a list of one error
    assert reply["error"]["code"] == code, reply
    assert reply["jsonrpc"] == "2.0" and reply["id"] in (None, 1)


def test_a_transaction_for_another_chain_is_refused_before_any_read() -> None:
    events: list[dict[str, Any]] = []
    reply = ask(relay(events), call("eth_sendRawTransaction", signed(chain_id=1)))
    assert reply["error"] == {"code": -32000, "message": "invalid chain id: the transaction is for chain 1, this "
                                                         "relay submits to chain 42161"}
    assert [e["event"] for e in events] == ["refused"] and "raw" not in json.dumps(events)


def test_a_batch_is_answered_in_order_and_notifications_are_not() -> None:
    r = relay()
    replies = ask(r, [call("eth_chainId", rid=1), call("nope", rid=2), {"jsonrpc": "2.0", "method": "eth_chainId"}])
    assert [x["id"] for x in replies] == [1, 2]
    assert replies[0]["result"] == hex(CHAIN_ID) and replies[1]["error"]["code"] == -32601
    assert ask(r, {"jsonrpc": "2.0", "method": "eth_chainId", "params": []}) is None


def test_an_unreachable_node_is_an_internal_error_naming_its_url() -> None:
    reply = ask(relay(), call("eth_blockNumber"))
    assert reply["error"]["code"] == -32603 and "http://127.0.0.1:1" in reply["error"]["message"]


def test_an_unknown_hash_has_status_unknown() -> None:
    assert ask(relay(), call("relay_getTransactionStatus", "0x" + "00" * 32))["result"] == {"status": "unknown"}


# -- which held transactions enter the next block -------------------------------------------------------------------
def held(sender: str, nonce: int, max_fee: int = 100, gas: int = 21_000) -> _Held:
    tx = SignedTx(hash=f"0x{sender[2:6]}{nonce:060x}", raw="0x00", sender=sender, nonce=nonce, chain_id=CHAIN_ID,
                  max_fee=max_fee, tip=1, gas=gas, value=0)
    return _Held(tx=tx, received=0.0)


def test_each_senders_next_nonces_enter_in_order_while_they_pay_and_fit() -> None:
    a, b, c, d = ("0x" + ch * 40 for ch in "abcd")
    r = relay()
    pool = [held(a, 5), held(a, 6), held(a, 8),  # a: 5, 6 in; 8 waits for 7
            held(b, 2, max_fee=40), held(b, 3),  # b: 2 cannot pay the base fee, so 3 waits behind it
            held(c, 0), held(d, 9)]  # c: its nonce 0 is used (booked from its receipt); d: 9 if the block has room
    for h in pool:
        r._held[h.tx.hash] = h
    picked = r._pick(sorted(pool, key=lambda h: (h.tx.sender, h.tx.nonce)), {a: 5, b: 2, c: 1, d: 9},
                     base_fee=50, gas_limit=3 * 21_000)
    assert [(h.tx.sender, h.tx.nonce) for h in picked] == [(a, 5), (a, 6), (d, 9)]
    assert all(pool[i].tx.hash in r._held for i in (2, 3, 4, 5))  # waiting (or, c's, for _resolve_used)
    assert [pool[i].builds for i in (2, 3, 4, 5)] == [1, 1, 1, 0]
    tight = r._pick([held(a, 5), held(d, 9)], {a: 5, d: 9}, base_fee=50, gas_limit=21_000)
    assert [(h.tx.sender, h.tx.nonce) for h in tight] == [(a, 5)]  # the block gas limit holds


def test_a_transaction_that_cannot_enter_is_dropped_after_max_wait_blocks() -> None:
    r = relay()
    r.max_wait_blocks = 3
    waiting = held("0x" + "e" * 40, 4)
    r._held[waiting.tx.hash] = waiting
    for _ in range(3):
        assert r._pick([waiting], {waiting.tx.sender: 2}, base_fee=50, gas_limit=10**6) == []
    assert r.status(waiting.tx.hash)["status"] == "dropped" and waiting.tx.hash not in r._held


# -- the searcher's reading of pending swaps ----------------------------------------------------------------------
ROUTERS: dict[str, str] = {Web3.to_checksum_address(ROUTER_V3): "v3", Web3.to_checksum_address(ROUTER_V2): "v2"}


def pending(call_: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"hash": "0x" + "99" * 32, "from": "0x" + "55" * 20, "nonce": "0x4", "to": call_["to"],
            "input": call_["data"], "maxFeePerGas": "0x64", "maxPriorityFeePerGas": "0x2", **extra}


def test_decodes_an_exact_input_single_swap() -> None:
    c = swap_call("v3", ROUTER_V3, "0x" + "55" * 20, WETH, USDC, 500, 10**18, 2_990 * 10**6, 2**40)
    swap = decode_swap(pending(c), ROUTERS)
    assert isinstance(swap, PendingSwap)
    assert (swap.kind, swap.token_in, swap.token_out, swap.fee, swap.amount_in, swap.min_out, swap.price_limit) == (
        "v3", Web3.to_checksum_address(WETH), Web3.to_checksum_address(USDC), 500, 10**18, 2_990 * 10**6, 0)
    assert (swap.nonce, swap.max_fee, swap.tip, swap.data) == (4, 100, 2, c["data"])


def test_decodes_a_v2_swap_and_leaves_what_it_cannot_size() -> None:
    c = swap_call("v2", ROUTER_V2, "0x" + "55" * 20, USDC, WETH, 0, 3_000 * 10**6, 10**18, 2**40)
    swap = decode_swap(pending(c), ROUTERS)
    assert swap is not None and (swap.kind, swap.fee, swap.amount_in, swap.min_out) == ("v2", 3000, 3 * 10**9, 10**18)
    assert decode_swap(pending({**c, "to": "0x" + "77" * 20}), ROUTERS) is None  # not a router
    assert decode_swap(pending({**c, "to": ROUTER_V3}), ROUTERS) is None  # a V2 call sent to the V3 router
    assert decode_swap(pending({**c, "data": c["data"][:70]}), ROUTERS) is None  # truncated calldata
    assert decode_swap(pending({**c, "data": "0x095ea7b3" + "00" * 64}), ROUTERS) is None  # an approval
    multi_hop = "0x" + (selector(SWAP_EXACT_TOKENS) + encode(list(SWAP_EXACT_TYPES),
                                                             [1, 1, [USDC, DAI, WETH], "0x" + "55" * 20, 1])).hex()
    assert decode_swap(pending({**c, "data": multi_hop}), ROUTERS) is None  # a path through a third token


def test_transferred_sums_a_tokens_transfers_to_one_address() -> None:
    topic = Web3.to_hex(Web3.keccak(text="Transfer(address,address,uint256)"))
    to = "0x" + "55" * 20

    def log(token: str, recipient: str, amount: int) -> dict[str, Any]:
        return {"address": token, "topics": [topic, "0x" + "00" * 32, "0x" + "00" * 12 + recipient[2:]],
                "data": hex(amount)}

    receipt = {"logs": [log(USDC, to, 7), log(USDC, to, 5), log(WETH, to, 100), log(USDC, "0x" + "66" * 20, 9)]}
    assert transferred(receipt, USDC, to) == 12
