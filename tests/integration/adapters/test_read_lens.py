"""The read lens against the real devnet: every venue of a chain in ONE eth_call (state override, nothing
deployed), agreeing exactly with the multicall path at the same block; its fallback where an RPC refuses state
overrides; and a full-range window on a spacing-1 pool, too big for one call, read in gas-bounded pieces."""

from __future__ import annotations

import dataclasses

import pytest
from web3 import Web3
from web3.types import BlockIdentifier

from adapters import (
    AdapterRegistry,
    ChainContext,
    RoundTripCounter,
    VenueEntry,
    VenueState,
    batch_call,
    calldata,
    connect,
    decode,
    encode_call,
    lens_status,
)
from adapters.uniswap_v3.adapter import UniswapV3Adapter
from adapters.uniswap_v3.reader import initialized_ticks
from orchestrator import read_venues
from tests.integration.adapters.adapter_helpers import (
    V3_MINT,
    approve,
    at_head,
    context,
    mint_narrow_positions,
    send,
)
from tests.integration.adapters.lens_proxy import OverrideRefusingProxy
from tests.integration.conftest import DevnetHandle, held_still

pytestmark = pytest.mark.integration



def multicall_only(ctx: ChainContext) -> ChainContext:
    """The same chain read the way it was before the lens: staged multicall rounds."""
    return dataclasses.replace(ctx, read_lens=False)


def cold(ctx: ChainContext, entries: list[VenueEntry], block: BlockIdentifier) -> tuple[int, list[VenueState]]:
    """Every venue read by fresh adapter instances (no pool hints)."""
    return read_venues(ctx, entries, AdapterRegistry.from_entry_points(), block)


def test_lens_reads_every_venue_in_one_round_trip_exactly_as_the_multicall(devnet: DevnetHandle,
                                                                           still_chains: None) -> None:
    for chain in devnet.chains():
        counter = RoundTripCounter()
        ctx = context(devnet.config, chain, counter)
        entries = devnet.config.venues_on(chain)
        counter.reset()
        number, lens_states = cold(ctx, entries, "latest")
        assert counter.count == 1, (chain, counter.methods)  # cold, "latest": no eth_blockNumber, no later rounds
        assert lens_status(ctx.w3) == "lens"
        counter.reset()
        _, multicall_states = cold(multicall_only(ctx), entries, number)  # still chains: the same block's state
        assert counter.count == 3  # heads, bitmap words, ticks
        assert lens_states == multicall_states, chain
        assert {s.adapter for s in lens_states} == {"uniswap_v2", "uniswap_v3", "uniswap_route", "uniswap_v4"}
        assert len(lens_states) == len(entries)
        registry = AdapterRegistry.from_entry_points()
        read_venues(ctx, entries, registry, number)
        counter.reset()
        assert read_venues(ctx, entries, registry, number) == (number, lens_states)  # warm: still one trip
        assert counter.count == 1


def test_lens_agrees_after_minting_extra_ticks(devnet: DevnetHandle, chain_snapshot: dict[str, str]) -> None:
    chain = "ethereum"
    counter = RoundTripCounter()
    ctx = context(devnet.config, chain, counter)
    entries = [v for v in devnet.config.venues_on(chain) if v.adapter == "uniswap_v3"]
    v3 = UniswapV3Adapter()
    _, before = at_head(ctx, lambda block: v3.read(ctx, entries, block))
    target = before[0]
    w3, trader = ctx.w3, devnet.state["chains"][chain]["accounts"]["trader"]
    manager = devnet.config.chains[chain].contracts["position_manager"]
    mint_narrow_positions(w3, trader, manager, target)  # 80 new initialized ticks, as the round-trip test mints
    with held_still(devnet):  # every read below is pinned to one head
        block = w3.eth.block_number
        counter.reset()
        after = v3.read(ctx, entries, block)  # the same instance: its hints no longer match, the lens needs none
        assert counter.count == 1
        assert len(after[0].pool["ticks"]) >= len(target.pool["ticks"]) + 40
        assert UniswapV3Adapter().read(multicall_only(ctx), entries, block) == after
        counter.reset()
        _, every = cold(ctx, devnet.config.venues_on(chain), block)
        assert counter.count == 1 and cold(multicall_only(ctx), devnet.config.venues_on(chain), block)[1] == every


@pytest.mark.parametrize("ignore", [False, True], ids=["refused", "ignored"])
def test_an_rpc_without_state_overrides_is_read_through_the_multicall(devnet: DevnetHandle, still_chains: None,
                                                                      ignore: bool) -> None:
    chain = "base"
    settings = devnet.config.chains[chain]
    entries = devnet.config.venues_on(chain)
    direct = context(devnet.config, chain)
    with OverrideRefusingProxy(settings.rpc_url, ignore=ignore) as proxy:
        counter = RoundTripCounter()
        proxied = settings.model_copy(update={"rpc_url": proxy.url, "rpc_urls": []})
        ctx = dataclasses.replace(direct, w3=connect(chain, proxied, timeout=30, counter=counter))
        block = ctx.w3.eth.block_number
        counter.reset()
        registry = AdapterRegistry.from_entry_points()
        number, states = read_venues(ctx, entries, registry, block)
        # Found out once: the lens call and a probe are refused, then the three multicall rounds.
        assert proxy.refused == 2 and counter.count == 2 + 3
        assert lens_status(ctx.w3).startswith("multicall (the RPC refused an eth_call state override")
        assert states == cold(multicall_only(direct), entries, block)[1]
        counter.reset()
        assert read_venues(ctx, entries, registry, block) == (number, states)
        assert proxy.refused == 2 and counter.count == 1  # remembered: warm multicall, no lens attempt


TICKS = ("uint128", "int128", "uint256", "uint256", "int56", "uint160", "uint32", "bool")
CREATE_POOL = "createAndInitializePoolIfNecessary(address,address,uint24,uint160)"


def spacing_one_pool(devnet: DevnetHandle, ctx: ChainContext, like: VenueEntry) -> str:
    """A new 1 bp pool (tick spacing 1) at ``like``'s price: liquidity over the full range plus narrow positions
    spread across it, so a full-range window holds thousands of bitmap words and ticks in many of them."""
    _, [state] = at_head(ctx, lambda block: UniswapV3Adapter().read(ctx, [like], block))
    w3, trader = ctx.w3, devnet.state["chains"][ctx.name]["accounts"]["trader"]
    contracts = devnet.config.chains[ctx.name].contracts
    manager = contracts["position_manager"]
    token0, token1, tick = state.pool["token0"], state.pool["token1"], state.pool["tick"]
    send(w3, trader, manager, calldata(CREATE_POOL, token0, token1, 100, state.pool["sqrt_price_x96"]), gas=6_000_000)
    for token in (token0, token1):
        approve(w3, trader, token, manager)
    ranges = [(-887272, 887272)] + [(lo, lo + 7 + k % 5) for k in range(-60, 60) for lo in [tick + k * 14_011]
                                    if lo > -887272 and lo + 12 < 887272]
    for lower, upper in ranges:
        params = (token0, token1, 100, lower, upper, 10**9, 10**9, 0, 0, trader, state.block_timestamp + 3600)
        send(w3, trader, manager, calldata(V3_MINT, params), gas=1_500_000)
    [got] = batch_call(w3, [encode_call(contracts["v3_factory"], "getPool(address,address,uint24)", token0, token1,
                                        100)], "latest", None, ctx.name)[1]
    return Web3.to_checksum_address("0x" + got.data[-20:].hex())


def test_a_full_range_window_on_a_spacing_one_pool_is_read_in_gas_bounded_pieces(
    devnet: DevnetHandle, chain_snapshot: dict[str, str]
) -> None:
    chain = "arbitrum"
    counter = RoundTripCounter()
    ctx = context(devnet.config, chain, counter)
    like = next(v for v in devnet.config.venues_on(chain) if v.adapter == "uniswap_v3")
    pool = spacing_one_pool(devnet, ctx, like)
    config = like.config.model_copy(update={"pool": pool, "window_ticks": 887272})
    entry = VenueEntry(name="weth_usdc_100", chain=chain, adapter="uniswap_v3", config=config)
    with held_still(devnet):  # every read below is pinned to one head
        block = ctx.w3.eth.block_number
        counter.reset()
        [lens] = UniswapV3Adapter().read(ctx, [entry], block)
        assert counter.count == 1  # ~6,200 words and their ticks fit one 30M-gas call
        # An RPC with a lower eth_call gas cap: each call stops at its budget, the rest follows in ONE batch of pieces.
        counter.reset()
        assert UniswapV3Adapter().read(dataclasses.replace(ctx, lens_gas=8_000_000), [entry], block) == [lens]
        assert counter.count == 2 and counter.methods == {"eth_call": 1, "batch": 1}, dict(counter.methods)
        lo, hi = lens.pool["word_range"]
        assert lens.pool["tick_spacing"] == 1 and hi - lo + 1 > 6_000 and len(lens.pool["ticks"]) > 200
        # The multicall path cannot read this window at all (one multicall of ~6,200 tickBitmap calls runs out of
        # memory gas), so every word and tick the lens returned is checked against multicalls of 500 calls at the block.
        words = list(range(lo, hi + 1))
        bitmap = dict.fromkeys(words, 0) | {w: v for w, v in lens.pool["bitmap"]}
        ticks = [t for t, _ in lens.pool["ticks"]]
        calls = [encode_call(pool, "tickBitmap(int16)", w) for w in words] + [encode_call(pool, "ticks(int24)", t)
                                                                              for t in ticks]
        results = [r for i in range(0, len(calls), 500)
                   for r in batch_call(ctx.w3, calls[i : i + 500], block, ctx.multicall, chain)[1]]
        assert [int.from_bytes(r.data, "big") for r in results[: len(words)]] == [bitmap[w] for w in words]
        assert [decode(TICKS, r.data)[1] for r in results[len(words) :]] == [n for _, n in lens.pool["ticks"]]
        assert initialized_ticks(bitmap, 1) == ticks
        # A window the multicall path can still read agrees with it exactly.
        narrower = dataclasses.replace(entry, config=config.model_copy(update={"window_ticks": 100_000}))
        assert UniswapV3Adapter().read(ctx, [narrower], block) == UniswapV3Adapter().read(multicall_only(ctx),
                                                                                            [narrower], block)
