"""What the Across tests share: the devnet's SpokePool deployment and refund (devnet.across: Across's SpokePool from
npm @across-protocol/contracts behind its ERC1967Proxy, and the one-leaf root bundle an admin relays for a refund)
as contracts, and transaction parameters.

Usage::

    spoke = deploy_spoke(w3, wrapped_native=weth, deployer=accounts[0])
    refund(w3, spoke, deposit)      # as account 0, the admin: relayRootBundle(root, 0), executeRelayerRefundLeaf
"""

from __future__ import annotations

from typing import Any, cast

from web3 import Web3
from web3.contract import Contract
from web3.types import TxParams

from adapters import Deposit
from devnet import deploy_spoke_pool, refund_expired, refund_leaf, spoke_pool

TX: dict[str, Any] = {"maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9, "gas": 3_000_000}

__all__ = ["TX", "account", "deploy_spoke", "params", "refund", "refund_leaf"]


def params(**fields: Any) -> TxParams:
    """Transaction parameters with fees above any devnet base fee."""
    return cast(TxParams, {**TX, **fields})


def account(w3: Web3, index: int) -> str:
    return str(list(w3.eth.accounts)[index])


def deploy_spoke(w3: Web3, wrapped_native: str, deployer: str) -> Contract:
    """Ethereum_SpokePool behind Across's ERC1967Proxy, initialised; ``deployer`` is its admin."""
    return spoke_pool(w3, deploy_spoke_pool(w3, wrapped_native, deployer))


def refund(w3: Web3, spoke: Contract, deposit: Deposit) -> None:
    """As the SpokePool's admin (account 0): relay the root bundle and execute its refund leaf."""
    refund_expired(w3, spoke.address, account(w3, 0), deposit)
