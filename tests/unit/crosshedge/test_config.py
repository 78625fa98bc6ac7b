"""chains.yaml validation: good files load; each kind of bad file gives one sentence naming file and field."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
import yaml
from pydantic import BaseModel, ConfigDict

from adapters import (
    ENTRY_POINT_GROUP,
    AdapterRegistry,
    Capability,
    ChainContext,
    Fill,
    Side,
    TxRequest,
    VenueChecks,
    VenueContracts,
    VenueEntry,
    VenueState,
)
from crosshedge import ConfigError
from crosshedge.config import load_config, parse_config
from devnet import cache_key

ADDR_A = "0x" + "a1" * 20
ADDR_B = "0x" + "b2" * 20


class PoolSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pool: str
    router: str


class FakeVenue:
    """Stands in for a venue adapter in config tests only: validation needs the model, not a chain."""

    name: ClassVar[str] = "fake_pool"
    kind: ClassVar[Literal["venue"]] = "venue"
    config_model: ClassVar[type[BaseModel]] = PoolSettings
    capabilities: ClassVar[frozenset[Capability]] = frozenset()

    def contracts(self, venue: VenueEntry) -> VenueContracts:
        raise NotImplementedError

    def verification(self, venue: VenueEntry) -> VenueChecks:
        raise NotImplementedError

    def read(self, chain: ChainContext, venues: Sequence[VenueEntry], block: int) -> list[VenueState]:
        raise NotImplementedError

    def quote(self, state: VenueState, side: Side, amount_in: int) -> int:
        raise NotImplementedError

    def build_swap(self, state: VenueState, side: Side, amount_in: int, min_amount_out: int, recipient: str,
                   deadline: int) -> TxRequest:
        raise NotImplementedError

    def parse_receipt(self, state: VenueState, receipt: Mapping[str, Any]) -> Fill:
        raise NotImplementedError


# The installed adapters (position sources validate their sections too) plus the fake venue.
REGISTRY = AdapterRegistry(entry_points_by_name={ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)},
                           adapters={"fake_pool": FakeVenue()})

GOOD: dict[str, Any] = {
    "chains": {
        "ethereum": {
            "chain_id": 1,
            "rpc_url": "http://127.0.0.1:8545",
            "block_time_s": 12,
            "wallet": "ops",
            "tokens": {"WETH": {"address": ADDR_A, "decimals": 18, "underlying": "ETH"}},
            "venues": {"pool1": {"adapter": "fake_pool", "pool": ADDR_B, "router": ADDR_A}},
        },
        "arbitrum": {
            "chain_id": 42161,
            "rpc_url": "${TEST_ARB_RPC}",
            "block_time_s": 0.25,
            "wallet": "ops",
            "gas": {"l1_data_fee": {"l1_chain": "ethereum"}},
        },
    },
    "wallets": {"ops": {"address": ADDR_A, "key_env": "OPS_KEY"}},
}


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "chains.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def mutate(edit: Any) -> dict[str, Any]:
    data = copy.deepcopy(GOOD)
    edit(data)
    return data


def test_good_file_loads_with_env_interpolation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_ARB_RPC", "http://127.0.0.1:9999")
    config = load_config(write(tmp_path, GOOD), REGISTRY)
    assert config.chains["arbitrum"].rpc_url == "http://127.0.0.1:9999"
    (venue,) = config.venues
    assert (venue.chain, venue.name, venue.adapter) == ("ethereum", "pool1", "fake_pool")
    assert isinstance(venue.config, PoolSettings)
    token = config.tokens("ethereum")[config.chains["ethereum"].tokens["WETH"].address]
    assert (token.symbol, token.underlying, token.decimals) == ("WETH", "ETH", 18)


def test_repo_chains_yaml_is_valid(repo_root: Path) -> None:
    config = load_config(repo_root / "chains.yaml", REGISTRY)
    assert config.raw.devnet is not None
    assert set(config.raw.devnet.chains) == {"ethereum", "arbitrum", "base"}


def test_the_demo_funds_its_demo_inventory_over_the_operator_inventory(repo_root: Path) -> None:
    spec = load_config(repo_root / "chains.yaml", REGISTRY).raw.devnet
    assert spec is not None
    demo = spec.for_demo()
    for name, chain in spec.chains.items():
        funded = demo.chains[name].operator_inventory
        assert funded == {**chain.operator_inventory, **chain.demo_inventory}
        assert funded["WETH"] == chain.operator_inventory["WETH"]  # only the tokens demo_inventory names change
    usdc = {name: c.operator_inventory["USDC"] for name, c in demo.chains.items()}
    assert usdc["ethereum"] > 0.8 * sum(usdc.values())  # skewed: most USDC on Ethereum, little on the L2s
    # The demo deploys (and caches) a devnet of its own; the tests' devnet keeps its key whatever demo_inventory says.
    assert cache_key(demo) != cache_key(spec)
    reskewed = spec.model_copy(update={"chains": {n: c.model_copy(update={"demo_inventory": {"USDC": 1.0}})
                                                  for n, c in spec.chains.items()}})
    assert cache_key(reskewed) == cache_key(spec)



def test_the_demo_deposits_its_perp_margin_and_the_tests_devnet_keeps_its_key(repo_root: Path) -> None:
    spec = load_config(repo_root / "chains.yaml", REGISTRY).raw.devnet
    assert spec is not None
    demo = spec.for_demo()
    for name, chain in spec.chains.items():
        want = chain.operator_perp_collateral if chain.demo_perp_collateral is None else chain.demo_perp_collateral
        assert demo.chains[name].operator_perp_collateral == want
    arbitrum = demo.chains["arbitrum"]
    assert arbitrum.operator_perp_collateral > 0 and arbitrum.perp_markets == ("ETH", "BTC")
    more = spec.model_copy(update={"chains": {n: c.model_copy(update={"demo_perp_collateral": 1.0})
                                              for n, c in spec.chains.items()}})
    assert cache_key(more) == cache_key(spec)


def test_a_perp_market_without_a_devnet_price_is_refused(repo_root: Path) -> None:
    data = yaml.safe_load((repo_root / "chains.yaml").read_text())
    data["devnet"]["chains"]["arbitrum"]["perp_markets"] = ["ETH", "SOL"]
    path = repo_root / "chains.yaml"
    with pytest.raises(ConfigError, match=r"devnet\.chains\.arbitrum\.perp_markets: SOL has no devnet\.prices entry"):
        parse_config(data, path, REGISTRY)

BAD_CASES = [
    ("typo in a chain field", lambda d: d["chains"]["ethereum"].update(chain_idd=1),
     "chains.ethereum.chain_idd: unknown field"),
    ("wrong type", lambda d: d["chains"]["ethereum"].update(chain_id="one"), "chains.ethereum.chain_id"),
    ("negative chain id", lambda d: d["chains"]["ethereum"].update(chain_id=-5), "chains.ethereum.chain_id"),
    ("missing rpc url", lambda d: d["chains"]["ethereum"].pop("rpc_url"),
     "chains.ethereum.rpc_url: required field is missing"),
    ("bad token address", lambda d: d["chains"]["ethereum"]["tokens"]["WETH"].update(address="0x123"),
     "chains.ethereum.tokens.WETH.address"),
    ("absurd decimals", lambda d: d["chains"]["ethereum"]["tokens"]["WETH"].update(decimals=99),
     "chains.ethereum.tokens.WETH.decimals"),
    ("unknown wallet", lambda d: d["chains"]["ethereum"].update(wallet="nobody"),
     "chains.ethereum.wallet: no wallet named 'nobody'"),
    ("unknown adapter", lambda d: d["chains"]["ethereum"]["venues"]["pool1"].update(adapter="curve_v9"),
     "chains.ethereum.venues.pool1.adapter: unknown adapter 'curve_v9'"),
    ("venue without adapter", lambda d: d["chains"]["ethereum"]["venues"]["pool1"].pop("adapter"),
     "chains.ethereum.venues.pool1.adapter: required field is missing"),
    ("typo in a venue field (adapter's own model)",
     lambda d: d["chains"]["ethereum"]["venues"]["pool1"].update(rooter=ADDR_A),
     "chains.ethereum.venues.pool1.rooter: unknown field"),
    ("venue missing a field", lambda d: d["chains"]["ethereum"]["venues"]["pool1"].pop("router"),
     "chains.ethereum.venues.pool1.router: required field is missing"),
    ("private key in the yaml", lambda d: d["wallets"]["ops"].update(private_key="0x" + "11" * 32),
     "wallets.ops.private_key: unknown field"),
    ("wallet with two key sources", lambda d: d["wallets"]["ops"].update(keystore="/tmp/k.json"),
     "wallets.ops: Value error, give exactly one of key_env"),
    ("keystore without password", lambda d: d["wallets"].update(
        ops={"address": ADDR_A, "keystore": "/tmp/k.json"}), "a keystore needs password_env or password_file"),
    ("l1 fee from unknown chain", lambda d: d["chains"]["arbitrum"]["gas"]["l1_data_fee"].update(l1_chain="eth"),
     "gas.l1_data_fee.l1_chain: no chain named 'eth'"),
    ("unknown top-level section", lambda d: d.update(polciy={}), "polciy: unknown field"),
    ("negative gas cap", lambda d: d["chains"]["ethereum"].update(gas={"max_gas_price_gwei": -1}),
     "chains.ethereum.gas.max_gas_price_gwei"),
    # Venue curves are exact within 1 bp only up to EXACT_IMPACT_BPS: a cap beyond it would plan on coarse pieces.
    ("impact cap past exact curves", lambda d: d.update(optimizer={"max_price_impact_bps": 1500}),
     "optimizer.max_price_impact_bps: Input should be less than or equal to 1000, got 1500"),
]


@pytest.mark.parametrize(("label", "edit", "expected"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_file_names_file_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, label: str, edit: Any, expected: str
) -> None:
    monkeypatch.setenv("TEST_ARB_RPC", "http://127.0.0.1:9999")
    path = write(tmp_path, mutate(edit))
    with pytest.raises(ConfigError) as info:
        load_config(path, REGISTRY)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert expected in message, message
    assert "\n" not in message


def test_missing_env_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_ARB_RPC", raising=False)
    with pytest.raises(ConfigError, match=r"chains\.arbitrum\.rpc_url: environment variable TEST_ARB_RPC is not set"):
        load_config(write(tmp_path, GOOD), REGISTRY)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not valid YAML at line 2"):
        load_config(write(tmp_path, "chains:\n  a: b: c\n"), REGISTRY)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the configuration file"):
        load_config(tmp_path / "nope.yaml", REGISTRY)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a mapping at the top level"):
        load_config(write(tmp_path, "- 1\n- 2\n"), REGISTRY)
