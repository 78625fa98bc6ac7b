"""The conformance suite of the transfer kind (a bridge adapter), next to adapters.conformance for venues.

Static checks (no chain): the kind's members with the protocol's parameters, a config model that forbids unknown
fields; given an example route: the contracts it names are verified (``verification`` covers them), and quotes
are sane — the output is the input less a fee that never falls as the amount grows, the proportional fee is at
most what it says, a deposit targets the approval spender on the origin's chain id. Live check (a devnet or a real
chain): :func:`check_live_deposit` decodes a mined deposit back into what was quoted.

Usage (in the plugin's tests)::

    class TestMyBridge(TransferConformance):
        adapter = MyBridge()
        example_route = route           # a TransferRoute over two example sections
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from adapters.conformance import check_entry_point, signature_problems, static_problems, verification_problems
from adapters.contract import TransferAdapter, VenueContracts
from adapters.transfers import Deposit, TransferQuote, TransferRoute
from crosshedge import AdapterConformanceError, CrosshedgeError

#: Parameters (after self) each transfer method must accept, by name, in this order.
TRANSFER_SIGNATURES: dict[str, tuple[str, ...]] = {
    "contracts": ("entry",),
    "verification": ("entry",),
    "tokens": ("entry",),
    "quote": ("route", "amount_in"),
    "build_deposit": ("route", "quote", "depositor", "recipient", "quote_timestamp", "fill_deadline"),
    "parse_deposit": ("route", "receipt"),
    "fill_status": ("chain", "route", "deposit", "block"),
    "find_fill": ("chain", "route", "deposit", "from_block", "to_block"),
    "find_refund": ("chain", "route", "deposit", "from_block", "to_block"),
}


def quote_problems(adapter: TransferAdapter, route: TransferRoute) -> list[str]:
    """What is wrong with ``adapter``'s quotes and deposit call on ``route`` (empty list: conforms)."""
    unit = 10**route.token_in.decimals
    amounts = [unit * 10, unit * 1_000, unit * 100_000]
    try:
        quotes = [adapter.quote(route, a) for a in amounts]
    except (CrosshedgeError, ValueError) as exc:
        return [f"quote({route.key}) failed: {exc}"]
    problems = []
    for q in quotes:
        if not isinstance(q, TransferQuote):
            return [f"quote({route.key}) must return TransferQuote, got {type(q).__name__}"]
        if q.amount_out_raw + q.fee_raw != q.amount_in_raw or q.amount_out_raw > q.amount_in_raw:
            problems.append(f"quote({route.key}, {q.amount_in_raw}): output {q.amount_out_raw} + fee {q.fee_raw} "
                            "is not the input")
        if (q.origin, q.destination, q.symbol) != (route.origin.chain, route.destination.chain, route.token_in.symbol):
            problems.append(f"quote({route.key}) names {q.origin}->{q.destination}/{q.symbol}")
    fees = [q.fee_raw for q in quotes]
    if fees != sorted(fees):
        problems.append(f"quote({route.key}): the fee falls as the amount grows ({fees})")
    problems += _deposit_problems(adapter, route, quotes[0])
    return problems


def _deposit_problems(adapter: TransferAdapter, route: TransferRoute, quote: TransferQuote) -> list[str]:
    declared = adapter.contracts(route.origin)
    if not isinstance(declared, VenueContracts):
        return [f"contracts({route.origin.name}) must return VenueContracts, got {type(declared).__name__}"]
    problems = verification_problems(adapter, route.origin, declared)  # type: ignore[arg-type]
    wallet = "0x" + "11" * 20
    try:
        tx = adapter.build_deposit(route, quote, wallet, wallet, 1_700_000_000, 1_700_000_000 + 60)
    except (CrosshedgeError, ValueError) as exc:
        return [*problems, f"build_deposit({route.key}) failed: {exc}"]
    if tx.chain_id != route.origin_chain_id:
        problems.append(f"build_deposit({route.key}) is for chain id {tx.chain_id}, not the origin's "
                        f"{route.origin_chain_id}")
    if tx.to.lower() not in {a.lower() for a in declared.called.values()}:
        problems.append(f"build_deposit({route.key}) calls {tx.to}, which contracts() does not name")
    return problems


def check_static_transfer(adapter: Any, route: TransferRoute | None = None) -> None:
    """Raise AdapterConformanceError listing every static problem of ``adapter`` (and of its quotes on ``route``)."""
    problems = static_problems(adapter) or signature_problems(adapter, TRANSFER_SIGNATURES)
    if not problems and route is not None:
        problems += quote_problems(adapter, route)
    if problems:
        raise AdapterConformanceError(f"adapter {getattr(adapter, 'name', adapter)!r}: " + "; ".join(problems))


def check_live_deposit(adapter: TransferAdapter, route: TransferRoute, quote: TransferQuote,
                       receipt: Mapping[str, Any], depositor: str, fill_deadline: int) -> Deposit:
    """Decode a mined deposit and check it is the quoted one (amounts, tokens, destination, depositor, deadline)."""
    deposit = adapter.parse_deposit(route, receipt)
    got = (deposit.input_amount, deposit.output_amount, deposit.destination_chain_id, deposit.depositor.lower(),
           deposit.recipient.lower(), deposit.fill_deadline)
    want = (quote.amount_in_raw, quote.amount_out_raw, route.destination_chain_id, depositor.lower(),
            depositor.lower(), fill_deadline)
    if got != want:
        raise AdapterConformanceError(f"adapter {adapter.name} on {route.key}: the deposit decodes as {got}, the "
                                      f"quote and call said {want}")
    return deposit


class TransferConformance:
    """pytest mix-in: subclass it, set ``adapter`` (and optionally ``entry_point`` and ``example_route``)."""

    adapter: ClassVar[Any]
    entry_point: ClassVar[str | None] = None
    example_route: ClassVar[TransferRoute | None] = None

    def test_static_conformance(self) -> None:
        check_static_transfer(self.adapter, self.example_route)

    def test_discovered_through_entry_point(self) -> None:
        if self.entry_point is not None:
            loaded = check_entry_point(self.entry_point)
            assert type(loaded) is type(self.adapter)
