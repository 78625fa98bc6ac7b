"""The adapter contract: what a venue or position-source plugin must declare and implement.

An adapter is one class, registered under the ``crosshedge.adapters`` entry-point group, that implements one of
the protocols below. Venue adapters (``kind = "venue"``) read liquidity and trade; position sources
(``kind = "positions"``) read what the book holds; transfer adapters (``kind = "transfer"``) bridge a token
between two chains' wallets (adapters.transfers); perp adapters (``kind = "perp"``) trade perpetual futures on a
vAMM with margin in a vault (adapters.perps). Each owns a pydantic model for its section of chains.yaml.

Everything the runtime relies on is declared here, never discovered with ``getattr``:

* a venue names, from its config alone, the contract its approvals go to (``spender``) and every contract its
  transactions call or its reads touch (:meth:`VenueAdapter.contracts`): the execution allowlist is built from
  these, and nothing else is ever called;
* optional abilities are listed in ``capabilities`` (for example :attr:`Capability.STAGED_READS`, whose method is
  :meth:`StagedVenueReader.read_stages`, or :attr:`Capability.PERMIT2` for a router that pulls through Permit2,
  :class:`Permit2Venue`); the registry refuses an adapter that declares one without its methods;
* a venue declares how its contracts are verified (:meth:`VenueAdapter.verification`): per role the code expected
  at the address (an npm artifact's runtime code with its immutables masked, or any code) and the links that tie
  the roles together as the protocol does (``router.factory() == pool.factory()``, ...). The orchestrator's
  verifier checks them on chain; nothing is approved, called or read for a plan before they hold;
* a position source declares its ``scope``: whether it is the wallet's spendable inventory, something held on
  each chain, or an off-chain book, and the snapshot reads it accordingly.

Usage::

    adapter = registry.venue("uniswap_v3")
    states = adapter.read(chain, [venue], block=chain.w3.eth.block_number)
    out = adapter.quote(states[0], Side.SELL, amount_in=10**18)   # exact, to the wei
    adapter.contracts(venue).spender                               # the router an approval is for
    adapter.verification(venue).roles["router"].code.contract      # "SwapRouter (@uniswap/v3-periphery)"
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Protocol, runtime_checkable

from eth_utils.crypto import keccak
from pydantic import BaseModel, Field, JsonValue, model_validator

from adapters.permit2 import PermitRequest, SignedPermit
from adapters.perps import PerpEntry, PerpFill, PerpMarketState, PerpQuote
from adapters.positions import PerpPosition
from adapters.rpc import Stages, Walk, lens_usable, run_stages
from adapters.transfers import Deposit, FillStatus, Refund, RelayFill, TransferEntry, TransferQuote, TransferRoute
from adapters.types import ChainContext, Fill, Side, SwapQuote, TxRequest, VenueEntry, VenueState
from crosshedge import Frozen

if TYPE_CHECKING:  # the recorded-state models import the Uniswap math, whose package imports this module
    from adapters.pool_state import PoolState


class Capability(StrEnum):
    """Optional abilities an adapter declares in ``capabilities``; each has the members in CAPABILITY_MEMBERS."""

    #: ``read_stages(chain, venues)``: :meth:`VenueAdapter.read` as a staged reader, so its rounds share
    #: multicalls with other adapters' (adapters.rpc.run_stages) and a whole chain is read in one round trip.
    STAGED_READS = "staged_reads"
    #: ``lens_stages(chain, venues)``: a staged reader for the read lens plus the tick-bitmap walks it needs, so
    #: the lens's one call answers its later rounds (adapters.rpc.lens). Requires :attr:`STAGED_READS`.
    LENS_READS = "lens_reads"
    #: ``save_state(chain, venues, block)`` and ``quote_pool_state(record, side, amount_in)``: the venue's whole
    #: state at a block as a recorded pool state (adapters.pool_state; a V3 pool with every initialized tick), and
    #: an exact quote from one with no chain at hand (``crosshedge venues --save-state``, ``crosshedge quote``).
    POOL_STATE = "pool_state"
    #: ``permit_request(state, side, amount_in, deadline)`` and ``build_permit_swap(..., permit)``: the venue's
    #: router pulls the input through Permit2 (``contracts().spender`` is Permit2), so its swap carries a Permit2
    #: permit for exactly the input, signed by the lane at sign time (adapters.permit2); :class:`Permit2Venue`.
    PERMIT2 = "permit2"


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
    ``router`` is the contract a swap calls when that is not the spender (a :attr:`Capability.PERMIT2` venue
    approves Permit2 and swaps through its router); None: the swap calls the spender.
    """

    spender: str
    called: dict[str, str]
    read: dict[str, str]
    router: str | None = None

    @property
    def swap_target(self) -> str:
        """The contract a swap of this venue calls."""
        return self.router or self.spender


# ---------------------------------------------------------------- verification: the code and links a venue expects

#: solc's opcode for a 32-byte push; an immutable is read by one, whose 32 data bytes deployedBytecode leaves zero.
_PUSH1, _PUSH32 = 0x60, 0x7F


def code_keccak(code: bytes) -> str:
    """0x-prefixed keccak256 of ``code`` (what ``code_hashes`` in chains.yaml pins, and what EXTCODEHASH gives)."""
    return "0x" + keccak(code).hex()


def immutable_slots(runtime: bytes) -> tuple[int, ...]:
    """Byte offsets of the 32-byte immutable slots in an artifact's runtime code (its ``deployedBytecode``).

    solc reads each immutable with a PUSH32 whose data it leaves zero in deployedBytecode; the constructor writes
    the value there at deployment. The code is walked opcode by opcode (push data skipped, so a zero inside other
    push data never counts) up to the CBOR metadata whose length the last two bytes give. A literal
    ``PUSH32 0`` would be masked too: solc never emits one (a zero constant is PUSH1 0), and masking a slot only
    ever compares less, never accepts different code outside the slots.
    """
    meta = int.from_bytes(runtime[-2:], "big") + 2 if len(runtime) >= 2 else 0
    end = len(runtime) - meta if meta < len(runtime) else len(runtime)
    slots: list[int] = []
    i = 0
    while i < end:
        op = runtime[i]
        if _PUSH1 <= op <= _PUSH32:
            if op == _PUSH32 and runtime[i + 1 : i + 33] == bytes(32):
                slots.append(i + 1)
            i += op - _PUSH1 + 2
        else:
            i += 1
    return tuple(slots)


def masked_keccak(code: bytes, slots: Sequence[int]) -> str:
    """keccak256 of ``code`` with the 32 bytes at each of ``slots`` zeroed (an artifact's immutables masked)."""
    masked = bytearray(code)
    for at in slots:
        masked[at : at + 32] = bytes(len(masked[at : at + 32]))
    return code_keccak(bytes(masked))


class CodeExpectation(Frozen):
    """What runtime code an address must hold.

    ``contract`` None: any non-empty code (a token's code is its issuer's business; a ``code_hashes`` entry can
    still pin it). Otherwise the address must hold ``contract``'s code: ``code_hash`` is keccak256 of the
    reference runtime code with its immutable slots (``immutables``, byte offsets) zeroed and ``size`` its length;
    ``embeds`` names what the immutables hold (for messages). ``unavailable`` says why no reference could be loaded
    (then only a ``code_hashes`` entry can verify the address). Build one with :meth:`of_runtime`.
    """

    contract: str | None = None
    code_hash: str | None = None
    size: int = Field(default=0, ge=0)
    immutables: tuple[int, ...] = ()
    embeds: tuple[str, ...] = ()
    unavailable: str | None = None

    @classmethod
    def of_runtime(cls, contract: str, runtime: bytes, embeds: tuple[str, ...] = ()) -> CodeExpectation:
        """The expectation of an artifact's runtime code (``deployedBytecode``), its immutables found and masked."""
        slots = immutable_slots(runtime)
        return cls(contract=contract, code_hash=masked_keccak(runtime, slots), size=len(runtime), immutables=slots,
                   embeds=embeds)

    def matches(self, code: bytes) -> bool:
        """True when ``code`` is the expected contract (any non-empty code when ``contract`` is None)."""
        if not code:
            return False
        if self.contract is None:
            return True
        return (self.code_hash is not None and len(code) == self.size
                and masked_keccak(code, self.immutables) == self.code_hash)


#: Any contract: the address must hold some code (it is not an account).
ANY_CODE = CodeExpectation()


class RoleAddress(Frozen):
    """The address of one of the venue's roles (configured, or derived by a call), as an argument or a value."""

    ref: Literal["role"] = "role"
    role: str


class Const(Frozen):
    """A literal call argument (an integer, an address, a tuple for a struct)."""

    ref: Literal["const"] = "const"
    value: JsonValue


class ViewCall(Frozen):
    """``<role>.<signature>(args)``: a read-only call on a role's contract whose one return value is ``returns``.

    Arguments may be other calls (``factory.getPool(pool.token0(), pool.token1(), pool.fee())``); such an inner
    call, and a call that derives a role's address, may itself take only role addresses and constants, because the
    verifier reads it a round before the calls that use it.
    """

    ref: Literal["call"] = "call"
    role: str
    signature: str  # e.g. "getPool(address,address,uint24)"
    returns: str = "address"
    args: tuple[Operand, ...] = ()

    @property
    def label(self) -> str:
        """``factory()`` or ``getPool(...)``: how a sentence names the call."""
        return self.signature.split("(", 1)[0] + ("(...)" if self.args else "()")

    def calls(self) -> Iterator[ViewCall]:
        """This call and every call among its arguments, innermost last."""
        yield self
        for arg in self.args:
            if isinstance(arg, ViewCall):
                yield from arg.calls()


Operand = Annotated[RoleAddress | Const | ViewCall, Field(discriminator="ref")]


class LinkKind(StrEnum):
    """How a :class:`LinkCheck` judges its call's result."""

    #: The call returns ``value`` (a role's address or another call's result).
    EQUALS = "equals"
    #: The call returns the address of a token configured on the chain.
    CONFIGURED_TOKEN = "configured_token"
    #: The call returns the configured token whose underlying is the chain's native coin (WETH on an ETH chain).
    NATIVE_TOKEN = "native_token"
    #: The call reverts with ``Error(reason)``: a probe that only the expected kind of contract answers that way.
    REVERTS_WITH = "reverts_with"


class LinkCheck(Frozen):
    """One tie the protocol makes between a venue's contracts; ``says`` names what was expected and ``note`` why
    it matters, for the refusal ("router 0x…: factory() returned 0xA…, not the pool's factory 0xB… (a router of
    another factory swaps in another pool)")."""

    call: ViewCall
    expect: LinkKind
    value: RoleAddress | ViewCall | None = None  # EQUALS: what the call must return
    reason: str | None = None  # REVERTS_WITH: the revert reason
    says: str  # e.g. "the pool's factory"
    note: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> LinkCheck:
        if (self.expect is LinkKind.EQUALS) != (self.value is not None):
            raise ValueError("an equals link needs a value, and only an equals link takes one")
        if (self.expect is LinkKind.REVERTS_WITH) != (self.reason is not None):
            raise ValueError("a reverts_with link needs a reason, and only a reverts_with link takes one")
        return self


class RoleCheck(Frozen):
    """One role of a venue: its address (configured, or what a call on another role returns) and expected code."""

    address: str | ViewCall
    code: CodeExpectation


class VenueChecks(Frozen):
    """How one venue's contracts are verified: its roles in the order they are judged, then its links.

    Every role a call or value names must be declared; a call that derives a role's address or is another call's
    argument must itself target a configured role and take only configured roles' addresses and constants.
    """

    roles: dict[str, RoleCheck]
    links: tuple[LinkCheck, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> VenueChecks:
        configured = {r for r, c in self.roles.items() if isinstance(c.address, str)}
        for call in self.all_calls():
            for arg in (call, *call.args):
                role = arg.role if isinstance(arg, RoleAddress | ViewCall) else None
                if role is not None and role not in self.roles:
                    raise ValueError(f"{call.label} names role {role!r}, which is not declared")
        for call in self.first_round_calls():
            roles = {call.role} | {a.role for a in call.args if isinstance(a, RoleAddress)}
            if any(isinstance(a, ViewCall) for a in call.args) or not roles <= configured:
                raise ValueError(f"{call.role}.{call.label} is read first, so it may use configured roles only")
        return self

    def all_calls(self) -> Iterator[ViewCall]:
        """Every call the checks make (role derivations, link calls and values, and their arguments)."""
        for check in self.roles.values():
            if isinstance(check.address, ViewCall):
                yield from check.address.calls()
        for link in self.links:
            yield from link.call.calls()
            if isinstance(link.value, ViewCall):
                yield from link.value.calls()

    def first_round_calls(self) -> Iterator[ViewCall]:
        """Calls the verifier needs before the others: role derivations and other calls' arguments."""
        for check in self.roles.values():
            if isinstance(check.address, ViewCall):
                yield check.address
        for call in self.all_calls():
            yield from (a for a in call.args if isinstance(a, ViewCall))


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

    def verification(self, venue: VenueEntry) -> VenueChecks:
        """Per role the code expected at its address and the links between roles, from the config alone; every
        address :meth:`contracts` names must be one of its configured roles."""
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
class LensVenueReader(Protocol):
    """The member behind :attr:`Capability.LENS_READS`."""

    def lens_stages(self, chain: ChainContext, venues: Sequence[VenueEntry]) -> tuple[Stages, Sequence[Walk]]:
        """A staged reader to drive with the lens (it predicts no calls from earlier reads: the walks read the
        window) and the walks whose answers its later rounds need."""
        ...


class LensStagedReader(StagedVenueReader, LensVenueReader, Protocol):
    """A venue adapter with both reads (:attr:`Capability.STAGED_READS` and :attr:`Capability.LENS_READS`)."""


def read_staged(reader: LensStagedReader, chain: ChainContext, venues: Sequence[VenueEntry],
                block: int) -> list[VenueState]:
    """``read`` of such an adapter: every venue at ``block`` in one round trip through the read lens where the chain
    allows it, else through the adapter's staged multicall rounds.

    Usage::

        def read(self, chain, venues, block): return read_staged(self, chain, venues, block)
    """
    if not venues:
        return []
    if chain.read_lens and lens_usable(chain.w3):
        stages, walks = reader.lens_stages(chain, venues)
        _, [states] = run_stages(chain.w3, [stages], block, chain.multicall, chain.name, walks=walks,
                                 lens_gas=chain.lens_gas)
    else:
        _, [states] = run_stages(chain.w3, [reader.read_stages(chain, venues)], block, chain.multicall, chain.name)
    return list(states)


@runtime_checkable
class PoolStateVenue(Protocol):
    """The members behind :attr:`Capability.POOL_STATE`."""

    def save_state(self, chain: ChainContext, venues: Sequence[VenueEntry], block: int) -> list[PoolState]:
        """Every given venue's whole state at ``block`` (all its liquidity: no window), as recorded pool states."""
        ...

    def quote_pool_state(self, record: PoolState, side: Side, amount_in: int) -> SwapQuote:
        """An exact-in quote from a recorded state of this adapter's protocol, partial fills included."""
        ...


@runtime_checkable
class Permit2Venue(Protocol):
    """The members behind :attr:`Capability.PERMIT2`: a venue whose router takes the swap's input through Permit2.

    Its ``contracts().spender`` is Permit2 (the exact ERC20 approval goes there), and the swap itself carries a
    ``PermitSingle`` letting the router pull exactly ``amount_in`` until the swap's deadline. The orchestrator asks
    for the permit, reads the nonce and has the lane's signer sign it, then builds the swap with it; a fee-bump
    replacement re-signs the same transaction, never a new permit.
    """

    def permit_request(self, state: VenueState, side: Side, amount_in: int, deadline: int) -> PermitRequest:
        """The permit the swap needs: token in, the router as spender, exactly ``amount_in``, expiring (and its
        signature due) at ``deadline``."""
        ...

    def build_permit_swap(
        self, state: VenueState, side: Side, amount_in: int, min_amount_out: int, recipient: str, deadline: int,
        permit: SignedPermit,
    ) -> TxRequest:
        """:meth:`VenueAdapter.build_swap` with ``permit`` (signed by the swap's sender) carried in the call."""
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


@runtime_checkable
class TransferAdapter(Protocol):
    """A bridge: moves a token from the wallet on one chain to the same wallet on another (``kind = "transfer"``).

    One instance serves every route of its type. Its config is a section per chain (``chains.<chain>.transfers``);
    a route is two chains' sections of the same adapter and a token both configure (:class:`TransferRoute`). The
    quote comes from the config alone (the bridge's published fee schedule), so planning needs no round trip; the
    deposit is one origin transaction (after an exact approval of ``contracts().spender``); the fill and a refund
    are found in the chains' logs.
    """

    name: ClassVar[str]
    kind: ClassVar[Literal["transfer"]]
    config_model: ClassVar[type[BaseModel]]

    def contracts(self, entry: TransferEntry) -> VenueContracts:
        """The approval spender and every contract the adapter calls or reads on ``entry``'s chain."""
        ...

    def verification(self, entry: TransferEntry) -> VenueChecks:
        """Per role the code expected at its address and the links between roles, from the config alone."""
        ...

    def tokens(self, entry: TransferEntry) -> tuple[str, ...]:
        """The token symbols this chain's section bridges (a route needs the symbol on both ends)."""
        ...

    def quote(self, route: TransferRoute, amount_in: int) -> TransferQuote:
        """What the destination receives for ``amount_in`` raw units, the fee, gas and expected latency."""
        ...

    def build_deposit(self, route: TransferRoute, quote: TransferQuote, depositor: str, recipient: str,
                      quote_timestamp: int, fill_deadline: int) -> TxRequest:
        """The origin's deposit call for ``quote`` (its output amount and ``fill_deadline``), not yet signed."""
        ...

    def parse_deposit(self, route: TransferRoute, receipt: Mapping[str, Any]) -> Deposit:
        """Decode the deposit event in a mined origin receipt (AdapterError when it reverted or has none)."""
        ...

    def fill_status(self, chain: ChainContext, route: TransferRoute, deposit: Deposit, block: int) -> FillStatus:
        """The destination's record of ``deposit`` at ``block`` (``chain`` is the destination)."""
        ...

    def find_fill(self, chain: ChainContext, route: TransferRoute, deposit: Deposit, from_block: int,
                  to_block: int) -> RelayFill | None:
        """The destination's fill of ``deposit`` between the blocks (``chain`` is the destination), if any."""
        ...

    def find_refund(self, chain: ChainContext, route: TransferRoute, deposit: Deposit, from_block: int,
                    to_block: int) -> Refund | None:
        """The origin's refund of an expired ``deposit`` to its depositor between the blocks, if any."""
        ...


@runtime_checkable
class PerpAdapter(Protocol):
    """A perpetual-futures venue (``kind = "perp"``): market orders on a vAMM, margin in a Vault (adapters.perps).

    One instance serves every market of its type. Its config is a section per market (``chains.<chain>.perps``).
    The read is pinned to a block and returns the market (prices, funding, fees, margin ratios, the vAMM's exact
    state and curves) with the wallet's account in it; a quote replays the venue's trade to the wei from that state
    alone; trades, deposits and withdrawals are one call each (a deposit after an exact approval of
    ``contracts().spender``, the Vault); fills are the ClearingHouse's PositionChanged events of a receipt.
    """

    name: ClassVar[str]
    kind: ClassVar[Literal["perp"]]
    config_model: ClassVar[type[BaseModel]]

    def contracts(self, entry: PerpEntry) -> VenueContracts:
        """The collateral approval's spender (the Vault) and every contract the market calls or reads."""
        ...

    def verification(self, entry: PerpEntry) -> VenueChecks:
        """Per role the code expected at its address and the links between roles, from the config alone."""
        ...

    def tokens(self, entry: PerpEntry) -> tuple[str, ...]:
        """The configured token symbols the market uses (its collateral), which the chain must configure."""
        ...

    def underlying(self, entry: PerpEntry) -> str:
        """What one base unit of the market tracks (ETH), from the config alone: the risk it carries."""
        ...

    def read(self, chain: ChainContext, markets: Sequence[PerpEntry], block: int) -> list[PerpMarketState]:
        """Every given market on one chain with the wallet's account (``chain.extras["wallet"]``), pinned to
        ``block``, in a bounded number of round trips (HeadMovedError when the node answered at another block)."""
        ...

    def quote(self, state: PerpMarketState, side: Side, base_amount: int) -> PerpQuote:
        """The exact result of a market order of ``base_amount`` raw base units, from ``state`` alone."""
        ...

    def build_open(self, state: PerpMarketState, side: Side, amount: int, opposite_amount_bound: int,
                   deadline: int) -> TxRequest:
        """The order of ``amount`` raw base units with its bound on the quote side (the least received for SELL,
        the most paid for BUY) and ``deadline``, not yet signed."""
        ...

    def build_close(self, state: PerpMarketState, opposite_amount_bound: int, deadline: int) -> TxRequest:
        """The order that flattens the account's position in the market, with its quote-side bound."""
        ...

    def build_deposit(self, entry: PerpEntry, token: str, amount_raw: int) -> TxRequest:
        """Deposit ``amount_raw`` of collateral ``token`` (an address) into the Vault."""
        ...

    def build_withdraw(self, entry: PerpEntry, token: str, amount_raw: int) -> TxRequest:
        """Withdraw ``amount_raw`` of collateral ``token`` from the Vault to the sender."""
        ...

    def parse_fills(self, market: PerpMarketState | PerpEntry, receipt: Mapping[str, Any]) -> list[PerpFill]:
        """The market's PositionChanged events in a mined receipt (AdapterError when it reverted)."""
        ...

    def position(self, state: PerpMarketState) -> PerpPosition:
        """The account's position in the market as read (AdapterError when the read had no account)."""
        ...


Adapter = VenueAdapter | PositionSource | TransferAdapter | PerpAdapter

#: Members each kind must define; the registry checks these at load and lists what is missing.
REQUIRED_MEMBERS: dict[str, tuple[str, ...]] = {
    "venue": ("name", "kind", "config_model", "capabilities", "contracts", "verification", "read", "quote",
              "build_swap", "parse_receipt"),
    "positions": ("name", "kind", "config_model", "scope", "read_positions"),
    "transfer": ("name", "kind", "config_model", "contracts", "verification", "tokens", "quote", "build_deposit",
                 "parse_deposit", "fill_status", "find_fill", "find_refund"),
    "perp": ("name", "kind", "config_model", "contracts", "verification", "tokens", "underlying", "read", "quote",
             "build_open",
             "build_close", "build_deposit", "build_withdraw", "parse_fills", "position"),
}
#: Attributes (not methods) among REQUIRED_MEMBERS.
DECLARED_ATTRIBUTES = frozenset({"name", "kind", "config_model", "capabilities", "scope"})
#: The members each capability adds.
CAPABILITY_MEMBERS: dict[Capability, tuple[str, ...]] = {
    Capability.STAGED_READS: ("read_stages",),
    Capability.LENS_READS: ("read_stages", "lens_stages"),
    Capability.POOL_STATE: ("save_state", "quote_pool_state"),
    Capability.PERMIT2: ("permit_request", "build_permit_swap"),
}

__all__ = [
    "ANY_CODE",
    "CAPABILITY_MEMBERS",
    "DECLARED_ATTRIBUTES",
    "REQUIRED_MEMBERS",
    "Adapter",
    "Capability",
    "CodeExpectation",
    "Const",
    "LensStagedReader",
    "LensVenueReader",
    "LinkCheck",
    "LinkKind",
    "Operand",
    "Permit2Venue",
    "PerpAdapter",
    "PoolStateVenue",
    "PositionScope",
    "PositionSource",
    "RoleAddress",
    "RoleCheck",
    "StagedVenueReader",
    "TransferAdapter",
    "VenueAdapter",
    "VenueChecks",
    "VenueContracts",
    "ViewCall",
    "code_keccak",
    "immutable_slots",
    "masked_keccak",
    "read_staged",
]
