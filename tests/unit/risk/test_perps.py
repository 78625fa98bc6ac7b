"""A perp position's margin, liquidation price and funding (risk.perps), against Curie's definitions: at the
liquidation price the account value equals the maintenance requirement, and a stress move survives exactly when it
stays on the safe side of that price."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters import PerpPosition
from crosshedge import InputError
from risk import (
    CURIE_MM_RATIO,
    account_value,
    free_collateral,
    funding_usd,
    liquidation_price,
    margin_ratio,
    survives_move,
)


def opened(size: float, entry: float, collateral: float) -> PerpPosition:
    return PerpPosition(underlying="ETH", size=size, open_notional=-size * entry, collateral_usd=collateral)


def test_the_docstring_example() -> None:
    pos = opened(10.0, 3_000.0, 5_000.0)
    assert pos.entry_price == pytest.approx(3_000.0)
    assert liquidation_price(pos) == pytest.approx(25_000.0 / 9.375)
    assert not survives_move(pos, 3_000.0, -0.40) and survives_move(pos, 3_000.0, +0.40)
    assert funding_usd(pos, 3_000.0, 0.0003, 7.0) == pytest.approx(63.0)
    assert margin_ratio(pos, 3_000.0) == pytest.approx(5_000.0 / 30_000.0)
    assert free_collateral(pos, 3_000.0) == pytest.approx(5_000.0 - 0.10 * 30_000.0)


@given(size=st.floats(0.01, 1_000.0) | st.floats(-1_000.0, -0.01), entry=st.floats(100.0, 100_000.0),
       leverage=st.floats(1.5, 15.0))
def test_at_the_liquidation_price_the_account_is_at_maintenance(size: float, entry: float, leverage: float) -> None:
    pos = opened(size, entry, abs(size) * entry / leverage)
    price = liquidation_price(pos)
    assert price is not None  # levered above 1x: a long falls there, a short rises there
    assert account_value(pos, price) == pytest.approx(CURIE_MM_RATIO * abs(size) * price, rel=1e-9, abs=1e-6)
    assert (price < entry) if size > 0 else (price > entry)


@given(size=st.floats(0.01, 1_000.0) | st.floats(-1_000.0, -0.01), entry=st.floats(100.0, 100_000.0),
       leverage=st.floats(1.5, 15.0), move=st.floats(-0.9, 2.0))
def test_a_move_survives_exactly_on_the_safe_side_of_the_liquidation_price(size: float, entry: float,
                                                                            leverage: float, move: float) -> None:
    pos = opened(size, entry, abs(size) * entry / leverage)
    price = liquidation_price(pos)
    assert price is not None
    moved = entry * (1 + move)
    if abs(moved - price) / price < 1e-9:
        return  # on the boundary itself: either answer is rounding
    assert survives_move(pos, entry, move) == (moved > price if size > 0 else moved < price)


def test_an_unlevered_long_cannot_be_liquidated_and_a_flat_account_has_no_price() -> None:
    assert liquidation_price(opened(1.0, 3_000.0, 3_000.0)) is None
    flat = PerpPosition(underlying="ETH", size=0.0, open_notional=0.0, collateral_usd=1_000.0)
    assert liquidation_price(flat) is None and margin_ratio(flat, 3_000.0) is None


def test_funding_is_paid_by_longs_and_received_by_shorts_when_the_rate_is_positive() -> None:
    assert funding_usd(opened(2.0, 3_000.0, 1e4), 3_000.0, 0.001, 1.0) == pytest.approx(6.0)
    assert funding_usd(opened(-2.0, 3_000.0, 1e4), 3_000.0, 0.001, 1.0) == pytest.approx(-6.0)
    owing = opened(1.0, 3_000.0, 1_000.0).model_copy(update={"owed_funding_usd": 50.0})
    assert account_value(owing, 3_000.0) == pytest.approx(950.0)  # owed funding counts against the account


def test_bad_inputs_are_named() -> None:
    pos = opened(1.0, 3_000.0, 1_000.0)
    with pytest.raises(InputError, match="mark"):
        survives_move(pos, 0.0, -0.1)
    with pytest.raises(InputError, match="mm_ratio"):
        liquidation_price(pos, mm_ratio=1.5)
    with pytest.raises(InputError, match="move"):
        survives_move(pos, 3_000.0, -1.0)
    with pytest.raises(InputError, match="days"):
        funding_usd(pos, 3_000.0, 0.001, -1.0)
