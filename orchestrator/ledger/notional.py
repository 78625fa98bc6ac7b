"""The ledger's notional book: the USD value of every signed trade by time, for the rolling caps.

The signer's caps (per run, per rolling 24 h) are recomputed from this book at signing: each signed trade's notional
is booked once (idempotent per item), and a window sums what was booked since its start, optionally for one run's
items only and leaving out the one being signed. Entries older than a week are dropped; no window looks further.

Usage::

    ledger.add_notional(intent.id, 1_250.0)
    ledger.notional_since(now - 86_400, exclude=intent.id)     # the last 24 h, without this trade
    ledger.notional_totals(now - 86_400, f"{run_id}.", intent.id)  # (this run's, everyone's) in one read
"""

from __future__ import annotations

from typing import cast

from orchestrator.ledger.core import LedgerCore, redis_io


class NotionalBook(LedgerCore):
    """Signed notional by time, summed over rolling windows."""

    @redis_io
    def add_notional(self, item_id: str, usd: float) -> None:
        """Book a signed trade's notional at the current time (idempotent per item); entries older than a week
        are dropped (no window looks further back)."""
        now = self._clock()
        pipe = self._r.pipeline(transaction=True)
        pipe.zadd(self.key("notional"), {f"{item_id}|{usd!r}": now}, nx=True)
        pipe.zremrangebyscore(self.key("notional"), "-inf", now - 7 * 86_400)
        pipe.execute()

    def notional_since(self, since: float, prefix: str | None = None, exclude: str | None = None) -> float:
        """Notional booked at or after ``since`` (a rolling window, e.g. the last 24 h), optionally only of items
        whose id starts with ``prefix`` (one run's), leaving out ``exclude`` (the one being signed)."""
        return self.notional_totals(since, prefix or "", exclude)[0]

    @redis_io
    def notional_totals(self, since: float, prefix: str, exclude: str | None = None) -> tuple[float, float]:
        """(notional of the items whose id starts with ``prefix``, notional of every item) booked at or after
        ``since``, leaving out ``exclude``: both windows of the caps from one read."""
        members = cast(list[str], self._r.zrangebyscore(self.key("notional"), since, "+inf"))
        mine = total = 0.0
        for m in members:
            item, usd = m.rsplit("|", 1)
            if item == exclude:
                continue
            total += float(usd)
            if item.startswith(prefix):
                mine += float(usd)
        return mine, total


__all__ = ["NotionalBook"]
