"""The optimizer's input (:class:`HedgeProblem`) and output (:class:`Plan`): frozen values that round-trip to JSON.

The objective the optimizer minimises, in USD, is

    Σ gas_usd(venue used) + Σ (fee + price impact of every fill, measured against the underlying's mark price)
    + Σ_underlyings risk_u(residual_u)

where ``risk_u`` prices the residual delta left after the trades: ``risk_price · (residual − target)²`` (USD per
unit²), taken as its piecewise-linear interpolant on a grid across the band ``[lower, upper]`` (``risk_pieces``
equal pieces, plus the target and the current delta as extra breakpoints, so "do nothing" and "hit the target" are
priced exactly). Doing nothing therefore wins whenever hedging costs more than the risk it removes. The band itself
is a hard constraint: the residual must end inside it.

Usage::

    problem = HedgeProblem.model_validate_json(Path("problem.json").read_text())
    plan = optimizer.plan.plan(problem)
    Path("plan.json").write_text(plan.model_dump_json(indent=2))
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from adapters import Side, VenueState
from crosshedge import InputError
from crosshedge.config import OptimizerSettings


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def venue_key(state: VenueState) -> str:
    """The key a venue goes by in gas, switches and plans: ``"chain/venue"``."""
    return f"{state.chain}/{state.venue}"


class HedgeTarget(_Value):
    """One underlying's delta now, where the policy wants it, the hard band and the price of residual risk.

    Deltas are signed units of the underlying (ETH, BTC). ``risk_price`` is USD per unit² of distance from target.
    """

    underlying: str
    current_delta: float
    target: float
    lower: float
    upper: float
    mark_price_usd: float = Field(gt=0)
    risk_price: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _band_holds_target(self) -> HedgeTarget:
        if not self.lower <= self.target <= self.upper:
            raise ValueError(
                f"{self.underlying}: target {self.target} must lie inside the band [{self.lower}, {self.upper}]"
            )
        return self


class HedgeProblem(_Value):
    """Everything one planning run needs: targets, venue states, gas, inventory, switches, limits.

    ``gas_usd`` and ``disabled_venues`` are keyed ``"chain/venue"``; ``inventory`` is ``{chain: {symbol: human
    units}}`` of what that chain's wallet holds (sells and quote spending are limited by it, chain by chain).
    ``as_of`` is the unix time the plan is made at; curves older than ``settings.max_curve_age_s`` are refused.
    """

    targets: list[HedgeTarget]
    venues: list[VenueState]
    gas_usd: dict[str, float]
    inventory: dict[str, dict[str, float]]
    disabled_venues: list[str] = []
    disabled_chains: list[str] = []
    as_of: int
    slippage_bps: float = Field(default=30.0, gt=0, le=1000)
    settings: OptimizerSettings = OptimizerSettings()

    def target(self, underlying: str) -> HedgeTarget | None:
        return next((t for t in self.targets if t.underlying == underlying), None)


def risk_breakpoints(target: HedgeTarget, pieces: int) -> np.ndarray:
    """Sorted breakpoints of the risk interpolant: a ``pieces``-piece grid over the band, target, current delta."""
    grid = np.linspace(target.lower, target.upper, pieces + 1)
    current = min(max(target.current_delta, target.lower), target.upper)
    return np.sort(np.concatenate([grid, [target.target, current]]))


def risk_usd(target: HedgeTarget, residual: float, pieces: int) -> float:
    """The risk term for one underlying at ``residual`` (interpolant inside the band, exact quadratic outside)."""
    if not target.lower <= residual <= target.upper:
        return float(target.risk_price * (residual - target.target) ** 2)
    points = risk_breakpoints(target, pieces)
    return float(np.interp(residual, points, target.risk_price * (points - target.target) ** 2))


class PlannedTrade(_Value):
    """One exact-in swap: amounts in human and raw units; ``expected_amount_out_raw`` is the adapter's exact quote."""

    chain: str
    venue: str
    underlying: str
    side: Side
    token_in: str
    token_out: str
    base_amount: float  # base units sold (SELL) or expected to be bought (BUY)
    quote_amount: float  # quote units expected out (SELL) or spent (BUY)
    amount_in_raw: int = Field(gt=0)
    expected_amount_out_raw: int = Field(gt=0)
    min_amount_out_raw: int = Field(gt=0)
    expected_price: float  # quote per base, fee included
    gas_usd: float
    fee_usd: float
    impact_usd: float  # cost against the underlying's mark, fee excluded (may be negative on a cheap venue)

    @property
    def venue_key(self) -> str:
        return f"{self.chain}/{self.venue}"

    @property
    def cost_usd(self) -> float:
        return self.gas_usd + self.fee_usd + self.impact_usd


class CostBreakdown(_Value):
    gas_usd: float = 0.0
    fee_usd: float = 0.0
    impact_usd: float = 0.0
    total_usd: float = 0.0


class SolveStats(_Value):
    """How the plan was found. ``method``: ``milp`` (HiGHS branch and bound), ``relaxation-integral`` (the LP
    relaxation came out integral, hence optimal), ``trivial`` (nothing could trade), or ``baseline:<name>``."""

    method: str
    status: str
    build_ms: float = 0.0
    solve_ms: float = 0.0
    cache_hit: bool = False
    n_variables: int = 0
    n_binaries: int = 0
    venues_considered: int = 0
    lower_bound_usd: float | None = None  # the relaxation's objective: no plan can cost less (model terms)
    engine: str = ""  # "cvxpy+highs" (the cvxpy model's compiled data handed to HiGHS); "" for baselines
    pieces_pruned: int = 0  # curve pieces bounded to 0 by the exact presolve (no optimal plan can use them)
    mip_gap: float | None = None  # relative gap to the proven bound when branch and bound ran (None: LP optimal)
    polish_ms: float = 0.0
    polish_gain_usd: float = 0.0  # exact objective saved by re-splitting sizes on the exact venue models
    guard_ms: float = 0.0
    # Set when a baseline's plan beat the optimizer's on the exact models and was returned instead (a safeguard:
    # the model's curves are samples of the exact venues), e.g. "router_split@target".
    safeguard: str = ""
    repaired: bool = False  # a limit broken by raw-unit rounding was repaired before the plan was returned


class VenueExplanation(_Value):
    """Why a venue was or wasn't used: its marginal cost per unit against the plan's, and its gas."""

    venue: str  # "chain/venue"
    underlying: str
    side: Side | None
    used: bool
    marginal_cost_usd: float | None  # cost per unit of the venue's first piece against mark (fee + impact)
    gas_usd: float
    reason: str


class Plan(_Value):
    """The optimizer's answer: trades, their cost, the residual risk, how it was solved and why."""

    trades: list[PlannedTrade]
    cost: CostBreakdown
    pre_trade_delta: dict[str, float]
    residual_delta: dict[str, float]
    risk_usd: float  # the risk term at the residual
    objective_usd: float  # cost.total_usd + risk_usd (exact amounts)
    model_objective_usd: float  # the solver's objective (piecewise-linear venue curves)
    stats: SolveStats
    explanation: list[VenueExplanation] = []
    note: str = ""  # says so when the empty plan is the optimum
    kind: Literal["optimal", "baseline"] = "optimal"
    # When the plan was made (unix seconds) and the block of each chain its venue states were read at: a plan
    # older than the execution's limit is never executed (None counts as too old).
    created_at: float | None = None
    snapshot_blocks: dict[str, int] = {}


def load_problem(path: Path) -> HedgeProblem:
    """Read a saved problem; errors name the file and the field."""
    try:
        return HedgeProblem.model_validate_json(path.read_text())
    except OSError as exc:
        raise InputError(f"{path}: cannot read the problem file ({exc.strerror})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "<top>"
        raise InputError(f"{path}: {loc}: {first['msg']} ({exc.error_count()} error(s))") from None
