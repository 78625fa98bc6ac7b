"""What the Across tests share: Across's SpokePool from npm (@across-protocol/contracts) deployed behind its
ERC1967Proxy, transaction parameters, and the refund a one-leaf root bundle pays (the devnet admin's part).

Usage::

    spoke = deploy_spoke(w3, wrapped_native=weth, deployer=accounts[0])
    leaf, root = refund_leaf(chain_id, deposit)      # relayRootBundle(root, 0), then executeRelayerRefundLeaf
"""

from __future__ import annotations

import json
from typing import Any, cast

from eth_abi.abi import encode as abi_encode
from web3 import Web3
from web3.contract import Contract
from web3.types import TxParams

from adapters import Deposit
from devnet import node_modules_dir

ACROSS = node_modules_dir() / "@across-protocol/contracts/dist/evm/artifacts"
TX: dict[str, Any] = {"maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9, "gas": 3_000_000}
LEAF = "(uint256,uint256,uint256[],uint32,address,address[])"


def params(**fields: Any) -> TxParams:
    """Transaction parameters with fees above any devnet base fee."""
    return cast(TxParams, {**TX, **fields})


def account(w3: Web3, index: int) -> str:
    return str(list(w3.eth.accounts)[index])


def across_artifact(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ACROSS / f"{name}.sol" / f"{name}.json").read_text())
    return data


def deploy_spoke(w3: Web3, wrapped_native: str, deployer: str) -> Contract:
    """Ethereum_SpokePool behind Across's ERC1967Proxy, initialised; ``deployer`` is its admin."""
    impl_art, proxy_art = across_artifact("Ethereum_SpokePool"), across_artifact("ERC1967Proxy")

    def deploy(art: dict[str, Any], *args: Any) -> str:
        tx = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"]).constructor(*args).transact(
            params(**{"from": deployer, "gas": 15_000_000}))
        return str(w3.eth.wait_for_transaction_receipt(tx)["contractAddress"])

    impl = deploy(impl_art, wrapped_native, 3600, 7200, "0x" + "00" * 20)
    init = w3.eth.contract(abi=impl_art["abi"]).encode_abi("initialize", [0, deployer])
    return w3.eth.contract(address=Web3.to_checksum_address(deploy(proxy_art, impl, init)), abi=impl_art["abi"])


def refund_leaf(chain_id: int, deposit: Deposit) -> tuple[tuple[Any, ...], bytes]:
    """The relayer refund leaf paying ``deposit``'s input back to its depositor, and the root of its one-leaf tree
    (the leaf's hash)."""
    leaf = (0, chain_id, [deposit.input_amount], 0, deposit.input_token, [deposit.depositor])
    return leaf, bytes(Web3.keccak(abi_encode([LEAF], [leaf])))


def refund(w3: Web3, spoke: Contract, deposit: Deposit) -> None:
    """As the SpokePool's admin: relay the root bundle and execute its refund leaf."""
    leaf, root = refund_leaf(int(w3.eth.chain_id), deposit)
    admin = account(w3, 0)
    for fn in (spoke.functions.relayRootBundle(root, bytes(32)), spoke.functions.executeRelayerRefundLeaf(0, leaf, [])):
        assert w3.eth.wait_for_transaction_receipt(fn.transact(params(**{"from": admin})))["status"] == 1
