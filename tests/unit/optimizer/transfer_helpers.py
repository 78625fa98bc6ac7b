"""Small two- and three-chain problems with bridge routes, for the transfer model's tests (synthetic constant-product
venues, quoted exactly by ``optimizer.synthetic.cp_quote``)."""

from __future__ import annotations

from crosshedge.config import InventoryTargetSettings, OptimizerSettings
from optimizer import HedgeProblem, HedgeTarget, TransferOption, cp_state

AS_OF = 1_700_000_000
MARK = 2000.0


def usdc_route(origin: str, destination: str, *, fee_bps: float = 3.0, fixed: float = 0.5, gas_usd: float = 2.0,
               latency_s: float = 60.0, max_usdc: float = 10_000_000.0) -> TransferOption:
    return TransferOption(adapter="across", origin=origin, destination=destination, symbol="USDC", decimals=6,
                          price_usd=1.0, fee_bps=fee_bps, fixed_fee_raw=round(fixed * 1e6), gas_usd=gas_usd,
                          latency_s=latency_s, max_amount_raw=round(max_usdc * 1e6))


def weth_route(origin: str, destination: str, *, fee_bps: float = 3.0, gas_usd: float = 2.0,
               latency_s: float = 60.0) -> TransferOption:
    return TransferOption(adapter="across", origin=origin, destination=destination, symbol="WETH", decimals=18,
                          price_usd=MARK, fee_bps=fee_bps, fixed_fee_raw=0, gas_usd=gas_usd, latency_s=latency_s,
                          max_amount_raw=10**24)


def buy_problem(*, need_eth: float, usdc: dict[str, float], cheap_depth: float = 50e6, dear_depth: float = 2e6,
                dear_fee: int = 3000, cheap_fee: int = 500, routes: list[TransferOption] | None = None,
                gas_usd: float = 5.0, targets: dict[str, dict[str, InventoryTargetSettings]] | None = None,
                settings: OptimizerSettings | None = None, band: float = 0.01) -> HedgeProblem:
    """Buy ``need_eth`` ETH: the cheap deep venue is on "base", the dear shallow one on "ethereum"; USDC per chain as
    given (WETH: none)."""
    venues = [cp_state("ethereum", "dear", "ETH", mid=MARK, depth_usd=dear_depth, fee_pips=dear_fee, timestamp=AS_OF),
              cp_state("base", "cheap", "ETH", mid=MARK, depth_usd=cheap_depth, fee_pips=cheap_fee, timestamp=AS_OF)]
    target = HedgeTarget(underlying="ETH", current_delta=-need_eth, target=0.0, lower=-band, upper=band,
                         mark_price_usd=MARK, risk_price=0.0)
    return HedgeProblem(
        targets=[target], venues=venues, gas_usd={"ethereum/dear": gas_usd, "base/cheap": gas_usd},
        inventory={c: {"USDC": amount, "WETH": 0.0} for c, amount in usdc.items()}, as_of=AS_OF,
        transfers=routes if routes is not None else [usdc_route("ethereum", "base")],
        inventory_targets=targets or {}, settings=settings or OptimizerSettings(),
    )
