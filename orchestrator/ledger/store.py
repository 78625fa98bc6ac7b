"""The ledger: every run and trade intent, its state machine and its signed transactions, in Redis.

Every transition is one atomic Lua script (orchestrator.ledger.scripts) that checks the current state, so two
deliveries of the same Celery message cannot both sign: the second sees ``signed`` and re-uses the stored bytes.
Write-ahead: the signed raw transaction and its hash are stored *before* broadcast (``record_signed`` /
``add_attempt``), so after any crash the intent is resolved by re-broadcasting those bytes or by nonce and hash.
Raw transactions are kept in a separate key, never in the records :meth:`Ledger.intent` returns, so they do not
end up in logs or CLI output by accident. Nonces are allocated per sending account by the ledger and recorded, so
they stay contiguous. Writers on a lane hold a fenced :class:`Lease`; a writer whose lease lapsed cannot write.

This class is the only code that talks to the Redis client: everything else reads and writes through its methods,
which return pydantic models. A Redis that cannot be reached raises :class:`LedgerUnavailableError` (retryable).

:class:`Ledger` is composed of one book per concern, each in its own module over the shared client, key space and
scripts of orchestrator.ledger.core: runs (runs, stage outputs, events), intents, nonces, leases, notional (the
rolling caps), halts (the kill switch and lane halts), memory (last-known values), latency (task histograms)
and transfers (bridge deposits in flight).

Usage::

    ledger = Ledger(redis_client(url), prefix="ch")
    ledger.create_run("r-20250101T000000", kind="manual")
    ledger.add_intents(run_id, [intent, ...])
    nonce = ledger.allocate_nonce(intent.id, intent.nonce_sequence, chain_pending_nonce)
    ledger.record_signed(intent.id, raw_hex, attempt, tx_fields)   # then broadcast
"""

from __future__ import annotations

from orchestrator.ledger.halts import HaltBook
from orchestrator.ledger.intents import IntentBook
from orchestrator.ledger.latency import LatencyBook
from orchestrator.ledger.leases import LeaseBook
from orchestrator.ledger.memory import MemoryBook
from orchestrator.ledger.nonces import NonceBook
from orchestrator.ledger.notional import NotionalBook
from orchestrator.ledger.runs import RunBook
from orchestrator.ledger.transfers import TransferBook


class Ledger(RunBook, IntentBook, NonceBook, LeaseBook, NotionalBook, HaltBook, MemoryBook, LatencyBook,
             TransferBook):
    """Runs, intents, nonces, leases, limits and the kill switch in one Redis database.

    Each book is one concern over the shared client and key space (orchestrator.ledger.core); the ledger is all
    of them at once, so callers hold one object with every method and one constructor.

    Usage: ``ledger = Ledger(redis_client(url)); ledger.intent(intent_id).state``
    """


__all__ = ["Ledger"]
