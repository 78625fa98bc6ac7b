"""The stages of one rebalance run as plain functions: the Celery tasks call them, and so do the tests.

    start_run -> snapshot_chain (per chain, in parallel) -> plan_run -> execute_lane (per lane) -> confirm_lane
              -> reconcile_run (-> a bounded follow-up run when the residual delta is still outside the band)

Every stage re-reads what it needs from the ledger (ids in, ids out), so any stage can run again after a crash
and does only what is left. Fan-in without chords: a stage records ``done`` members in the ledger and exactly one
caller ``claim``s the next stage.

Usage::

    ctx = RunContext.create(config, ledger)
    run_id = start_run(ctx, kind="manual")
    for chain in ctx.chains(): snapshot_chain(ctx, run_id, chain)
    for lane in plan_run(ctx, run_id): execute_lane(ctx, run_id, lane); confirm_lane(ctx, run_id, lane)
    report = reconcile_run(ctx, run_id)
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from web3 import Web3

from adapters.base import Fill, Frozen, Side, TxRequest, VenueState
from adapters.erc20 import Erc20Config, SpotPosition
from adapters.registry import AdapterRegistry, default_registry
from adapters.rpc import connect
from crosshedge.config.execution import ExecutionSettings
from crosshedge.config.loader import Config
from crosshedge.errors import (
    CircuitBreakerError,
    ExecutionError,
    HaltedError,
    LedgerError,
    RpcError,
    UnsafeTransactionError,
)
from optimizer.problem import Plan
from orchestrator.ledger import (
    TERMINAL_INTENT_STATES,
    TERMINAL_RUN_STATES,
    Intent,
    IntentKind,
    IntentRecord,
    IntentState,
    Ledger,
    RunState,
    lane_name,
)
from orchestrator.safety import RunLock, check_gas_price, check_notional, check_price_move, deviating_venues
from orchestrator.sender import Hooks, Lane, execute_intent, skip_intent
from orchestrator.signer import PasswordPrompt, WalletSigner, load_signer
from orchestrator.snapshot import Snapshot, chain_context, take_snapshot

#: Decides and plans one run from its snapshot: (ctx, run_id, snapshot, tripped venues, capped chains) -> Plan,
#: or None when the policy says no trade is needed.
Planner = Callable[["RunContext", str, Snapshot, set[str], set[str]], Plan | None]
#: Re-reads the book after a run: (ctx, run_id) -> (net delta per underlying, underlyings outside their band).
Assessor = Callable[["RunContext", str], tuple[dict[str, float], list[str]]]


@dataclass
class RunContext:
    """Per-process resources: config, ledger, adapters, chain connections and signers (cached, never shipped)."""

    config: Config
    ledger: Ledger
    registry: AdapterRegistry = field(default_factory=default_registry)
    prompt: PasswordPrompt | None = None
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    _w3: dict[str, Web3] = field(default_factory=dict, repr=False)
    _signers: dict[str, WalletSigner] = field(default_factory=dict, repr=False)

    @property
    def execution(self) -> ExecutionSettings:
        return self.config.raw.execution

    def chains(self) -> list[str]:
        return list(self.config.chains)

    def w3(self, chain: str) -> Web3:
        """A chain-id-checked connection (RpcError / ChainMismatchError naming the chain)."""
        if chain not in self._w3:
            self._w3[chain] = connect(chain, self.config.chains[chain], timeout=self.execution.rpc_timeout_s)
        return self._w3[chain]

    def drop_connection(self, chain: str) -> None:
        self._w3.pop(chain, None)

    def signer(self, wallet: str) -> WalletSigner:
        if wallet not in self._signers:
            self._signers[wallet] = load_signer(wallet, self.config.wallets[wallet], self.prompt)
        return self._signers[wallet]

    def wallet_address(self, chain: str) -> str:
        return self.config.wallets[self.config.chains[chain].wallet].address

    def allowlist(self, chain: str) -> frozenset[str]:
        """Routers of the chain's enabled venues and its configured tokens: the only contracts we call."""
        out = {t.address for t in self.config.chains[chain].tokens.values()}
        for venue in self.config.venues_on(chain):
            router = venue.config.model_dump().get("router")
            if venue.enabled and isinstance(router, str) and Web3.is_address(router):
                out.add(Web3.to_checksum_address(router))
        return frozenset(out)

    def lane(self, chain: str) -> Lane:
        settings = self.config.chains[chain]
        return Lane(chain=chain, settings=settings, w3=self.w3(chain), signer=self.signer(settings.wallet),
                    ledger=self.ledger, execution=self.execution, allowlist=self.allowlist(chain),
                    clock=self.clock, sleep=self.sleep)


def open_context(config: Config, prompt: PasswordPrompt | None = None, start_redis: bool = True) -> RunContext:
    """A RunContext on the configured Redis (the embedded one is started unless ``start_redis`` is False).

    Usage: ``ctx = open_context(resolve_config(None))``
    """
    from orchestrator.celery_app import redis_dir
    from orchestrator.redis_server import redis_client, resolve_redis_url

    url = resolve_redis_url(redis_dir(config), start=start_redis)
    return RunContext(config=config, ledger=Ledger(redis_client(url), prefix=config.raw.execution.key_prefix),
                      prompt=prompt)


# -- run identity and the one-run lock -------------------------------------------------------------------------
def make_run_id(kind: str, at: float, slot_s: float | None = None) -> str:
    """A deterministic run id: the trigger kind and its time (a beat tick uses its slot, so a redelivered tick
    maps to the same run)."""
    if slot_s:
        at = (at // slot_s) * slot_s
    return f"{kind}-{datetime.fromtimestamp(at, UTC):%Y%m%dT%H%M%S}"


def start_run(ctx: RunContext, kind: str, run_id: str | None = None, parent: str | None = None,
              followup: int = 0, plan_input: Any | None = None) -> str:
    """Create the run and take the one-run lock; CircuitBreakerError if another run holds it.

    ``plan_input`` (a Plan) skips the optimizer: the given trades go through every safety check and execution.
    """
    run_id = run_id or make_run_id(kind, ctx.clock())
    lock = RunLock(ctx.ledger, ctx.execution.run_lock_ttl_s)
    if not lock.acquire(run_id):
        raise CircuitBreakerError(f"run {run_id}: another run ({lock.holder()}) is in progress (one at a time)")
    if not ctx.ledger.create_run(run_id, kind=kind, parent=parent, followup=followup):
        # The id is deterministic (a beat slot, a follow-up): starting it twice must not re-drive its stages.
        # A finished run gives its lock back; one still going keeps it and the recover sweep resumes it.
        if ctx.ledger.run(run_id).state in TERMINAL_RUN_STATES:
            lock.release(run_id)
        raise CircuitBreakerError(f"run {run_id}: already started (its id is taken); not starting it again")
    if plan_input is not None:
        ctx.ledger.put_blob(run_id, "plan_input", plan_input)
    return run_id


def finish_run(ctx: RunContext, run_id: str) -> None:
    RunLock(ctx.ledger, ctx.execution.run_lock_ttl_s).release(run_id)


# -- execution -------------------------------------------------------------------------------------------------
def venue_state(ctx: RunContext, run_id: str, chain: str, venue: str) -> VenueState:
    """The venue as the run's snapshot saw it."""
    states = ctx.ledger.blob(run_id, f"venues:{chain}") or []
    for raw in states:
        if raw["venue"] == venue:
            return VenueState.model_validate(raw)
    raise LedgerError(f"run {run_id}: no snapshot of venue {venue} on chain {chain}")


def hooks_for(ctx: RunContext, run_id: str, chain: str) -> Hooks:
    """The venue-side callbacks the sender needs, bound to this run's snapshot."""

    def build_swap(record: IntentRecord, deadline: int) -> TxRequest:
        spec = record.spec
        assert spec.venue is not None and spec.side is not None and spec.adapter is not None
        state = venue_state(ctx, run_id, chain, spec.venue)
        return ctx.registry.venue(spec.adapter).build_swap(
            state, spec.side, spec.amount_in_raw, spec.min_amount_out_raw, spec.sender, deadline)

    def pre_sign(record: IntentRecord) -> None:
        spec = record.spec
        if spec.kind is not IntentKind.SWAP or spec.venue is None or spec.adapter is None:
            return
        then = venue_state(ctx, run_id, chain, spec.venue)
        entry = next(v for v in ctx.config.venues_on(chain) if v.name == spec.venue)
        w3 = ctx.w3(chain)
        now_state = ctx.registry.venue(spec.adapter).read(
            _chain_context(ctx, chain), [entry], block=int(w3.eth.block_number))[0]
        check_price_move(f"{chain}/{spec.venue}", then.mid_price, now_state.mid_price, ctx.execution.max_price_move_bps)

    def parse_fill(record: IntentRecord, receipt: Mapping[str, Any]) -> Fill:
        spec = record.spec
        assert spec.venue is not None and spec.adapter is not None
        return ctx.registry.venue(spec.adapter).parse_receipt(venue_state(ctx, run_id, chain, spec.venue), receipt)

    return Hooks(build_swap=build_swap, pre_sign=pre_sign, parse_fill=parse_fill)


def _chain_context(ctx: RunContext, chain: str) -> Any:
    from adapters.base import ChainContext  # local: only the pre-sign re-read needs it

    settings = ctx.config.chains[chain]
    return ChainContext(name=chain, chain_id=settings.chain_id, w3=ctx.w3(chain), tokens=ctx.config.tokens(chain),
                        multicall=settings.multicall,
                        extras={"wallet": ctx.wallet_address(chain),
                                "native_underlying": settings.gas.native_underlying})


def execute_lane(ctx: RunContext, run_id: str, lane: str, delivery: str = "") -> list[IntentRecord]:
    """Execute the lane's intents in order, each to confirmed/failed (or skipped when stopped before signing).

    Transient errors (RpcError, ExecutionError) propagate so the task retries; the ledger keeps every intent's
    state, so the retry resumes exactly where this attempt stopped.
    """
    chain = lane.split(".", 1)[0]
    # The owner is the delivery (Celery task id): a redelivery of the same message re-enters, a duplicate waits.
    owner = f"{run_id}/{lane}/{delivery}"
    if not ctx.ledger.acquire(f"lane:{lane}", owner, ctx.execution.lane_lock_ttl_s):
        raise ExecutionError(f"lane {lane}: locked by {ctx.ledger.lock_owner('lane:' + lane)}; will retry")
    try:
        records = ctx.ledger.intents(run_id, lane)
        if any(r.state is IntentState.PLANNED for r in records) and chain in _down_chains(ctx, run_id):
            _skip_rest(ctx, run_id, records, f"chain {chain} was down at the snapshot")
            return ctx.ledger.intents(run_id, lane)
        the_lane = ctx.lane(chain)
        hooks = hooks_for(ctx, run_id, chain)
        _execute_records(ctx, run_id, the_lane, hooks, records)
        ctx.ledger.mark_done(run_id, "execute", lane)
        return ctx.ledger.intents(run_id, lane)
    finally:
        ctx.ledger.release(f"lane:{lane}", owner)


def _execute_records(ctx: RunContext, run_id: str, lane: Lane, hooks: Hooks, records: list[IntentRecord]) -> None:
    failed_approvals: set[int] = set()
    for i, record in enumerate(records):
        if record.state in TERMINAL_INTENT_STATES or record.state in (IntentState.CONFIRMED, IntentState.FAILED):
            if record.spec.kind is IntentKind.APPROVE and record.state is IntentState.FAILED:
                failed_approvals.add(record.spec.seq + 1)
            continue
        if record.spec.kind is IntentKind.SWAP and record.spec.seq in failed_approvals:
            skip_intent(ctx.ledger, record, "its approval failed")
            continue
        try:
            done = execute_intent(lane, record.spec.id, hooks)
        except (HaltedError, CircuitBreakerError) as exc:
            ctx.ledger.mark_run(run_id, halted=str(exc))
            ctx.ledger.add_event(run_id, "halted", str(exc), intent=record.spec.id)
            _skip_rest(ctx, run_id, records[i:], str(exc))
            return
        except UnsafeTransactionError as exc:
            ctx.ledger.add_event(run_id, "refused", str(exc), intent=record.spec.id)
            done = ctx.ledger.intent(record.spec.id)
        if done.spec.kind is IntentKind.APPROVE and done.state is IntentState.FAILED:
            failed_approvals.add(done.spec.seq + 1)


def _skip_rest(ctx: RunContext, run_id: str, records: list[IntentRecord], reason: str) -> None:
    # Skip in reverse so each released nonce is the lane's last one (keeps the lane's nonces contiguous).
    for record in reversed(records):
        skip_intent(ctx.ledger, ctx.ledger.intent(record.spec.id), reason)


def _down_chains(ctx: RunContext, run_id: str) -> set[str]:
    return set(ctx.ledger.blob(run_id, "down_chains") or [])


def confirm_lane(ctx: RunContext, run_id: str, lane: str) -> bool:
    """Check every landed intent of the lane is at the chain's confirmation depth and still in its block.

    Returns True when the lane is confirmed; raises ExecutionError (retry later) while blocks are still due.
    """
    chain = lane.split(".", 1)[0]
    need = ctx.config.chains[chain].confirmations
    records = [r for r in ctx.ledger.intents(run_id, lane) if r.receipt is not None and not r.confirmed_depth]
    if records:
        w3 = ctx.w3(chain)
        head = int(w3.eth.block_number)
        for record in records:
            assert record.receipt is not None
            depth = head - record.receipt.block_number + 1
            if depth < need:
                raise ExecutionError(f"lane {lane}: intent {record.spec.id} has {depth}/{need} confirmations")
            block = w3.eth.get_block(record.receipt.block_number)
            if Web3.to_hex(block["hash"]) != record.receipt.block_hash:
                raise ExecutionError(f"lane {lane}: block {record.receipt.block_number} was reorganised; "
                                     f"intent {record.spec.id} must be re-checked")
            ctx.ledger.r.hset(ctx.ledger.key("intent", record.spec.id), "confirmed_depth", "1")
    ctx.ledger.mark_done(run_id, "confirm", lane)
    return True


def lanes_finished(ctx: RunContext, run_id: str, stage: str) -> bool:
    return set(ctx.ledger.lanes(run_id)) <= ctx.ledger.done(run_id, stage)


# -- plan -> intents -------------------------------------------------------------------------------------------
def intents_from_trades(ctx: RunContext, run_id: str, trades: list[Any]) -> list[Intent]:
    """Turn planned trades into ledger intents: per trade, an exact approval of the router, then the swap."""
    out: list[Intent] = []
    seq: dict[str, int] = {}
    for trade in trades:
        chain = trade.chain
        wallet = ctx.config.chains[chain].wallet
        lane = lane_name(chain, wallet)
        entry = next(v for v in ctx.config.venues_on(chain) if v.name == trade.venue)
        router = Web3.to_checksum_address(entry.config.model_dump()["router"])
        sender = ctx.wallet_address(chain)
        n = seq.get(lane, 0)
        seq[lane] = n + 2
        common = {"run_id": run_id, "chain": chain, "wallet": wallet, "sender": sender,
                  "token_in": _token_address(ctx, chain, trade.token_in), "amount_in_raw": trade.amount_in_raw,
                  "venue": trade.venue, "adapter": entry.adapter, "underlying": trade.underlying,
                  "side": Side(trade.side), "notional_usd": abs(trade.quote_amount)}
        out.append(Intent(id=f"{run_id}.{lane}.{n:03d}.approve", seq=n, kind=IntentKind.APPROVE,
                          target=common["token_in"], spender=router, **common))
        out.append(Intent(
            id=f"{run_id}.{lane}.{n + 1:03d}.swap", seq=n + 1, kind=IntentKind.SWAP, target=router,
            token_out=_token_address(ctx, chain, trade.token_out), min_amount_out_raw=trade.min_amount_out_raw,
            expected_amount_out_raw=trade.expected_amount_out_raw, base_amount=trade.base_amount,
            quote_amount=trade.quote_amount, predicted_cost_usd=trade.cost_usd, predicted_gas_usd=trade.gas_usd,
            **common))
    return out


# -- snapshot and plan ----------------------------------------------------------------------------------------
def snapshot_run(ctx: RunContext, run_id: str) -> Snapshot:
    """Read every chain in parallel (threads; one block per chain) and store the snapshot in the ledger.

    A chain that cannot be reached is recorded in ``down_chains`` and the run is marked partial; the others
    proceed. Rollup gas needs the L1's base fee and native prices are a cross-chain median, hence one stage.
    """
    record = ctx.ledger.run(run_id)
    if record.state is not RunState.CREATED:
        stored = ctx.ledger.blob(run_id, "snapshot")
        if stored is not None:
            return Snapshot.model_validate(stored)
    connections, down = {}, {}
    for chain in ctx.chains():
        try:
            connections[chain] = ctx.w3(chain)
        except RpcError as exc:
            ctx.drop_connection(chain)
            down[chain] = str(exc)
    snap = take_snapshot(ctx.config, connections, ctx.registry, allow_partial=True, clock=ctx.clock)
    down.update(snap.failed)
    ctx.ledger.put_blob(run_id, "snapshot", snap)
    for chain, cs in snap.chains.items():
        ctx.ledger.put_blob(run_id, f"venues:{chain}", [v.model_dump(mode="json") for v in cs.venues])
    ctx.ledger.put_blob(run_id, "down_chains", sorted(down))
    for chain, why in down.items():
        ctx.drop_connection(chain)
        ctx.ledger.add_event(run_id, "chain_down", why, chain=chain)
    if down:
        ctx.ledger.mark_run(run_id, partial="1")
    if not snap.chains:
        ctx.ledger.set_run_state(run_id, RunState.FAILED, error="no chain could be read")
        finish_run(ctx, run_id)
        raise RpcError(f"run {run_id}: no chain could be read ({'; '.join(down.values())})")
    ctx.ledger.set_run_state(run_id, RunState.SNAPSHOTTED)
    return snap


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


PLAN_LOCK_TTL_S = 120


def plan_run(ctx: RunContext, run_id: str, planner: Planner | None = None) -> list[str]:
    """Decide and plan (or take the run's given plan), check the caps, record intents; returns the lanes."""
    # One planner per run: a redelivered or recovered plan task must not plan the same run twice at once (a second,
    # different plan would race the first for the same intent ids). The lock expires, so a crashed planner is retried.
    if not ctx.ledger.acquire(f"plan:{run_id}", owner=f"{os.getpid()}", ttl_s=PLAN_LOCK_TTL_S):
        return []
    record = ctx.ledger.run(run_id)
    if record.state in (RunState.PLANNED, RunState.EXECUTING):
        return ctx.ledger.lanes(run_id)
    if record.state is not RunState.SNAPSHOTTED:
        return []
    snap = Snapshot.model_validate(ctx.ledger.blob(run_id, "snapshot"))
    bad_venues, bad_chains = tripped_venues(ctx, run_id, snap)
    given = ctx.ledger.blob(run_id, "plan_input")
    plan = Plan.model_validate(given) if given is not None else (planner or default_planner)(
        ctx, run_id, snap, bad_venues, bad_chains)
    if plan is None:
        ctx.ledger.set_run_state(run_id, RunState.NOOP)
        finish_run(ctx, run_id)
        return []
    keep = [t for t in plan.trades if t.venue_key not in bad_venues and t.chain not in bad_chains
            and t.chain in snap.chains]
    for t in plan.trades:
        if t not in keep:
            ctx.ledger.add_event(run_id, "breaker", f"trade on {t.venue_key} dropped (breaker or chain down)")
    notional = sum(abs(t.quote_amount) for t in keep)
    day = datetime.fromtimestamp(ctx.clock(), UTC).strftime("%Y-%m-%d")
    try:
        check_notional(notional, ctx.ledger.notional(day), ctx.execution.max_notional_usd_per_run,
                       ctx.execution.max_notional_usd_per_day)
    except CircuitBreakerError as exc:
        ctx.ledger.mark_run(run_id, halted=str(exc))
        ctx.ledger.set_run_state(run_id, RunState.FAILED, error=str(exc))
        finish_run(ctx, run_id)
        raise
    ctx.ledger.put_blob(run_id, "plan", plan)
    if not keep:
        ctx.ledger.set_run_state(run_id, RunState.NOOP)
        finish_run(ctx, run_id)
        return []
    ctx.ledger.add_intents(run_id, intents_from_trades(ctx, run_id, keep))
    if ctx.ledger.set_run_state(run_id, RunState.PLANNED):
        ctx.ledger.add_notional(day, notional)
    ctx.ledger.set_run_state(run_id, RunState.EXECUTING)
    return ctx.ledger.lanes(run_id)


def _token_address(ctx: RunContext, chain: str, token: str) -> str:
    """A plan names tokens by symbol or address; the ledger records checksum addresses."""
    if Web3.is_address(token):
        return Web3.to_checksum_address(token)
    tokens = ctx.config.chains[chain].tokens
    if token not in tokens:
        raise LedgerError(f"chain {chain}: the plan names token {token!r}, which is not configured on that chain")
    return tokens[token].address


def intents_of(ctx: RunContext, run_id: str) -> list[IntentRecord]:
    return ctx.ledger.intents(run_id)


def set_state(ctx: RunContext, run_id: str, state: RunState) -> None:
    ctx.ledger.set_run_state(run_id, state)


__all__ = [
    "RpcError",
    "RunContext",
    "confirm_lane",
    "execute_lane",
    "intents_from_trades",
    "make_run_id",
    "start_run",
]


# -- reconcile -------------------------------------------------------------------------------------------------
class RunReport(Frozen):
    """What a run did: trades against the plan, predicted vs realised cost, ledger vs chain, residual delta."""

    run_id: str
    state: str
    partial: bool
    halted: str
    trades: list[dict[str, Any]]
    predicted_cost_usd: float
    realised_cost_usd: float
    approval_gas_usd: float
    failed_gas_usd: float
    balance_diff: dict[str, dict[str, int]]  # chain -> token -> (chain - ledger) raw units; empty when equal
    residual_delta: dict[str, float]
    outside_band: list[str]
    followup: str | None = None


def _marks(snap: Snapshot) -> dict[str, float]:
    mids: dict[str, list[float]] = {}
    for v in snap.venue_states():
        mids.setdefault(v.underlying, []).append(v.mid_price)
    return {u: statistics.median(m) for u, m in mids.items()}


def _trade_row(record: IntentRecord, mark: float, native_usd: float) -> dict[str, Any]:
    spec, fill = record.spec, record.fill
    gas_usd = record.gas_cost_wei / 1e18 * native_usd
    realised = gas_usd
    if fill is not None:
        slip = fill.base_amount * mark - fill.quote_amount if fill.side is Side.SELL else \
            fill.quote_amount - fill.base_amount * mark
        realised += slip
    return {"intent": spec.id, "chain": spec.chain, "venue": spec.venue, "side": spec.side, "state": record.state,
            "tx_hash": record.tx_hash, "nonce": record.nonce, "attempts": len(record.attempts),
            "base_amount": fill.base_amount if fill else 0.0, "quote_amount": fill.quote_amount if fill else 0.0,
            "expected_out_raw": spec.expected_amount_out_raw, "out_raw": fill.amount_out_raw if fill else 0,
            "predicted_cost_usd": spec.predicted_cost_usd, "realised_cost_usd": realised, "gas_usd": gas_usd,
            "error": record.error}


def expected_balances(snap: Snapshot, records: list[IntentRecord]) -> dict[str, dict[str, int]]:
    """The wallet's balances the ledger implies: snapshot inventory, plus fills, minus gas (raw units)."""
    out = {c: {p.address: p.raw for p in cs.inventory} for c, cs in snap.chains.items()}
    for r in records:
        book = out.get(r.spec.chain)
        if book is None:
            continue
        if "native" in book:
            book["native"] -= r.gas_cost_wei
        if r.fill is not None and r.spec.token_out is not None:
            book[r.spec.token_in] = book.get(r.spec.token_in, 0) - r.fill.amount_in_raw
            book[r.spec.token_out] = book.get(r.spec.token_out, 0) + r.fill.amount_out_raw
    return out


def chain_balances(ctx: RunContext, chain: str) -> dict[str, int]:
    """The wallet's raw balances on ``chain`` now (one multicall)."""
    w3 = ctx.w3(chain)
    source = ctx.registry.positions("erc20")
    positions = source.read_positions(chain_context(ctx.config, chain, w3), Erc20Config(), int(w3.eth.block_number))
    return {p.address: p.raw for p in positions if isinstance(p, SpotPosition)}


def ledger_vs_chain(ctx: RunContext, snap: Snapshot, records: list[IntentRecord]) -> dict[str, dict[str, int]]:
    """{chain: {token: chain - ledger}} for every balance that differs (empty when the ledger equals the chain)."""
    diff: dict[str, dict[str, int]] = {}
    for chain, want in expected_balances(snap, records).items():
        have = chain_balances(ctx, chain)
        bad = {k: have.get(k, 0) - v for k, v in want.items() if have.get(k, 0) != v}
        if bad:
            diff[chain] = bad
    return diff


def reconcile_run(ctx: RunContext, run_id: str, assessor: Assessor | None = None) -> RunReport:
    """Compare fills with the plan, the ledger with the chain, and re-assess risk; close the run.

    Returns the report; ``report.followup`` names a follow-up run when the residual delta is still outside the
    band and the run's follow-up budget allows one (the caller starts it).
    """
    run = ctx.ledger.run(run_id)
    stored = ctx.ledger.blob(run_id, "report")
    if run.state is RunState.RECONCILED and stored is not None:
        return RunReport.model_validate(stored)
    snap = Snapshot.model_validate(ctx.ledger.blob(run_id, "snapshot"))
    records = ctx.ledger.intents(run_id)
    pending = [r.spec.id for r in records if r.state not in TERMINAL_INTENT_STATES
               and r.state not in (IntentState.CONFIRMED, IntentState.FAILED)]
    if pending:
        raise ExecutionError(f"run {run_id}: intents not landed yet: {', '.join(pending)}")
    marks = _marks(snap)
    rows = [_trade_row(r, marks.get(r.spec.underlying or "", 0.0), snap.chains[r.spec.chain].native_usd)
            for r in records if r.spec.chain in snap.chains]
    swaps = [row for row, r in zip(rows, records, strict=False) if r.spec.kind is IntentKind.SWAP]
    approvals = [row for row, r in zip(rows, records, strict=False) if r.spec.kind is IntentKind.APPROVE]
    diff = ledger_vs_chain(ctx, snap, records)
    given = ctx.ledger.blob(run_id, "plan_input")
    if assessor is None and given is not None:
        # A given plan has no policy behind it: report its own residual, never plan a follow-up.
        def assessor(_ctx: RunContext, _run_id: str) -> tuple[dict[str, float], list[str]]:
            return dict(given.get("residual_delta", {})), []
    residual, outside = (assessor or default_assessor)(ctx, run_id)
    followup = None
    if outside and not run.halted and run.followup < ctx.execution.max_followups and any(
            r.state is IntentState.CONFIRMED for r in records):
        followup = f"{run_id}-f{run.followup + 1}"
    report = RunReport(
        run_id=run_id, state=RunState.RECONCILED.value, partial=run.partial, halted=run.halted, trades=swaps,
        predicted_cost_usd=sum(r.spec.predicted_cost_usd for r in records if r.state is IntentState.CONFIRMED),
        realised_cost_usd=sum(row["realised_cost_usd"] for row in rows),
        approval_gas_usd=sum(row["gas_usd"] for row in approvals),
        failed_gas_usd=sum(row["gas_usd"] for row, r in zip(rows, records, strict=False)
                           if r.state is IntentState.FAILED),
        balance_diff=diff, residual_delta=residual, outside_band=outside, followup=followup,
    )
    ctx.ledger.put_blob(run_id, "report", report)
    for r in records:
        if r.state in (IntentState.CONFIRMED, IntentState.FAILED):
            ctx.ledger.transition(r.spec.id, IntentState.RECONCILED)
    if ctx.ledger.run(run_id).state is RunState.EXECUTING:
        ctx.ledger.set_run_state(run_id, RunState.CONFIRMED)
    ctx.ledger.set_run_state(run_id, RunState.RECONCILED)
    finish_run(ctx, run_id)
    return report


def default_planner(ctx: RunContext, run_id: str, snap: Snapshot, bad_venues: set[str],
                    bad_chains: set[str]) -> Plan | None:
    """Risk -> policy -> optimizer (orchestrator.assess); stores the decisions and the problem in the ledger."""
    from orchestrator.assess import decide_and_plan

    connections = {c: ctx.w3(c) for c in snap.chains}
    decisions, problem, plan = decide_and_plan(ctx.config, ctx.registry, snap, connections, bad_venues, bad_chains)
    ctx.ledger.put_blob(run_id, "decisions", [d.model_dump(mode="json") for d in decisions])
    if problem is not None:
        ctx.ledger.put_blob(run_id, "problem", problem)
    return plan


def default_assessor(ctx: RunContext, run_id: str) -> tuple[dict[str, float], list[str]]:
    """A fresh snapshot after the run: net delta per underlying and those still outside the policy's band."""
    from orchestrator.assess import assess_now

    return assess_now(ctx.config, ctx.registry, {c: ctx.w3(c) for c in ctx.chains()
                                                 if c not in _down_chains(ctx, run_id)})
