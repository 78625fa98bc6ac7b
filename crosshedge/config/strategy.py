"""The policy and optimizer sections of chains.yaml (owned here, validated as part of the config file)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from adapters import EXACT_IMPACT_BPS


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


PolicyName = Literal[
    "fixed_interval", "delta_threshold", "vol_threshold", "whalley_wilmott", "zakamouline", "cost_aware_band"
]


class PolicySettings(_Section):
    """Which trigger policy decides when to hedge (``trigger``), and every policy's parameters (risk.policy).

    Usage (chains.yaml)::

        policy:
          trigger: cost_aware_band
          risk_aversion: 0.0001   # CARA gamma per USD: larger -> narrower bands, more trades
    """

    trigger: PolicyName = "cost_aware_band"
    check_interval_s: float = Field(default=30.0, gt=0)  # how often `crosshedge beat` asks the policy
    interval_hours: float = Field(default=24.0, gt=0)  # fixed_interval: hedge to zero this often
    delta_threshold_usd: float = Field(default=100_000.0, gt=0)  # delta_threshold: |net delta| x price above this
    vol_reference: float = Field(default=0.6, gt=0)  # vol_threshold: threshold holds as is at this realised vol
    ewma_lambda: float = Field(default=0.97, gt=0, lt=1)  # EWMA decay per observation (hourly bars: ~1.4-day memory)
    risk_aversion: float = Field(default=1e-4, gt=0)  # CARA gamma (1/USD) of the band policies
    proportional_cost: float = Field(default=5e-4, ge=0)  # fee + impact fraction when no venue costs are known
    fixed_cost_usd: float = Field(default=1.0, ge=0)  # gas per trade when no venue costs are known
    min_band_usd: float = Field(default=1_000.0, ge=0)  # never trade a net delta smaller than this (dust)
    rate: float = 0.0  # risk-free rate used by the band formulas (e^{-r tau} terms)
    # When no hedge fires but a chain is short of an inventory target that a bridge route can refill, a tick still
    # starts a run: a rebalance, whose plan holds every delta where it is and bridges only when the optimizer finds
    # the shortfall costs more than the transfer (orchestrator.assess.plan_with_risk).
    rebalance_when_idle: bool = True


class OptimizerSettings(_Section):
    """Limits and prices the hedge model uses (see optimizer.model for how each one enters the MILP).

    Usage (chains.yaml)::

        optimizer:
          max_notional_usd_per_run: 5000000
          min_trade_usd: 100
          max_price_impact_bps: 100
    """

    max_notional_usd_per_run: float = Field(default=5_000_000.0, gt=0)
    # A trade smaller than this is not worth a transaction (and dust trips some routers).
    min_trade_usd: float = Field(default=50.0, ge=0)
    # Cap on one trade's average execution price against its venue's mid, pool fee excluded. Venue curves are exact
    # within 1 bp only up to EXACT_IMPACT_BPS (1000) of impact and coarse beyond, so a larger cap is refused.
    max_price_impact_bps: float = Field(default=200.0, gt=0, le=EXACT_IMPACT_BPS)
    max_trades: int | None = Field(default=None, gt=0)  # optional cap on trades per run
    max_curve_age_s: float = Field(default=120.0, gt=0)  # older curves raise StaleDataError
    # A curve stamped further than this after the problem's as_of is refused (a wrong clock, not a fresh read);
    # chains' clocks differ, and the planner measures age against the slowest chain's head.
    max_clock_skew_s: float = Field(default=300.0, ge=0)
    # A target whose mark differs from its venues' median mid by more than this warns (MarkFarFromMidsWarning).
    mark_warn_bps: float = Field(default=500.0, gt=0)
    # Pieces of the piecewise-linear interpolant of the quadratic risk price across each band (see problem.py).
    risk_pieces: int = Field(default=16, ge=2, le=256)
    # HiGHS relative MIP gap; tiny so plans are optimal, not merely good (the models are small).
    mip_rel_gap: float = Field(default=1e-9, ge=0, le=0.1)
    time_limit_s: float = Field(default=30.0, gt=0)
    # Accepted so saved problems and configs still load; there is one model now (the cvxpy model of optimizer.model,
    # solved by HiGHS), whichever value is given.
    engine: Literal["highs", "cvxpy"] = "highs"
    # Above this many venues a fractional relaxation is finished by branching only on its fractional switches (the
    # rest fixed): fast, not provably optimal; the gap to the relaxation's bound is reported in stats.mip_gap.
    exact_milp_max_venues: int = Field(default=200, ge=0)
    # From this many venues the LP relaxation starts from the previous run's basis (same model shape): block-to-block
    # re-solves then take a fraction of the simplex iterations (a basis from an unrelated problem can cost more than
    # a cold start). Below it every solve starts cold, so a plan never depends on which problems the process solved
    # before (ties between equal venues resolve the same way).
    warm_start_min_venues: int = Field(default=1000, ge=0)
    # Re-split each plan's sizes among its venues on the exact venue models (at most this many Newton rounds; 0: off).
    polish_rounds: int = Field(default=8, ge=0, le=50)
    # Also plan every baseline and return the cheapest by exact objective, up to this many venues (0: never).
    baseline_guard_max_venues: int = Field(default=300, ge=0)
    # Bridge transfers (optimizer.transfers): a trade that spends funds a transfer brings waits for its fill, and the
    # delta it would have hedged is open meanwhile. That wait is priced as a one-sided tail move of the underlying
    # over the fill latency: z · vol · sqrt(latency / year) per USD spent late.
    transfer_wait_vol: float = Field(default=0.8, ge=0, le=10)  # annualised volatility the wait is priced at
    transfer_wait_z: float = Field(default=1.65, ge=0, le=10)
    # What one USD of a chain's token below its inventory target (chains.<chain>.inventory_targets) is expected to
    # cost future hedges (a worse venue used, a bridge later under pressure), in bp: a transfer that lifts a short
    # chain toward its target saves this much per USD, so rebalancing happens when it pays for its bridge fee and gas.
    inventory_shortfall_bps: float = Field(default=10.0, ge=0, le=1000)
    max_transfers: int = Field(default=4, ge=0, le=64)  # bridge deposits per run
    # Runs hand the optimizer every perp market the snapshot read (optimizer.perps: PerpOption), within the
    # collateral their accounts hold in the Vault; off (the default), plans stay spot and bridge only.
    perps: bool = False
