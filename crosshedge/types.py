"""Value types every package shares.

Every value that crosses a stage boundary (a snapshot, a plan, a ledger record) is a frozen pydantic model that
round-trips to JSON, so a run can be stopped after any stage and inspected or resumed from its saved values.

Usage::

    class Fill(Frozen):
        tx_hash: str
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """Base for value objects: immutable and strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


__all__ = ["Frozen"]
