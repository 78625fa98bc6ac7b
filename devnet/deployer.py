"""The transaction side of a devnet deployment: the deployer that sends and checks each step, and what every
deployment module (devnet.deploy for V3/V2 and tokens, devnet.v4 for Uniswap V4) shares.

Usage::

    d = ChainDeployer(w3=w3, chain="ethereum", deployer=a0, lp=a1, trader=a2)
    router = d.deploy("SwapRouter", factory, weth, key="swap_router")
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction

from crosshedge import CrosshedgeError
from devnet.artifacts import load_artifact

MAX_UINT = 2**256 - 1
TOKENS: dict[str, tuple[str, int, str]] = {  # symbol -> (name, decimals, underlying); WETH is the real WETH9
    "WETH": ("Wrapped Ether", 18, "ETH"),
    "WBTC": ("Wrapped BTC", 8, "BTC"),
    "USDC": ("USD Coin", 6, "USD"),
}
# Dev accounts pay fees well above any devnet base fee, so deployment never waits on the fee market.
TX: dict[str, Any] = {"maxFeePerGas": 10**13, "maxPriorityFeePerGas": 10**9}


class DeployError(CrosshedgeError):
    """A devnet deployment step failed (a reverted transaction or an unexpected contract answer)."""


@dataclass
class ChainDeployer:
    """Sends and checks the transactions of one chain's deployment."""

    w3: Web3
    chain: str
    deployer: str
    lp: str
    trader: str
    tx_count: int = 0
    contracts: dict[str, str] = field(default_factory=dict)

    def send(self, fn: ContractFunction, sender: str, gas: int = 3_000_000, value: int = 0) -> Any:
        params: Any = {"from": sender, "gas": gas, "value": value, **TX}  # TxParams is a TypedDict web3 checks
        tx_hash = fn.transact(params)
        return self._receipt(tx_hash, fn.fn_name)

    def _receipt(self, tx_hash: Any, what: str) -> Any:
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.01)
        self.tx_count += 1
        if receipt["status"] != 1:
            raise DeployError(f"devnet {self.chain}: transaction {what} reverted ({tx_hash.hex()})")
        return receipt

    def deploy(self, name: str, *args: Any, key: str | None = None, record: bool = True,
               gas: int = 8_000_000) -> Contract:
        """Deploy ``name`` from its npm artifact; ``record`` False keeps it out of the chain's ``contracts`` roles
        (Uniswap V4's contracts go in their own section until an adapter uses them)."""
        art = load_artifact(name)
        factory = self.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
        tx_hash = factory.constructor(*args).transact({"from": self.deployer, "gas": gas, **TX})
        address = self._receipt(tx_hash, f"deploy {name}")["contractAddress"]
        if record:
            self.contracts[key or name] = address
        return self.at(name, address)

    def at(self, name: str, address: str) -> Contract:
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(name).abi)



def runtime_code_hashes(d: ChainDeployer, addresses: Iterable[str]) -> dict[str, str]:
    """keccak256 of the runtime code at each address (by checksum address), for the generated config's
    ``code_hashes``: the contract verifier then pins these exact deployments. No code is a failed deployment."""
    out: dict[str, str] = {}
    for address in sorted({Web3.to_checksum_address(a) for a in addresses}):
        code = bytes(d.w3.eth.get_code(address))
        if not code:
            raise DeployError(f"devnet {d.chain}: {address} has no code after deployment")
        out[address] = "0x" + bytes(Web3.keccak(code)).hex()
    return out
