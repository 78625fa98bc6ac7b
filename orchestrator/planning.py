"""The first stages of a run: snapshot every chain, then decide and plan, check the caps and record the intents.

    snapshot_run -> plan_run (risk -> policy -> optimizer, or the run's given plan) -> intents per lane

Each stage re-reads what it needs from the ledger and stores what it made there, so it can run again after a
crash and does only what is left.

Usage::

    snapshot_run(ctx, run_id)
    lanes = plan_run(ctx, run_id)          # the lanes that have intents to execute
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from web3 import Web3

from crosshedge import CircuitBreakerError, Frozen, LedgerError, RpcError
from optimizer import Plan, PlannedTrade
from orchestrator.assess import Capital, plan_with_risk
from orchestrator.bridging import arriving_by_symbol, intents_from_transfers, transfer_options
from orchestrator.context import RunContext
from orchestrator.coverage import PositionMemory
from orchestrator.lane import crash_point
from orchestrator.ledger import TERMINAL_RUN_STATES, Intent, IntentKind, RunState, lane_name
from orchestrator.metrics import record_rpc_error, set_band, set_head_lag, set_inventory
from orchestrator.perp_intents import intents_from_perp_trades
from orchestrator.runs import fail_run, finish_run, skip_planned
from orchestrator.safety import check_gas_price, check_notional, deviating_venues
from orchestrator.snapshot import Snapshot, take_snapshot
from orchestrator.transfers import fill_checker
from risk import Decision, RiskReport

#: Decides and plans one run from its snapshot: (ctx, run_id, snapshot, tripped venues, capped chains) -> Plan,
#: or None when the policy says no trade is needed.
Planner = Callable[[RunContext, str, Snapshot, set[str], set[str]], Plan | None]

PLAN_LOCK_TTL_S = 60
DAY_S = 86_400.0


class PolicyVerdicts(Frozen):
    """The policy's decisions for a run (stored beside its snapshot and plan), and the book's risk they were made
    from (the start of the run's P&L explain; None in runs stored before it was kept)."""

    decisions: tuple[Decision, ...]
    risk: RiskReport | None = None


def snapshot_run(ctx: RunContext, run_id: str) -> Snapshot:
    """Read every chain in parallel (threads; one block per chain) and store the snapshot in the ledger.

    A chain that cannot be reached is recorded in the snapshot's ``failed`` and the run is marked partial; the
    others proceed. Rollup gas needs the L1's base fee and native prices are a cross-chain median, hence one stage.
    """
    record = ctx.ledger.run(run_id)
    if record.state is not RunState.CREATED:
        stored = ctx.ledger.blob(run_id, "snapshot", Snapshot)
        if stored is not None or record.state in TERMINAL_RUN_STATES:  # done already, or ended (cancelled)
            return stored or Snapshot(taken_at=ctx.clock(), chains={})
    connections, down = {}, {}
    for chain in ctx.chains():
        try:
            connections[chain] = ctx.w3(chain)
        except RpcError as exc:
            ctx.drop_connection(chain)
            down[chain] = str(exc)
            record_rpc_error(chain)
    snap = take_snapshot(ctx.config, connections, ctx.registry, allow_partial=True, clock=ctx.clock,
                         verifier=ctx.verifier)
    if down:  # the connection's own error says more than the snapshot's "not connected"
        snap = snap.model_copy(update={"failed": {**snap.failed, **down}})
    observe_snapshot(snap)
    if not snap.chains:  # not stored: a retry reads again (the chains may be back), until the retries run out
        raise RpcError(f"run {run_id}: no chain could be read ({'; '.join(snap.failed.values())})")
    if ctx.ledger.put_blob_once(run_id, "snapshot", snap):
        for chain, why in snap.failed.items():
            ctx.ledger.add_event(run_id, "chain_down", why, chain=chain)
        for chain, cs in snap.chains.items():
            for venue, why in cs.refused_venues.items():
                ctx.ledger.add_event(run_id, "venue_refused", why, chain=chain, venue=venue)
            if cs.inventory_error is not None:
                ctx.ledger.add_event(run_id, "inventory_unknown", cs.inventory_error, chain=chain)
        if snap.failed:
            ctx.ledger.mark_run(run_id, partial=True)
    else:
        # Another delivery stored its snapshot first (a duplicate running alongside, or an attempt that crashed
        # before moving the run on): that one is the run's, since its plan and its reconciliation both use it.
        stored = ctx.ledger.blob(run_id, "snapshot", Snapshot)
        assert stored is not None  # put_blob_once refused because one exists
        snap = stored
    for chain in snap.failed:
        ctx.drop_connection(chain)
    ctx.ledger.set_run_state(run_id, RunState.SNAPSHOTTED)
    return snap


def observe_snapshot(snap: Snapshot) -> None:
    """Head lag and wallet inventory per chain, for the metrics; chains that failed count as RPC errors."""
    for chain in snap.failed:
        record_rpc_error(chain)
    for cs in snap.chains.values():
        set_head_lag(cs.chain, snap.taken_at - cs.block_timestamp)
        for p in cs.inventory:
            set_inventory(cs.chain, p.symbol, p.amount)


def observe_decisions(decisions: Sequence[Decision]) -> None:
    """Each underlying's net delta against its band, for the metrics (blocked ones have no band to show)."""
    for d in decisions:
        if not d.reason.startswith("blocked:"):
            set_band(d.underlying, d.net_delta, d.lower, d.upper)


def tripped_venues(ctx: RunContext, run_id: str, snap: Snapshot) -> tuple[set[str], set[str]]:
    """Venues (chain/venue) whose mid deviates from the median, and chains whose gas is above the cap."""
    mids = {f"{v.chain}/{v.venue}": (v.underlying, v.mid_price) for v in snap.venue_states()}
    venues = deviating_venues(mids, ctx.execution.max_venue_deviation_bps)
    for key, bps in venues.items():
        ctx.ledger.add_event(run_id, "breaker", f"venue {key}: mid deviates {bps:.0f} bp from the median "
                             f"(limit {ctx.execution.max_venue_deviation_bps:g} bp); excluded", venue=key)
    chains: set[str] = set()
    for name, cs in snap.chains.items():
        try:
            check_gas_price(name, cs.gas_price_wei, ctx.config.chains[name].gas.max_gas_price_gwei)
        except CircuitBreakerError as exc:
            chains.add(name)
            ctx.ledger.add_event(run_id, "breaker", str(exc), chain=name)
    return set(venues), chains


def plan_run(ctx: RunContext, run_id: str, planner: Planner | None = None, delivery: str = "") -> list[str]:
    """Decide and plan (or take the run's given plan), check the caps, record intents; returns the lanes.

    Raises CircuitBreakerError when the plan breaks a notional cap and PlanError when no plan can be made (the
    task layer ends the run with the sentence).
    """
    # One planner per run: a redelivered or recovered plan task must not plan the same run twice at once (a second,
    # different plan would race the first for the same intent ids). The lease lapses, so a crashed planner is retried.
    # The owner is the delivery: a message redelivered after its worker died plans again at once.
    if ctx.ledger.acquire(f"plan:{run_id}", owner=delivery or f"pid{os.getpid()}", ttl_s=PLAN_LOCK_TTL_S) is None:
        return []
    record = ctx.ledger.run(run_id)
    if record.state in (RunState.PLANNED, RunState.EXECUTING):
        return ctx.ledger.lanes(run_id)
    if record.state is not RunState.SNAPSHOTTED:
        return []
    snap = ctx.ledger.blob(run_id, "snapshot", Snapshot)
    if snap is None:
        raise LedgerError(f"run {run_id}: snapshotted, but the ledger holds no snapshot")
    bad_venues, bad_chains = tripped_venues(ctx, run_id, snap)
    given = ctx.ledger.blob(run_id, "plan_input", Plan)
    # A planner that died after storing its plan (and perhaps some intents) is resumed with that same plan: a second,
    # different plan would not match the intents already recorded.
    plan = given or ctx.ledger.blob(run_id, "plan", Plan)
    if plan is None:
        plan = (planner or default_planner)(ctx, run_id, snap, bad_venues, bad_chains)
        if plan is not None:  # the run's own plan is dated by the run's clock
            plan = plan.model_copy(update={"created_at": ctx.clock()})
    if plan is None:
        ctx.ledger.set_run_state(run_id, RunState.NOOP, **blocked_reason(ctx, run_id))
        finish_run(ctx, run_id)
        return []
    staged = [t for t in plan.trades if t.staged]
    keep = tradable([t for t in plan.trades if not t.staged], snap, bad_venues, bad_chains)
    for t in plan.trades:
        if t not in keep and t not in staged:
            ctx.ledger.add_event(run_id, "breaker", f"trade on {t.venue_key} dropped: {why_untradable(t, snap)}")
    for t in staged:  # it spends what a transfer brings: the follow-up plans it again on what arrived
        ctx.ledger.add_event(run_id, "staged", f"trade on {t.venue_key} waits for this run's transfers to arrive")
    moves = [t for t in plan.transfers if t.origin in snap.chains and t.destination in snap.chains
             and t.origin not in bad_chains and t.destination not in bad_chains]
    perps = list(plan.perp_trades)  # intents_from_perp_trades drops those that cannot go ahead, with an event
    notional = sum(abs(t.quote_amount) for t in keep) + sum(abs(t.quote_amount) for t in perps)
    try:
        check_notional(notional, ctx.ledger.notional_since(ctx.clock() - DAY_S),
                       ctx.execution.max_notional_usd_per_run, ctx.execution.max_notional_usd_per_day)
    except CircuitBreakerError as exc:
        ctx.ledger.mark_run(run_id, halted=str(exc))
        fail_run(ctx, run_id, str(exc))
        raise
    ctx.ledger.put_blob_once(run_id, "plan", plan)
    seq: dict[str, int] = {}  # per lane: transfers first (their funds start moving), then the trades, the perps
    intents = intents_from_transfers(ctx, run_id, moves, seq) + intents_from_trades(ctx, run_id, keep, seq)
    intents += intents_from_perp_trades(ctx, run_id, snap, perps, seq, bad_chains)
    if not intents:
        ctx.ledger.set_run_state(run_id, RunState.NOOP)
        finish_run(ctx, run_id)
        return []
    ctx.ledger.add_intents(run_id, intents)  # all of them in one atomic step
    crash_point("after_intents")
    ended = ctx.ledger.run(run_id)
    if ended.state in TERMINAL_RUN_STATES:  # cancelled or failed while this plan was being made
        skip_planned(ctx, ctx.ledger.intents(run_id), ended.error or "the run ended while it was being planned")
        return []
    ctx.ledger.set_run_state(run_id, RunState.PLANNED)  # the notional is booked as each swap is signed
    ctx.ledger.set_run_state(run_id, RunState.EXECUTING)
    return ctx.ledger.lanes(run_id)


def blocked_reason(ctx: RunContext, run_id: str) -> dict[str, str]:
    """For a run that planned nothing: the underlyings it could not plan for (a partial book), as the run's error,
    so `runs` says why the run did nothing; empty when the policy simply did not fire."""
    verdicts = ctx.ledger.blob(run_id, "decisions", PolicyVerdicts)
    blocked = [f"{d.underlying}: {d.reason}" for d in (verdicts.decisions if verdicts else ())
               if d.reason.startswith("blocked:")]
    return {"error": "; ".join(blocked)} if blocked else {}


def tradable(trades: Sequence[PlannedTrade], snap: Snapshot, bad_venues: set[str],
             bad_chains: set[str]) -> list[PlannedTrade]:
    """The trades that may go ahead: not on a tripped venue, a gas-capped chain, a chain the snapshot lacks or a
    venue it refused (a given plan may name one the verifier would not let through)."""
    return [t for t in trades if t.venue_key not in bad_venues and t.chain not in bad_chains
            and t.chain in snap.chains and any(v.venue == t.venue for v in snap.chains[t.chain].venues)]


def why_untradable(trade: PlannedTrade, snap: Snapshot) -> str:
    """The reason ``tradable`` left a trade out, for the run's events."""
    chain = snap.chains.get(trade.chain)
    if chain is None:
        return f"chain {trade.chain} could not be read"
    if trade.venue in chain.refused_venues:
        return chain.refused_venues[trade.venue]
    if not any(v.venue == trade.venue for v in chain.venues):
        return f"venue {trade.venue} is not in the snapshot of chain {trade.chain}"
    return "a circuit breaker tripped (venue price deviation or gas cap)"


def intents_from_trades(ctx: RunContext, run_id: str, trades: Sequence[PlannedTrade],
                        seq: dict[str, int] | None = None) -> list[Intent]:
    """Turn planned trades into ledger intents: per trade, an exact approval of the venue's spender, then the swap
    (calling the venue's router: the spender, or for a Permit2 venue the router the swap's permit names). ``seq``
    holds each lane's next sequence number (intents already made for the lane come first)."""
    out: list[Intent] = []
    seq = {} if seq is None else seq
    for trade in trades:
        chain = trade.chain
        wallet = ctx.config.chains[chain].wallet
        lane = lane_name(chain, wallet)
        entry = ctx.config.venue(chain, trade.venue)
        contracts = ctx.registry.venue(entry.adapter).contracts(entry)
        spender = Web3.to_checksum_address(contracts.spender)
        n = seq.get(lane, 0)
        seq[lane] = n + 2
        token_in = _token_address(ctx, chain, trade.token_in)
        common = {"run_id": run_id, "chain": chain, "wallet": wallet, "sender": ctx.wallet_address(chain),
                  "token_in": token_in, "amount_in_raw": trade.amount_in_raw, "venue": trade.venue,
                  "adapter": entry.adapter, "underlying": trade.underlying, "side": trade.side,
                  "notional_usd": abs(trade.quote_amount)}
        out.append(Intent(id=f"{run_id}.{lane}.{n:03d}.approve", seq=n, kind=IntentKind.APPROVE,
                          target=token_in, spender=spender, **common))
        # A Permit2 venue approves Permit2 and swaps through its router; elsewhere the router is the spender.
        router = Web3.to_checksum_address(contracts.swap_target)
        out.append(Intent(
            id=f"{run_id}.{lane}.{n + 1:03d}.swap", seq=n + 1, kind=IntentKind.SWAP, target=router,
            token_out=_token_address(ctx, chain, trade.token_out), min_amount_out_raw=trade.min_amount_out_raw,
            expected_amount_out_raw=trade.expected_amount_out_raw, base_amount=trade.base_amount,
            quote_amount=trade.quote_amount, predicted_cost_usd=trade.cost_usd, predicted_gas_usd=trade.gas_usd,
            **common))
    return out


def _token_address(ctx: RunContext, chain: str, token: str) -> str:
    """A plan names tokens by symbol or address; the ledger records checksum addresses."""
    if Web3.is_address(token):
        return Web3.to_checksum_address(token)
    tokens = ctx.config.chains[chain].tokens
    if token not in tokens:
        raise LedgerError(f"chain {chain}: the plan names token {token!r}, which is not configured on that chain")
    return tokens[token].address


def capital_of(ctx: RunContext, run_id: str, snap: Snapshot) -> Capital | None:
    """The bridge routes a plan may use at ``snap`` and the funds in flight (None when no route is configured).
    A route left out is said so in the run's events."""
    if not any(e.enabled for e in ctx.config.transfers):
        return None
    refused: dict[str, str] = {}
    routes = transfer_options(ctx.config, ctx.registry, snap, refused)
    for key, why in refused.items():
        ctx.ledger.add_event(run_id, "route_refused", f"route {key}: {why}")
    arriving = arriving_by_symbol(ctx.config, snap, ctx.ledger.transfers(), fill_checker(ctx))
    return Capital(routes=tuple(routes), arriving=arriving)


def default_planner(ctx: RunContext, run_id: str, snap: Snapshot, bad_venues: set[str],
                    bad_chains: set[str]) -> Plan | None:
    """Risk -> policy -> optimizer (orchestrator.assess); stores the decisions and the problem in the ledger."""
    connections = {c: ctx.w3(c) for c in snap.chains}
    memory = PositionMemory(ctx.ledger)
    decisions, problem, plan, risk = plan_with_risk(ctx.config, ctx.registry, snap, connections, bad_venues,
                                                    bad_chains, memory, capital_of(ctx, run_id, snap))
    ctx.ledger.put_blob(run_id, "decisions", PolicyVerdicts(decisions=tuple(decisions), risk=risk))
    observe_decisions(decisions)
    for d in decisions:
        if d.reason.startswith("blocked:") or "last-known" in d.reason or "band widened" in d.reason:
            ctx.ledger.add_event(run_id, "coverage", f"{d.underlying}: {d.reason}")
    if problem is not None:
        ctx.ledger.put_blob(run_id, "problem", problem)
    return plan


__all__ = [
    "Planner",
    "PolicyVerdicts",
    "default_planner",
    "intents_from_trades",
    "plan_run",
    "snapshot_run",
    "tradable",
    "tripped_venues",
]
