"""Quotes of the exact V3 pool model: the shared-checkpoint walk equals the pool's plain loop, price limits are
refused where the pool reverts 'SPL', a swap past the last liquidity is a partial fill, a complete model has no
window, and the adapter builds a state's model once."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3

from adapters import CallResult, ChainContext, Side, Stages, TokenInfo, VenueState, encode_call
from adapters.uniswap import math as m
from adapters.uniswap_v3 import PoolModel, SwapResult, UniswapV3Adapter, UniswapV3Config, chunked
from adapters.uniswap_v3.pool import OutOfWindow
from adapters.uniswap_v3.reader import PoolRead
from crosshedge import PriceLimitError, QuoteOutOfRangeError
from tests.unit.adapters.pool_helpers import pool_with

MIN, MAX = m.MIN_SQRT_RATIO, m.MAX_SQRT_RATIO


def plain_swap(model: PoolModel, zf1: bool, amount: int, limit: int | None = None) -> SwapResult:
    """The pool's swap loop from slot0, one step after another (no checkpoints): the reference."""
    limit = limit if limit is not None else (MIN + 1 if zf1 else MAX - 1)
    sqrt_p, tick, liquidity, remaining, out, crossed = model.sqrt_price_x96, model.tick, model.liquidity, amount, 0, 0
    while remaining != 0 and sqrt_p != limit:
        sqrt_p, tick, liquidity, used, got, cross = model.step(zf1, sqrt_p, tick, liquidity, remaining, limit)
        remaining, out, crossed = remaining - used, out + got, crossed + cross
    return SwapResult(amount - remaining, out, sqrt_p, tick, crossed, partial=remaining != 0)


def complete(model: PoolModel) -> PoolModel:
    return PoolModel.from_ticks(model.sqrt_price_x96, model.tick, model.liquidity, model.fee, model.tick_spacing,
                                model.liquidity_net, venue="chain test: venue v3")


positions = st.lists(st.tuples(st.integers(-40, 39), st.integers(1, 30), st.integers(10**12, 10**21)),
                     min_size=1, max_size=10)


@settings(max_examples=40, deadline=None)
@given(raw=positions, tick=st.integers(-300, 300), fee=st.sampled_from([100, 500, 3000, 10000]),
       amounts=st.lists(st.integers(1, 10**24), min_size=1, max_size=5), zf1=st.booleans())
def test_checkpoint_walk_equals_the_plain_loop(
    raw: list[tuple[int, int, int]], tick: int, fee: int, amounts: list[int], zf1: bool
) -> None:
    spacing = {100: 1, 500: 10, 3000: 60, 10000: 200}[fee]
    pool = pool_with([(lo * spacing * 8, (lo + w) * spacing * 8, liq) for lo, w, liq in raw], tick, spacing, fee,
                     window=1_000_000)  # every word of the range: the window model is the chain's word-by-word walk
    whole = complete(pool)
    for amount in amounts:  # one model, many quotes: later ones reuse and extend the checkpoints
        want = plain_swap(pool, zf1, amount)
        assert pool.swap_exact_in(zf1, amount) == want
        # A complete model skips the empty ranges the chain walks word by word: same result to the wei.
        assert whole.swap_exact_in(zf1, amount) == want


@pytest.mark.parametrize("fee", [0, 500, 3000])
def test_inputs_exactly_at_each_boundary_and_one_wei_either_side(fee: int) -> None:
    # The checkpoints' claim: the input that reaches a tick exactly is where a quote may start from it. Probe the
    # inputs that reach every initialized tick and every bitmap-word stop, and one wei either side of each.
    spacing = 10
    pool = pool_with([(-30000, 30000, 10**19), (-2600, 2600, 3 * 10**19), (-500, 9000, 10**20), (-20, 40, 10**21)],
                     tick=7, spacing=spacing, fee=fee, window=1_000_000)
    for zf1 in (True, False):
        stops = sorted({*pool.liquidity_net, *(w * 256 * spacing for w in range(-12, 13))}, reverse=zf1)
        stops = [t for t in stops if (t <= pool.tick if zf1 else t > pool.tick)]
        reach = [plain_swap(pool, zf1, 10**40, m.get_sqrt_ratio_at_tick(t)).amount_in for t in stops]
        probed = PoolModel(pool.sqrt_price_x96, pool.tick, pool.liquidity, pool.fee, pool.tick_spacing, pool.bitmap,
                           pool.liquidity_net, pool.word_range)
        for amount in (a + d for a in reach for d in (-1, 0, 1)):
            assert probed.swap_exact_in(zf1, amount) == plain_swap(pool, zf1, amount), (zf1, amount)


@settings(max_examples=40, deadline=None)
@given(raw=positions, amount=st.integers(1, 10**23), frac=st.floats(0.01, 0.99), zf1=st.booleans())
def test_a_price_limit_stops_the_walk_where_the_loop_does(
    raw: list[tuple[int, int, int]], amount: int, frac: float, zf1: bool
) -> None:
    pool = pool_with([(lo * 600, (lo + w) * 600, liq) for lo, w, liq in raw], 0, 60, 3000, window=1_000_000)
    edge = m.get_sqrt_ratio_at_tick(-24000 if zf1 else 24000)
    limit = int(pool.sqrt_price_x96 + (edge - pool.sqrt_price_x96) * frac)
    pool.swap_exact_in(zf1, 10**30)  # checkpoints first laid by a swap that passes the limit
    got = pool.swap_exact_in(zf1, amount, sqrt_price_limit=limit)
    assert got == plain_swap(pool, zf1, amount, limit)
    assert got.partial == (got.sqrt_price_x96 == limit and got.amount_in < amount)


@pytest.mark.parametrize(("zf1", "limit", "ok"), [
    (True, "price", False),  # at the price: the pool reverts 'SPL'
    (True, "above", False),  # on the wrong side
    (True, MIN, False),  # at MIN_SQRT_RATIO itself
    (True, MIN - 1, False),
    (True, MIN + 1, True),  # the least limit the pool takes (QuoterV2's default)
    (True, "below", True),
    (False, "price", False),
    (False, "below", False),
    (False, MAX, False),
    (False, MAX + 1, False),
    (False, MAX - 1, True),
    (False, "above", True),
])
def test_price_limit_on_the_wrong_side_is_refused_like_the_pool(zf1: bool, limit: int | str, ok: bool) -> None:
    pool = complete(pool_with([(-6000, 6000, 10**20)], 0, 60, 3000, window=8000))
    value = {"price": pool.sqrt_price_x96, "above": pool.sqrt_price_x96 + 1, "below": pool.sqrt_price_x96 - 1}
    sqrt_limit = value[limit] if isinstance(limit, str) else limit
    if ok:
        result = pool.swap_exact_in(zf1, 10**15, sqrt_price_limit=sqrt_limit)
        assert result.amount_in > 0
        return
    with pytest.raises(PriceLimitError, match=r"^chain test: venue v3: a token[01]-in swap needs .*'SPL'\)$"):
        pool.swap_exact_in(zf1, 10**15, sqrt_price_limit=sqrt_limit)


def test_past_the_last_liquidity_is_a_partial_fill_with_the_input_consumed() -> None:
    pool = complete(pool_with([(-600, 600, 10**20)], 0, 60, 3000, window=1200))
    for zf1 in (True, False):
        result = pool.swap_exact_in(zf1, 10**30)
        assert result.partial and result.amount_in < 10**30
        assert result.sqrt_price_x96 == (MIN + 1 if zf1 else MAX - 1)  # walked on to the end, as the pool does
        assert result.initialized_ticks_crossed == 1
        edge = m.get_sqrt_ratio_at_tick(-600 if zf1 else 600)
        delta = m.get_amount1_delta if zf1 else m.get_amount0_delta
        assert result.amount_out == delta(edge, pool.sqrt_price_x96, 10**20, False)  # everything the range holds
        # The input consumed is exactly what fills: swapping it fills whole, one wei less stops short.
        assert not pool.swap_exact_in(zf1, result.amount_in).partial
        assert pool.swap_exact_in(zf1, result.amount_in).amount_out == result.amount_out


def test_a_window_model_still_refuses_past_its_words() -> None:
    pool = pool_with([(-887220, 887220, 10**18)], tick=0, spacing=60, fee=3000, window=100)
    with pytest.raises(OutOfWindow):
        pool.swap_exact_in(True, 10**30)
    assert not complete(pool).swap_exact_in(True, 10**30).partial  # a full-range position absorbs it


def _state(pool: PoolModel, window_ticks: int = 4000) -> tuple[UniswapV3Adapter, VenueState]:
    usdc = TokenInfo(chain="test", symbol="USDC", address="0x" + "11" * 20, decimals=6, underlying="USD")
    weth = TokenInfo(chain="test", symbol="WETH", address="0x" + "22" * 20, decimals=18, underlying="ETH")
    read = PoolRead("v3", "0x" + "33" * 20, weth, usdc, pool, block_number=7, block_timestamp=1)
    config = UniswapV3Config(pool="0x" + "33" * 20, router="0x" + "44" * 20, window_ticks=window_ticks)
    adapter = UniswapV3Adapter()
    return adapter, adapter._state(ChainContext("test", 1, Web3(), {}), read, config)


def test_the_adapter_builds_a_states_model_once_and_refuses_past_the_window() -> None:
    pool = pool_with([(-6000, 6000, 10**20), (-120, 120, 10**21)], tick=0, spacing=60, fee=3000, window=4000)
    adapter, state = _state(pool)
    assert adapter._models.model(state) is adapter._models.model(state)
    quote = adapter.quote_swap(state, Side.SELL, 10**18)
    assert quote.amount_out == adapter.quote(state, Side.SELL, 10**18) == pool.swap_exact_in(True, 10**18).amount_out
    assert (quote.amount_in, quote.partial) == (10**18, False) and quote.price_after < state.mid_price
    copy = state.model_copy()
    assert adapter._models.model(copy) is not adapter._models.model(state)
    with pytest.raises(QuoteOutOfRangeError, match="chain test: venue v3: sell"):
        adapter.quote(state, Side.SELL, 10**30)


def test_the_adapter_takes_a_price_limit_and_refuses_the_wrong_side_naming_the_venue() -> None:
    pool = pool_with([(-6000, 6000, 10**20)], tick=0, spacing=60, fee=3000, window=4000)
    adapter, state = _state(pool)  # base WETH is token0: a sell moves the price down
    limit = m.get_sqrt_ratio_at_tick(-60)
    stopped = adapter.quote_swap(state, Side.SELL, 10**24, sqrt_price_limit=limit)
    assert stopped.partial and stopped.sqrt_price_x96_after == limit and stopped.amount_in < 10**24
    with pytest.raises(PriceLimitError, match=r"^chain test: venue v3: a token0-in swap needs a sqrt price limit"):
        adapter.quote_swap(state, Side.SELL, 10**18, sqrt_price_limit=pool.sqrt_price_x96 + 1)
    with pytest.raises(PriceLimitError, match=r"^chain test: venue v3: a token1-in swap needs"):
        adapter.quote_swap(state, Side.BUY, 10**18, sqrt_price_limit=m.MAX_SQRT_RATIO)


def test_chunked_splits_every_round_and_rejoins_its_results_in_order() -> None:
    seen: list[int] = []

    def reader() -> Stages:
        first = yield [encode_call("0x" + "55" * 20, "tickBitmap(int16)", w) for w in range(1200)]
        second = yield [encode_call("0x" + "55" * 20, "ticks(int24)", 7)]
        return [len(first[1]), [r.data for r in first[1]] == [bytes([i % 256]) for i in range(1200)], len(second[1])]

    stages = chunked(reader(), max_calls=500)
    calls = next(stages)
    try:
        while True:
            seen.append(len(calls))
            calls = stages.send((9, [CallResult(True, bytes([(sum(seen) - len(calls) + i) % 256]))
                                     for i in range(len(calls))]))
    except StopIteration as stop:
        assert stop.value == [1200, True, 1]
    assert seen == [500, 500, 200, 1]
