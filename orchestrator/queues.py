"""Celery queue names: one for the run stages, one per (chain, wallet) lane.

Usage::

    app.send_task("crosshedge.execute_lane", args=[run_id, lane], queue=lane_queue(lane))
"""

from __future__ import annotations

from crosshedge.config import Config
from orchestrator.ledger import lane_name

DEFAULT_QUEUE = "crosshedge"


def lane_queue(lane: str) -> str:
    """The Celery queue of a lane (``ethereum.operator`` -> ``lane.ethereum.operator``)."""
    return f"lane.{lane}"


def lane_queues(config: Config) -> list[str]:
    return [lane_queue(lane_name(name, chain.wallet)) for name, chain in config.chains.items()]


__all__ = ["DEFAULT_QUEUE", "lane_queue", "lane_queues"]
