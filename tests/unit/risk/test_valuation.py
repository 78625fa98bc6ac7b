"""The vectorised book value equals aggregate's value scenario by scenario (one revaluation, two speeds)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel

from adapters import LpPosition, OptionPosition, load_book
from crosshedge import InputError
from risk import aggregate, book_values

NOW = datetime(2026, 11, 21, tzinfo=UTC)
BOOK = Path(__file__).resolve().parents[3] / "examples" / "book.yaml"
MARKS = {"ETH": 3000.0, "BTC": 60000.0}


class Spot(BaseModel):
    chain: str
    symbol: str
    underlying: str
    amount: float


def _lp() -> LpPosition:
    lo = round(math.log(1 / 3300 * 10 ** (18 - 6)) / math.log(1.0001))
    hi = round(math.log(1 / 2700 * 10 ** (18 - 6)) / math.log(1.0001))
    return LpPosition(id="base:1", chain="base", token_id=1, position_manager="0x" + "11" * 20,
                      underlying="ETH", quote_underlying="USD", token0="0x" + "aa" * 20, token1="0x" + "bb" * 20,
                      decimals0=6, decimals1=18, risky_is_token0=False, fee=500, tick_lower=lo, tick_upper=hi,
                      liquidity=10**16, tokens_owed0=5 * 10**6, tokens_owed1=10**17)


def _book() -> list[BaseModel]:
    flat = OptionPosition.model_validate(dict(id="flat", underlying="ETH", kind="put", strike=2500.0,
                                              expiry=NOW + timedelta(9), size=-25, vol=0.7, venue="deribit",
                                              tenor_days=9))
    spot = [Spot(chain="arbitrum", symbol="WETH", underlying="ETH", amount=12.5),
            Spot(chain="base", symbol="USDC", underlying="USD", amount=1e5),
            Spot(chain="ethereum", symbol="WBTC", underlying="BTC", amount=-0.7)]
    return [*load_book(BOOK, NOW), flat, _lp(), *spot]


def test_each_scenario_is_aggregates_value() -> None:
    rng = np.random.default_rng(3)
    moves = np.exp(rng.normal(0.0, 0.25, size=(40, 2)))  # as far as +-75% price moves, across the LP's range
    book = _book()
    paths = {"ETH": 3000.0 * moves[:, 0], "BTC": 60000.0 * moves[:, 1]}
    values = book_values(book, paths, NOW, rate=0.03)
    for i in range(len(moves)):
        one = aggregate(book, {"ETH": float(paths["ETH"][i]), "BTC": float(paths["BTC"][i])}, NOW, rate=0.03)
        assert values[i] == pytest.approx(one.value_usd, rel=1e-12, abs=1e-6)


def test_scalars_are_one_scenario_and_a_missing_price_is_named() -> None:
    book = _book()
    assert book_values(book, MARKS, NOW)[0] == pytest.approx(aggregate(book, MARKS, NOW).value_usd, rel=1e-12)
    with pytest.raises(InputError, match="no mark price for BTC"):
        book_values(book, {"ETH": np.array([3000.0, 3100.0])}, NOW)
