"""The execution and positions sections of chains.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExecutionSettings(_Section):
    """How trades are signed, sent, confirmed and limited. Every field has a default, so the section is optional.

    Usage::

        settings = config.raw.execution
        deadline = now + settings.deadline_s
    """

    slippage_bps: float = Field(default=30.0, gt=0, le=1000)
    deadline_s: int = Field(default=300, gt=0)
    # Circuit breakers (checked at plan time and again right before each signature).
    max_venue_deviation_bps: float = Field(default=150.0, gt=0)  # a venue's mid vs the median of its underlying
    max_price_move_bps: float = Field(default=100.0, gt=0)  # venue mid now vs at the snapshot
    max_notional_usd_per_run: float = Field(default=5_000_000.0, gt=0)
    max_notional_usd_per_day: float = Field(default=25_000_000.0, gt=0)
    max_trade_usd: float = Field(default=3_000_000.0, gt=0)  # one swap above this is "absurd" and refused
    # Perps, checked right before each perp order is signed: a market whose mark deviates from its index by more
    # than this fraction is not traded (a broken oracle or a vAMM pushed away); an order that grows a position is
    # refused when the account's margin ratio after it would fall below perp_min_margin_ratio; a deposit tops the
    # account's free collateral up to the order's initial margin plus perp_margin_buffer of it (1.0: twice the
    # initial margin, a margin ratio of about 0.2 at Curie's 10% IM, clear of the alarm).
    perp_max_mark_index_deviation: float = Field(default=0.02, gt=0, lt=1)
    perp_min_margin_ratio: float = Field(default=0.15, gt=0, lt=10)
    perp_margin_buffer: float = Field(default=1.0, ge=0, le=10)
    # Fees: maxFeePerGas = base fee x multiplier + tip, capped by the chain's gas.max_gas_price_gwei.
    base_fee_multiplier: float = Field(default=2.0, ge=1.0)
    fee_bump_pct: float = Field(default=12.5, ge=12.5)  # replacement needs >= 12.5% on fee cap AND tip
    stuck_after_s: float = Field(default=20.0, gt=0)  # no receipt this long -> re-broadcast or replace
    receipt_timeout_s: float = Field(default=180.0, gt=0)  # give up waiting (intent stays 'sent'; recovery resumes)
    poll_interval_s: float = Field(default=0.05, gt=0)
    rpc_timeout_s: float = Field(default=10.0, gt=0)
    simulate: bool = True  # eth_call every transaction before signing
    # A plan older than this when an intent would be signed is not executed: its run is re-planned instead.
    max_plan_age_s: float = Field(default=120.0, gt=0)
    # Last-known positions of a chain that cannot be read may stand in for this long (the band widened by their
    # staleness); past it, no trade is planned for the underlyings that chain holds.
    max_position_age_s: float = Field(default=300.0, ge=0)
    # A nonce gap (the chain's nonce stuck below the lane's lowest pending one) this many blocks long is healed.
    nonce_gap_blocks: int = Field(default=3, ge=1)
    # A run whose plan bridged funds waits this long for the fills before it reconciles (its follow-up then trades
    # with what arrived); a transfer expired this long past its fill deadline without a refund is stuck (alerted).
    transfer_wait_s: float = Field(default=90.0, ge=0)  # within the reconcile task's bounded retries
    transfer_stuck_after_s: float = Field(default=3600.0, gt=0)
    max_followups: int = Field(default=1, ge=0)  # bounded follow-up runs when residual delta stays outside the band
    # Redis and Celery.
    redis_dir: Path = Path(".crosshedge/redis")  # embedded Redis: AOF + socket live here (unless CROSSHEDGE_REDIS_URL)
    key_prefix: str = "ch"
    visibility_timeout_s: int = Field(default=3600, gt=0)  # must exceed the longest task
    # An executor holds its lane by a fenced lease it renews while it works; a crashed worker's lane is free again
    # within this long (and a stalled executor that lost it can no longer write).
    lane_lock_ttl_s: int = Field(default=15, gt=0)
    run_lock_ttl_s: int = Field(default=1800, gt=0)
    # Workers re-enqueue stalled runs this often: with the lane lease's TTL, how soon a dead worker's lane resumes.
    recover_interval_s: float = Field(default=10.0, gt=0)
    metrics_port: int = Field(default=9464, ge=0, le=65535)  # 0 disables the Prometheus endpoint


class PositionSourceSpec(_Section):
    """A position source: its adapter and that adapter's section (validated by the adapter's own model)."""

    adapter: str
    settings: dict[str, Any] = {}


__all__ = ["ExecutionSettings", "PositionSourceSpec"]
