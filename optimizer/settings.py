"""The policy and optimizer sections of chains.yaml (owned here, validated as part of the config file)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PolicySettings(_Section):
    """Which trigger policy decides when to hedge, and its parameters. Extended by optimizer.policy."""

    trigger: str = "cost_aware_band"
    check_interval_s: float = Field(default=30.0, gt=0)  # how often `crosshedge beat` asks the policy


class OptimizerSettings(_Section):
    """Limits and prices the hedge model uses. Extended by optimizer.model."""

    max_notional_usd_per_run: float = Field(default=5_000_000.0, gt=0)
