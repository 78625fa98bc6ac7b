"""The one error tree of crosshedge.

Every error the project raises on purpose derives from :class:`CrosshedgeError`; each carries one sentence that
names the file, field, chain or venue involved. Where a builtin fits, the class inherits it too, so callers that
only know Python's builtins still catch the right thing (``ConfigError`` is a ``ValueError``).

Usage::

    try:
        config = load_config(path)
    except ConfigError as exc:
        print(exc)  # "chains.yaml: chains.base.chain_id: expected an integer, got 'eight'"
"""

from __future__ import annotations


class CrosshedgeError(Exception):
    """Root of every error crosshedge raises on purpose."""


class ConfigError(CrosshedgeError, ValueError):
    """The configuration file (or a value derived from it) is invalid."""


class InputError(CrosshedgeError, ValueError):
    """A data file or argument (option book, price series, saved problem) is malformed."""


class RpcError(CrosshedgeError, ConnectionError):
    """A chain's RPC endpoint is unreachable, times out, or misbehaves."""


class ChainMismatchError(RpcError):
    """The RPC endpoint serves a different chain id than the configuration says."""


class StaleDataError(CrosshedgeError):
    """Data is older than the configured staleness limit (curves, prices, snapshots)."""


class AdapterError(CrosshedgeError):
    """A venue or position source could not be read or used (not a pool, wrong decimals, ...)."""


class AdapterConformanceError(AdapterError, TypeError):
    """A plugin does not implement the adapter contract; the message lists what is missing."""


class QuoteOutOfRangeError(AdapterError):
    """A requested swap size runs past the liquidity window that was read from chain."""


class PlanError(CrosshedgeError):
    """The optimizer could not produce a plan (bad problem data or solver failure)."""


class InfeasiblePlanError(PlanError):
    """No plan satisfies the constraints; the message says which constraint binds."""


class ExecutionError(CrosshedgeError):
    """A trade could not be executed safely."""


class UnsafeTransactionError(ExecutionError, ValueError):
    """A transaction was refused before signing (wrong chain, non-allowlisted target, bad amount, ...)."""


class HaltedError(ExecutionError):
    """The kill switch is set (or its state cannot be read): nothing is signed."""


class CircuitBreakerError(ExecutionError):
    """A circuit breaker tripped (price deviation, move since snapshot, notional or gas cap)."""


class LedgerError(CrosshedgeError):
    """The ledger is inconsistent or an illegal state transition was attempted."""
