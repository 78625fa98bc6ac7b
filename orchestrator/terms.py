"""A swap's terms at signing time: limits from facts, not from the plan.

Right before a swap (or the approval for it) is signed, its venue is read again at the chain's head and quoted
exactly: the mid must not have moved more than ``execution.max_price_move_bps`` since the snapshot; the minimum
out is the larger of the plan's and the fresh quote less ``execution.slippage_bps``; the trade's notional is its
value at the fresh mid, and every cap (per trade, per run, rolling 24 h) is checked against that, never against
what a plan declares. A plan older than ``execution.max_plan_age_s`` (or one that does not say when it was made)
is not executed.

Usage::

    hooks = hooks_for(ctx, run_id, "base")
    terms = hooks.prepare_swap(record)       # SwapTerms(min_amount_out, expected_out, notional_usd)
    hooks.permit_request(record, deadline)   # a Permit2 venue's permit (None elsewhere), signed by the sender
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from adapters import (
    Deposit,
    Fill,
    Permit2Venue,
    PermitRequest,
    RpcBatch,
    Side,
    SignedPermit,
    TransferQuote,
    TransferRoute,
    TxRequest,
    VenueState,
    checksum_address,
)
from crosshedge import CircuitBreakerError, LedgerError, StaleDataError, UnsafeTransactionError
from optimizer import Plan
from orchestrator.caps import check_caps
from orchestrator.context import RunContext
from orchestrator.lane import Hooks, SwapTerms
from orchestrator.ledger import IntentKind, IntentRecord
from orchestrator.perp_terms import PerpHooks
from orchestrator.safety import check_price_move
from orchestrator.snapshot import Snapshot, read_venues
from orchestrator.transfers import route_of

DAY_S = 86_400.0
#: The intents an approval is for: the next one of these in its lane spends what it approves.
_SPENDERS = frozenset({IntentKind.SWAP, IntentKind.DEPOSIT, IntentKind.PERP_DEPOSIT, IntentKind.PERP_ORDER})
_PERPS = frozenset({IntentKind.PERP_DEPOSIT, IntentKind.PERP_ORDER})


def run_snapshot(ctx: RunContext, run_id: str) -> Snapshot:
    snap = ctx.ledger.blob(run_id, "snapshot", Snapshot)
    if snap is None:
        raise LedgerError(f"run {run_id}: the ledger holds no snapshot")
    return snap


def run_plan(ctx: RunContext, run_id: str) -> Plan | None:
    """The plan a run executes: the one it was given, else the one it made."""
    return ctx.ledger.blob(run_id, "plan_input", Plan) or ctx.ledger.blob(run_id, "plan", Plan)


def venue_state(snap: Snapshot, run_id: str, chain: str, venue: str) -> VenueState:
    """The venue as the run's snapshot saw it."""
    if chain in snap.chains:
        for v in snap.chains[chain].venues:
            if v.venue == venue:
                return v
    raise LedgerError(f"run {run_id}: no snapshot of venue {venue} on chain {chain}")


def hooks_for(ctx: RunContext, run_id: str, chain: str, snap: Snapshot | None = None,
              known: Sequence[IntentRecord] = ()) -> Hooks:
    """The venue-side callbacks the sender needs, bound to this run's snapshot (read from the ledger unless given)
    and plan; ``known`` are intents of the lane already read (their specs, which never change, find an approval's
    swap without reading the lane again)."""
    snap = snap or run_snapshot(ctx, run_id)
    plan = run_plan(ctx, run_id)
    perps = PerpHooks(ctx, snap, known)

    def state_of(record: IntentRecord) -> tuple[VenueState, str]:
        spec = record.spec
        if spec.venue is None or spec.adapter is None:
            raise LedgerError(f"intent {spec.id}: a {spec.kind} intent names no venue")
        return venue_state(snap, run_id, chain, spec.venue), spec.adapter

    def prepare_swap_in(record: IntentRecord, batch: RpcBatch | None) -> SwapTerms:
        swap = _swap_for(ctx, record, known)
        check_plan_age(ctx, run_id, plan)
        if swap.spec.kind is IntentKind.DEPOSIT:
            return deposit_terms(ctx, snap, swap)
        if swap.spec.kind in _PERPS:
            return perps.terms(swap)
        then, adapter = state_of(swap)
        now_state = _fresh(ctx, chain, then, adapter, batch)
        return swap_terms(ctx, swap, then, now_state)

    def prepare_swap(record: IntentRecord) -> SwapTerms:
        return prepare_swap_in(record, None)

    def build_swap(record: IntentRecord, terms: SwapTerms, deadline: int) -> TxRequest:
        spec = record.spec
        state, adapter = state_of(record)
        if spec.side is None:
            raise LedgerError(f"intent {spec.id}: a swap intent names no side")
        return ctx.registry.venue(adapter).build_swap(
            state, spec.side, spec.amount_in_raw, terms.min_amount_out, spec.sender, deadline)

    def parse_fill(record: IntentRecord, receipt: Mapping[str, Any]) -> Fill:
        state, adapter = state_of(record)
        return ctx.registry.venue(adapter).parse_receipt(state, receipt)

    def permit_venue(record: IntentRecord) -> tuple[Permit2Venue | None, VenueState, Side]:
        state, adapter = state_of(record)
        if record.spec.side is None:
            raise LedgerError(f"intent {record.spec.id}: a swap intent names no side")
        return ctx.registry.permit2_venue(adapter), state, record.spec.side

    def permit_request(record: IntentRecord, deadline: int) -> PermitRequest | None:
        venue, state, side = permit_venue(record)
        return None if venue is None else venue.permit_request(state, side, record.spec.amount_in_raw, deadline)

    def build_permit_swap(record: IntentRecord, terms: SwapTerms, deadline: int, permit: SignedPermit) -> TxRequest:
        venue, state, side = permit_venue(record)
        spec = record.spec
        if venue is None:
            raise UnsafeTransactionError(f"intent {spec.id}: venue {spec.venue} on {spec.chain} takes no permit")
        return venue.build_permit_swap(state, side, spec.amount_in_raw, terms.min_amount_out, spec.sender, deadline,
                                       permit)

    def build_deposit(record: IntentRecord, quote_timestamp: int) -> TxRequest:
        route, quote = _deposit_quote(ctx, record)
        spec = record.spec
        recipient = ctx.wallet_address(route.destination.chain)
        return ctx.registry.transfer(route.origin.adapter).build_deposit(
            route, quote, spec.sender, recipient, quote_timestamp, quote_timestamp + quote.fill_deadline_s)

    def parse_deposit(record: IntentRecord, receipt: Mapping[str, Any]) -> Deposit:
        route, _ = _deposit_quote(ctx, record)
        return ctx.registry.transfer(route.origin.adapter).parse_deposit(route, receipt)

    return Hooks(prepare_swap=prepare_swap, build_swap=build_swap, parse_fill=parse_fill,
                 prepare_swap_in=prepare_swap_in, permit_request=permit_request,
                 build_permit_swap=build_permit_swap, build_deposit=build_deposit, parse_deposit=parse_deposit,
                 build_perp_order=perps.build_order, build_perp_deposit=perps.build_deposit,
                 parse_perp_fills=perps.parse_fills)


def _deposit_quote(ctx: RunContext, record: IntentRecord) -> tuple[TransferRoute, TransferQuote]:
    """The deposit's route from the config and its quote now; CircuitBreakerError when the destination would now
    receive less than the plan said (the bridge's fees rose: a deposit priced at the old fee would not be filled)."""
    spec = record.spec
    if spec.destination is None or spec.adapter is None or spec.route is None:
        raise LedgerError(f"intent {spec.id}: a deposit names no destination, adapter or route")
    symbol = spec.route.rsplit("/", 1)[-1]
    route = route_of(ctx.config, ctx.registry, spec.adapter, spec.chain, spec.destination, symbol)
    quote = ctx.registry.transfer(spec.adapter).quote(route, spec.amount_in_raw)
    if quote.amount_out_raw < spec.min_amount_out_raw:
        raise CircuitBreakerError(f"route {route.key}: the bridge now delivers {quote.amount_out_raw} raw for "
                                  f"{spec.amount_in_raw}, less than the plan's {spec.min_amount_out_raw}; the fee rose")
    return route, quote


def deposit_terms(ctx: RunContext, snap: Snapshot, record: IntentRecord) -> SwapTerms:
    """A deposit's terms: the exact output the destination receives, and its notional at the snapshot's mark of
    the token's underlying (USD tokens at 1), checked against every cap as a swap's is."""
    _, quote = _deposit_quote(ctx, record)
    spec = record.spec
    token = ctx.config.tokens(spec.chain).get(checksum_address(spec.token_in))
    if token is None:
        raise LedgerError(f"intent {spec.id}: token {spec.token_in} is not configured on {spec.chain}")
    mids = [v.mid_price for v in snap.venue_states() if v.underlying == token.underlying and not v.composite]
    price = 1.0 if token.underlying == "USD" else (sorted(mids)[len(mids) // 2] if mids else math.nan)
    if not math.isfinite(price):
        raise StaleDataError(f"intent {spec.id}: no venue of the snapshot prices {token.underlying}, so the deposit's "
                             "notional is unknown; not signed")
    notional = spec.amount_in_raw / 10**token.decimals * price
    check_caps(ctx, spec.run_id, spec.id, notional)
    return SwapTerms(min_amount_out=quote.amount_out_raw, expected_out=quote.amount_out_raw, notional_usd=notional)


def _swap_for(ctx: RunContext, record: IntentRecord, known: Sequence[IntentRecord] = ()) -> IntentRecord:
    """The swap an intent is about: itself, or for an approval the next intent of its lane (from ``known`` when
    it is there: only the swap's spec is used)."""
    if record.spec.kind in _SPENDERS:
        return record
    found = _next_swap(record, known) or _next_swap(record, ctx.ledger.intents(record.spec.run_id, record.spec.lane))
    if found is None:
        raise LedgerError(f"intent {record.spec.id}: an approval with no swap or deposit after it in its lane")
    return found


def _next_swap(record: IntentRecord, records: Sequence[IntentRecord]) -> IntentRecord | None:
    spec = record.spec
    return next((o for o in records if o.spec.kind in _SPENDERS and o.spec.seq == spec.seq + 1
                 and o.spec.lane == spec.lane and o.spec.run_id == spec.run_id), None)


def check_plan_age(ctx: RunContext, run_id: str, plan: Plan | None) -> None:
    """StaleDataError when the run's plan is older than ``execution.max_plan_age_s`` (or undated)."""
    limit = ctx.execution.max_plan_age_s
    if plan is None or plan.created_at is None:
        raise StaleDataError(f"run {run_id}: its plan does not say when it was made; an undated plan is never "
                             "executed (make a new one)")
    age = ctx.clock() - plan.created_at
    if age > limit:
        raise StaleDataError(f"run {run_id}: its plan is {age:.0f} s old (execution.max_plan_age_s {limit:g} s); "
                             "not executed, the hedge is planned again")


def _fresh(ctx: RunContext, chain: str, then: VenueState, adapter: str, batch: RpcBatch | None) -> VenueState:
    """The venue at the chain's head now, every read pinned to one block (the multicall reports which); its first
    round rides in ``batch`` when one is given."""
    entry = ctx.config.venue(chain, then.venue)
    if entry.adapter != adapter:
        raise LedgerError(f"chain {chain}: venue {then.venue} is a {entry.adapter} venue, the intent says {adapter}")
    _, states = read_venues(ctx.chain_context(chain), [entry], ctx.registry, "latest", batch=batch)
    if len(states) != 1:
        raise LedgerError(f"chain {chain}: venue {then.venue} read back {len(states)} states")
    return states[0]


def swap_terms(ctx: RunContext, swap: IntentRecord, then: VenueState, now: VenueState) -> SwapTerms:
    """The swap's minimum out and notional from the fresh state, with every cap checked against them."""
    spec = swap.spec
    key = f"{now.chain}/{now.venue}"
    check_price_move(key, then.mid_price, now.mid_price, ctx.execution.max_price_move_bps)
    side = spec.side or Side.SELL
    quote = ctx.registry.venue(now.adapter).quote(now, side, spec.amount_in_raw)
    floor = math.floor(quote * (1 - ctx.execution.slippage_bps / 1e4))
    min_out = max(spec.min_amount_out_raw, floor)
    if quote < min_out:
        raise CircuitBreakerError(f"venue {key}: the exact quote now ({quote} raw) is below the plan's minimum out "
                                  f"({spec.min_amount_out_raw} raw); the price moved against the plan")
    notional = (spec.amount_in_raw / 10**now.base.decimals * now.mid_price if side is Side.SELL
                else spec.amount_in_raw / 10**now.quote.decimals)
    check_caps(ctx, spec.run_id, spec.id, notional)
    return SwapTerms(min_amount_out=min_out, expected_out=quote, notional_usd=notional)


__all__ = ["check_plan_age", "deposit_terms", "hooks_for", "run_plan", "run_snapshot", "swap_terms", "venue_state"]
