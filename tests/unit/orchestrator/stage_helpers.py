"""A one-chain config and snapshot for unit tests of the run stages (no chain, no Redis server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from web3 import Web3

from adapters import Side
from crosshedge.config import Config, parse_config
from optimizer import CostBreakdown, Plan, PlannedTrade, SolveStats, cp_state
from orchestrator import ChainSnapshot, Ledger, RunContext, Snapshot

WETH = "0x" + "a1" * 20
USDC = "0x" + "b2" * 20
POOL = "0x" + "c3" * 20
ROUTER = Web3.to_checksum_address("0x" + "d4" * 20)
WALLET = "0x" + "e5" * 20


def config(tmp: Path, **execution: Any) -> Config:
    data = {
        "chains": {"ethereum": {
            "chain_id": 1, "rpc_url": "http://127.0.0.1:9", "block_time_s": 12, "wallet": "ops",
            "tokens": {"WETH": {"address": WETH, "decimals": 18, "underlying": "ETH"},
                       "USDC": {"address": USDC, "decimals": 6, "underlying": "USD"}},
            "venues": {"v3": {"adapter": "uniswap_v3", "pool": POOL, "router": ROUTER}},
        }},
        "wallets": {"ops": {"address": WALLET, "key_env": "UNIT_TEST_KEY"}},
        "execution": execution,
    }
    return parse_config(data, tmp / "chains.yaml")


def context(tmp: Path, ledger: Ledger, now: float = 1_700_000_000.0, **execution: Any) -> RunContext:
    return RunContext(config=config(tmp, **execution), ledger=ledger, clock=lambda: now)


def snapshot(now: float = 1_700_000_000.0, gas_gwei: float = 20.0) -> Snapshot:
    state = cp_state("ethereum", "v3", "ETH", mid=3000.0, depth_usd=5e7)
    chain = ChainSnapshot(chain="ethereum", chain_id=1, block_number=1, block_timestamp=int(now), base_fee_wei=None,
                          gas_price_wei=int(gas_gwei * 1e9), native_underlying="ETH", native_usd=3000.0,
                          l1_data_fee_usd=0.0, swap_gas_usd={"v3": 5.0}, venues=(state,), inventory=())
    return Snapshot(taken_at=now, chains={"ethereum": chain})


def sell_plan(base: float = 10.0, price: float = 2990.0) -> Plan:
    trade = PlannedTrade(chain="ethereum", venue="v3", underlying="ETH", side=Side.SELL, token_in=WETH,
                         token_out=USDC, base_amount=base, quote_amount=base * price,
                         amount_in_raw=int(base * 1e18), expected_amount_out_raw=int(base * price * 1e6),
                         min_amount_out_raw=int(base * price * 0.997 * 1e6), expected_price=price, gas_usd=5.0,
                         fee_usd=base * price * 0.003, impact_usd=0.0)
    return Plan(trades=[trade], cost=CostBreakdown(), pre_trade_delta={"ETH": base}, residual_delta={"ETH": 0.0},
                risk_usd=0.0, objective_usd=0.0, model_objective_usd=0.0,
                stats=SolveStats(method="test", status="given"))
