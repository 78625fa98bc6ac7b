"""The across transfer adapter without a chain: config, quotes (the published schedule, exact in raw units), the
deposit call, event decoding, and the transfer kind's conformance suite. The SpokePool itself runs in
tests/integration/adapters/test_across_onchain.py."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from web3 import Web3

from adapters import (
    TokenInfo,
    TransferConformance,
    TransferEntry,
    TransferRoute,
    check_static_transfer,
    default_registry,
)
from adapters.across import DEPOSIT, AcrossAdapter, AcrossConfig, relay_hash
from adapters.across.events import FUNDS_DEPOSITED, decode_deposit, to_bytes32
from crosshedge import AdapterConformanceError, AdapterError, InputError

SPOKE_A = "0x" + "aa" * 20
SPOKE_B = "0x" + "bb" * 20
USDC_A = Web3.to_checksum_address("0x" + "0a" * 20)
USDC_B = Web3.to_checksum_address("0x" + "0b" * 20)
WALLET = Web3.to_checksum_address("0x" + "cc" * 20)


def section(spoke: str, **over: Any) -> AcrossConfig:
    body: dict[str, Any] = {"spoke_pool": spoke, "tokens": ["USDC", "WETH"], "lp_fee_bps": 1.0,
                            "relayer_fee_bps": 4.0, "relayer_fixed_fee": {"USDC": 500_000}, "expected_fill_s": 4.0,
                            "fill_deadline_s": 1800}
    return AcrossConfig.model_validate(body | over)


def route(origin: AcrossConfig | None = None, dest: AcrossConfig | None = None) -> TransferRoute:
    return TransferRoute(
        origin=TransferEntry("across", "ethereum", "across", origin or section(SPOKE_A)),
        destination=TransferEntry("across", "base", "across", dest or section(SPOKE_B)),
        origin_chain_id=1, destination_chain_id=8453,
        token_in=TokenInfo(chain="ethereum", symbol="USDC", address=USDC_A, decimals=6, underlying="USD"),
        token_out=TokenInfo(chain="base", symbol="USDC", address=USDC_B, decimals=6, underlying="USD"),
    )


class TestAcrossConformance(TransferConformance):
    adapter = AcrossAdapter()
    entry_point = "across"
    example_route = route()


def test_registry_serves_it_as_a_transfer_adapter() -> None:
    assert default_registry().transfer("across").kind == "transfer"


@given(st.integers(min_value=1, max_value=10**15))
def test_fee_is_the_schedule_rounded_up_and_output_plus_fee_is_input(amount: int) -> None:
    q = AcrossAdapter().quote(route(), amount)
    proportional = -(-amount * 500 // 1_000_000)  # 5 bps in hundredths of a bp, rounded up
    assert q.fee_raw == min(amount, proportional + 500_000)
    assert q.amount_out_raw + q.fee_raw == amount and q.amount_out_raw >= 0


def test_fee_uses_the_destination_schedule_and_the_tighter_limits() -> None:
    dest = section(SPOKE_B, relayer_fee_bps=9.0, relayer_fixed_fee={}, max_deposit_raw={"USDC": 10**12},
                   fill_deadline_s=600, expected_fill_s=7.5)
    q = AcrossAdapter().quote(route(dest=dest), 10**10)
    assert (q.fee_raw, q.fee_bps, q.fixed_fee_raw) == (10**10 // 1000, 10.0, 0)
    assert (q.max_amount_raw, q.fill_deadline_s, q.expected_fill_s) == (10**12, 600, 7.5)


def test_deposit_call_carries_the_quote_and_the_deadline() -> None:
    r = route()
    q = AcrossAdapter().quote(r, 250_000 * 10**6)
    tx = AcrossAdapter().build_deposit(r, q, WALLET, WALLET, quote_timestamp=1_700_000_000, fill_deadline=1_700_001_000)
    assert (tx.chain_id, tx.to.lower(), tx.value) == (1, SPOKE_A, 0)
    assert tx.data[:10] == "0x" + Web3.keccak(text=DEPOSIT)[:4].hex()
    types = DEPOSIT[DEPOSIT.index("(") + 1:-1].split(",")
    args = abi_decode(types, bytes.fromhex(tx.data[10:]))
    assert args[1] == to_bytes32(WALLET) and (args[4], args[5], args[6]) == (q.amount_in_raw, q.amount_out_raw, 8453)
    assert (args[8], args[9], args[10], args[7]) == (1_700_000_000, 1_700_001_000, 0, bytes(32))


def test_deposit_refuses_what_a_relayer_would_not_fill_before_signing() -> None:
    r = route(dest=section(SPOKE_B, max_deposit_raw={"USDC": 10**9}))
    adapter = AcrossAdapter()
    with pytest.raises(InputError, match="above the route's limit"):
        adapter.build_deposit(r, adapter.quote(r, 2 * 10**9), WALLET, WALLET, 1_000, 1_100)
    with pytest.raises(InputError, match="does not cover the bridge fee"):
        adapter.build_deposit(r, adapter.quote(r, 400_000), WALLET, WALLET, 1_000, 1_100)
    with pytest.raises(InputError, match="fill deadline"):
        adapter.build_deposit(r, adapter.quote(r, 10**9), WALLET, WALLET, 1_000, 1_000 + 1801)


def test_a_route_for_a_token_one_end_does_not_bridge_is_refused_naming_it() -> None:
    with pytest.raises(InputError, match=r"chain base: transfers\.across does not bridge USDC"):
        AcrossAdapter().quote(route(dest=section(SPOKE_B, tokens=["WETH"], relayer_fixed_fee={})), 10**6)


def test_config_names_the_field_it_refuses() -> None:
    with pytest.raises(ValidationError, match="relayer_fixed_fee names"):
        section(SPOKE_A, relayer_fixed_fee={"DAI": 1})
    with pytest.raises(ValidationError, match="extra"):
        section(SPOKE_A, relayer_fee=3)


def test_funds_deposited_log_decodes_and_hashes_like_the_spoke_pool() -> None:
    data = abi_encode(["bytes32", "bytes32", "uint256", "uint256", "uint32", "uint32", "uint32", "bytes32",
                       "bytes32", "bytes"],
                      [to_bytes32(USDC_A), to_bytes32(USDC_B), 10**9, 10**9 - 1000, 100, 1900, 0, to_bytes32(WALLET),
                       bytes(32), b""])
    log = {"address": SPOKE_A, "topics": [FUNDS_DEPOSITED, (8453).to_bytes(32, "big"), (7).to_bytes(32, "big"),
                                          to_bytes32(WALLET)],
           "data": data, "transactionHash": b"\x01" * 32, "blockNumber": 12}
    d = decode_deposit(log, "across", "ethereum", 1)
    assert (d.deposit_id, d.destination_chain_id, d.depositor, d.recipient) == (7, 8453, WALLET, WALLET)
    assert (d.input_amount, d.output_amount, d.fill_deadline, d.input_token) == (10**9, 10**9 - 1000, 1900, USDC_A)
    relay = abi_encode(["(bytes32,bytes32,bytes32,bytes32,bytes32,uint256,uint256,uint256,uint256,uint32,uint32,"
                        "bytes)", "uint256"],
                       [(to_bytes32(WALLET), to_bytes32(WALLET), bytes(32), to_bytes32(USDC_A), to_bytes32(USDC_B),
                         10**9, 10**9 - 1000, 1, 7, 1900, 0, b""), 8453])
    assert relay_hash(d, 8453) == bytes(Web3.keccak(relay))
    receipt = {"status": 1, "transactionHash": b"\x01" * 32, "logs": [log]}
    assert AcrossAdapter().parse_deposit(route(), receipt) == d
    with pytest.raises(AdapterError, match="reverted"):
        AcrossAdapter().parse_deposit(route(), receipt | {"status": 0})


def test_conformance_refuses_a_bridge_whose_fee_falls_with_size() -> None:
    class Falling(AcrossAdapter):
        def quote(self, route: TransferRoute, amount_in: int) -> Any:
            q = super().quote(route, amount_in)
            fee = max(0, 10**6 - amount_in // 10**8)
            return q.model_copy(update={"fee_raw": fee, "amount_out_raw": amount_in - fee})

    with pytest.raises(AdapterConformanceError, match="the fee falls"):
        check_static_transfer(Falling(), route())
