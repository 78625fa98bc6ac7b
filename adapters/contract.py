"""The adapter contract: what a venue or position-source plugin must declare and implement.

An adapter is one class, registered under the ``crosshedge.adapters`` entry-point group, that implements one of
the protocols below. Venue adapters (``kind = "venue"``) read liquidity and trade; position sources
(``kind = "positions"``) read what the book holds. Both own a pydantic model for their section of chains.yaml.

Everything the runtime relies on is declared here, never discovered with ``getattr``:

* a venue names, from its config alone, the contract its approvals go to (``spender``) and every contract its
  transactions call or its reads touch (:meth:`VenueAdapter.contracts`): the execution allowlist is built from
  these, and nothing else is ever called;
* optional abilities are listed in ``capabilities`` (for example :attr:`Capability.STAGED_READS`, whose method is
  :meth:`StagedVenueReader.read_stages`); the registry refuses an adapter that declares one without its method;
* a position source declares its ``scope``: whether it is the wallet's spendable inventory, something held on
  each chain, or an off-chain book, and the snapshot reads it accordingly.

Usage::

    adapter = registry.venue("uniswap_v3")
    states = adapter.read(chain, [venue], block=chain.w3.eth.block_number)
    out = adapter.quote(states[0], Side.SELL, amount_in=10**18)   # exact, to the wei
    adapter.contracts(venue).spender                               # the router an approval is for
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

from adapters.rpc import Stages
from adapters.types import ChainContext, Fill, Side, TxRequest, VenueEntry, VenueState
from crosshedge import Frozen


class Capability(StrEnum):
    """Optional abilities an adapter declares in ``capabilities``; each has the members in CAPABILITY_MEMBERS."""

    #: ``read_stages(chain, venues)``: :meth:`VenueAdapter.read` as a staged reader, so its rounds share
    #: multicalls with other adapters' (adapters.rpc.run_stages) and a whole chain is read in one round trip.
    STAGED_READS = "staged_reads"


class PositionScope(StrEnum):
    """Where a position source's positions live, which says how and when the snapshot reads them."""

    #: The chain wallet's spendable inventory (tokens, native coin): read on every chain at the snapshot's pinned
    #: block, it is both risk and what the optimizer may spend.
    WALLET = "wallet"
    #: Held on each chain but not spendable (LP NFTs): read on every chain at the snapshot's pinned block.
    CHAIN = "chain"
    #: Off chain (an option book file): read once per snapshot with ``chain=None`` and ``block=None``.
    OFFCHAIN = "offchain"


class VenueContracts(Frozen):
    """The on-chain contracts of one venue, named from its config alone (no chain read), by role.

    ``spender`` is the contract an ERC20 approval goes to before a swap; ``called`` every contract a transaction
    of this venue calls (the spender among them); ``read`` every contract its reads touch (pool, quoter).
    """

    spender: str
    called: dict[str, str]
    read: dict[str, str]


@runtime_checkable
class VenueAdapter(Protocol):
    """A liquidity venue (a DEX pool type). One instance serves every venue of its type on every chain."""

    name: ClassVar[str]
    kind: ClassVar[Literal["venue"]]
    config_model: ClassVar[type[BaseModel]]
    capabilities: ClassVar[frozenset[Capability]]

    def contracts(self, venue: VenueEntry) -> VenueContracts:
        """The approval spender and every contract the venue calls or reads, from its validated config."""
        ...

    def read(self, chain: ChainContext, venues: Sequence[VenueEntry], block: int) -> list[VenueState]:
        """Read every given venue on one chain, pinned to ``block``, in a bounded number of RPC round trips."""
        ...

    def quote(self, state: VenueState, side: Side, amount_in: int) -> int:
        """Exact amount out (raw units) for an exact-in swap of ``amount_in`` raw units, from ``state`` alone."""
        ...

    def build_swap(
        self, state: VenueState, side: Side, amount_in: int, min_amount_out: int, recipient: str, deadline: int
    ) -> TxRequest:
        """The swap call (exact in, with ``min_amount_out`` and ``deadline``), not yet signed."""
        ...

    def parse_receipt(self, state: VenueState, receipt: Mapping[str, Any]) -> Fill:
        """Decode the venue's swap event in a mined receipt into a :class:`Fill`."""
        ...


@runtime_checkable
class StagedVenueReader(Protocol):
    """The member behind :attr:`Capability.STAGED_READS`."""

    def read_stages(self, chain: ChainContext, venues: Sequence[VenueEntry]) -> Stages:
        """:meth:`VenueAdapter.read` as a staged reader (yields each round's calls, returns the states)."""
        ...


@runtime_checkable
class PositionSource(Protocol):
    """Something the book holds (options, LP positions, spot inventory), read as positions for risk."""

    name: ClassVar[str]
    kind: ClassVar[Literal["positions"]]
    config_model: ClassVar[type[BaseModel]]
    scope: ClassVar[PositionScope]

    def read_positions(
        self, chain: ChainContext | None, config: BaseModel, block: int | None, as_of: datetime
    ) -> Sequence[BaseModel]:
        """Positions at ``block`` (on-chain scopes) or as of ``as_of`` (``chain`` and ``block`` None off chain)."""
        ...


Adapter = VenueAdapter | PositionSource

#: Members each kind must define; the registry checks these at load and lists what is missing.
REQUIRED_MEMBERS: dict[str, tuple[str, ...]] = {
    "venue": ("name", "kind", "config_model", "capabilities", "contracts", "read", "quote", "build_swap",
              "parse_receipt"),
    "positions": ("name", "kind", "config_model", "scope", "read_positions"),
}
#: Attributes (not methods) among REQUIRED_MEMBERS.
DECLARED_ATTRIBUTES = frozenset({"name", "kind", "config_model", "capabilities", "scope"})
#: The members each capability adds.
CAPABILITY_MEMBERS: dict[Capability, tuple[str, ...]] = {Capability.STAGED_READS: ("read_stages",)}

__all__ = [
    "CAPABILITY_MEMBERS",
    "DECLARED_ATTRIBUTES",
    "REQUIRED_MEMBERS",
    "Adapter",
    "Capability",
    "PositionScope",
    "PositionSource",
    "StagedVenueReader",
    "VenueAdapter",
    "VenueContracts",
]
