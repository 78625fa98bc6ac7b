"""Risk and policy over a snapshot, and the optimizer problem built from them (glue for the plan stage and beat).

Positions are read at the snapshot's blocks (:func:`read_positions`, by each source's declared scope), Greeks
aggregated per underlying (risk.aggregate), the configured policy decides per underlying (risk.policy), and the
underlyings it fires on become the optimizer's targets: trade to the policy's target, inside a narrow band around it.

Usage::

    decisions, problem, plan = decide_and_plan(config, registry, snapshot, connections, set(), set())
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from pydantic import BaseModel
from web3 import Web3

from adapters import AdapterRegistry, PositionScope
from crosshedge.config import Config
from optimizer import HedgeProblem, HedgeTarget, Plan
from optimizer import plan as optimize
from orchestrator.snapshot import Snapshot, chain_context, take_snapshot
from risk import Decision, VenueCost, aggregate, decide_all, marks_from_venues, venue_cost_from_state

#: Half-width of the optimizer's hard band around the policy's target, as a share of the trade (and a floor).
TARGET_TOLERANCE = 0.05
MIN_TOLERANCE_UNITS = 1e-6


def venue_costs(snap: Snapshot) -> dict[str, tuple[VenueCost, ...]]:
    """Each underlying's venues with their swap gas (USD), fee and impact slope."""
    out: dict[str, list[VenueCost]] = {}
    for chain in snap.chains.values():
        for v in chain.venues:
            out.setdefault(v.underlying, []).append(venue_cost_from_state(v, chain.swap_gas_usd.get(v.venue, 0.0)))
    return {u: tuple(c) for u, c in out.items()}


def read_positions(config: Config, snap: Snapshot, connections: Mapping[str, Web3], registry: AdapterRegistry,
                   now: datetime) -> list[BaseModel]:
    """Every position source of chains.yaml, read by its declared scope at the snapshot's blocks.

    Wallet inventory was read with the snapshot, at the same blocks; chain-scoped sources are read on every chain
    of the snapshot; off-chain sources once, as of ``now``.
    """
    out: list[BaseModel] = []
    for entry in config.positions:
        source = registry.positions(entry.adapter)
        if entry.scope == PositionScope.WALLET:
            out += [p for c in snap.chains.values() for p in c.inventory]
        elif entry.scope == PositionScope.OFFCHAIN:
            out += source.read_positions(None, entry.config, None, now)
        else:
            for name, c in snap.chains.items():
                ctx = chain_context(config, name, connections[name])
                out += source.read_positions(ctx, entry.config, c.block_number, now)
    return out


def decisions_for(config: Config, registry: AdapterRegistry, snap: Snapshot,
                  connections: Mapping[str, Web3]) -> list[Decision]:
    """The policy's decision per underlying from the book's aggregate Greeks at ``snap``."""
    now = datetime.fromtimestamp(snap.taken_at, UTC)
    live = {c: w3 for c, w3 in connections.items() if c in snap.chains}
    positions = read_positions(config, snap, live, registry, now)
    report = aggregate(positions, marks_from_venues(snap.venue_states()), now, rate=config.raw.policy.rate)
    return decide_all(report, venue_costs(snap), config.raw.policy)


def build_problem(config: Config, snap: Snapshot, trading: list[Decision], bad_venues: set[str],
                  bad_chains: set[str]) -> HedgeProblem:
    marks = marks_from_venues(snap.venue_states())
    targets = []
    for d in trading:
        tol = max(abs(d.trade_units) * TARGET_TOLERANCE, MIN_TOLERANCE_UNITS)
        targets.append(HedgeTarget(underlying=d.underlying, current_delta=d.net_delta, target=d.target,
                                   lower=d.target - tol, upper=d.target + tol, mark_price_usd=marks[d.underlying]))
    return HedgeProblem(
        targets=targets,
        venues=snap.venue_states(),
        gas_usd={f"{c}/{v}": usd for c, cs in snap.chains.items() for v, usd in cs.swap_gas_usd.items()},
        inventory={c: {p.symbol: p.amount for p in cs.inventory} for c, cs in snap.chains.items()},
        disabled_venues=sorted(bad_venues),
        disabled_chains=sorted(bad_chains | set(snap.failed)),
        # Every curve was read at its chain's head just now; an idle devnet chain's head can be old in wall-clock
        # terms, so age is measured against the chains' own clocks (the pre-sign price-move breaker covers drift).
        as_of=min(cs.block_timestamp for cs in snap.chains.values()),
        slippage_bps=config.raw.execution.slippage_bps,
        settings=config.raw.optimizer,
    )


def decide_and_plan(config: Config, registry: AdapterRegistry, snap: Snapshot, connections: Mapping[str, Web3],
                    bad_venues: set[str], bad_chains: set[str]
                    ) -> tuple[list[Decision], HedgeProblem | None, Plan | None]:
    """Decisions for every underlying, and (when any fires) the problem and the optimizer's plan."""
    decisions = decisions_for(config, registry, snap, connections)
    trading = [d for d in decisions if d.trade]
    if not trading:
        return decisions, None, None
    problem = build_problem(config, snap, trading, bad_venues, bad_chains)
    return decisions, problem, optimize(problem)


def assess_now(config: Config, registry: AdapterRegistry,
               connections: Mapping[str, Web3]) -> tuple[dict[str, float], list[str]]:
    """Net delta per underlying now, and the underlyings whose policy still fires (outside the band)."""
    snap = take_snapshot(config, connections, registry, allow_partial=True)
    decisions = decisions_for(config, registry, snap, connections)
    return {d.underlying: d.net_delta for d in decisions}, [d.underlying for d in decisions if d.trade]
