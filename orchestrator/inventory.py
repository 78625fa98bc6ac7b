"""The operator's inventory per chain and token: held (read at each chain's pinned block), arriving (transfers in
flight, as of those blocks), and where it stands against the configured target share.

A token's total is its held + arriving over every chain; a chain's share is its held + arriving over that total.
The deviation is share − target; a chain is *short* below target − threshold and *over* above target + threshold
(compare Across relayer's targetPct / thresholdPct). Nothing in flight is counted twice or lost: see
orchestrator.transfers.arriving.

Usage::

    report = build_inventory(ctx, snapshot)
    [line for line in report.lines if line.status == "short"]
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field

from crosshedge import Frozen
from orchestrator.context import RunContext
from orchestrator.ledger import TransferRecord
from orchestrator.snapshot import Snapshot
from orchestrator.transfers import FilledBy, arriving, fill_checker


class InventoryShare(Frozen):
    chain: str
    symbol: str
    held: float
    arriving: float
    total: float  # held + arriving
    share: float | None  # of the token's total over every chain (None: the token's total is zero)
    target_share: float | None = None
    threshold: float | None = None
    deviation: float | None = None  # share − target_share
    status: str = "-"  # ok | short | over | - (no target)


class InventoryReport(Frozen):
    as_of: float
    blocks: dict[str, int]
    lines: list[InventoryShare]
    in_flight: list[TransferRecord]
    chains_down: dict[str, str] = Field(default_factory=dict)


def inventory_lines(ctx: RunContext, snap: Snapshot, records: list[TransferRecord],
                    filled_by: FilledBy) -> list[InventoryShare]:
    """Per configured (chain, token) of the snapshot: held, arriving, share and deviation from target."""
    blocks = {c: cs.block_number for c, cs in snap.chains.items()}
    times = {c: cs.block_timestamp for c, cs in snap.chains.items()}
    flying = arriving(records, blocks, times, filled_by)
    rows: dict[tuple[str, str], tuple[float, float]] = {}
    for chain, cs in snap.chains.items():
        tokens = ctx.config.tokens(chain)
        for address, token in tokens.items():
            held = sum(p.amount for p in cs.inventory if p.address == address)
            coming = flying.get((chain, address), 0) / 10**token.decimals
            rows[(chain, token.symbol)] = (held, coming)
    totals: dict[str, float] = {}
    for (_, symbol), (held, coming) in rows.items():
        totals[symbol] = totals.get(symbol, 0.0) + held + coming
    return [_line(ctx, chain, symbol, held, coming, totals[symbol]) for (chain, symbol), (held, coming)
            in sorted(rows.items())]


def _line(ctx: RunContext, chain: str, symbol: str, held: float, coming: float, total: float) -> InventoryShare:
    share = (held + coming) / total if total > 0 else None
    target = ctx.config.chains[chain].inventory_targets.get(symbol)
    if target is None or share is None:
        return InventoryShare(chain=chain, symbol=symbol, held=held, arriving=coming, total=held + coming, share=share,
                             target_share=target.target_share if target else None,
                             threshold=target.threshold if target else None)
    deviation = share - target.target_share
    status = "short" if deviation < -target.threshold else "over" if deviation > target.threshold else "ok"
    return InventoryShare(chain=chain, symbol=symbol, held=held, arriving=coming, total=held + coming, share=share,
                         target_share=target.target_share, threshold=target.threshold, deviation=deviation,
                         status=status)


def build_inventory(ctx: RunContext, snap: Snapshot, filled_by: FilledBy | None = None,
                    chains_down: Mapping[str, str] | None = None) -> InventoryReport:
    """The inventory report at ``snap``'s blocks (fills not yet booked are asked of each destination there)."""
    records = ctx.ledger.transfers()
    open_records = [r for r in records if r.open]
    lines = inventory_lines(ctx, snap, records, filled_by or fill_checker(ctx))
    return InventoryReport(as_of=snap.taken_at, blocks={c: cs.block_number for c, cs in snap.chains.items()},
                           lines=lines, in_flight=open_records, chains_down=dict(chains_down or snap.failed))


__all__ = ["InventoryReport", "InventoryShare", "build_inventory", "inventory_lines"]
