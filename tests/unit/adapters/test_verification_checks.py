"""What a venue's verification declares, and the masking and hashing that judge code against an npm artifact
(no chain: synthetic bytecode, the real artifacts from node_modules, and the built-in adapters' checks)."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_utils.crypto import keccak
from pydantic import ValidationError
from web3 import Web3

from adapters import (
    ANY_CODE,
    CodeExpectation,
    LinkCheck,
    LinkKind,
    RoleAddress,
    RoleCheck,
    VenueChecks,
    VenueEntry,
    ViewCall,
    check_static,
    code_keccak,
    immutable_slots,
    masked_keccak,
)
from adapters.uniswap import NODE_MODULES_ENV, artifact_code, multicall_code
from adapters.uniswap.artifacts import runtime_code
from adapters.uniswap_v2.adapter import SWAP_EXACT_TOKENS, UniswapV2Adapter, UniswapV2Config
from adapters.uniswap_v3.adapter import EXACT_INPUT_SINGLE, UniswapV3Adapter, UniswapV3Config
from orchestrator.verification import code_problem

A, B, C = "0x" + "a1" * 20, "0x" + "b2" * 20, "0x" + "c3" * 20
SHOWN_A = Web3.to_checksum_address(A)  # sentences name addresses checksummed
PUSH32, PUSH2, PUSH1 = b"\x7f", b"\x61", b"\x60"


def metadata(body: bytes) -> bytes:
    """A CBOR-like tail as solc appends it: the payload, then its length in two bytes."""
    return body + len(body).to_bytes(2, "big")


def test_immutable_slots_are_the_zeroed_push32s_outside_push_data_and_metadata() -> None:
    code = (PUSH1 + b"\x7f"  # a 0x7f byte as push data is not an opcode
            + PUSH32 + bytes(32)  # an immutable: at offset 3
            + PUSH32 + b"\x01" * 32  # a constant, not a slot
            + PUSH2 + bytes(2)
            + PUSH32 + bytes(32)  # another immutable: its data at 2 + 33 + 33 + 3 + 1 = 72
            + b"\x00"
            + metadata(PUSH32 + bytes(32)))  # a zero run inside the metadata is not a slot
    assert immutable_slots(code) == (3, 72)
    assert immutable_slots(b"") == () and immutable_slots(PUSH32) == ()


def test_masked_keccak_ignores_only_the_slots() -> None:
    reference = PUSH1 + b"\x00" + PUSH32 + bytes(32) + b"\x56" + metadata(b"\xa2\x64")
    slots = immutable_slots(reference)
    assert slots == (3,)
    deployed = bytearray(reference)
    deployed[3:35] = bytes(12) + bytes.fromhex(A[2:])  # the constructor wrote an address into the slot
    assert masked_keccak(bytes(deployed), slots) == masked_keccak(reference, slots) == code_keccak(reference)
    assert code_keccak(bytes(deployed)) != code_keccak(reference)  # the exact hash pins the deployment
    deployed[-3] ^= 1  # outside the slot: different code
    assert masked_keccak(bytes(deployed), slots) != code_keccak(reference)
    assert code_keccak(b"") == "0x" + keccak(b"").hex()


def test_code_expectation_matches_the_artifact_with_its_immutables_filled_in() -> None:
    reference = PUSH32 + bytes(32) + PUSH32 + bytes(32) + b"\xf3" + metadata(b"\xa2")
    expected = CodeExpectation.of_runtime("Toy", reference, ("factory", "WETH9"))
    assert (expected.immutables, expected.size) == ((1, 34), len(reference))
    deployed = bytearray(reference)
    deployed[1:33], deployed[34:66] = bytes(12) + bytes.fromhex(A[2:]), bytes(12) + bytes.fromhex(B[2:])
    assert expected.matches(bytes(deployed))
    assert not expected.matches(bytes(deployed) + b"\x00")  # another length is other code
    assert not expected.matches(b"")
    assert ANY_CODE.matches(b"\x00") and not ANY_CODE.matches(b"")
    unavailable = CodeExpectation(contract="Toy", unavailable="x.json is missing")
    assert not unavailable.matches(reference)  # without a reference only a pinned hash verifies


@pytest.mark.parametrize(("name", "size", "slots"), [
    ("SwapRouter", 12070, 12), ("QuoterV2", 8273, 4), ("UniswapV3Pool", 22142, 27),
    ("UniswapV3Factory", 24535, 28), ("UniswapV2Router02", 21943, 54), ("UniswapV2Pair", 11293, 0),
    ("UniswapV2Factory", 13859, 0), ("UniswapInterfaceMulticall", 1383, 0),
])
def test_the_npm_artifacts_load_with_their_immutables(name: str, size: int, slots: int) -> None:
    expected = artifact_code(name)
    assert expected.unavailable is None and expected.contract is not None and expected.contract.startswith(name)
    assert (expected.size, len(expected.immutables)) == (size, slots)
    assert expected.code_hash is not None and expected.code_hash.startswith("0x") and len(expected.code_hash) == 66
    assert multicall_code().contract == "UniswapInterfaceMulticall (@uniswap/v3-periphery)"


def test_a_missing_artifact_says_why_and_only_a_pinned_hash_verifies(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NODE_MODULES_ENV, str(tmp_path))
    expected = artifact_code("SwapRouter", ("factory", "WETH9"))
    assert expected.code_hash is None and expected.unavailable is not None
    assert str(tmp_path) in expected.unavailable and "npm ci" in expected.unavailable
    code = b"\x60\x00"
    assert code_problem("router", A, code, expected, None) == (
        f"router {SHOWN_A} cannot be checked as SwapRouter (@uniswap/v3-periphery): {expected.unavailable}; "
        "pin its code hash in code_hashes")
    assert code_problem("router", A, code, expected, code_keccak(code)) is None  # the pinned hash wins
    broken = tmp_path / "broken.json"
    broken.write_text('{"deployedBytecode": "0x6000__$abc$__"}')
    with pytest.raises(ValueError, match="unlinked library"):
        runtime_code(broken)


def test_code_problem_sentences() -> None:
    reference = PUSH32 + bytes(32) + metadata(b"\xa2")
    expected = CodeExpectation.of_runtime("Toy (@pkg)", reference, ("factory",))
    assert code_problem("pool", A, b"", expected, None) == f"pool {SHOWN_A} has no code (an account, not a contract)"
    assert code_problem("pool", A, reference, expected, None) is None
    other = reference + b"\x00"
    assert code_problem("pool", A, other, expected, None) == (
        f"pool {SHOWN_A} is not a Toy (@pkg): its code ({len(other)} bytes) differs from the npm artifact's "
        f"({len(reference)} bytes) with its immutables (factory) masked")
    wrong = "0x" + "ab" * 32
    assert code_problem("pool", A, reference, expected, wrong) == (
        f"pool {SHOWN_A} has code keccak {code_keccak(reference)}, not the {wrong} in code_hashes")
    assert code_problem("token0", A, other, ANY_CODE, None) is None


def test_checks_refuse_undeclared_roles_and_late_first_round_calls() -> None:
    pool = RoleCheck(address=A, code=ANY_CODE)
    factory = RoleCheck(address=ViewCall(role="pool", signature="factory()"), code=ANY_CODE)
    getter = ViewCall(role="factory", signature="getPool(address)", args=(RoleAddress(role="pool"),))
    link = LinkCheck(call=getter, expect=LinkKind.EQUALS, value=RoleAddress(role="pool"), says="the pool")
    checks = VenueChecks(roles={"pool": pool, "factory": factory}, links=(link,))
    assert [c.label for c in checks.first_round_calls()] == ["factory()"]
    assert VenueChecks.model_validate_json(checks.model_dump_json()) == checks
    with pytest.raises(ValidationError, match="names role 'factory', which is not declared"):
        VenueChecks(roles={"pool": pool}, links=(link,))
    derived_from_derived = RoleCheck(address=ViewCall(role="factory", signature="owner()"), code=ANY_CODE)
    with pytest.raises(ValidationError, match=r"factory\.owner\(\) is read first, so it may use configured roles"):
        VenueChecks(roles={"pool": pool, "factory": factory, "owner": derived_from_derived})
    with pytest.raises(ValidationError, match="an equals link needs a value"):
        LinkCheck(call=getter, expect=LinkKind.EQUALS, says="x")
    with pytest.raises(ValidationError, match="a reverts_with link needs a reason"):
        LinkCheck(call=getter, expect=LinkKind.REVERTS_WITH, says="x")


V3 = VenueEntry(name="v3", chain="c", adapter="uniswap_v3", config=UniswapV3Config(pool=A, router=B, quoter=C))
V2 = VenueEntry(name="v2", chain="c", adapter="uniswap_v2", config=UniswapV2Config(pair=A, router=B))


@pytest.mark.parametrize(("adapter", "venue", "probe"), [
    (UniswapV3Adapter(), V3, EXACT_INPUT_SINGLE), (UniswapV2Adapter(), V2, SWAP_EXACT_TOKENS),
])
def test_builtin_venues_verify_every_contract_they_name(adapter: UniswapV3Adapter | UniswapV2Adapter,
                                                         venue: VenueEntry, probe: str) -> None:
    check_static(adapter, venue)  # the conformance suite's coverage check included
    checks = adapter.verification(venue)
    configured = {r: c.address for r, c in checks.roles.items() if isinstance(c.address, str)}
    named = adapter.contracts(venue)
    assert {a.lower() for a in {**named.called, **named.read}.values()} <= {a.lower() for a in configured.values()}
    assert {"factory", "token0", "token1"} <= set(checks.roles) - set(configured)
    assert all(c.code.contract is not None for r, c in checks.roles.items() if not r.startswith("token"))
    # The kind probe calls the very function the adapter's swaps call, and expects its deadline revert.
    (revert,) = [link for link in checks.links if link.expect is LinkKind.REVERTS_WITH]
    assert revert.call.role == "router" and revert.call.signature == probe
    assert VenueChecks.model_validate_json(checks.model_dump_json()) == checks


def test_v3_quoter_is_checked_only_when_configured() -> None:
    without = VenueEntry(name="v3", chain="c", adapter="uniswap_v3", config=UniswapV3Config(pool=A, router=B))
    assert "quoter" not in UniswapV3Adapter().verification(without).roles
    with_quoter = UniswapV3Adapter().verification(V3)
    assert with_quoter.roles["quoter"].code.contract == "QuoterV2 (@uniswap/v3-periphery)"
    assert any(link.call.role == "quoter" for link in with_quoter.links)
