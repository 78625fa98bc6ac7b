"""The across adapter against Across's own SpokePool bytecode (npm @across-protocol/contracts, behind its ERC1967Proxy)
on two anvil chains of its own: the deposit it builds lands and decodes back to its quote, a fill on the
destination is found and read as filled (and cannot happen twice), and an expired deposit's refund, relayed the
way the protocol does it (the admin's root bundle and its refund leaf), is found on the origin.

The relayer and the admin are played by the test itself, through the real contracts; the devnet's relayer
process is tested with the devnet.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from web3 import HTTPProvider, Web3
from web3.contract import Contract

from adapters import (
    ChainContext,
    FillStatus,
    TokenInfo,
    TransferEntry,
    TransferQuote,
    TransferRoute,
    check_live_deposit,
)
from adapters.across import AcrossAdapter, AcrossConfig, relay_data
from adapters.across.events import to_bytes32
from devnet import AnvilOptions, anvil_rpc, load_artifact, start_anvil, stop_anvil, wait_ready
from tests.integration.across import account, deploy_spoke, params, refund


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Side:
    w3: Web3
    spoke: Contract
    weth: Contract
    chain_id: int


def _send(w3: Web3, fn: Any, sender: str, value: int = 0) -> Any:
    receipt = w3.eth.wait_for_transaction_receipt(fn.transact(params(**{"from": sender, "value": value})))
    assert receipt["status"] == 1, f"{fn.fn_name} reverted"
    return receipt


def _deploy(w3: Web3, abi: Any, bytecode: str, *args: Any) -> Contract:
    tx = w3.eth.contract(abi=abi, bytecode=bytecode).constructor(*args).transact(
        params(**{"from": account(w3, 0), "gas": 15_000_000}))
    address = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    return cast(Contract, w3.eth.contract(address=address, abi=abi))


def _side(name: str, chain_id: int, state_dir: Path) -> Side:
    proc = start_anvil(AnvilOptions(name=name, chain_id=chain_id, port=free_port(), base_fee_wei=10**9), state_dir)
    wait_ready(proc.url)
    w3 = Web3(HTTPProvider(proc.url))
    weth_art = load_artifact("WETH9")
    native = _deploy(w3, weth_art.abi, weth_art.bytecode)  # the SpokePool's wrapped native token
    # The bridged token: another WETH9 deployment, a plain ERC20 to the SpokePool (a fill of its wrapped native
    # token is paid out unwrapped, as native ether, which is a different balance to reconcile).
    weth = _deploy(w3, weth_art.abi, weth_art.bytecode)
    return Side(w3=w3, spoke=deploy_spoke(w3, native.address, account(w3, 0)), weth=weth, chain_id=chain_id)


@pytest.fixture(scope="module")
def chains(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Side, Side]]:
    state_dir = tmp_path_factory.mktemp("across")
    origin, dest = _side("across-origin", 1, state_dir), _side("across-dest", 8453, state_dir)
    try:
        yield origin, dest
    finally:
        for name in ("across-origin", "across-dest"):
            stop_anvil(name, state_dir)


def route_of(origin: Side, dest: Side) -> TransferRoute:
    def section(side: Side) -> AcrossConfig:
        return AcrossConfig(spoke_pool=side.spoke.address, tokens=["WETH"], lp_fee_bps=1, relayer_fee_bps=4,
                            relayer_fixed_fee={"WETH": 10**14}, expected_fill_s=2, fill_deadline_s=3600)

    def token(side: Side, chain: str) -> TokenInfo:
        return TokenInfo(chain=chain, symbol="WETH", address=side.weth.address, decimals=18, underlying="ETH")

    return TransferRoute(origin=TransferEntry("across", "ethereum", "across", section(origin)),
                         destination=TransferEntry("across", "base", "across", section(dest)),
                         origin_chain_id=origin.chain_id, destination_chain_id=dest.chain_id,
                         token_in=token(origin, "ethereum"), token_out=token(dest, "base"))


def deposit(origin: Side, route: TransferRoute, depositor: str, amount: int,
            ttl_s: int) -> tuple[TransferQuote, Any, int]:
    """Wrap, approve and deposit through the adapter's own call; returns (quote, receipt, fill deadline)."""
    adapter = AcrossAdapter()
    _send(origin.w3, origin.weth.functions.deposit(), depositor, value=amount)
    _send(origin.w3, origin.weth.functions.approve(origin.spoke.address, amount), depositor)
    quote = adapter.quote(route, amount)
    now = int(origin.w3.eth.get_block("latest")["timestamp"])
    tx = adapter.build_deposit(route, quote, depositor, depositor, now, now + ttl_s)
    sent = origin.w3.eth.send_transaction(params(**{"from": depositor, "to": tx.to, "data": tx.data}))
    return quote, origin.w3.eth.wait_for_transaction_receipt(sent), now + ttl_s


def fill(dest: Side, relayer: str, data: tuple[Any, ...], amount: int) -> Any:
    _send(dest.w3, dest.weth.functions.deposit(), relayer, value=amount)
    _send(dest.w3, dest.weth.functions.approve(dest.spoke.address, amount), relayer)
    return dest.spoke.functions.fillRelay(data, 1, to_bytes32(relayer)).transact(params(**{"from": relayer}))


def test_a_deposit_is_filled_once_and_found_on_the_destination(chains: tuple[Side, Side]) -> None:
    origin, dest = chains
    route, adapter = route_of(origin, dest), AcrossAdapter()
    depositor, relayer = account(origin.w3, 1), account(dest.w3, 2)
    quote, receipt, deadline = deposit(origin, route, depositor, 5 * 10**18, 600)
    d = check_live_deposit(adapter, route, quote, receipt, depositor, deadline)
    assert d.output_amount == 5 * 10**18 - (5 * 10**18 * 5 // 10_000) - 10**14
    dest_ctx = _context(dest, "base")
    head = dest.w3.eth.block_number
    assert adapter.fill_status(dest_ctx, route, d, head) is FillStatus.UNFILLED
    assert adapter.find_fill(dest_ctx, route, d, 0, head) is None
    tx = fill(dest, relayer, relay_data(d), d.output_amount)
    assert dest.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    head = dest.w3.eth.block_number
    assert adapter.fill_status(dest_ctx, route, d, head) is FillStatus.FILLED
    assert adapter.fill_status(dest_ctx, route, d, head - 1) is FillStatus.UNFILLED  # pinned to the block
    found = adapter.find_fill(dest_ctx, route, d, 0, head)
    assert found is not None and found.output_amount == d.output_amount and found.recipient == depositor
    assert found.relayer == relayer and found.tx_hash == "0x" + bytes(tx).hex()
    assert dest.weth.functions.balanceOf(depositor).call() == d.output_amount
    again = fill(dest, relayer, relay_data(d), d.output_amount)  # a second fill of the same deposit reverts
    assert dest.w3.eth.wait_for_transaction_receipt(again)["status"] == 0
    assert dest.weth.functions.balanceOf(depositor).call() == d.output_amount


def test_an_expired_deposit_is_refunded_on_the_origin_by_the_admins_root_bundle(chains: tuple[Side, Side]) -> None:
    origin, dest = chains
    route, adapter = route_of(origin, dest), AcrossAdapter()
    depositor = account(origin.w3, 3)
    before = origin.weth.functions.balanceOf(depositor).call()
    quote, receipt, _ = deposit(origin, route, depositor, 2 * 10**18, 30)
    d = adapter.parse_deposit(route, receipt)
    for side in (origin, dest):  # both clocks past the deadline
        anvil_rpc(side.w3, "evm_increaseTime", 60)
        anvil_rpc(side.w3, "evm_mine")
    late = fill(dest, account(dest.w3, 2), relay_data(d), d.output_amount)
    assert dest.w3.eth.wait_for_transaction_receipt(late)["status"] == 0  # no fill after the deadline
    origin_ctx = _context(origin, "ethereum")
    assert adapter.find_refund(origin_ctx, route, d, d.block_number, origin.w3.eth.block_number) is None
    refund(origin.w3, origin.spoke, d)  # as the protocol does it: the admin's root bundle and its leaf
    found = adapter.find_refund(origin_ctx, route, d, d.block_number, origin.w3.eth.block_number)
    assert found is not None and found.amount == d.input_amount
    assert quote.amount_in_raw == d.input_amount == 2 * 10**18
    assert origin.weth.functions.balanceOf(depositor).call() == before + 2 * 10**18  # wrapped, deposited, refunded


def _context(side: Side, name: str) -> ChainContext:
    return ChainContext(name=name, chain_id=side.chain_id, w3=side.w3, tokens={})
