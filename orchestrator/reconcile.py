"""The last stage of a run: fills against the plan, the ledger against the chain, and the residual risk.

Usage::

    report = reconcile_run(ctx, run_id)
    report.balance_diff        # {} when every wallet balance equals what the ledger implies, to the wei
    report.followup            # a follow-up run id when the residual is still outside the band
"""

from __future__ import annotations

import contextvars
import statistics
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from pydantic import Field

from adapters import PerpFill, Side, SpotPosition
from crosshedge import Frozen, LedgerError, NotReadyError
from optimizer import Plan
from orchestrator.assess import assess_now
from orchestrator.context import RunContext
from orchestrator.coverage import PositionMemory
from orchestrator.execution import book_transfer
from orchestrator.ledger import IntentKind, IntentRecord, IntentState, RunState, TransferRecord, lane_name
from orchestrator.metrics import record_cost
from orchestrator.perp_intents import perp_state
from orchestrator.perp_terms import fresh_perp
from orchestrator.runs import finish_run
from orchestrator.snapshot import Snapshot, read_wallet_inventory
from orchestrator.terms import run_snapshot
from orchestrator.transfers import await_run_transfers, landed_between

#: Re-reads the book after a run: (ctx, run_id) -> (net delta per underlying, underlyings outside their band).
#: Relative difference between a perp position on chain and the ledger's that counts as a mismatch (sizes are
#: floats of 18-decimal raw units: a few ulps of rounding are not a fill).
PERP_SIZE_TOLERANCE = 1e-12
Assessor = Callable[[RunContext, str], tuple[dict[str, float], list[str]]]


class TradeRow(Frozen):
    """One intent of a run as reconciled: what it did on chain and what it cost against the prediction."""

    intent: str
    kind: IntentKind
    chain: str
    venue: str | None
    side: Side | None
    state: IntentState
    tx_hash: str | None
    nonce: int | None
    attempts: int
    base_amount: float
    quote_amount: float
    expected_out_raw: int
    out_raw: int
    predicted_cost_usd: float
    realised_cost_usd: float
    gas_usd: float
    error: str
    fee_usd: float = 0.0  # a perp order's exchange fee (in its realised cost); a swap's pool fee is in its quote


class TransferRow(Frozen):
    """One bridge transfer of a run, as ``runs`` shows it: both ends' transactions, fee and latency."""

    transfer: str
    route: str
    state: str
    origin_tx: str
    destination_tx: str | None
    refund_tx: str | None
    amount_in_raw: int
    amount_out_raw: int
    fee_raw: int
    latency_s: float | None  # the fill's block time less the deposit's quote time (two chains' clocks)
    seen_latency_s: float | None = None  # deposit booked to fill booked, on the workers' clock
    note: str = ""


class RunReport(Frozen):
    """What a run did: trades against the plan, predicted vs realised cost, ledger vs chain, residual delta."""

    run_id: str
    state: str
    partial: bool
    halted: str
    error: str = ""
    trades: list[TradeRow]
    predicted_cost_usd: float
    realised_cost_usd: float
    approval_gas_usd: float
    failed_gas_usd: float
    balance_diff: dict[str, dict[str, int]]  # chain -> token -> (chain - ledger) raw units; empty when equal
    residual_delta: dict[str, float]
    outside_band: list[str]
    followup: str | None = None
    transfers: list[TransferRow] = Field(default_factory=list)
    perp_fills: list[PerpFill] = Field(default_factory=list)  # the run's PositionChanged events, booked
    # "chain/market" -> (chain - ledger) position size, base units; empty when every traded market's position on
    # chain equals the snapshot's size plus the fills booked (and is exactly 0 where the run closed the position)
    perp_diff: dict[str, float] = Field(default_factory=dict)


def transfer_row(record: TransferRecord) -> TransferRow:
    d = record.deposit
    return TransferRow(transfer=record.id, route=record.route, state=record.state.value, origin_tx=d.tx_hash,
                       destination_tx=record.fill.tx_hash if record.fill else None,
                       refund_tx=record.refund.tx_hash if record.refund else None, amount_in_raw=d.input_amount,
                       amount_out_raw=d.output_amount, fee_raw=d.input_amount - d.output_amount,
                       latency_s=record.latency_s, seen_latency_s=record.seen_latency_s, note=record.note)


def _marks(snap: Snapshot) -> dict[str, float]:
    mids: dict[str, list[float]] = {}
    for v in snap.venue_states():
        mids.setdefault(v.underlying, []).append(v.mid_price)
    return {u: statistics.median(m) for u, m in mids.items()}


def trade_row(record: IntentRecord, mark: float, native_usd: float) -> TradeRow:
    """The intent's realised cost: gas, plus for a fill its shortfall against the mark (for a perp order, its
    PositionChanged fills against the same mark, and the exchange fee)."""
    spec, fill = record.spec, record.fill
    gas_usd = record.gas_cost_wei / 1e18 * native_usd
    realised = gas_usd
    if fill is not None:
        realised += (fill.base_amount * mark - fill.quote_amount if fill.side is Side.SELL
                     else fill.quote_amount - fill.base_amount * mark)
    if record.perp_fills:
        base = sum(abs(f.exchanged_position_size) for f in record.perp_fills) / 1e18
        quote = sum(abs(f.exchanged_position_notional) for f in record.perp_fills) / 1e18
        fee = sum(f.fee for f in record.perp_fills) / 1e18
        realised += fee + (base * mark - quote if spec.side is Side.SELL else quote - base * mark)
        return TradeRow(
            intent=spec.id, kind=spec.kind, chain=spec.chain, venue=spec.venue, side=spec.side, state=record.state,
            tx_hash=record.tx_hash, nonce=record.nonce, attempts=len(record.attempts), base_amount=base,
            quote_amount=quote, expected_out_raw=spec.expected_amount_out_raw, out_raw=0,
            predicted_cost_usd=spec.predicted_cost_usd, realised_cost_usd=realised, gas_usd=gas_usd,
            error=record.error, fee_usd=fee)
    return TradeRow(
        intent=spec.id, kind=spec.kind, chain=spec.chain, venue=spec.venue, side=spec.side, state=record.state,
        tx_hash=record.tx_hash, nonce=record.nonce, attempts=len(record.attempts),
        base_amount=fill.base_amount if fill else 0.0, quote_amount=fill.quote_amount if fill else 0.0,
        expected_out_raw=spec.expected_amount_out_raw, out_raw=fill.amount_out_raw if fill else 0,
        predicted_cost_usd=spec.predicted_cost_usd, realised_cost_usd=realised, gas_usd=gas_usd, error=record.error)


def expected_balances(snap: Snapshot, records: Sequence[IntentRecord],
                      landed: Mapping[str, Mapping[str, int]] | None = None) -> dict[str, dict[str, int]]:
    """The wallet's balances the ledger implies: snapshot inventory, plus fills, minus deposits and gas, plus what
    transfers brought in since the snapshot (``landed``: fills and refunds, orchestrator.transfers) (raw units)."""
    out = {c: {p.address: p.raw for p in cs.inventory} for c, cs in snap.chains.items()}
    for chain, tokens in (landed or {}).items():
        if chain in out:
            for token, amount in tokens.items():
                out[chain][token] = out[chain].get(token, 0) + amount
    for r in records:
        book = out.get(r.spec.chain)
        if book is None:
            continue
        if "native" in book:
            book["native"] -= r.gas_cost_wei
        if r.spec.kind is IntentKind.PERP_DEPOSIT and r.receipt is not None and r.receipt.status == 1:
            book[r.spec.token_in] = book.get(r.spec.token_in, 0) - r.spec.amount_in_raw  # now margin in the Vault
        if r.deposit is not None:  # the funds left this wallet; they are the transfer's until they land
            book[r.spec.token_in] = book.get(r.spec.token_in, 0) - r.deposit.input_amount
        if r.fill is not None and r.spec.token_out is not None:
            book[r.spec.token_in] = book.get(r.spec.token_in, 0) - r.fill.amount_in_raw
            book[r.spec.token_out] = book.get(r.spec.token_out, 0) + r.fill.amount_out_raw
    return out


def chain_balances(ctx: RunContext, chain: str) -> tuple[int, dict[str, int]]:
    """The wallet's raw balances on ``chain`` now (and the block they were read at), read by the configured
    wallet-inventory sources."""
    w3 = ctx.w3(chain)
    block = int(w3.eth.block_number)
    positions = read_wallet_inventory(ctx.config, ctx.registry, ctx.chain_context(chain, w3), block)
    return block, {p.address: p.raw for p in positions if isinstance(p, SpotPosition)}


def ledger_vs_chain(ctx: RunContext, snap: Snapshot, records: Sequence[IntentRecord]) -> dict[str, dict[str, int]]:
    """{chain: {token: chain - ledger}} for every balance that differs (empty when the ledger equals the chain).

    The chains are read in parallel (one thread each, as the snapshot reads them)."""
    chains = list(snap.chains)
    with ThreadPoolExecutor(max_workers=max(1, len(chains))) as pool:
        futures = {c: pool.submit(contextvars.copy_context().run, chain_balances, ctx, c) for c in chains}
        read = {c: f.result() for c, f in futures.items()}
    balances = {c: b for c, (_, b) in read.items()}
    # Transfers that landed between the snapshot and these reads (this run's and earlier runs'), pinned to both.
    since = {c: cs.block_number for c, cs in snap.chains.items()}
    recent = [t for t in ctx.ledger.transfers() if t.open or _landed_after(t, since)]
    landed = landed_between(ctx, recent, since, {c: block for c, (block, _) in read.items()}) if recent else {}
    expected = expected_balances(snap, records, landed)
    diff: dict[str, dict[str, int]] = {}
    for chain, want in expected.items():
        have = balances[chain]
        bad = {k: have.get(k, 0) - v for k, v in want.items() if have.get(k, 0) != v}
        if bad:
            diff[chain] = bad
    return diff


def perp_vs_chain(ctx: RunContext, snap: Snapshot, records: Sequence[IntentRecord]) -> dict[str, float]:
    """{"chain/market": chain - ledger} position size (base units) for every market the run sent an order to whose
    position on chain (read pinned to one block) differs from the snapshot's size plus the fills booked. A market
    whose last landed order was a close must hold exactly nothing (its fill is booked like any other, and checked
    like any other too): a close leaves no dust, so any size at all is a mismatch."""
    booked: dict[tuple[str, str], float] = {}
    closed: dict[tuple[str, str], bool] = {}  # per market: its last landed order was a close
    for r in records:  # in lane order: a market is on one chain, so on one lane
        if r.spec.kind is IntentKind.PERP_ORDER and r.spec.venue is not None:
            key = (r.spec.chain, r.spec.venue)
            booked[key] = booked.get(key, 0.0) + sum(f.exchanged_position_size for f in r.perp_fills) / 1e18
            if r.receipt is not None and r.receipt.status == 1:
                closed[key] = r.spec.close
    diff: dict[str, float] = {}
    for (chain, market), moved in sorted(booked.items()):
        then = perp_state(snap, chain, market)
        before = then.position.size if then is not None and then.position is not None else 0.0
        now = fresh_perp(ctx, chain, market)
        have = now.position.size if now.position is not None else 0.0
        if closed.get((chain, market)) and have != 0.0:
            diff[f"{chain}/{market}"] = have
        elif abs(have - (before + moved)) > PERP_SIZE_TOLERANCE * max(1.0, abs(have)):
            diff[f"{chain}/{market}"] = have - (before + moved)
    return diff


def _landed_after(record: TransferRecord, since: Mapping[str, int]) -> bool:
    """A closed transfer whose fill or refund is after the snapshot's block of the chain it landed on."""
    if record.fill is not None:
        return record.fill.block_number > since.get(record.destination, 2**63)
    if record.refund is not None:
        return record.refund.block_number > since.get(record.origin, 2**63)
    return False


def reconcile_run(ctx: RunContext, run_id: str, assessor: Assessor | None = None) -> RunReport:
    """Compare fills with the plan, the ledger with the chain, and re-assess risk; close the run.

    Returns the report; ``report.followup`` names a follow-up run when the residual delta is still outside the
    band and the run's follow-up budget allows one (the caller starts it).
    """
    run = ctx.ledger.run(run_id)
    stored = ctx.ledger.blob(run_id, "report", RunReport)
    if run.state is RunState.RECONCILED and stored is not None:
        return stored
    if run.state not in (RunState.PLANNED, RunState.EXECUTING, RunState.CONFIRMED):
        raise LedgerError(f"run {run_id}: cannot reconcile a run in state {run.state}")
    if run.state is RunState.PLANNED:  # a crash between recording the intents and moving on
        ctx.ledger.set_run_state(run_id, RunState.EXECUTING)
    snap = run_snapshot(ctx, run_id)
    records = ctx.ledger.intents(run_id)
    pending = [r.spec.id for r in records if r.state in (IntentState.PLANNED, IntentState.SIGNED, IntentState.SENT,
                                                         IntentState.INCLUDED)]
    if pending:
        raise NotReadyError(f"run {run_id}: intents not landed yet: {', '.join(pending)}")
    for record in records:  # idempotent: a deposit confirmed just before a crash gets its transfer here
        if record.deposit is not None and record.state is IntentState.CONFIRMED:
            book_transfer(ctx, record)
    transfers = [transfer_row(t) for t in await_run_transfers(ctx, run_id)]  # a staged run waits (bounded)
    marks = _marks(snap)
    rows = [trade_row(r, marks.get(r.spec.underlying or "", 0.0), snap.chains[r.spec.chain].native_usd)
            for r in records if r.spec.chain in snap.chains]
    diff = ledger_vs_chain(ctx, snap, records)
    for chain, tokens in diff.items():  # the books and the chain disagree: stop that lane until someone looks
        lane = lane_name(chain, ctx.config.chains[chain].wallet)
        why = f"run {run_id}: ledger and chain balances differ on {chain} ({tokens}); lane {lane} halted"
        ctx.ledger.halt_lane(lane, why)
        ctx.ledger.add_event(run_id, "ledger_mismatch", why, chain=chain)
    perp_diff = perp_vs_chain(ctx, snap, records)
    for key, size in perp_diff.items():  # the same: a position the ledger cannot explain stops its lane
        chain = key.split("/", 1)[0]
        lane = lane_name(chain, ctx.config.chains[chain].wallet)
        why = (f"run {run_id}: the perp position on {key} differs from the ledger's by {size:+.18g} base; "
               f"lane {lane} halted")
        ctx.ledger.halt_lane(lane, why)
        ctx.ledger.add_event(run_id, "ledger_mismatch", why, chain=chain, venue=key)
    given = ctx.ledger.blob(run_id, "plan_input", Plan)
    if assessor is None and given is not None:
        # A given plan has no policy behind it: report its own residual, never plan a follow-up.
        def assessor(_ctx: RunContext, _run_id: str) -> tuple[dict[str, float], list[str]]:
            return dict(given.residual_delta), []
    residual, outside = (assessor or default_assessor)(ctx, run_id)
    followup = None
    replan = any(e.kind == "stale_plan" for e in ctx.ledger.events(run_id))
    if (outside and not run.halted and not run.error and not diff and not perp_diff
            and run.followup < ctx.execution.max_followups
            and (replan or any(r.state is IntentState.CONFIRMED for r in records))):
        followup = f"{run_id}-f{run.followup + 1}"
    report = RunReport(
        run_id=run_id, state=RunState.RECONCILED.value, partial=run.partial, halted=run.halted, error=run.error,
        trades=[row for row in rows if row.kind in (IntentKind.SWAP, IntentKind.PERP_ORDER)],
        predicted_cost_usd=sum(r.spec.predicted_cost_usd for r in records if r.state is IntentState.CONFIRMED),
        realised_cost_usd=sum(row.realised_cost_usd for row in rows),
        approval_gas_usd=sum(row.gas_usd for row in rows if row.kind is IntentKind.APPROVE),
        failed_gas_usd=sum(row.gas_usd for row in rows if row.state is IntentState.FAILED),
        balance_diff=diff, residual_delta=residual, outside_band=outside, followup=followup, transfers=transfers,
        perp_fills=[f for r in records for f in r.perp_fills], perp_diff=perp_diff,
    )
    ctx.ledger.put_blob(run_id, "report", report)
    ctx.ledger.transition_all([r.spec.id for r in records if r.state in (IntentState.CONFIRMED, IntentState.FAILED)],
                              IntentState.RECONCILED)
    if ctx.ledger.run(run_id).state is RunState.EXECUTING:
        ctx.ledger.set_run_state(run_id, RunState.CONFIRMED)
    if ctx.ledger.set_run_state(run_id, RunState.RECONCILED):  # once per run, so the cost counters never double
        record_cost(report.predicted_cost_usd, report.realised_cost_usd)
    finish_run(ctx, run_id)
    return report


def default_assessor(ctx: RunContext, run_id: str) -> tuple[dict[str, float], list[str]]:
    """A fresh snapshot after the run: net delta per underlying and those still outside the policy's band."""
    down = run_snapshot(ctx, run_id).failed
    return assess_now(ctx.config, ctx.registry, {c: ctx.w3(c) for c in ctx.chains() if c not in down},
                      PositionMemory(ctx.ledger), ctx.verifier)


__all__ = [
    "Assessor",
    "RunReport",
    "TradeRow",
    "TransferRow",
    "chain_balances",
    "expected_balances",
    "ledger_vs_chain",
    "reconcile_run",
    "trade_row",
    "transfer_row",
]
