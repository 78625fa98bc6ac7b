"""The conformance suite of the perp kind (a perpetual-futures venue), next to adapters.conformance for venues.

Static checks (no chain): the kind's members with the protocol's parameters, a config model that forbids unknown
fields; given an example entry: the contracts it names are verified (``verification`` covers them) and the Vault
calls target the approval spender on the entry's chain. Given a state (recorded or live): quotes are sane — a
short's quote received and a long's quote paid grow with the size, a long always pays more than a short of the
same size receives, the fee grows with the size, and orders target a contract ``contracts()`` names. Live checks (a
devnet or a real chain): :func:`check_live_market` reads a market at a block and checks the state;
:func:`check_live_fill` decodes a mined order back into what was quoted.

Usage (in the plugin's tests)::

    class TestMyPerp(PerpConformance):
        adapter = MyPerp()
        example_entry = entry           # a PerpEntry with a valid config section
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from adapters.conformance import check_entry_point, signature_problems, static_problems, verification_problems
from adapters.contract import PerpAdapter, VenueContracts
from adapters.perps import PerpEntry, PerpFill, PerpMarketState, PerpQuote
from adapters.types import ChainContext, Side, ordered_curve_ok
from crosshedge import AdapterConformanceError, CrosshedgeError

#: Parameters (after self) each perp method must accept, by name, in this order.
PERP_SIGNATURES: dict[str, tuple[str, ...]] = {
    "contracts": ("entry",),
    "verification": ("entry",),
    "tokens": ("entry",),
    "read": ("chain", "markets", "block"),
    "quote": ("state", "side", "base_amount"),
    "build_open": ("state", "side", "amount", "opposite_amount_bound", "deadline"),
    "build_close": ("state", "opposite_amount_bound", "deadline"),
    "build_deposit": ("entry", "token", "amount_raw"),
    "build_withdraw": ("entry", "token", "amount_raw"),
    "parse_fills": ("market", "receipt"),
    "position": ("state",),
}


def entry_problems(adapter: PerpAdapter, entry: PerpEntry) -> list[str]:
    """What is wrong with the contracts and Vault calls ``adapter`` names for ``entry`` (empty list: conforms)."""
    try:
        declared = adapter.contracts(entry)
    except (CrosshedgeError, ValueError) as exc:
        return [f"contracts({entry.name}) failed: {exc}"]
    if not isinstance(declared, VenueContracts):
        return [f"contracts({entry.name}) must return VenueContracts, got {type(declared).__name__}"]
    problems = verification_problems(adapter, entry, declared)  # type: ignore[arg-type]
    token = "0x" + "22" * 20
    for build in (adapter.build_deposit, adapter.build_withdraw):
        try:
            tx = build(entry, token, 10**6)
        except (CrosshedgeError, ValueError) as exc:
            problems.append(f"{build.__name__}({entry.name}) failed: {exc}")
            continue
        if tx.to.lower() != declared.spender.lower():
            problems.append(f"{build.__name__}({entry.name}) calls {tx.to}, not the spender {declared.spender}")
        if tx.chain_id != entry.chain_id:
            problems.append(f"{build.__name__}({entry.name}) is for chain id {tx.chain_id}, not {entry.chain_id}")
    return problems


def quote_problems(adapter: PerpAdapter, state: PerpMarketState, sizes: tuple[int, ...]) -> list[str]:
    """What is wrong with ``adapter``'s quotes on ``state`` for ascending raw base ``sizes`` (empty: conforms)."""
    problems = []
    quotes: dict[Side, list[PerpQuote]] = {}
    for side in (Side.SELL, Side.BUY):
        try:
            quotes[side] = [adapter.quote(state, side, s) for s in sizes]
        except (CrosshedgeError, ValueError) as exc:
            return [f"quote({state.key}, {side.value}) failed: {exc}"]
        got = quotes[side]
        if any(not isinstance(q, PerpQuote) for q in got):
            return [f"quote({state.key}) must return PerpQuote"]
        amounts, fees = [q.quote_amount_raw for q in got], [q.fee_raw for q in got]
        if amounts != sorted(amounts) or fees != sorted(fees):
            problems.append(f"quote({state.key}, {side.value}): quote amounts {amounts} or fees {fees} fall as the "
                            "size grows")
        if [q.base_amount_raw for q in got] != list(sizes):
            problems.append(f"quote({state.key}, {side.value}) does not fill the requested sizes")
        if not ordered_curve_ok(state.sell if side is Side.SELL else state.buy):
            problems.append(f"read({state.key}): the {side.value} curve is not convex")
    for short, long in zip(quotes[Side.SELL], quotes[Side.BUY], strict=True):
        if long.quote_amount_raw <= short.quote_amount_raw:
            problems.append(f"quote({state.key}, {short.base_amount_raw}): a long pays {long.quote_amount_raw}, "
                            f"not more than a short receives ({short.quote_amount_raw})")
    tx = adapter.build_open(state, Side.SELL, sizes[0], max(quotes[Side.SELL][0].quote_amount_raw, 1), 2**32)
    if tx.chain_id != state.chain_id:
        problems.append(f"build_open({state.key}) is for chain id {tx.chain_id}, not {state.chain_id}")
    return problems


def check_static_perp(adapter: Any, entry: PerpEntry | None = None, state: PerpMarketState | None = None,
                      sizes: tuple[int, ...] = (10**17, 10**18, 10**19)) -> None:
    """Raise AdapterConformanceError listing every static problem of ``adapter`` (with ``entry`` and ``state``)."""
    problems = static_problems(adapter) or signature_problems(adapter, PERP_SIGNATURES)
    if not problems and entry is not None:
        problems += entry_problems(adapter, entry)
    if not problems and state is not None:
        problems += quote_problems(adapter, state, sizes)
    if problems:
        raise AdapterConformanceError(f"adapter {getattr(adapter, 'name', adapter)!r}: " + "; ".join(problems))


def check_live_market(adapter: PerpAdapter, chain: ChainContext, entry: PerpEntry, block: int) -> PerpMarketState:
    """Read ``entry`` at ``block`` and check the state: identity, block, prices, curves and sane quotes."""
    states = adapter.read(chain, [entry], block)
    if len(states) != 1:
        raise AdapterConformanceError(f"adapter {adapter.name}: a read of one market returned {len(states)} states")
    state = states[0]
    problems = []
    if (state.chain, state.market, state.adapter, state.block_number) != (chain.name, entry.name, adapter.name,
                                                                          block):
        problems.append(f"the state names {state.chain}/{state.market} ({state.adapter}) at block "
                        f"{state.block_number}, not {chain.name}/{entry.name} ({adapter.name}) at {block}")
    if abs(state.daily_funding_rate) > state.max_funding_rate + 1e-12:
        problems.append(f"funding {state.daily_funding_rate} is past its cap {state.max_funding_rate}")
    unit = 10**state.base_decimals
    problems += quote_problems(adapter, state, (unit // 100, unit // 10, unit))
    if problems:
        raise AdapterConformanceError(f"adapter {adapter.name} on {state.key}: " + "; ".join(problems))
    return state


def check_live_fill(adapter: PerpAdapter, state: PerpMarketState, quote: PerpQuote, receipt: Mapping[str, Any],
                    trader: str) -> PerpFill:
    """Decode a mined order placed right after ``state`` was read and check it is the quoted one, to the wei."""
    fills = adapter.parse_fills(state, receipt)
    if len(fills) != 1:
        raise AdapterConformanceError(f"adapter {adapter.name} on {state.key}: the receipt has {len(fills)} fills")
    fill = fills[0]
    got = (fill.exchanged_position_size, fill.exchanged_position_notional, fill.fee, fill.trader.lower())
    want = (quote.exchanged_position_size, quote.exchanged_position_notional, quote.fee_raw, trader.lower())
    if got != want:
        raise AdapterConformanceError(f"adapter {adapter.name} on {state.key}: the fill decodes as {got}, the quote "
                                      f"said {want}")
    return fill


class PerpConformance:
    """pytest mix-in: subclass it, set ``adapter`` (and optionally ``entry_point``, ``example_entry`` and a recorded
    ``example_state``)."""

    adapter: ClassVar[Any]
    entry_point: ClassVar[str | None] = None
    example_entry: ClassVar[PerpEntry | None] = None
    example_state: ClassVar[PerpMarketState | None] = None

    def test_static_conformance(self) -> None:
        check_static_perp(self.adapter, self.example_entry, self.example_state)

    def test_discovered_through_entry_point(self) -> None:
        if self.entry_point is not None:
            loaded = check_entry_point(self.entry_point)
            assert type(loaded) is type(self.adapter)


__all__ = ["PERP_SIGNATURES", "PerpConformance", "check_live_fill", "check_live_market", "check_static_perp",
           "entry_problems", "quote_problems"]
