"""Contracts are verified, not trusted: before a venue is read for a plan or called by a transaction, every address
it names must hold the code its adapter expects, linked to the others as the protocol links them.

Each venue adapter declares its checks (:meth:`adapters.VenueAdapter.verification`): per role (router, pool,
quoter, the factory and tokens derived from the pool, ...) the code expected, and the links between roles. For
every role the verifier requires, at one pinned block:

1. code at the address (none: "an account, not a contract");
2. the expected code: the chain's ``code_hashes`` entry for the address when there is one (keccak256 of the exact
   runtime code: it pins that deployment and wins), else the npm artifact's runtime code with its immutables
   masked, else (tokens) any code;
3. every link: a call returns what it must (``router.factory() == pool.factory()``, ``factory.getPool(token0,
   token1, fee) == pool``, the pool's tokens are configured tokens, the router's WETH9 is the configured wrapped
   native token) or reverts as only the expected kind of contract does (a pinned hash says which code is at an
   address, not what role it may play: the probes tell a router from a quoter even then).

A venue failing any of them is refused on its own with one sentence naming chain, venue, role and address (the
first problem found: roles in the adapter's order, then links); the others stay usable. The chain's multicall is
verified too (UniswapInterfaceMulticall): if it fails, every venue on the chain is refused, since reads and link
checks go through it.

Cost: at most two round trips per chain, whatever the number of venues. Round one is ONE JSON-RPC batch pinned to
the block: eth_getCode of every configured address not in the cache (and the multicall's), with the plain
eth_calls the second round needs as arguments or to find derived roles (the pool's factory, token0, token1, fee).
Round two is ONE JSON-RPC batch: eth_getCode of the derived addresses (no config names them, so they cannot be
asked for sooner) and ONE eth_call of the chain's multicall holding every link call. What was read (code, call
results) is cached per chain and address with the block it was read at and holds up to ``reverify_after_s``
later (one hour by default: 300 blocks on Ethereum, 14,400 on Arbitrum, 1,800 on Base, from each chain's
``block_time_s``); a verification at a block older than a cached read reads again. So a snapshot after the first
costs no round trip. A verdict is judged from the cached facts and the current config object (a ``code_hashes``
edit applies at once) and holds for the block range where all its facts hold, until a read changes them: the
snapshots and lanes that follow reuse it without judging again. An RPC failure raises :class:`RpcError`
(retryable), never a verdict.

What it cannot see: a proxy's implementation (the code at a proxy token's address is the proxy's), and code that
changes within ``reverify_after_s`` (under EIP-6780 only a contract created and destroyed in one transaction can).

Usage::

    verifier = ContractVerifier()
    refused = verifier.verify(config, registry, ctx, config.venues_on("base"), block)
    usable = [v for v in venues if v.name not in refused]
    allowed = verifier.allowlist(config, registry, ctx, venues, block)  # routers and tokens of verified venues
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from web3 import Web3
from web3.types import RPCEndpoint

from adapters import (
    ANY_CODE,
    AdapterRegistry,
    Call,
    CallResult,
    ChainContext,
    CodeExpectation,
    Const,
    LinkCheck,
    LinkKind,
    PerpEntry,
    RoleAddress,
    RoleCheck,
    TransferEntry,
    VenueChecks,
    VenueContracts,
    VenueEntry,
    ViewCall,
    checksum_address,
    code_keccak,
    decode,
    encode_call,
    encode_multicall,
    multicall_code,
)
from crosshedge import CrosshedgeError
from crosshedge.config import Config
from orchestrator.verification_reads import call_result, code_of, hex_data, multicall_results, verification_batch

#: What the verifier checks: a venue, a bridge's section or a perp market on the chain (each declares contracts and
#: checks).
Verifiable = VenueEntry | TransferEntry | PerpEntry

#: How long a read of code or of a link call holds before it is read again (see the module docstring).
DEFAULT_REVERIFY_AFTER_S = 3600.0
#: Gas each link call may use inside the multicall: far above a view call or a deadline probe's revert.
LINK_CALL_GAS = 300_000
_ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)

Key = tuple[str, bytes]  # (lower-case target, calldata): one call's identity
_MEMO_SIZE = 64


@dataclass
class _Facts:
    """What was read on one chain: code by lower-case address and call results by key, with the block read at;
    ``generation`` counts the reads stored (a verdict judged from these facts holds while it is unchanged)."""

    codes: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    calls: dict[Key, tuple[int, CallResult]] = field(default_factory=dict)
    generation: int = 0


@dataclass(frozen=True)
class _Verdict:
    """A judgement and the blocks it holds for: those where every fact it saw holds, while no read changed them."""

    config: Config  # held, so that its id (part of the memo's key) stays its own
    registry: AdapterRegistry
    generation: int
    first: int  # the latest block any of its facts was read at
    last: int  # the first block at which one of its facts expires, less one
    refused: dict[str, str]
    resolved: dict[str, dict[str, str]]


@dataclass
class _View:
    """One verification's facts: the cached ones that hold at its block, plus what it reads itself."""

    codes: dict[str, bytes]
    calls: dict[Key, CallResult]


class ContractVerifier:
    """Verifies venues' contracts on chain and caches what it read (see the module docstring). Thread-safe: the
    snapshot may verify its chains in parallel."""

    def __init__(self, reverify_after_s: float = DEFAULT_REVERIFY_AFTER_S) -> None:
        if reverify_after_s <= 0:
            raise ValueError(f"reverify_after_s must be positive, got {reverify_after_s}")
        self.reverify_after_s = reverify_after_s
        self._facts: dict[tuple[str, int], _Facts] = {}
        self._verdicts: dict[tuple[Any, ...], _Verdict] = {}  # insertion-ordered: the oldest leaves first
        self._lock = threading.Lock()

    def horizon(self, config: Config, chain: str) -> int:
        """Blocks a read on ``chain`` holds for: ``reverify_after_s`` in the chain's blocks (at least one)."""
        return max(1, int(self.reverify_after_s / config.chains[chain].block_time_s))

    def verify(
        self, config: Config, registry: AdapterRegistry, chain: ChainContext, venues: Sequence[Verifiable],
        block: int,
    ) -> dict[str, str]:
        """The venues of ``venues`` (all on ``chain``) that fail verification at ``block``: name -> sentence."""
        refused, _ = self._run(config, registry, chain, venues, block)
        return refused

    def allowlist(
        self, config: Config, registry: AdapterRegistry, chain: ChainContext, venues: Sequence[Verifiable],
        block: int,
    ) -> frozenset[str]:
        """The only contracts transactions on ``chain`` may call: what each verified venue's transactions call
        (``contracts(venue).called``: its router) and the configured tokens among its roles (approvals)."""
        refused, resolved = self._run(config, registry, chain, venues, block)
        tokens = {a.lower(): a for a in chain.tokens}
        out: set[str] = set()
        for venue in venues:
            if venue.name not in refused:
                called = _contracts_of(registry, venue).called.values()
                out.update(checksum_address(a) for a in called)
                out.update(tokens[a.lower()] for a in resolved[venue.name].values() if a.lower() in tokens)
                # A deposit approves the bridge for a token it bridges; a perp's Vault, for its collateral.
                used: set[str] = set()
                if isinstance(venue, TransferEntry):
                    used = set(registry.transfer(venue.adapter).tokens(venue))
                elif isinstance(venue, PerpEntry):
                    used = set(registry.perp(venue.adapter).tokens(venue))
                out.update(a for a, t in chain.tokens.items() if t.symbol in used)
        return frozenset(out)

    def _run(
        self, config: Config, registry: AdapterRegistry, chain: ChainContext, venues: Sequence[Verifiable],
        block: int,
    ) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
        """(refusals by venue, each verified venue's role addresses). A verdict is a function of the facts that hold
        at the block and the config: it is judged again only when a fact it saw expires, a read adds or replaces
        one, the block is before one of them was read, or the config object is another (an edit)."""
        key = (chain.name, chain.chain_id, id(config), id(registry), tuple(v.name for v in venues))
        with self._lock:
            memo = self._verdicts.get(key)
            generation = self._facts.setdefault((chain.name, chain.chain_id), _Facts()).generation
        if (memo is None or memo.config is not config or memo.registry is not registry
                or memo.generation != generation or not memo.first <= block <= memo.last):
            refused, resolved, view = self._judge_all(config, registry, chain, venues, block)
            memo = self._remember(key, config, registry, chain, view, refused, resolved)
        return dict(memo.refused), {name: dict(roles) for name, roles in memo.resolved.items()}

    def _remember(self, key: tuple[Any, ...], config: Config, registry: AdapterRegistry, chain: ChainContext,
                  view: _View, refused: dict[str, str], resolved: dict[str, dict[str, str]]) -> _Verdict:
        """The verdict with the blocks it holds for (from the facts its view saw, as cached now)."""
        horizon = self.horizon(config, chain.name)
        with self._lock:
            facts = self._facts[(chain.name, chain.chain_id)]
            seen = [facts.codes.get(a) for a in view.codes] + [facts.calls.get(k) for k in view.calls]
            blocks = [f[0] for f in seen if f is not None]
            first, last = max(blocks, default=0), min(blocks, default=2**63) + horizon
            if any(f is None for f in seen):  # a fact left the cache meanwhile: this verdict is not kept
                first, last = 1, 0
            verdict = _Verdict(config, registry, facts.generation, first, last, refused, resolved)
            self._verdicts.pop(key, None)
            self._verdicts[key] = verdict
            while len(self._verdicts) > _MEMO_SIZE:
                del self._verdicts[next(iter(self._verdicts))]
        return verdict

    def _judge_all(
        self, config: Config, registry: AdapterRegistry, chain: ChainContext, venues: Sequence[Verifiable],
        block: int,
    ) -> tuple[dict[str, str], dict[str, dict[str, str]], _View]:
        refused: dict[str, str] = {}
        plans: dict[str, VenueChecks] = {}
        for venue in venues:
            try:
                plans[venue.name] = venue_checks(registry, venue)
            except (CrosshedgeError, ValueError) as exc:
                refused[venue.name] = f"chain {chain.name}: venue {venue.name}: cannot be verified ({exc}); refused"
        view = self._cached(config, chain, block)
        self._read(chain, view, block, *_round_one(chain, list(plans.values()), view), via=None)
        problem = _multicall_problem(config, chain, view)
        if problem is not None:
            return refused | {name: f"chain {chain.name}: venue {name}: {problem}; refused" for name in plans}, {}, view
        self._read(chain, view, block, *_round_two(list(plans.values()), view), via=chain.multicall)
        judge = _Judge(chain, config, view)
        resolved: dict[str, dict[str, str]] = {}
        for name, checks in plans.items():
            problem, addresses = judge.venue(checks)
            if problem is not None:
                refused[name] = f"chain {chain.name}: venue {name}: {problem}; refused"
            else:
                resolved[name] = addresses
        return refused, resolved, view

    def _cached(self, config: Config, chain: ChainContext, block: int) -> _View:
        """The cached facts of ``chain`` that hold at ``block``; expired ones leave the cache."""
        horizon = self.horizon(config, chain.name)
        with self._lock:
            facts = self._facts.setdefault((chain.name, chain.chain_id), _Facts())
            facts.codes = {a: f for a, f in facts.codes.items() if f[0] + horizon >= block}
            facts.calls = {k: f for k, f in facts.calls.items() if f[0] + horizon >= block}
            return _View(codes={a: code for a, (at, code) in facts.codes.items() if at <= block},
                         calls={k: result for k, (at, result) in facts.calls.items() if at <= block})

    def _read(self, chain: ChainContext, view: _View, block: int, addresses: list[str], calls: list[Call],
              via: str | None) -> None:
        """ONE JSON-RPC batch at ``block``: eth_getCode of ``addresses`` and the ``calls`` (in ONE multicall
        eth_call through ``via`` when given, else one plain eth_call each); the answers join ``view`` and the
        cache."""
        if not addresses and not calls:
            return
        at = hex(block)
        requests: list[tuple[RPCEndpoint, Any]] = [(RPCEndpoint("eth_getCode"), [a, at]) for a in addresses]
        if via is not None and calls:
            requests.append((RPCEndpoint("eth_call"), [{"to": via, "data": hex_data(encode_multicall(calls))}, at]))
        else:
            requests += [(RPCEndpoint("eth_call"), [{"to": c.target, "data": hex_data(c.data)}, at]) for c in calls]
        responses = verification_batch(chain, requests, block)
        codes = {a: code_of(chain, a, r, block) for a, r in zip(addresses, responses, strict=False)}
        rest = responses[len(addresses):]
        results = (multicall_results(chain, rest[0], block, len(calls)) if via is not None and calls
                   else [call_result(r) for r in rest])
        answered = {(c.target.lower(), c.data): r for c, r in zip(calls, results, strict=True)}
        view.codes.update(codes)
        view.calls.update(answered)
        with self._lock:
            facts = self._facts.setdefault((chain.name, chain.chain_id), _Facts())
            facts.codes.update({a: (block, c) for a, c in codes.items()})
            facts.calls.update({k: (block, r) for k, r in answered.items()})
            facts.generation += 1


def _contracts_of(registry: AdapterRegistry, entry: Verifiable) -> VenueContracts:
    if isinstance(entry, TransferEntry):
        return registry.transfer(entry.adapter).contracts(entry)
    if isinstance(entry, PerpEntry):
        return registry.perp(entry.adapter).contracts(entry)
    return registry.venue(entry.adapter).contracts(entry)


def _verification_of(registry: AdapterRegistry, entry: Verifiable) -> VenueChecks:
    if isinstance(entry, TransferEntry):
        return registry.transfer(entry.adapter).verification(entry)
    if isinstance(entry, PerpEntry):
        return registry.perp(entry.adapter).verification(entry)
    return registry.venue(entry.adapter).verification(entry)


def venue_checks(registry: AdapterRegistry, venue: Verifiable) -> VenueChecks:
    """The adapter's checks of ``venue``, plus "any code" for an address its ``contracts`` names that the checks do
    not (the conformance suite refuses such an adapter; at run time such an address is at least never an account).
    """
    checks = _verification_of(registry, venue)
    covered = {c.address.lower() for c in checks.roles.values() if isinstance(c.address, str)}
    declared = _contracts_of(registry, venue)
    extra = {role: a for role, a in {**declared.called, **declared.read}.items() if a.lower() not in covered}
    if not extra:
        return checks
    unchecked = {f"{role} (named by contracts)": RoleCheck(address=a, code=ANY_CODE) for role, a in extra.items()}
    return checks.model_copy(update={"roles": dict(checks.roles) | unchecked})


# ---------------------------------------------------------------- what each round asks


def _round_one(chain: ChainContext, plans: list[VenueChecks], view: _View) -> tuple[list[str], list[Call]]:
    """Configured addresses (and the multicall) whose code is not known, and the first-round calls not known."""
    addresses = {c.address.lower() for p in plans for c in p.roles.values() if isinstance(c.address, str)}
    if chain.multicall is not None:
        addresses.add(chain.multicall.lower())
    calls: dict[Key, Call] = {}
    for checks in plans:
        resolver = _Resolver(checks, view)
        calls |= {key: Call(key[0], key[1], LINK_CALL_GAS) for call in checks.first_round_calls()
                  if (key := resolver.key(call)) is not None}
    return sorted(addresses - view.codes.keys()), [c for k, c in calls.items() if k not in view.calls]


def _round_two(plans: list[VenueChecks], view: _View) -> tuple[list[str], list[Call]]:
    """Derived addresses whose code is not known, and every call not known (the link calls)."""
    addresses: set[str] = set()
    calls: dict[Key, Call] = {}
    for checks in plans:
        resolver = _Resolver(checks, view)
        addresses |= {a for role, c in checks.roles.items()
                      if isinstance(c.address, ViewCall) and (a := resolver.address(role)) is not None}
        calls |= {key: Call(key[0], key[1], LINK_CALL_GAS) for call in checks.all_calls()
                  if (key := resolver.key(call)) is not None}
    return sorted(addresses - view.codes.keys()), [c for k, c in calls.items() if k not in view.calls]


# ---------------------------------------------------------------- judging


class _Resolver:
    """Role addresses (lower-case) and call values of one venue's checks, from what has been read so far.

    Answers are memoised: a resolver lives for one round or one judgement, while the facts do not change (and
    checksumming, which costs a keccak, happens only in sentences).
    """

    def __init__(self, checks: VenueChecks, view: _View) -> None:
        self.checks, self.view = checks, view
        self._addresses: dict[str, str | None] = {}
        self._keys: dict[int, Key | None] = {}

    def address(self, role: str) -> str | None:
        """The role's lower-case address: configured, or what its deriving call returned (None: unknown)."""
        if role not in self._addresses:
            where = self.checks.roles[role].address
            value = where if isinstance(where, str) else self.value(where)
            self._addresses[role] = value.lower() if isinstance(value, str) and len(value) == 42 else None
        return self._addresses[role]

    def key(self, call: ViewCall) -> Key | None:
        """The call's (target, calldata), None while its target or an argument is unknown."""
        if id(call) not in self._keys:
            self._keys[id(call)] = self._key(call)
        return self._keys[id(call)]

    def _key(self, call: ViewCall) -> Key | None:
        target = self.address(call.role)
        args = [self.operand(a) for a in call.args]
        if target is None or any(a is None for a in args):
            return None
        try:
            return target, encode_call(target, call.signature, *args).data
        except (TypeError, ValueError, OverflowError):  # eth_abi refuses a value: the call cannot be made
            return None

    def result(self, call: ViewCall) -> CallResult | None:
        key = self.key(call)
        return None if key is None else self.view.calls.get(key)

    def value(self, call: ViewCall) -> Any | None:
        """The call's decoded return value (None: not read, reverted or not a ``returns``)."""
        result = self.result(call)
        if result is None or not result.success:
            return None
        try:
            (value,) = decode((call.returns,), result.data)
        except ValueError:
            return None
        return value

    def operand(self, operand: RoleAddress | Const | ViewCall) -> Any | None:
        if isinstance(operand, RoleAddress):
            return self.address(operand.role)
        if isinstance(operand, Const):
            return operand.value
        return self.value(operand)


class _Judge:
    """Verdicts of venues on one chain from a verification's facts and the current config."""

    def __init__(self, chain: ChainContext, config: Config, view: _View) -> None:
        settings = config.chains[chain.name]
        self.view = view
        self.pinned = _pinned(config, chain.name)
        self.tokens = {a.lower(): t for a, t in chain.tokens.items()}
        self.native = [t for t in chain.tokens.values() if t.underlying == settings.gas.native_underlying]

    def venue(self, checks: VenueChecks) -> tuple[str | None, dict[str, str]]:
        """(the first problem, or None; the role addresses, lower-case)."""
        resolver = _Resolver(checks, self.view)
        addresses: dict[str, str] = {}
        for role, check in checks.roles.items():
            address = resolver.address(role)
            if address is None:
                assert isinstance(check.address, ViewCall)  # a configured address always resolves
                source = check.address
                return (f"{source.role} {_show(resolver.address(source.role))}: {source.label} returned no address, "
                        f"so its {role} is unknown"), {}
            addresses[role] = address
            code = self.view.codes.get(address, b"")
            problem = code_problem(role, address, code, check.code, self.pinned.get(address))
            if problem is not None:
                return problem, {}
        for link in checks.links:
            problem = self.link(link, resolver)
            if problem is not None:
                return problem, {}
        return None, addresses

    def link(self, link: LinkCheck, resolver: _Resolver) -> str | None:
        """Why ``link`` does not hold (None: it does), with its note."""
        problem = self._link_problem(link, resolver)
        return problem if problem is None or link.note is None else f"{problem} ({link.note})"

    def _link_problem(self, link: LinkCheck, resolver: _Resolver) -> str | None:
        def subject() -> str:  # checksumming costs a keccak: only for a sentence
            return f"{link.call.role} {_show(resolver.address(link.call.role))}: {link.call.label}"

        if link.expect is LinkKind.REVERTS_WITH:
            result = resolver.result(link.call)
            if result is not None and not result.success and _revert_reason(result.data) == link.reason:
                return None
            return f"{subject()} did not revert with '{link.reason}' {link.says}"
        got = resolver.value(link.call)
        if got is None:
            return f"{subject()} reverted or returned no {link.call.returns}; expected {link.says}"
        if link.expect is LinkKind.CONFIGURED_TOKEN:
            return None if str(got).lower() in self.tokens else f"{subject()} returned {_show(got)}, not {link.says}"
        if link.expect is LinkKind.NATIVE_TOKEN:
            if any(str(got).lower() == t.address.lower() for t in self.native):
                return None
            native = ", ".join(f"{t.symbol} {t.address}" for t in self.native) or "none is configured"
            return f"{subject()} returned {_show(got)}, not {link.says} ({native})"
        assert link.value is not None  # LinkCheck guarantees an equals link has its value
        want = resolver.operand(link.value)
        if want is None:
            return f"{subject()} cannot be compared with {link.says}, which did not answer"
        same = str(got).lower() == str(want).lower() if isinstance(got, str) else got == want
        return None if same else f"{subject()} returned {_show(got)}, not {link.says} {_show(want)}"


def code_problem(role: str, address: str, code: bytes, expected: CodeExpectation, pinned: str | None) -> str | None:
    """Why ``code`` at ``address`` is not what ``role`` needs (None: it is). A pinned hash wins over the artifact.

    Usage: ``code_problem("router", router, w3.eth.get_code(router), artifact_code("SwapRouter"), None)``
    """
    if not code:
        return f"{role} {_show(address)} has no code (an account, not a contract)"
    if pinned is not None:
        got = _exact_hash(code)
        if got == pinned:
            return None
        return f"{role} {_show(address)} has code keccak {got}, not the {pinned} in code_hashes"
    if expected.contract is None:
        return None
    if expected.code_hash is None:
        return (f"{role} {_show(address)} cannot be checked as {expected.contract}: {expected.unavailable}; "
                "pin its code hash in code_hashes")
    if _matches(code, expected):
        return None
    masked = f" with its immutables ({', '.join(expected.embeds)}) masked" if expected.embeds else ""
    return (f"{role} {_show(address)} is not a {expected.contract}: its code ({len(code)} bytes) differs from the "
            f"npm artifact's ({expected.size} bytes){masked}")


# Code is judged on every verification, mostly against the same few cached code blobs: hash each once.
@functools.lru_cache(maxsize=1024)
def _exact_hash(code: bytes) -> str:
    return code_keccak(code)


@functools.lru_cache(maxsize=1024)
def _matches(code: bytes, expected: CodeExpectation) -> bool:
    return expected.matches(code)


def _multicall_problem(config: Config, chain: ChainContext, view: _View) -> str | None:
    """Why the chain's multicall cannot be trusted with reads and link calls (None: it can, or there is none and
    link calls go as plain eth_calls)."""
    if chain.multicall is None:
        return None
    address = chain.multicall.lower()
    return code_problem("multicall", address, view.codes.get(address, b""), multicall_code(),
                        _pinned(config, chain.name).get(address))


def _show(value: Any) -> str:
    return Web3.to_checksum_address(value) if isinstance(value, str) and Web3.is_address(value) else repr(value)


def _revert_reason(data: bytes) -> str | None:
    if not data.startswith(_ERROR_SELECTOR):
        return None
    try:
        (reason,) = decode(("string",), data[4:])
    except ValueError:
        return None
    return str(reason)


def _pinned(config: Config, chain: str) -> dict[str, str]:
    """The chain's ``code_hashes`` by lower-case address, as lower-case 0x-prefixed hashes."""
    return {a.lower(): "0x" + h.lower().removeprefix("0x") for a, h in config.chains[chain].code_hashes.items()}


__all__ = ["DEFAULT_REVERIFY_AFTER_S", "LINK_CALL_GAS", "ContractVerifier", "code_problem", "venue_checks"]
