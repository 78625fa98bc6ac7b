"""Bad input fails closed with one sentence naming chain and venue: RPC down, wrong chain id, not a pool, wrong
decimals, an unreachable chain in a snapshot."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from adapters import ChainContext, VenueEntry, connect, default_registry
from adapters.erc20 import Erc20Config, Erc20Inventory
from crosshedge import AdapterError, ChainMismatchError, RpcError
from crosshedge.cli.app import app
from crosshedge.config import Config
from orchestrator import Snapshot, connect_all, take_snapshot
from tests.integration.adapters.adapter_helpers import context
from tests.integration.conftest import DevnetHandle

pytestmark = pytest.mark.integration


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def with_chain(config: Config, chain: str, **update: object) -> Config:
    chains = dict(config.raw.chains)
    chains[chain] = chains[chain].model_copy(update=update)
    return config.model_copy(update={"raw": config.raw.model_copy(update={"chains": chains})})


def test_rpc_down_names_chain_and_url(devnet: DevnetHandle) -> None:
    url = dead_url()
    settings = devnet.config.chains["base"].model_copy(update={"rpc_url": url})
    with pytest.raises(RpcError, match=f"chain base: RPC {url} is unreachable"):
        connect("base", settings, timeout=2, retries=1)


def test_wrong_chain_id_names_expected_and_served(devnet: DevnetHandle) -> None:
    settings = devnet.config.chains["arbitrum"].model_copy(update={"chain_id": 10})
    with pytest.raises(ChainMismatchError, match=r"chain arbitrum: .* serves chain id 42161, expected 10"):
        connect("arbitrum", settings, timeout=5)


@pytest.mark.parametrize("what", ["token", "account"])
def test_an_address_that_is_not_a_pool(devnet: DevnetHandle, what: str, still_chains: None) -> None:
    ctx = context(devnet.config, "ethereum")
    entry = next(v for v in devnet.config.venues_on("ethereum") if v.adapter == "uniswap_v3")
    chain_state = devnet.state["chains"]["ethereum"]
    bogus = chain_state["tokens"]["WETH"]["address"] if what == "token" else chain_state["accounts"]["trader"]
    bad = VenueEntry(name="bogus_pool", chain="ethereum", adapter="uniswap_v3",
                     config=entry.config.model_copy(update={"pool": bogus}))
    with pytest.raises(AdapterError, match=f"chain ethereum: venue bogus_pool: {bogus} is not a Uniswap V3 pool"):
        default_registry().venue("uniswap_v3").read(ctx, [entry, bad], ctx.w3.eth.block_number)
    v2_entry = next(v for v in devnet.config.venues_on("ethereum") if v.adapter == "uniswap_v2")
    bad_v2 = VenueEntry(name="bogus_pair", chain="ethereum", adapter="uniswap_v2",
                        config=v2_entry.config.model_copy(update={"pair": bogus}))
    with pytest.raises(AdapterError, match=r"chain ethereum: venue bogus_pair: .* is not a Uniswap V2 pair"):
        default_registry().venue("uniswap_v2").read(ctx, [bad_v2], ctx.w3.eth.block_number)


def test_token_decimals_differing_from_config(devnet: DevnetHandle, still_chains: None) -> None:
    ctx = context(devnet.config, "base")
    tokens = {a: (t.model_copy(update={"decimals": 18}) if t.symbol == "USDC" else t) for a, t in ctx.tokens.items()}
    wrong = ChainContext(name=ctx.name, chain_id=ctx.chain_id, w3=ctx.w3, tokens=tokens, multicall=ctx.multicall,
                         extras=ctx.extras)
    block = ctx.w3.eth.block_number
    for adapter in ("uniswap_v3", "uniswap_v2"):
        entry = next(v for v in devnet.config.venues_on("base") if v.adapter == adapter)
        with pytest.raises(AdapterError, match=rf"chain base: venue {entry.name}: token USDC .* decimals\(\) = 6 on "
                                               "chain but 18 in the config"):
            default_registry().venue(adapter).read(wrong, [entry], block)
    with pytest.raises(AdapterError, match="chain base: token USDC"):
        Erc20Inventory().read_positions(wrong, Erc20Config(), block, datetime.now(UTC))


def test_snapshot_is_pinned_round_trips_and_prices_gas(devnet: DevnetHandle) -> None:
    connections, failed = connect_all(devnet.config, timeout=10)
    assert not failed
    snap = take_snapshot(devnet.config, connections, default_registry())
    assert Snapshot.model_validate_json(snap.model_dump_json()) == snap
    assert set(snap.chains) == set(devnet.chains()) and not snap.failed
    for chain in snap.chains.values():
        assert {v.block_number for v in chain.venues} == {chain.block_number}
        assert {p.block_number for p in chain.inventory} == {chain.block_number}
        assert {p.symbol for p in chain.inventory} >= {"WETH", "WBTC", "USDC", "ETH"}
        assert all(usd > 0 for usd in chain.swap_gas_usd.values())
        assert 2000 < chain.native_usd < 4000  # median of the ETH/USD venues (devnet price 3000)
    assert snap.chains["arbitrum"].l1_data_fee_usd > 0 and snap.chains["ethereum"].l1_data_fee_usd == 0
    # Ethereum's 20 gwei dwarfs Base's 0.005 gwei even with Base's L1 data fee.
    eth_gas = min(snap.chains["ethereum"].swap_gas_usd.values())
    assert eth_gas > 10 * max(snap.chains["base"].swap_gas_usd.values())


def test_unreachable_chain_fails_the_snapshot_or_is_listed_in_a_partial_one(devnet: DevnetHandle) -> None:
    broken = with_chain(devnet.config, "arbitrum", rpc_url=dead_url())
    with pytest.raises(RpcError, match="chain arbitrum"):
        connect_all(broken, timeout=2)
    connections, failed = connect_all(broken, timeout=2, allow_partial=True)
    assert set(failed) == {"arbitrum"}
    with pytest.raises(RpcError, match="chain arbitrum: not connected"):
        take_snapshot(broken, connections, default_registry())
    snap = take_snapshot(broken, connections, default_registry(), allow_partial=True)
    assert set(snap.failed) == {"arbitrum"} and set(snap.chains) == {"ethereum", "base"}


def test_venues_command_prints_a_row_per_venue(devnet: DevnetHandle) -> None:
    result = CliRunner().invoke(app, ["venues", "--json", "--config", str(devnet.config_path)])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["venues"]
    assert {(r["chain"], r["venue"]) for r in rows} == {(v.chain, v.name) for v in devnet.config.venues}
    for r in rows:
        assert r["mid"] > 0 and r["swap_gas_usd"] > 0 and r["block"] > 0
        assert r["sell_10bp"] <= r["sell_50bp"] <= r["sell_100bp"]
    table = CliRunner().invoke(app, ["venues", "--config", str(devnet.config_path)])
    assert table.exit_code == 0 and "venues:" in table.stdout
    assert table.stdout.count("├") + table.stdout.count("│ ") >= len(rows)  # a table body, one row per venue
