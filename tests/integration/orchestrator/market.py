"""Move a devnet pool's price from an outside account (impersonated, so no key is needed)."""

from __future__ import annotations

from typing import Any

from web3 import Web3

from adapters import calldata
from adapters.uniswap_v3.adapter import EXACT_INPUT_SINGLE  # the router call the sandwich bot makes
from tests.integration.conftest import DEV_TX_FEES

WHALE = Web3.to_checksum_address("0x" + "7a" * 20)


def push_price(orch: Any, chain: str, venue: str, sell_base: float) -> None:
    """Sell ``sell_base`` WETH into a Uniswap V3 venue from a whale account: its price drops."""
    w3: Web3 = orch.w3(chain)
    entry = next(v for v in orch.config.venues_on(chain) if v.name == venue)
    cfg = entry.config.model_dump()
    tokens = orch.config.chains[chain].tokens
    weth, usdc = tokens["WETH"].address, tokens["USDC"].address
    amount = int(sell_base * 10**18)
    w3.provider.make_request("anvil_impersonateAccount", [WHALE])  # type: ignore[arg-type]
    w3.provider.make_request("anvil_setBalance", [WHALE, hex(amount * 2)])  # type: ignore[arg-type]
    fee = int(venue.rsplit("_", 1)[1])
    deadline = int(w3.eth.get_block("latest")["timestamp"]) + 3600
    calls = [
        {"to": weth, "data": "0xd0e30db0", "value": amount},  # WETH9.deposit()
        {"to": weth, "data": calldata("approve(address,uint256)", cfg["router"], amount)},
        {"to": cfg["router"], "data": calldata(EXACT_INPUT_SINGLE, (weth, usdc, fee, WHALE, deadline, amount, 1, 0))},
    ]
    for call in calls:
        tx = w3.eth.send_transaction({"from": WHALE, "gas": 3_000_000, **DEV_TX_FEES, **call})  # type: ignore[typeddict-item]
        receipt = w3.eth.wait_for_transaction_receipt(tx)
        assert receipt["status"] == 1, f"whale call to {call['to']} reverted"
