"""What the ledger records: runs, intents, their state machines, signed attempts, receipts, events and leases.

Intents move ``planned -> signed -> sent -> included -> confirmed | failed -> reconciled``: ``included`` means a
receipt was seen, ``confirmed`` / ``failed`` that it is buried under the chain's confirmation depth and still in
the canonical chain, and only then is its fill (or its gas) booked. A transaction reorganised out goes back from
``included`` to ``sent`` (once; its signed bytes are re-broadcast). ``planned -> skipped`` when the kill switch, a
circuit breaker, a dead chain or a failed run stops a trade before it is signed; ``planned -> failed`` when a trade
is refused before signing; ``sent -> failed`` when its nonce was taken by a transaction not in the ledger.

Runs move ``created -> snapshotted -> planned -> executing -> confirmed -> reconciled``, or end early in ``noop``
(nothing to do) or ``failed`` (with its sentence).

Usage::

    record = ledger.intent(intent_id)       # an IntentRecord
    record.state is IntentState.SENT
"""

from __future__ import annotations

from enum import StrEnum

from adapters import Deposit, Fill, PerpFill, Side
from crosshedge import Frozen


class IntentState(StrEnum):
    PLANNED = "planned"
    SIGNED = "signed"
    SENT = "sent"
    INCLUDED = "included"  # a receipt was seen; not booked until it is at the confirmation depth
    CONFIRMED = "confirmed"
    FAILED = "failed"
    SKIPPED = "skipped"
    RECONCILED = "reconciled"


class RunState(StrEnum):
    CREATED = "created"
    SNAPSHOTTED = "snapshotted"
    PLANNED = "planned"
    EXECUTING = "executing"
    CONFIRMED = "confirmed"
    RECONCILED = "reconciled"
    NOOP = "noop"  # the policy decided not to trade
    FAILED = "failed"  # ended before anything was signed, with its reason in ``error``


INTENT_TRANSITIONS: dict[IntentState, frozenset[IntentState]] = {
    IntentState.PLANNED: frozenset({IntentState.SIGNED, IntentState.SKIPPED, IntentState.FAILED}),
    IntentState.SIGNED: frozenset({IntentState.SENT}),
    IntentState.SENT: frozenset({IntentState.INCLUDED, IntentState.FAILED}),
    IntentState.INCLUDED: frozenset({IntentState.CONFIRMED, IntentState.FAILED, IntentState.SENT}),
    IntentState.CONFIRMED: frozenset({IntentState.RECONCILED}),
    IntentState.FAILED: frozenset({IntentState.RECONCILED}),
    IntentState.SKIPPED: frozenset(),
    IntentState.RECONCILED: frozenset(),
}
TERMINAL_INTENT_STATES = frozenset({IntentState.RECONCILED, IntentState.SKIPPED})
#: States after which an intent has nothing left to do on chain (it landed, failed, or was never signed).
LANDED_INTENT_STATES = frozenset({IntentState.CONFIRMED, IntentState.FAILED, IntentState.SKIPPED,
                                  IntentState.RECONCILED})

RUN_TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    RunState.CREATED: frozenset({RunState.SNAPSHOTTED, RunState.FAILED}),
    RunState.SNAPSHOTTED: frozenset({RunState.PLANNED, RunState.NOOP, RunState.FAILED}),
    RunState.PLANNED: frozenset({RunState.EXECUTING, RunState.FAILED}),
    RunState.EXECUTING: frozenset({RunState.CONFIRMED, RunState.FAILED}),  # failed: only with nothing landed
    RunState.CONFIRMED: frozenset({RunState.RECONCILED, RunState.FAILED}),
    RunState.RECONCILED: frozenset(),
    RunState.NOOP: frozenset(),
    RunState.FAILED: frozenset(),
}
TERMINAL_RUN_STATES = frozenset({RunState.RECONCILED, RunState.NOOP, RunState.FAILED})
#: How far along a run is: a stage that asks to move a run to a state it has already passed is a stale duplicate
#: delivery (its work was done by another), not an error.
RUN_PROGRESS: dict[RunState, int] = {
    RunState.CREATED: 0, RunState.SNAPSHOTTED: 1, RunState.PLANNED: 2, RunState.EXECUTING: 3, RunState.CONFIRMED: 4,
    RunState.RECONCILED: 5, RunState.NOOP: 5, RunState.FAILED: 5,
}


class IntentKind(StrEnum):
    APPROVE = "approve"
    SWAP = "swap"
    REVOKE = "revoke"  # approve(spender, 0) after a swap was skipped behind a landed approval: no allowance left
    NONCE_FILL = "nonce_fill"  # a zero-value self-transfer that fills a nonce gap left by a dropped transaction
    # A bridge deposit (a transfer adapter's deposit call, after an exact approval of its spender): the funds leave
    # this lane's chain and arrive on ``destination`` once a relayer fills it (orchestrator.ledger.transfers).
    DEPOSIT = "deposit"
    # Perps (a perp adapter's market): margin moved into the venue's Vault (after an exact approval of the Vault),
    # and a market order (``openPosition``) of ``amount_in_raw`` base units on ``side``, its quote-side bound
    # recomputed at signing from a fresh read (orchestrator.perp_terms). ``venue`` names the perp market. An order
    # with ``close`` set is the venue's ``closePosition`` instead (Intent.close).
    PERP_DEPOSIT = "perp_deposit"
    PERP_ORDER = "perp_order"


def lane_name(chain: str, wallet: str) -> str:
    """The execution lane of a signer on a chain; one nonce sequence, one Celery queue."""
    return f"{chain}.{wallet}"


class Intent(Frozen):
    """One transaction crosshedge means to send: an exact ERC20 approval, an exact-in swap, a bridge deposit, or a
    perp margin deposit or order (``venue`` the market; an order's ``amount_in_raw`` its base size and
    ``min_amount_out_raw`` its quote-side bound from the plan: the least received short, the most paid long; for a
    ``close``, the plan's size and bound, which signing re-scales to the size the account holds then)."""

    id: str
    run_id: str
    seq: int  # order within its lane
    kind: IntentKind
    chain: str
    wallet: str  # wallet name in chains.yaml
    sender: str  # the wallet's address
    target: str  # the contract called: a token (approve) or a router (swap)
    token_in: str
    amount_in_raw: int
    venue: str | None = None
    adapter: str | None = None
    underlying: str | None = None
    side: Side | None = None
    token_out: str | None = None
    spender: str | None = None  # approve only: the router
    min_amount_out_raw: int = 0
    expected_amount_out_raw: int = 0
    base_amount: float = 0.0
    quote_amount: float = 0.0
    notional_usd: float = 0.0
    predicted_cost_usd: float = 0.0  # fee + impact + gas, as the optimizer predicted
    predicted_gas_usd: float = 0.0
    # Deposits only: the chain the funds go to and the route ("ethereum->base/USDC"); ``min_amount_out_raw`` is
    # the exact amount the destination's wallet receives (the deposit's outputAmount), ``token_out`` its token there.
    destination: str | None = None
    route: str | None = None
    # Swaps only: the trade spends funds a deposit of the same run brings (the plan staged it), so it waits until
    # that deposit is filled (orchestrator.staging).
    staged: bool = False
    # Perp orders only: the order flattens the position (the plan leaves it at 0), so it is sent as the venue's
    # closePosition, which closes whatever the account holds when it executes: an openPosition of the planned
    # ``amount_in_raw`` would leave a dust position wherever the size and the plan's float differ by a few wei.
    # A field, not a kind of its own: a close is still a perp order to the lane, its caps, fills and reconciliation
    # (and a ledger written before this field loads with it False).
    close: bool = False

    @property
    def lane(self) -> str:
        return lane_name(self.chain, self.wallet)

    @property
    def nonce_sequence(self) -> str:
        """Nonces are the sending account's, not the wallet name's: a rotated key (or a fresh devnet's operator)
        under the same name starts its own sequence instead of inheriting a gap from the old one."""
        return f"{self.lane}:{self.sender.lower()}"


class Attempt(Frozen):
    """One signed transaction for an intent (the first, or a fee-bumped replacement at the same nonce)."""

    tx_hash: str
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    signed_at: float


class TxFields(Frozen):
    """The transaction body every attempt of an intent shares; only the fee fields change on replacement."""

    chain_id: int
    nonce: int
    to: str
    data: str
    value: int
    gas: int
    deadline: int | None = None


class ReceiptInfo(Frozen):
    tx_hash: str
    block_number: int
    block_hash: str
    status: int
    gas_used: int
    effective_gas_price_wei: int


class IntentRecord(Frozen):
    """An intent as the ledger knows it now (without raw transaction bytes)."""

    spec: Intent
    state: IntentState
    nonce: int | None = None
    tx: TxFields | None = None
    attempts: tuple[Attempt, ...] = ()
    receipt: ReceiptInfo | None = None
    fill: Fill | None = None
    deposit: Deposit | None = None  # a deposit's event, decoded from its receipt
    perp_fills: tuple[PerpFill, ...] = ()  # a perp order's PositionChanged events, decoded from its receipt
    gas_cost_wei: int = 0
    error: str = ""
    confirmed_depth: bool = False
    reorgs: int = 0  # times its transaction was reorganised out after a receipt was seen

    @property
    def tx_hash(self) -> str | None:
        """The hash that landed (from the receipt), else the latest attempt's."""
        if self.receipt is not None:
            return self.receipt.tx_hash
        return self.attempts[-1].tx_hash if self.attempts else None

    @property
    def in_flight(self) -> bool:
        """Signed and not yet booked: its transaction may still be mined (or reorganised out)."""
        return self.state in (IntentState.SIGNED, IntentState.SENT, IntentState.INCLUDED)


class RunRecord(Frozen):
    id: str
    state: RunState
    kind: str
    created_at: float
    updated_at: float
    parent: str | None = None
    followup: int = 0
    partial: bool = False
    halted: str = ""
    error: str = ""


class RunEvent(Frozen):
    """A note in a run's event log (a breaker trip, a down chain, a refusal, a re-broadcast)."""

    at: float
    kind: str
    message: str
    chain: str | None = None
    venue: str | None = None
    intent: str | None = None


class Transition(Frozen):
    """One step of a state machine, as recorded in its history."""

    source: str
    to: str
    at: float


class Lease(Frozen):
    """A held lock: its name, owner, fencing token and time to live.

    The token grows every time the lease is newly taken, so a writer that lost its lease (it stalled past the TTL,
    and the lease expired or someone else took over) carries a token the ledger no longer holds, and the ledger
    refuses its writes. A holder keeps its lease by renewing it well within the TTL.
    """

    name: str
    owner: str
    token: str
    ttl_ms: int


class TaskLatency(Frozen):
    """A task's latency histogram as recorded in the ledger: cumulative bucket counts, total count and sum."""

    task: str
    buckets: dict[str, int]
    count: int
    sum_s: float


def fields_of(**values: Frozen | int | str | bool | None) -> dict[str, str]:
    """Ledger hash fields as strings: models as JSON, ints/bools as text (None values are left out)."""
    out: dict[str, str] = {}
    for k, v in values.items():
        if v is None:
            continue
        if isinstance(v, Frozen):
            out[k] = v.model_dump_json()
        elif isinstance(v, bool):
            out[k] = "1" if v else "0"
        else:
            out[k] = str(v)
    return out


__all__ = [
    "INTENT_TRANSITIONS",
    "LANDED_INTENT_STATES",
    "RUN_PROGRESS",
    "RUN_TRANSITIONS",
    "TERMINAL_INTENT_STATES",
    "TERMINAL_RUN_STATES",
    "Attempt",
    "Intent",
    "IntentKind",
    "IntentRecord",
    "IntentState",
    "Lease",
    "ReceiptInfo",
    "RunEvent",
    "RunRecord",
    "RunState",
    "TaskLatency",
    "Transition",
    "TxFields",
    "fields_of",
    "lane_name",
]
