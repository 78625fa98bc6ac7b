"""The devnet relayer's decisions (which deposits are due, expired or underpriced) and the fee schedule the devnet
publishes: the across adapter's quote on the generated section is exactly what the relayer charges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from web3 import Web3
from web3.providers import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from adapters import default_registry
from adapters.across import AcrossConfig
from crosshedge.config import load_config
from devnet import AcrossRelayer, ChainLink, DevnetAcross, SeenDeposit, decide
from orchestrator import transfer_routes

USDC = {"ethereum": "0x" + "a1" * 20, "base": "0x" + "b1" * 20}


def seen(input_amount: int = 10_000 * 10**6, output_amount: int | None = None, block_time: int = 1_000,
         fill_deadline: int = 4_600) -> SeenDeposit:
    spec = DevnetAcross()
    out = input_amount - spec.fee_raw("USDC", input_amount) if output_amount is None else output_amount
    word = bytes(12) + bytes.fromhex(USDC["base"][2:])
    data = (word, word, bytes(32), word, word, input_amount, out, 1, 7, fill_deadline, 0, b"")
    return SeenDeposit(origin="ethereum", block_number=5, block_hash="0x" + "00" * 32, log_index=0,
                       block_time=block_time, relay_data=data, destination_chain_id=8453)


@pytest.mark.parametrize(("origin_now", "dest_now", "expected"), [
    (1_000, 1_000, "wait"),         # just deposited
    (1_003.9, 1_003, "wait"),       # not yet the delay after its block time
    (1_004, 1_001, "fill"),         # the delay on the origin's clock, whatever the destination's says
    (9_999, 4_599, "fill"),         # late, but still fillable on the destination
    (9_999, 4_600, "expired"),      # the destination's clock reached the fill deadline
    (1_000, 4_700, "expired"),      # expired even before the delay passed
])
def test_a_deposit_is_due_the_delay_after_its_block_and_until_its_deadline(origin_now: float, dest_now: float,
                                                                           expected: str) -> None:
    d = seen()
    assert decide(d, origin_now, dest_now, delay_s=4.0, fee_raw=DevnetAcross().fee_raw("USDC", d.input_amount)) \
        == expected


def test_a_deposit_that_pays_less_than_the_schedule_is_not_filled() -> None:
    fee = DevnetAcross().fee_raw("USDC", 10_000 * 10**6)
    assert decide(seen(output_amount=10_000 * 10**6 - fee + 1), 2_000, 1_000, 4.0, fee) == "underpriced"
    assert decide(seen(output_amount=10_000 * 10**6 - fee), 2_000, 1_000, 4.0, fee) == "fill"
    assert decide(seen(output_amount=10_000 * 10**6 - fee - 5), 2_000, 1_000, 4.0, fee) == "fill"  # a tip is fine


def test_a_seen_deposit_reads_its_relay_data() -> None:
    d = seen()
    assert (d.origin_chain_id, d.deposit_id, d.fill_deadline) == (1, 7, 4_600)
    assert d.output_token == Web3.to_checksum_address(USDC["base"])
    assert d.key == ("ethereum", "0x" + "00" * 32, 0)


def _config(tmp_path: Path, spec: DevnetAcross) -> Any:
    chains = {}
    for name, chain_id in (("ethereum", 1), ("base", 8453)):
        chains[name] = {
            "chain_id": chain_id, "rpc_url": "http://127.0.0.1:1", "block_time_s": 2, "wallet": "w",
            "tokens": {"USDC": {"address": USDC[name], "decimals": 6, "underlying": "USD"}},
            "transfers": {"across": spec.transfer_section("0x" + f"{chain_id % 256:02x}" * 20)},
        }
    data = {"chains": chains, "wallets": {"w": {"address": "0x" + "cc" * 20, "key_env": "CROSSHEDGE_TEST_KEY"}}}
    path = tmp_path / "chains.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_config(path)


@pytest.mark.parametrize("amount", [1, 499_999, 500_001, 10**6, 12_345_678_901, 2_000_000 * 10**6])
def test_the_published_schedule_is_what_the_relayer_charges(tmp_path: Path, amount: int) -> None:
    spec = DevnetAcross()
    config = _config(tmp_path, spec)
    route = next(r for r in transfer_routes(config, default_registry()) if r.key == "ethereum->base/USDC")
    quote = default_registry().transfer("across").quote(route, amount)
    assert quote.fee_raw == spec.fee_raw("USDC", amount)
    assert quote.expected_fill_s == spec.relayer_delay_s and quote.fill_deadline_s == spec.fill_deadline_s
    assert quote.max_amount_raw == 2_000_000 * 10**6  # the relayer's inventory


def test_the_section_is_a_valid_across_config() -> None:
    section = DevnetAcross(relayer_delay_s=2.5).transfer_section("0x" + "11" * 20)
    cfg = AcrossConfig.model_validate({k: v for k, v in section.items() if k != "adapter"})
    assert (cfg.lp_fee_bps, cfg.relayer_fee_bps, cfg.expected_fill_s, cfg.fill_deadline_s) == (1, 2, 2.5, 3600)
    assert cfg.relayer_fixed_fee == {"USDC": 500_000} and cfg.tokens == ["USDC"]


class RevertedNode(JSONBaseProvider):
    """A node whose chain an evm_revert just shortened: the head is block 3, and block 2, which the relayer scanned
    before, is gone (anvil has been seen reporting a head above a block it no longer finds). Mocked because that race
    (a test's revert landing between two of the relayer's calls) cannot be timed on a real anvil; every other relayer
    path runs on the devnet (tests/integration/devnet). ``logs_error`` makes its eth_getLogs fail too."""

    def __init__(self, logs_error: bool = False) -> None:
        super().__init__()
        self.logs_error = logs_error

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        if method == "eth_getLogs":
            if self.logs_error:
                return {"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "message": "block range out of head"}}
            return {"jsonrpc": "2.0", "id": 1, "result": []}
        assert method == "eth_getBlockByNumber", method
        head = {"number": "0x3", "hash": "0x" + "33" * 32, "timestamp": "0x64"}
        return {"jsonrpc": "2.0", "id": 1, "result": head if params[0] == "latest" else None}


def relayer_on(node: RevertedNode) -> tuple[AcrossRelayer, ChainLink, list[dict[str, Any]]]:
    w3 = Web3(node)
    spoke = w3.eth.contract(address=Web3.to_checksum_address("0x" + "5b" * 20), abi=[])
    chain = ChainLink(name="ethereum", w3=w3, chain_id=1, spoke=spoke, relayer=USDC["base"], tokens={},
                      cursor=(2, b"\x22" * 32))  # below the head, so the relayer asks for block 2: gone
    events: list[dict[str, Any]] = []
    relayer = AcrossRelayer(chains={"ethereum": chain}, schedule=DevnetAcross(), delay_s=1.0, emit=events.append)
    return relayer, chain, events


def test_a_scanned_block_that_is_gone_rewinds_the_scan_instead_of_asking_for_it_forever() -> None:
    relayer, chain, events = relayer_on(RevertedNode())
    assert relayer.poll_once() == 1  # BlockNotFound: not canonical, so a rescan from block 0, not a crash
    assert [e["event"] for e in events] == ["rewind"]
    assert chain.cursor == (3, b"\x33" * 32)  # rescanned up to the head


def test_a_node_error_during_a_scan_is_an_error_event_and_the_relayer_goes_on() -> None:
    relayer, chain, events = relayer_on(RevertedNode(logs_error=True))
    assert relayer.poll_once() == 0  # a Web3RPCError (not a ValueError in web3 8): not a crash of the process
    assert [e["event"] for e in events] == ["rewind", "error"] and "block range" in events[1]["error"]
    assert chain.cursor is None  # the next poll scans from block 0 again
