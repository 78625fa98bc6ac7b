"""Across on the devnet: every chain's SpokePool (Across's npm bytecode behind its proxy) is in the devnet's state
and the generated config, and the devnet's relayer process fills a deposit the across adapter builds, once, after
its published delay; stopped (``--no-fill``) it fills nothing, and the admin's refund pays the expired deposit back.

The deposits come from the devnet's trader (an unlocked anvil account holding USDC on every chain), built by the
``across`` adapter from the generated config's route.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from web3 import Web3

from adapters import Deposit, TransferQuote, TransferRoute, default_registry
from devnet import (
    DevnetAcross,
    DevnetProcess,
    anvil_rpc,
    load_artifact,
    read_events,
    refund_expired,
    relayer_running,
    spoke_pool,
)
from devnet import start_relayer as restart_relayer
from orchestrator import transfer_routes
from tests.integration.across import params
from tests.integration.conftest import DevnetHandle

pytestmark = pytest.mark.integration

T = TypeVar("T")
SPEC = DevnetAcross()  # what the session devnet runs with
FILLED_RELAY = "0x" + bytes(Web3.keccak(text="FilledRelay(bytes32,bytes32,uint256,uint256,uint256,uint256,uint256,"
                                             "uint32,uint32,bytes32,bytes32,bytes32,bytes32,bytes32,"
                                             "(bytes32,bytes32,uint256,uint8))")).hex()


def wait_for(predicate: Callable[[], T | None], timeout_s: float, what: str) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def route(devnet: DevnetHandle, key: str = "ethereum->base/USDC") -> TransferRoute:
    return next(r for r in transfer_routes(devnet.config, default_registry()) if r.key == key)


def usdc(devnet: DevnetHandle, chain: str, owner: str) -> int:
    address = Web3.to_checksum_address(devnet.state["chains"][chain]["tokens"]["USDC"]["address"])
    token = devnet.w3(chain).eth.contract(address=address, abi=load_artifact("ERC20PresetMinterPauser").abi)
    return int(token.functions.balanceOf(owner).call())


def deposit(devnet: DevnetHandle, r: TransferRoute, amount_raw: int, recipient: str) -> tuple[TransferQuote, Deposit]:
    """The across adapter's deposit of ``amount_raw`` USDC from the devnet's trader to ``recipient``, mined."""
    adapter = default_registry().transfer("across")
    w3 = devnet.w3(r.origin.chain)
    trader = devnet.state["chains"][r.origin.chain]["accounts"]["trader"]
    quote = adapter.quote(r, amount_raw)
    token = w3.eth.contract(address=Web3.to_checksum_address(r.token_in.address),
                            abi=load_artifact("ERC20PresetMinterPauser").abi)
    spoke = adapter.contracts(r.origin).spender
    assert w3.eth.wait_for_transaction_receipt(token.functions.approve(spoke, amount_raw).transact(
        params(**{"from": trader})))["status"] == 1
    now = int(w3.eth.get_block("latest")["timestamp"])
    tx = adapter.build_deposit(r, quote, depositor=trader, recipient=recipient, quote_timestamp=now,
                               fill_deadline=now + quote.fill_deadline_s)
    sent = w3.eth.send_transaction(params(**{"from": trader, "to": tx.to, "data": tx.data, "gas": 300_000}))
    receipt = w3.eth.wait_for_transaction_receipt(sent)
    assert receipt["status"] == 1
    return quote, adapter.parse_deposit(r, receipt)


def fills(devnet: DevnetHandle, chain: str, deposit_id: int, from_block: int) -> list[Any]:
    spoke = devnet.state["chains"][chain]["across"]["spoke_pool"]
    logs = devnet.w3(chain).eth.get_logs({"address": spoke, "fromBlock": from_block,
                                          "topics": [FILLED_RELAY, None, "0x" + deposit_id.to_bytes(32, "big").hex()]})
    return list(logs)


def events_after(devnet: DevnetHandle, start: int, event: str, d: Deposit) -> list[dict[str, Any]]:
    proc = running_relayer(devnet)
    return [e for e in read_events(proc.log)[start:] if e.get("event") == event and e.get("origin") == d.origin
            and e.get("deposit_id") == d.deposit_id and e.get("block") == d.block_number]


def running_relayer(devnet: DevnetHandle) -> DevnetProcess:
    """The devnet's relayer; a dead one fails the test with the end of its log (how it died)."""
    proc = relayer_running(devnet.manager.state_dir)
    log = devnet.manager.state_dir / "relayer-across.log"
    tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else ["(no log)"]
    assert proc is not None, "the devnet's relayer is not running; its log ends:\n" + "\n".join(tail)
    return proc


def log_length(devnet: DevnetHandle) -> int:
    proc = relayer_running(devnet.manager.state_dir)
    return len(read_events(proc.log)) if proc is not None else 0


@pytest.fixture
def relayer_back(devnet: DevnetHandle) -> Iterator[None]:
    """The test may restart the relayer with other options; it is the devnet's own again afterwards."""
    yield
    devnet.manager.start_relayer()


def test_every_chain_has_a_spoke_pool_and_the_generated_config_configures_it(devnet: DevnetHandle) -> None:
    chains = devnet.config.raw.chains
    for name, state in devnet.state["chains"].items():
        across = state["across"]
        w3 = devnet.w3(name)
        spoke = spoke_pool(w3, across["spoke_pool"])
        assert spoke.functions.wrappedNativeToken().call() == state["tokens"]["WETH"]["address"]
        assert spoke.functions.owner().call() == state["accounts"]["deployer"] == across["admin"]
        assert across["spoke_pool"] in state["code_hashes"]  # a cached dump is checked against it on restore
        relayer = state["accounts"]["relayer"]
        assert relayer == list(w3.eth.accounts)[4] and usdc(devnet, name, relayer) >= 1_000_000 * 10**6
        section = chains[name].transfers["across"]
        assert section == {**SPEC.transfer_section(across["spoke_pool"]), "adapter": "across"}
        assert section["tokens"] == ["USDC"] and section["expected_fill_s"] == SPEC.relayer_delay_s
        assert section["relayer_fixed_fee"] == {"USDC": 500_000} and section["fill_deadline_s"] == 3600
    keys = {r.key for r in transfer_routes(devnet.config, default_registry())}
    n = len(chains)
    assert "ethereum->base/USDC" in keys and len(keys) == n * (n - 1), keys  # USDC both ways, never WETH
    running_relayer(devnet)


def test_the_devnet_relayer_fills_a_deposit_once_after_its_delay(devnet: DevnetHandle,
                                                                 chain_snapshot: dict[str, str],
                                                                 relayer_back: None) -> None:
    r = route(devnet)
    recipient = Web3.to_checksum_address("0x" + "5e" * 20)
    start_block = devnet.w3("base").eth.block_number
    mark = log_length(devnet)
    before = usdc(devnet, "base", recipient)
    quote, d = deposit(devnet, r, 25_000 * 10**6, recipient)
    assert quote.fee_raw == SPEC.fee_raw("USDC", 25_000 * 10**6) == 25_000 * 10**6 * 3 // 10_000 + 500_000
    [filled] = wait_for(lambda: events_after(devnet, mark, "filled", d), SPEC.relayer_delay_s + 8,
                        "the devnet relayer's fill")
    assert usdc(devnet, "base", recipient) == before + quote.amount_out_raw == before + d.output_amount
    fill_time = int(devnet.w3("base").eth.get_block(filled["fill_block"])["timestamp"])
    assert fill_time >= filled["block_time"] + SPEC.relayer_delay_s - 1  # not before its published delay
    assert len(fills(devnet, "base", d.deposit_id, start_block)) == 1
    # A restarted relayer (nothing in memory) reads fillStatuses and leaves the deposit alone.
    mark = log_length(devnet)
    restart_relayer(devnet.manager.state_dir, delay_s=0.5)
    wait_for(lambda: events_after(devnet, mark, "already_filled", d), 15, "the restarted relayer's check")
    assert len(fills(devnet, "base", d.deposit_id, start_block)) == 1
    assert usdc(devnet, "base", recipient) == before + quote.amount_out_raw


def test_a_relayer_that_does_not_fill_leaves_the_deposit_to_expire_and_be_refunded(
        devnet: DevnetHandle, chain_snapshot: dict[str, str], relayer_back: None) -> None:
    state_dir = devnet.manager.state_dir
    mark = log_length(devnet)
    restart_relayer(state_dir, delay_s=0.5, fill=False)
    r = route(devnet)
    recipient = Web3.to_checksum_address("0x" + "6e" * 20)
    depositor = devnet.state["chains"]["ethereum"]["accounts"]["trader"]
    held = usdc(devnet, "ethereum", depositor)
    start_block = devnet.w3("base").eth.block_number
    _, d = deposit(devnet, r, 3_000 * 10**6, recipient)
    wait_for(lambda: events_after(devnet, mark, "due", d), 15, "the relayer to see the deposit due")
    assert fills(devnet, "base", d.deposit_id, start_block) == [] and usdc(devnet, "base", recipient) == 0
    assert usdc(devnet, "ethereum", depositor) == held - d.input_amount
    for chain in ("ethereum", "base"):  # both clocks past the fill deadline
        anvil_rpc(devnet.w3(chain), "evm_increaseTime", SPEC.fill_deadline_s + 60)
        anvil_rpc(devnet.w3(chain), "evm_mine")
    mark = log_length(devnet)
    restart_relayer(state_dir, delay_s=0.5)  # a relayer back now finds it expired, and fills nothing
    wait_for(lambda: events_after(devnet, mark, "expired", d), 15, "the relayer to skip the expired deposit")
    assert fills(devnet, "base", d.deposit_id, start_block) == []
    eth = devnet.state["chains"]["ethereum"]
    refund_expired(devnet.w3("ethereum"), eth["across"]["spoke_pool"], eth["across"]["admin"], d)
    assert usdc(devnet, "ethereum", depositor) == held
