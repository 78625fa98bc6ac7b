"""The one error tree of crosshedge: every error says what it is about, and whether to retry or stop.

Every error the project raises on purpose derives from :class:`CrosshedgeError`; each carries one sentence that
names the file, field, chain or venue involved. Each class is either **retryable** (the same step may succeed
later without anyone changing anything: an RPC timeout, a receipt not yet mined, a lock held by another worker, a
Redis restart) or **terminal** (retrying would do the same thing again: bad config, an infeasible plan, a refused
transaction, the kill switch). The task layer decides from :attr:`CrosshedgeError.retryable` alone: it retries a
retryable error a bounded number of times and ends the run with the sentence of a terminal one.

Where a builtin fits, the class inherits it too, so callers that only know Python's builtins still catch the right
thing (``ConfigError`` is a ``ValueError``).

Usage::

    try:
        config = load_config(path)
    except ConfigError as exc:
        print(exc)  # "chains.yaml: chains.base.chain_id: expected an integer, got 'eight'"
    except CrosshedgeError as exc:
        if exc.retryable: ...
"""

from __future__ import annotations

from typing import ClassVar


class CrosshedgeError(Exception):
    """Root of every error crosshedge raises on purpose. Terminal unless a subclass says otherwise."""

    #: True when the same step may succeed if simply tried again later; False when it must stop.
    retryable: ClassVar[bool] = False


class ConfigError(CrosshedgeError, ValueError):
    """The configuration file (or a value derived from it) is invalid. Terminal: fix the file."""


class InputError(CrosshedgeError, ValueError):
    """A data file or argument (option book, price series, saved problem, saved plan) is malformed. Terminal."""


class RpcError(CrosshedgeError, ConnectionError):
    """A chain's RPC endpoint is unreachable, times out, or misbehaves. Retryable: endpoints come back."""

    retryable = True


class HeadMovedError(RpcError):
    """Reads pinned to one block were answered from another: a block was mined while they ran, and the node (anvil
    does this) evaluated them at the new head. Retryable: read everything again at the new head."""


class ChainMismatchError(RpcError):
    """The RPC endpoint serves a different chain id than the configuration says. Terminal: wrong endpoint."""

    retryable = False


class StaleDataError(CrosshedgeError):
    """Data is older than its limit (curves, heads, plans). Retryable: a fresh read or a new plan may pass."""

    retryable = True


class AdapterError(CrosshedgeError):
    """A venue or position source could not be read or used (not a pool, wrong decimals, ...). Terminal."""


class AdapterConformanceError(AdapterError, TypeError):
    """A plugin does not implement the adapter contract; the message lists what is missing. Terminal."""


class QuoteOutOfRangeError(AdapterError):
    """A requested swap size runs past the liquidity window that was read from chain. Terminal for that size."""


class PriceLimitError(AdapterError, ValueError):
    """A swap's sqrt price limit is on the wrong side of the pool's price or outside (MIN_SQRT_RATIO, MAX_SQRT_RATIO):
    the pool itself reverts such a swap ('SPL' in v3-core). Terminal: the caller asked for an impossible swap."""


class PlanError(CrosshedgeError):
    """The optimizer could not produce a plan (bad problem data or solver failure). Terminal for this run."""


class InfeasiblePlanError(PlanError):
    """No plan satisfies the constraints; the message says which constraint binds. Terminal for this run."""


class ExecutionError(CrosshedgeError):
    """A trade could not be executed safely. Terminal; the retryable case is :class:`NotReadyError`."""


class NotReadyError(ExecutionError):
    """A step must wait (a receipt not mined yet, confirmations still due, a lane held by another worker, intents
    still landing). Retryable: nothing is wrong, it is only early."""

    retryable = True


class UnsafeTransactionError(ExecutionError, ValueError):
    """A transaction was refused before signing (wrong chain, non-allowlisted target, bad amount, ...). Terminal."""


class HaltedError(ExecutionError):
    """The kill switch is set (or its state cannot be read): nothing is signed. Terminal until `resume`."""


class CircuitBreakerError(ExecutionError):
    """A circuit breaker tripped (price deviation, move since snapshot, notional or gas cap). Terminal."""


class LedgerError(CrosshedgeError):
    """The ledger is inconsistent or an illegal state transition was attempted. Terminal."""


class LeaseLostError(LedgerError):
    """A writer's lease lapsed (it stalled past its TTL) or another executor took it over; the ledger refuses its
    writes. Retryable: the next attempt takes the lease again, or finds the other executor finished the work."""

    retryable = True


class LedgerUnavailableError(LedgerError):
    """Redis could not be reached (restarting, loading, a timeout). Retryable: the AOF brings every key back."""

    retryable = True


__all__ = [
    "AdapterConformanceError",
    "AdapterError",
    "ChainMismatchError",
    "CircuitBreakerError",
    "ConfigError",
    "CrosshedgeError",
    "ExecutionError",
    "HaltedError",
    "HeadMovedError",
    "InfeasiblePlanError",
    "InputError",
    "LeaseLostError",
    "LedgerError",
    "LedgerUnavailableError",
    "NotReadyError",
    "PlanError",
    "PriceLimitError",
    "QuoteOutOfRangeError",
    "RpcError",
    "StaleDataError",
    "UnsafeTransactionError",
]
