"""A small conformance suite a third-party adapter package runs against its adapter.

Static checks (no chain): the members of its kind exist and are callable, ``kind`` is valid, ``name`` is a
non-empty string (and equals its entry point name when loaded through one), ``config_model`` is a pydantic model
that forbids unknown fields, declared capabilities have their members, a position source declares its scope, and
the methods take the protocol's parameters. Given an example venue entry, a venue must name its approval spender
and the contracts it calls (``contracts``), the spender among them, and declare how they are verified
(``verification``): a :class:`VenueChecks` with a configured role for every address ``contracts`` names.
Live check (given a chain and a venue): ``read`` returns one state per venue, pinned to the block, with convex
curves, and ``quote`` is positive and monotone for small sizes; a venue declaring ``permit2`` asks for a permit
of exactly a swap's input, for Permit2 (its spender), to a router it calls, expiring at the deadline
(:func:`permit_problems`). Every failure is an
:class:`AdapterConformanceError` listing all problems found.

Usage (in the plugin's tests)::

    from adapters.conformance import AdapterConformance

    class TestMyVenue(AdapterConformance):
        adapter = MyVenue()

    # or: check_static(MyVenue(), example_venue); check_entry_point("my_venue")
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Any, ClassVar

from pydantic import BaseModel
from web3 import Web3

from adapters.contract import CAPABILITY_MEMBERS, Capability, Permit2Venue, VenueAdapter, VenueChecks, VenueContracts
from adapters.permit2 import PermitRequest
from adapters.registry import ENTRY_POINT_GROUP, check_conformance, load_entry_point
from adapters.types import ChainContext, Side, VenueEntry, VenueState, ordered_curve_ok
from crosshedge import AdapterConformanceError, CrosshedgeError

#: Parameters (after self) each venue method must accept, by name, in this order.
VENUE_SIGNATURES: dict[str, tuple[str, ...]] = {
    "contracts": ("venue",),
    "verification": ("venue",),
    "read": ("chain", "venues", "block"),
    "quote": ("state", "side", "amount_in"),
    "build_swap": ("state", "side", "amount_in", "min_amount_out", "recipient", "deadline"),
    "parse_receipt": ("state", "receipt"),
}
POSITION_SIGNATURES: dict[str, tuple[str, ...]] = {"read_positions": ("chain", "config", "block", "as_of")}
CAPABILITY_SIGNATURES: dict[str, tuple[str, ...]] = {
    "read_stages": ("chain", "venues"), "lens_stages": ("chain", "venues"),
    "save_state": ("chain", "venues", "block"),
    "quote_pool_state": ("record", "side", "amount_in"),
    "permit_request": ("state", "side", "amount_in", "deadline"),
    "build_permit_swap": ("state", "side", "amount_in", "min_amount_out", "recipient", "deadline", "permit"),
}


def static_problems(adapter: Any) -> list[str]:
    """Everything wrong with ``adapter`` that can be seen without a chain (empty list: conforms)."""
    try:
        check_conformance(adapter, repr(getattr(adapter, "name", adapter)))
    except AdapterConformanceError as exc:
        return [str(exc)]
    problems = []
    name = getattr(adapter, "name", None)
    if not isinstance(name, str) or not name:
        problems.append(f"name must be a non-empty string, got {name!r}")
    model: type[BaseModel] = adapter.config_model
    if model.model_config.get("extra") != "forbid":
        problems.append(f"config_model {model.__name__} must set extra='forbid' so a typo in chains.yaml is an error")
    if adapter.kind in ("transfer", "perp"):  # adapters.conformance_transfer / conformance_perp check signatures
        return problems
    signatures = dict(VENUE_SIGNATURES if adapter.kind == "venue" else POSITION_SIGNATURES)
    for capability in getattr(adapter, "capabilities", frozenset()):
        signatures.update({m: CAPABILITY_SIGNATURES[m] for m in CAPABILITY_MEMBERS[capability]})
    return problems + signature_problems(adapter, signatures)


def signature_problems(adapter: Any, signatures: dict[str, tuple[str, ...]]) -> list[str]:
    """Each method of ``signatures`` whose leading parameters (after self) are not the named ones, in order."""
    problems = []
    for method, expected in signatures.items():
        params = tuple(inspect.signature(getattr(adapter, method)).parameters)
        if params[: len(expected)] != expected:
            problems.append(f"{method}{params} must take parameters {expected}")
    return problems


def contract_problems(adapter: VenueAdapter, venue: VenueEntry) -> list[str]:
    """What is wrong with the contracts ``adapter`` names for an example ``venue`` (empty list: conforms)."""
    try:
        declared = adapter.contracts(venue)
    except (CrosshedgeError, ValueError, KeyError, TypeError) as exc:
        return [f"contracts({venue.name}) failed: {exc}"]
    if not isinstance(declared, VenueContracts):
        return [f"contracts({venue.name}) must return VenueContracts, got {type(declared).__name__}"]
    problems = []
    if not Web3.is_address(declared.spender):
        problems.append(f"contracts({venue.name}) names no approval target (spender {declared.spender!r})")
    elif declared.spender not in declared.called.values():
        problems.append(f"contracts({venue.name}): the spender {declared.spender} is not among the called contracts")
    if declared.router is not None and declared.router not in declared.called.values():
        problems.append(f"contracts({venue.name}): the router {declared.router} is not among the called contracts")
    if Capability.PERMIT2 in adapter.capabilities and declared.router is None:
        problems.append(f"contracts({venue.name}) names no router, which a permit2 venue's swap calls (its "
                        "spender is Permit2)")
    bad = [f"{role}={a!r}" for role, a in {**declared.called, **declared.read}.items() if not Web3.is_address(a)]
    if bad:
        problems.append(f"contracts({venue.name}) names non-addresses: {', '.join(bad)}")
    return problems + verification_problems(adapter, venue, declared)


def verification_problems(adapter: VenueAdapter, venue: VenueEntry, declared: VenueContracts) -> list[str]:
    """What is wrong with how ``adapter`` verifies ``venue``'s contracts: ``verification`` must return
    :class:`VenueChecks` whose configured roles cover every address ``declared`` (its ``contracts``) names, so
    nothing is called or read unverified."""
    try:
        checks = adapter.verification(venue)
    except (CrosshedgeError, ValueError, KeyError, TypeError) as exc:
        return [f"verification({venue.name}) failed: {exc}"]
    if not isinstance(checks, VenueChecks):
        return [f"verification({venue.name}) must return VenueChecks, got {type(checks).__name__}"]
    covered = {c.address.lower() for c in checks.roles.values() if isinstance(c.address, str)}
    named = {"spender": declared.spender, **declared.called, **declared.read}
    uncovered = sorted({f"{role} {a}" for role, a in named.items() if a.lower() not in covered})
    if uncovered:
        return [f"verification({venue.name}) declares no expected code for {', '.join(uncovered)} "
                "(named by contracts())"]
    return []


def check_static(adapter: Any, example_venue: VenueEntry | None = None) -> None:
    """Raise AdapterConformanceError listing every static problem of ``adapter`` (and of the contracts it names
    for ``example_venue``, a venue entry with a valid config section)."""
    problems = static_problems(adapter)
    if not problems and example_venue is not None and adapter.kind == "venue":
        problems += contract_problems(adapter, example_venue)
    if problems:
        raise AdapterConformanceError(f"adapter {getattr(adapter, 'name', adapter)!r}: " + "; ".join(problems))


def check_entry_point(name: str, eps: Iterable[EntryPoint] | None = None) -> Any:
    """Discover ``name`` in the ``crosshedge.adapters`` entry-point group, load it and run the static checks."""
    found = {ep.name: ep for ep in (eps if eps is not None else entry_points(group=ENTRY_POINT_GROUP))}
    if name not in found:
        raise AdapterConformanceError(f"no adapter {name!r} registered under entry-point group {ENTRY_POINT_GROUP}")
    adapter = load_entry_point(found[name])
    check_static(adapter)
    return adapter


def check_live_venue(adapter: VenueAdapter, chain: ChainContext, venue: VenueEntry, block: int) -> VenueState:
    """Read ``venue`` at ``block`` and check the state: identity, block, convex curves, sane quotes."""
    states = adapter.read(chain, [venue], block)
    problems = []
    if len(states) != 1:
        raise AdapterConformanceError(f"adapter {adapter.name}: read of one venue returned {len(states)} states")
    state = states[0]
    if (state.chain, state.venue, state.adapter, state.block_number) != (chain.name, venue.name, adapter.name, block):
        problems.append("state does not name the chain, venue, adapter and block that were read")
    for curve in (state.sell, state.buy):
        if not curve.segments or not ordered_curve_ok(curve):
            problems.append(f"{curve.side.value} curve is empty or not convex")
    problems += contract_problems(adapter, venue)
    small = 10 ** max(0, state.base.decimals - 4)
    q1, q2 = adapter.quote(state, Side.SELL, small), adapter.quote(state, Side.SELL, 2 * small)
    if not 0 < q1 <= q2:
        problems.append(f"quote is not positive and increasing in size ({q1}, {q2})")
    if Capability.PERMIT2 in adapter.capabilities:
        problems += permit_problems(adapter, venue, state, small)
    if problems:
        raise AdapterConformanceError(f"adapter {adapter.name} on {chain.name}/{venue.name}: " + "; ".join(problems))
    return state


def permit_problems(adapter: VenueAdapter, venue: VenueEntry, state: VenueState, amount_in: int) -> list[str]:
    """What is wrong with the permit a :attr:`Capability.PERMIT2` venue asks for a sell of ``amount_in``: it must be
    a :class:`PermitRequest` for Permit2 (the venue's approval spender), exactly the base token and amount, a spender
    among the contracts it calls, expiring at the deadline (empty list: conforms)."""
    if not isinstance(adapter, Permit2Venue):
        return ["declares capability permit2 but is not a Permit2Venue"]
    deadline = state.block_timestamp + 600
    try:
        request = adapter.permit_request(state, Side.SELL, amount_in, deadline)
    except (CrosshedgeError, ValueError, KeyError, TypeError) as exc:
        return [f"permit_request({venue.name}) failed: {exc}"]
    if not isinstance(request, PermitRequest):
        return [f"permit_request({venue.name}) must return PermitRequest, got {type(request).__name__}"]
    declared = adapter.contracts(venue)
    called = {a.lower() for a in declared.called.values()}
    problems = []
    if request.permit2.lower() != declared.spender.lower():
        problems.append(f"permit_request({venue.name}) is for {request.permit2}, not the approval spender "
                        f"{declared.spender}")
    if request.spender.lower() not in called or request.spender.lower() != declared.swap_target.lower():
        problems.append(f"permit_request({venue.name}) lets {request.spender} pull, not the router its swap calls "
                        f"({declared.swap_target})")
    if (request.token.lower(), request.amount) != (state.base.address.lower(), amount_in):
        problems.append(f"permit_request({venue.name}) is for {request.amount} of {request.token}, not the sell's "
                        f"{amount_in} of {state.base.address}")
    if (request.expiration, request.sig_deadline) != (deadline, deadline):
        problems.append(f"permit_request({venue.name}) expires at {request.expiration} (signature "
                        f"{request.sig_deadline}), not at the swap's deadline {deadline}")
    return problems


class AdapterConformance:
    """pytest mix-in: subclass it, set ``adapter`` (and optionally ``entry_point``), and pytest runs the checks."""

    adapter: ClassVar[Any]
    entry_point: ClassVar[str | None] = None
    example_venue: ClassVar[VenueEntry | None] = None  # venues: a config section to check contracts() against

    def test_static_conformance(self) -> None:
        check_static(self.adapter, self.example_venue)

    def test_discovered_through_entry_point(self) -> None:
        if self.entry_point is not None:
            loaded = check_entry_point(self.entry_point)
            assert type(loaded) is type(self.adapter)
