"""uniswap_v4 venues among the chain's others on the devnet: their contracts verify (and a wrong router is refused
in one sentence), and a chain read through the orchestrator merges V4's StateView rounds with the V3/V2 reads
without changing a V4 state."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest
from web3 import Web3

from adapters import AdapterRegistry, RoundTripCounter, VenueEntry
from adapters.registry import ENTRY_POINT_GROUP
from adapters.uniswap_v4 import UniswapV4Adapter, UniswapV4Config
from crosshedge import HeadMovedError
from orchestrator import ContractVerifier, read_venues
from tests.integration.adapters.adapter_helpers import context
from tests.integration.adapters.v4_helpers import v4_entries
from tests.integration.conftest import DevnetHandle

pytestmark = pytest.mark.integration


def registry() -> AdapterRegistry:
    """The installed adapters plus uniswap_v4 (the shared venv's metadata predates its entry point)."""
    return AdapterRegistry(entry_points_by_name={ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)},
                           adapters={"uniswap_v4": UniswapV4Adapter()})


def test_v4_venues_verify_and_a_router_of_another_kind_is_refused(devnet: DevnetHandle) -> None:
    reg = registry()
    for chain in devnet.chains():
        ctx, entries = context(devnet.config, chain), v4_entries(devnet, chain)
        block = ctx.w3.eth.block_number
        assert ContractVerifier().verify(devnet.config, reg, ctx, entries, block) == {}
        allowed = ContractVerifier().allowlist(devnet.config, reg, ctx, entries, block)
        v4 = devnet.config.chains[chain].uniswap_v4
        assert v4 is not None and {v4.universal_router, v4.permit2, v4.pool_manager} <= allowed
    chain = "base"
    ctx, [entry, *_] = context(devnet.config, chain), v4_entries(devnet, chain)
    assert isinstance(entry.config, UniswapV4Config)
    swap_router = devnet.state["chains"][chain]["contracts"]["swap_router"]  # a V3 router: no poolManager()
    bad = VenueEntry("v4_bad", chain, "uniswap_v4", entry.config.model_copy(
        update={"universal_router": Web3.to_checksum_address(swap_router)}))
    refused = ContractVerifier().verify(devnet.config, registry(), ctx, [entry, bad], ctx.w3.eth.block_number)
    assert list(refused) == ["v4_bad"] and "universal_router" in refused["v4_bad"], refused


def test_a_chain_read_merges_v4_rounds_with_the_other_venues(devnet: DevnetHandle) -> None:
    reg, adapter = registry(), UniswapV4Adapter()
    for chain in devnet.chains():
        counter = RoundTripCounter()
        ctx = context(devnet.config, chain, counter)
        v4 = v4_entries(devnet, chain)
        entries = [*devnet.config.venues_on(chain), *v4]
        for _ in range(5):
            block = ctx.w3.eth.block_number
            before = counter.count
            try:
                number, states = read_venues(ctx, entries, reg, block)
                trips = counter.count - before
                alone = adapter.read(ctx, v4, block)
            except HeadMovedError:
                continue
            break
        assert number == block and [s.venue for s in states] == [e.name for e in entries]
        merged = {s.venue: s for s in states if s.adapter == "uniswap_v4"}
        assert [merged[s.venue] for s in alone] == alone  # merging changes no V4 state
        # V3 and V2 take one lens call (or 3 multicall rounds); V4's bitmap and tick rounds ride in 2 more at most.
        assert trips <= 3, (chain, trips)
