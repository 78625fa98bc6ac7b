"""Risk is never computed from a partial book: what to do when a chain, or one of its position sources, is unread.

Every position a chain holds (wallet inventory, LP positions) is remembered in the ledger each time the chain is
read in full. When a chain cannot be read (RPC down, a stale head, a source failing), its last-known positions
stand in for it if they are younger than ``execution.max_position_age_s``, and the no-trade band of every
underlying they hold is widened by how far their delta could have moved since (two standard deviations of the
price move over their age, times their gamma). Older than that, or never read, no trade is planned for the
underlyings the chain holds: hedging around a hole in the book can trade the wrong way. Either is said, with its
reason, in the run's decisions and events.

Usage::

    memory = PositionMemory(ctx.ledger)
    book = complete_book(config, snap, read, memory, now)      # positions + which chains are stale or unknown
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime

from pydantic import BaseModel, Field

from adapters import LpPosition, PerpPosition, SpotPosition
from crosshedge import Frozen
from crosshedge.config import Config
from orchestrator.ledger import Ledger
from risk import Decision, RiskReport, aggregate

YEAR_S = 365.0 * 86_400.0
#: Standard deviations of price move the band is widened by for positions of a given age.
WIDEN_SIGMAS = 2.0


class KnownPositions(Frozen):
    """Everything one chain held at one block (inventory, LP and perp positions), as last read in full."""

    chain: str
    at: float  # unix seconds of the read
    block: int
    spot: tuple[SpotPosition, ...] = ()
    lp: tuple[LpPosition, ...] = ()
    perps: tuple[PerpPosition, ...] = ()


class PositionMemory:
    """Last-known positions per chain, kept in the ledger (so every worker and the beat share them)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def remember(self, known: KnownPositions) -> None:
        self.ledger.remember("positions", known.chain, known)

    def recall(self, chain: str) -> KnownPositions | None:
        return self.ledger.recall("positions", chain, KnownPositions)


class ChainRead(Frozen):
    """What one chain gave this time: its positions, and why any part of it could not be read."""

    chain: str
    block: int | None
    spot: tuple[SpotPosition, ...] = ()
    lp: tuple[LpPosition, ...] = ()
    perps: tuple[PerpPosition, ...] = ()  # the wallet's account in each of the chain's perp markets
    missing: str | None = None  # why this chain's positions are incomplete (None: read in full)


class Book(Frozen):
    """The positions risk is computed from, and how complete they are."""

    positions: tuple[BaseModel, ...]
    stale: dict[str, float]  # chain -> age (s) of the last-known positions standing in for it
    stale_lp: tuple[LpPosition, ...] = ()  # the LP positions among them (their delta moves with the price)
    blocked: dict[str, str]  # underlying -> why no trade is planned for it
    # underlying -> which chains' last-known positions stand in for it, from which block, how old, and why
    standing_in: dict[str, str] = Field(default_factory=dict)
    notes: tuple[str, ...]


def chain_underlyings(config: Config, chain: str) -> set[str]:
    """What a chain can hold that carries risk: its tokens', native coin's and perp markets' underlyings, cash
    excluded."""
    settings = config.chains[chain]
    out = {t.underlying for t in settings.tokens.values()} | {settings.gas.native_underlying}
    out |= {p.underlying for p in config.perps_on(chain)}
    return {u for u in out if u not in ("USD", "USDC", "USDT", "DAI")}


def complete_book(config: Config, offchain: Sequence[BaseModel], reads: Iterable[ChainRead],
                  memory: PositionMemory | None, now: datetime) -> Book:
    """The book from this read, gaps filled by recent last-known positions or their underlyings blocked."""
    positions: list[BaseModel] = list(offchain)
    stale: dict[str, float] = {}
    stale_lp: list[LpPosition] = []
    blocked: dict[str, str] = {}
    standing_in: dict[str, str] = {}
    notes: list[str] = []
    limit = config.raw.execution.max_position_age_s
    for read in reads:
        if read.missing is None:
            positions += [*read.spot, *read.lp, *read.perps]
            if memory is not None and read.block is not None:
                memory.remember(KnownPositions(chain=read.chain, at=now.timestamp(), block=read.block,
                                               spot=read.spot, lp=read.lp, perps=read.perps))
            continue
        what = read.missing.removeprefix(f"chain {read.chain}: ")  # the sentence names the chain already
        known = memory.recall(read.chain) if memory is not None else None
        # Never negative: a memory stamped by a process whose clock runs ahead (or read after this snapshot).
        age = max(0.0, now.timestamp() - known.at) if known is not None else math.inf
        if known is not None and age <= limit:
            positions += [*known.spot, *known.lp, *known.perps]
            stale[read.chain] = age
            stale_lp += known.lp
            note = (f"chain {read.chain}: {what}; using its last-known positions from block {known.block}, "
                    f"{age:.0f} s old (limit {limit:g} s)")
            notes.append(f"{note}, with the band widened")
            for u in chain_underlyings(config, read.chain) | {p.underlying for p in known.lp}:
                standing_in[u] = f"{standing_in[u]}; {note}" if u in standing_in else note
            continue
        last = f"its last-known positions are {age:.0f} s old (limit {limit:g} s)" if known else "none known"
        why = f"chain {read.chain}: {what}; {last}: no trade is planned for what it holds"
        notes.append(why)
        for u in chain_underlyings(config, read.chain) | {p.underlying for p in (known.lp if known else ())}:
            blocked.setdefault(u, why)
    kept = tuple(p for p in positions if getattr(p, "underlying", None) not in blocked)
    return Book(positions=kept, stale=stale, stale_lp=tuple(stale_lp), blocked=blocked,
                standing_in={u: n for u, n in standing_in.items() if u not in blocked}, notes=tuple(notes))


def widen_for_staleness(book: Book, report: RiskReport) -> dict[str, float]:
    """Extra band half-width per underlying: how far the stale LP positions' delta may have moved since they were
    read, at WIDEN_SIGMAS standard deviations of the price over their age."""
    if not book.stale_lp:
        return {}
    age = max(book.stale.values(), default=0.0)
    stale = aggregate(list(book.stale_lp), report.prices, report.as_of)
    out = {}
    for u in stale.underlyings:
        vol = next((x.vol for x in report.underlyings if x.underlying == u.underlying), u.vol)
        out[u.underlying] = WIDEN_SIGMAS * abs(u.gamma) * u.price * vol * math.sqrt(age / YEAR_S)
    return out


def apply_coverage(decisions: Sequence[Decision], book: Book, widen: dict[str, float], policy: str
                   ) -> list[Decision]:
    """Decisions with blocked underlyings held and stale ones' bands widened (each says why: which chains'
    last-known positions stand in, from which block and how old)."""
    out = []
    seen = set()
    for decision in decisions:
        seen.add(decision.underlying)
        w = max(widen.get(decision.underlying, 0.0), 0.0)
        note = book.standing_in.get(decision.underlying)
        if note is None and w == 0:
            out.append(decision)
            continue
        lower, upper = decision.lower - w, decision.upper + w
        inside = lower <= decision.net_delta <= upper
        out.append(decision.model_copy(update={
            "lower": lower, "upper": upper, "trade": decision.trade and not inside,
            "target": decision.net_delta if inside else decision.target,
            "trade_units": 0.0 if inside else decision.trade_units,
            "reason": f"{decision.reason}; {note or 'stale positions'}: band widened by {w:.4g} "
                      f"to [{lower:.4g}, {upper:.4g}]"}))
    for u, why in sorted(book.blocked.items()):
        if u not in seen:
            out.append(Decision(policy=policy, underlying=u, trade=False, net_delta=0.0, target=0.0, trade_units=0.0,
                                lower=0.0, upper=0.0, reason=f"blocked: {why}"))
    return out


__all__ = ["Book", "ChainRead", "KnownPositions", "PositionMemory", "apply_coverage", "chain_underlyings",
           "complete_book", "widen_for_staleness"]
