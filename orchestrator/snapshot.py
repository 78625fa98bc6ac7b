"""One consistent picture of every chain: block, gas, native price, venue states, swap gas cost and inventory.

Chains are read in parallel (one thread each); every read of a chain is pinned to the block taken first on that
chain. A chain that cannot be read raises an :class:`RpcError` / :class:`AdapterError` naming it, or, with
``allow_partial=True``, is listed in ``Snapshot.failed`` while the others are kept.

Gas cost of one swap in USD = execution gas x gas price x native-token USD (+ for rollups the L1 data fee:
tx bytes x gas per byte x the L1 chain's base fee x scalar, in the L1's native token). The native USD price is the
chain's configured ``gas.native_usd``, else the median mid of every venue, on any chain, whose underlying is the
chain's ``gas.native_underlying``.

Usage::

    connections = connect_all(config, timeout=10)
    snap = take_snapshot(config, connections, default_registry())
    snap.chains["ethereum"].swap_gas_usd["v3_weth_usdc_500"]
"""

from __future__ import annotations

import contextvars
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import Field
from web3 import Web3
from web3.exceptions import Web3Exception
from web3.types import BlockIdentifier

from adapters import (
    AdapterRegistry,
    ChainContext,
    PerpEntry,
    PerpMarketState,
    PositionScope,
    RoundTripCounter,
    RpcBatch,
    SpotPosition,
    Stages,
    VenueEntry,
    VenueState,
    Walk,
    check_head_fresh,
    connect,
    lens_status,
    lens_usable,
    rpc_status,
    run_stages,
)
from crosshedge import AdapterError, CrosshedgeError, Frozen, HeadMovedError, RpcError
from crosshedge.config import Config
from orchestrator.verification import ContractVerifier

#: Reads of a chain started again from its new head when a block is mined under them, at most.
HEAD_MOVED_ATTEMPTS = 3


class ChainSnapshot(Frozen):
    chain: str
    chain_id: int
    block_number: int
    block_timestamp: int
    base_fee_wei: int | None  # None on legacy-gas chains
    gas_price_wei: int  # what a swap pays per gas now: base fee + priority fee (EIP-1559) or eth_gasPrice
    native_underlying: str
    native_usd: float
    l1_data_fee_usd: float  # per swap, 0 off rollups
    swap_gas_usd: dict[str, float]  # venue name -> USD cost of one typical swap
    # venue name -> USD of each initialized tick a swap crosses, on top (venues that price gas per tick: Uniswap V3)
    tick_gas_usd: dict[str, float] = Field(default_factory=dict)
    venues: tuple[VenueState, ...]
    inventory: tuple[SpotPosition, ...]
    # Venues refused on their own (misconfigured, unreadable, unverified): venue name -> the sentence why. The
    # chain's other venues and its holdings are unaffected.
    refused_venues: dict[str, str] = Field(default_factory=dict)
    inventory_error: str | None = None  # the wallet inventory could not be read (holdings unknown)
    # Bridge sections (chains.<chain>.transfers) refused at this block (unverified SpokePool, ...): name -> why.
    # A route from or to a refused section is not offered to the plan.
    refused_transfers: dict[str, str] = Field(default_factory=dict)
    # How the venues were read: "lens" (one eth_call), or "multicall (<why>)" where the RPC refused state overrides.
    read_path: str = "multicall"
    # The chain's perp markets (chains.<chain>.perps) at the block, each with the wallet's account in it, and the
    # USD of one trade's gas per market; a market refused (unverified, unreadable): name -> why. A refused market's
    # account is unknown, so the chain's positions are incomplete (orchestrator.assess says so; never read as flat).
    perps: tuple[PerpMarketState, ...] = ()
    perp_gas_usd: dict[str, float] = Field(default_factory=dict)
    refused_perps: dict[str, str] = Field(default_factory=dict)

    def venue(self, name: str) -> VenueState:
        for v in self.venues:
            if v.venue == name:
                return v
        raise KeyError(f"chain {self.chain}: no venue {name!r} in the snapshot")


class Snapshot(Frozen):
    """Every chain's state; ``failed`` maps chains that could not be read to their error (partial snapshots)."""

    taken_at: float
    chains: dict[str, ChainSnapshot]
    failed: dict[str, str] = Field(default_factory=dict)

    def venue_states(self) -> list[VenueState]:
        return [v for c in self.chains.values() for v in c.venues]


@dataclass(frozen=True)
class _ChainRead:
    name: str
    block: int
    timestamp: int
    base_fee: int | None
    gas_price: int
    venues: list[VenueState]
    inventory: list[SpotPosition]
    refused: dict[str, str]
    inventory_error: str | None
    read_path: str
    refused_transfers: dict[str, str]
    perps: list[PerpMarketState]
    refused_perps: dict[str, str]


def chain_context(config: Config, name: str, w3: Web3) -> ChainContext:
    """What adapters may use for chain ``name``: its Web3, tokens, multicall, wallet and contracts."""
    settings = config.chains[name]
    wallet = config.wallets[settings.wallet].address
    return ChainContext(
        name=name, chain_id=settings.chain_id, w3=w3, tokens=config.tokens(name), multicall=settings.multicall,
        extras={"wallet": wallet, "native_underlying": settings.gas.native_underlying,
                "contracts": dict(settings.contracts)},
        read_lens=settings.read_lens, lens_gas=settings.read_lens_gas,
    )


def connect_all(
    config: Config, timeout: float = 10.0, counters: Mapping[str, RoundTripCounter] | None = None,
    allow_partial: bool = False,
) -> tuple[dict[str, Web3], dict[str, str]]:
    """Connect to every chain in parallel (chain ids checked); returns (connections, failures by chain)."""
    names = list(config.chains)

    def one(name: str) -> Web3:
        return connect(name, config.chains[name], timeout, (counters or {}).get(name))

    connections: dict[str, Web3] = {}
    failed: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        futures = {n: pool.submit(one, n) for n in names}
        for name, future in futures.items():
            try:
                connections[name] = future.result()
            except RpcError as exc:
                if not allow_partial:
                    raise
                failed[name] = str(exc)
    return connections, failed


def read_venues(
    ctx: ChainContext, entries: Sequence[VenueEntry], registry: AdapterRegistry, block: BlockIdentifier,
    batch: RpcBatch | None = None,
) -> tuple[int, list[VenueState]]:
    """Every venue of ``entries`` (one chain) pinned to one block; returns (block number, states by adapter).

    Adapters declaring the staged-reads capability (the built-in Uniswap ones) are driven together by
    :func:`adapters.run_stages`, so their rounds share multicalls: with warm pool hints the whole chain is ONE
    round trip, and with ``block="latest"`` that round also yields the block number. Where the chain's RPC runs
    the read lens (``read_lens``, the default), the whole chain is ONE eth_call, cold or warm: lens readers'
    (Uniswap V3 pools', V4 pools' through StateView) bitmap walks answer their later rounds. Other adapters' ``read``
    follow at that block. With ``batch``, the first round rides in it (adapters.rpc.run_stages).

    Usage::

        block, states = read_venues(chain_context(config, "base", w3), config.venues_on("base"), registry, "latest")
    """
    by_adapter: dict[str, list[VenueEntry]] = {}
    for entry in entries:
        by_adapter.setdefault(entry.adapter, []).append(entry)
    use_lens = ctx.read_lens and lens_usable(ctx.w3)
    readers: dict[str, Stages] = {}
    walks: list[Walk] = []
    for a, group in by_adapter.items():
        lens_reader = registry.lens_reader(a) if use_lens else None
        if lens_reader is not None:
            readers[a], more = lens_reader.lens_stages(ctx, group)
            # A pool read by two adapters (a V3 venue that is also a route's leg) is walked once.
            walks += [w for w in more if w not in walks]
        elif (reader := registry.staged_reader(a)) is not None:
            readers[a] = reader.read_stages(ctx, group)
    number, values = run_stages(ctx.w3, list(readers.values()), block, ctx.multicall, ctx.name, batch=batch,
                                walks=walks if use_lens else None, lens_gas=ctx.lens_gas)
    done = dict(zip(readers, values, strict=True))
    states: list[VenueState] = []
    for adapter_name, group in by_adapter.items():
        states += done[adapter_name] if adapter_name in done else registry.venue(adapter_name).read(ctx, group, number)
    return number, states


def _read_chain(config: Config, name: str, w3: Web3, registry: AdapterRegistry, inventory: bool,
                now: float, verifier: ContractVerifier) -> _ChainRead:
    """One chain's reads at one block; read again from the new head when a block was mined under them."""
    for attempt in range(HEAD_MOVED_ATTEMPTS):
        try:
            return _read_chain_at_head(config, name, w3, registry, inventory, now, verifier)
        except HeadMovedError:
            if attempt == HEAD_MOVED_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # the loop returns or raises


def _read_chain_at_head(config: Config, name: str, w3: Web3, registry: AdapterRegistry, inventory: bool,
                        now: float, verifier: ContractVerifier) -> _ChainRead:
    settings = config.chains[name]
    try:
        head = w3.eth.get_block("latest")
        block, timestamp = int(head["number"]), int(head["timestamp"])
        check_head_fresh(name, timestamp, now, settings.head_age_limit_s, block=block, url=rpc_status(w3).preferred)
        base_fee = int(head["baseFeePerGas"]) if settings.gas.type == "eip1559" and "baseFeePerGas" in head else None
        if base_fee is not None:
            gas_price = base_fee + int(settings.gas.priority_fee_gwei * 1e9)
        else:
            gas_price = int(w3.eth.gas_price)
        ctx = chain_context(config, name, w3)
        enabled = [e for e in config.venues_on(name) if e.enabled]
        # Contracts are verified before they are read for a plan (and so before anything approves or calls them).
        unverified = verifier.verify(config, registry, ctx, enabled, block)
        states, refused = read_venues_isolated(ctx, [e for e in enabled if e.name not in unverified], registry, block)
        refused = unverified | refused
        bridges = [t for t in config.transfers_on(name) if t.enabled]
        refused_transfers = verifier.verify(config, registry, ctx, bridges, block) if bridges else {}
        markets = [p for p in config.perps_on(name) if p.enabled]
        unverified_perps = verifier.verify(config, registry, ctx, markets, block) if markets else {}
        perps, refused_perps = read_perps_isolated(ctx, [p for p in markets if p.name not in unverified_perps],
                                                   registry, block)
        refused_perps = unverified_perps | refused_perps
        spot: list[SpotPosition] = []
        inventory_error = None
        if inventory:
            try:
                spot = read_wallet_inventory(config, registry, ctx, block)
            except HeadMovedError:
                raise  # not unknown holdings: the whole chain is read again at the new head
            except (AdapterError, RpcError) as exc:  # holdings unknown: said so, never read as zero
                inventory_error = str(exc)
    except CrosshedgeError:
        raise  # already says what failed (RpcError is an OSError: without this a HeadMovedError was never retried)
    except (OSError, Web3Exception) as exc:
        raise RpcError(f"chain {name}: RPC {type(exc).__name__} while reading the snapshot: {exc}") from exc
    read_path = lens_status(w3) if settings.read_lens else "multicall (read_lens is off)"
    return _ChainRead(name, block, timestamp, base_fee, gas_price, states, spot, refused, inventory_error, read_path,
                      refused_transfers, perps, refused_perps)


def read_venues_isolated(ctx: ChainContext, entries: Sequence[VenueEntry], registry: AdapterRegistry, block: int
                         ) -> tuple[list[VenueState], dict[str, str]]:
    """Every venue at ``block``; when the batched read fails on one venue, each is read alone so that only the
    failing ones are refused (a mistyped pool never takes the chain's other venues or its holdings down)."""
    try:
        return read_venues(ctx, entries, registry, block)[1], {}
    except AdapterError:
        pass
    states: list[VenueState] = []
    refused: dict[str, str] = {}
    for entry in entries:
        try:
            states += read_venues(ctx, [entry], registry, block)[1]
        except AdapterError as exc:
            refused[entry.name] = str(exc)
    return states, refused


def read_perps_isolated(ctx: ChainContext, entries: Sequence[PerpEntry], registry: AdapterRegistry, block: int
                        ) -> tuple[list[PerpMarketState], dict[str, str]]:
    """Every perp market at ``block``, each adapter's markets read together; when that fails, each market alone, so
    only the failing ones are refused. HeadMovedError (an RpcError) goes up: the chain is read again at a new head."""
    states: list[PerpMarketState] = []
    refused: dict[str, str] = {}
    for adapter in sorted({e.adapter for e in entries}):
        group = [e for e in entries if e.adapter == adapter]
        try:
            states += registry.perp(adapter).read(ctx, group, block)
            continue
        except AdapterError:
            pass
        for entry in group:
            try:
                states += registry.perp(adapter).read(ctx, [entry], block)
            except AdapterError as exc:
                refused[entry.name] = str(exc)
    return states, refused


def read_wallet_inventory(config: Config, registry: AdapterRegistry, ctx: ChainContext, block: int
                          ) -> list[SpotPosition]:
    """The chain wallet's spendable inventory at ``block``: every configured source of wallet scope."""
    as_of = datetime.fromtimestamp(time.time(), UTC)
    out: list[SpotPosition] = []
    for entry in config.positions:
        if entry.scope == PositionScope.WALLET:
            positions = registry.positions(entry.adapter).read_positions(ctx, entry.config, block, as_of)
            out += [p for p in positions if isinstance(p, SpotPosition)]
    return out


def native_prices(config: Config, reads: Mapping[str, _ChainRead]) -> dict[str, float]:
    """Each chain's native-token USD price: configured, else the median venue mid of its native underlying."""
    mids: dict[str, list[float]] = {}
    for r in reads.values():
        for v in r.venues:
            if v.quote.underlying == "USD" and not v.composite:  # a route's mid is no market of its own
                mids.setdefault(v.underlying, []).append(v.mid_price)
    prices: dict[str, float] = {}
    for name in reads:
        gas = config.chains[name].gas
        if gas.native_usd is not None:
            prices[name] = gas.native_usd
        elif mids.get(gas.native_underlying):
            prices[name] = statistics.median(mids[gas.native_underlying])
        else:
            raise AdapterError(
                f"chain {name}: no venue prices {gas.native_underlying} in USD and gas.native_usd is not set"
            )
    return prices


def _chain_snapshot(
    config: Config, r: _ChainRead, reads: Mapping[str, _ChainRead], native: Mapping[str, float]
) -> ChainSnapshot:
    settings = config.chains[r.name]
    l1_usd = 0.0
    l1 = settings.gas.l1_data_fee
    if l1 is not None:
        l1_read = reads.get(l1.l1_chain)
        if l1_read is None or l1_read.base_fee is None:
            raise RpcError(f"chain {r.name}: its L1 data fee needs chain {l1.l1_chain}'s base fee, which was not read")
        l1_usd = l1.tx_bytes * l1.gas_per_byte * l1_read.base_fee * l1.scalar / 1e18 * native[l1.l1_chain]
    gas_usd = {
        v.venue: v.gas_units * r.gas_price / 1e18 * native[r.name] + l1_usd for v in r.venues
    }
    # Crossing a tick adds execution gas only (no calldata), so no L1 data fee.
    tick_usd = {v.venue: v.gas_units_per_tick * r.gas_price / 1e18 * native[r.name]
                for v in r.venues if v.gas_units_per_tick > 0}
    perp_gas = {p.market: p.gas_units * r.gas_price / 1e18 * native[r.name] + l1_usd for p in r.perps}
    return ChainSnapshot(
        chain=r.name, chain_id=settings.chain_id, block_number=r.block, block_timestamp=r.timestamp,
        base_fee_wei=r.base_fee, gas_price_wei=r.gas_price, native_underlying=settings.gas.native_underlying,
        native_usd=native[r.name], l1_data_fee_usd=l1_usd, swap_gas_usd=gas_usd, tick_gas_usd=tick_usd,
        venues=tuple(r.venues),
        inventory=tuple(r.inventory), refused_venues=r.refused, inventory_error=r.inventory_error,
        read_path=r.read_path, refused_transfers=r.refused_transfers, perps=tuple(r.perps), perp_gas_usd=perp_gas,
        refused_perps=r.refused_perps,
    )


def take_snapshot(
    config: Config, connections: Mapping[str, Web3], registry: AdapterRegistry, *, allow_partial: bool = False,
    inventory: bool = True, clock: Callable[[], float] = time.time, verifier: ContractVerifier | None = None,
) -> Snapshot:
    """Read every connected chain in parallel, each pinned to one block (see module docstring)."""
    failed = {n: f"chain {n}: not connected" for n in config.chains if n not in connections}
    if failed and not allow_partial:
        raise RpcError(next(iter(failed.values())))
    reads: dict[str, _ChainRead] = {}
    with ThreadPoolExecutor(max_workers=max(1, len(connections))) as pool:
        now = clock()
        checker = verifier or ContractVerifier()  # never skipped; a process passes its own to keep the cache warm
        futures = {n: pool.submit(contextvars.copy_context().run, _read_chain, config, n, w3, registry, inventory,
                                  now, checker) for n, w3 in connections.items()}
        for name, future in futures.items():
            try:
                reads[name] = future.result()
            except CrosshedgeError as exc:
                if not allow_partial:
                    raise
                failed[name] = str(exc)
    native = native_prices(config, reads)
    chains: dict[str, ChainSnapshot] = {}
    for name, r in reads.items():
        try:
            chains[name] = _chain_snapshot(config, r, reads, native)
        except CrosshedgeError as exc:
            if not allow_partial:
                raise
            failed[name] = str(exc)
    return Snapshot(taken_at=clock(), chains=chains, failed=failed)
