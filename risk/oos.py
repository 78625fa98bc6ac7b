"""Out-of-sample evaluation: calibrate each band family's parameter on one period, freeze it, test on the next.

Calibration (in sample): for each band family (Whalley–Wilmott, Zakamouline, cost-aware band) the swept parameter
value whose run is the cheapest among those with daily P&L std <= fixed daily hedging's; when none is, the one
with the lowest std ratio. Test (out of sample): each frozen choice and fixed daily hedging replayed on the test
period; the saving is 1 − cost / daily's cost, the std ratio comes with its 90% paired block-bootstrap interval.

The cost-aware band against plain Whalley–Wilmott, out of sample: paired block-bootstrap intervals of
std(cost-aware) / std(WW) and cost(cost-aware) / cost(WW) over the same days. It is called **measurably better**
only when neither interval lies above 1 and at least one lies wholly below 1 (and, symmetrically, worse).

Usage::

    oos = out_of_sample(calibration_series, test_series, positions, CostModel.default())
    for c in oos.choices: print(c.label, c.test_saving, c.test.std_ratio_lo, c.test.std_ratio_hi)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from adapters import OptionPosition
from crosshedge import Frozen, InputError
from crosshedge.config import PolicySettings
from risk.backtest import (
    SWEEPS,
    BacktestResult,
    BootstrapSpec,
    CostModel,
    PathRun,
    PolicyResult,
    PolicySpec,
    run_on_path,
    sweep_specs,
)
from risk.bookpath import IvModel, book_path
from risk.bootstrap import std_ratio_ci, sum_ratio_ci
from risk.prices import PriceSeries

BAND_FAMILIES = ("whalley_wilmott", "zakamouline", "cost_aware_band")


class FrozenChoice(Frozen):
    """One family's parameter chosen in sample, and how it did on both periods."""

    family: str
    label: str
    param: str
    value: float
    calibration: PolicyResult
    test: PolicyResult
    calibration_saving: float  # 1 − cost / fixed daily hedging's cost (negative: dearer)
    test_saving: float


class PairComparison(Frozen):
    """Policy a against policy b over the same days: ratios with their paired bootstrap intervals."""

    a: str
    b: str
    std_ratio: float
    std_ratio_lo: float
    std_ratio_hi: float
    cost_ratio: float
    cost_ratio_lo: float
    cost_ratio_hi: float
    verdict: Literal["better", "worse", "not measurably different"]


class OutOfSample(Frozen):
    calibration: BacktestResult
    test: BacktestResult
    choices: tuple[FrozenChoice, ...]
    cost_aware_vs_ww: PairComparison | None


def choose(result: BacktestResult, family: str) -> PolicyResult:
    """The family's calibrated run: cheapest at std <= the reference's, else the lowest std ratio."""
    runs = [r for r in result.results if r.policy == family and r.std_ratio is not None]
    if not runs:
        raise InputError(f"the calibration run has no {family} results with a std ratio to fixed daily hedging")
    eligible = [r for r in runs if r.std_ratio is not None and r.std_ratio <= 1.0]
    if eligible:
        return min(eligible, key=lambda r: r.total_cost_usd)
    return min(runs, key=lambda r: r.std_ratio or 0.0)


def saving(result: BacktestResult, run: PolicyResult) -> float:
    daily = next(r for r in result.results if r.label == result.reference)
    return 1.0 - run.total_cost_usd / daily.total_cost_usd


def compare(run: PathRun, a: str, b: str, boot: BootstrapSpec) -> PairComparison:
    """Policy labelled ``a`` against ``b`` on the same days (see the module docstring for the verdict rule)."""
    labels = [r.label for r in run.result.results]
    ia, ib = labels.index(a), labels.index(b)
    s, s_lo, s_hi = std_ratio_ci(run.daily_pnl[ia], run.daily_pnl[ib], boot.mean_block_days, boot.resamples,
                                 boot.seed, boot.level)
    c, c_lo, c_hi = sum_ratio_ci(run.daily_cost[ia], run.daily_cost[ib], boot.mean_block_days, boot.resamples,
                                 boot.seed, boot.level)
    if s_hi <= 1.0 and c_hi <= 1.0 and (s_hi < 1.0 or c_hi < 1.0):
        verdict: Literal["better", "worse", "not measurably different"] = "better"
    elif s_lo >= 1.0 and c_lo >= 1.0 and (s_lo > 1.0 or c_lo > 1.0):
        verdict = "worse"
    else:
        verdict = "not measurably different"
    return PairComparison(a=a, b=b, std_ratio=s, std_ratio_lo=s_lo, std_ratio_hi=s_hi, cost_ratio=c,
                          cost_ratio_lo=c_lo, cost_ratio_hi=c_hi, verdict=verdict)


def out_of_sample(  # the two periods and the book, then options
    calibration: PriceSeries, test: PriceSeries, positions: Sequence[OptionPosition], costs: CostModel, *,
    families: Sequence[str] = BAND_FAMILIES, base: PolicySettings | None = None, iv: IvModel = "realised",
    bootstrap: BootstrapSpec | None = None, progress: Callable[[str], None] | None = None,
    history: PriceSeries | None = None,
) -> OutOfSample:
    """Calibrate on ``calibration``, freeze, evaluate on ``test`` (see the module docstring); ``history``: the
    series both were cut from, for the implied-vol warm-up (only past bars are used at any bar).

    Usage: ``out_of_sample(eth.window(y2022, y2024), eth.window(y2024, None), book, CostModel.default())``
    """
    unknown = [f for f in families if f not in SWEEPS]
    if unknown:
        raise InputError(f"unknown policy family {unknown[0]!r}; choose from {', '.join(SWEEPS)}")
    boot = bootstrap or BootstrapSpec()
    daily = PolicySpec.of("fixed_interval", base, interval_hours=24.0)
    cal_specs = [daily, *sweep_specs(list(families), base)]
    cal = run_on_path(book_path(calibration, positions, iv=iv, history=history), cal_specs, costs, progress, iv=iv,
                      bootstrap=boot).result
    chosen = [choose(cal, f) for f in families]
    test_specs = [daily, *(PolicySpec.of(r.policy, base, **{str(r.param): float(r.value or 0.0)}) for r in chosen)]
    test_path = book_path(test, positions, iv=iv, history=history)
    run = run_on_path(test_path, test_specs, costs, progress, iv=iv, bootstrap=boot)
    choices = []
    for r, t in zip(chosen, run.result.results[1:], strict=True):
        choices.append(FrozenChoice(family=r.policy, label=r.label, param=str(r.param), value=float(r.value or 0.0),
                                    calibration=r, test=t, calibration_saving=saving(cal, r),
                                    test_saving=saving(run.result, t)))
    pair = None
    if "cost_aware_band" in families and "whalley_wilmott" in families:
        by_family = {c.family: c.label for c in choices}
        pair = compare(run, by_family["cost_aware_band"], by_family["whalley_wilmott"], boot)
    return OutOfSample(calibration=cal, test=run.result, choices=tuple(choices), cost_aware_vs_ww=pair)
