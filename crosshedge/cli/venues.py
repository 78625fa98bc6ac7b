"""`crosshedge venues [--json] [--save-state DIR]`: one row per venue with its price, depth and swap cost, read live.

Depth "within N bp" is the largest size whose all-in average price (pool fee included) stays within N bp of the
mid, read off the venue's exact-sampled curve; a 30 bp pool therefore shows 0 within 10 bp. Each Uniswap V4
venue's hook policy (quoted exactly, and on what assumption) is listed under the table and as ``hook_policy`` in
the JSON.

Usage::

    crosshedge venues
    crosshedge venues --json --config chains.yaml
    crosshedge venues --save-state states/     # also one recorded pool state per venue, at the read block

``--save-state DIR`` writes ``DIR/<chain>.<venue>.json`` for every venue read (README, "Recorded pool states"):
a V3 or V4 pool with ALL its initialized ticks (its whole tick bitmap, in multicalls of bounded size), a V2 pair's
reserves, each at the block its chain was read at; ``crosshedge quote --pool-state FILE`` quotes one offline.

A chain that cannot be read is named in one sentence on stderr (and under ``failed`` in the JSON); the other
chains' venues still print. Exit code 1 only when no chain could be read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from web3 import Web3

from adapters import (
    AdapterRegistry,
    ChainContext,
    PoolState,
    PoolStateVenue,
    VenueEntry,
    default_registry,
    size_within_bps,
    write_pool_state,
)
from crosshedge.cli.common import ConfigOption, JsonOption, resolve_config
from crosshedge.cli.output import CommandFailedError, command_errors, emit, note, warn_failed, working
from crosshedge.config import Config
from crosshedge.errors import CrosshedgeError, HeadMovedError
from orchestrator import HEAD_MOVED_ATTEMPTS, Snapshot, chain_context, connect_all, take_snapshot

DEPTH_BPS = (10, 50, 100)
SaveStateOption = Annotated[Path | None, typer.Option(
    "--save-state", help="Also write each venue's recorded pool state into this directory (all V3 ticks).")]


def venue_rows(snap: Snapshot) -> list[dict[str, Any]]:
    """The table's rows as plain dicts (also the --json output)."""
    rows = []
    for chain in snap.chains.values():
        for v in chain.venues:
            row: dict[str, Any] = {
                "chain": v.chain, "venue": v.venue, "adapter": v.adapter, "pair": f"{v.base.symbol}/{v.quote.symbol}",
                "fee_bps": v.fee_pips / 100, "mid": v.mid_price, "block": v.block_number,
                "swap_gas_usd": chain.swap_gas_usd.get(v.venue),
                # How a Uniswap V4 venue is quoted, from its hooks' permissions (exact, or why it is refused);
                # None for venues without hooks.
                "hook_policy": v.pool.get("hook_policy"),
            }
            for bps in DEPTH_BPS:
                sell, buy = size_within_bps(v.sell, v.mid_price, bps), size_within_bps(v.buy, v.mid_price, bps)
                row[f"sell_{bps}bp"], row[f"buy_{bps}bp"] = sell, buy
                row[f"sell_{bps}bp_usd"], row[f"buy_{bps}bp_usd"] = sell * v.mid_price, buy * v.mid_price
            rows.append(row)
    return rows


def _usd(x: float) -> str:
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"${x / scale:,.1f}{unit}"
    return f"${x:,.0f}"


def _depth(row: dict[str, Any], bps: int) -> str:
    return f"{_usd(row[f'sell_{bps}bp_usd'])}/{_usd(row[f'buy_{bps}bp_usd'])}"


def venues_table(rows: list[dict[str, Any]], failed: dict[str, str], reads: dict[str, str] | None = None) -> Table:
    title = "venues: USD tradable sell/buy within N bp of mid (fee included)"
    if failed:
        title += f" — unreadable: {', '.join(failed)}"
    lines = ["; ".join(f"{chain}: read by {path}" for chain, path in (reads or {}).items())]
    lines += [f"{r['chain']}/{r['venue']}: {r['hook_policy']}" for r in rows if r.get("hook_policy")]
    caption = "\n".join(line for line in lines if line) or None
    table = Table(title=title, caption=caption)
    for col in ("chain", "venue", "pair", "fee", "mid", *(f"≤{b} bp" for b in DEPTH_BPS), "gas $", "block"):
        # fold, never ellipsize: a narrow terminal wraps a venue name instead of hiding it
        table.add_column(col, justify="right" if col not in {"chain", "venue", "pair"} else "left", overflow="fold")
    for r in rows:
        gas = "-" if r["swap_gas_usd"] is None else f"{r['swap_gas_usd']:.4f}"
        table.add_row(r["chain"], r["venue"], r["pair"], f"{r['fee_bps']:g} bp", f"{r['mid']:,.2f}",
                      *(_depth(r, b) for b in DEPTH_BPS), gas, str(r["block"]))
    return table


def _saved(saver: PoolStateVenue, ctx: ChainContext, entries: list[VenueEntry], block: int) -> list[PoolState]:
    """``saver.save_state`` at ``block``, read again when a node answered a read pinned there from a later block
    (HeadMovedError: the block was the head as a new one was mined); the block stays the snapshot's."""
    for _ in range(HEAD_MOVED_ATTEMPTS - 1):
        try:
            return saver.save_state(ctx, entries, block)
        except HeadMovedError:
            continue
    return saver.save_state(ctx, entries, block)


def save_states(
    cfg: Config, connections: dict[str, Web3], snap: Snapshot, registry: AdapterRegistry, directory: Path
) -> tuple[list[str], dict[str, str]]:
    """Each venue of the snapshot recorded at its chain's read block; (files written, failures by chain/venue)."""
    written: list[str] = []
    failed: dict[str, str] = {}
    for name, chain in snap.chains.items():
        ctx = chain_context(cfg, name, connections[name])
        read = {v.venue for v in chain.venues}
        by_adapter: dict[str, list[VenueEntry]] = {}
        for entry in cfg.venues_on(name):
            if entry.name in read:
                by_adapter.setdefault(entry.adapter, []).append(entry)
        for adapter_name, entries in by_adapter.items():
            saver = registry.pool_state_venue(adapter_name)
            if saver is None:
                for e in entries:
                    failed[f"{name}/{e.name}"] = f"chain {name}: venue {e.name}: adapter {adapter_name} cannot " \
                                                 "record its state"
                continue
            try:
                records = _saved(saver, ctx, entries, chain.block_number)
            except CrosshedgeError as exc:  # one chain's failure is named; the other chains are still saved
                failed[f"{name}/{adapter_name}"] = str(exc)
                continue
            written += [str(write_pool_state(directory, r)) for r in records]
    return written, failed


def venues(config: ConfigOption = None, json_output: JsonOption = False, save_state: SaveStateOption = None) -> None:
    """Read every venue on every chain: mid price, depth within 10/50/100 bp, swap gas cost, block."""
    with command_errors():
        cfg = resolve_config(config)
        registry = default_registry()
        with working("reading venues on every chain ..."):
            connections, failed = connect_all(cfg, cfg.raw.execution.rpc_timeout_s, allow_partial=True)
            snap = take_snapshot(cfg, connections, registry, allow_partial=True, inventory=False)
        failed = {**snap.failed, **failed}  # the connection error says more than "not connected"
        rows = venue_rows(snap)
        payload: dict[str, Any] = {"venues": rows, "failed": failed}
        if save_state is not None:
            with working(f"recording every venue's state into {save_state} ..."):
                written, save_failed = save_states(cfg, connections, snap, registry, save_state)
            payload["saved"], payload["save_failed"] = written, save_failed
            warn_failed(save_failed)
            if not json_output:
                note(f"recorded {len(written)} pool states in {save_state}")
        # A chain that is down is named on stderr; the chains that could be read are still listed.
        warn_failed(failed)
        payload["reads"] = {name: c.read_path for name, c in snap.chains.items()}  # "lens", or why not
        emit(payload, json_output, venues_table(rows, failed, payload["reads"]))
        if failed and not snap.chains:
            raise CommandFailedError(f"no chain could be read ({len(failed)} configured, all unreachable)")


def register(app: typer.Typer) -> None:
    app.command("venues")(venues)
