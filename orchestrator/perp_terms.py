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

Usage::

    terms = perp_terms(ctx, snap, order, fresh, extra_collateral_usd=0.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from adapters import PerpEntry, PerpFill, PerpMarketState, Side, TxRequest
from crosshedge import CircuitBreakerError, HeadMovedError, LedgerError
from orchestrator.caps import check_caps
from orchestrator.context import RunContext
from orchestrator.lane import SwapTerms
from orchestrator.ledger import IntentKind, IntentRecord
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
    """The order's bound and notional from ``fresh``, every check above made (CircuitBreakerError when one trips)."""
    spec = order.spec
    if spec.side is None or spec.venue is None:
        raise LedgerError(f"intent {spec.id}: a perp order names no side or market")
    check_mark_index(fresh, ctx.execution.perp_max_mark_index_deviation)
    then = next((p for p in snap.chains[spec.chain].perps if p.market == spec.venue), None)
    if then is not None:
        check_price_move(fresh.key, then.mark_price, fresh.mark_price, ctx.execution.max_price_move_bps)
    quote = ctx.registry.perp(fresh.adapter).quote(fresh, spec.side, spec.amount_in_raw)
    slip = ctx.execution.slippage_bps / 1e4
    base = spec.amount_in_raw / 10**fresh.base_decimals
    got = quote.quote_amount_raw
    if spec.side is Side.SELL:
        bound = max(spec.min_amount_out_raw, math.floor(got * (1 - slip)))
        moved = got < bound
    else:
        bound = min(spec.min_amount_out_raw, math.ceil(got * (1 + slip)))
        moved = got > bound
    if moved:
        raise CircuitBreakerError(f"perp {fresh.key}: the exact quote now ({got} raw quote for {base:g} base) is "
                                  f"past the plan's bound ({spec.min_amount_out_raw} raw); the price moved against it")
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
        return self._ctx.registry.perp(fresh.adapter).build_open(fresh, spec.side, spec.amount_in_raw,
                                                                 terms.min_amount_out, deadline)

    def build_deposit(self, record: IntentRecord) -> TxRequest:
        spec = record.spec
        entry = perp_entry(self._ctx, spec.chain, spec.venue or "")
        return self._ctx.registry.perp(entry.adapter).build_deposit(entry, spec.token_in, spec.amount_in_raw)

    def parse_fills(self, record: IntentRecord, receipt: Mapping[str, Any]) -> tuple[PerpFill, ...]:
        spec = record.spec
        entry = perp_entry(self._ctx, spec.chain, spec.venue or "")
        return tuple(self._ctx.registry.perp(entry.adapter).parse_fills(entry, receipt))


__all__ = ["PerpHooks", "check_mark_index", "fresh_perp", "margin_ratio_after", "perp_entry", "perp_terms"]
