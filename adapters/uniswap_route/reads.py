"""Several staged readers driven as one, so a route adapter's leg readers of different kinds share each round.

Usage::

    block, [v3_states, v2_states] = yield from merge_stages([v3_reader, v2_reader])
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

from adapters.rpc import Call, StageResult


def merge_stages(readers: Sequence[Generator[list[Call], StageResult, Any]]
                 ) -> Generator[list[Call], StageResult, tuple[int, list[Any]]]:
    """Yield every pending reader's calls as one round and hand each its slice of the results; returns (the block
    the rounds ran at, each reader's value in order). A reader with nothing to read returns at once."""
    values: list[Any] = [None] * len(readers)
    pending: dict[int, list[Call]] = {}
    for i, reader in enumerate(readers):
        try:
            pending[i] = next(reader)
        except StopIteration as stop:
            values[i] = stop.value
    block = -1
    while pending:
        order = list(pending.items())
        block, results = yield [c for _, calls in order for c in calls]
        pending, at = {}, 0
        for i, calls in order:
            mine, at = results[at:at + len(calls)], at + len(calls)
            try:
                pending[i] = readers[i].send((block, mine))
            except StopIteration as stop:
                values[i] = stop.value
    return block, values


__all__ = ["merge_stages"]
