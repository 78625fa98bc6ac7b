"""The ledger's task latency histograms: cumulative buckets kept in Redis, so every worker adds to the same ones.

Each task's observations are counted into :data:`LATENCY_BUCKETS` (seconds), with their count and sum, in one hash;
the metrics exporter reads them back as Prometheus histograms.

Usage::

    ledger.record_latency("crosshedge.snapshot", 0.42)
    ledger.latencies()          # [TaskLatency(task=..., buckets={"0.05": 0, ...}, count=..., sum_s=...)]
"""

from __future__ import annotations

from typing import cast

from orchestrator.ledger.core import LedgerCore, redis_io
from orchestrator.ledger.models import TaskLatency

#: Buckets (seconds) of the task latency histogram kept in the ledger.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)


class LatencyBook(LedgerCore):
    """Task latency histograms."""

    @redis_io
    def record_latency(self, task: str, seconds: float) -> None:
        """Add one observation to the task's latency histogram (cumulative buckets)."""
        key = self.key("metrics", "latency")
        pipe = self._r.pipeline()
        pipe.hincrbyfloat(key, f"{task}|sum", seconds)
        pipe.hincrby(key, f"{task}|count", 1)
        for b in LATENCY_BUCKETS:
            if seconds <= b:
                pipe.hincrby(key, f"{task}|le|{b}", 1)
        pipe.execute()

    @redis_io
    def latencies(self) -> list[TaskLatency]:
        raw = cast(dict[str, str], self._r.hgetall(self.key("metrics", "latency")))
        out = []
        for task in sorted({k.split("|")[0] for k in raw}):
            buckets = {str(b): int(float(raw.get(f"{task}|le|{b}", 0))) for b in LATENCY_BUCKETS}
            out.append(TaskLatency(task=task, buckets=buckets, count=int(float(raw.get(f"{task}|count", 0))),
                                   sum_s=float(raw.get(f"{task}|sum", 0))))
        return out


__all__ = ["LATENCY_BUCKETS", "LatencyBook"]
