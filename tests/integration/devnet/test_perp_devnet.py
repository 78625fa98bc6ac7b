"""Perpetual Protocol v2 (Curie) on a devnet chain: devnet.perp deploys the protocol's own bytecode onto the chain's
Uniswap V3 factory, and a taker opens and closes a position against the maker's liquidity.

The module runs a one-chain devnet of its own (ports free beside the session's devnet, no block producer, no
relayer, no deployment cache), deploys Perp on it once, and reverts the chain after each test.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.logs import DISCARD

from crosshedge.config import DevnetBridgeSettings, DevnetChain, DevnetPool, DevnetSpec
from devnet import MAKER_ACCOUNT, DevnetManager, anvil_rpc, deploy_perp, load_artifact, perp_contract, set_index_price
from tests.integration.conftest import DEV_TX_FEES, _port_offset

pytestmark = pytest.mark.integration

BASE_PORT = 28645  # apart from chains.yaml's ports; _port_offset moves it to a free one
INDEX_PRICE = 3000.0
DEPOSIT_USDC = 10_000 * 10**6
NOTIONAL = 1_000 * 10**18  # vUSD the taker pays for its long (exact input quote)
E18 = 10**18


@dataclass
class PerpChain:
    w3: Web3
    state: dict[str, Any]  # the devnet chain's state (tokens, contracts, accounts)
    perp: dict[str, Any]  # deploy_perp's answer

    def c(self, name: str, key: str) -> Contract:
        return perp_contract(self.w3, name, self.perp[key])

    def send(self, fn: Any, sender: str, gas: int = 3_000_000) -> Any:
        receipt = self.w3.eth.wait_for_transaction_receipt(
            fn.transact({"from": sender, "gas": gas, **DEV_TX_FEES}), timeout=30)
        assert receipt["status"] == 1, f"{fn.fn_name} reverted"
        return receipt

    def deadline(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"]) + 600


@pytest.fixture(scope="module")
def perp_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PerpChain]:
    tmp = tmp_path_factory.mktemp("perp-devnet")
    chain = DevnetChain(chain_id=10, port=BASE_PORT + _port_offset([BASE_PORT]), base_fee_gwei=0.01, block_time_s=2,
                        pools=[DevnetPool(base="WETH", quote="USDC", depth_usd=2_000_000, positions=2)])
    spec = DevnetSpec(state_dir=tmp / "devnet", block_interval_s=0.0, prices={"ETH": INDEX_PRICE, "BTC": 60_000.0},
                      chains={"optimism": chain}, bridge=DevnetBridgeSettings(relayer=False))
    manager = DevnetManager(spec, root=tmp, use_cache=False)
    try:
        state = manager.up()["chains"]["optimism"]
        w3 = Web3(HTTPProvider(state["rpc_url"], request_kwargs={"timeout": 30}))
        perp = deploy_perp(w3, usdc=state["tokens"]["USDC"]["address"], v3_factory=state["contracts"]["v3_factory"],
                           index_price=INDEX_PRICE)
        yield PerpChain(w3, state, perp)
    finally:
        manager.down()


@pytest.fixture
def chain(perp_chain: PerpChain) -> Iterator[PerpChain]:
    snapshot = anvil_rpc(perp_chain.w3, "evm_snapshot")
    try:
        yield perp_chain
    finally:
        anvil_rpc(perp_chain.w3, "evm_revert", snapshot)


def test_market_is_wired_on_the_devnet_factory(chain: PerpChain) -> None:
    perp, w3 = chain.perp, chain.w3
    Account.enable_unaudited_hdwallet_features()
    mnemonic = "test test test test test test test test test test test junk"
    assert Account.from_mnemonic(mnemonic, account_path="m/44'/60'/0'/0/5").address == MAKER_ACCOUNT
    assert int(perp["base_token"], 16) < int(perp["quote_token"], 16)  # Curie's base is the vAMM's token0
    factory = w3.eth.contract(address=Web3.to_checksum_address(chain.state["contracts"]["v3_factory"]),
                              abi=load_artifact("UniswapV3Factory").abi)
    assert factory.functions.getPool(perp["base_token"], perp["quote_token"], perp["pool_fee"]).call() == perp["pool"]
    registry = chain.c("MarketRegistry", "market_registry")
    assert registry.functions.getPool(perp["base_token"]).call() == perp["pool"]
    house = chain.c("ClearingHouse", "clearing_house")
    assert house.functions.getVault().call() == perp["vault"]
    assert house.functions.getExchange().call() == perp["exchange"]
    assert house.functions.getAccountBalance().call() == perp["account_balance"]
    vault = chain.c("Vault", "vault")
    assert vault.functions.getSettlementToken().call() == chain.state["tokens"]["USDC"]["address"]
    assert vault.functions.getCollateralManager().call() == perp["collateral_manager"]
    base = chain.c("BaseToken", "base_token")
    assert base.functions.getPriceFeed().call() == perp["price_feed_dispatcher"]
    assert base.functions.getIndexPrice(0).call() == 3000 * E18
    # Every pinned contract has code, and the maker's order is the vAMM's liquidity.
    assert set(perp["code_hashes"]) >= {perp[k] for k in ("clearing_house", "vault", "pool", "aggregator")}
    pool = w3.eth.contract(address=perp["pool"], abi=load_artifact("UniswapV3Pool").abi)
    assert pool.functions.liquidity().call() == perp["maker_liquidity"] > 0
    assert chain.c("AccountBalance", "account_balance").functions.hasOrder(perp["maker"]).call()


def test_taker_opens_and_closes_a_long(chain: PerpChain) -> None:
    perp, trader = chain.perp, chain.state["accounts"]["trader"]
    usdc = chain.w3.eth.contract(address=chain.state["tokens"]["USDC"]["address"],
                                 abi=load_artifact("ERC20PresetMinterPauser").abi)
    house, vault = chain.c("ClearingHouse", "clearing_house"), chain.c("Vault", "vault")
    balance = chain.c("AccountBalance", "account_balance")
    chain.send(usdc.functions.approve(perp["vault"], DEPOSIT_USDC), trader, gas=100_000)
    chain.send(vault.functions.deposit(usdc.address, DEPOSIT_USDC), trader, gas=1_000_000)
    assert vault.functions.getBalance(trader).call() == DEPOSIT_USDC

    # Long: pay exactly 1,000 vUSD for at least 0.3 vETH (about 0.333 at the index, less the 0.1% fee).
    params = (perp["base_token"], False, True, NOTIONAL, 3 * E18 // 10, chain.deadline(), 0, b"\x00" * 32)
    receipt = chain.send(house.functions.openPosition(params), trader)
    (opened,) = house.events.PositionChanged().process_receipt(receipt, errors=DISCARD)
    size = balance.functions.getTakerPositionSize(trader, perp["base_token"]).call()
    assert opened["args"]["trader"] == trader and opened["args"]["baseToken"] == perp["base_token"]
    assert size == opened["args"]["exchangedPositionSize"] > 0
    assert abs(size - NOTIONAL * 999 // 1000 // 3000) < size // 100  # within 1% of the index's fill
    assert abs(opened["args"]["fee"] - NOTIONAL // 1000) <= 10**12  # the market's 0.1% exchange fee
    assert balance.functions.getTakerOpenNotional(trader, perp["base_token"]).call() == -NOTIONAL

    account_value = vault.functions.getAccountValue(trader).call()  # settlement-token units (6 decimals)
    assert DEPOSIT_USDC - 5 * 10**6 < account_value < DEPOSIT_USDC  # the fee and a little price impact
    free = vault.functions.getFreeCollateral(trader).call()
    # 10% initial margin on a ~1,000 USD position.
    assert DEPOSIT_USDC - 110 * 10**6 < free < DEPOSIT_USDC - 90 * 10**6

    base = chain.c("BaseToken", "base_token")
    round_id = set_index_price(chain.w3, perp["aggregator"], 3060.0)
    assert round_id >= 2  # the deployment's rounds came first
    assert base.functions.getIndexPrice(0).call() == 3060 * E18

    close = (perp["base_token"], 0, 0, chain.deadline(), b"\x00" * 32)
    receipt = chain.send(house.functions.closePosition(close), trader)
    (closed,) = house.events.PositionChanged().process_receipt(receipt, errors=DISCARD)
    assert closed["args"]["exchangedPositionSize"] == -size
    assert balance.functions.getTakerPositionSize(trader, perp["base_token"]).call() == 0
    # Round trip at an unchanged vAMM price: the trader is out two fees (about 2 USDC), no more.
    after = vault.functions.getAccountValue(trader).call()
    assert DEPOSIT_USDC - 5 * 10**6 < after < DEPOSIT_USDC - 10**6
