"""Synthetic constant-product venues with an exact integer quote: for tests, benchmarks and demos without a chain.

``state.pool`` holds raw reserves; :func:`cp_quote` is exact to the raw unit (Uniswap V2 integer formula, fee in
pips), and :func:`cp_state` samples its curves at geometric breakpoints, so each piece's price is the exact average
over the piece and the piecewise-linear curve never promises more than the venue gives.

Usage::

    state = cp_state("base", "v2-a", "ETH", mid=3000.0, depth_usd=5e6, fee_pips=3000, pieces=16)
    out = cp_quote(state, Side.SELL, 10**18)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adapters import Curve, Segment, Side, TokenInfo, VenueState
from crosshedge import AdapterError, QuoteOutOfRangeError
from crosshedge.config import OptimizerSettings
from optimizer.problem import HedgeProblem, HedgeTarget

ADAPTER = "synthetic_cp"
_DECIMALS = {"ETH": 18, "BTC": 8, "SOL": 9}
BENCH_CHAINS = ("ethereum", "arbitrum", "base", "optimism", "polygon")
BENCH_MARKS = {"ETH": 3000.0, "BTC": 60000.0, "SOL": 150.0}
_SYMBOL = {"ETH": "WETH", "BTC": "WBTC", "SOL": "WSOL"}


def _token(chain: str, symbol: str, decimals: int, underlying: str) -> TokenInfo:
    address = "0x" + format(abs(hash((chain, symbol))) % (1 << 160), "040x")
    return TokenInfo(chain=chain, symbol=symbol, address=address, decimals=decimals, underlying=underlying)


def cp_quote(state: VenueState, side: Side, amount_in: int) -> int:
    """Exact amount out (raw) of an exact-in swap on the constant-product pool in ``state.pool``."""
    if state.adapter != ADAPTER:
        raise AdapterError(f"{state.chain}/{state.venue}: not a synthetic constant-product venue")
    rb, rq = int(state.pool["reserve_base"]), int(state.pool["reserve_quote"])
    r_in, r_out = (rb, rq) if side is Side.SELL else (rq, rb)
    with_fee = amount_in * (1_000_000 - state.fee_pips)
    return with_fee * r_out // (r_in * 1_000_000 + with_fee)


def _curves(x: float, y: float, f: float, pieces: int, reach: float) -> tuple[Curve, Curve]:
    """Sell and buy curves sampled at ``pieces`` quadratically spaced steps up to ``reach`` of the base reserve
    (fine near the price where most trades end, coarser further out)."""
    edges = reach * x * (np.arange(pieces + 1) / pieces) ** 2
    sold = y * edges * (1 - f) / (x + edges * (1 - f))  # quote out for selling `edges` base
    paid = y * edges / ((x - edges) * (1 - f))  # quote in to buy `edges` base
    widths = np.diff(edges)
    sell = tuple(Segment(size=float(w), price=float(p)) for w, p in zip(widths, np.diff(sold) / widths, strict=True))
    buy = tuple(Segment(size=float(w), price=float(p)) for w, p in zip(widths, np.diff(paid) / widths, strict=True))
    return Curve(side=Side.SELL, segments=sell), Curve(side=Side.BUY, segments=buy)


def cp_state(
    chain: str,
    venue: str,
    underlying: str,
    *,
    mid: float,
    depth_usd: float,
    fee_pips: int = 3000,
    pieces: int = 16,
    reach: float = 0.3,
    timestamp: int = 1_700_000_000,
    gas_units: int = 120_000,
) -> VenueState:
    """A constant-product venue holding ``depth_usd`` per side at price ``mid``."""
    dec = _DECIMALS[underlying]
    x, y = depth_usd / mid, depth_usd
    rb, rq = int(x * 10**dec), int(y * 10**6)
    x, y = rb / 10**dec, rq / 10**6  # curves from the same reserves the exact quote uses
    sell, buy = _curves(x, y, fee_pips / 1e6, pieces, reach)
    return VenueState(
        chain=chain, venue=venue, adapter=ADAPTER, underlying=underlying,
        base=_token(chain, _SYMBOL[underlying], dec, underlying), quote=_token(chain, "USDC", 6, "USD"),
        fee_pips=fee_pips, mid_price=y / x, block_number=1, block_timestamp=timestamp, gas_units=gas_units,
        sell=sell, buy=buy, pool={"reserve_base": str(rb), "reserve_quote": str(rq)},
    )


def checked_cp_quote(state: VenueState, side: Side, amount_in: int) -> int:
    """:func:`cp_quote`, refusing sizes past the sampled curve (as real adapters refuse past their read window)."""
    curve = state.sell if side is Side.SELL else state.buy
    cap = sum(s.size for s in curve.segments)
    base_in = amount_in / 10**state.base.decimals if side is Side.SELL else None
    if base_in is not None and base_in > cap * (1 + 1e-9):
        raise QuoteOutOfRangeError(f"{state.chain}/{state.venue}: {base_in:g} {state.base.symbol} is past the curve")
    return cp_quote(state, side, amount_in)


def with_tick_crossings(state: VenueState, rng: np.random.Generator, chance: float = 0.35) -> VenueState:
    """``state`` with initialized-tick crossings marked on random pieces past the first (as a V3 pool's curve
    marks them), each one tick; the curves' sizes and prices are unchanged."""
    def marked(curve: Curve) -> Curve:
        segs = [seg.model_copy(update={"ticks_crossed": int(i > 0 and rng.random() < chance)})
                for i, seg in enumerate(curve.segments)]
        return curve.model_copy(update={"segments": tuple(segs)})

    return state.model_copy(update={"sell": marked(state.sell), "buy": marked(state.buy), "gas_units_per_tick": 31_000})


def random_problem(
    rng: np.random.Generator, layout: tuple[tuple[str, str], ...], *, pieces: int = 8, as_of: int = 1_700_000_000,
    ticks: bool = False,
) -> HedgeProblem:
    """A random small problem over venues laid out as (chain, underlying) pairs: random depth, fee, price offset,
    gas, inventory, targets, bands, risk price, limits and switches (for optimality tests). With ``ticks``, every
    venue's curves cross initialized ticks at random pieces, each costing $0.5 to $40 of gas."""
    marks = {"ETH": 3000.0, "BTC": 60000.0}
    venues, gas = [], {}
    for i, (chain, underlying) in enumerate(layout):
        mid = marks[underlying] * (1 + rng.uniform(-20, 20) / 1e4)
        st = cp_state(chain, f"v{i}", underlying, mid=mid, depth_usd=float(rng.uniform(1e6, 3e7)),
                      fee_pips=int(rng.choice([100, 500, 3000, 10000])), pieces=int(rng.integers(1, pieces + 1)),
                      reach=float(rng.uniform(0.02, 0.3)), timestamp=as_of)
        venues.append(st)
        gas[f"{chain}/v{i}"] = float(np.exp(rng.uniform(np.log(0.01), np.log(30.0))))
    targets = []
    for u in sorted({u for _, u in layout}):
        scale = 3e5 / marks[u]
        half = float(rng.uniform(0.05, 1.0)) * scale
        tgt = float(rng.uniform(-0.3, 0.3)) * half
        targets.append(HedgeTarget(
            underlying=u, current_delta=tgt + float(rng.uniform(-2, 2)) * half, target=tgt,
            lower=tgt - half * float(rng.uniform(0.3, 1)), upper=tgt + half * float(rng.uniform(0.3, 1)),
            mark_price_usd=marks[u], risk_price=float(rng.choice([0.0, 1.0]) * np.exp(rng.uniform(-2, 3)))
            * (3000.0 / marks[u]) ** 2 * 0.1,
        ))
    inventory: dict[str, dict[str, float]] = {}
    for chain, _ in layout:
        inventory[chain] = {"WETH": float(rng.uniform(0, 250)), "WBTC": float(rng.uniform(0, 12)),
                            "USDC": float(rng.uniform(0, 9e5))}
    keys = list(gas)
    tick_gas: dict[str, float] = {}
    settings = OptimizerSettings(
        min_trade_usd=float(rng.choice([0.0, 100.0, 5000.0])), max_price_impact_bps=float(rng.uniform(50, 500)),
        max_trades=int(rng.integers(1, len(layout) + 1)) if rng.random() < 0.3 else None,
        max_notional_usd_per_run=float(rng.choice([5e6, 5e6, 3e5])), risk_pieces=8,
    )
    disabled = [k for k in keys if rng.random() < 0.1]
    if ticks:  # drawn after everything else, so a seed gives the same problem with or without ticks
        venues = [with_tick_crossings(st, rng, chance=0.6) for st in venues]
        tick_gas = {k: float(np.exp(rng.uniform(np.log(0.5), np.log(40.0)))) for k in keys}
    return HedgeProblem(
        targets=targets, venues=venues, gas_usd=gas, inventory=inventory, as_of=as_of, settings=settings,
        disabled_venues=disabled, tick_gas_usd=tick_gas,
    )


@dataclass(frozen=True)
class BenchMarket:
    """The per-run draws of the benchmark scenario: each venue's mid offset, depth and gas, and each delta."""

    mid_offsets: np.ndarray  # (n,) relative
    depths_usd: np.ndarray  # (n,)
    gas_usd: np.ndarray  # (n,)
    deltas_usd: np.ndarray  # (3,) signed, per underlying in BENCH_MARKS order, before the n/3/mark scaling

    @staticmethod
    def draw(n: int, rng: np.random.Generator) -> BenchMarket:
        """Independent draws: a re-solve that shares only the venue set with the previous run."""
        mids, depths, gas = [], [], []
        for _ in range(n):  # interleaved per venue, as the benchmark always drew them
            mids.append(rng.normal(0, 5e-4))
            depths.append(float(np.exp(rng.uniform(np.log(2e5), np.log(4e7)))))
            gas.append(float(np.exp(rng.uniform(np.log(0.01), np.log(30.0)))))
        deltas = [float(rng.choice([-1, 1]) * rng.uniform(5e3, 3e4)) for _ in BENCH_MARKS]
        return BenchMarket(np.array(mids), np.array(depths), np.array(gas), np.array(deltas))

    def next_block(self, rng: np.random.Generator) -> BenchMarket:
        """The market one block later: mids move ~3 bp, depths ~1 %, gas ~5 %, each delta by up to 2 % of itself
        (what a worker re-planning block after block sees)."""
        n = self.mid_offsets.size
        return BenchMarket(self.mid_offsets + rng.normal(0, 3e-4, n), self.depths_usd * np.exp(rng.normal(0, 0.01, n)),
                           self.gas_usd * np.exp(rng.normal(0, 0.05, n)),
                           self.deltas_usd * (1 + rng.uniform(-0.02, 0.02, self.deltas_usd.size)))


def bench_scenario(n: int, rng: np.random.Generator, layout_seed: int, *, as_of: int = 1_700_000_000,
                   market: BenchMarket | None = None) -> HedgeProblem:
    """The benchmark's scenario: ``n`` venues (32 pieces, gas $0.01 to $30, three underlyings over five chains; the
    layout fixed by ``layout_seed``), this run's deltas, gas, depths and prices drawn from ``rng`` (or ``market``'s,
    e.g. :meth:`BenchMarket.next_block` of the previous run's)."""
    draws = market if market is not None else BenchMarket.draw(n, rng)
    layout_rng = np.random.default_rng(layout_seed)
    unders = list(BENCH_MARKS)
    venues, gas = [], {}
    for i in range(n):
        chain, u = BENCH_CHAINS[layout_rng.integers(len(BENCH_CHAINS))], unders[i % 3]
        st = cp_state(chain, f"pool{i}", u, mid=BENCH_MARKS[u] * (1 + float(draws.mid_offsets[i])),
                      depth_usd=float(draws.depths_usd[i]),
                      fee_pips=int(layout_rng.choice([100, 500, 3000, 10000])), pieces=32, reach=0.25,
                      timestamp=as_of)
        venues.append(st)
        gas[f"{chain}/pool{i}"] = float(draws.gas_usd[i])
    targets = [
        HedgeTarget(underlying=u, current_delta=float(d) * n / 3 / m,
                    target=0.0, lower=-2e4 / m, upper=2e4 / m, mark_price_usd=m, risk_price=0.05 * (3000 / m) ** 2)
        for (u, m), d in zip(BENCH_MARKS.items(), draws.deltas_usd, strict=True)
    ]
    wallet = max(1.0, n / 1000)  # deltas grow with n: past 1,000 venues wallets and notional grow too (feasible)
    inventory = {c: {"WETH": 5000.0 * wallet, "WBTC": 200.0 * wallet, "WSOL": 1e5 * wallet, "USDC": 3e7 * wallet}
                 for c in BENCH_CHAINS}
    settings = OptimizerSettings(max_notional_usd_per_run=1e8 * wallet, min_trade_usd=50.0, max_price_impact_bps=500.0)
    return HedgeProblem(targets=targets, venues=venues, gas_usd=gas, inventory=inventory, as_of=as_of,
                        settings=settings)
