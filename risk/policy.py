"""Trigger policies: when to hedge one underlying's net delta, and to what. Pure functions of plain inputs.

Every policy sees a :class:`PolicyInput` (net delta of book + hedges, book gamma/vanna, price, vols, time since
the last hedge, the venues' costs) and returns a frozen :class:`Decision`: trade or not, the target net delta,
the no-trade band [lower, upper] on net delta, and a one-sentence reason. Sign convention: ``trade_units`` > 0
buys the underlying.

Formulas (sources named per line):
- Whalley & Wilmott (1997), "An asymptotic analysis of an optimal hedging model for option pricing with
  transaction costs", Mathematical Finance 7(3): H = (3 λ S e^{−rτ} Γ² / (2γ))^{1/3}, trade back to the band edge.
- Zakamouline (2006), Quantitative Finance 6(5): band centred on the delta at a modified vol σ_m, half-width H0 + H1.
- Fixed cost ε per trade: H ≈ (12 ε Γ² / γ)^{1/4} (the reflected-Brownian-motion band of Korn (1998), "Portfolio
  optimisation with strictly positive transaction costs and impulse control", Finance and Stochastics 2;
  trading resets to the centre).
- cost_aware_band combines them per chain with the venue's real gas, fee and impact: outer band
  (H_prop⁴ + H_fix⁴)^{1/4}, trade back to H_prop (the WW edge; 0 when costs are purely fixed). A chain with $20
  gas gets a wider band than one with $0.02; the narrowest band (the cheapest venue) decides.

Usage::

    d = decide(PolicyInput(underlying="ETH", spot=3000, net_delta=-42, gamma=-0.4, vol=0.6, tau=0.1), settings)
    if d.trade: hedge(d.trade_units)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from pydantic import Field

from adapters import VenueState
from crosshedge import Frozen
from crosshedge.config import PolicySettings
from risk.aggregate import RiskReport


class VenueCost(Frozen):
    """What one hedge trade costs on a venue: fixed gas (USD) + fee + linear price impact.

    Cost of trading q units at price S: gas_usd + S·|q|·(fee_rate + ½·impact_per_unit·|q|).
    """

    chain: str
    venue: str
    gas_usd: float = Field(ge=0)
    fee_rate: float = Field(ge=0)
    impact_per_unit: float = Field(ge=0)  # marginal price impact (fraction of price) per unit traded

    def proportional(self, units: float) -> float:
        """Average proportional cost (fraction of notional) of a trade of ``units``."""
        return self.fee_rate + 0.5 * self.impact_per_unit * abs(units)

    def cost_usd(self, units: float, spot: float) -> float:
        """Total USD cost of a trade of ``units`` (0 for no trade)."""
        if units == 0:
            return 0.0
        return self.gas_usd + spot * abs(units) * self.proportional(units)


def venue_cost_from_state(state: VenueState, gas_usd: float) -> VenueCost:
    """Fee and impact slope from a venue's sell curve (fee included in its prices) and its gas in USD.

    The slope is fitted on the first segments covering ~1% of impact: a hedge trade is small against the pool.
    """
    fee = state.fee_pips / 1e6
    size = value = 0.0
    for seg in state.sell.segments:
        size += seg.size
        value += seg.size * seg.price
        if 1.0 - seg.price / state.mid_price - fee > 0.01:
            break
    avg_impact = max(0.0, 1.0 - (value / size) / state.mid_price - fee) if size > 0 else 0.0
    slope = 2.0 * avg_impact / size if size > 0 else 0.0
    return VenueCost(chain=state.chain, venue=state.venue, gas_usd=gas_usd, fee_rate=fee, impact_per_unit=slope)


class PolicyInput(Frozen):
    """One underlying at one decision time."""

    underlying: str
    spot: float = Field(gt=0)
    net_delta: float  # book + hedges, units of the underlying
    gamma: float = 0.0  # whole book's gamma, units per USD (negative = short gamma)
    vanna: float = 0.0  # d(book delta)/d(sigma), for the Zakamouline centre
    vol: float = Field(default=0.6, gt=0)  # implied vol (annual) the book is marked at
    realised_vol: float | None = Field(default=None, gt=0)  # EWMA realised vol (annual), if tracked
    tau: float = Field(default=30 / 365, gt=0)  # gamma-weighted time to expiry, years
    hours_since_trade: float = Field(default=math.inf, ge=0)
    costs: tuple[VenueCost, ...] = ()


class ChainBand(Frozen):
    """The cost-aware band one venue's costs imply."""

    chain: str
    venue: str
    half_width: float  # outer band half-width, units
    target: float  # |target| after a trade, units
    gas_usd: float
    proportional_cost: float


class Decision(Frozen):
    """A policy's verdict for one underlying."""

    policy: str
    underlying: str
    trade: bool
    net_delta: float
    target: float  # net delta after the trade (the band edge or centre)
    trade_units: float  # target - net_delta when trading, else 0 (> 0 buys)
    lower: float
    upper: float
    reason: str
    chain: str | None = None  # where the cost-aware policy would trade
    venue: str | None = None
    bands: tuple[ChainBand, ...] = ()


def _fmt(x: float) -> str:
    return f"{x:,.4g}"


def _band_decision(  # private helper
    policy: str, inp: PolicyInput, centre: float, half: float, to_edge: float | None, why: str, **extra: object
) -> Decision:
    """Trade when net delta leaves [centre ± half]; go to centre ± to_edge (None: the nearest edge)."""
    half = max(half, 0.0)
    lower, upper = centre - half, centre + half
    d = inp.net_delta
    if lower <= d <= upper:
        return Decision(
            policy=policy, underlying=inp.underlying, trade=False, net_delta=d, target=d, trade_units=0.0,
            lower=lower, upper=upper, reason=f"net delta {_fmt(d)} inside band [{_fmt(lower)}, {_fmt(upper)}] ({why})",
            **extra,
        )
    edge = half if to_edge is None else min(to_edge, half)
    target = centre + edge if d > upper else centre - edge
    return Decision(
        policy=policy, underlying=inp.underlying, trade=True, net_delta=d, target=target, trade_units=target - d,
        lower=lower, upper=upper,
        reason=f"net delta {_fmt(d)} outside band [{_fmt(lower)}, {_fmt(upper)}] ({why}); trade to {_fmt(target)}",
        **extra,
    )


def _floor(inp: PolicyInput, s: PolicySettings) -> float:
    return s.min_band_usd / inp.spot


def ww_half_width(  # the paper's symbols, in order
    spot: float, gamma: float, lam: float, risk_aversion: float, tau: float, rate: float = 0.0) -> float:
    """Whalley–Wilmott half-width H = (3 λ S e^{−rτ} Γ² / (2γ))^{1/3} in units of the underlying."""
    return float((3.0 * lam * spot * math.exp(-rate * tau) * gamma * gamma / (2.0 * risk_aversion)) ** (1 / 3))


def fixed_cost_half_width(gamma: float, fixed_cost: float, risk_aversion: float) -> float:
    """Fixed-cost band H = (12 ε Γ² / γ)^{1/4} (trading resets to the centre)."""
    return float((12.0 * fixed_cost * gamma * gamma / risk_aversion) ** 0.25)


def zakamouline_terms(  # the paper's symbols, in order
    spot: float, gamma: float, lam: float, risk_aversion: float, vol: float, tau: float, rate: float = 0.0
) -> tuple[float, float, float]:
    """(H0, H1, K) of Zakamouline (2006), "Efficient analytic approximation of the optimal hedging strategy for a
    European call option with transaction costs", Quantitative Finance 6(5), eq. 33-35 (check case: S=K=100, τ=1,
    σ=.3, r=0, λ=.02, γ=1 gives H0 = 0.002222, H1 = 0.05161, K = -0.6324)."""
    g = risk_aversion
    h0 = lam / (g * spot * vol * vol * tau)
    disc = (math.exp(-rate * tau) / vol) ** 0.25
    h1 = 1.12 * lam**0.31 * tau**0.05 * disc * (abs(gamma) / g) ** 0.5
    k = -4.76 * lam**0.78 * tau**-0.02 * disc * (g * spot * spot * abs(gamma)) ** 0.15
    return h0, h1, k


def fixed_interval(inp: PolicyInput, s: PolicySettings) -> Decision:
    """Hedge to zero every ``interval_hours`` (the desk's classic daily hedge)."""
    due = inp.hours_since_trade >= s.interval_hours
    floor = _floor(inp, s)
    trade = due and abs(inp.net_delta) > floor
    why = f"{_fmt(inp.hours_since_trade)} h since last hedge, interval {_fmt(s.interval_hours)} h"
    return Decision(
        policy="fixed_interval", underlying=inp.underlying, trade=trade, net_delta=inp.net_delta,
        target=0.0 if trade else inp.net_delta, trade_units=-inp.net_delta if trade else 0.0,
        lower=-floor, upper=floor, reason=("due: " if due else "not due: ") + why,
    )


def delta_threshold(inp: PolicyInput, s: PolicySettings) -> Decision:
    """Hedge to zero when |net delta| in USD exceeds ``delta_threshold_usd``."""
    half = max(s.delta_threshold_usd, s.min_band_usd) / inp.spot
    return _band_decision("delta_threshold", inp, 0.0, half, 0.0, f"threshold ${_fmt(s.delta_threshold_usd)}")


def vol_threshold(inp: PolicyInput, s: PolicySettings) -> Decision:
    """Delta threshold scaled by vol_reference / realised vol: tighter when the market moves more."""
    realised = inp.realised_vol or inp.vol
    scale = min(4.0, max(0.25, s.vol_reference / realised))
    half = max(s.delta_threshold_usd * scale, s.min_band_usd) / inp.spot
    return _band_decision("vol_threshold", inp, 0.0, half, 0.0, f"realised vol {realised:.1%}, scale {scale:.2f}")


def _cheapest_proportional(inp: PolicyInput, s: PolicySettings) -> float:
    if not inp.costs:
        return s.proportional_cost
    return min(c.fee_rate for c in inp.costs)


def whalley_wilmott(inp: PolicyInput, s: PolicySettings) -> Decision:
    """Whalley–Wilmott band around zero net delta with the cheapest venue's fee as λ; trade to the edge."""
    lam = _cheapest_proportional(inp, s)
    half = max(ww_half_width(inp.spot, inp.gamma, lam, s.risk_aversion, inp.tau, s.rate), _floor(inp, s))
    return _band_decision("whalley_wilmott", inp, 0.0, half, None, f"WW, λ={lam:.2%}, γ={s.risk_aversion:g}")


def zakamouline(inp: PolicyInput, s: PolicySettings) -> Decision:
    """Zakamouline band: centre at the delta under σ_m (via the book's vanna), half-width H0 + H1."""
    lam = _cheapest_proportional(inp, s)
    h0, h1, k = zakamouline_terms(inp.spot, inp.gamma, lam, s.risk_aversion, inp.vol, inp.tau, s.rate)
    # Short gamma (Γ < 0): σ_m² = σ²(1 − K); long: σ²(1 + K). K < 0, so a short book hedges at a higher vol.
    factor = 1.0 - k if inp.gamma < 0 else max(1.0 + k, 1e-6)
    sigma_m = inp.vol * math.sqrt(factor)
    centre = -inp.vanna * (sigma_m - inp.vol)  # net delta at σ when the hedge matches the book's σ_m delta
    half = max(h0 + h1, _floor(inp, s))
    return _band_decision("zakamouline", inp, centre, half, None, f"Zakamouline, σ_m={sigma_m:.1%}")


def chain_band(inp: PolicyInput, s: PolicySettings, cost: VenueCost) -> ChainBand:
    """One venue's band: WW on fee + impact at the trade size the band implies, combined with the gas band."""
    h_fix = fixed_cost_half_width(inp.gamma, cost.gas_usd, s.risk_aversion)
    lam = cost.fee_rate
    h_prop = ww_half_width(inp.spot, inp.gamma, lam, s.risk_aversion, inp.tau, s.rate)
    for _ in range(3):  # impact depends on trade size, which depends on the band: a few fixed-point steps
        outer = (h_prop**4 + h_fix**4) ** 0.25
        lam = cost.proportional(max(outer - h_prop, outer / 2))
        h_prop = ww_half_width(inp.spot, inp.gamma, lam, s.risk_aversion, inp.tau, s.rate)
    outer = max((h_prop**4 + h_fix**4) ** 0.25, _floor(inp, s))
    return ChainBand(
        chain=cost.chain, venue=cost.venue, half_width=outer, target=min(h_prop, outer), gas_usd=cost.gas_usd,
        proportional_cost=lam,
    )


def cost_aware_band(inp: PolicyInput, s: PolicySettings) -> Decision:
    """Per-venue bands from real gas, fee and impact; the narrowest (cheapest venue) decides, trade to its target."""
    costs = inp.costs or (
        VenueCost(chain="default", venue="default", gas_usd=s.fixed_cost_usd, fee_rate=s.proportional_cost,
                  impact_per_unit=0.0),
    )
    bands = tuple(sorted((chain_band(inp, s, c) for c in costs), key=lambda b: b.half_width))
    best = bands[0]
    why = f"cheapest venue {best.chain}/{best.venue}: gas ${best.gas_usd:.4g}, cost {best.proportional_cost:.3%}"
    return _band_decision(
        "cost_aware_band", inp, 0.0, best.half_width, best.target, why, chain=best.chain, venue=best.venue,
        bands=bands,
    )


POLICIES: Mapping[str, Callable[[PolicyInput, PolicySettings], Decision]] = MappingProxyType(
    {
        "fixed_interval": fixed_interval,
        "delta_threshold": delta_threshold,
        "vol_threshold": vol_threshold,
        "whalley_wilmott": whalley_wilmott,
        "zakamouline": zakamouline,
        "cost_aware_band": cost_aware_band,
    }
)


def decide(inp: PolicyInput, settings: PolicySettings, policy: str | None = None) -> Decision:
    """Apply ``policy`` (default: ``settings.trigger``).

    Usage: ``decide(inp, config.raw.policy)``
    """
    return POLICIES[policy or settings.trigger](inp, settings)


def ewma_update(variance: float, log_return: float, lam: float) -> float:
    """One EWMA step of the per-observation variance: λ·v + (1 − λ)·r² (RiskMetrics)."""
    return lam * variance + (1.0 - lam) * log_return * log_return


def ewma_vol(log_returns: Sequence[float], lam: float, dt_years: float) -> float:
    """Annualised EWMA realised vol of ``log_returns`` sampled every ``dt_years``.

    Usage: ``ewma_vol(np.diff(np.log(closes)), 0.97, 1 / 8760)``
    """
    if not log_returns:
        raise ValueError("ewma_vol needs at least one return")
    var = float(log_returns[0]) ** 2
    for r in log_returns[1:]:
        var = ewma_update(var, float(r), lam)
    return math.sqrt(var / dt_years)


def decide_all(report: RiskReport, costs: Mapping[str, Sequence[VenueCost]], settings: PolicySettings
               ) -> list[Decision]:
    """The configured policy's verdict for every underlying of ``report`` (costs: each underlying's venues)."""
    return [
        decide(PolicyInput(underlying=u.underlying, spot=u.price, net_delta=u.delta, gamma=u.gamma, vanna=u.vanna,
                           vol=u.vol, tau=u.tau, costs=tuple(costs.get(u.underlying, ()))), settings)
        for u in report.underlyings
    ]
