"""What a process needs to run stages: config, ledger, adapters, chain connections and signers, built once.

A :class:`RunContext` lives for a worker process (or a CLI command); stages get it passed in and never build
connections or unlock keys themselves. Nothing in it is ever serialised: tasks carry ids, not contexts.

Usage::

    ctx = open_context(resolve_config(None))
    lane = ctx.lane("base")      # connection, signer, allowlist and limits for one (chain, wallet) lane
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from web3 import Web3

from adapters import AdapterRegistry, ChainContext, default_registry, make_web3
from adapters import connect as connect_chain
from crosshedge.config import Config, ExecutionSettings
from orchestrator.lane import Lane
from orchestrator.ledger import Ledger
from orchestrator.metrics import MetricsObserver
from orchestrator.redis_server import embedded_identity, redis_client, resolve_redis_url
from orchestrator.signer import PasswordPrompt, WalletSigner, load_signer
from orchestrator.snapshot import chain_context
from orchestrator.verification import ContractVerifier, Verifiable


@dataclass
class RunContext:
    """Per-process resources: config, ledger, adapters, chain connections and signers (cached, never shipped)."""

    config: Config
    ledger: Ledger
    registry: AdapterRegistry = field(default_factory=default_registry)
    prompt: PasswordPrompt | None = None
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    verifier: ContractVerifier = field(default_factory=ContractVerifier)  # one per process: its cache is shared
    _w3: dict[str, Web3] = field(default_factory=dict, repr=False)
    _signers: dict[str, WalletSigner] = field(default_factory=dict, repr=False)

    @property
    def execution(self) -> ExecutionSettings:
        return self.config.raw.execution

    def chains(self) -> list[str]:
        return list(self.config.chains)

    def w3(self, chain: str) -> Web3:
        """A chain-id-checked connection (RpcError / ChainMismatchError naming the chain)."""
        if chain not in self._w3:
            self._w3[chain] = connect_chain(chain, self.config.chains[chain], timeout=self.execution.rpc_timeout_s)
        return self._w3[chain]

    def drop_connection(self, chain: str) -> None:
        self._w3.pop(chain, None)

    def add_signers(self, signers: dict[str, WalletSigner]) -> None:
        """Signers unlocked before the worker pool forked (so a keystore password is asked once, not per child)."""
        self._signers.update(signers)

    def signer(self, wallet: str) -> WalletSigner:
        if wallet not in self._signers:
            self._signers[wallet] = load_signer(wallet, self.config.wallets[wallet], self.prompt)
        return self._signers[wallet]

    def wallet_address(self, chain: str) -> str:
        return self.config.wallets[self.config.chains[chain].wallet].address

    def chain_context(self, chain: str, w3: Web3 | None = None) -> ChainContext:
        """What adapters may use for ``chain``: its Web3, tokens, multicall, wallet and contracts."""
        return chain_context(self.config, chain, w3 or self.w3(chain))

    def allowlist(self, chain: str, block: int | None = None) -> frozenset[str]:
        """The only contracts transactions on ``chain`` may call: what the enabled venues and bridge sections that
        verify at ``block`` (the run's snapshot block; the head when None) call (routers, SpokePools) and the
        configured tokens their pools hold (approvals). Never the config's word alone."""
        ctx = self.chain_context(chain)
        venues: list[Verifiable] = [v for v in self.config.venues_on(chain) if v.enabled]
        venues += [t for t in self.config.transfers_on(chain) if t.enabled]  # bridges' contracts (a SpokePool)
        venues += [p for p in self.config.perps_on(chain) if p.enabled]  # a perp's ClearingHouse and Vault
        at = int(ctx.w3.eth.block_number) if block is None else block
        return self.verifier.allowlist(self.config, self.registry, ctx, venues, at)

    def send_w3(self, chain: str) -> Web3 | None:
        """The chain's private submission endpoint (sends only), when one is configured."""
        url = self.config.chains[chain].private_rpc_url
        if url is None:
            return None
        key = f"{chain}#private"
        if key not in self._w3:
            self._w3[key] = make_web3(url, self.execution.rpc_timeout_s, chain_id=self.config.chains[chain].chain_id)
        return self._w3[key]

    def lane(self, chain: str, block: int | None = None) -> Lane:
        """The lane of ``chain``; its allowlist verified at ``block`` (see :meth:`allowlist`)."""
        settings = self.config.chains[chain]
        return Lane(chain=chain, settings=settings, w3=self.w3(chain), signer=self.signer(settings.wallet),
                    ledger=self.ledger, execution=self.execution, allowlist=self.allowlist(chain, block),
                    clock=self.clock, sleep=self.sleep, send_w3=self.send_w3(chain))


def open_ledger(config: Config, start_redis: bool = True) -> Ledger:
    """The ledger on the configured Redis (the embedded one is started unless ``start_redis`` is False)."""
    url = resolve_redis_url(config.redis_dir, start=start_redis)
    # The ledger refuses to act on a server other than the one that owns its directory (a stale one still answering).
    return Ledger(redis_client(url), prefix=config.raw.execution.key_prefix, expected_server=embedded_identity(url),
                  observer=MetricsObserver())


def open_context(config: Config, prompt: PasswordPrompt | None = None, start_redis: bool = True) -> RunContext:
    """A RunContext on the configured Redis (the embedded one is started unless ``start_redis`` is False).

    Usage: ``ctx = open_context(resolve_config(None))``
    """
    return RunContext(config=config, ledger=open_ledger(config, start_redis), prompt=prompt)


__all__ = ["RunContext", "open_context", "open_ledger"]
