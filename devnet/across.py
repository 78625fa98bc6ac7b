"""Across on the devnet: the SpokePool every chain gets (Across's own ``Ethereum_SpokePool`` bytecode from npm
@across-protocol/contracts, behind its ERC1967Proxy), the relayer account funded to fill on it, the fee schedule
the generated config publishes and the devnet relayer (devnet.relayer) charges, and the refund the protocol pays
for an expired deposit (the admin's part: a one-leaf root bundle).

The SpokePool's admin is the devnet's deployer (anvil account 0, which deploys everything else); the relayer is
anvil account 4 (0 deploys, 1 provides liquidity, 2 trades, 3 is the sandwich searcher's).

Usage::

    spoke = deploy_spoke_pool(w3, wrapped_native=weth, admin=w3.eth.accounts[0])
    section = DevnetAcross().transfer_section(spoke)         # a chain's ``transfers.across`` in chains.yaml
    refund_expired(w3, spoke, admin, deposit)               # relayRootBundle(root, 0), executeRelayerRefundLeaf
"""

from __future__ import annotations

from typing import Any, Protocol

from eth_abi.abi import encode as abi_encode
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from crosshedge.config import DevnetBridgeSettings
from devnet.artifacts import load_artifact
from devnet.deployer import MAX_UINT, TOKENS, TX, ChainDeployer, DeployError

#: anvil's dev account the devnet relayer fills from (see the module docstring for the others).
RELAYER_ACCOUNT_INDEX = 4
#: What the relayer holds on every chain, in human units (the most one deposit may carry, too).
RELAYER_FUNDS: dict[str, float] = {"USDC": 2_000_000.0}
#: The SpokePool's limits: a deposit's quote may be this old, its fill deadline this far ahead (seconds).
DEPOSIT_QUOTE_TIME_BUFFER_S = 3600
FILL_DEADLINE_BUFFER_S = 7200
SPOKE_GAS = 15_000_000  # the implementation is close to the contract size limit
_LEAF = "(uint256,uint256,uint256[],uint32,address,address[])"


class DevnetAcross(DevnetBridgeSettings):
    """The devnet's bridge settings (chains.yaml ``devnet.bridge``) with what the devnet derives from them: the
    generated config's sections and the fee its relayer charges (one schedule, written in one place)."""

    def transfer_section(self, spoke_pool: str) -> dict[str, Any]:
        """A chain's ``transfers.across`` section (adapters.across.AcrossConfig) for its SpokePool."""
        return {
            "adapter": "across", "spoke_pool": spoke_pool, "tokens": list(self.tokens),
            "lp_fee_bps": self.lp_fee_bps, "relayer_fee_bps": self.relayer_fee_bps,
            "relayer_fixed_fee": {s: v for s, v in self.relayer_fixed_fee.items() if s in self.tokens},
            "expected_fill_s": self.relayer_delay_s, "fill_deadline_s": self.fill_deadline_s,
            "max_deposit_raw": {s: relayer_funds_raw(s) for s in self.tokens if s in RELAYER_FUNDS},
        }

    def fee_raw(self, symbol: str, input_amount: int) -> int:
        """What a fill of ``input_amount`` raw units must leave the relayer: the proportional fee rounded up, plus
        the fixed fee (the across adapter's quote, so a deposit it builds pays exactly this)."""
        centi_bps = round((self.lp_fee_bps + self.relayer_fee_bps) * 100)
        return min(input_amount, -(-input_amount * centi_bps // 1_000_000) + self.relayer_fixed_fee.get(symbol, 0))


def relayer_funds_raw(symbol: str) -> int:
    scale: int = 10 ** TOKENS[symbol][1]
    return round(RELAYER_FUNDS[symbol] * scale)


class RefundableDeposit(Protocol):
    """What a refund leaf needs of a deposit (adapters.Deposit has it)."""

    @property
    def input_token(self) -> str: ...
    @property
    def input_amount(self) -> int: ...
    @property
    def depositor(self) -> str: ...


def spoke_pool(w3: Web3, address: str) -> Contract:
    """The SpokePool proxy at ``address`` with the implementation's ABI."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact("Ethereum_SpokePool").abi)


def _deploy_spoke(d: ChainDeployer, wrapped_native: str) -> tuple[str, str]:
    """(proxy, implementation) of an initialised SpokePool whose admin (owner) is ``d.deployer``."""
    impl = d.deploy("Ethereum_SpokePool", Web3.to_checksum_address(wrapped_native), DEPOSIT_QUOTE_TIME_BUFFER_S,
                    FILL_DEADLINE_BUFFER_S, "0x" + "00" * 20, record=False, gas=SPOKE_GAS)
    init = impl.encode_abi("initialize", [0, d.deployer])  # deposit ids from 0; withdrawals to the admin
    proxy = d.deploy("ERC1967Proxy", impl.address, init, record=False, gas=SPOKE_GAS)
    if spoke_pool(d.w3, proxy.address).functions.wrappedNativeToken().call() != Web3.to_checksum_address(
            wrapped_native):
        raise DeployError(f"devnet {d.chain}: the SpokePool at {proxy.address} does not wrap {wrapped_native}")
    return str(proxy.address), str(impl.address)


def deploy_spoke_pool(w3: Web3, wrapped_native: str, admin: str) -> str:
    """Deploy Across's Ethereum_SpokePool behind its ERC1967Proxy, initialised with ``admin`` as its owner;
    returns the proxy's address (what deposits and fills call)."""
    d = ChainDeployer(w3=w3, chain=f"chain {w3.eth.chain_id}", deployer=admin, lp=admin, trader=admin)
    return _deploy_spoke(d, wrapped_native)[0]


def deploy_across(d: ChainDeployer, c: dict[str, Contract], relayer: str) -> dict[str, Any]:
    """The chain's SpokePool (wrapping its WETH) and its relayer, funded with RELAYER_FUNDS and approved; the
    chain state's ``across`` section."""
    proxy, impl = _deploy_spoke(d, c["WETH"].address)
    for symbol in RELAYER_FUNDS:
        d.send(c[symbol].functions.mint(relayer, relayer_funds_raw(symbol)), d.deployer, gas=150_000)
        d.send(c[symbol].functions.approve(proxy, MAX_UINT), relayer, gas=100_000)
    return {"spoke_pool": Web3.to_checksum_address(proxy), "implementation": Web3.to_checksum_address(impl),
            "admin": d.deployer, "relayer": relayer}


def refund_leaf(chain_id: int, deposit: RefundableDeposit) -> tuple[tuple[Any, ...], bytes]:
    """The relayer refund leaf paying ``deposit``'s input back to its depositor, and the root of its one-leaf tree
    (the leaf's hash)."""
    leaf = (0, chain_id, [deposit.input_amount], 0, Web3.to_checksum_address(deposit.input_token),
            [Web3.to_checksum_address(deposit.depositor)])
    return leaf, bytes(Web3.keccak(abi_encode([_LEAF], [leaf])))


def refund_expired(w3: Web3, spoke: str, admin: str, deposit: RefundableDeposit) -> int:
    """What the protocol does for an expired deposit, as the SpokePool's admin: relay a root bundle whose one
    refund leaf pays the input back to the depositor, then execute that leaf. Returns the root bundle's id."""
    contract = spoke_pool(w3, spoke)
    leaf, root = refund_leaf(int(w3.eth.chain_id), deposit)
    params: Any = {"from": admin, "gas": 1_000_000, **TX}
    receipt = w3.eth.wait_for_transaction_receipt(
        contract.functions.relayRootBundle(root, bytes(32)).transact(params), timeout=30)
    relayed = contract.events.RelayedRootBundle().process_receipt(receipt, errors=DISCARD)
    if receipt["status"] != 1 or not relayed:
        raise DeployError(f"devnet: relayRootBundle on {spoke} reverted")
    bundle_id = int(relayed[0]["args"]["rootBundleId"])
    receipt = w3.eth.wait_for_transaction_receipt(
        contract.functions.executeRelayerRefundLeaf(bundle_id, leaf, []).transact(params), timeout=30)
    if receipt["status"] != 1:
        raise DeployError(f"devnet: executeRelayerRefundLeaf({bundle_id}) on {spoke} reverted")
    return bundle_id


__all__ = ["RELAYER_ACCOUNT_INDEX", "RELAYER_FUNDS", "DevnetAcross", "RefundableDeposit", "deploy_across",
           "deploy_spoke_pool", "refund_expired", "refund_leaf", "relayer_funds_raw", "spoke_pool"]
