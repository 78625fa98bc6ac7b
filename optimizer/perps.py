"""Perp trades as hedge actions (Perpetual Protocol v2 "Curie"): what one costs, what it does to the account's
margin, and when it is allowed. The model (:mod:`optimizer.perp_model`) and the exact scoring of a finished plan
(:func:`optimizer.finalize.plan_from_trades`, :mod:`optimizer.limits`, :mod:`optimizer.replay`) use these
definitions, so the solver's objective and the plan's reported one price a perp trade alike.

A trade ``x`` (signed base units: > 0 buys, i.e. goes long) on a :class:`PerpOption` with current size ``s`` moves the
book's delta by ``x`` and spends no wallet inventory (the collateral stays in Curie's Vault). With ``q(x)`` the quote
its vAMM curve (Curie's exchange fee included) gives or takes, ``mid`` the vAMM's price now and ``mark`` the
market's mark price::

    trade cost  c(x) = q(x) − x·mid  (long: quote paid above mid)  or  |x|·mid − q(x)  (short)   = fee + impact
    value cost  k(x) = q(x) − x·mark  or  |x|·mark − q(x)     what the trade takes off the account value
    funding     φ(x) = x · index · daily_rate · horizon_days      (> 0 rate: longs pay; a short receives: φ < 0)
    value after V(x) = collateral + s·mark + open_notional − owed − k(x)      (the new piece's notional at mark)
    n = s + x        the size after

Two prices because they answer two questions. What a trade *costs* is its fee and impact against the price the
vAMM stands at, as a swap's is against its venue's mid. What it does to the *margin* follows the mark, which Curie
values positions at. The mark is a median with TWAPs in it, so in a fast market it lags the vAMM by percents: a
short opened in a crash books ``|x|·(mark − mid)`` of unrealised loss at once (k > c), which the TWAP hands back as
it catches up. Measuring cost against the mark would call that lag impact and refuse every trade in a crash;
ignoring it in the margin rows would send orders Curie rejects for free collateral.

A trade that keeps ``n`` between 0 and ``s`` (reduce-only: no growth, no flip) is always allowed: Curie checks margin
only when a position grows. Any other trade must keep

    initial margin   im_ratio · |n| · mark ≤ min(collateral − owed, V(0)) − k(x)   (Curie's free collateral ≥ 0)
    liquidation      V(x) + n·mark·m ≥ mm_ratio · |n| · mark·(1 + m)   for m = ±stress (default 40 %)

Usage::

    trade = planned_perp_trade(problem_settings(problem), option, Side.SELL, 12.5)
    why = breach(option, -12.5, value_cost_usd(option, Side.SELL, 12.5), stress=0.4)   # None: allowed
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

from adapters import Curve, Side, ordered_curve_ok
from optimizer.curves import curve_capacity, curve_quote


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class PerpOption(_Value):
    """One perp market the plan may trade on one account, as the perp adapter read it at a block.

    ``sell`` (go short) and ``buy`` (go long) are the vAMM's exact curves, Curie's exchange fee (``fee_pips``, in
    1e6) included, in the same :class:`~adapters.Curve` form a venue's are; ``mid_price`` is the vAMM's price at
    the read (what a trade's impact is measured against), ``mark_price`` Curie's mark. ``size`` and
    ``open_notional`` are the account's position (Curie's AccountBalance), ``collateral_usd`` its Vault value,
    ``owed_funding_usd`` its pending funding; ``daily_funding_rate`` > 0 means longs pay. ``gas_usd`` is one
    ``openPosition``; ``min_trade`` the smallest trade in base units.
    """

    chain: str
    market: str
    underlying: str
    sell: Curve
    buy: Curve
    mid_price: float = Field(gt=0)
    mark_price: float = Field(gt=0)
    index_price: float = Field(gt=0)
    daily_funding_rate: float = 0.0
    size: float = 0.0
    open_notional: float = 0.0
    collateral_usd: float = Field(default=0.0, ge=0)
    owed_funding_usd: float = 0.0
    mm_ratio: float = Field(default=0.0625, gt=0, lt=1)
    im_ratio: float = Field(default=0.10, gt=0, lt=1)
    fee_pips: int = Field(default=1000, ge=0, lt=1_000_000)
    gas_usd: float = Field(default=0.0, ge=0)
    min_trade: float = Field(default=0.0, ge=0)

    @property
    def key(self) -> str:
        """The key the market goes by in plans and switches: ``"chain/market"``."""
        return f"{self.chain}/{self.market}"

    @property
    def value_usd(self) -> float:
        """The account value now: collateral + size·mark + open notional − owed funding."""
        return self.collateral_usd + self.size * self.mark_price + self.open_notional - self.owed_funding_usd

    @property
    def im_room_usd(self) -> float:
        """What initial margin may use: min(collateral − owed, account value) (unrealised profit backs nothing)."""
        return min(self.collateral_usd - self.owed_funding_usd, self.value_usd)

    @model_validator(mode="after")
    def _curves_fit(self) -> PerpOption:
        for curve, side in ((self.sell, Side.SELL), (self.buy, Side.BUY)):
            if curve.side is not side:
                raise ValueError(f"perps.{self.key}.{side}: the curve is labelled {curve.side}")
            if not curve.segments:
                raise ValueError(f"perps.{self.key}.{side}: the curve has no segments")
            if not ordered_curve_ok(curve):
                raise ValueError(f"perps.{self.key}.{side}: piece prices are not monotone (the curve must be convex "
                                 "in cost)")
        return self


class PlannedPerpTrade(_Value):
    """One perp trade of a plan: ``base_amount`` opened short (SELL) or long (BUY) at about ``quote_amount``, its
    costs (``fee_usd`` + ``impact_usd`` against the vAMM's mid, ``funding_usd`` over the plan's funding horizon,
    gas), what it takes off the account value at the mark (``value_cost_usd``), and the account after it
    (``grows``: the trade raised |size|, so Curie checks its initial margin)."""

    chain: str
    market: str
    underlying: str
    side: Side
    base_amount: float = Field(gt=0)
    quote_amount: float = Field(ge=0)
    expected_price: float = Field(gt=0)  # quote per base, fee included
    fee_usd: float
    impact_usd: float  # cost against the vAMM's mid, fee excluded
    value_cost_usd: float  # fee + price against the mark: the account value the trade takes (< 0: it adds)
    funding_usd: float  # paid over optimizer's perp_funding_horizon_days (< 0: received)
    gas_usd: float = Field(ge=0)
    size_before: float
    size_after: float
    grows: bool
    account_value_after_usd: float
    free_collateral_after_usd: float  # min(collateral − owed, value) − im_ratio·|size|·mark, after the trade
    margin_ratio_after: float | None  # account value / (|size|·mark); None when flat
    liquidation_price_after: float | None  # the mark at which the account hits maintenance; None when none

    @property
    def key(self) -> str:
        return f"{self.chain}/{self.market}"

    @property
    def signed_amount(self) -> float:
        return self.base_amount if self.side is Side.BUY else -self.base_amount

    @property
    def cost_usd(self) -> float:
        return self.gas_usd + self.fee_usd + self.impact_usd + self.funding_usd


def fee_rate(option: PerpOption) -> float:
    return option.fee_pips / 1_000_000


def curve_of(option: PerpOption, side: Side) -> Curve:
    return option.sell if side is Side.SELL else option.buy


def capacity(option: PerpOption, side: Side) -> float:
    return curve_capacity(curve_of(option, side))


def quote_for(option: PerpOption, side: Side, base: float) -> float:
    """Quote received (SELL) or paid (BUY) for ``base`` units along the vAMM curve (the exact model)."""
    return curve_quote(curve_of(option, side), base)


def _cost_against(option: PerpOption, side: Side, base: float, price: float) -> float:
    q = quote_for(option, side, base)
    return q - base * price if side is Side.BUY else base * price - q


def trade_cost_usd(option: PerpOption, side: Side, base: float) -> float:
    """Fee + impact of the trade against the vAMM's mid (USD): what the hedge costs, the objective's figure."""
    return _cost_against(option, side, base, option.mid_price)


def value_cost_usd(option: PerpOption, side: Side, base: float) -> float:
    """What the trade takes off the account value (USD): its quote against the mark, the margin rules' figure."""
    return _cost_against(option, side, base, option.mark_price)


def fee_usd(option: PerpOption, side: Side, base: float) -> float:
    """The exchange fee inside the trade's quote (as a venue's: off the quote received, or within the quote paid)."""
    q, f = quote_for(option, side, base), fee_rate(option)
    return q * f / (1 - f) if side is Side.SELL else q * f


def impact_bps(option: PerpOption, side: Side, base: float) -> float:
    """Average impact of the trade against the vAMM's mid, fee excluded, in bp (as a venue's is against its mid)."""
    if base <= 0:
        return 0.0
    price, f, mid = quote_for(option, side, base) / base, fee_rate(option), option.mid_price
    impact = mid - price / (1 - f) if side is Side.SELL else price * (1 - f) - mid
    return impact / mid * 1e4


def funding_usd(option: PerpOption, signed: float, horizon_days: float) -> float:
    """Funding the trade pays over the horizon: x · index · rate · days (negative: received)."""
    return signed * option.index_price * option.daily_funding_rate * horizon_days


def grows(option: PerpOption, signed: float) -> bool:
    """True unless the trade is reduce-only: the size after lies between 0 and the size now (no growth, no flip)."""
    after = option.size + signed
    return not min(0.0, option.size) <= after <= max(0.0, option.size)


@dataclass(frozen=True)
class Margin:
    """The account after a trade: value, free collateral, and what each margin rule leaves (≥ 0: met)."""

    size: float
    value: float
    free_collateral: float  # min(collateral − owed, V(0)) − value cost − im·|n|·mark
    stress_slack: tuple[float, float]  # V(x) + n·mark·m − mm·|n|·mark·(1+m), at m = −stress and +stress


def margin_after(option: PerpOption, signed: float, cost: float, stress: float) -> Margin:
    """The account after a trade of ``signed`` base units taking ``cost`` USD off its value (:func:`value_cost_usd`)."""
    n, mark = option.size + signed, option.mark_price
    value = option.value_usd - cost
    free = option.im_room_usd - cost - option.im_ratio * abs(n) * mark
    slack = tuple(value + n * mark * m - option.mm_ratio * abs(n) * mark * (1 + m) for m in (-stress, stress))
    return Margin(n, value, free, (slack[0], slack[1]))


def breach(option: PerpOption, signed: float, cost: float, stress: float) -> str | None:
    """Which margin rule the trade breaks (one phrase naming the market), None when allowed (reduce-only always is);
    ``cost`` is the trade's :func:`value_cost_usd`."""
    if not grows(option, signed):
        return None
    m = margin_after(option, signed, cost, stress)
    tol = 1e-9 * max(1.0, abs(m.value), abs(m.size) * option.mark_price)
    if m.free_collateral < -tol:
        return (f"perp {option.key}: initial margin: a size of {m.size:g} {option.underlying} needs "
                f"${option.im_ratio * abs(m.size) * option.mark_price:,.2f} (im_ratio {option.im_ratio:g}) and the "
                f"account has ${option.im_room_usd - (option.value_usd - m.value):,.2f} after the trade's cost")
    worst = min(m.stress_slack)
    if worst < -tol:
        move = -stress if m.stress_slack[0] <= m.stress_slack[1] else stress
        return (f"perp {option.key}: liquidation distance: a size of {m.size:g} {option.underlying} falls below "
                f"maintenance (mm_ratio {option.mm_ratio:g}) if the mark moves {move:+.0%}")
    return None


def liquidation_price(option: PerpOption, size: float, value: float) -> float | None:
    """The mark at which an account of ``size`` worth ``value`` at the mark hits maintenance (risk.perps's formula)."""
    if not size:
        return None
    price = -(value - size * option.mark_price) / (size - option.mm_ratio * abs(size))
    return price if price > 0 else None


def planned_perp_trade(option: PerpOption, side: Side, base: float, horizon_days: float,
                       stress: float) -> PlannedPerpTrade:
    """``base`` units on ``side`` of ``option``, priced on its curve, with the account after it."""
    signed = base if side is Side.BUY else -base
    quote, cost, taken = quote_for(option, side, base), trade_cost_usd(option, side, base), value_cost_usd(
        option, side, base)
    fee = fee_usd(option, side, base)
    m = margin_after(option, signed, taken, stress)
    notional = abs(m.size) * option.mark_price
    return PlannedPerpTrade(
        chain=option.chain, market=option.market, underlying=option.underlying, side=side, base_amount=base,
        quote_amount=quote, expected_price=quote / base, fee_usd=fee, impact_usd=cost - fee, value_cost_usd=taken,
        funding_usd=funding_usd(option, signed, horizon_days), gas_usd=option.gas_usd, size_before=option.size,
        size_after=m.size, grows=grows(option, signed), account_value_after_usd=m.value,
        free_collateral_after_usd=m.free_collateral, margin_ratio_after=m.value / notional if notional else None,
        liquidation_price_after=liquidation_price(option, m.size, m.value),
    )


def room(option: PerpOption, side: Side, stress: float, impact_cap_bps: float) -> tuple[float, str]:
    """The largest trade on ``side`` every rule allows (base units), and what stops it there: ``"curve depth"``,
    ``"the impact cap"``, or the margin rule's phrase (:func:`breach`). Bisection: the allowed sizes are an
    interval from 0 (reduce-only first, then growth while the margin holds)."""
    def ok(base: float) -> str | None:
        if impact_bps(option, side, base) > impact_cap_bps * (1 + 1e-12):
            return "the impact cap"
        signed = base if side is Side.BUY else -base
        return breach(option, signed, value_cost_usd(option, side, base), stress)

    top = capacity(option, side)
    why = ok(top)
    if why is None:
        return top, "curve depth"
    lo, hi = 0.0, top
    for _ in range(100):
        mid = (lo + hi) / 2
        if ok(mid) is None:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * max(1.0, top):
            break
    return lo, ok(hi) or why

