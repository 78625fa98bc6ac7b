"""Safety controls: the kill switch, circuit breakers, notional and gas caps, and the one-run-at-a-time lock.

Everything here fails closed. :func:`check_not_halted` is called right before every signature and broadcast; if the
kill switch is set *or the ledger cannot be read*, it raises :class:`HaltedError` and nothing reaches a chain.

Usage::

    KillSwitch(ledger).halt("operator: manual stop")
    check_not_halted(ledger)                      # raises HaltedError
    check_venue_deviation(mids, max_bps=150)      # raises CircuitBreakerError naming the venue
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping

from crosshedge import CircuitBreakerError, HaltedError, LedgerError
from orchestrator.ledger import Ledger

RUN_LOCK = "run"


class KillSwitch:
    """The kill switch in the ledger. Set by ``crosshedge halt``, cleared only by ``crosshedge resume``."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def halt(self, reason: str) -> None:
        """Stop all signing and broadcasting until :meth:`resume`."""
        self.ledger.set_halt(reason)

    def resume(self) -> bool:
        """Clear the kill switch; True if it was set."""
        return self.ledger.clear_halt()

    def reason(self) -> str | None:
        """Why trading is halted, or None when it is allowed. Raises LedgerUnavailableError unchanged."""
        return self.ledger.halt_reason()


def check_not_halted(ledger: Ledger, lane: str | None = None) -> None:
    """Raise :class:`HaltedError` if the kill switch (or ``lane``'s halt) is set or cannot be read (fail closed).

    Usage: ``check_not_halted(ledger, lane.name)`` immediately before every signature and every broadcast.
    """
    try:
        reason, lane_reason = ledger.halt_reasons(lane)  # one round trip, from the verified server
    except LedgerError as exc:
        raise HaltedError(f"kill switch: cannot read it from the ledger ({exc}); refusing to sign") from None
    if reason is not None:
        raise HaltedError(f"kill switch is set: {reason} (run `crosshedge resume`)")
    if lane_reason is not None:
        raise HaltedError(f"lane {lane} is halted: {lane_reason} (run `crosshedge resume` once it is resolved)")


def median_mids(mids: Mapping[str, tuple[str, float]]) -> dict[str, float]:
    """Median mid price per underlying from ``{venue_key: (underlying, mid)}``."""
    by_underlying: dict[str, list[float]] = {}
    for underlying, mid in mids.values():
        by_underlying.setdefault(underlying, []).append(mid)
    return {u: statistics.median(v) for u, v in by_underlying.items()}


def deviating_venues(mids: Mapping[str, tuple[str, float]], max_bps: float) -> dict[str, float]:
    """Venues whose mid deviates from their underlying's median by more than ``max_bps``: {venue_key: bps}.

    Needs at least three venues of an underlying to have a meaningful median; with fewer nothing is flagged here
    (the move-since-snapshot breaker still applies).
    """
    medians = median_mids(mids)
    counts: dict[str, int] = {}
    for underlying, _ in mids.values():
        counts[underlying] = counts.get(underlying, 0) + 1
    out: dict[str, float] = {}
    for key, (underlying, mid) in mids.items():
        if counts[underlying] < 3:
            continue
        bps = abs(mid / medians[underlying] - 1.0) * 1e4
        if bps > max_bps:
            out[key] = bps
    return out


def check_price_move(venue: str, mid_then: float, mid_now: float, max_bps: float) -> None:
    """Raise :class:`CircuitBreakerError` when a venue's mid moved more than ``max_bps`` since the snapshot."""
    if mid_then <= 0 or mid_now <= 0:
        raise CircuitBreakerError(f"venue {venue}: non-positive mid price (then {mid_then}, now {mid_now})")
    bps = abs(mid_now / mid_then - 1.0) * 1e4
    if bps > max_bps:
        raise CircuitBreakerError(
            f"venue {venue}: mid moved {bps:.1f} bp since the snapshot ({mid_then:.6g} -> {mid_now:.6g}), "
            f"limit {max_bps:g} bp"
        )


def check_gas_price(chain: str, gas_price_wei: int, max_gwei: float) -> None:
    """Raise :class:`CircuitBreakerError` when the chain's gas price is above its cap."""
    if gas_price_wei > max_gwei * 1e9:
        raise CircuitBreakerError(
            f"chain {chain}: gas price {gas_price_wei / 1e9:.4g} gwei is above the cap of {max_gwei:g} gwei"
        )


def check_notional(run_usd: float, day_usd_before: float, per_run: float, per_day: float) -> None:
    """Raise :class:`CircuitBreakerError` when a run's notional breaks the per-run or per-day cap."""
    if run_usd > per_run:
        raise CircuitBreakerError(f"run notional ${run_usd:,.0f} is above the per-run cap of ${per_run:,.0f}")
    if day_usd_before + run_usd > per_day:
        raise CircuitBreakerError(
            f"day notional would be ${day_usd_before + run_usd:,.0f}, above the per-day cap of ${per_day:,.0f}"
        )


class RunLock:
    """One run at a time: the run id holds the lease until the run ends (or the TTL lapses after a crash).

    Usage::

        if not RunLock(ledger, ttl_s).acquire(run_id): raise CircuitBreakerError("another run is in progress")
    """

    def __init__(self, ledger: Ledger, ttl_s: float) -> None:
        self.ledger = ledger
        self.ttl_s = ttl_s

    def acquire(self, run_id: str) -> bool:
        return self.ledger.acquire(RUN_LOCK, run_id, self.ttl_s) is not None

    def release(self, run_id: str) -> None:
        self.ledger.release(RUN_LOCK, run_id)

    def holder(self) -> str | None:
        return self.ledger.lease_owner(RUN_LOCK)
