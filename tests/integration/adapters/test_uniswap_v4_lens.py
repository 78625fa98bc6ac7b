"""The read lens walks Uniswap V4 pools through StateView: with the chain's V4 venues listed beside its V2, V3 and
route venues, a cold read of every venue is ONE eth_call and equals the multicall path's states exactly; a V4 walk
past a low gas budget continues in pieces at the same block and still equals it."""

from __future__ import annotations

import dataclasses
from importlib.metadata import entry_points

import pytest
from web3.types import BlockIdentifier

from adapters import (
    AdapterRegistry,
    ChainContext,
    RoundTripCounter,
    VenueEntry,
    VenueState,
    lens_status,
)
from adapters.registry import ENTRY_POINT_GROUP
from adapters.rpc.lens import RESERVE_GAS
from adapters.uniswap_v4 import UniswapV4Adapter
from orchestrator import read_venues
from tests.integration.adapters.adapter_helpers import context
from tests.integration.adapters.v4_helpers import v4_entries
from tests.integration.conftest import DevnetHandle

# Both tests compare reads pinned to the head: no block is mined under them.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("still_chains")]


def registry() -> AdapterRegistry:
    """Fresh adapters (no pool hints), uniswap_v4 among them (the shared venv's metadata predates its entry point)."""
    return AdapterRegistry(entry_points_by_name={ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)},
                           adapters={"uniswap_v4": UniswapV4Adapter()})


def cold(ctx: ChainContext, entries: list[VenueEntry], block: BlockIdentifier) -> tuple[int, list[VenueState]]:
    return read_venues(ctx, entries, registry(), block)


def test_a_cold_read_of_every_venue_with_v4_is_one_lens_call_equal_to_the_multicall(devnet: DevnetHandle) -> None:
    for chain in devnet.chains():
        counter = RoundTripCounter()
        ctx = context(devnet.config, chain, counter)
        entries = [*devnet.config.venues_on(chain), *v4_entries(devnet, chain)]
        counter.reset()
        number, lens_states = cold(ctx, entries, "latest")
        assert counter.count == 1, (chain, dict(counter.methods))  # "latest": no eth_blockNumber, no later rounds
        assert lens_status(ctx.w3) == "lens"
        counter.reset()
        _, multicall_states = cold(dataclasses.replace(ctx, read_lens=False), entries, number)
        assert counter.count == 3  # heads, bitmap words, ticks: what the lens saved
        assert lens_states == multicall_states, chain
        assert {s.adapter for s in lens_states} == {"uniswap_v2", "uniswap_v3", "uniswap_route", "uniswap_v4"}
        assert [s.venue for s in lens_states] == [e.name for e in entries]
        v4 = [s for s in lens_states if s.adapter == "uniswap_v4"]
        assert v4 and all(s.pool["ticks"] for s in v4), chain  # the walks did find initialized ticks
        # The adapter's own read takes the lens too, and a warm one (hints remembered, not used) is still one call.
        adapter = UniswapV4Adapter()
        v4_entries_only = [e for e in entries if e.adapter == "uniswap_v4"]
        counter.reset()
        assert adapter.read(ctx, v4_entries_only, number) == v4
        assert adapter.read(ctx, v4_entries_only, number) == v4
        assert counter.count == 2


def test_a_v4_walk_past_its_gas_budget_is_continued_in_pieces(devnet: DevnetHandle) -> None:
    chain = "base"
    counter = RoundTripCounter()
    ctx = context(devnet.config, chain, counter)
    entries = v4_entries(devnet, chain, window_ticks=887272)  # every word of the tick range
    block = ctx.w3.eth.block_number
    counter.reset()
    whole = UniswapV4Adapter().read(ctx, entries, block)
    assert counter.count == 1
    # Little more gas than the per-word reserve: each call stops after a few words, the rest follows in batches.
    counter.reset()
    low = dataclasses.replace(ctx, lens_gas=RESERVE_GAS + 300_000)
    assert UniswapV4Adapter().read(low, entries, block) == whole
    assert counter.methods["eth_call"] == 1 and counter.methods["batch"] >= 1, dict(counter.methods)
    assert UniswapV4Adapter().read(dataclasses.replace(ctx, read_lens=False), entries, block) == whole
    assert all(s.pool["word_range"][1] - s.pool["word_range"][0] > 10 for s in whole)
