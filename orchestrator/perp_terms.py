"""A perp order's terms at signing time: the market read again at the head, limits from that read, never the plan.

Right before a perp order (or the margin deposit and approval in front of it) is signed, its market is read at the
chain's head and the order is quoted exactly from that read. Then, in order:

* the mark must be within ``execution.perp_max_mark_index_deviation`` of the index (a broken oracle, or a vAMM
  pushed away from it: CircuitBreakerError naming the chain, the market, both prices and the limit);
* the mark must not have moved more than ``execution.max_price_move_bps`` since the snapshot;
* the quote-side bound (``oppositeAmountBound``) is the fresh quote less ``execution.slippage_bps`` for a short (the
  least received, never below the plan's) or plus it for a long (the most paid, never above the plan's);
* an order that grows the position must leave the account's margin ratio (account value after the trade's cost /
  position notional at the mark) at or above ``execution.perp_min_margin_ratio`` (the margin alarm: an event
  ``margin_alarm`` and CircuitBreakerError);
* the order's notional (base · mark) counts against every notional cap, as a swap's does.

A close (``Intent.close``: the plan flattens the position) is quoted for the whole position the account holds at
that read, not the plan's size, and built as the venue's closePosition, which closes exactly what is held when it
executes. Its bound is that quote's, with the slippage, never past the plan's price per base unit. It is refused
before anything is signed (UnsafeTransactionError naming the chain and the market; the intent is failed, never
retried) when the account holds no position any more or the position's side flipped since the plan: the trade
the plan chose no longer exists.

Usage::

    terms = perp_terms(ctx, snap, order, fresh, extra_collateral_usd=0.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from adapters import PerpEntry, PerpFill, PerpMarketState, Side, TxRequest
from crosshedge import CircuitBreakerError, HeadMovedError, LedgerError, UnsafeTransactionError
from orchestrator.caps import check_caps
from orchestrator.context import RunContext
from orchestrator.lane import SwapTerms
from orchestrator.ledger import Intent, IntentKind, IntentRecord
from orchestrator.safety import check_price_move
from orchestrator.snapshot import Snapshot

_READ_TRIES = 3


def perp_entry(ctx: RunContext, chain: str, market: str) -> PerpEntry:
    """The configured market ``market`` on ``chain`` (LedgerError when the config has none: an intent outlived it)."""
    entry = next((p for p in ctx.config.perps_on(chain) if p.name == market and p.enabled), None)
    if entry is None:
        raise LedgerError(f"chain {chain}: no enabled perp market {market} is configured")
    return entry


def fresh_perp(ctx: RunContext, chain: str, market: str) -> PerpMarketState:
    """The market and the wallet's account in it at the chain's head (read again when the head moved mid-read)."""
    entry = perp_entry(ctx, chain, market)
    cc = ctx.chain_context(chain)
    for attempt in range(_READ_TRIES):
        try:
            [state] = ctx.registry.perp(entry.adapter).read(cc, [entry], int(cc.w3.eth.block_number))
            return state
        except HeadMovedError:
            if attempt == _READ_TRIES - 1:
                raise
    raise AssertionError("unreachable")


def check_mark_index(state: PerpMarketState, limit: float) -> None:
    """CircuitBreakerError when |mark / index − 1| exceeds ``limit``."""
    deviation = abs(state.mark_price / state.index_price - 1.0)
    if deviation > limit:
        raise CircuitBreakerError(
            f"chain {state.chain}: perp market {state.market}: mark {state.mark_price:,.2f} deviates "
            f"{deviation:.2%} from index {state.index_price:,.2f}, above the limit of {limit:.2%} "
            "(execution.perp_max_mark_index_deviation); not traded")


def margin_ratio_after(state: PerpMarketState, signed_base: float, cost_usd: float,
                       extra_collateral_usd: float = 0.0) -> float | None:
    """The account's margin ratio after a trade of ``signed_base`` base units costing ``cost_usd`` (fee + impact),
    with ``extra_collateral_usd`` more in the Vault: account value / (|size after| · mark); None when flat after."""
    size_now = state.position.size if state.position is not None else 0.0
    after = abs(size_now + signed_base)
    if after == 0:
        return None
    value = (state.account_value_usd or 0.0) + extra_collateral_usd - cost_usd
    return value / (after * state.mark_price)


def perp_terms(ctx: RunContext, snap: Snapshot, order: IntentRecord, fresh: PerpMarketState,
               extra_collateral_usd: float = 0.0) -> SwapTerms:
    """The order's bound and notional from ``fresh``, every check above made (CircuitBreakerError when one trips;
    UnsafeTransactionError for a close with nothing left to close)."""
    spec = order.spec
    if spec.side is None or spec.venue is None:
        raise LedgerError(f"intent {spec.id}: a perp order names no side or market")
    check_mark_index(fresh, ctx.execution.perp_max_mark_index_deviation)
    then = next((p for p in snap.chains[spec.chain].perps if p.market == spec.venue), None)
    if then is not None:
        check_price_move(fresh.key, then.mark_price, fresh.mark_price, ctx.execution.max_price_move_bps)
    if spec.close:
        return close_terms(ctx, spec, fresh)
    got, bound = _bounded_quote(ctx, fresh, spec.side, spec.amount_in_raw, spec.min_amount_out_raw)
    base = spec.amount_in_raw / 10**fresh.base_decimals
    signed = base if spec.side is Side.BUY else -base
    size_now = fresh.position.size if fresh.position is not None else 0.0
    cost = abs(got / 10**fresh.quote_decimals - base * fresh.mark_price)
    ratio = margin_ratio_after(fresh, signed, cost, extra_collateral_usd)
    limit = ctx.execution.perp_min_margin_ratio
    if abs(size_now + signed) > abs(size_now) and ratio is not None and ratio < limit:
        why = (f"perp {fresh.key}: the order of {signed:+g} base would leave the account's margin ratio at "
               f"{ratio:.3f}, below execution.perp_min_margin_ratio {limit:g}; not signed")
        ctx.ledger.add_event(spec.run_id, "margin_alarm", why, chain=spec.chain, venue=fresh.key, intent=spec.id)
        raise CircuitBreakerError(why)
    notional = base * fresh.mark_price
    check_caps(ctx, spec.run_id, spec.id, notional)
    return SwapTerms(min_amount_out=bound, expected_out=got, notional_usd=notional)


def close_size_raw(spec: Intent, fresh: PerpMarketState) -> int:
    """The raw base units a close of ``spec`` closes: the account's whole position in ``fresh``.

    UnsafeTransactionError (one sentence naming the chain and the market) when the account holds none any more,
    or holds the other side (a close planned for a short would buy back a long's worth: not the plan's trade)."""
    where = f"intent {spec.id}: chain {fresh.chain}: perp market {fresh.market}"
    size = fresh.position.size if fresh.position is not None else 0.0
    planned = "a long" if spec.side is Side.SELL else "a short"  # closing a long sells its base; a short buys it
    if size == 0:
        raise UnsafeTransactionError(f"{where}: the account holds no position any more, so the close planned for "
                                     f"{planned} has nothing to close; not signed")
    if (size > 0) != (spec.side is Side.SELL):
        raise UnsafeTransactionError(f"{where}: the position flipped to {'a long' if size > 0 else 'a short'} of "
                                     f"{size:+g} base since the close was planned for {planned}; not signed")
    # The float size is within a few wei of the held one; only the bound comes from it (closePosition reads the
    # exact size itself when it executes).
    return round(abs(size) * 10.0**fresh.base_decimals)


def close_terms(ctx: RunContext, spec: Intent, fresh: PerpMarketState) -> SwapTerms:
    """A close's bound from the exact quote of the whole position ``fresh`` holds (the slippage applied), never
    past the plan's price per base unit; its notional (that size at the mark) checked against every cap."""
    if spec.side is None:
        raise LedgerError(f"intent {spec.id}: a perp order names no side")
    if spec.amount_in_raw <= 0:
        raise UnsafeTransactionError(f"intent {spec.id}: chain {fresh.chain}: perp market {fresh.market}: a close "
                                     f"must carry the plan's positive size, got {spec.amount_in_raw}")
    size_raw = close_size_raw(spec, fresh)
    # The plan's bound was for its own size: the same price per unit for the size held (rounded the order's way,
    # so the scaling alone never refuses what the plan's bound allowed).
    scaled = spec.min_amount_out_raw * size_raw
    plan_bound = (scaled // spec.amount_in_raw if spec.side is Side.SELL else -(-scaled // spec.amount_in_raw))
    got, bound = _bounded_quote(ctx, fresh, spec.side, size_raw, plan_bound)
    notional = size_raw / 10**fresh.base_decimals * fresh.mark_price
    check_caps(ctx, spec.run_id, spec.id, notional)
    return SwapTerms(min_amount_out=bound, expected_out=got, notional_usd=notional)


def _bounded_quote(ctx: RunContext, fresh: PerpMarketState, side: Side, base_raw: int,
                   plan_bound: int) -> tuple[int, int]:
    """(the exact quote of ``base_raw`` on ``side`` now, the order's bound): the quote less the slippage for a
    short (never below ``plan_bound``), plus it for a long (never above); CircuitBreakerError when the quote itself
    is past the bound (the price moved against the plan)."""
    quote = ctx.registry.perp(fresh.adapter).quote(fresh, side, base_raw)
    slip = ctx.execution.slippage_bps / 1e4
    got = quote.quote_amount_raw
    if side is Side.SELL:
        bound = max(plan_bound, math.floor(got * (1 - slip)))
        moved = got < bound
    else:
        bound = min(plan_bound, math.ceil(got * (1 + slip)))
        moved = got > bound
    if moved:
        base = base_raw / 10**fresh.base_decimals
        raise CircuitBreakerError(f"perp {fresh.key}: the exact quote now ({got} raw quote for {base:g} base) is "
                                  f"past the plan's bound ({plan_bound} raw); the price moved against it")
    return got, bound


def order_after(ctx: RunContext, record: IntentRecord, known: Sequence[IntentRecord] = ()) -> IntentRecord:
    """The perp order a margin deposit is for: the next intent of its lane."""
    spec = record.spec
    for pool in (known, ctx.ledger.intents(spec.run_id, spec.lane)):
        found = next((o for o in pool if o.spec.kind is IntentKind.PERP_ORDER and o.spec.seq == spec.seq + 1
                      and o.spec.lane == spec.lane and o.spec.run_id == spec.run_id), None)
        if found is not None:
            return found
    raise LedgerError(f"intent {spec.id}: a perp deposit with no perp order after it in its lane")


class PerpHooks:
    """The perp side of a lane's hooks, bound to one run's snapshot: terms, calls and fills (orchestrator.terms)."""

    def __init__(self, ctx: RunContext, snap: Snapshot, known: Sequence[IntentRecord] = ()) -> None:
        self._ctx, self._snap, self._known = ctx, snap, known
        self._fresh: dict[str, PerpMarketState] = {}  # per order: the read its terms came from, which it is built on

    def terms(self, record: IntentRecord) -> SwapTerms:
        """Terms of a perp order, or of the deposit in front of one (the order's checks, with the deposit's
        collateral counted, and the deposit's own notional for the per-trade cap)."""
        ctx = self._ctx
        if record.spec.kind is IntentKind.PERP_ORDER:
            fresh = fresh_perp(ctx, record.spec.chain, record.spec.venue or "")
            self._fresh[record.spec.id] = fresh
            return perp_terms(ctx, self._snap, record, fresh)
        order = order_after(ctx, record, self._known)
        fresh = fresh_perp(ctx, order.spec.chain, order.spec.venue or "")
        extra = record.spec.amount_in_raw / 10**fresh.collateral.decimals
        perp_terms(ctx, self._snap, order, fresh, extra_collateral_usd=extra)
        return SwapTerms(min_amount_out=0, expected_out=record.spec.amount_in_raw, notional_usd=extra)

    def build_order(self, record: IntentRecord, terms: SwapTerms, deadline: int) -> TxRequest:
        spec = record.spec
        fresh = self._fresh.get(spec.id) or fresh_perp(self._ctx, spec.chain, spec.venue or "")
        if spec.side is None:
            raise LedgerError(f"intent {spec.id}: a perp order names no side")
        adapter = self._ctx.registry.perp(fresh.adapter)
        if spec.close:  # on the read its terms came from, which found the position there and on the plan's side
            return adapter.build_close(fresh, terms.min_amount_out, deadline)
        return adapter.build_open(fresh, spec.side, spec.amount_in_raw, terms.min_amount_out, deadline)

    def build_deposit(self, record: IntentRecord) -> TxRequest:
        spec = record.spec
        entry = perp_entry(self._ctx, spec.chain, spec.venue or "")
        return self._ctx.registry.perp(entry.adapter).build_deposit(entry, spec.token_in, spec.amount_in_raw)

    def parse_fills(self, record: IntentRecord, receipt: Mapping[str, Any]) -> tuple[PerpFill, ...]:
        spec = record.spec
        entry = perp_entry(self._ctx, spec.chain, spec.venue or "")
        return tuple(self._ctx.registry.perp(entry.adapter).parse_fills(entry, receipt))


__all__ = ["PerpHooks", "check_mark_index", "close_size_raw", "close_terms", "fresh_perp", "margin_ratio_after",
           "perp_entry", "perp_terms"]
