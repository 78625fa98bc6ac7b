"""What a Uniswap V4 venue's verification declares: every role against its npm artifact (loaded from node_modules,
immutables found where the Foundry builds say they are, masked so constructor arguments do not matter), Permit2
compared whole to the runtime the devnet etches, and the links that tie the deployment to the configured
PoolManager and Permit2."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from adapters import CodeExpectation, LinkKind, RoleAddress, VenueChecks, VenueEntry, ViewCall, check_static
from adapters.uniswap import NODE_MODULES_ENV, node_modules
from adapters.uniswap.artifacts import ARTIFACTS, PERMIT2_SOURCE, permit2_code, runtime_code
from adapters.uniswap_v4 import UniswapV4Adapter, UniswapV4Config
from adapters.uniswap_v4.verification import v4_role_codes
from devnet.artifacts import permit2_runtime
from tests.unit.adapters.test_uniswap_v4_adapter import ENTRY, SECTION

V4_ARTIFACTS = ["PoolManager", "StateView", "V4Quoter", "UniversalRouter", "PositionManager"]
#: Built with Foundry: their artifacts list every immutable's offsets, which the code walk must find exactly.
FOUNDRY_BUILDS = ["PoolManager", "StateView", "V4Quoter", "PositionManager"]


def filled(expected: CodeExpectation, runtime: bytes, seed: int) -> bytes:
    """``runtime`` as a deployment holds it: every immutable slot written with some constructor's value."""
    rng = random.Random(seed)
    code = bytearray(runtime)
    for at in expected.immutables:
        code[at:at + 32] = rng.randbytes(32)
    return bytes(code)


def runtime_of(name: str) -> bytes:
    return runtime_code(node_modules() / ARTIFACTS[name][1])


@pytest.mark.parametrize(("role", "name", "size", "slots"), [
    ("pool_manager", "PoolManager (@uniswap/v4-core)", 24009, 1),
    ("state_view", "StateView (@uniswap/v4-periphery)", 3531, 12),
    ("v4_quoter", "V4Quoter (@uniswap/v4-periphery)", 6118, 4),
    ("universal_router", "UniversalRouter (@uniswap/universal-router)", 18469, 39),
    ("v4_position_manager", "PositionManager (@uniswap/v4-periphery)", 23877, 40),
    ("permit2", "Permit2 (@uniswap/v4-periphery)", 9152, 2),
])
def test_every_v4_role_has_its_npm_artifact(role: str, name: str, size: int, slots: int) -> None:
    expected = v4_role_codes()[role]
    assert expected.unavailable is None and expected.contract == name
    assert (expected.size, len(expected.immutables)) == (size, slots)
    assert expected.code_hash is not None and len(expected.code_hash) == 66


@pytest.mark.parametrize("name", FOUNDRY_BUILDS)
def test_the_code_walk_finds_exactly_the_immutables_foundry_recorded(name: str) -> None:
    data = json.loads((node_modules() / ARTIFACTS[name][1]).read_text())
    recorded = {ref["start"] for refs in data["deployedBytecode"]["immutableReferences"].values() for ref in refs}
    assert set(CodeExpectation.of_runtime(name, runtime_of(name)).immutables) == recorded


@pytest.mark.parametrize("name", V4_ARTIFACTS)
def test_masking_accepts_any_constructor_values_and_nothing_else(name: str) -> None:
    runtime = runtime_of(name)
    expected = CodeExpectation.of_runtime(name, runtime)
    deployed = filled(expected, runtime, seed=len(name))
    assert deployed != runtime or not expected.immutables
    assert expected.matches(deployed) and expected.matches(filled(expected, runtime, seed=7))
    outside = next(i for i in range(len(runtime)) if all(not at <= i < at + 32 for at in expected.immutables))
    changed = bytearray(deployed)
    changed[outside] ^= 1
    assert not expected.matches(bytes(changed))  # one byte of other code is another contract
    assert not expected.matches(deployed + b"\x00")


def test_permit2_is_the_runtime_the_devnet_etches_with_its_chain_id_and_domain_separator_masked() -> None:
    etched = bytes.fromhex(permit2_runtime().removeprefix("0x"))
    expected = permit2_code()
    assert expected.matches(etched)
    chain_id, separator = expected.immutables
    assert etched[chain_id:chain_id + 32] == (31337).to_bytes(32, "big")  # built on Foundry's test chain
    # The same Permit2 deployed on another chain (its chain id and separator cached at construction) matches.
    other = bytearray(etched)
    other[chain_id:chain_id + 32] = (42161).to_bytes(32, "big")
    other[separator:separator + 32] = bytes(range(32))
    assert expected.matches(bytes(other))
    changed = bytearray(etched)
    changed[len(etched) // 3] ^= 1
    assert not expected.matches(bytes(changed))


def test_without_node_modules_every_role_says_why_and_needs_a_pinned_hash(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NODE_MODULES_ENV, str(tmp_path))
    for role, expected in v4_role_codes().items():
        assert expected.code_hash is None and expected.unavailable is not None, role
        assert str(tmp_path) in expected.unavailable and "npm ci" in expected.unavailable
    other = tmp_path / "other"  # another root: the expectations are cached per node_modules
    monkeypatch.setenv(NODE_MODULES_ENV, str(other))
    helper = other / PERMIT2_SOURCE[1]
    helper.parent.mkdir(parents=True)
    helper.write_text('bytes a = hex"6000"; bytes b = hex"6001";')
    broken = permit2_code()
    assert broken.unavailable is not None and "2 hex literals" in broken.unavailable
    elsewhere = tmp_path / "elsewhere"  # one literal, but not code that caches a chain id and domain separator
    monkeypatch.setenv(NODE_MODULES_ENV, str(elsewhere))
    (elsewhere / PERMIT2_SOURCE[1]).parent.mkdir(parents=True)
    (elsewhere / PERMIT2_SOURCE[1]).write_text('bytes a = hex"6000";')
    foreign = permit2_code()
    assert foreign.unavailable is not None and "cached chain id" in foreign.unavailable


def test_v4_checks_every_contract_and_ties_the_deployment_to_the_pool_manager_and_permit2() -> None:
    adapter = UniswapV4Adapter()
    check_static(adapter, ENTRY)  # the conformance suite's coverage check included
    checks = adapter.verification(ENTRY)
    configured = {r: c.address for r, c in checks.roles.items() if isinstance(c.address, str)}
    named = adapter.contracts(ENTRY)
    assert {a.lower() for a in {**named.called, **named.read}.values()} <= {a.lower() for a in configured.values()}
    assert set(configured) == {"pool_manager", "state_view", "universal_router", "permit2", "v4_quoter"}
    assert checks.roles["v4_position_manager"].address == ViewCall(role="universal_router",
                                                                   signature="V4_POSITION_MANAGER()")
    assert all(c.code.contract is not None for c in checks.roles.values())
    ties = {(link.call.role, link.call.signature, link.value) for link in checks.links}
    assert all(link.expect is LinkKind.EQUALS for link in checks.links)
    pm, p2 = RoleAddress(role="pool_manager"), RoleAddress(role="permit2")
    assert ties == {("state_view", "poolManager()", pm), ("universal_router", "poolManager()", pm),
                    ("v4_quoter", "poolManager()", pm), ("v4_position_manager", "poolManager()", pm),
                    ("v4_position_manager", "permit2()", p2)}
    assert VenueChecks.model_validate_json(checks.model_dump_json()) == checks


def test_v4_quoter_is_checked_only_when_configured() -> None:
    config = UniswapV4Config.model_validate({**SECTION, "v4_quoter": None})
    checks = UniswapV4Adapter().verification(VenueEntry("v4", "ethereum", "uniswap_v4", config))
    assert "v4_quoter" not in checks.roles
    assert all(link.call.role != "v4_quoter" for link in checks.links)
