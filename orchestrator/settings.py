"""The execution, positions and devnet sections of chains.yaml."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.devnet.spec import DevnetSpec


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExecutionSettings(_Section):
    """How trades are signed and sent. Extended by the orchestrator's execution modules."""

    slippage_bps: float = Field(default=30.0, gt=0, le=1000)
    deadline_s: int = Field(default=300, gt=0)


class PositionSourceSpec(_Section):
    """A position source: its adapter and that adapter's section (validated by the adapter's own model)."""

    adapter: str
    settings: dict[str, Any] = {}


__all__ = ["DevnetSpec", "ExecutionSettings", "PositionSourceSpec"]
