"""Curie's market order on its vAMM, replayed exactly: the Uniswap V3 swap its Exchange makes with an amount scaled
so the pool's own fee cancels, and the replay its OrderBook runs to charge the exchange fee instead.

How ``Exchange._swap`` (perp-curie-contract 2.6, with ``SwapMath`` and ``OrderBook.replaySwap``) turns an order into
amounts, for the two orders a hedge uses (the base amount exact):

* **short** (base to quote, exact input ``b``): the pool swaps ``ceil(b / (1 − u))`` base in (``u`` the pool's fee,
  so ``b`` of it trades after the pool's fee) for ``q`` quote; the position changes by
  ``−floor(in · (1 − u))`` base and ``+q`` notional; the fee is Σ ``ceil(out_step · f)`` over the steps of the same
  swap that ran in liquidity (``f`` the exchange fee ratio); the trader receives ``q − fee``;
* **long** (quote to base, exact output ``b``): the pool swaps ``Q`` quote in (its fee included) for exactly ``b``
  base; the position changes by ``+b`` base and ``−floor(Q · (1 − u))`` notional; the fee is Σ of the fees a swap of
  the same output computes with ``f`` (the step amounts are those of the real swap: an exact-output step's price
  does not depend on the fee); the trader pays ``floor(Q · (1 − u)) + fee``.

The walk is the pool's loop over :func:`adapters.uniswap.math.compute_swap_step` on a window
:class:`~adapters.uniswap_v3.pool.PoolModel` (its bitmap and liquidityNet); a step the window cannot answer raises
:class:`~adapters.uniswap_v3.pool.OutOfWindow`.

Usage::

    trade = curie_trade(model, base_is_token0=True, short=True, base_amount=10**18, exchange_fee=1000)
    trade.base, trade.quote, trade.fee
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.uniswap.math import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
    PIPS,
    compute_swap_step,
    get_sqrt_ratio_at_tick,
    get_tick_at_sqrt_ratio,
    mul_div,
    mul_div_rounding_up,
    next_initialized_tick_within_one_word,
)
from adapters.uniswap_v3.pool import OutOfWindow, PoolModel


@dataclass(frozen=True)
class Step:
    """One iteration of the pool's swap loop: input without fee, output, fee, and the liquidity it ran in."""

    amount_in: int
    amount_out: int
    fee: int
    liquidity: int


@dataclass(frozen=True)
class Walk:
    """A whole swap: its steps, the price and tick after, initialized ticks crossed, and input left unswapped."""

    steps: tuple[Step, ...]
    sqrt_price_x96: int
    tick: int
    crossed: int
    remaining: int

    @property
    def paid(self) -> int:
        return sum(s.amount_in + s.fee for s in self.steps)

    @property
    def received(self) -> int:
        return sum(s.amount_out for s in self.steps)


def walk(model: PoolModel, zero_for_one: bool, amount_specified: int, fee_pips: int) -> Walk:
    """``UniswapV3Pool.swap``'s loop with ``fee_pips`` for ``amount_specified`` (> 0 exact input, < 0 exact output)
    and no price limit (the end of the range, as Curie passes a zero limit)."""
    limit = MIN_SQRT_RATIO + 1 if zero_for_one else MAX_SQRT_RATIO - 1
    sqrt_p, tick, liquidity = model.sqrt_price_x96, model.tick, model.liquidity
    remaining, crossed, steps = amount_specified, 0, []
    while remaining != 0 and sqrt_p != limit:
        try:
            tick_next, initialized, _ = next_initialized_tick_within_one_word(
                model.bitmap, tick, model.tick_spacing, zero_for_one)
        except KeyError:
            raise OutOfWindow(f"the trade needs vAMM ticks beyond the words read {model.word_range}") from None
        tick_next = max(MIN_TICK, min(MAX_TICK, tick_next))
        sqrt_next = get_sqrt_ratio_at_tick(tick_next)
        past = sqrt_next < limit if zero_for_one else sqrt_next > limit
        step = compute_swap_step(sqrt_p, limit if past else sqrt_next, liquidity, remaining, fee_pips)
        steps.append(Step(step.amount_in, step.amount_out, step.fee_amount, liquidity))
        start, sqrt_p = sqrt_p, step.sqrt_price_next
        remaining = remaining - (step.amount_in + step.fee_amount) if amount_specified > 0 else \
            remaining + step.amount_out
        if sqrt_p == sqrt_next:
            if initialized:
                net = model.liquidity_net[tick_next]
                liquidity += -net if zero_for_one else net
                crossed += 1
            tick = tick_next - 1 if zero_for_one else tick_next
        elif sqrt_p != start:
            tick = get_tick_at_sqrt_ratio(sqrt_p)
    return Walk(tuple(steps), sqrt_p, tick, crossed, remaining)


@dataclass(frozen=True)
class CurieTrade:
    """What ``openPosition`` returns and PositionChanged reports for one order (raw units)."""

    base: int  # |exchanged position size|
    quote: int  # short: quote received (fee taken); long: quote paid (fee included)
    exchanged_position_size: int
    exchanged_position_notional: int
    fee: int
    sqrt_price_x96: int  # the vAMM's after the trade
    tick: int
    crossed: int
    complete: bool  # the pool had the liquidity for the whole order


def curie_trade(model: PoolModel, base_is_token0: bool, short: bool, base_amount: int, exchange_fee: int) -> CurieTrade:
    """The result of a short of exactly ``base_amount`` (exact input) or a long of exactly it (exact output) in
    Curie's market on the vAMM ``model`` (its ``fee`` is the pool's, ``exchange_fee`` Curie's, both in pips)."""
    if base_amount <= 0:
        raise ValueError("base_amount must be positive")
    uni = model.fee
    zero_for_one = short == base_is_token0  # base in when short
    if short:
        scaled = mul_div_rounding_up(base_amount, PIPS, PIPS - uni)
        swap = walk(model, zero_for_one, scaled, uni)
        # The replay is the same swap (same amount and fee); Curie charges its fee on each step's output.
        fee = sum(mul_div_rounding_up(s.amount_out, exchange_fee, PIPS) for s in swap.steps if s.liquidity > 0)
        size, notional = -mul_div(swap.paid, PIPS - uni, PIPS), swap.received
        complete = swap.remaining == 0
    else:
        swap = walk(model, zero_for_one, -base_amount, uni)
        replay = walk(model, zero_for_one, -base_amount, exchange_fee)
        if (replay.tick, replay.sqrt_price_x96) != (swap.tick, swap.sqrt_price_x96):
            raise ArithmeticError("the fee replay ends at another tick than the swap (Curie reverts EX_TKMM)")
        fee = sum(s.fee for s in replay.steps if s.liquidity > 0)
        complete = swap.remaining == 0
        size, notional = base_amount if complete else swap.received, -mul_div(swap.paid, PIPS - uni, PIPS)
    quote = notional - fee
    return CurieTrade(base=abs(size), quote=abs(quote), exchanged_position_size=size,
                      exchanged_position_notional=notional, fee=fee, sqrt_price_x96=swap.sqrt_price_x96,
                      tick=swap.tick, crossed=swap.crossed, complete=complete)


__all__ = ["CurieTrade", "Step", "Walk", "curie_trade", "walk"]
