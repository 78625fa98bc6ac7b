"""The ledger: runs, intents and their state machines, signed attempts, nonces, leases, limits, the kill switch,
bridge transfers in flight.

Only :class:`Ledger` talks to Redis; it returns the pydantic models of :mod:`orchestrator.ledger.models`.

Usage::

    from orchestrator.ledger import Ledger, IntentState
    ledger = Ledger(redis_client(url), prefix="ch")
"""

from orchestrator.ledger.core import LedgerObserver
from orchestrator.ledger.latency import LATENCY_BUCKETS
from orchestrator.ledger.models import (
    INTENT_TRANSITIONS,
    LANDED_INTENT_STATES,
    RUN_PROGRESS,
    RUN_TRANSITIONS,
    TERMINAL_INTENT_STATES,
    TERMINAL_RUN_STATES,
    Attempt,
    Intent,
    IntentKind,
    IntentRecord,
    IntentState,
    Lease,
    ReceiptInfo,
    RunEvent,
    RunRecord,
    RunState,
    TaskLatency,
    Transition,
    TxFields,
    fields_of,
    lane_name,
)
from orchestrator.ledger.store import Ledger
from orchestrator.ledger.transfers import (
    OPEN_TRANSFER_STATES,
    TRANSFER_TRANSITIONS,
    TransferRecord,
    TransferState,
)

__all__ = [
    "INTENT_TRANSITIONS",
    "LANDED_INTENT_STATES",
    "LATENCY_BUCKETS",
    "OPEN_TRANSFER_STATES",
    "RUN_PROGRESS",
    "RUN_TRANSITIONS",
    "TERMINAL_INTENT_STATES",
    "TERMINAL_RUN_STATES",
    "TRANSFER_TRANSITIONS",
    "Attempt",
    "Intent",
    "IntentKind",
    "IntentRecord",
    "IntentState",
    "Lease",
    "Ledger",
    "LedgerObserver",
    "ReceiptInfo",
    "RunEvent",
    "RunRecord",
    "RunState",
    "TaskLatency",
    "TransferRecord",
    "TransferState",
    "Transition",
    "TxFields",
    "fields_of",
    "lane_name",
]
