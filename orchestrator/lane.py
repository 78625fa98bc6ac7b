"""One (chain, wallet) lane as the sender sees it, and what it needs from the venue side.

A :class:`Lane` carries the connection, the signer, the ledger and the limits for one nonce sequence, plus the
executor's fenced lease; :class:`Hooks` are the venue-side callbacks the execution stage injects, so the sender
knows no adapter. Neither is ever serialised.

Test hook: when ``CROSSHEDGE_TEST_CRASH_DIR`` is set, reaching crash point P while a file named P exists in that
directory deletes the file and SIGKILLs the current process (points: ``before_sign``, ``after_sign``,
``after_sign.<kind>`` (only after signing an intent of that kind, e.g. ``after_sign.deposit``), ``after_broadcast``,
``before_book``). Without that variable the hook does nothing.

Usage::

    lane = ctx.lane("base").with_lease(lease)
    lane.keep_lease()         # renew while working; LeaseLostError once another executor took the lane
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from web3 import Web3

from adapters import Deposit, Fill, PermitRequest, PerpFill, RpcBatch, SignedPermit, TxRequest
from crosshedge import ExecutionError, LeaseLostError
from crosshedge.config import ChainSettings, ExecutionSettings
from orchestrator.ledger import IntentRecord, Lease, Ledger
from orchestrator.signer import WalletSigner

CRASH_DIR_ENV = "CROSSHEDGE_TEST_CRASH_DIR"


def crash_point(name: str) -> None:
    """Test hook (see the module docstring): SIGKILL this process once at ``name`` when armed."""
    directory = os.environ.get(CRASH_DIR_ENV)
    if not directory:
        return
    marker = Path(directory) / name
    try:
        marker.unlink()
    except FileNotFoundError:
        return
    os.kill(os.getpid(), signal.SIGKILL)


class UnderpricedError(ExecutionError):
    """The node refuses the stored transaction because the base fee has overtaken its fee cap: replace it."""


@dataclass(frozen=True)
class SwapTerms:
    """A swap's limits as recomputed at signing time from a fresh read and the exact quote (never from the plan).

    ``min_amount_out`` is the larger of the plan's minimum and the fresh quote less the slippage tolerance;
    ``notional_usd`` is the trade's value at the fresh mid, what every cap is checked against.
    """

    min_amount_out: int
    expected_out: int
    notional_usd: float


@dataclass(frozen=True)
class Hooks:
    """What the sender needs from the venue side, injected by the execution stage (the sender knows no adapters).

    ``prepare_swap`` re-reads the venue and returns the swap's terms, raising CircuitBreakerError (price moved,
    a cap), StaleDataError (the plan is too old) or UnsafeTransactionError; it is called for an approval too (with
    the approval's record: it prepares the swap the approval is for), so nothing is approved for a swap that would
    be refused.
    """

    prepare_swap: Callable[[IntentRecord], SwapTerms]
    build_swap: Callable[[IntentRecord, SwapTerms, int], TxRequest]  # (intent, terms, deadline) -> unsigned call
    parse_fill: Callable[[IntentRecord, Mapping[str, Any]], Fill]
    # prepare_swap with its venue read riding in the sender's pre-signing batch (it sends the batch, with what the
    # sender put in it: one round trip for both). None: the sender sends its batch and calls prepare_swap.
    prepare_swap_in: Callable[[IntentRecord, RpcBatch], SwapTerms] | None = None
    # Venues whose router pulls through Permit2 (adapters' Capability.PERMIT2): the permit a swap needs, given its
    # deadline (None: the venue needs none, build_swap builds it), and the swap built with the permit the lane's
    # signer signed (orchestrator.permits). None: no venue of the run needs one.
    permit_request: Callable[[IntentRecord, int], PermitRequest | None] | None = None
    build_permit_swap: Callable[[IntentRecord, SwapTerms, int, SignedPermit], TxRequest] | None = None
    # Bridge deposits (a transfer adapter's): the deposit call for (intent, quote timestamp: the chain head's time,
    # its fill deadline follows from the route), and its event decoded from the receipt. None: the run has none.
    build_deposit: Callable[[IntentRecord, int], TxRequest] | None = None
    parse_deposit: Callable[[IntentRecord, Mapping[str, Any]], Deposit] | None = None
    # Perps (a perp adapter's market): the order built on the read its terms came from, with their bound and the
    # deadline; the margin deposit into the Vault; the order's PositionChanged fills decoded from its receipt.
    build_perp_order: Callable[[IntentRecord, SwapTerms, int], TxRequest] | None = None
    build_perp_deposit: Callable[[IntentRecord], TxRequest] | None = None
    parse_perp_fills: Callable[[IntentRecord, Mapping[str, Any]], tuple[PerpFill, ...]] | None = None


@dataclass(frozen=True)
class Lane:
    """Everything needed to execute on one (chain, wallet) lane. Built per task from config; never serialized."""

    chain: str
    settings: ChainSettings
    w3: Web3
    signer: WalletSigner
    ledger: Ledger
    execution: ExecutionSettings
    allowlist: frozenset[str]  # checksum addresses of routers and tokens from the config
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    lease: Lease | None = None  # the executor's fenced hold on this lane; every write carries it
    # Where signed transactions are sent: the chain's private submission endpoint when configured (a relay that
    # keeps them out of the public mempool, against sandwiches), else the same connection as reads.
    send_w3: Web3 | None = None
    _renewed: list[float] = field(default_factory=lambda: [time.monotonic()], compare=False, repr=False)

    @property
    def name(self) -> str:
        return f"{self.chain}.{self.signer.name}"

    @property
    def sender(self) -> Web3:
        return self.send_w3 or self.w3

    def with_lease(self, lease: Lease) -> Lane:
        return replace(self, lease=lease, _renewed=[time.monotonic()])

    def allocate_nonce(self, intent_id: str, sequence: str, chain_pending_nonce: int) -> int:
        """The intent's nonce from the ledger, the lease renewed in the same round trip (it must outlive the
        signature and its write-ahead); LeaseLostError once another executor took the lane."""
        nonce = self.ledger.allocate_nonce(intent_id, sequence, chain_pending_nonce, lease=self.lease, renew=True)
        self._renewed[0] = time.monotonic()
        return nonce

    def keep_lease(self, force: bool = False) -> None:
        """Renew the lane's lease when a third of its TTL has passed (or ``force``); LeaseLostError when it lapsed
        or another executor took over (this executor must stop writing)."""
        if self.lease is None:
            return
        now = time.monotonic()
        if not force and now - self._renewed[0] < self.lease.ttl_ms / 3000:
            return
        if not self.ledger.renew(self.lease):
            raise LeaseLostError(f"lane {self.name}: the lane's lease lapsed and is no longer this executor's")
        self._renewed[0] = now


__all__ = ["CRASH_DIR_ENV", "Hooks", "Lane", "SwapTerms", "UnderpricedError", "crash_point"]
