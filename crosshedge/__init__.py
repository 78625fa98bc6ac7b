"""crosshedge: keep a crypto derivatives book hedged across fragmented on-chain liquidity.

This package holds what every other package shares: the error tree (:mod:`crosshedge.errors`), the value base
(:mod:`crosshedge.types`) and the config models (:mod:`crosshedge.config`), plus the applications built on the
domains: the command line (:mod:`crosshedge.cli`) and the demo (:mod:`crosshedge.demo`). The domains are
``adapters`` (venues and position sources), ``risk`` (Greeks, policies, backtests), ``optimizer`` (the hedge
model), ``orchestrator`` (Celery execution and the ledger) and ``devnet`` (local chains).

Usage::

    from crosshedge import ConfigError, CrosshedgeError, Frozen
"""

from crosshedge.errors import (
    AdapterConformanceError,
    AdapterError,
    ChainMismatchError,
    CircuitBreakerError,
    ConfigError,
    CrosshedgeError,
    ExecutionError,
    HaltedError,
    HeadMovedError,
    InfeasiblePlanError,
    InputError,
    LeaseLostError,
    LedgerError,
    LedgerUnavailableError,
    NotReadyError,
    PlanError,
    PriceLimitError,
    QuoteOutOfRangeError,
    RpcError,
    StaleDataError,
    UnsafeTransactionError,
)
from crosshedge.solc import SolcBuild
from crosshedge.types import Frozen
from crosshedge.validation import describe_validation_error

__version__ = "0.1.0"

__all__ = [
    "AdapterConformanceError",
    "AdapterError",
    "ChainMismatchError",
    "CircuitBreakerError",
    "ConfigError",
    "CrosshedgeError",
    "ExecutionError",
    "Frozen",
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
    "SolcBuild",
    "StaleDataError",
    "UnsafeTransactionError",
    "__version__",
    "describe_validation_error",
]
