"""Expiry buckets for the risk breakdown: where in the term structure a book's Greeks sit.

Default edges 7, 30, 90 and 180 days give the buckets ``0-7d``, ``7-30d``, ``30-90d``, ``90-180d`` and
``>180d`` (an option is in the first bucket whose upper edge its time to expiry does not exceed); LP positions and
spot do not expire and are in ``none``. A fixed, short list of labels keeps metric label cardinality bounded.

Usage: ``expiry_bucket(45.0)`` → ``"30-90d"``
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

#: Upper edges (days) of the expiry buckets; the last bucket is open-ended.
EXPIRY_BUCKET_DAYS: tuple[float, ...] = (7.0, 30.0, 90.0, 180.0)
#: The bucket of positions without an expiry (LP positions, spot).
NO_EXPIRY = "none"


def _days(x: float) -> str:
    return f"{x:g}d"


def bucket_labels(edges: Sequence[float] = EXPIRY_BUCKET_DAYS) -> tuple[str, ...]:
    """Every bucket label for ``edges`` in term order, then ``none``."""
    bounds = [0.0, *edges]
    inner = [f"{lo:g}-{_days(hi)}" for lo, hi in itertools.pairwise(bounds)]
    return (*inner, f">{_days(edges[-1])}" if edges else "all", NO_EXPIRY)


def expiry_bucket(days: float, edges: Sequence[float] = EXPIRY_BUCKET_DAYS) -> str:
    """The bucket label of an option with ``days`` to expiry."""
    labels = bucket_labels(edges)
    for label, hi in zip(labels, edges, strict=False):
        if days <= hi:
            return label
    return labels[len(edges)]
