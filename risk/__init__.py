"""Risk: Greeks (smile-consistent under the book's vol surface and smile dynamics), expiry buckets, LP risk, book
aggregation, stress, trigger policies, backtest, Monte Carlo and price data.

Pure functions of plain inputs (positions, marks, times, costs): nothing here reads a chain or a ledger.

Usage::

    from risk import aggregate, decide_all
    report = aggregate(positions, {"ETH": 3012.5}, now=datetime.now(UTC))
    decisions = decide_all(report, costs, settings.policy)
"""

from risk.aggregate import (
    CASH_UNDERLYINGS,
    ExpiryBucket,
    Greeks,
    RiskLine,
    RiskReport,
    UnderlyingRisk,
    VegaLine,
    aggregate,
    marks_from_venues,
)
from risk.backtest import (
    BacktestResult,
    CostModel,
    PolicyResult,
    PolicySpec,
    VenueSpec,
    best_band_vs_daily,
    book_path,
    run_backtest,
    sweep_specs,
)
from risk.buckets import EXPIRY_BUCKET_DAYS, NO_EXPIRY, bucket_labels, expiry_bucket
from risk.frontier_plot import plot_frontier
from risk.greeks import black76, bsm, implied_forward
from risk.lp import human_price, human_range, lp_amounts, lp_delta, lp_gamma, lp_value, lvr_rate
from risk.montecarlo import Jumps, MonteCarloRow, derman_kamal_table, gbm_paths, hedged_pnl
from risk.policy import (
    POLICIES,
    ChainBand,
    Decision,
    PolicyInput,
    VenueCost,
    decide,
    decide_all,
    ewma_vol,
    venue_cost_from_state,
)
from risk.prices import PriceSeries, guess_underlying, load_prices
from risk.smile import SmileGreeks, option_vols, smile_greeks
from risk.stress import PRICE_SHOCKS, VOL_SHOCKS, StressCell, StressGrid, stress_grid

__all__ = [
    "CASH_UNDERLYINGS",
    "EXPIRY_BUCKET_DAYS",
    "NO_EXPIRY",
    "POLICIES",
    "PRICE_SHOCKS",
    "VOL_SHOCKS",
    "BacktestResult",
    "ChainBand",
    "CostModel",
    "Decision",
    "ExpiryBucket",
    "Greeks",
    "Jumps",
    "MonteCarloRow",
    "PolicyInput",
    "PolicyResult",
    "PolicySpec",
    "PriceSeries",
    "RiskLine",
    "RiskReport",
    "SmileGreeks",
    "StressCell",
    "StressGrid",
    "UnderlyingRisk",
    "VegaLine",
    "VenueCost",
    "VenueSpec",
    "aggregate",
    "best_band_vs_daily",
    "black76",
    "book_path",
    "bsm",
    "bucket_labels",
    "decide",
    "decide_all",
    "derman_kamal_table",
    "ewma_vol",
    "expiry_bucket",
    "gbm_paths",
    "guess_underlying",
    "hedged_pnl",
    "human_price",
    "human_range",
    "implied_forward",
    "load_prices",
    "lp_amounts",
    "lp_delta",
    "lp_gamma",
    "lp_value",
    "lvr_rate",
    "marks_from_venues",
    "option_vols",
    "plot_frontier",
    "run_backtest",
    "smile_greeks",
    "stress_grid",
    "sweep_specs",
    "venue_cost_from_state",
]
