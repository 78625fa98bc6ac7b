"""Risk and policy over a snapshot, and the optimizer problem built from them (glue for the plan stage and beat).

Positions are read at the snapshot's blocks (:func:`read_positions`, by each source's declared scope), Greeks
aggregated per underlying (risk.aggregate), the configured policy decides per underlying (risk.policy), and the
underlyings it fires on become the optimizer's targets: trade to the policy's target, inside a narrow band around it.

Usage::

    decisions, problem, plan = decide_and_plan(config, registry, snapshot, connections, set(), set())
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from pydantic import BaseModel, Field
from web3 import Web3

from adapters import AdapterRegistry, ChainContext, LpPosition, PositionScope
from crosshedge import AdapterError, Frozen, HeadMovedError, RpcError, StaleDataError
from crosshedge.config import Config
from optimizer import HedgeProblem, HedgeTarget, PerpOption, Plan, TransferOption
from optimizer import plan as optimize
from orchestrator.coverage import Book, ChainRead, PositionMemory, apply_coverage, complete_book, widen_for_staleness
from orchestrator.metrics import set_book_greeks
from orchestrator.snapshot import HEAD_MOVED_ATTEMPTS, Snapshot, chain_context, take_snapshot
from orchestrator.verification import ContractVerifier
from risk import (
    CASH_UNDERLYINGS,
    Decision,
    RiskReport,
    VenueCost,
    aggregate,
    decide_all,
    marks_from_venues,
    venue_cost_from_state,
)

#: Half-width of the optimizer's hard band around the policy's target, as a share of the trade (and a floor).
TARGET_TOLERANCE = 0.05
MIN_TOLERANCE_UNITS = 1e-6
#: The window the optimizer must land in keeps this share of the band's width away from its edges, so a hedge
#: that aims at the edge (Whalley-Wilmott trades back to it) still ends strictly inside the band.
EDGE_MARGIN = 0.05


def target_window(d: Decision, mark: float) -> HedgeTarget:
    """The optimizer's target for one underlying: the policy's target, in a window strictly inside its band."""
    margin = EDGE_MARGIN * (d.upper - d.lower)
    inner_lo, inner_hi = d.lower + margin, d.upper - margin
    if inner_lo >= inner_hi:  # a zero-width band (hedge to flat): the window is the target itself, +- the floor
        inner_lo = inner_hi = d.target
    target = min(max(d.target, inner_lo), inner_hi)
    tol = max(abs(d.trade_units) * TARGET_TOLERANCE, MIN_TOLERANCE_UNITS)
    lower, upper = max(inner_lo, target - tol), min(inner_hi, target + tol)
    if upper - lower < 2 * MIN_TOLERANCE_UNITS:
        lower, upper = target - MIN_TOLERANCE_UNITS, target + MIN_TOLERANCE_UNITS
    return HedgeTarget(underlying=d.underlying, current_delta=d.net_delta, target=target, lower=lower, upper=upper,
                       mark_price_usd=mark)


def venue_costs(snap: Snapshot) -> dict[str, tuple[VenueCost, ...]]:
    """Each underlying's venues with their swap gas (USD), fee and impact slope."""
    out: dict[str, list[VenueCost]] = {}
    for chain in snap.chains.values():
        for v in chain.venues:
            out.setdefault(v.underlying, []).append(venue_cost_from_state(v, chain.swap_gas_usd.get(v.venue, 0.0)))
    return {u: tuple(c) for u, c in out.items()}


def read_positions(config: Config, snap: Snapshot, connections: Mapping[str, Web3], registry: AdapterRegistry,
                   now: datetime) -> tuple[list[BaseModel], list[ChainRead]]:
    """Every position source of chains.yaml, read by its declared scope at the snapshot's blocks.

    Returns (off-chain positions, one ChainRead per configured chain). Wallet inventory was read with the
    snapshot, at the same blocks; chain-scoped sources are read on every chain of the snapshot; off-chain sources
    once, as of ``now``. A chain the snapshot lacks, or whose inventory or a source could not be read, comes back
    with ``missing`` saying why (never as holding nothing).
    """
    offchain: list[BaseModel] = []
    reads = []
    for entry in config.positions:
        if entry.scope == PositionScope.OFFCHAIN:
            offchain += registry.positions(entry.adapter).read_positions(None, entry.config, None, now)
    for name in config.chains:
        reads.append(_chain_read(config, snap, connections, registry, name, now))
    return offchain, reads


def _positions_at(registry: AdapterRegistry, adapter: str, ctx: ChainContext, config: BaseModel, block: int,
                  now: datetime) -> list[BaseModel]:
    """A chain-scoped source's positions at the snapshot's ``block``, read again when the node answered a read
    pinned there from a block mined meanwhile (HeadMovedError; anvil does this while ``block`` is the head): the
    block stays the snapshot's, so the book is still read at one block per chain."""
    source = registry.positions(adapter)
    for _ in range(HEAD_MOVED_ATTEMPTS - 1):
        try:
            return list(source.read_positions(ctx, config, block, now))
        except HeadMovedError:
            continue
    return list(source.read_positions(ctx, config, block, now))


def _chain_read(config: Config, snap: Snapshot, connections: Mapping[str, Web3], registry: AdapterRegistry,
                name: str, now: datetime) -> ChainRead:
    chain = snap.chains.get(name)
    if chain is None or name not in connections:
        return ChainRead(chain=name, block=None, missing=snap.failed.get(name, "not read"))
    if chain.inventory_error is not None:
        return ChainRead(chain=name, block=chain.block_number, missing=chain.inventory_error)
    lp: list[LpPosition] = []
    ctx = chain_context(config, name, connections[name])
    for entry in config.positions:
        if entry.scope != PositionScope.CHAIN:
            continue
        try:
            found = _positions_at(registry, entry.adapter, ctx, entry.config, chain.block_number, now)
        except (AdapterError, RpcError, StaleDataError) as exc:  # this chain unread, not the plan
            return ChainRead(chain=name, block=chain.block_number, missing=str(exc))
        lp += [p for p in found if isinstance(p, LpPosition)]
    if chain.refused_perps:  # the account in a refused market is unknown: never read as flat
        market, why = next(iter(sorted(chain.refused_perps.items())))
        return ChainRead(chain=name, block=chain.block_number, missing=f"perp market {market}: {why}")
    perps = tuple(registry.perp(s.adapter).position(s) for s in chain.perps)
    return ChainRead(chain=name, block=chain.block_number, spot=chain.inventory, lp=tuple(lp), perps=perps)


class Assessment(Frozen):
    """The policy's decisions and the book they were made from (with what was stale or unknown)."""

    decisions: tuple[Decision, ...]
    book: Book
    report: RiskReport | None = None  # the book's Greeks the decisions were made from (the run's P&L explain)


def assess(config: Config, registry: AdapterRegistry, snap: Snapshot, connections: Mapping[str, Web3],
           memory: PositionMemory | None = None) -> Assessment:
    """Risk and the policy's decision per underlying at ``snap``, never from a partial book (orchestrator.coverage).

    Underlyings no readable venue prices are blocked too: their positions cannot be valued.
    """
    now = datetime.fromtimestamp(snap.taken_at, UTC)
    live = {c: w3 for c, w3 in connections.items() if c in snap.chains}
    offchain, reads = read_positions(config, snap, live, registry, now)
    book = complete_book(config, offchain, reads, memory, now)
    marks = marks_from_venues(snap.venue_states())
    unpriced = {getattr(p, "underlying", "") for p in book.positions} - set(marks) - set(CASH_UNDERLYINGS)
    if unpriced:
        blocked = {**book.blocked, **{u: f"no readable venue prices {u}: its positions cannot be valued"
                                      for u in sorted(unpriced)}}
        book = book.model_copy(update={"blocked": blocked, "positions": tuple(
            p for p in book.positions if getattr(p, "underlying", None) not in unpriced)})
    report = aggregate(list(book.positions), marks, now, rate=config.raw.policy.rate)
    set_book_greeks(report)  # the book's Greeks by bucket and line, where the risk is computed (beat and worker)
    decisions = decide_all(report, venue_costs(snap), config.raw.policy)
    widen = widen_for_staleness(book, report)
    return Assessment(decisions=tuple(apply_coverage(decisions, book, widen, config.raw.policy.trigger)), book=book,
                      report=report)


def decisions_for(config: Config, registry: AdapterRegistry, snap: Snapshot, connections: Mapping[str, Web3],
                  memory: PositionMemory | None = None) -> list[Decision]:
    """The policy's decision per underlying at ``snap`` (see :func:`assess`)."""
    return list(assess(config, registry, snap, connections, memory).decisions)


class Capital(Frozen):
    """What a plan may move capital with: the bridge routes quoted at the snapshot (orchestrator.bridging) and the
    funds already in flight, ``{chain: {symbol: units}}`` (held + arriving is what the targets are measured on)."""

    routes: tuple[TransferOption, ...] = ()
    arriving: dict[str, dict[str, float]] = Field(default_factory=dict)


def build_problem(config: Config, snap: Snapshot, trading: list[Decision], bad_venues: set[str],
                  bad_chains: set[str], capital: Capital | None = None,
                  targets: list[HedgeTarget] | None = None) -> HedgeProblem:
    """The optimizer's problem at ``snap``: a target window per trading decision (or the given ``targets``: a
    rebalance's hold windows), the venues, gas, inventory, switches, and the routes and funds of ``capital``."""
    marks = marks_from_venues(snap.venue_states())
    if targets is None:
        targets = [target_window(d, marks[d.underlying]) for d in trading]
    # A venue whose price ran past the liquidity it read on a side (an empty curve: the FTX week's crash takes a
    # skewed pool there) cannot be planned on; it is left out, not allowed to fail the whole run's problem.
    venues = [v for v in snap.venue_states() if v.sell.segments and v.buy.segments]
    kept = {f"{v.chain}/{v.venue}" for v in venues}
    gas = {f"{c}/{v}": usd for c, cs in snap.chains.items() for v, usd in cs.swap_gas_usd.items()
           if f"{c}/{v}" in kept}
    # A chain whose inventory is unknown cannot spend it: nothing is planned there.
    off_chains = bad_chains | set(snap.failed) | {c for c, cs in snap.chains.items() if cs.inventory_error is not None}
    # The problem refuses switches naming what it does not hold (a misspelt switch would do nothing); a chain or
    # venue with no state in the snapshot cannot trade anyway, so its switch is left out.
    known_chains = {v.chain for v in venues} | set(snap.chains)
    known_venues = {f"{v.chain}/{v.venue}" for v in venues} | set(gas)
    return HedgeProblem(
        targets=targets,
        venues=venues,
        gas_usd=gas,
        tick_gas_usd={f"{c}/{v}": usd for c, cs in snap.chains.items() for v, usd in cs.tick_gas_usd.items()
                      if f"{c}/{v}" in kept},
        inventory={c: {p.symbol: p.amount for p in cs.inventory} for c, cs in snap.chains.items()},
        disabled_venues=sorted(bad_venues & known_venues),
        disabled_chains=sorted(off_chains & known_chains),
        # Every curve was read at its chain's head just now; an idle devnet chain's head can be old in wall-clock
        # terms, so age is measured against the chains' own clocks (the pre-sign price-move breaker covers drift).
        as_of=min(cs.block_timestamp for cs in snap.chains.values()),
        slippage_bps=config.raw.execution.slippage_bps,
        settings=config.raw.optimizer,
        transfers=list(capital.routes) if capital is not None else [],
        arriving=capital.arriving if capital is not None else {},
        inventory_targets={c: dict(cs.inventory_targets) for c, cs in config.chains.items() if cs.inventory_targets},
        perps=(perp_options(snap, off_chains, config.raw.execution.perp_max_mark_index_deviation)
               if config.raw.optimizer.perps else ()),
    )


def perp_options(snap: Snapshot, off_chains: set[str], max_mark_index_deviation: float = 1.0
                 ) -> tuple[PerpOption, ...]:
    """Every perp market of the snapshot with the wallet's account in it, as the optimizer's PerpOption (its
    vAMM curves, prices, funding and margin ratios, the account's position and Vault collateral, one order's gas);
    none on a chain that cannot trade, and none whose mark is further from its index than
    ``max_mark_index_deviation`` (the sign-time breaker would refuse its order: the plan hedges without it)."""
    out = []
    for chain, cs in sorted(snap.chains.items()):
        if chain in off_chains:
            continue
        for s in cs.perps:
            p = s.position
            # No account read, or a vAMM with no liquidity left on a side in the read window (the price ran past
            # its makers' ranges): nothing the optimizer could trade there.
            if p is None or not s.sell.segments or not s.buy.segments:
                continue
            if abs(s.mark_price / s.index_price - 1.0) > max_mark_index_deviation:
                continue
            out.append(PerpOption(
                chain=chain, market=s.market, underlying=s.underlying, sell=s.sell, buy=s.buy,
                mid_price=s.market_price, mark_price=s.mark_price, index_price=s.index_price,
                daily_funding_rate=s.daily_funding_rate,
                size=p.size, open_notional=p.open_notional, collateral_usd=p.collateral_usd,
                owed_funding_usd=p.owed_funding_usd, mm_ratio=s.mm_ratio, im_ratio=s.im_ratio,
                fee_pips=round(s.exchange_fee_ratio * 1_000_000), gas_usd=cs.perp_gas_usd.get(s.market, 0.0)))
    return tuple(out)


def decide_and_plan(config: Config, registry: AdapterRegistry, snap: Snapshot, connections: Mapping[str, Web3],
                    bad_venues: set[str], bad_chains: set[str], memory: PositionMemory | None = None
                    ) -> tuple[list[Decision], HedgeProblem | None, Plan | None]:
    """Decisions for every underlying, and (when any fires) the problem and the optimizer's plan."""
    decisions, problem, plan, _ = plan_with_risk(config, registry, snap, connections, bad_venues, bad_chains, memory)
    return decisions, problem, plan


def plan_with_risk(config: Config, registry: AdapterRegistry, snap: Snapshot, connections: Mapping[str, Web3],
                   bad_venues: set[str], bad_chains: set[str], memory: PositionMemory | None = None,
                   capital: Capital | None = None
                   ) -> tuple[list[Decision], HedgeProblem | None, Plan | None, RiskReport | None]:
    """:func:`decide_and_plan`, and the risk report the decisions were made from; with ``capital``, the plan may
    bridge too."""
    assessment = assess(config, registry, snap, connections, memory)
    decisions = list(assessment.decisions)
    trading = [d for d in decisions if d.trade]
    if not trading:
        if capital is None or not rebalancing(config, decisions, routed=bool(capital.routes)):
            return decisions, None, None, assessment.report
        marks = marks_from_venues(snap.venue_states())
        holds = [hold_window(d, marks[d.underlying]) for d in decisions if d.underlying in marks]
        problem = build_problem(config, snap, [], bad_venues, bad_chains, capital, targets=holds)
        return decisions, problem, optimize(problem), assessment.report
    problem = build_problem(config, snap, trading, bad_venues, bad_chains, capital)
    return decisions, problem, optimize(problem), assessment.report


def rebalancing(config: Config, decisions: Sequence[Decision], routed: bool) -> bool:
    """Whether a plan with no hedge to make may still move capital: ``routed`` (a bridge route to plan with), the
    policy's ``rebalance_when_idle`` on, transfers allowed, and every underlying's risk known (a blocked, partial book
    moves nothing)."""
    if not routed or not config.raw.policy.rebalance_when_idle or config.raw.optimizer.max_transfers == 0:
        return False
    return bool(decisions) and not any(d.reason.startswith("blocked:") for d in decisions)


def hold_window(d: Decision, mark: float) -> HedgeTarget:
    """A rebalance's target for one underlying: its delta stays where it is (within a rounding tolerance), so the
    plan can only bridge, never trade the book."""
    return HedgeTarget(underlying=d.underlying, current_delta=d.net_delta, target=d.net_delta,
                       lower=d.net_delta - MIN_TOLERANCE_UNITS, upper=d.net_delta + MIN_TOLERANCE_UNITS,
                       mark_price_usd=mark)


def assess_now(config: Config, registry: AdapterRegistry, connections: Mapping[str, Web3],
               memory: PositionMemory | None = None, verifier: ContractVerifier | None = None
               ) -> tuple[dict[str, float], list[str]]:
    """Net delta per underlying now, and the underlyings whose policy still fires (outside the band)."""
    snap = take_snapshot(config, connections, registry, allow_partial=True, verifier=verifier)
    decisions = decisions_for(config, registry, snap, connections, memory)
    return {d.underlying: d.net_delta for d in decisions}, [d.underlying for d in decisions if d.trade]
