"""Risk (Greeks), trigger policies, the cvxpy hedge model, baselines and the backtester."""
