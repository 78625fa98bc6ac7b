"""Acceptance against the real devnet: the uniswap_v4 adapter's quotes equal V4Quoter's to the wei on every V4 pool
of every chain, both directions, dust to past several ticks, with a real protocol fee set on one pool; saved V4
pool states quote the same; reads take at most three round trips."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from adapters import RoundTripCounter, Side, UniswapV4PoolState, load_pool_state, write_pool_state
from adapters.uniswap import get_sqrt_ratio_at_tick
from adapters.uniswap_v4 import UniswapV4Adapter, UniswapV4Config, V4Model, model_of_record_v4, swap_fee
from adapters.uniswap_v4.model import model_of
from adapters.uniswap_v4.reader import MAX_ROUND_TRIPS
from crosshedge import HeadMovedError
from tests.integration.adapters.adapter_helpers import context
from tests.integration.adapters.v4_helpers import at_new_head, quoter_out, set_protocol_fee, v4_entries
from tests.integration.conftest import DevnetHandle

pytestmark = pytest.mark.integration

PROTOCOL_FEE = (400 << 12) | 250  # oneForZero 0.04%, zeroForOne 0.025%: different per direction on purpose
SIZES_PER_DIRECTION = 12


def _max_in(model: V4Model, zf1: bool, tick: int, ticks_away: int) -> int:
    """The input that moves the price ``ticks_away`` ticks (a partial swap to that limit)."""
    limit = get_sqrt_ratio_at_tick(tick - ticks_away if zf1 else tick + ticks_away)
    return model.direction(zf1).swap_exact_in(zf1, 1 << 200, limit).amount_in


@pytest.mark.usefixtures("chain_snapshot")
def test_v4_quotes_equal_v4_quoter_to_the_wei(devnet: DevnetHandle) -> None:
    adapter, rng = UniswapV4Adapter(), random.Random(20261202)
    fee_entry = v4_entries(devnet, "ethereum")[0]
    assert isinstance(fee_entry.config, UniswapV4Config)
    set_protocol_fee(devnet.w3("ethereum"), fee_entry.config, PROTOCOL_FEE)
    cases = crossed_3 = with_protocol_fee = 0
    for chain in devnet.chains():
        ctx, entries = context(devnet.config, chain), v4_entries(devnet, chain)
        states = at_new_head(ctx.w3, lambda block: adapter.read(ctx, entries, block))  # noqa: B023
        assert len(states) == len(entries) == 3
        for entry, state in zip(entries, states, strict=True):
            assert isinstance(entry.config, UniswapV4Config)
            model, p = model_of(state), state.pool
            if p["protocol_fee"]:
                assert (chain, entry.name) == ("ethereum", fee_entry.name) and p["protocol_fee"] == PROTOCOL_FEE
                assert p["swap_fee"]["zero_for_one"] == swap_fee(p["lp_fee"], PROTOCOL_FEE, True) != p["lp_fee"]
            for side in (Side.SELL, Side.BUY):
                zf1 = bool(p["base_is_currency0"]) == (side is Side.SELL)
                top = _max_in(model, zf1, int(p["tick"]), 3800)  # inside the 4000-tick window
                for i in range(SIZES_PER_DIRECTION):
                    # log-uniform from 1 wei, and every third case in the top decade, where the ticks are crossed
                    amount = max(1, int(10 ** rng.uniform(math.log10(top) - 1 if i % 3 == 0 else 0, math.log10(top))))
                    ours = adapter.quote_swap(state, side, amount)
                    theirs = quoter_out(ctx.w3, entry.config, zf1, amount, state.block_number)
                    assert ours.amount_out == theirs, (chain, entry.name, side, amount, ours.amount_out, theirs)
                    assert not ours.partial
                    cases += 1
                    crossed_3 += ours.ticks_crossed >= 3
                    with_protocol_fee += p["protocol_fee"] != 0
    print(f"V4 exact: {cases} cases equal V4Quoter, {crossed_3} crossing >= 3 initialized ticks, "
          f"{with_protocol_fee} with a protocol fee")
    # The devnet's V4 pools hold 5-16 positions, so only the largest cases cross three or more initialized ticks.
    assert cases >= 200 and crossed_3 >= 10 and with_protocol_fee >= 2 * SIZES_PER_DIRECTION


def test_v4_read_takes_at_most_three_round_trips(devnet: DevnetHandle) -> None:
    adapter = UniswapV4Adapter()
    for chain in devnet.chains():
        counter = RoundTripCounter()
        ctx, entries = context(devnet.config, chain, counter), v4_entries(devnet, chain)
        for _ in range(5):
            block = ctx.w3.eth.block_number
            before = counter.count
            try:
                states = adapter.read(ctx, entries, block)
            except HeadMovedError:
                continue
            break
        assert counter.count - before <= MAX_ROUND_TRIPS, (chain, counter.count - before)
        for state in states:
            assert state.block_number == block and state.pool["ticks"]
            assert state.sell.segments and state.buy.segments
            assert state.base.symbol in ("WETH", "WBTC") and state.quote.symbol == "USDC"
            assert state.pool["native"] == (state.base.symbol == "WETH")
            assert state.pool["weth"] == (devnet.config.chains[chain].tokens["WETH"].address
                                          if state.pool["native"] else None)


@pytest.mark.usefixtures("chain_snapshot")
def test_saved_v4_states_quote_equal_to_v4_quoter(devnet: DevnetHandle, tmp_path: Path) -> None:
    adapter, rng = UniswapV4Adapter(), random.Random(7)
    fee_entry = v4_entries(devnet, "arbitrum")[1]
    assert isinstance(fee_entry.config, UniswapV4Config)
    set_protocol_fee(devnet.w3("arbitrum"), fee_entry.config, PROTOCOL_FEE)
    cases = 0
    for chain in devnet.chains():
        ctx, entries = context(devnet.config, chain), v4_entries(devnet, chain)
        records = at_new_head(ctx.w3, lambda b: adapter.save_state(ctx, entries, b))  # noqa: B023
        for entry, record in zip(entries, records, strict=True):
            assert isinstance(entry.config, UniswapV4Config)
            loaded = load_pool_state(write_pool_state(tmp_path, record))
            assert loaded == record and isinstance(loaded, UniswapV4PoolState)
            for side in (Side.SELL, Side.BUY):
                zf1 = record.base_is_token0 == (side is Side.SELL)
                top = _max_in(model_of_record_v4(loaded), zf1, loaded.tick, 1500)
                for _ in range(4):
                    amount = max(1, int(10 ** rng.uniform(0, math.log10(top))))
                    got = adapter.quote_pool_state(loaded, side, amount)
                    if got.partial:  # V4Quoter reverts NotEnoughLiquidity there: nothing to compare
                        continue
                    assert got.amount_out == quoter_out(ctx.w3, entry.config, zf1, amount, record.block_number)
                    cases += 1
    assert cases >= 50
