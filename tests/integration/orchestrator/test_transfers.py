"""A bridge transfer through the whole run: Across's SpokePool (npm bytecode, behind its proxy) on the
devnet's ethereum and base, a given plan that moves USDC from ethereum to base, the deposit signed and confirmed on
ethereum's lane, its transfer booked and tracked, and reconciliation equal to both chains.

The relayer is a third party: the devnet's relayer process (devnet.relayer), on the devnet's own SpokePools,
filling only while a test lets it (it watches without filling otherwise). When it never fills, the run reconciles
after ``execution.transfer_wait_s`` with the funds counted as arriving; once the deadline has passed the tracker marks
the transfer expired, and the admin's root bundle refunds it on the origin.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract

from adapters import Deposit
from crosshedge.config import Config, load_config
from devnet import (
    DevnetAcross,
    anvil_rpc,
    load_artifact,
    read_events,
    refund_expired,
    relayer_running,
    spoke_pool,
    start_relayer,
)
from optimizer import CostBreakdown, HedgeProblem, Plan, PlannedTransfer, SolveStats, plan
from orchestrator import (
    IntentKind,
    Ledger,
    RunContext,
    RunReport,
    RunState,
    TransferState,
    build_inventory,
    confirm_lane,
    decisions_for,
    execute_lane,
    redis_client,
    short_of_target,
    take_snapshot,
    track_open_transfers,
)
from orchestrator.assess import Capital, build_problem
from orchestrator.bridging import transfer_options
from risk import Decision
from tests.integration.orchestra import Orchestra
from tests.integration.orchestrator.helpers import assert_ledger_invariants, drive

USDC = 10**6
SPEC = DevnetAcross()  # the devnet's fee schedule (its relayer charges it)
RELAYER_DELAY_S = 0.5


@dataclass
class Bridge:
    orch: Orchestra
    config: Config
    spokes: dict[str, Contract]
    usdc: dict[str, ChecksumAddress]

    def w3(self, chain: str) -> Web3:
        return self.orch.w3(chain)

    def ctx(self) -> RunContext:
        return RunContext(config=self.config, ledger=Ledger(redis_client(self.orch.url),
                                                            prefix=self.config.raw.execution.key_prefix))


@pytest.fixture
def bridge(orch: Orchestra, chain_snapshot: dict[str, str], tmp_path: Path) -> Iterator[Bridge]:
    """The devnet's SpokePools on ethereum and base, with a 600 s fill deadline, and the devnet's relayer watching
    without filling (a test starts it filling with :class:`Relayer`); the devnet's own relayer again afterwards."""
    for proxy in orch.proxies.values():
        proxy.mode = ""
    state_dir = orch.devnet.manager.state_dir
    start_relayer(state_dir, delay_s=RELAYER_DELAY_S, fill=False)
    raw = yaml.safe_load(orch.config_path.read_text())
    spokes: dict[str, Contract] = {}
    usdc: dict[str, ChecksumAddress] = {}
    for chain in ("ethereum", "base"):
        spokes[chain] = spoke_pool(orch.w3(chain), orch.devnet.state["chains"][chain]["across"]["spoke_pool"])
        usdc[chain] = Web3.to_checksum_address(raw["chains"][chain]["tokens"]["USDC"]["address"])
        raw["chains"][chain]["transfers"] = {"across": {
            **SPEC.transfer_section(spokes[chain].address), "expected_fill_s": 3, "fill_deadline_s": 600}}
    raw["execution"]["key_prefix"] = f"xfer-{uuid.uuid4().hex[:8]}"
    raw["execution"]["transfer_wait_s"] = 6
    path = tmp_path / "bridge.chains.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    try:
        yield Bridge(orch=orch, config=load_config(path), spokes=spokes, usdc=usdc)
    finally:
        orch.devnet.manager.start_relayer()


class Relayer:
    """The devnet's relayer process (devnet.relayer) filling, from :meth:`start` until :meth:`stop`; ``filled`` are
    the transaction hashes of its fills of deposits from ``origin`` since it started."""

    def __init__(self, bridge: Bridge, origin: str = "ethereum") -> None:
        self.state_dir, self.origin = bridge.orch.devnet.manager.state_dir, origin
        self.mark = 0

    def _events(self) -> list[dict[str, Any]]:
        proc = relayer_running(self.state_dir)
        assert proc is not None, "the devnet's relayer is not running"
        return read_events(proc.log)

    def start(self) -> None:
        self.mark = len(self._events())
        start_relayer(self.state_dir, delay_s=RELAYER_DELAY_S, fill=True)

    def stop(self) -> None:
        start_relayer(self.state_dir, delay_s=RELAYER_DELAY_S, fill=False)

    def wait_filled(self, count: int, timeout_s: float = 30.0) -> None:
        """Until its log shows ``count`` fills (or ``timeout_s``). The run can reconcile on the fill's block before
        the relayer, waiting on that receipt, writes its ``filled`` line; stopping it then would lose the line."""
        deadline = time.monotonic() + timeout_s
        while len(self.filled) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    @property
    def filled(self) -> list[str]:
        return [e["tx_hash"] for e in self._events()[self.mark:]
                if e.get("event") == "filled" and e.get("origin") == self.origin]

    @property
    def error(self) -> str | None:
        """The first fill it refused or that reverted (a relayer that fills nothing shows here)."""
        bad = [e for e in self._events()[self.mark:] if e.get("event") in ("fill_refused", "fill_reverted")]
        return str(bad[0]) if bad else None


def plan_moving(bridge: Bridge, usdc: float) -> Plan:
    """A given plan with no trade and one transfer of ``usdc`` from ethereum to base."""
    return Plan(trades=[], cost=CostBreakdown(), pre_trade_delta={}, residual_delta={}, risk_usd=0.0,
                objective_usd=0.0, model_objective_usd=0.0, stats=SolveStats(method="test", status="given"),
                created_at=time.time(), transfers=[PlannedTransfer(
                    adapter="across", origin="ethereum", destination="base", symbol="USDC", amount=usdc,
                    amount_raw=int(usdc * USDC), expected_received=usdc * 0.9995 - 0.5, price_usd=1.0,
                    fee_usd=usdc * 0.0005 + 0.5, gas_usd=1.0, latency_s=3.0)])


def balance(bridge: Bridge, chain: str, owner: str) -> int:
    token = bridge.w3(chain).eth.contract(address=bridge.usdc[chain], abi=load_artifact("ERC20PresetMinterPauser").abi)
    return int(token.functions.balanceOf(owner).call())


def test_a_transfer_is_deposited_once_filled_and_reconciled_on_both_chains(bridge: Bridge) -> None:
    ctx = bridge.ctx()
    wallet = {c: ctx.wallet_address(c) for c in ("ethereum", "base")}
    before = {c: balance(bridge, c, wallet[c]) for c in wallet}
    relayer = Relayer(bridge)
    relayer.start()
    try:
        report = drive(ctx, plan_moving(bridge, 10_000.0), f"xfer-{uuid.uuid4().hex[:6]}")
        relayer.wait_filled(1)
    finally:
        relayer.stop()
    assert relayer.error is None, f"the relayer failed: {relayer.error!r}"
    records = ctx.ledger.intents(report.run_id)
    assert [r.spec.kind for r in records] == [IntentKind.APPROVE, IntentKind.DEPOSIT]
    assert_ledger_invariants(ctx.ledger, report.run_id, bridge.orch.w3s())
    assert report.balance_diff == {}, f"the ledger differs from the chains: {report.balance_diff}"
    [row] = report.transfers
    assert row.state == "filled" and row.destination_tx == relayer.filled[0] and len(relayer.filled) == 1
    assert row.amount_in_raw == 10_000 * USDC and row.fee_raw == SPEC.fee_raw("USDC", 10_000 * USDC)
    assert row.latency_s is not None and row.latency_s >= 0
    assert balance(bridge, "ethereum", wallet["ethereum"]) == before["ethereum"] - row.amount_in_raw
    assert balance(bridge, "base", wallet["base"]) == before["base"] + row.amount_out_raw
    # a second delivery of the run's stages deposits nothing more
    again = drive_again(ctx, report.run_id)
    assert again == 1, "one deposit on chain for the run"


def drive_again(ctx: RunContext, run_id: str) -> int:
    """Execute and confirm the run's lane once more (a redelivered message); the number of its deposits on chain."""
    for lane in ctx.ledger.lanes(run_id):
        execute_lane(ctx, run_id, lane, delivery="again")
        confirm_lane(ctx, run_id, lane, delivery="again")
    deposits = [r for r in ctx.ledger.intents(run_id) if r.spec.kind is IntentKind.DEPOSIT]
    return sum(1 for r in deposits for a in r.attempts if _mined(ctx.w3("ethereum"), a.tx_hash))


def _mined(w3: Web3, tx_hash: str) -> bool:
    try:
        return w3.eth.get_transaction_receipt(tx_hash)["status"] == 1  # type: ignore[arg-type]
    except Exception:
        return False


def test_an_unfilled_transfer_stays_arriving_then_expires_and_is_refunded(bridge: Bridge) -> None:
    ctx = bridge.ctx()
    w3 = bridge.w3("ethereum")
    wallet = ctx.wallet_address("ethereum")
    before = balance(bridge, "ethereum", wallet)
    report = drive(ctx, plan_moving(bridge, 2_000.0), f"xfer-{uuid.uuid4().hex[:6]}")  # nobody fills it
    assert report.balance_diff == {}, f"the ledger differs from the chains: {report.balance_diff}"
    [row] = report.transfers
    assert row.state == "deposited" and row.destination_tx is None  # waited transfer_wait_s, then reconciled
    [record] = ctx.ledger.transfers(report.run_id)
    assert record.open and balance(bridge, "ethereum", wallet) == before - 2_000 * USDC
    # in flight: counted once, on its way to base (`crosshedge inventory`'s figures)
    assert arriving_usdc(ctx) == {"ethereum": 0.0, "base": row.amount_out_raw / USDC}
    d: Deposit = record.deposit
    for chain in ("ethereum", "base"):  # both clocks past the fill deadline
        anvil_rpc(bridge.w3(chain), "evm_increaseTime", 700)
        anvil_rpc(bridge.w3(chain), "evm_mine")
    [expired] = track_open_transfers(ctx)
    assert expired.state is TransferState.EXPIRED
    assert arriving_usdc(ctx) == {"ethereum": row.amount_in_raw / USDC, "base": 0.0}  # due back at the origin
    # the protocol's refund: the admin's (the devnet deployer's) root bundle and its leaf
    refund_expired(w3, bridge.spokes["ethereum"].address, bridge.orch.devnet.state["chains"]["ethereum"]["across"][
        "admin"], d)
    track_open_transfers(ctx)
    refunded = ctx.ledger.transfer(record.id)
    assert refunded.state is TransferState.REFUNDED and refunded.refund is not None
    assert balance(bridge, "ethereum", wallet) == before
    assert arriving_usdc(ctx) == {"ethereum": 0.0, "base": 0.0}


def arriving_usdc(ctx: RunContext) -> dict[str, float]:
    """USDC arriving per chain as `crosshedge inventory` reports it (a fresh snapshot of every chain)."""
    snap = take_snapshot(ctx.config, {c: ctx.w3(c) for c in ctx.chains()}, ctx.registry, verifier=ctx.verifier)
    lines = build_inventory(ctx, snap).lines
    return {line.chain: line.arriving for line in lines if line.symbol == "USDC" and line.chain in ("ethereum", "base")}


# ---------------------------------------------------------------- with the worker: crashes, a chain down, Redis


def with_transfers(bridge: Bridge) -> Callable[[dict[str, Any]], None]:
    """The edit that gives the worker's config the bridge's sections (and a short wait for fills)."""
    sections = {c: bridge.config.raw.chains[c].transfers for c in ("ethereum", "base")}

    def edit(raw: dict[str, Any]) -> None:
        for chain, section in sections.items():
            raw["chains"][chain]["transfers"] = section
        raw["execution"]["transfer_wait_s"] = 6

    return edit


def wait_finished(orch: Orchestra, run_id: str) -> RunReport:
    run = orch.wait_run(run_id, 150)
    assert run.state is RunState.RECONCILED, (run, orch.ledger().events(run_id))
    report = orch.ledger().blob(run_id, "report", RunReport)
    assert report is not None and report.balance_diff == {}, report
    assert_ledger_invariants(orch.ledger(), run_id, orch.w3s())
    return report


def test_the_worker_killed_after_signing_the_deposit_deposits_once(fresh: Orchestra, bridge: Bridge) -> None:
    relayer = Relayer(bridge)
    with fresh.configured(edit=with_transfers(bridge)):
        fresh.arm("after_sign.deposit")
        relayer.start()
        try:
            rid = fresh.submit(plan_moving(bridge, 3_000.0), f"xfer-kill-{uuid.uuid4().hex[:6]}")
            report = wait_finished(fresh, rid)
            relayer.wait_filled(1)
        finally:
            relayer.stop()
    assert not (fresh.crash_dir / "after_sign.deposit").exists(), "the crash point was never reached"
    assert relayer.error is None and len(relayer.filled) == 1
    [row] = report.transfers
    assert row.state == "filled"
    [deposit_intent] = [r for r in fresh.ledger().intents(rid) if r.spec.kind is IntentKind.DEPOSIT]
    assert len(deposit_intent.attempts) == 1  # the stored signature was broadcast after the crash, not a new one


def test_a_transfer_in_flight_survives_a_redis_restart_and_a_destination_outage(fresh: Orchestra,
                                                                               bridge: Bridge) -> None:
    with fresh.configured(edit=with_transfers(bridge)):
        rid = fresh.submit(plan_moving(bridge, 1_500.0), f"xfer-outage-{uuid.uuid4().hex[:6]}")
        report = wait_finished(fresh, rid)  # nobody fills: the run reconciles with its transfer arriving
        assert [r.state for r in report.transfers] == ["deposited"]
        fresh.redis.restart()
        ctx = RunContext(config=fresh.config, ledger=fresh.ledger())
        [open_one] = [t for t in ctx.ledger.transfers(rid) if t.open]  # the AOF kept it
        fresh.proxies["base"].mode = "down"  # the destination does not answer
        relayer = Relayer(bridge)
        relayer.start()
        try:
            relayer_done = fresh.wait_for(lambda: relayer.filled, 30, "the relayer's fill")
            [still] = track_open_transfers(ctx)
            assert (still.state is TransferState.DEPOSITED and "base" in still.note.lower()) or still.note
            fresh.proxies["base"].mode = ""
            [filled] = track_open_transfers(ctx)
        finally:
            relayer.stop()
            fresh.proxies["base"].mode = ""
    assert relayer_done and filled.state is TransferState.FILLED and filled.id == open_one.id
    assert filled.fill is not None and filled.fill.tx_hash == relayer.filled[0]


def test_the_optimizer_bridges_to_a_dry_chain_at_the_snapshot_and_the_run_deposits_then_stages_the_trade(
        bridge: Bridge) -> None:
    """The planner's own path on the devnet: routes quoted at a real snapshot (gas at its gas price), a buy whose
    cheapest venues sit on base, with base's wallet shown holding 1 USDC (the problem's inventory; the chain holds
    more, which only reconciliation sees): the plan bridges USDC from ethereum and stages the base trades. The run
    deposits once, the relayer fills, the staged trades wait for the follow-up, and the ledger equals both chains."""
    ctx = bridge.ctx()
    snap = take_snapshot(ctx.config, {c: ctx.w3(c) for c in ctx.chains()}, ctx.registry, verifier=ctx.verifier)
    routes = transfer_options(bridge.config, ctx.registry, snap)
    assert {"ethereum->base/USDC", "base->ethereum/USDC"} <= {r.key for r in routes}
    decision = Decision(policy="test", underlying="ETH", trade=True, net_delta=-40.0, target=0.0, trade_units=40.0,
                        lower=-0.5, upper=0.5, reason="test")
    on_eth_only = {c: ({"USDC": 1.0} if c == "base" else {}) for c in snap.chains}
    problem = build_problem(bridge.config, snap, [decision], set(), {c for c in snap.chains
                                                                   if c not in ("ethereum", "base")},
                            Capital(routes=tuple(routes)))
    inventory = {c: {**held, **on_eth_only.get(c, {})} for c, held in problem.inventory.items()}
    # ethereum's venues are made dear (gas), so the cheap liquidity for the rest is base's
    gas = {k: (400.0 if k.startswith("ethereum/") else v) for k, v in problem.gas_usd.items()}
    settings = problem.settings.model_copy(update={"max_transfers": 4})  # the session's tests plan none
    problem = HedgeProblem.model_validate({**problem.model_dump(), "inventory": inventory, "gas_usd": gas,
                                           "settings": settings.model_dump()})
    result = plan(problem)
    assert [t.key for t in result.transfers] == ["ethereum->base/USDC"], result.note
    staged = [t for t in result.trades if t.staged]
    assert staged and all(t.chain == "base" for t in staged)
    assert result.cost.wait_usd > 0 and result.cost.bridge_gas_usd > 0
    relayer = Relayer(bridge)
    relayer.start()
    try:
        report = drive(ctx, result.model_copy(update={"created_at": time.time()}), f"xfer-{uuid.uuid4().hex[:6]}")
    finally:
        relayer.stop()
    assert relayer.error is None, f"the relayer failed: {relayer.error!r}"
    intents = ctx.ledger.intents(report.run_id)
    assert sum(1 for r in intents if r.spec.kind is IntentKind.DEPOSIT) == 1
    assert not [r for r in intents if r.spec.kind is IntentKind.SWAP and r.spec.chain == "base"]  # staged: later
    assert any(e.kind == "staged" for e in ctx.ledger.events(report.run_id))
    [row] = report.transfers
    assert row.state == "filled" and row.amount_in_raw == result.transfers[0].amount_raw
    assert report.balance_diff == {}, f"the ledger differs from the chains: {report.balance_diff}"


def test_with_no_hedge_to_make_a_chain_short_of_its_target_is_refilled_by_a_bridge_only_run(
        bridge: Bridge, tmp_path: Path) -> None:
    """The policy fires on nothing (a delta threshold no book reaches), but base holds 15% of the USDC against a
    target of 40% ± 10%: the tick's check names base, the run's own planner (no given plan) holds every delta and
    bridges USDC into base, the relayer fills, the ledger equals the chains, and base is no longer short."""
    raw = yaml.safe_load(bridge.config.source.read_text())
    raw["policy"] = {**raw.get("policy", {}), "trigger": "delta_threshold", "delta_threshold_usd": 1e12}
    raw["optimizer"]["max_transfers"] = 4  # the session's tests plan none
    shares = {"ethereum": 0.3, "arbitrum": 0.3, "base": 0.4}
    for chain, share in shares.items():
        raw["chains"][chain]["inventory_targets"] = {"USDC": {"target_share": share, "threshold": 0.1}}
    path = tmp_path / "rebalance.chains.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    ctx = RunContext(config=load_config(path), ledger=bridge.ctx().ledger)

    def short_now() -> list[str]:
        connections = {c: ctx.w3(c) for c in ctx.chains()}
        snap = take_snapshot(ctx.config, connections, ctx.registry, verifier=ctx.verifier)
        decisions = decisions_for(ctx.config, ctx.registry, snap, connections)
        assert decisions and not any(d.trade for d in decisions), [d.reason for d in decisions]
        return short_of_target(ctx, snap, decisions)

    short = short_now()
    assert [s.split()[:2] for s in short] == [["base", "USDC"]], short
    wallet = ctx.wallet_address("base")
    before = balance(bridge, "base", wallet)
    relayer = Relayer(bridge)
    relayer.start()
    try:
        report = drive(ctx, None, f"rebal-{uuid.uuid4().hex[:6]}")  # the run plans for itself, as a tick's does
    finally:
        relayer.stop()
    assert relayer.error is None, f"the relayer failed: {relayer.error!r}"
    kinds = {r.spec.kind for r in ctx.ledger.intents(report.run_id)}
    assert IntentKind.DEPOSIT in kinds and IntentKind.SWAP not in kinds  # a rebalance never trades the book
    assert report.transfers and all(t.route.endswith("->base/USDC") and t.state == "filled" for t in report.transfers)
    assert report.balance_diff == {}, f"the ledger differs from the chains: {report.balance_diff}"
    assert balance(bridge, "base", wallet) == before + sum(t.amount_out_raw for t in report.transfers)
    assert short_now() == []  # refilled to its target: the next tick starts nothing
