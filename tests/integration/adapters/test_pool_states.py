"""Recorded pool states against the real devnet: `crosshedge venues --save-state` writes every venue at its read
block (V3 with every initialized tick, read in bounded multicalls), and `crosshedge quote --pool-state` then equals
QuoterV2 (V3) and the router's getAmountsOut (V2) to the wei, partial fills included, with no chain at hand."""

from __future__ import annotations

import json
import random
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from adapters import (
    ChainContext,
    PoolState,
    RoundTripCounter,
    Side,
    UniswapV2PoolState,
    UniswapV3PoolState,
    VenueEntry,
    VenueState,
    batch_call,
    decode,
    default_registry,
    encode_call,
    load_pool_state,
)
from adapters.uniswap_v3 import MAX_CALLS_PER_MULTICALL, UniswapV3Adapter, model_of_record
from adapters.uniswap_v3.adapter import model_of
from crosshedge import QuoteOutOfRangeError
from crosshedge.cli import app
from tests.integration.adapters.adapter_helpers import at_head, context, read_venues
from tests.integration.conftest import DevnetHandle

pytestmark = pytest.mark.integration

QUOTE_V2 = "quoteExactInputSingle((address,address,uint256,uint24,uint160))"


@pytest.fixture(scope="module")
def saved(devnet: DevnetHandle, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """`crosshedge venues --save-state DIR --json` on the devnet: the directory and the command's JSON."""
    directory = tmp_path_factory.mktemp("states")
    result = CliRunner().invoke(app, ["venues", "--config", str(devnet.config_path), "--save-state",
                                      str(directory), "--json"])
    assert result.exit_code == 0, result.stderr
    return directory, json.loads(result.stdout)


def tokens(record: PoolState, side: Side) -> tuple[str, str]:
    paid, got = (record.base_token, record.quote_token) if side is Side.SELL else \
        (record.quote_token, record.base_token)
    return paid.address, got.address


def cli_quote(path: Path, side: Side, amount: int) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["quote", "--pool-state", str(path), "--side", side.value, "--amount-in",
                                      str(amount), "--json"])
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def amounts(rng: random.Random, record: PoolState, side: Side) -> list[int]:
    """Dust to far past all the pool's liquidity (10**40 raw: a partial fill on every V3 pool)."""
    decimals = (record.base_token if side is Side.SELL else record.quote_token).decimals
    return [int(10 ** rng.uniform(0, decimals + 8)) + 1 for _ in range(6)] + [10**40]


def past_the_window(record: UniswapV3PoolState, window: VenueState) -> list[tuple[Side, int]]:
    """Sizes that fill whole but only with ticks beyond the read window (where the pool has liquidity there)."""
    whole, cut = model_of_record(record), model_of(window)
    found = []
    for side in (Side.SELL, Side.BUY):
        zf1 = record.base_is_token0 == (side is Side.SELL)
        everything = whole.swap_exact_in(zf1, 10**40).amount_in
        to_edge = whole.swap_exact_in(zf1, 10**40, sqrt_price_limit=cut.edge_sqrt_price(zf1)).amount_in
        if to_edge + 10 < everything:
            found += [(side, to_edge + (everything - to_edge) * k // 4) for k in (1, 2, 3)]
    return found


def test_every_venue_is_saved_at_its_read_block(devnet: DevnetHandle, saved: tuple[Path, dict[str, Any]]) -> None:
    directory, doc = saved
    # A route venue is no pool: its adapter records no state, and says so per venue (its legs' pools are recorded
    # where they are venues of their own).
    routes = {(v.chain, v.name) for v in devnet.config.venues if v.adapter == "uniswap_route"}
    assert routes and doc["save_failed"] == {
        f"{c}/{n}": f"chain {c}: venue {n}: adapter uniswap_route cannot record its state" for c, n in routes}
    assert doc["failed"] == {}
    blocks = {(r["chain"], r["venue"]): r["block"] for r in doc["venues"]}
    records = [load_pool_state(Path(p)) for p in doc["saved"]]
    assert {(r.chain, r.venue) for r in records} == set(blocks) - routes
    assert set(blocks) == {(v.chain, v.name) for v in devnet.config.venues}
    assert all(r.block_number == blocks[(r.chain, r.venue)] for r in records)
    assert sorted(Path(p).name for p in doc["saved"]) == sorted(p.name for p in directory.iterdir())


def test_quote_from_a_saved_state_equals_quoter_v2_to_the_wei(
    devnet: DevnetHandle, saved: tuple[Path, dict[str, Any]]
) -> None:
    rng = random.Random(12)
    cases = partial = beyond_window = filled_beyond_window = 0
    for path in sorted(saved[0].glob("*.json")):
        record = load_pool_state(path)
        if not isinstance(record, UniswapV3PoolState):
            continue
        ctx = context(devnet.config, record.chain)
        window = {s.venue: s for s in read_venues(devnet.config, ctx, "uniswap_v3", record.block_number)}
        quoter = window[record.venue].pool["quoter"]
        cases_here = [(side, a) for side in (Side.SELL, Side.BUY) for a in amounts(rng, record, side)]
        cases_here += past_the_window(record, window[record.venue])
        calls = [encode_call(quoter, QUOTE_V2, (*tokens(record, side), a, record.fee, 0)) for side, a in cases_here]
        _, results = batch_call(ctx.w3, calls, record.block_number, None, record.chain)
        for (side, amount), res in zip(cases_here, results, strict=True):
            assert res.success, f"{path.name}: QuoterV2 reverted for {side.value} {amount}"
            out, sqrt_after, _ticks, _gas = decode(("uint256", "uint160", "uint32", "uint256"), res.data)
            mine = cli_quote(path, side, amount)
            assert (mine["amount_out"], mine["sqrt_price_x96_after"]) == (out, sqrt_after), f"{path.name} {amount}"
            cases += 1
            partial += mine["partial"]
            try:  # the same size on the windowed read: refused exactly when it needs ticks it did not read
                assert default_registry().venue("uniswap_v3").quote(window[record.venue], side, amount) == out
            except QuoteOutOfRangeError:
                beyond_window += 1
                filled_beyond_window += not mine["partial"]
    assert cases >= 50
    assert partial >= 10  # every pool, both sides: QuoterV2 returns a partial fill past all the liquidity
    assert beyond_window >= 10  # the saved state quotes what the window read refuses
    assert filled_beyond_window >= 6  # ... including swaps that fill whole on ticks outside the window


def test_quote_from_a_saved_pair_equals_get_amounts_out(
    devnet: DevnetHandle, saved: tuple[Path, dict[str, Any]]
) -> None:
    rng = random.Random(21)
    cases = 0
    for path in sorted(saved[0].glob("*.json")):
        record = load_pool_state(path)
        if not isinstance(record, UniswapV2PoolState):
            continue
        ctx = context(devnet.config, record.chain)
        [pair] = [s for s in read_venues(devnet.config, ctx, "uniswap_v2", record.block_number)
                  if s.venue == record.venue]
        router = pair.pool["router"]
        cases_here = [(side, a) for side in (Side.SELL, Side.BUY) for a in amounts(rng, record, side)[:-1]]
        calls = [encode_call(router, "getAmountsOut(uint256,address[])", a, list(tokens(record, side)))
                 for side, a in cases_here]
        _, results = batch_call(ctx.w3, calls, record.block_number, None, record.chain)
        for (side, amount), res in zip(cases_here, results, strict=True):
            onchain = int.from_bytes(res.data[-32:], "big")
            mine = cli_quote(path, side, amount)
            assert (mine["amount_out"], mine["amount_in"], mine["partial"]) == (onchain, amount, False)
            cases += 1
    assert cases >= 12


def save_counted(counter: RoundTripCounter, ctx: ChainContext, venues: list[VenueEntry], block: int) -> list[PoolState]:
    counter.reset()  # a retry at a new head counts only its own round trips
    return UniswapV3Adapter().save_state(ctx, venues, block)


def test_a_spacing_one_pool_is_read_whole_in_bounded_multicalls(devnet: DevnetHandle) -> None:
    """The 0.01% pool (spacing 1: 6,932 bitmap words) is saved through multicalls of at most 500 calls each."""
    for chain in devnet.chains():
        entries = [v for v in devnet.config.venues_on(chain) if v.adapter == "uniswap_v3"]
        counter = RoundTripCounter()
        ctx = context(devnet.config, chain, counter)
        _, states = at_head(ctx, partial(UniswapV3Adapter().read, ctx, entries))
        narrow = [e for e in entries if next(s for s in states if s.venue == e.name).pool["tick_spacing"] == 1]
        if not narrow:
            continue
        block, [record] = at_head(ctx, partial(save_counted, counter, ctx, narrow))
        assert isinstance(record, UniswapV3PoolState) and record.block_number == block
        words = 6932
        assert counter.count >= 1 + words // MAX_CALLS_PER_MULTICALL  # the word round alone takes 14 multicalls
        return
    pytest.fail("the devnet has no spacing-1 V3 pool")
