"""The market driver's V4 arbitrage maths (devnet.v4_math, kept apart from adapters by the layering) equals
adapters.uniswap's, and its exact output lands a pool on the target when swapped the way ``Pool.swap`` steps; its
encodings (devnet.v4_market) equal adapters.uniswap_v4's and the UniversalRouter's."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from eth_abi.abi import decode

from adapters.uniswap import math as ref
from adapters.uniswap.universal_router import EXECUTE_SELECTOR, MSG_SENDER, Command
from adapters.uniswap_v4 import Action, settle_all, take_all
from devnet.v4 import NATIVE, PoolKey
from devnet.v4_market import EXECUTE_SELECTOR as DEVNET_EXECUTE
from devnet.v4_market import MSG_SENDER as DEVNET_MSG_SENDER
from devnet.v4_market import (
    SETTLE_ALL,
    SWAP_EXACT_OUT_SINGLE,
    SWEEP,
    TAKE_ALL,
    V4_SWAP,
    exact_out_plan,
    execute_calldata,
)
from devnet.v4_math import (
    ExactOut,
    PoolSlot,
    amount0_delta,
    amount1_delta,
    exact_out_to_price,
    next_initialized_tick,
    sqrt_price_at_tick,
    swap_fee,
)

USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
SPACING = 5


@pytest.mark.parametrize("tick", [-887272, -200_003, -1, 0, 1, 5, 73_999, 887272])
def test_tick_math_is_the_adapters(tick: int) -> None:
    assert sqrt_price_at_tick(tick) == ref.get_sqrt_ratio_at_tick(tick)


def test_amount_deltas_are_the_adapters() -> None:
    rng = random.Random(7)
    for _ in range(200):
        a, b = (ref.get_sqrt_ratio_at_tick(rng.randint(-300_000, 300_000)) for _ in range(2))
        liquidity = rng.randint(1, 10**24)
        for up in (False, True):
            assert amount0_delta(a, b, liquidity, up) == ref.get_amount0_delta(a, b, liquidity, up)
            assert amount1_delta(a, b, liquidity, up) == ref.get_amount1_delta(a, b, liquidity, up)


def test_next_initialized_tick_is_the_adapters() -> None:
    rng = random.Random(11)
    bitmap = {w: rng.getrandbits(256) & rng.getrandbits(256) & rng.getrandbits(256) for w in range(-4, 4)}
    for _ in range(500):
        tick, lte = rng.randint(-3 * 256 * SPACING, 3 * 256 * SPACING), rng.random() < 0.5
        expected = ref.next_initialized_tick_within_one_word(bitmap, tick, SPACING, lte)[:2]
        assert next_initialized_tick(bitmap.__getitem__, tick, SPACING, lte) == expected


def test_swap_fee_adds_the_protocol_share() -> None:
    assert swap_fee(3000, 0, True) == 3000
    # 0.1% protocol fee one way, none the other: 1000 + 3000 - 3 pips.
    assert swap_fee(3000, 1000, True) == 3997 and swap_fee(3000, 1000, False) == 3000


class Pool:
    """A V4 pool of LP ranges: its bitmap, net liquidity per tick, and the swap loop of v4-core's ``Pool.swap`` for
    an exact output (adapters.uniswap.math's step, an independent port), to check the walk against."""

    def __init__(self, ranges: list[tuple[int, int, int]], sqrt_p: int) -> None:
        self.net: dict[int, int] = {}
        for lower, upper, liquidity in ranges:
            self.net[lower] = self.net.get(lower, 0) + liquidity
            self.net[upper] = self.net.get(upper, 0) - liquidity
        self.bitmap: dict[int, int] = {}
        for tick in self.net:
            word, bit = ref.tick_position(tick // SPACING)
            self.bitmap[word] = self.bitmap.get(word, 0) | (1 << bit)
        self.sqrt_p, self.tick = sqrt_p, ref.get_tick_at_sqrt_ratio(sqrt_p)
        self.liquidity = sum(liq for lower, upper, liq in ranges if lower <= self.tick < upper)

    def word_of(self, position: int) -> int:
        return self.bitmap.get(position, 0)

    def slot(self, fee: int) -> PoolSlot:
        return PoolSlot(self.sqrt_p, self.tick, self.liquidity, fee)

    def swap_exact_out(self, zero_for_one: bool, amount_out: int, fee: int) -> int:
        """Swap to MIN/MAX price for ``amount_out``; returns the input paid (fee included)."""
        limit = ref.MIN_SQRT_RATIO + 1 if zero_for_one else ref.MAX_SQRT_RATIO - 1
        remaining, paid = amount_out, 0
        while remaining and self.sqrt_p != limit:
            tick_next, initialized, _ = ref.next_initialized_tick_within_one_word(
                {w: self.word_of(w) for w in range(-1000, 1000)}, self.tick, SPACING, zero_for_one)
            tick_next = min(max(tick_next, ref.MIN_TICK), ref.MAX_TICK)
            sqrt_next = ref.get_sqrt_ratio_at_tick(tick_next)
            step_to = max(sqrt_next, limit) if zero_for_one else min(sqrt_next, limit)
            step = ref.compute_swap_step(self.sqrt_p, step_to, self.liquidity, -remaining, fee)
            remaining -= step.amount_out
            paid += step.amount_in + step.fee_amount
            self.sqrt_p = step.sqrt_price_next
            if self.sqrt_p == sqrt_next:
                if initialized:
                    self.liquidity += -self.net[tick_next] if zero_for_one else self.net[tick_next]
                self.tick = tick_next - 1 if zero_for_one else tick_next
            else:
                self.tick = ref.get_tick_at_sqrt_ratio(self.sqrt_p)
        return paid


def _ladder(rng: random.Random, centre: int, n: int) -> list[tuple[int, int, int]]:
    out = []
    for _ in range(n):
        half = rng.randint(1, 800) * SPACING
        lower = (centre - half + rng.randint(-50, 50) * SPACING) // SPACING * SPACING
        out.append((lower, lower + 2 * half, rng.randint(10**14, 10**18)))
    return out


def _walk(pool: Pool, target: int, fee: int) -> ExactOut:
    net_of: Callable[[int], int] = pool.net.__getitem__
    return exact_out_to_price(pool.slot(fee), target, SPACING, pool.word_of, net_of)


@pytest.mark.parametrize("seed", range(12))
def test_the_walks_exact_output_lands_on_the_target(seed: int) -> None:
    rng = random.Random(seed)
    centre = rng.randint(-250_000, 250_000)
    pool = Pool(_ladder(rng, centre, 16), ref.get_sqrt_ratio_at_tick(centre) + rng.randint(0, 10**20))
    move = rng.uniform(-0.08, 0.08)
    target = int(pool.sqrt_p * (1 + move) ** 0.5)
    fee = rng.choice([100, 250, 2000, 10_000])
    swap = _walk(pool, target, fee)
    assert swap.zero_for_one == (move < 0) and swap.amount_out > 0 and swap.landing == target
    paid = pool.swap_exact_out(swap.zero_for_one, swap.amount_out, fee)
    assert abs(pool.sqrt_p - target) <= target // 10**9  # far inside the driver's 0.02 bp (1e-6 of sqrt price)
    # The pool recomputes the last step's input from where it lands: a hair off the walk's, inside the room the
    # driver gives it (a 1e-5 share and 10 units).
    assert abs(paid - swap.amount_in) <= swap.amount_in // 10**9 + 2


def test_a_target_in_an_empty_range_stops_where_the_liquidity_ends() -> None:
    pool = Pool([(-1000, 1000, 10**18)], ref.get_sqrt_ratio_at_tick(0))
    target = ref.get_sqrt_ratio_at_tick(-3000)
    swap = _walk(pool, target, 250)
    assert swap.landing == ref.get_sqrt_ratio_at_tick(-1000)
    pool.swap_exact_out(True, swap.amount_out, 250)
    assert pool.sqrt_p == swap.landing
    # From there, nothing lies before the target: no output to name, no swap.
    assert _walk(pool, target, 250).amount_out == 0


def test_encodings_are_the_adapters() -> None:
    assert (SWAP_EXACT_OUT_SINGLE, SETTLE_ALL, TAKE_ALL) == (
        Action.SWAP_EXACT_OUT_SINGLE, Action.SETTLE_ALL, Action.TAKE_ALL)
    assert (V4_SWAP, SWEEP, DEVNET_EXECUTE, DEVNET_MSG_SENDER) == (
        Command.V4_SWAP, Command.SWEEP, EXECUTE_SELECTOR, MSG_SENDER)
    key = PoolKey(NATIVE, USDC, 250, SPACING)
    actions, params = decode(["bytes", "bytes[]"], exact_out_plan(key, False, 10**18, 3 * 10**9))
    assert actions == bytes([SWAP_EXACT_OUT_SINGLE, SETTLE_ALL, TAKE_ALL])
    assert params[1] == settle_all(USDC, 3 * 10**9) and params[2] == take_all(NATIVE, 10**18)
    (swap,) = decode(["((address,address,uint24,int24,address),bool,uint128,uint128,bytes)"], params[0])
    assert swap[1:] == (False, 10**18, 3 * 10**9, b"")
    # Ether in: the unused value is swept back to the caller after the swap.
    data = execute_calldata(key, ExactOut(True, 3 * 10**9, 10**18, 0), 10**18 + 10, 2**40)
    commands, inputs, deadline = decode(["bytes", "bytes[]", "uint256"], data[4:])
    assert data[:4] == EXECUTE_SELECTOR and commands == bytes([V4_SWAP, SWEEP]) and deadline == 2**40
    assert decode(["address", "address", "uint160"], inputs[1]) == (NATIVE, MSG_SENDER, 0)
