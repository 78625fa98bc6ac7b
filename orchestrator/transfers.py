"""Bridge transfers after their deposit: routes from the config, the tracker that moves each transfer along its
state machine from what the chains show, and the funds still arriving at a snapshot's blocks.

The tracker never guesses. A transfer is *filled* when the destination's logs hold its fill, *expired* when the
origin's clock has passed its fill deadline (no fill can land after it: the SpokePool refuses it), *refunded* when
the origin's logs hold a refund paying its input back, and *stuck* (an alert, still watched) when an expired
transfer has no refund ``stuck_after_s`` past its deadline. A chain that does not answer leaves the transfer as it
is, with a note; the next pass tries again.

Usage::

    for record in ledger.transfers():
        if record.open:
            track_transfer(ctx, record, stuck_after_s=3600)
    held_plus = arriving(ledger.transfers(), snapshot_blocks, now=snap.taken_at)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from itertools import permutations

from web3.exceptions import Web3Exception

from adapters import AdapterRegistry, Deposit, FillStatus, RelayFill, TransferRoute
from crosshedge import ConfigError, CrosshedgeError, NotReadyError, RpcError
from crosshedge.config import Config
from orchestrator.context import RunContext
from orchestrator.ledger import TransferRecord, TransferState
from orchestrator.metrics import record_transfer

log = logging.getLogger("crosshedge.transfers")


def transfer_routes(config: Config, registry: AdapterRegistry) -> list[TransferRoute]:
    """Every route the config allows: an ordered pair of chains whose sections of one adapter both bridge a token
    the two chains configure under one symbol, other than the destination's wrapped native coin (disabled sections
    take part in none)."""
    out: list[TransferRoute] = []
    entries = [e for e in config.transfers if e.enabled]
    for a, b in permutations(entries, 2):
        if a.adapter != b.adapter or a.chain == b.chain:
            continue
        adapter = registry.transfer(a.adapter)
        tokens_a, tokens_b = config.tokens(a.chain), config.tokens(b.chain)
        by_symbol_b = {t.symbol: t for t in tokens_b.values()}
        both = set(adapter.tokens(a)) & set(adapter.tokens(b))
        native_b = config.chains[b.chain].gas.native_underlying
        for token in sorted(tokens_a.values(), key=lambda t: t.symbol):
            # A fill of the destination's wrapped native token is paid out unwrapped (as native coin, a balance the
            # wallet does not trade from), so such routes are left out: bridges move the other ERC20s.
            out_token = by_symbol_b.get(token.symbol)
            if token.symbol in both and out_token is not None and out_token.underlying != native_b:
                out.append(TransferRoute(origin=a, destination=b, origin_chain_id=config.chains[a.chain].chain_id,
                                         destination_chain_id=config.chains[b.chain].chain_id, token_in=token,
                                         token_out=out_token))
    return out


def route_of(config: Config, registry: AdapterRegistry, adapter: str, origin: str, destination: str,
             symbol: str) -> TransferRoute:
    """The configured route; ConfigError naming it when the config no longer has it."""
    for route in transfer_routes(config, registry):
        if (route.origin.adapter, route.origin.chain, route.destination.chain, route.token_in.symbol) == (
                adapter, origin, destination, symbol):
            return route
    raise ConfigError(f"{config.source}: no {adapter} route {origin}->{destination}/{symbol} (both chains need a "
                      f"transfers section of adapter {adapter} bridging {symbol})")


def _move(ctx: RunContext, record: TransferRecord, to: TransferState, **fields: str) -> None:
    """One transition, counted in the metrics when this tracker made it (not when another already had)."""
    if ctx.ledger.move_transfer(record.id, to, **fields):
        latency = None
        if to is TransferState.FILLED and "fill" in fields:
            latency = float(RelayFill.model_validate_json(fields["fill"]).block_timestamp
                            - record.deposit.quote_timestamp)
        record_transfer(record.route, to.value, latency)


def track_transfer(ctx: RunContext, record: TransferRecord, stuck_after_s: float) -> TransferRecord:
    """Move one open transfer as far as the chains show, and return it as the ledger has it afterwards."""
    if not record.open:
        return record
    route = route_of(ctx.config, ctx.registry, record.adapter, record.origin, record.destination, record.symbol)
    adapter = ctx.registry.transfer(record.adapter)
    try:
        if record.state in (TransferState.DEPOSITED, TransferState.STUCK):
            dest = ctx.chain_context(record.destination)
            head = int(dest.w3.eth.block_number)
            fill = adapter.find_fill(dest, route, record.deposit, record.destination_from_block, head)
            if fill is not None:
                _move(ctx, record, TransferState.FILLED, fill=fill.model_dump_json())
                return ctx.ledger.transfer(record.id)
        origin = ctx.chain_context(record.origin)
        head_block = origin.w3.eth.get_block("latest")
        now = int(head_block["timestamp"])
        if now <= record.deposit.fill_deadline:
            return record  # still fillable: nothing else can have happened
        refund = adapter.find_refund(origin, route, record.deposit, record.deposit.block_number,
                                     int(head_block["number"]))
    except (CrosshedgeError, OSError, Web3Exception) as exc:
        ctx.ledger.note_transfer(record.id, f"{type(exc).__name__}: {str(exc)[:200]}")
        return ctx.ledger.transfer(record.id)
    if refund is not None:
        if record.state is TransferState.DEPOSITED:
            _move(ctx, record, TransferState.EXPIRED)
        _move(ctx, record, TransferState.REFUNDED, refund=refund.model_dump_json())
    elif record.state is TransferState.DEPOSITED:
        _move(ctx, record, TransferState.EXPIRED)
    elif record.state is TransferState.EXPIRED and now > record.deposit.fill_deadline + stuck_after_s:
        _move(ctx, record, TransferState.STUCK,
                                 note=f"expired at {record.deposit.fill_deadline} and not refunded "
                                      f"{now - record.deposit.fill_deadline} s later")
    return ctx.ledger.transfer(record.id)


def await_run_transfers(ctx: RunContext, run_id: str) -> list[TransferRecord]:
    """Track the run's open transfers; NotReadyError (retry) while one is unfilled and younger than
    ``execution.transfer_wait_s``. Past the bound the run goes on: its transfers stay open, tracked by the beat's
    sweep, and their funds count as arriving for the next plan."""
    records = [track_transfer(ctx, r, ctx.execution.transfer_stuck_after_s) for r in ctx.ledger.transfers(run_id)]
    now = ctx.clock()
    waiting = [r for r in records if r.state is TransferState.DEPOSITED
               and now < r.created_at + ctx.execution.transfer_wait_s]
    if waiting:
        first = waiting[0]
        raise NotReadyError(f"run {run_id}: transfer {first.route} (deposit {first.deposit.deposit_id}) not filled "
                            f"yet after {now - first.created_at:.0f} s (execution.transfer_wait_s "
                            f"{ctx.execution.transfer_wait_s:g} s)")
    return records


def track_open_transfers(ctx: RunContext) -> list[TransferRecord]:
    """One pass of the tracker over every open transfer (the recover sweep); returns them as they are afterwards.
    A transfer that cannot be tracked (its route left the config) keeps its state, with the reason as its note; a
    stuck one is logged as an alert every pass."""
    out = []
    for listed in ctx.ledger.transfers():
        if not listed.open:
            continue
        record = listed
        try:
            record = track_transfer(ctx, listed, ctx.execution.transfer_stuck_after_s)
        except ConfigError as exc:
            ctx.ledger.note_transfer(listed.id, str(exc))
        if record.state is TransferState.STUCK:
            log.warning("transfer %s (%s) is stuck: %s", record.id, record.route, record.note)
        out.append(record)
    return out


#: (chain, token address) -> raw units: what is on its way to that wallet.
Arriving = dict[tuple[str, str], int]
#: Whether the destination had filled a deposit by a block (the adapter's fill_status, or a test's stand-in).
FilledBy = Callable[[TransferRecord, int], bool]


def arriving(records: Sequence[TransferRecord], blocks: Mapping[str, int], timestamps: Mapping[str, int],
             filled_by: FilledBy) -> Arriving:
    """Funds in flight as of a snapshot's pinned ``blocks`` (and their ``timestamps``), by the wallet they will
    land in, so that held (read at those blocks) + arriving counts every transfer exactly once.

    A deposit mined after the origin's pinned block is still in the origin's balance: not arriving. A fill at or
    before the destination's block is in the destination's balance (``filled_by`` asks the destination at its
    block when the ledger has not booked the fill yet): not arriving. A refund at or before the origin's block is
    back in the origin's balance. Everything else is arriving: at the destination while the deposit can still be
    filled, back at the origin once its deadline has passed. A chain not in ``blocks`` (down) is taken as the
    ledger has it.
    """
    out: Arriving = {}
    for r in records:
        d = r.deposit
        origin_block = blocks.get(r.origin)
        if origin_block is not None and d.block_number > origin_block:
            continue
        if r.refund is not None and (origin_block is None or r.refund.block_number <= origin_block):
            continue
        if r.fill is not None and (r.destination not in blocks or r.fill.block_number <= blocks[r.destination]):
            continue
        expired = timestamps.get(r.origin, 0) > d.fill_deadline or r.state in (TransferState.EXPIRED,
                                                                                TransferState.REFUNDED)
        if expired:
            _add(out, (r.origin, d.input_token), d.input_amount)
            continue
        dest_block = blocks.get(r.destination)
        if r.fill is None and dest_block is not None and filled_by(r, dest_block):
            continue
        _add(out, (r.destination, d.output_token), d.output_amount)
    return out


def _add(out: Arriving, key: tuple[str, str], amount: int) -> None:
    out[key] = out.get(key, 0) + amount


def fill_checker(ctx: RunContext) -> FilledBy:
    """:data:`FilledBy` through the transfer adapter's ``fill_status`` on the destination, pinned to the block."""
    def filled(record: TransferRecord, block: int) -> bool:
        route = route_of(ctx.config, ctx.registry, record.adapter, record.origin, record.destination, record.symbol)
        try:
            status = ctx.registry.transfer(record.adapter).fill_status(ctx.chain_context(record.destination), route,
                                                                       record.deposit, block)
        except (OSError, Web3Exception) as exc:
            raise RpcError(f"chain {record.destination}: cannot read the fill status of transfer {record.id} "
                           f"({type(exc).__name__})") from exc
        return status is FillStatus.FILLED
    return filled


def landed_between(ctx: RunContext, records: Sequence[TransferRecord], since: Mapping[str, int],
                   until: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """Raw funds transfers brought into each wallet after block ``since[chain]`` up to ``until[chain]``: fills on
    destinations and refunds on origins, read pinned to those blocks, so a balance read at ``until`` equals one
    read at ``since`` plus this (and the wallet's own transactions). Chains missing from either map are skipped."""
    out: dict[str, dict[str, int]] = {}
    for r in records:
        dest_since, dest_until = since.get(r.destination), until.get(r.destination)
        if (dest_since is not None and dest_until is not None and not _refunded_only(r)
                and _filled_at(ctx, r, dest_until) and not _filled_at(ctx, r, dest_since)):
            book = out.setdefault(r.destination, {})
            book[r.deposit.output_token] = book.get(r.deposit.output_token, 0) + r.deposit.output_amount
        org_since, org_until = since.get(r.origin), until.get(r.origin)
        if org_since is not None and org_until is not None and r.state is not TransferState.FILLED:
            refund_block = _refund_block(ctx, r, org_until)
            if refund_block is not None and org_since < refund_block <= org_until:
                book = out.setdefault(r.origin, {})
                book[r.deposit.input_token] = book.get(r.deposit.input_token, 0) + r.deposit.input_amount
    return out


def _refunded_only(record: TransferRecord) -> bool:
    return record.state in (TransferState.EXPIRED, TransferState.REFUNDED)


def _filled_at(ctx: RunContext, record: TransferRecord, block: int) -> bool:
    if record.fill is not None:
        return record.fill.block_number <= block
    if record.state is not TransferState.DEPOSITED and record.state is not TransferState.STUCK:
        return False
    return fill_checker(ctx)(record, block)


def _refund_block(ctx: RunContext, record: TransferRecord, until: int) -> int | None:
    if record.refund is not None:
        return record.refund.block_number
    if record.deposit.block_number > until:
        return None
    route = route_of(ctx.config, ctx.registry, record.adapter, record.origin, record.destination, record.symbol)
    try:
        found = ctx.registry.transfer(record.adapter).find_refund(ctx.chain_context(record.origin), route,
                                                                  record.deposit, record.deposit.block_number, until)
    except (OSError, Web3Exception) as exc:
        raise RpcError(f"chain {record.origin}: cannot read refunds of transfer {record.id} "
                       f"({type(exc).__name__})") from exc
    return None if found is None else found.block_number


def deposit_record(run_id: str, intent_id: str, route: TransferRoute, deposit: Deposit,
                   destination_from_block: int) -> TransferRecord:
    """The ledger's record of a deposit just booked on the origin."""
    return TransferRecord(id=intent_id, run_id=run_id, adapter=route.origin.adapter, route=route.key,
                          origin=route.origin.chain, destination=route.destination.chain,
                          symbol=route.token_in.symbol, deposit=deposit,
                          destination_from_block=destination_from_block)


__all__ = ["Arriving", "FilledBy", "arriving", "await_run_transfers", "deposit_record", "fill_checker",
           "landed_between", "route_of", "track_open_transfers", "track_transfer", "transfer_routes"]
