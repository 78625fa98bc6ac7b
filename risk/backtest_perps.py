"""Perps as a hedge instrument in the backtest: the perp's costs, its funding source and its margin account.

A run hedges with one instrument choice (:class:`HedgeSpec`):

- ``spot`` (the default): every trade goes to the cheapest spot venue of the :class:`risk.CostModel`, as before.
- ``perp``: every trade is a trade of the perp market (:class:`PerpSpec`, Perpetual Protocol v2 "Curie": exchange
  fee 0.1% of notional, linear vAMM impact per $1M, gas on an L2).
- ``cheapest``: each trade goes where gas + fee + impact + the expected funding of the trade over the expected
  holding period is lowest. The expected funding of a perp trade of q units is q · S · rate · h (the rate in force
  at the bar; negative when the trade receives); spot pays none. The holding period h is ``horizon_days`` when set,
  else the mean time between this policy's rebalances so far, (t − t₀) / trades so far, and
  :data:`FIRST_HORIZON_DAYS` for the first hedge. A perp trade that grows the position past initial margin is not a
  candidate (Curie would revert it). Each trade goes to one place; the spot and perp legs may offset (e.g. buys go
  to spot and sells to the perp under positive funding: a long-spot, short-perp carry that the margin account sees).

Funding (:class:`FundingSource`): Curie settles the premium continuously; over the bar from t_{i−1} to t_i the perp
leg held over the bar pays ``units · S_{i−1} · rate(t_{i−1}) · (t_i − t_{i−1}) / 1 day`` (> 0: paid; a long pays
and a short receives when the rate is positive). The index is the series' close (there is no separate mark series).
Sources: a constant daily rate, a CSV (``timestamp,rate`` by header name, rate per day, each point held until the
next), or the devnet model: the devnet's market driver trades the vAMM back to the index on every price step, so
mark TWAP = index TWAP and the premium (mark TWAP − index TWAP) / index TWAP is zero: no funding is charged. That
is what the devnet does, not a funding history; give a rate or a CSV to test funding.

Margin (:class:`PerpAccount`): the account starts with ``collateral_usd`` (default: initial margin on 3x the book's
largest hedge notional over the run) and carries the perp leg's P&L at the close, its funding and its fees and
impact (gas is paid from the wallet, not the Vault). After each bar's move and funding, an account below
maintenance (value < mm · |units| · S) is liquidated: the leg is closed at the close, Curie's 2.5% penalty on the
closed notional is charged, and no policy decision is taken on that bar; on the next bar the policy decides as if
its hedge were due (``fixed_interval`` re-hedges then, band policies when the now open delta is outside their band).

Usage::

    hedge = HedgeSpec(instrument="perp", funding=FundingSource.constant(0.0001))
    result = run_backtest(series, positions, specs, CostModel.default(), hedge=hedge)
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from crosshedge import Frozen, InputError
from risk.greeks import FloatArray
from risk.perps import CURIE_IM_RATIO, CURIE_LIQUIDATION_PENALTY_RATIO, CURIE_MM_RATIO
from risk.policy import VenueCost
from risk.prices import _ISO_TIME, _UNIX_TIME, _parse_time

Instrument = Literal["spot", "perp", "cheapest"]
INSTRUMENTS: tuple[Instrument, ...] = ("spot", "perp", "cheapest")
DAY_S = 86400.0
#: The holding period ``cheapest`` assumes for the first hedge, before any rebalance has been seen.
FIRST_HORIZON_DAYS = 1.0
#: Curie's ClearingHouseConfig maxFundingRate (10% per day): a larger |rate| is a typo (percent for a fraction).
MAX_DAILY_RATE = 0.10
#: Initial collateral, by default, covers initial margin on this multiple of the book's largest hedge notional.
COLLATERAL_MULTIPLE = 3.0


class PerpSpec(Frozen):
    """The perp market hedges may trade: Curie's fee, a linear vAMM impact per $1M, gas; its margin ratios."""

    chain: str = "optimism"
    market: str = "eth_perp"
    gas_usd: float = Field(default=0.10, ge=0)
    fee_bps: float = Field(default=10.0, ge=0)  # Curie's exchange fee: 0.1% of notional
    impact_bps_per_musd: float = Field(default=25.0, ge=0)  # marginal vAMM impact per $1M traded (a model figure)
    mm_ratio: float = Field(default=CURIE_MM_RATIO, gt=0, lt=1)
    im_ratio: float = Field(default=CURIE_IM_RATIO, gt=0, lt=1)
    liquidation_penalty: float = Field(default=CURIE_LIQUIDATION_PENALTY_RATIO, ge=0, lt=1)

    def at(self, spot: float) -> VenueCost:
        """The perp's trading cost at ``spot`` in the spot venues' terms (funding excluded)."""
        return VenueCost.model_construct(
            chain=self.chain, venue=self.market, gas_usd=self.gas_usd, fee_rate=self.fee_bps / 1e4,
            impact_per_unit=self.impact_bps_per_musd / 1e4 * spot / 1e6,
        )


def _check_rate(rate: float, where: str) -> float:
    if not math.isfinite(rate):
        raise InputError(f"{where}: funding rate {rate!r} is not a finite number")
    if abs(rate) > MAX_DAILY_RATE:
        raise InputError(f"{where}: funding rate {rate:g} per day is past Curie's {MAX_DAILY_RATE:.0%}/day cap "
                         "(rates are fractions per day: 0.0001 = 0.01%)")
    return rate


class FundingSource(Frozen):
    """Where the perp's daily funding rate comes from; ``sentence`` says so in results and CLI output."""

    kind: Literal["constant", "csv", "devnet"]
    sentence: str
    file: str | None = None
    daily_rate: float | None = None  # the constant's rate
    times: tuple[float, ...] = Field(default=(), exclude=True, repr=False)  # the CSV's points (UTC seconds)
    rates: tuple[float, ...] = Field(default=(), exclude=True, repr=False)

    @classmethod
    def constant(cls, daily_rate: float) -> FundingSource:
        """A rate given by hand, e.g. on the command line: an assumption, not market data."""
        _check_rate(daily_rate, "--funding-daily")
        return cls(kind="constant", daily_rate=daily_rate, sentence=(
            f"funding: a constant {daily_rate:.4%} per day (given, an assumption, not market data); "
            "a long perp pays it when positive, a short receives it"))

    @classmethod
    def devnet(cls) -> FundingSource:
        """Zero: the devnet's market driver holds the vAMM on the index, so Curie's premium is 0."""
        return cls(kind="devnet", daily_rate=0.0, sentence=(
            "funding: the devnet model, zero: the devnet's market driver trades Curie's vAMM back to the index on "
            "every step, so mark TWAP = index TWAP and the premium is 0 (not a funding history; give "
            "--funding-daily or --funding-csv to charge funding)"))

    @classmethod
    def from_csv(cls, path: Path) -> FundingSource:
        """Read ``timestamp,rate`` (by header name; rate per day); errors name the file and the line."""
        times, rates = _read_funding_csv(path)
        return cls(kind="csv", file=str(path), times=tuple(times), rates=tuple(rates), sentence=(
            f"funding: daily rates from {path} ({len(times):,} points, each held until the next)"))

    def at(self, times: FloatArray) -> FloatArray:
        """The rate in force at each of ``times`` (the last point at or before it)."""
        if self.kind != "csv":
            return np.full(len(times), self.daily_rate or 0.0)
        pts = np.asarray(self.times)
        idx = np.searchsorted(pts, times, side="right") - 1
        if len(times) and idx[0] < 0:
            raise InputError(f"{self.file}: no funding rate at or before the first bar ({_iso(float(times[0]))}); "
                             f"its first point is {_iso(float(pts[0]))}")
        out: FloatArray = np.asarray(self.rates)[idx]
        return out


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _funding_columns(path: Path, header: list[str]) -> tuple[int, bool, int]:
    names = [h.strip().lower() for h in header]
    time_col = next((c for c in _ISO_TIME + _UNIX_TIME if c in names), None)
    if time_col is None:
        raise InputError(f"{path}: line 1: no time column (expected one of {', '.join(_ISO_TIME + _UNIX_TIME)})")
    if "rate" not in names:
        raise InputError(f"{path}: line 1: no 'rate' column (the funding rate per day)")
    return names.index(time_col), time_col in _UNIX_TIME, names.index("rate")


def _read_funding_csv(path: Path) -> tuple[list[float], list[float]]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the funding file ({exc.strerror})") from None
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if not header:
        raise InputError(f"{path}: the funding file is empty")
    t_idx, unix, r_idx = _funding_columns(path, header)
    times: list[float] = []
    rates: list[float] = []
    for line, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        where = f"{path}: line {line}"
        if len(row) <= max(t_idx, r_idx):
            raise InputError(f"{where}: expected at least {max(t_idx, r_idx) + 1} fields, got {len(row)}")
        t = _parse_time(row[t_idx], unix, where)
        try:
            rate = float(row[r_idx])
        except ValueError:
            raise InputError(f"{where}: rate {row[r_idx]!r} is not a number") from None
        if times and t <= times[-1]:
            kind = "duplicate" if t == times[-1] else "out-of-order"
            raise InputError(f"{where}: {kind} timestamp (times must strictly increase)")
        times.append(t)
        rates.append(_check_rate(rate, where))
    if not times:
        raise InputError(f"{path}: the funding file has no rate rows")
    return times, rates


class HedgeSpec(Frozen):
    """What a run hedges with: the instrument choice, the perp market, its funding and its account."""

    instrument: Instrument = "spot"
    perp: PerpSpec = PerpSpec()
    funding: FundingSource = Field(default_factory=FundingSource.devnet)
    collateral_usd: float | None = Field(default=None, gt=0)  # None: IM on 3x the largest hedge notional
    horizon_days: float | None = Field(default=None, gt=0)  # cheapest: None = mean time between rebalances

    def horizon_sentence(self) -> str:
        if self.instrument != "cheapest":
            return ""
        if self.horizon_days is not None:
            return f"expected holding period {self.horizon_days:g} d (given)"
        return (f"expected holding period: the mean time between the policy's rebalances so far "
                f"({FIRST_HORIZON_DAYS:g} d for the first hedge)")


class HedgeReport(Frozen):
    """A run's hedge instrument and funding source, as the result and the CLI state them."""

    instrument: Instrument
    funding: str  # the funding source's sentence
    funding_kind: str
    funding_file: str | None
    collateral_usd: float
    horizon: str
    perp: PerpSpec


def default_collateral(delta: FloatArray, close: FloatArray, perp: PerpSpec) -> float:
    """Initial margin on :data:`COLLATERAL_MULTIPLE` x the book's largest hedge notional over the run."""
    return max(COLLATERAL_MULTIPLE * perp.im_ratio * float(np.max(np.abs(delta) * close)), 1.0)


@dataclass
class PerpAccount:
    """The perp leg and its Curie account over a replay (mutable: one per policy run)."""

    spec: PerpSpec
    equity: float  # account value: collateral + the leg's P&L at the close − funding − fees − impact − penalties
    units: float = 0.0
    trades: int = 0
    fees: float = 0.0
    impact: float = 0.0
    gas: float = 0.0
    funding: float = 0.0
    liquidations: int = 0
    penalty: float = 0.0
    capped: int = 0  # trades cut to what initial margin allows (Curie reverts a trade past it)
    min_ratio: float = math.inf
    liquidated_bars: list[int] = field(default_factory=list)

    def accrue(self, s0: float, s1: float, rate: float, dt_days: float) -> float:
        """The bar's move and funding on the leg; returns the funding paid (< 0: received)."""
        paid = self.units * s0 * rate * dt_days
        self.equity += self.units * (s1 - s0) - paid
        self.funding += paid
        return paid

    def ratio(self, s: float) -> float | None:
        return self.equity / (abs(self.units) * s) if self.units else None

    def liquidate_if_below(self, s: float, bar: int) -> tuple[float, float]:
        """(units closed, penalty) when the account is below maintenance at ``s``, else (0, 0)."""
        r = self.ratio(s)
        if r is None:
            return 0.0, 0.0
        self.min_ratio = min(self.min_ratio, r)
        if r >= self.spec.mm_ratio:
            return 0.0, 0.0
        closed, pen = self.units, self.spec.liquidation_penalty * abs(self.units) * s
        self.equity -= pen
        self.penalty += pen
        self.liquidations += 1
        self.liquidated_bars.append(bar)
        self.units = 0.0
        return closed, pen

    def takes(self, q: float, s: float) -> bool:
        """Whether Curie would accept the trade: it reduces the position or leaves the account above IM."""
        after = self.units + q
        if abs(after) <= abs(self.units):
            return True
        return self.equity - self.spec.at(s).cost_usd(q, s) + self.spec.gas_usd >= self.spec.im_ratio * abs(after) * s

    def fit(self, q: float, s: float) -> float:
        """``q``, or the part of it initial margin allows when it grows the position (0 when none does)."""
        if self.takes(q, s):
            return q
        after = self.units + q
        c = self.spec.at(s)
        per_unit = s * (self.spec.im_ratio + c.fee_rate + 0.5 * c.impact_per_unit * abs(q))
        limit = max(0.0, self.equity / per_unit)
        if limit <= abs(self.units) and math.copysign(1.0, after) == math.copysign(1.0, self.units or after):
            return 0.0
        return math.copysign(min(abs(after), limit), after) - self.units

    def trade(self, q: float, s: float) -> tuple[float, float, float]:
        """Execute ``q`` units: (total cost, gas, fee) in USD; fee and impact come out of the account."""
        c = self.spec.at(s)
        total, fee = c.cost_usd(q, s), s * abs(q) * c.fee_rate
        self.units += q
        self.trades += 1
        self.fees += fee
        self.impact += total - c.gas_usd - fee
        self.gas += c.gas_usd
        self.equity -= total - c.gas_usd
        r = self.ratio(s)
        if r is not None:
            self.min_ratio = min(self.min_ratio, r)
        return total, c.gas_usd, fee


def perp_is_cheaper(acct: PerpAccount, q: float, s: float, rate: float, horizon_days: float, spot_total: float
                    ) -> bool:
    """``cheapest``'s choice for one trade: perp when its cost + expected funding is below the spot cost."""
    if not acct.takes(q, s):
        return False
    return acct.spec.at(s).cost_usd(q, s) + q * s * rate * horizon_days < spot_total


def expected_horizon(spec: HedgeSpec, elapsed_s: float, trades: int) -> float:
    """Days a trade is expected to be held: the given horizon, else elapsed time / trades so far."""
    if spec.horizon_days is not None:
        return spec.horizon_days
    return elapsed_s / DAY_S / trades if trades and elapsed_s > 0 else FIRST_HORIZON_DAYS


SpotQuote = Callable[[float, float], tuple[float, float, VenueCost]]  # CostModel.cheapest: (total, gas, venue)
SpotVenues = Callable[[float], tuple[VenueCost, ...]]  # CostModel.at


@dataclass
class HedgeLegs:
    """Routes a replay's trades to spot or the perp (per :class:`HedgeSpec`) and keeps each leg's totals."""

    spec: HedgeSpec
    spot_quote: SpotQuote
    spot_venues: SpotVenues
    account: PerpAccount | None = None  # None when the run hedges on spot only
    rates: FloatArray | None = None  # the funding rate in force at each bar
    t0: float = 0.0
    spot_trades: int = 0
    spot_fees: float = 0.0
    spot_impact: float = 0.0
    spot_gas: float = 0.0

    def policy_costs(self, s: float) -> tuple[VenueCost, ...]:
        """The venues the policy sees: spot's, the perp's or both (funding is not a venue cost)."""
        if self.spec.instrument == "spot":
            return self.spot_venues(s)
        perp = self.spec.perp.at(s)
        return (perp,) if self.spec.instrument == "perp" else (*self.spot_venues(s), perp)

    def _to_perp(self, q: float, s: float, bar: int, t: float, trades: int) -> bool:
        if self.account is None or self.rates is None:
            return False
        if self.spec.instrument == "perp":
            return True
        days = expected_horizon(self.spec, t - self.t0, trades)
        return perp_is_cheaper(self.account, q, s, float(self.rates[bar]), days, self.spot_quote(q, s)[0])

    def execute(self, q: float, s: float, bar: int, t: float, trades: int) -> tuple[float, float, float]:
        """Trade ``q`` units at bar ``bar`` (time ``t``, ``trades`` done so far): (total cost, gas, units done).

        A perp trade past initial margin is cut to what the account allows (``perp``: 0 when nothing is allowed,
        counted in ``PerpAccount.capped``; ``cheapest`` sends it to spot instead)."""
        acct = self.account
        if acct is not None and self._to_perp(q, s, bar, t, trades):
            done = acct.fit(q, s)
            if done != q:
                acct.capped += 1
            if done == 0:
                return 0.0, 0.0, 0.0
            total, gas, _ = acct.trade(done, s)
            return total, gas, done
        total, gas, venue = self.spot_quote(q, s)
        fee = s * abs(q) * venue.fee_rate
        self.spot_trades += 1
        self.spot_fees += fee
        self.spot_impact += total - gas - fee
        self.spot_gas += gas
        return total, gas, q


def hedge_legs(spec: HedgeSpec, spot_quote: SpotQuote, spot_venues: SpotVenues, times: FloatArray,
               delta: FloatArray, close: FloatArray) -> HedgeLegs:
    """A run's :class:`HedgeLegs`: the perp account and the funding rates when the run may trade the perp."""
    if spec.instrument == "spot":
        return HedgeLegs(spec, spot_quote, spot_venues)
    collateral = spec.collateral_usd or default_collateral(delta, close, spec.perp)
    return HedgeLegs(spec, spot_quote, spot_venues, PerpAccount(spec.perp, collateral), spec.funding.at(times),
                     float(times[0]))


def hedge_report(spec: HedgeSpec, delta: FloatArray, close: FloatArray) -> HedgeReport:
    return HedgeReport(instrument=spec.instrument, funding=spec.funding.sentence, funding_kind=spec.funding.kind,
                       funding_file=spec.funding.file,
                       collateral_usd=spec.collateral_usd or default_collateral(delta, close, spec.perp),
                       horizon=spec.horizon_sentence(), perp=spec.perp)


__all__ = ["FIRST_HORIZON_DAYS", "INSTRUMENTS", "FundingSource", "HedgeLegs", "HedgeReport", "HedgeSpec",
           "Instrument", "PerpAccount", "PerpSpec", "default_collateral", "expected_horizon", "hedge_legs",
           "hedge_report", "perp_is_cheaper"]
