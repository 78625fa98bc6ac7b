"""uniswap_v4 venues among the chain's others on the devnet: their contracts verify (and a wrong router is refused
in one sentence), and a chain read through the orchestrator merges V4's StateView rounds with the V3/V2 reads
without changing a V4 state."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest
from web3 import Web3

from adapters import AdapterRegistry, ChainContext, RoundTripCounter, VenueEntry, VenueState, lens_usable
from adapters.registry import ENTRY_POINT_GROUP
from adapters.uniswap_v4 import UniswapV4Adapter, UniswapV4Config
from crosshedge import HeadMovedError
from orchestrator import ContractVerifier, read_venues
from tests.integration.adapters.adapter_helpers import context
from tests.integration.adapters.v4_helpers import at_new_head, v4_entries
from tests.integration.conftest import DevnetHandle
from tests.integration.devnet.test_uniswap_v4 import V4Pool, _approve_router, _deployment, _swap

pytestmark = pytest.mark.integration


def registry() -> AdapterRegistry:
    """The installed adapters plus uniswap_v4 (the shared venv's metadata predates its entry point)."""
    return AdapterRegistry(entry_points_by_name={ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)},
                           adapters={"uniswap_v4": UniswapV4Adapter()})


def test_v4_venues_verify_and_a_router_of_another_kind_is_refused(devnet: DevnetHandle, still_chains: None) -> None:
    reg = registry()
    for chain in devnet.chains():
        ctx, entries = context(devnet.config, chain), v4_entries(devnet, chain)
        block = ctx.w3.eth.block_number
        assert ContractVerifier().verify(devnet.config, reg, ctx, entries, block) == {}
        allowed = ContractVerifier().allowlist(devnet.config, reg, ctx, entries, block)
        v4 = devnet.config.chains[chain].uniswap_v4
        assert v4 is not None and {v4.universal_router, v4.permit2} <= allowed and v4.pool_manager not in allowed
    chain = "base"
    ctx, [entry, *_] = context(devnet.config, chain), v4_entries(devnet, chain)
    assert isinstance(entry.config, UniswapV4Config)
    swap_router = devnet.state["chains"][chain]["contracts"]["swap_router"]  # a V3 router: no poolManager()
    bad = VenueEntry("v4_bad", chain, "uniswap_v4", entry.config.model_copy(
        update={"universal_router": Web3.to_checksum_address(swap_router)}))
    refused = ContractVerifier().verify(devnet.config, registry(), ctx, [entry, bad], ctx.w3.eth.block_number)
    assert list(refused) == ["v4_bad"] and "universal_router" in refused["v4_bad"], refused


def _read_counted(ctx: ChainContext, counter: RoundTripCounter, entries: list[VenueEntry], reg: AdapterRegistry,
                  fresh: UniswapV4Adapter) -> tuple[int, list[VenueState], int, list[VenueState]]:
    """(block, the chain read, its round trips, a fresh adapter's cold read of the V4 venues at that block)."""
    v4 = [e for e in entries if e.adapter == "uniswap_v4"]
    for _ in range(4):
        block = ctx.w3.eth.block_number
        before = counter.count
        try:
            number, states = read_venues(ctx, entries, reg, block)
            trips = counter.count - before
            return number, states, trips, fresh.read(ctx, v4, block)
        except HeadMovedError:
            continue
    block = ctx.w3.eth.block_number
    before = counter.count
    number, states = read_venues(ctx, entries, reg, block)
    return number, states, counter.count - before, fresh.read(ctx, v4, block)


def test_a_chain_read_merges_v4_rounds_with_the_other_venues(devnet: DevnetHandle) -> None:
    reg = registry()
    for chain in devnet.chains():
        counter = RoundTripCounter()
        ctx = context(devnet.config, chain, counter)
        entries = [*devnet.config.venues_on(chain), *v4_entries(devnet, chain)]
        lens = ctx.read_lens and lens_usable(ctx.w3)
        trips_by_warm = {}
        for warm in (False, True):
            number, states, trips, alone = _read_counted(ctx, counter, entries, reg, UniswapV4Adapter())
            trips_by_warm[warm] = trips
            assert {s.block_number for s in states} == {number}
            assert [s.venue for s in states] == [e.name for e in entries]
            merged = {s.venue: s for s in states if s.adapter == "uniswap_v4"}
            assert [merged[s.venue] for s in alone] == alone  # neither merging nor hints change a V4 state
            # With the lens every venue, V4's StateView walks included, is one call, cold or warm; through the
            # multicall the rounds merge into at most 3.
            assert trips <= (1 if lens else 3), (chain, warm, lens, trips)
        assert lens, f"{chain}: the devnet's anvil answers the read lens"
        assert trips_by_warm == {False: 1, True: 1}  # cold too: the lens walked V4's windows (test_uniswap_v4_lens)


@pytest.mark.usefixtures("chain_snapshot")
def test_a_warm_read_after_the_price_moved_equals_a_cold_one(devnet: DevnetHandle) -> None:
    chain, warm_adapter = "arbitrum", UniswapV4Adapter()
    ctx, entries = context(devnet.config, chain), v4_entries(devnet, chain)
    before = at_new_head(ctx.w3, lambda b: warm_adapter.read(ctx, entries, b))  # remembers every pool's words
    w3, v4 = devnet.w3(chain), _deployment(devnet, chain)
    trader = devnet.state["chains"][chain]["accounts"]["trader"]
    _approve_router(w3, v4, trader, devnet.config.chains[chain].tokens["USDC"].address)
    for entry, state in zip(entries, before, strict=True):
        assert isinstance(entry.config, UniswapV4Config)
        key = entry.config.key
        # A large buy of the base: the price moves up by many ticks, past the hints' margin on thin pools.
        amount = int(state.mid_price * 10**state.quote.decimals * sum(s.size for s in state.buy.segments) * 0.5)
        receipt = _swap(w3, v4, trader, V4Pool(entry.name, key, bytes.fromhex(key.pool_id[2:])),
                        not state.pool["base_is_currency0"], amount, 1)
        assert receipt["status"] == 1
    for _ in range(4):
        block = ctx.w3.eth.block_number
        try:
            warm, cold = warm_adapter.read(ctx, entries, block), UniswapV4Adapter().read(ctx, entries, block)
        except HeadMovedError:
            continue
        break
    assert warm == cold
    # Buying the base moves the price of currency0 up when the base is currency0, down otherwise.
    moved = [(a.pool["tick"] - b.pool["tick"]) * (1 if b.pool["base_is_currency0"] else -1)
             for a, b in zip(warm, before, strict=True)]
    print(f"ticks moved by the buys: {moved}")
    assert all(m > 0 for m in moved), moved
