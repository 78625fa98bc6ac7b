"""The optimizer's input (:class:`HedgeProblem`) and output (:class:`Plan`): frozen values that round-trip to JSON.

The objective the optimizer minimises, in USD, is

    Σ gas_usd(venue used) + Σ (fee + price impact of every fill, measured against the underlying's mark price)
    + Σ_underlyings risk_u(residual_u)

where ``risk_u`` prices the residual delta left after the trades: ``risk_price · (residual − target)²`` (USD per
unit²), taken as its piecewise-linear interpolant on a grid across the band ``[lower, upper]`` (``risk_pieces``
equal pieces, plus the target and the current delta as extra breakpoints, so "do nothing" and "hit the target" are
priced exactly). Doing nothing therefore wins whenever hedging costs more than the risk it removes. The band itself
is a hard constraint: the residual must end inside it.

With bridge routes (``transfers``, :class:`TransferOption`) the same model also decides transfers, jointly with the
trades: each carries origin gas (a fixed cost), the bridge's fee (proportional plus fixed), the wait a trade that spends
its funds must make for the fill, and what it does to the chains' inventory against their targets. See
:mod:`optimizer.transfers` and the README's "Transfer model" for the variables and costs.

Usage::

    problem = HedgeProblem.model_validate_json(Path("problem.json").read_text())
    plan = optimizer.plan.plan(problem)
    Path("plan.json").write_text(plan.model_dump_json(indent=2))
"""

from __future__ import annotations

import math
import warnings
import weakref
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from adapters import Curve, Side, VenueState
from crosshedge import InputError
from crosshedge.config import InventoryTargetSettings, OptimizerSettings
from optimizer.perps import PerpOption, PlannedPerpTrade


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


class TransferOption(_Value):
    """One bridge route the plan may send ``symbol`` over, with its fee schedule as the bridge adapter quoted it.

    Sending ``a`` raw units delivers ``a − ceil(a · fee_bps / 10⁴) − fixed_fee_raw`` on ``destination`` (Across's
    LP + relayer fee) after about ``latency_s``; the deposit costs ``gas_usd`` on the origin whatever its size.
    """

    adapter: str
    origin: str
    destination: str
    symbol: str
    decimals: int = Field(ge=0, le=36)
    price_usd: float = Field(gt=0)  # USD per token unit
    fee_bps: float = Field(ge=0, lt=10_000)
    fixed_fee_raw: int = Field(default=0, ge=0)
    gas_usd: float = Field(ge=0)  # the origin's approval and deposit
    latency_s: float = Field(ge=0)  # expected time to the fill
    max_amount_raw: int = Field(gt=0)  # the route's deposit limit

    @property
    def key(self) -> str:
        return f"{self.origin}->{self.destination}/{self.symbol}"

    @property
    def fixed_fee(self) -> float:
        return float(self.fixed_fee_raw / 10**self.decimals)

    def received_raw(self, amount_raw: int) -> int:
        """Raw units delivered for ``amount_raw`` sent (exact integer arithmetic, the fee rounded up)."""
        proportional = -(-amount_raw * round(self.fee_bps * 100) // 1_000_000)
        return max(0, amount_raw - proportional - self.fixed_fee_raw)


class HedgeProblem(_Value):
    """Everything one planning run needs: targets, venue states, gas, inventory, switches, limits.

    ``gas_usd`` (one swap), ``tick_gas_usd`` (each initialized tick a swap crosses, on top: Uniswap V3) and
    ``disabled_venues`` are keyed ``"chain/venue"``; ``inventory`` is ``{chain: {symbol: human units}}`` of what that
    chain's wallet holds (sells and quote spending are limited by it, chain by chain).
    ``as_of`` is the unix time the plan is made at; curves older than ``settings.max_curve_age_s`` are refused.

    ``transfers`` are the bridge routes the plan may use; ``arriving`` (``{chain: {symbol: units}}``) is what
    transfers already in flight will deliver (not spendable yet, but counted toward the inventory targets), and
    ``inventory_targets`` each chain's target share of a token's total (chains.yaml ``inventory_targets``).
    """

    targets: list[HedgeTarget]
    venues: list[VenueState]
    gas_usd: dict[str, float]
    inventory: dict[str, dict[str, float]]
    tick_gas_usd: dict[str, float] = {}
    disabled_venues: list[str] = []
    disabled_chains: list[str] = []
    as_of: int
    slippage_bps: float = Field(default=30.0, gt=0, le=1000)
    settings: OptimizerSettings = OptimizerSettings()
    transfers: list[TransferOption] = []
    arriving: dict[str, dict[str, float]] = {}
    inventory_targets: dict[str, dict[str, InventoryTargetSettings]] = {}
    # Perp markets the plan may trade (optimizer.perps): a trade moves delta without spending inventory, pays its
    # curve's fee and impact, gas, and funding over perp_funding_horizon_days, and keeps the account's initial margin
    # and a liquidation distance of ±perp_stress_move whenever it grows the position.
    perps: tuple[PerpOption, ...] = ()
    perp_funding_horizon_days: float = Field(default=3.0, ge=0, le=365)
    perp_stress_move: float = Field(default=0.40, ge=0, lt=1)

    def target(self, underlying: str) -> HedgeTarget | None:
        return next((t for t in self.targets if t.underlying == underlying), None)

    @model_validator(mode="after")
    def _inputs_are_sane(self) -> HedgeProblem:
        check_problem(self)
        _remember_checked(self)
        return self


# Problems whose validation ran (by identity): ``model_copy(update=...)`` skips validators, so the planner re-checks
# any problem not in here, and skips the re-check (a tenth of a 10,000-venue re-solve) for those that are.
_CHECKED: dict[int, weakref.ref[HedgeProblem]] = {}


def _remember_checked(problem: HedgeProblem) -> None:
    key = id(problem)

    def forget(_: weakref.ref[HedgeProblem]) -> None:
        _CHECKED.pop(key, None)

    _CHECKED[key] = weakref.ref(problem, forget)


def was_checked(problem: HedgeProblem) -> bool:
    """True when ``problem`` itself (not a copy) went through :func:`check_problem` at validation."""
    ref = _CHECKED.get(id(problem))
    return ref is not None and ref() is problem


# Above this the risk term's coefficients (price · band²) leave double precision's useful range for the solver.
MAX_RISK_PRICE = 1e12


class MarkFarFromMidsWarning(UserWarning):
    """A target's mark price is far from the mids of the venues that trade it (a stale or wrong mark)."""


def check_problem(problem: HedgeProblem, segments: bool = True) -> None:
    """Raise ``ValueError`` (one sentence naming the field) on non-finite, negative, empty or unknown input; warn
    when a mark is far from its venues' mids. ``segments=False`` skips the per-piece scan (packing checks it)."""
    for st in problem.venues:
        _check_state(st, problem.as_of, problem.settings.max_clock_skew_s, segments)
    for t in problem.targets:
        if t.risk_price > MAX_RISK_PRICE:
            raise ValueError(f"targets.{t.underlying}.risk_price: {t.risk_price:g} USD per unit² is above "
                             f"{MAX_RISK_PRICE:g}; to pin the residual, narrow the band [lower, upper] instead")
    for field, costs in (("gas_usd", problem.gas_usd), ("tick_gas_usd", problem.tick_gas_usd)):
        for key, usd in costs.items():
            if not math.isfinite(usd) or usd < 0:
                raise ValueError(f"{field}.{key}: expected a finite non-negative USD amount, got {usd!r}")
    for chain, held in problem.inventory.items():
        for symbol, amount in held.items():
            if not math.isfinite(amount) or amount < 0:
                raise ValueError(f"inventory.{chain}.{symbol}: expected a finite non-negative amount, got {amount!r}")
    for chain, due in problem.arriving.items():
        for symbol, amount in due.items():
            if not math.isfinite(amount) or amount < 0:
                raise ValueError(f"arriving.{chain}.{symbol}: expected a finite non-negative amount, got {amount!r}")
    _check_names(problem)
    _check_transfers(problem)
    _check_perps(problem)
    _warn_far_marks(problem)


def _check_perps(problem: HedgeProblem) -> None:
    """Each perp market is listed once."""
    seen: set[str] = set()
    for p in problem.perps:
        if p.key in seen:
            raise ValueError(f"perps.{p.key}: the market is listed twice")
        seen.add(p.key)


def _check_transfers(problem: HedgeProblem) -> None:
    """Routes join two different chains of the problem, once each; their costs are finite."""
    chains = {v.chain for v in problem.venues} | set(problem.inventory)
    seen: set[str] = set()
    for t in problem.transfers:
        if t.origin == t.destination:
            raise ValueError(f"transfers.{t.key}: origin and destination are the same chain")
        for end in (t.origin, t.destination):
            if end not in chains:
                raise ValueError(f"transfers.{t.key}: {end!r} is not a chain of the problem (one of {sorted(chains)})")
        if t.key in seen:
            raise ValueError(f"transfers.{t.key}: the route is listed twice")
        seen.add(t.key)
        for name in ("price_usd", "gas_usd", "latency_s", "fee_bps"):
            if not math.isfinite(getattr(t, name)):
                raise ValueError(f"transfers.{t.key}.{name}: expected a finite number, got {getattr(t, name)!r}")
    shares: dict[str, float] = {}
    for targets in problem.inventory_targets.values():
        for symbol, target in targets.items():
            shares[symbol] = shares.get(symbol, 0.0) + target.target_share
    for symbol, share in sorted(shares.items()):
        if share > 1 + 1e-9:
            raise ValueError(f"inventory_targets: the target shares of {symbol} add up to {share:g} (above 1)")


def _check_state(st: VenueState, as_of: int, skew_s: float, segments: bool) -> None:
    key = venue_key(st)
    if not math.isfinite(st.mid_price) or st.mid_price <= 0:
        raise ValueError(f"venues.{key}.mid_price: expected a finite positive price, got {st.mid_price!r}")
    if not 0 <= st.fee_pips < 1_000_000:
        raise ValueError(f"venues.{key}.fee_pips: expected a fee in [0, 1000000) pips, got {st.fee_pips}")
    if st.block_timestamp > as_of + skew_s:
        raise ValueError(f"venues.{key}.block_timestamp: {st.block_timestamp} is {st.block_timestamp - as_of} s "
                         f"after as_of {as_of} (more than optimizer.max_clock_skew_s = {skew_s:g}): a wrong clock")
    for curve, name in ((st.sell, "sell"), (st.buy, "buy")):
        if not curve.segments:
            raise ValueError(f"venues.{key}.{name}: the curve has no segments")
        for i, seg in enumerate(curve.segments if segments else ()):
            if not (math.isfinite(seg.size) and math.isfinite(seg.price)):
                raise ValueError(f"venues.{key}.{name}.segments.{i}: size and price must be finite, got "
                                 f"{seg.size!r} at {seg.price!r}")


def _check_names(problem: HedgeProblem) -> None:
    """Switches must name venues and chains the problem knows (a misspelt switch would silently do nothing)."""
    venues = {venue_key(v) for v in problem.venues} | set(problem.gas_usd)
    chains = {v.chain for v in problem.venues} | set(problem.inventory) | {k.split("/")[0] for k in problem.gas_usd}
    chains |= {p.chain for p in problem.perps}
    for key in problem.tick_gas_usd:
        if key not in venues:
            raise ValueError(f"tick_gas_usd: {key!r} is not a venue of the problem (expected 'chain/venue', one of "
                             f"{sorted(venues)[:5]})")
    venues |= {p.key for p in problem.perps}
    for key in problem.disabled_venues:
        if key not in venues:
            raise ValueError(f"disabled_venues: {key!r} is not a venue of the problem (expected 'chain/venue', one "
                             f"of {sorted(venues)[:5]})")
    for chain in problem.disabled_chains:
        if chain not in chains:
            raise ValueError(f"disabled_chains: {chain!r} is not a chain of the problem (one of {sorted(chains)})")


def _warn_far_marks(problem: HedgeProblem) -> None:
    for t in problem.targets:
        mids = [v.mid_price for v in problem.venues if v.underlying == t.underlying]
        if not mids:
            continue
        mid = float(np.median(mids))
        off_bps = abs(t.mark_price_usd / mid - 1) * 1e4
        if off_bps > problem.settings.mark_warn_bps:
            warnings.warn(f"targets.{t.underlying}.mark_price_usd: {t.mark_price_usd:g} is {off_bps:,.0f} bp from "
                          f"its venues' median mid {mid:g} (optimizer.mark_warn_bps = "
                          f"{problem.settings.mark_warn_bps:g})", MarkFarFromMidsWarning, stacklevel=2)


def ticks_crossed(curve: Curve, base_amount: float) -> int:
    """Initialized ticks a trade of ``base_amount`` crosses on ``curve``: those of every piece it enters. A trade
    ending within a relative 1e-9 of a crossing counts it (the float breakpoint may sit a hair past the tick)."""
    start, crossed = 0.0, 0
    for seg in curve.segments:
        if base_amount <= start * (1 - 1e-9):
            break
        crossed += seg.ticks_crossed
        start += seg.size
    return crossed


def trade_gas_usd(problem: HedgeProblem, state: VenueState, side: Side, base_amount: float) -> float:
    """USD gas of one swap of ``base_amount`` on ``state``: the swap's, plus each initialized tick it crosses."""
    key = venue_key(state)
    per_tick = problem.tick_gas_usd.get(key, 0.0)
    extra = per_tick * ticks_crossed(state.sell if side is Side.SELL else state.buy, base_amount) if per_tick else 0.0
    return problem.gas_usd[key] + extra


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
    # The trade spends funds a transfer of the same plan brings to its chain: it waits for the fill (the run
    # executes the transfer, its follow-up the trade, planned again on what arrived).
    staged: bool = False

    @property
    def venue_key(self) -> str:
        return f"{self.chain}/{self.venue}"

    @property
    def cost_usd(self) -> float:
        return self.gas_usd + self.fee_usd + self.impact_usd


class PlannedTransfer(_Value):
    """One bridge transfer: ``amount_raw`` of ``symbol`` leaves ``origin`` and about ``expected_received`` arrives
    on ``destination`` after ``latency_s``; the deposit's exact output is quoted again when its intent is made."""

    adapter: str
    origin: str
    destination: str
    symbol: str
    amount: float = Field(gt=0)  # token units sent
    amount_raw: int = Field(gt=0)
    expected_received: float = Field(ge=0)
    expected_received_raw: int = Field(default=0, ge=0)  # 0: not given (a plan stored before it was kept)
    price_usd: float = Field(gt=0)  # USD per token unit when planned
    fee_usd: float = Field(ge=0)  # the bridge's fee (LP + relayer)
    gas_usd: float = Field(ge=0)  # the origin's approval and deposit
    latency_s: float = Field(ge=0)

    @property
    def key(self) -> str:
        return f"{self.origin}->{self.destination}/{self.symbol}"


class CostBreakdown(_Value):
    """The plan's cost in USD: the swaps' gas, fees and impact, the bridges' fee and origin gas, the wait of
    trades staged behind a transfer (see :mod:`optimizer.transfers`), and the perp trades' gas, fee, impact and
    funding over the horizon (:mod:`optimizer.perps`; ``gas_usd``/``fee_usd``/``impact_usd`` are the swaps' only);
    ``total_usd`` adds them all."""

    gas_usd: float = 0.0
    fee_usd: float = 0.0
    impact_usd: float = 0.0
    bridge_fee_usd: float = 0.0
    bridge_gas_usd: float = 0.0
    wait_usd: float = 0.0
    perp_gas_usd: float = 0.0
    perp_fee_usd: float = 0.0
    perp_impact_usd: float = 0.0
    funding_usd: float = 0.0  # the perp trades' funding over perp_funding_horizon_days (< 0: received)
    total_usd: float = 0.0


class SolveStats(_Value):
    """How the plan was found. ``method``: ``milp`` (HiGHS branch and bound), ``relaxation-integral`` (the LP
    relaxation came out integral, hence optimal), ``milp-fixed`` (above ``optimizer.exact_milp_max_venues``: branch
    and bound on the switches the relaxation left fractional only; ``mip_gap`` says how far from proven optimal),
    ``trivial`` (nothing could trade), or ``baseline:<name>``."""

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
    mip_gap: float | None = None  # (objective − proven lower bound) / max(1, |objective|), model terms; 0: LP integral
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
    # Bridge transfers the plan moves capital with (executed first, on their origins' lanes).
    transfers: list[PlannedTransfer] = []
    # The inventory term's change (USD): below zero when the transfers bring chains closer to their targets (part of
    # objective_usd; optimizer.transfers).
    inventory_usd: float = 0.0
    # Perp trades (optimizer.perps): they move delta like trades and spend margin, not inventory.
    perp_trades: tuple[PlannedPerpTrade, ...] = ()


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
