"""Helpers for the orchestrator's integration tests: explicit plans, ledger invariants, chain reads, and a whole
run driven in process (``drive``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from web3 import Web3

from adapters import AdapterRegistry, Side, default_registry
from crosshedge import CrosshedgeError
from crosshedge.config import Config, load_config
from optimizer import CostBreakdown, Plan, PlannedTrade, SolveStats
from orchestrator import (
    TERMINAL_INTENT_STATES,
    IntentState,
    Ledger,
    RunContext,
    RunReport,
    Snapshot,
    confirm_lane,
    connect_all,
    decisions_for,
    execute_lane,
    plan_run,
    reconcile_run,
    snapshot_run,
    start_run,
    take_snapshot,
)

if TYPE_CHECKING:
    from tests.integration.orchestra import Orchestra


@dataclass(frozen=True)
class Want:
    chain: str
    venue: str
    side: Side
    base_amount: float  # SELL: base sold; BUY: quote (USD) spent / mid


def snapshot(config: Config, registry: AdapterRegistry | None = None) -> Snapshot:
    connections, _ = connect_all(config, timeout=10)
    return take_snapshot(config, connections, registry or default_registry())


def make_plan(config: Config, wants: Sequence[Want], slippage_bps: float = 50.0,
              registry: AdapterRegistry | None = None) -> Plan:
    """A Plan of exact trades quoted on the current chain state (bypasses risk/policy/optimizer); ``registry``
    holds the venues' adapters (the installed ones by default)."""
    registry = registry or default_registry()
    snap = snapshot(config, registry)
    trades = []
    for w in wants:
        state = snap.chains[w.chain].venue(w.venue)
        adapter = registry.venue(state.adapter)
        if w.side is Side.SELL:
            token_in, token_out = state.base, state.quote
            amount_in = int(w.base_amount * 10**state.base.decimals)
        else:
            token_in, token_out = state.quote, state.base
            amount_in = int(w.base_amount * state.mid_price * 10**state.quote.decimals)
        out = adapter.quote(state, w.side, amount_in)
        base = amount_in / 10**token_in.decimals if w.side is Side.SELL else out / 10**token_out.decimals
        quote = out / 10**token_out.decimals if w.side is Side.SELL else amount_in / 10**token_in.decimals
        trades.append(PlannedTrade(
            chain=w.chain, venue=w.venue, underlying=state.underlying, side=w.side, token_in=token_in.address,
            token_out=token_out.address, base_amount=base, quote_amount=quote, amount_in_raw=amount_in,
            expected_amount_out_raw=out, min_amount_out_raw=max(1, int(out * (1 - slippage_bps / 1e4))),
            expected_price=quote / base, gas_usd=snap.chains[w.chain].swap_gas_usd[w.venue], fee_usd=0.0,
            impact_usd=0.0))
    return Plan(trades=trades, cost=CostBreakdown(), pre_trade_delta={}, residual_delta={}, risk_usd=0.0,
                objective_usd=0.0, model_objective_usd=0.0, stats=SolveStats(method="test", status="given"),
                created_at=time.time(), snapshot_blocks={c: cs.block_number for c, cs in snap.chains.items()})


def assert_ledger_invariants(ledger: Ledger, run_id: str, w3s: dict[str, Web3], last_run: bool = True) -> None:
    """Every intent terminal; each signed intent has exactly one landed tx at its own nonce; lane nonces
    contiguous and matching the chain's transaction count."""
    records = ledger.intents(run_id)
    assert records, "the run has no intents"
    for r in records:
        assert r.state in TERMINAL_INTENT_STATES, f"{r.spec.id} is {r.state}"
    by_lane: dict[str, list[int]] = {}
    for r in records:
        if r.state is IntentState.SKIPPED:
            assert not r.attempts, f"{r.spec.id} was skipped after signing"
            continue
        if r.nonce is None:
            continue  # refused before signing
        by_lane.setdefault(r.spec.lane, []).append(r.nonce)
        assert r.receipt is not None, f"{r.spec.id} has no receipt"
        w3 = w3s[r.spec.chain]
        tx = w3.eth.get_transaction(r.receipt.tx_hash)  # type: ignore[arg-type]
        assert tx["nonce"] == r.nonce
        landed = [a.tx_hash for a in r.attempts if _has_receipt(w3, a.tx_hash)]
        assert landed == [r.receipt.tx_hash], f"{r.spec.id}: landed {landed}"
    for lane, nonces in by_lane.items():
        nonces.sort()
        assert nonces == list(range(nonces[0], nonces[0] + len(nonces))), f"{lane}: nonces {nonces}"
        chain = lane.split(".")[0]
        sender = next(r.spec.sender for r in records if r.spec.lane == lane)
        count = w3s[chain].eth.get_transaction_count(sender)  # type: ignore[arg-type]
        assert count == nonces[-1] + 1 if last_run else count > nonces[-1], f"{lane}: chain count {count}"


def _has_receipt(w3: Web3, tx_hash: str) -> bool:
    try:
        w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        return True
    except Exception:
        return False


@contextmanager
def replaced_book(orch: Orchestra, tmp: Path, lines_for: Callable[[dict[str, float]], list[dict[str, Any]]]
                  ) -> Iterator[Path]:
    """Rewrite the worker's option book with ``lines_for(net delta of everything but the book)``; restored after.

    The worker re-reads the book on every run, so a test can give the policy exactly the exposure it needs.
    """
    raw = yaml.safe_load(orch.config_path.read_text())
    book_path = Path(next(v for v in raw["positions"].values() if v["adapter"] == "option_book")["settings"]["path"])
    raw["positions"] = {k: v for k, v in raw["positions"].items() if v["adapter"] != "option_book"}
    (tmp / "no-book.yaml").write_text(yaml.safe_dump(raw))
    base = load_config(tmp / "no-book.yaml")
    ctx = RunContext(config=base, ledger=orch.ledger())
    connections = {c: ctx.w3(c) for c in ctx.chains()}
    snap = take_snapshot(base, connections, ctx.registry)
    net = {d.underlying: d.net_delta for d in decisions_for(base, ctx.registry, snap, connections)}
    original = book_path.read_text()
    book_path.write_text(yaml.safe_dump({"positions": lines_for(net)}))
    try:
        yield book_path
    finally:
        book_path.write_text(original)


def drive(ctx: RunContext, plan: Any, run_id: str, timeout_s: float = 180.0) -> RunReport:
    """One full run in process, each stage retried on retryable errors as the Celery tasks would."""
    deadline = time.monotonic() + timeout_s

    def stage(fn: Callable[[], Any]) -> Any:
        while True:
            try:
                return fn()
            except CrosshedgeError as exc:
                if not exc.retryable or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    rid = start_run(ctx, kind="test", run_id=run_id, plan_input=plan)
    stage(lambda: snapshot_run(ctx, rid))
    lanes = stage(lambda: plan_run(ctx, rid))
    assert lanes, f"run {rid} planned no lane: {ctx.ledger.events(rid)}"
    for lane in lanes:
        def execute_it(lane: str = lane) -> Any:
            return execute_lane(ctx, rid, lane, delivery="mev-test")

        def confirm_it(lane: str = lane) -> Any:
            return confirm_lane(ctx, rid, lane, delivery="mev-test")

        stage(execute_it)
        stage(confirm_it)
    report: RunReport = stage(lambda: reconcile_run(ctx, rid))
    return report
