"""Uniswap V4 swaps through UniversalRouter with a Permit2 permit signed by the operator wallet, on the devnet.

Each swap is the system's two transactions: the exact ERC20 approval of Permit2, then ONE ``execute`` carrying the
permit (at the nonce read from Permit2) and the swap. The wallet holds WETH, never trading ether: on an ether pool
a sell unwraps in the router and a buy wraps to the wallet. Amounts are V4Quoter's, read at the head before each
swap; the fill is parsed from the receipt.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import decode
from eth_utils.crypto import keccak
from web3 import Web3
from web3.types import RPCEndpoint

from adapters import Side, TxRequest, read_permit_nonce
from adapters.uniswap_v4 import build_v4_swap, parse_v4_fill, v4_permit_request
from adapters.uniswap_v4.execution import TRANSFER_TOPIC
from orchestrator import WalletSigner, approve_tx
from tests.integration.adapters.v4_exec_helpers import balance, operator, send, v4_quote, v4_state
from tests.integration.conftest import DevnetHandle

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("chain_snapshot")]
CHAIN = "base"
SWAP_GAS = 600_000
USD_PER_SWAP = 5_000.0
#: Where the measured gas goes (set CROSSHEDGE_V4_GAS_OUT to keep it); printed too.
GAS_OUT = os.environ.get("CROSSHEDGE_V4_GAS_OUT")
EXECUTION_FAILED = keccak(text="ExecutionFailed(uint256,bytes)")[:4]
TOO_LITTLE = keccak(text="V4TooLittleReceived(uint256,uint256)")[:4]
INVALID_NONCE = keccak(text="InvalidNonce()")[:4]


def _pool_name(devnet: DevnetHandle, native: bool) -> str:
    v4 = devnet.config.chains[CHAIN].uniswap_v4
    assert v4 is not None
    return next(n for n, p in sorted(v4.pools.items()) if (int(p.currency0, 16) == 0) == native)


def _amount_in(state: Any, side: Side) -> int:
    if side is Side.SELL:
        return int(USD_PER_SWAP / state.mid_price * 10**state.base.decimals)
    return int(USD_PER_SWAP * 10**state.quote.decimals)


def _tokens(state: Any, side: Side) -> tuple[str, str]:
    return (state.base.address, state.quote.address) if side is Side.SELL else (state.quote.address,
                                                                                 state.base.address)


def _prepared(devnet: DevnetHandle, native: bool, side: Side, nonce_offset: int = 0,
              min_out_extra: int = 0) -> tuple[Web3, WalletSigner, Any, int, int, Any]:
    """Approve Permit2 for exactly the input, sign the permit and build the swap: (w3, signer, state, amount in,
    quote, tx)."""
    w3 = devnet.w3(CHAIN)
    signer = operator(devnet.config, CHAIN)
    state = v4_state(devnet.config, w3, CHAIN, _pool_name(devnet, native))
    amount_in = _amount_in(state, side)
    token_in, _ = _tokens(state, side)
    approval = send(w3, signer, approve_tx(state.pool["chain_id"], token_in, state.pool["permit2"], amount_in), 80_000)
    assert approval["status"] == 1
    quoted = v4_quote(devnet.config, w3, state, side, amount_in)
    deadline = int(w3.eth.get_block("latest")["timestamp"]) + 600
    request = v4_permit_request(state, side, amount_in, deadline)
    nonce = read_permit_nonce(w3, CHAIN, request, signer.address) + nonce_offset
    permit = signer.sign_permit(request, nonce, state.pool["chain_id"])
    tx = build_v4_swap(state, side, amount_in, quoted + min_out_extra, signer.address, deadline, permit)
    return w3, signer, state, amount_in, quoted, tx


def _revert_data(w3: Web3, sender: str, tx: Any) -> bytes:
    """The revert data of ``tx`` simulated with eth_call (the test fails if it does not revert)."""
    answer = w3.provider.make_request(RPCEndpoint("eth_call"), [{"from": sender, "to": tx.to, "data": tx.data},
                                                                "latest"])
    assert "error" in answer, f"the call did not revert: {answer}"
    return bytes.fromhex(str(answer["error"]["data"]).removeprefix("0x"))


def _failed_command(data: bytes) -> tuple[int, bytes]:
    """(command index, inner error) of UniversalRouter's ExecutionFailed."""
    assert data[:4] == EXECUTION_FAILED, data[:4].hex()
    index, inner = decode(["uint256", "bytes"], data[4:])
    return int(index), bytes(inner)


def _permit2_allowance(w3: Web3, state: Any, owner: str, token: str) -> tuple[int, int, int]:
    def params(*types: str) -> list[dict[str, str]]:
        return [{"name": f"p{i}", "type": t} for i, t in enumerate(types)]

    permit2 = w3.eth.contract(address=state.pool["permit2"], abi=[{
        "name": "allowance", "type": "function", "stateMutability": "view",
        "inputs": params("address", "address", "address"), "outputs": params("uint160", "uint48", "uint48")}])
    amount, expiration, nonce = permit2.functions.allowance(owner, token, state.pool["universal_router"]).call()
    return int(amount), int(expiration), int(nonce)


def _record_gas(label: str, gas: int) -> None:
    print(f"V4 swap gas through UniversalRouter, {label}: {gas}")
    if GAS_OUT:
        path = Path(GAS_OUT)
        figures = json.loads(path.read_text()) if path.exists() else {}
        path.write_text(json.dumps({**figures, label: gas}, indent=2, sort_keys=True))


@pytest.mark.parametrize("native", [True, False], ids=["ether_pool", "wbtc_pool"])
@pytest.mark.parametrize("side", [Side.SELL, Side.BUY])
def test_a_permit2_swap_delivers_exactly_the_quote(devnet: DevnetHandle, native: bool, side: Side) -> None:
    w3, signer, state, amount_in, quoted, tx = _prepared(devnet, native, side)
    token_in, token_out = _tokens(state, side)
    nonce_before = _permit2_allowance(w3, state, signer.address, token_in)[2]
    before = (balance(w3, token_in, signer.address), balance(w3, token_out, signer.address))
    ether_before = balance(w3, "0x" + "00" * 20, state.pool["universal_router"])
    receipt = send(w3, signer, tx, SWAP_GAS)
    assert receipt["status"] == 1
    after = (balance(w3, token_in, signer.address), balance(w3, token_out, signer.address))
    assert (before[0] - after[0], after[1] - before[1]) == (amount_in, quoted)
    fill = parse_v4_fill(state, receipt)
    assert (fill.side, fill.amount_in_raw, fill.amount_out_raw) == (side, amount_in, quoted)
    base_moved = amount_in if side is Side.SELL else quoted
    assert fill.base_amount == base_moved / 10**state.base.decimals
    # The permit was for exactly the input: Permit2's allowance is spent to zero and its nonce moved on by one.
    amount_left, _, nonce_after = _permit2_allowance(w3, state, signer.address, token_in)
    assert (amount_left, nonce_after) == (0, nonce_before + 1)
    assert balance(w3, "0x" + "00" * 20, state.pool["universal_router"]) == ether_before  # no ether left behind
    _record_gas(f"{'ether' if native else 'wbtc'} pool {side.value}", int(receipt["gasUsed"]))


@pytest.mark.parametrize("native", [True, False], ids=["ether_pool", "wbtc_pool"])
def test_a_minimum_one_wei_above_the_quote_reverts(devnet: DevnetHandle, native: bool) -> None:
    w3, signer, state, _amount_in, quoted, tx = _prepared(devnet, native, Side.SELL, min_out_extra=1)
    # V4_SWAP runs in the router itself (no inner call to wrap), so V4Router's own error is the revert reason.
    data = _revert_data(w3, signer.address, tx)
    assert data[:4] == TOO_LITTLE and decode(["uint256", "uint256"], data[4:]) == (quoted + 1, quoted)
    token_in, token_out = _tokens(state, Side.SELL)
    before = (balance(w3, token_in, signer.address), balance(w3, token_out, signer.address))
    receipt = send(w3, signer, tx, SWAP_GAS)
    assert receipt["status"] == 0
    assert (balance(w3, token_in, signer.address), balance(w3, token_out, signer.address)) == before


def test_a_stale_permit_nonce_reverts_before_anything_moves(devnet: DevnetHandle) -> None:
    w3, signer, state, amount_in, _quoted, tx = _prepared(devnet, True, Side.SELL)
    assert send(w3, signer, tx, SWAP_GAS)["status"] == 1  # spends the permit's nonce
    # The same permit again (a stale nonce), with a fresh exact approval so only the permit is wrong.
    token_in, token_out = _tokens(state, Side.SELL)
    assert send(w3, signer, approve_tx(state.pool["chain_id"], token_in, state.pool["permit2"], amount_in),
                80_000)["status"] == 1
    index, inner = _failed_command(_revert_data(w3, signer.address, tx))
    assert (index, inner) == (0, INVALID_NONCE)  # the first command, the permit: nothing after it ran
    before = (balance(w3, token_in, signer.address), balance(w3, token_out, signer.address))
    receipt = send(w3, signer, tx, SWAP_GAS)
    assert receipt["status"] == 0 and not [log for log in receipt["logs"] if log["topics"][0] == TRANSFER_TOPIC]
    assert (balance(w3, token_in, signer.address), balance(w3, token_out, signer.address)) == before


def test_a_permit_signed_at_a_wrong_nonce_reverts_at_the_permit(devnet: DevnetHandle) -> None:
    w3, signer, state, _amount_in, _quoted, tx = _prepared(devnet, False, Side.BUY, nonce_offset=1)
    assert _failed_command(_revert_data(w3, signer.address, tx)) == (0, INVALID_NONCE)
    token_in = _tokens(state, Side.BUY)[0]
    nonce = _permit2_allowance(w3, state, signer.address, token_in)[2]
    receipt = send(w3, signer, tx, SWAP_GAS)
    assert receipt["status"] == 0
    assert _permit2_allowance(w3, state, signer.address, token_in)[2] == nonce


def test_without_a_permit_the_swap_needs_a_standing_allowance(devnet: DevnetHandle) -> None:
    """``permit=None`` (what a plain ``build_swap`` builds) reverts with no Permit2 allowance of the router, and
    swaps the same amount as the permit version once the wallet holds one (its gas shows the permit's cost)."""
    w3 = devnet.w3(CHAIN)
    signer = operator(devnet.config, CHAIN)
    state = v4_state(devnet.config, w3, CHAIN, _pool_name(devnet, False))
    amount_in = _amount_in(state, Side.SELL)
    token_in, token_out = _tokens(state, Side.SELL)
    chain_id = state.pool["chain_id"]
    assert send(w3, signer, approve_tx(chain_id, token_in, state.pool["permit2"], amount_in), 80_000)["status"] == 1
    quoted = v4_quote(devnet.config, w3, state, Side.SELL, amount_in)
    deadline = int(w3.eth.get_block("latest")["timestamp"]) + 600
    tx = build_v4_swap(state, Side.SELL, amount_in, quoted, signer.address, deadline, None)
    assert _revert_data(w3, signer.address, tx)  # no allowance of the router in Permit2: nothing can be pulled
    permit2 = w3.eth.contract(address=state.pool["permit2"], abi=[{
        "name": "approve", "type": "function", "stateMutability": "nonpayable", "outputs": [],
        "inputs": [{"name": f"p{i}", "type": t} for i, t in enumerate(("address", "address", "uint160", "uint48"))]}])
    data = permit2.encode_abi("approve", [token_in, state.pool["universal_router"], amount_in, deadline])
    standing = TxRequest(chain_id=chain_id, to=state.pool["permit2"], data=data)
    assert send(w3, signer, standing, 100_000)["status"] == 1
    before = balance(w3, token_out, signer.address)
    receipt = send(w3, signer, tx, SWAP_GAS)
    assert receipt["status"] == 1 and balance(w3, token_out, signer.address) - before == quoted
    _record_gas("wbtc pool sell, standing Permit2 allowance (no permit in the call)", int(receipt["gasUsed"]))
