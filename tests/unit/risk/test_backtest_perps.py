"""Perps as a hedge instrument in the backtest: spot unchanged, funding sign and size, CSV funding, cheapest routing,
liquidation at the bar an independent calculation says, and a short real-data run (ETH, the FTX week of 2022-11)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pytest

from adapters import OptionPosition
from adapters.option_book import load_book
from crosshedge import InputError
from crosshedge.config import PolicySettings
from risk import CostModel, FundingSource, HedgeSpec, PerpSpec, PolicySpec, VenueSpec, load_prices, run_backtest
from risk.backtest import replay, run_policy
from risk.bookpath import BookPath, book_path
from risk.greeks import FloatArray
from risk.prices import PriceSeries

REPO = Path(__file__).resolve().parents[3]
BOOK = REPO / "examples" / "book.yaml"
NOW = datetime(2026, 11, 21, tzinfo=UTC)
T0 = datetime(2022, 1, 1, tzinfo=UTC).timestamp()
AMPLE = 1e9  # collateral no move here can liquidate


def _series(closes: np.ndarray, step_s: float = 3600.0) -> PriceSeries:
    times: FloatArray = T0 + step_s * np.arange(len(closes), dtype=np.float64)
    return PriceSeries("synthetic", "ETH", times, np.asarray(closes, dtype=np.float64), step_s, ())


def _walk(n: int = 24 * 6, seed: int = 5, drift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out: np.ndarray = 3000.0 * np.exp(np.cumsum(np.concatenate([[0.0], drift + 0.01 * rng.standard_normal(n - 1)])))
    return out


Kind = Literal["call", "put"]


def _book(kind: Kind = "call", size: float = -200.0) -> list[OptionPosition]:
    return [OptionPosition(id="x", underlying="ETH", kind=kind, strike=3000.0, expiry=NOW, size=size, vol=0.6,
                           venue="x", tenor_days=30)]


def _path(closes: np.ndarray, kind: Kind = "call") -> BookPath:
    return book_path(_series(closes), _book(kind), iv="flat")


def _daily(min_band: float = 0.0) -> PolicySpec:
    return PolicySpec.of("fixed_interval", PolicySettings(min_band_usd=min_band), interval_hours=24.0)


def _one_venue(gas: float, fee_bps: float, impact_bps: float) -> CostModel:
    return CostModel(venues=(VenueSpec(chain="c", venue="v", gas_usd=gas, fee_rate=fee_bps / 1e4,
                                       impact_per_musd=impact_bps / 1e4),))


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Figures of the FTX week (ETH 2022-11-06 → 2022-11-13, examples/book.yaml as of NOW, CostModel.default()) taken
# from the backtester before perps existed: (total P&L, total cost, daily P&L std, unexplained, trades).
GOLDEN = {
    "fixed_interval interval_hours=24": (-273664.3538940838, 1318.3664864618584, 88083.45890017334,
                                         8061.693589633164, 7),
    "whalley_wilmott": (-285798.6740058775, 1671.7281225159204, 93950.92229824074, 8061.693589633164, 54),
    "cost_aware_band": (-285829.11620906164, 1666.139011804213, 93937.90936456643, 8061.693589633167, 53),
}


def _ftx(shared_data: Path) -> tuple[PriceSeries, list[OptionPosition]]:
    series = load_prices(shared_data / "ethusdt_1h.csv").window(datetime(2022, 11, 6, tzinfo=UTC),
                                                                datetime(2022, 11, 13, tzinfo=UTC))
    return series, load_book(BOOK, NOW)


def _ftx_specs() -> list[PolicySpec]:
    return [PolicySpec.of("fixed_interval", interval_hours=24.0), PolicySpec.of("whalley_wilmott"),
            PolicySpec.of("cost_aware_band")]


def test_spot_reproduces_the_backtest_of_before_bit_for_bit(shared_data: Path) -> None:
    series, book = _ftx(shared_data)
    plain = run_backtest(series, book, _ftx_specs(), CostModel.default())
    spot = run_backtest(series, book, _ftx_specs(), CostModel.default(), hedge=HedgeSpec(instrument="spot"))
    assert plain == spot and plain.hedge is None
    for r in plain.results:
        got = (r.total_pnl_usd, r.total_cost_usd, r.pnl_std_usd, r.explain.unexplained, r.trades)
        assert got == GOLDEN[r.label], r.label  # exact floats, not approx
        assert r.instrument == "spot" and r.perp_trades == 0 and r.funding_usd == 0.0 and r.explain.funding == 0.0
        assert r.spot_fees_usd + r.spot_impact_usd + r.spot_gas_usd == pytest.approx(r.total_cost_usd, rel=1e-12)


def test_zero_funding_and_equal_costs_make_perp_equal_spot() -> None:
    path = _path(_walk())
    costs = _one_venue(gas=0.10, fee_bps=10.0, impact_bps=25.0)
    perp = HedgeSpec(instrument="perp", perp=PerpSpec(gas_usd=0.10, fee_bps=10.0, impact_bps_per_musd=25.0),
                     funding=FundingSource.constant(0.0), collateral_usd=AMPLE)
    for spec in (_daily(), PolicySpec.of("whalley_wilmott"), PolicySpec.of("cost_aware_band")):
        a, b = replay(path, spec, costs), replay(path, spec, costs, perp)
        assert a.trades == b.trades
        np.testing.assert_allclose(b.pnl, a.pnl, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(b.cost, a.cost, rtol=1e-12, atol=1e-12)
        ra, rb = run_policy(path, spec, costs), run_policy(path, spec, costs, perp)
        assert rb.perp_trades == rb.trades and rb.spot_trades == 0 and rb.liquidations == 0
        assert rb.perp_fees_usd == pytest.approx(ra.spot_fees_usd) and rb.perp_impact_usd == pytest.approx(
            ra.spot_impact_usd)


def _independent_funding(path: BookPath, rate: float) -> float:
    """Daily hedging to zero from bar 0 (min band 0): the hedge held over bar i is −Δ at the last 24-hour mark."""
    close, times = path.series.close, path.series.times
    total, held = 0.0, 0.0
    for i in range(1, len(close)):
        if (i - 1) % 24 == 0:
            held = -float(path.delta[i - 1])
        total += held * float(close[i - 1]) * rate * (float(times[i]) - float(times[i - 1])) / 86400.0
    return total


@pytest.mark.parametrize(("kind", "sign"), [("call", 1.0), ("put", -1.0)])
def test_funding_sign_and_size_match_an_independent_sum(kind: Kind, sign: float) -> None:
    """A short call book is hedged long (pays positive funding); a short put book short (receives it)."""
    path, rate = _path(_walk(), kind), 0.0005
    costs = CostModel.default()
    zero = HedgeSpec(instrument="perp", funding=FundingSource.constant(0.0), collateral_usd=AMPLE)
    paid = zero.model_copy(update={"funding": FundingSource.constant(rate)})
    r0, r1 = run_policy(path, _daily(), costs, zero), run_policy(path, _daily(), costs, paid)
    expected = _independent_funding(path, rate)
    assert math.copysign(1.0, expected) == sign and math.copysign(1.0, r1.funding_usd) == sign
    assert r1.funding_usd == pytest.approx(expected, rel=1e-12)
    assert r1.explain.funding == pytest.approx(-expected, rel=1e-12)  # paid is a loss in the explain
    assert r0.total_pnl_usd - r1.total_pnl_usd == pytest.approx(expected, rel=1e-9)
    assert r1.explain.unexplained == pytest.approx(r0.explain.unexplained, abs=1e-6)  # funding is explained
    assert r1.all_in_cost_usd == pytest.approx(r1.total_cost_usd + expected)


def _funding_csv(tmp_path: Path, body: str, header: str = "timestamp,rate") -> Path:
    p = tmp_path / "funding.csv"
    p.write_text(header + "\n" + body)
    return p


def test_constant_rate_and_a_constant_csv_give_the_same_totals(tmp_path: Path) -> None:
    path = _path(_walk())
    rows = "".join(f"{int(T0) + 8 * 3600 * k - 3600},0.0002,x\n" for k in range(30))  # every 8 h, from 1 h before
    csv_path = _funding_csv(tmp_path, rows, header="unix_timestamp,rate,note")
    by_csv = HedgeSpec(instrument="perp", funding=FundingSource.from_csv(csv_path), collateral_usd=AMPLE)
    by_const = by_csv.model_copy(update={"funding": FundingSource.constant(0.0002)})
    for spec in (_daily(), PolicySpec.of("whalley_wilmott")):
        a, b = run_policy(path, spec, CostModel.default(), by_csv), run_policy(path, spec, CostModel.default(),
                                                                                by_const)
        assert a.funding_usd == pytest.approx(b.funding_usd, rel=1e-12) and a.funding_usd > 0
        assert a.total_pnl_usd == pytest.approx(b.total_pnl_usd, rel=1e-12)
    assert "funding.csv" in by_csv.funding.sentence and "not market data" in by_const.funding.sentence


def test_csv_rates_step_at_each_point(tmp_path: Path) -> None:
    times: FloatArray = T0 + 3600.0 * np.arange(5, dtype=np.float64)
    src = FundingSource.from_csv(_funding_csv(tmp_path, "2022-01-01T00:00:00Z,0.001\n2022-01-01 02:30,-0.002\n"))
    assert src.at(times).tolist() == [0.001, 0.001, 0.001, -0.002, -0.002]


@pytest.mark.parametrize(
    ("body", "header", "message"),
    [
        ("2022-01-01 00:00,abc\n", "timestamp,rate", "line 2: rate 'abc' is not a number"),
        ("2022-01-01 00:00,0.1\n2022-01-01 01:00,nan\n", "timestamp,rate", "line 3: funding rate nan"),
        ("2022-01-01 00:00,0.1\n2022-01-01 01:00,0.5\n", "timestamp,rate", "line 3: funding rate 0.5 per day"),
        ("2022-01-01 02:00,0.1\n2022-01-01 01:00,0.1\n", "timestamp,rate", "line 3: out-of-order timestamp"),
        ("2022-01-01 02:00,0.1\n2022-01-01 02:00,0.1\n", "timestamp,rate", "line 3: duplicate timestamp"),
        ("soon,0.1\n", "timestamp,rate", "line 2: timestamp 'soon' is not a date/time"),
        ("2022-01-01 00:00\n", "timestamp,rate", "line 2: expected at least 2 fields"),
        ("2022-01-01 00:00,0.1\n", "timestamp,funding", "line 1: no 'rate' column"),
        ("", "timestamp,rate", "has no rate rows"),
    ],
)
def test_csv_errors_name_the_file_and_the_line(tmp_path: Path, body: str, header: str, message: str) -> None:
    path = _funding_csv(tmp_path, body, header)
    with pytest.raises(InputError) as err:
        FundingSource.from_csv(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_a_bar_before_the_first_funding_point_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = _funding_csv(tmp_path, "2022-01-01 00:30,0.0001\n")
    hedge = HedgeSpec(instrument="perp", funding=FundingSource.from_csv(path))
    with pytest.raises(InputError, match=r"funding\.csv: no funding rate at or before the first bar "
                                         r"\(2022-01-01T00:00:00Z\); its first point is 2022-01-01T00:30:00Z"):
        run_policy(_path(_walk()), _daily(), CostModel.default(), hedge)


@pytest.mark.parametrize("rate", [-0.003, -0.0005, 0.0, 0.0005, 0.003])
@pytest.mark.parametrize("policy", ["fixed_interval", "whalley_wilmott"])
def test_cheapest_never_costs_more_than_the_worse_single_instrument(rate: float, policy: str) -> None:
    path = _path(_walk(seed=11))
    costs = _one_venue(gas=8.0, fee_bps=8.0, impact_bps=5.0)  # an L1 spot pool against a cheap-gas, 10 bp perp
    spec = _daily() if policy == "fixed_interval" else PolicySpec.of(policy)
    base = HedgeSpec(funding=FundingSource.constant(rate), collateral_usd=AMPLE)
    res = {inst: run_policy(path, spec, costs, base.model_copy(update={"instrument": inst}))
           for inst in ("spot", "perp", "cheapest")}
    worse = max(res["spot"].all_in_cost_usd, res["perp"].all_in_cost_usd)
    assert res["cheapest"].all_in_cost_usd <= worse + 1e-9, {k: v.all_in_cost_usd for k, v in res.items()}


def test_cheapest_hedges_on_spot_when_funding_is_high_for_the_hedges_sign() -> None:
    """A short call book is hedged long: a high positive rate sends the first hedge to spot, a negative one to
    the perp (which is cheaper to trade here when funding is ignored)."""
    path = _path(_walk())
    costs = _one_venue(gas=8.0, fee_bps=20.0, impact_bps=5.0)
    s0, q0 = float(path.series.close[0]), -float(path.delta[0])
    assert q0 > 0
    spot_cost = costs.cheapest(q0, s0)[0]
    for rate, where in ((0.01, "spot"), (-0.01, "perp"), (0.0, "perp")):
        hedge = HedgeSpec(instrument="cheapest", funding=FundingSource.constant(rate), collateral_usd=AMPLE)
        rep = replay(path, _daily(), costs, hedge)
        on_spot = rep.cost[0] == pytest.approx(spot_cost)
        assert on_spot == (where == "spot"), (rate, rep.cost[0], spot_cost)


def test_thin_collateral_is_liquidated_at_the_bar_an_independent_calculation_says() -> None:
    closes = 3000.0 * 0.995 ** np.arange(72)  # down 0.5% an hour: a long hedge loses steadily
    path = _path(closes)
    perp = PerpSpec()
    q, s0 = -float(path.delta[0]), float(closes[0])
    assert q > 0
    collateral = 0.12 * q * s0  # above the 10% initial margin, so the first hedge is taken whole
    hedge = HedgeSpec(instrument="perp", funding=FundingSource.constant(0.0), collateral_usd=collateral)
    equity = collateral - (perp.at(s0).cost_usd(q, s0) - perp.gas_usd)  # fee and impact come out of the account
    k = next(i for i in range(1, len(closes))
             if equity + q * (closes[i] - s0) < perp.mm_ratio * q * closes[i])
    assert 1 < k < 24  # before the daily policy's next hedge
    res = run_policy(path, _daily(), CostModel.default(), hedge)
    rep = replay(path, _daily(), CostModel.default(), hedge)
    assert res.liquidated_at[0] == _iso(float(path.series.times[k]))
    assert res.liquidation_penalty_usd >= perp.liquidation_penalty * q * closes[k]
    assert rep.cost[k] == pytest.approx(perp.liquidation_penalty * q * closes[k])
    assert rep.hedge[k + 1] == 0.0  # the hedge closed at bar k is not held over bar k + 1
    assert rep.cost[k + 1] > 0  # the policy re-hedged on the next bar
    assert res.min_margin_ratio is not None and res.min_margin_ratio < perp.mm_ratio


def test_perp_trades_past_initial_margin_are_cut_to_what_it_allows() -> None:
    path = _path(_walk())
    q, s0 = -float(path.delta[0]), float(path.series.close[0])
    hedge = HedgeSpec(instrument="perp", funding=FundingSource.constant(0.0), collateral_usd=0.05 * q * s0)
    rep = replay(path, _daily(), CostModel.default(), hedge)
    assert rep.legs is not None and rep.legs.account is not None and rep.legs.account.capped >= 1
    assert 0 < rep.hedge[1] < q and rep.hedge[1] * s0 * 0.10 <= 0.05 * q * s0  # about half the hedge: 5% / 10%


def test_real_ftx_week_spot_perp_cheapest(shared_data: Path) -> None:
    """ETH 2022-11-06 → 11-13 with a constant 0.01%/day: the perp's 10 bp fee costs more than 5 bp spot pools,
    the long hedge pays funding, cheapest is no dearer than the dearer of the two, default collateral survives."""
    series, book = _ftx(shared_data)
    runs = {inst: run_backtest(series, book, _ftx_specs(), CostModel.default(),
                               hedge=HedgeSpec(instrument=inst, funding=FundingSource.constant(0.0001)))
            for inst in ("spot", "perp", "cheapest")}
    assert runs["spot"].hedge is None and runs["perp"].hedge is not None
    assert runs["perp"].hedge.funding_kind == "constant" and "0.0100% per day" in runs["perp"].hedge.funding
    for k in range(3):
        spot, perp, cheap = (runs[i].results[k] for i in ("spot", "perp", "cheapest"))
        assert perp.total_cost_usd > spot.total_cost_usd and perp.funding_usd > 0
        assert perp.explain.funding == pytest.approx(-perp.funding_usd)
        assert cheap.all_in_cost_usd <= max(spot.all_in_cost_usd, perp.all_in_cost_usd) + 1e-9
        assert perp.liquidations == 0 and perp.min_margin_ratio is not None and perp.min_margin_ratio > 0.0625
        assert math.isfinite(perp.pnl_std_usd) and perp.pnl_std_usd > 0
    thin = run_backtest(series, book, _ftx_specs()[:1], CostModel.default(),
                        hedge=HedgeSpec(instrument="perp", collateral_usd=60_000.0))
    assert thin.results[0].liquidations >= 1 and thin.results[0].liquidated_at[0].startswith("2022-11-0")
    assert "devnet model" in thin.hedge.funding if thin.hedge else False
