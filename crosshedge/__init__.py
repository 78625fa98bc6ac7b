"""crosshedge: keep a crypto derivatives book hedged across fragmented on-chain liquidity.

This small package holds what every other package shares: the error tree. The work itself lives in
``adapters`` (venues and position sources), ``optimizer`` (risk, policies, the hedge model) and
``orchestrator`` (config, devnet, Celery execution, CLI).
"""

__version__ = "0.1.0"
