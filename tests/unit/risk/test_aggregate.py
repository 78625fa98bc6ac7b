"""Risk aggregation across options, LP positions and spot; the stress grid."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel

from adapters import LpPosition, OptionPosition
from adapters.option_book import load_book
from crosshedge import InputError
from risk import RiskReport, aggregate, bsm, human_range, lp_delta, stress_grid

NOW = datetime(2026, 11, 21, tzinfo=UTC)
BOOK = Path(__file__).resolve().parents[3] / "examples" / "book.yaml"
MARKS = {"ETH": 3000.0, "BTC": 60000.0, "USD": 1.0}


class Spot(BaseModel):
    chain: str
    symbol: str
    underlying: str
    amount: float


def _lp(chain: str = "base") -> LpPosition:
    # WETH/USDC with USDC as token0 (6 decimals): ticks negate the WETH-per-USDC price; range ~[2700, 3300].
    lo = round(math.log(1 / 3300 * 10 ** (18 - 6)) / math.log(1.0001))
    hi = round(math.log(1 / 2700 * 10 ** (18 - 6)) / math.log(1.0001))
    return LpPosition(id=f"{chain}:1", chain=chain, token_id=1, position_manager="0x" + "11" * 20,
                      underlying="ETH", quote_underlying="USD", token0="0x" + "aa" * 20, token1="0x" + "bb" * 20,
                      decimals0=6, decimals1=18, risky_is_token0=False, fee=500, tick_lower=lo, tick_upper=hi,
                      liquidity=10**16, tokens_owed0=5 * 10**6, tokens_owed1=10**17)


def _call(size: float, **kw: object) -> OptionPosition:
    base: dict[str, object] = dict(id="c", underlying="ETH", kind="call", strike=3000.0, expiry=NOW + timedelta(30),
                                   size=size, vol=0.6, venue="deribit", tenor_days=30)
    base.update(kw)
    return OptionPosition.model_validate(base)


def test_option_greeks_sum_and_units() -> None:
    rep = aggregate([_call(-10), _call(4, id="d", venue="lyra")], MARKS, NOW)
    eth = rep.underlying("ETH")
    g = bsm(True, 3000.0, 3000.0, 30 / 365, 0.0, 0.0, 0.6)
    assert eth.delta == pytest.approx(-6 * float(g.delta))
    assert eth.delta_usd == pytest.approx(eth.delta * 3000.0)
    assert eth.gamma_usd == pytest.approx(-6 * float(g.gamma) * 3000.0**2 / 100)
    assert eth.vega == pytest.approx(-6 * float(g.vega) / 100)
    assert eth.theta_day == pytest.approx(-6 * float(g.theta_day))
    assert {(ln.source, ln.chain) for ln in eth.lines} == {("option_book", "deribit"), ("option_book", "lyra")}
    assert eth.tau == pytest.approx(30 / 365) and eth.vol == pytest.approx(0.6)


def test_lp_and_spot_join_the_breakdown() -> None:
    spot = [Spot(chain="arbitrum", symbol="WETH", underlying="ETH", amount=12.5),
            Spot(chain="arbitrum", symbol="USDC", underlying="USD", amount=1000.0)]
    lp = _lp()
    rep = aggregate([_call(-10), lp, *spot], MARKS, NOW)
    eth = rep.underlying("ETH")
    by = {(ln.source, ln.chain): ln for ln in eth.lines}
    rng = human_range(lp.liquidity, lp.tick_lower, lp.tick_upper, 6, 18, False)
    assert by[("uniswap_v3_lp", "base")].delta == pytest.approx(float(lp_delta(rng.liquidity, 3000.0, rng.lower,
                                                                                 rng.upper)) + 0.1)
    assert by[("uniswap_v3_lp", "base")].gamma < 0 and by[("uniswap_v3_lp", "base")].lvr_day > 0
    assert by[("erc20", "arbitrum")].delta == 12.5
    assert eth.delta == pytest.approx(sum(ln.delta for ln in eth.lines))
    assert rep.cash_usd == 1000.0
    assert rep.value_usd == pytest.approx(1000.0 + sum(ln.value_usd for ln in eth.lines))
    assert RiskReport.model_validate_json(rep.model_dump_json()) == rep


def test_missing_mark_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no mark price for BTC"):
        aggregate([_call(1, underlying="BTC", strike=60000.0)], {"ETH": 3000.0}, NOW)


def test_example_book_is_short_gamma_and_stress_grid_is_consistent() -> None:
    book = load_book(BOOK, NOW)
    rep = aggregate(book, MARKS, NOW)
    assert all(u.gamma < 0 for u in rep.underlyings)
    grid = stress_grid(book, MARKS, NOW)
    assert len(grid.cells) == 9 * 5
    assert grid.cell(0.0, 0.0).pnl_usd == pytest.approx(0.0, abs=1e-6)
    # Short gamma and short vega: big moves either way lose, vol up loses.
    # Short gamma: a symmetric pair of large moves loses on net, whatever the book's own delta.
    assert grid.cell(-0.4, 0.0).pnl_usd + grid.cell(0.4, 0.0).pnl_usd < 0
    assert grid.cell(0.0, 0.5).pnl_usd < 0 < grid.cell(0.0, -0.5).pnl_usd
    # Small shocks: P&L ~ delta dS + 1/2 gamma dS^2 (per underlying, summed).
    approx = sum(u.delta * u.price * 0.05 + 0.5 * u.gamma * (u.price * 0.05) ** 2 for u in rep.underlyings)
    assert grid.cell(0.05, 0.0).pnl_usd == pytest.approx(approx, rel=0.05)
    # Short gamma: delta falls as prices rise.
    assert grid.cell(0.1, 0.0).delta["ETH"] < grid.cell(-0.1, 0.0).delta["ETH"]
    assert grid.worst().pnl_usd <= min(c.pnl_usd for c in grid.cells)
