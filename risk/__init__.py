"""Risk: Greeks (smile-consistent under the book's vol surface and smile dynamics), expiry buckets, LP risk, book
aggregation, stress, VaR/ES, P&L explain, a perp position's margin, liquidation price and funding (risk.perps),
trigger policies, backtest, Monte Carlo and price data.

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
    SWEEPS,
    BacktestResult,
    BootstrapSpec,
    CostModel,
    DailyExplain,
    PathRun,
    PolicyResult,
    PolicySpec,
    VenueSpec,
    best_band_vs_daily,
    run_backtest,
    run_on_path,
    sweep_specs,
)
from risk.bookpath import BookPath, IvModel, book_path
from risk.bootstrap import stationary_indices, std_ratio_ci, sum_ratio_ci
from risk.buckets import EXPIRY_BUCKET_DAYS, NO_EXPIRY, bucket_labels, expiry_bucket
from risk.explain import PnlExplain, explain_between, explain_step
from risk.frontier_plot import plot_frontier
from risk.greeks import black76, bsm, implied_forward
from risk.lp import human_price, human_range, lp_amounts, lp_delta, lp_gamma, lp_value, lvr_rate
from risk.montecarlo import (
    HedgeCostRow,
    Jumps,
    MonteCarloRow,
    TextbookCase,
    derman_kamal_table,
    gbm_paths,
    hedge_cost_table,
    hedged_pnl,
)
from risk.oos import BAND_FAMILIES, FrozenChoice, OutOfSample, PairComparison, out_of_sample
from risk.perps import (
    CURIE_IM_RATIO,
    CURIE_MM_RATIO,
    account_value,
    free_collateral,
    funding_usd,
    liquidation_price,
    margin_ratio,
    survives_move,
)
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
from risk.valuation import book_values
from risk.var import (
    CONFIDENCES,
    JointReturns,
    Scenario,
    VarLevel,
    VarReport,
    correlated_normals,
    historical_var,
    joint_returns,
    monte_carlo_var,
    revalue,
    var_es,
)

__all__ = [
    "BAND_FAMILIES",
    "CASH_UNDERLYINGS",
    "CONFIDENCES",
    "CURIE_IM_RATIO",
    "CURIE_MM_RATIO",
    "EXPIRY_BUCKET_DAYS",
    "NO_EXPIRY",
    "POLICIES",
    "PRICE_SHOCKS",
    "SWEEPS",
    "VOL_SHOCKS",
    "BacktestResult",
    "BookPath",
    "BootstrapSpec",
    "ChainBand",
    "CostModel",
    "DailyExplain",
    "Decision",
    "ExpiryBucket",
    "FrozenChoice",
    "Greeks",
    "HedgeCostRow",
    "IvModel",
    "JointReturns",
    "Jumps",
    "MonteCarloRow",
    "OutOfSample",
    "PairComparison",
    "PathRun",
    "PnlExplain",
    "PolicyInput",
    "PolicyResult",
    "PolicySpec",
    "PriceSeries",
    "RiskLine",
    "RiskReport",
    "Scenario",
    "SmileGreeks",
    "StressCell",
    "StressGrid",
    "TextbookCase",
    "UnderlyingRisk",
    "VarLevel",
    "VarReport",
    "VegaLine",
    "VenueCost",
    "VenueSpec",
    "account_value",
    "aggregate",
    "best_band_vs_daily",
    "black76",
    "book_path",
    "book_values",
    "bsm",
    "bucket_labels",
    "correlated_normals",
    "decide",
    "decide_all",
    "derman_kamal_table",
    "ewma_vol",
    "expiry_bucket",
    "explain_between",
    "explain_step",
    "free_collateral",
    "funding_usd",
    "gbm_paths",
    "guess_underlying",
    "hedge_cost_table",
    "hedged_pnl",
    "historical_var",
    "human_price",
    "human_range",
    "implied_forward",
    "joint_returns",
    "liquidation_price",
    "load_prices",
    "lp_amounts",
    "lp_delta",
    "lp_gamma",
    "lp_value",
    "lvr_rate",
    "margin_ratio",
    "marks_from_venues",
    "monte_carlo_var",
    "option_vols",
    "out_of_sample",
    "plot_frontier",
    "revalue",
    "run_backtest",
    "run_on_path",
    "smile_greeks",
    "stationary_indices",
    "std_ratio_ci",
    "stress_grid",
    "sum_ratio_ci",
    "survives_move",
    "sweep_specs",
    "var_es",
    "venue_cost_from_state",
]
