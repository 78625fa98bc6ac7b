"""Risk: Greeks, LP risk, book aggregation, stress, trigger policies, backtest, Monte Carlo and price data."""
