"""Uniswap curves against the pools' exact integer swaps: within 1 bp and never above, between every two breakpoints.

"Between" means strictly inside a piece (a quarter, half and three quarters in, 0.1% past its start and before its
end, random fractions, and where the curve's impact reaches the limit), for every trade up to EXACT_IMPACT_BPS of
average impact (fee excluded, against the mid). At each of those sizes the ticks the curve's segments say a fill
crosses must equal the exact swap's, so each crossing's breakpoint sits where the swap reaches the tick. Trades
whose raw amounts are dust (below DUST raw units) are left out: there the pool's own wei rounding exceeds 1 bp.
"""

from __future__ import annotations

from collections.abc import Iterator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters import EXACT_IMPACT_BPS, Curve, Segment, Side, TokenInfo, VenueState, ordered_curve_ok
from adapters.uniswap.curve import CurveCache, cumulative, curve_from_points
from adapters.uniswap.math import PIPS, V2_FEE_PIPS, get_amount_out, get_sqrt_ratio_at_tick
from adapters.uniswap_v2.adapter import UniswapV2Adapter
from adapters.uniswap_v2.adapter import sample_points as v2_points
from adapters.uniswap_v3 import PoolModel, cached_curve_of, curve_of, sample_points
from tests.unit.adapters.pool_helpers import pool_with

TOLERANCE = 1e-4  # the promised 1 bp
DUST = 10**6  # raw units below which a trade's rounding is not the curve's business
FIXED_FRACTIONS = (1e-3, 0.25, 0.5, 0.75, 1 - 1e-3)
CURVE_SETTINGS = settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
fractions = st.lists(st.floats(0.0005, 0.9995), min_size=1, max_size=3)


def curve_output(curve: Curve, amount_in: float) -> float:
    """What the curve pays for ``amount_in`` (human units): quote for a SELL of base, base for a BUY with quote."""
    sell = curve.side is Side.SELL
    out = 0.0
    for seg in curve.segments:
        cost = seg.size if sell else seg.size * seg.price  # input one whole segment takes
        take = min(1.0, amount_in / cost)
        out += take * (seg.size * seg.price if sell else seg.size)
        amount_in -= take * cost
        if amount_in <= 0:
            break
    return out


def ticks_entering(curve: Curve, amount_in: float) -> int:
    """Initialized ticks the curve says a fill of ``amount_in`` (human) crosses: every segment it enters."""
    sell = curve.side is Side.SELL
    crossed = 0
    for seg in curve.segments:
        if amount_in <= 0:
            break
        crossed += seg.ticks_crossed
        amount_in -= seg.size if sell else seg.size * seg.price
    return crossed


def inputs_between(curve: Curve, in_decimals: int, extra: list[float]) -> Iterator[int]:
    """Raw inputs strictly inside each piece of ``curve``, at fixed and given fractions of the piece."""
    sell = curve.side is Side.SELL
    prev = 0
    for base, quote in cumulative(curve):
        end = int((base if sell else quote) * 10**in_decimals)
        for f in (*FIXED_FRACTIONS, *extra):
            x = prev + int(f * (end - prev))
            if prev < x < end:
                yield x
        prev = end


def input_at_impact(curve: Curve, in_dec: int, out_dec: int, mid_rate: float, fee_pips: int, impact: float) -> int:
    """The raw input at which the curve's average impact (fee excluded, against ``mid_rate``) reaches ``impact``.

    Checking there makes sure the checks reach the impact limit, whatever the pieces' sizes (0 if never reached).
    """
    sell = curve.side is Side.SELL
    rate = (1 - impact if sell else 1 / (1 + impact)) * mid_rate * (PIPS - fee_pips) / PIPS  # out per raw in
    x0 = y0 = 0.0
    for base, quote in cumulative(curve):
        x1, y1 = (base * 10**in_dec, quote * 10**out_dec) if sell else (quote * 10**in_dec, base * 10**out_dec)
        if y1 < rate * x1:  # the average crosses the target inside this piece: y0 + k(x − x0) = rate·x
            k = (y1 - y0) / (x1 - x0)
            return int((y0 - k * x0) / (rate - k))
        x0, y0 = x1, y1
    return 0


def check_between(curve: Curve, exact: dict[int, tuple[int, int]], mid_rate: float, fee_pips: int,
                  in_dec: int, out_dec: int) -> float:
    """Assert the curve's bound at every checked input; ``exact`` maps raw input -> (raw out, ticks crossed).

    Returns the largest average impact checked (to show the checks reached EXACT_IMPACT_BPS).
    """
    reached = 0.0
    for x, (out, ticks) in exact.items():
        if out < DUST or x < DUST:
            continue
        rate = out / (x * (PIPS - fee_pips) / PIPS) / mid_rate  # fee excluded, against the mid
        impact = 1 - rate if curve.side is Side.SELL else 1 / rate - 1
        if impact > EXACT_IMPACT_BPS / 1e4:
            continue
        reached = max(reached, impact)
        got, want = curve_output(curve, x / 10**in_dec), out / 10**out_dec
        assert got <= want, f"curve pays {got} > exact {want} at input {x} (impact {impact:.4%})"
        assert got >= want * (1 - TOLERANCE), f"curve pays {got}, {1 - got / want:.3e} short of {want} at {x}"
        assert ticks_entering(curve, x / 10**in_dec) == ticks, f"ticks crossed at input {x}"
    return reached


@CURVE_SETTINGS
@given(
    base_human=st.floats(10, 1e7), price=st.floats(1e-2, 1e5), base_dec=st.sampled_from([6, 8, 18]),
    quote_dec=st.sampled_from([6, 18]), extra=fractions,
)
def test_v2_curves_within_a_basis_point_between_breakpoints(
    base_human: float, price: float, base_dec: int, quote_dec: int, extra: list[float]
) -> None:
    r_base, r_quote = int(base_human * 10**base_dec), int(base_human * price * 10**quote_dec)
    for side, r_in, r_out, in_dec, out_dec in ((Side.SELL, r_base, r_quote, base_dec, quote_dec),
                                               (Side.BUY, r_quote, r_base, quote_dec, base_dec)):
        points = v2_points(r_in, r_out)
        curve = curve_from_points(side, points, base_dec, quote_dec)
        assert ordered_curve_ok(curve)
        assert all(seg.ticks_crossed == 0 for seg in curve.segments)
        limit = input_at_impact(curve, in_dec, out_dec, r_out / r_in, V2_FEE_PIPS, 0.999 * EXACT_IMPACT_BPS / 1e4)
        inputs = [*inputs_between(curve, in_dec, extra), limit]
        exact = {x: (get_amount_out(x, r_in, r_out), 0) for x in inputs if x > 0}
        reached = check_between(curve, exact, r_out / r_in, V2_FEE_PIPS, in_dec, out_dec)
        # A pair has no window: the checks must have covered trades right up to the impact limit.
        assert reached > 0.99 * EXACT_IMPACT_BPS / 1e4 or min(r_in, r_out) < DUST * 1e3


positions = st.lists(
    st.tuples(st.integers(-120, 120), st.integers(1, 80), st.integers(10**17, 10**23)), min_size=1, max_size=8
)


def stacked_pool(raw: list[tuple[int, int, int]], tick: int, fee: int, base_range: bool, center: int = 0) -> PoolModel:
    """Ranges on a ~30-tick grid stacked around ``center + tick``, so a 1000 bp trade crosses several of them.

    ``center`` sets the raw price (-195,000: WETH/USDC as token0/token1, 3000 USDC per WETH; 195,000 the reverse).
    """
    spacing = {100: 1, 500: 10, 3000: 60}[fee]
    step = max(1, 30 // spacing) * spacing  # ~1000 bp of price spans ~30 grid lines
    ranges = [(center + lo * step, center + (lo + w) * step, liq) for lo, w, liq in raw]
    if base_range:
        ranges.append((-887272 // spacing * spacing, 887272 // spacing * spacing, raw[0][2]))
    return pool_with(ranges, tick=center + tick, spacing=spacing, fee=fee, window=6000)


@CURVE_SETTINGS
@given(
    raw=positions, tick=st.integers(-300, 300), fee=st.sampled_from([100, 500, 3000]), base_range=st.booleans(),
    decimals=st.sampled_from([(18, 18), (18, 6), (8, 6)]), center=st.sampled_from([0, -195_000, 195_000]),
    extra=fractions,
)
def test_v3_curves_within_a_basis_point_and_count_ticks_between_breakpoints(
    raw: list[tuple[int, int, int]], tick: int, fee: int, base_range: bool, decimals: tuple[int, int],
    center: int, extra: list[float],
) -> None:
    pool = stacked_pool(raw, tick, fee, base_range, center)
    base_dec, quote_dec = decimals  # base is token0: a SELL swaps zero for one
    s0 = pool.sqrt_price_x96 / 2**96
    for side, zf1, in_dec, out_dec in ((Side.SELL, True, base_dec, quote_dec), (Side.BUY, False, quote_dec, base_dec)):
        curve = curve_of(pool, zf1, side, base_dec, quote_dec)
        assert ordered_curve_ok(curve)
        mid_rate = s0**2 if zf1 else s0**-2  # raw out per raw in at the mid
        limit = input_at_impact(curve, in_dec, out_dec, mid_rate, pool.fee, 0.999 * EXACT_IMPACT_BPS / 1e4)
        exact = {}
        for x in [*inputs_between(curve, in_dec, extra), *([limit] if limit > 0 else [])]:
            result = pool.swap_exact_in(zf1, x)
            exact[x] = (result.amount_out, result.initialized_ticks_crossed)
        reached = check_between(curve, exact, mid_rate, pool.fee, in_dec, out_dec)
        # Unless the curve stops at the window's edge (or where the liquidity runs out) first, the checks reached
        # the impact limit.
        assert reached > 0.99 * EXACT_IMPACT_BPS / 1e4 or limit == 0


def test_every_initialized_tick_crossed_is_a_breakpoint() -> None:
    # Initialized ticks every 60 from -600 to 600 around a price at tick 0 (and a full range beyond the window), all
    # within 1000 bp of impact: each one the swap reaches ends a piece, and the piece after it counts the crossing.
    ranges = [(-887220, 887220, 10**21), *((-60 * k, 60 * k, 10**21) for k in range(1, 11))]
    pool = pool_with(ranges, tick=0, spacing=60, fee=3000, window=6000)
    points, crossed = sample_points(pool, True)
    below = sorted((t for t in pool.liquidity_net if t <= 0), reverse=True)
    for t in below:
        reach = pool.swap_exact_in(True, 1 << 200, sqrt_price_limit=get_sqrt_ratio_at_tick(t)).amount_in
        k = min(range(len(points)), key=lambda i: abs(points[i][0] - reach))
        assert abs(points[k][0] / reach - 1) < 1e-9, t
        assert crossed[k + 1] == 1, t
    assert sum(crossed) == len(below) == 10  # every tick below the price, none twice


def test_segment_counts_stay_small() -> None:
    # A typical pool: a full-range position and three stacked ranges near the price, 500 and 3000 fee tiers.
    for fee, spacing in ((500, 10), (3000, 60)):
        ranges = [(-887272 // spacing * spacing, 887272 // spacing * spacing, 10**22),
                  (-30 * spacing, 30 * spacing, 2 * 10**22), (-5 * spacing, 90 * spacing, 5 * 10**21)]
        pool = pool_with(ranges, tick=3, spacing=spacing, fee=fee, window=4000)
        for zf1, side in ((True, Side.SELL), (False, Side.BUY)):
            assert 30 <= len(curve_of(pool, zf1, side, 18, 6).segments) <= 48
    assert 30 <= len(curve_from_points(Side.SELL, v2_points(10**24, 3 * 10**15), 18, 6).segments) <= 48


def test_merging_sums_crossings_at_the_earlier_start() -> None:
    # The middle piece pays more than the first (rounding made them cross): merged, it starts where the first did.
    points = [(100, 1000), (200, 2010), (300, 2900)]
    curve = curve_from_points(Side.SELL, points, 0, 0, crossed=[0, 2, 1])
    assert [(s.size, s.ticks_crossed) for s in curve.segments] == [(200, 2), (100, 1)]
    # A dust step that moved nothing folds into the next piece, crossings included, from the dust step's start.
    curve = curve_from_points(Side.SELL, [(100, 1000), (100, 1000), (200, 1990)], 0, 0, crossed=[1, 2, 0])
    assert [(s.size, s.ticks_crossed) for s in curve.segments] == [(100, 1), (100, 2)]


def test_ticks_crossed_survive_the_json_round_trip() -> None:
    ranges = [(-887220, 887220, 10**21), (-600, 600, 10**22)]
    pool = pool_with(ranges, tick=0, spacing=60, fee=3000, window=4000)
    sell, buy = curve_of(pool, True, Side.SELL, 18, 6), curve_of(pool, False, Side.BUY, 18, 6)
    assert sum(s.ticks_crossed for s in sell.segments) >= 1
    token = TokenInfo(chain="c", symbol="T", address="0x" + "11" * 20, decimals=18, underlying="ETH")
    state = VenueState(chain="c", venue="v", adapter="uniswap_v3", underlying="ETH", base=token, quote=token,
                       fee_pips=3000, mid_price=1.0, block_number=1, block_timestamp=1, gas_units=1, sell=sell,
                       buy=buy, pool={})
    assert VenueState.model_validate_json(state.model_dump_json()) == state
    assert Segment.model_validate({"size": 1.0, "price": 1.0}).ticks_crossed == 0  # older saved states still load


def test_the_v3_curve_cache_serves_a_pool_only_its_own_curve() -> None:
    """An unchanged pool (a new model object, same content) gets the same curve without a rebuild; a change to any
    input of the curve (a tick's liquidityNet, the price, the window) gets a freshly built, different one."""
    def pool(net: int = 10**20, tick: int = 5, window: int = 6000) -> PoolModel:
        return pool_with([(-600, 600, 10**20), (-120, 60, net)], tick=tick, spacing=60, fee=3000, window=window)

    cache = CurveCache(size=8)
    first = cached_curve_of(cache, pool(), True, Side.SELL, 18, 6)
    assert first == curve_of(pool(), True, Side.SELL, 18, 6)
    assert cached_curve_of(cache, pool(), True, Side.SELL, 18, 6) is first  # same content: served, not rebuilt
    assert cached_curve_of(cache, pool(), False, Side.BUY, 18, 6) == curve_of(pool(), False, Side.BUY, 18, 6)
    for changed in (pool(net=2 * 10**20), pool(tick=-30), pool(window=60_000)):
        got = cached_curve_of(cache, changed, True, Side.SELL, 18, 6)
        assert got == curve_of(changed, True, Side.SELL, 18, 6) and got != first
    for n in range(10):  # past its size the least recently used entries go; what it serves stays exact
        moved = pool(tick=n)
        assert cached_curve_of(cache, moved, True, Side.SELL, 8, 6) == curve_of(moved, True, Side.SELL, 8, 6)


def test_the_v2_curve_cache_is_keyed_by_the_reserves() -> None:
    adapter = UniswapV2Adapter()
    first = adapter._curve(Side.SELL, 10**21, 3 * 10**12, 18, 6)
    assert adapter._curve(Side.SELL, 10**21, 3 * 10**12, 18, 6) is first
    assert first == curve_from_points(Side.SELL, v2_points(10**21, 3 * 10**12), 18, 6)
    moved = adapter._curve(Side.SELL, 10**21 + 1, 3 * 10**12, 18, 6)
    assert moved == curve_from_points(Side.SELL, v2_points(10**21 + 1, 3 * 10**12), 18, 6) and moved is not first
