"""Perpetual Protocol v2 (Curie) on a devnet chain: the protocol's own bytecode (npm @perp/curie-deployments, the
artifacts of @perp/curie-contract 2.6.0) wired the way its test fixtures wire it, one market (vETH/vUSD,
vBTC/vUSD) per deployment whose vAMM is a pool of the chain's Uniswap V3 factory, and an index price the devnet
sets (devnet/contracts/PriceAggregator behind Perp's ChainlinkPriceFeedV3 and PriceFeedDispatcher).

Every Curie contract is initializer-based; the devnet initialises each one directly (no proxy: nothing here is
ever upgraded). The owner of all of them, and of the aggregator, is the chain's deployer (anvil account 0). The
market's maker is anvil account 5 (0-4 have devnet roles, see devnet.deploy), impersonated when the chain's anvil
unlocked fewer accounts: it deposits USDC to the Vault and provides range liquidity around the index price.

Deploying moves the chain's clock forward by MARKET_WARMUP_S: Curie's mark price reads the vAMM's 30-minute TWAP,
which needs that much pool history before any trade or liquidity change (the fixtures forward time the same way).

Usage::

    perp = deploy_perp(w3, usdc=state["tokens"]["USDC"]["address"], v3_factory=state["contracts"]["v3_factory"],
                       index_price=3000.0)
    set_index_price(w3, perp["aggregator"], 3100.0)
"""

from __future__ import annotations

from typing import Any

from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from devnet.anvil import DEV_ACCOUNT_BALANCE_ETH, anvil_rpc
from devnet.artifacts import load_artifact
from devnet.contracts_build import compiled_artifact
from devnet.deployer import MAX_UINT, TX, ChainDeployer, DeployError, runtime_code_hashes
from devnet.liquidity import TICK_SPACING, align_down, align_up, sqrt_price_x96, tick_at

#: anvil's dev account 5 (its test mnemonic, m/44'/60'/0'/0/5): the market's maker.
MAKER_ACCOUNT = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"
#: The vAMM's Uniswap fee tier: Curie's markets on Optimism are 0.3% pools.
POOL_FEE = 3000
AGGREGATOR_DECIMALS = 8  # Chainlink's USD feeds
#: ChainlinkPriceFeedV3's settings in Curie's fixtures: a price older than 40 min is timed out; a 15-min cached TWAP
#: (ClearingHouseConfig's default twapInterval, so the index ClearingHouse reads is served from the cache).
PRICE_FEED_TIMEOUT_S = 40 * 60
CACHED_TWAP_INTERVAL_S = 15 * 60
#: The maker's range, ±MAKER_RANGE around the index at deployment: as wide as an ETH market's makers sit, so a
#: 30% move (the FTX week's) stays inside it (past the range a vAMM has no liquidity on that side: CH_F0S).
MAKER_RANGE = 0.5
#: Exchange fee 0.1% (Curie's ETH market), of which 10% goes to the insurance fund (the fixtures' default).
EXCHANGE_FEE_RATIO = 1_000
INSURANCE_FUND_FEE_RATIO = 100_000
#: setMaxTickCrossedWithinBlock: the production Exchange's cap, 1000 ticks (about 10%) from the tick of the last
#: trade at least 15 s old. The fixtures pass the whole tick range, which only their TestExchange (no cap) accepts.
MAX_TICK_CROSSED = 1_000
#: Seconds the chain's clock is moved on for the vAMM's 30-min mark TWAP (the fixtures' forwardRealTimestamp).
MARKET_WARMUP_S = 2_000
#: CollateralManager.initialize's arguments in Curie's fixtures (ratios in 1e6; dust and threshold in USDC units).
COLLATERAL_MANAGER = {"max_tokens": 5, "debt_ratio": 750_000, "liquidation_ratio": 500_000, "mm_buffer": 2_000,
                      "if_fee_ratio": 30_000, "debt_threshold": 10_000, "dust": 500}
_BASE_TOKEN_TRIES = 32  # each try is a coin flip for base < quote
_GAS = 9_000_000  # ClearingHouse and OrderBook are close to the contract size limit


def perp_contract(w3: Web3, name: str, address: str) -> Contract:
    """A Curie contract (ClearingHouse, Vault, AccountBalance, ...) at ``address`` with its artifact's ABI."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(name).abi)


def aggregator_contract(w3: Web3, address: str) -> Contract:
    """The devnet's PriceAggregator at ``address`` (its ABI from the cached solc build)."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=compiled_artifact("PriceAggregator").abi)


def set_index_price(w3: Web3, aggregator: str, price: float) -> int:
    """Start a new aggregator round answering ``price`` (USD, as the aggregator's owner); returns the round id.
    Perp's index (BaseToken.getIndexPrice(0)) follows at once; its 15-min TWAP follows over time."""
    contract = aggregator_contract(w3, aggregator)
    owner = contract.functions.owner().call()
    last = int(contract.functions.latestRound().call())
    if last:
        # Perp's feed ignores a round no newer than the one it cached (its timestamp is the cache key), and automined
        # blocks share a second: the round goes in a block at least a second after the last one.
        updated = int(contract.functions.getRoundData(last).call()[3])
        if updated >= int(w3.eth.get_block("latest")["timestamp"]):
            anvil_rpc(w3, "evm_setNextBlockTimestamp", updated + 1)
    answer = round(price * 10**AGGREGATOR_DECIMALS)
    params: Any = {"from": owner, "gas": 200_000, **TX}
    receipt = w3.eth.wait_for_transaction_receipt(contract.functions.submit(answer).transact(params), timeout=30)
    if receipt["status"] != 1:
        raise DeployError(f"devnet: PriceAggregator {aggregator}.submit({answer}) reverted")
    return int(contract.functions.latestRound().call())


def dev_account(w3: Web3, address: str) -> str:
    """``address`` ready to send from: anvil's own unlocked account, else impersonated and given the dev balance."""
    address = Web3.to_checksum_address(address)
    if address not in w3.eth.accounts:
        anvil_rpc(w3, "anvil_impersonateAccount", address)
        anvil_rpc(w3, "anvil_setBalance", address, hex(DEV_ACCOUNT_BALANCE_ETH * 10**18))
    return address


def _deploy_aggregator(d: ChainDeployer, underlying: str, price: float) -> Contract:
    art = compiled_artifact("PriceAggregator")
    factory = d.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    params: Any = {"from": d.deployer, "gas": 1_500_000, **TX}
    tx_hash = factory.constructor(AGGREGATOR_DECIMALS, f"{underlying} / USD").transact(params)
    receipt = d.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.01)
    address = receipt["contractAddress"]
    if receipt["status"] != 1 or address is None:
        raise DeployError(f"devnet {d.chain}: deploy PriceAggregator reverted")
    d.contracts["perp_aggregator"] = address
    set_index_price(d.w3, address, price)
    return aggregator_contract(d.w3, address)


def _deploy_tokens(d: ChainDeployer, dispatcher: str, underlying: str) -> tuple[Contract, Contract]:
    """(vETH or vBTC, vUSD). Curie requires the base token to be the pool's token0: base tokens are deployed until one's
    address sorts below the quote token's, as the fixtures do; only that one is initialised."""
    quote = d.deploy("QuoteToken", key="perp_quote_token", gas=_GAS)
    d.send(quote.functions.initialize("vUSD", "vUSD"), d.deployer)
    for _ in range(_BASE_TOKEN_TRIES):
        base = d.deploy("BaseToken", key="perp_base_token", gas=_GAS)
        if int(base.address, 16) < int(quote.address, 16):
            d.send(base.functions.initialize(f"v{underlying}", f"v{underlying}", dispatcher), d.deployer)
            return base, quote
    raise DeployError(f"devnet {d.chain}: no BaseToken address below QuoteToken {quote.address} in "
                      f"{_BASE_TOKEN_TRIES} deployments")


def _deploy_core(d: ChainDeployer, c: dict[str, Contract], usdc: str, v3_factory: str) -> None:
    """ClearingHouseConfig, MarketRegistry, OrderBook, AccountBalance, Exchange, InsuranceFund, Vault,
    CollateralManager and ClearingHouse, initialised in the fixtures' order (each initializer checks the contracts
    it is given)."""
    for name in ("ClearingHouseConfig", "MarketRegistry", "OrderBook", "AccountBalance", "Exchange", "InsuranceFund",
                 "Vault", "CollateralManager", "ClearingHouse"):
        c[name] = d.deploy(name, key=f"perp_{_snake(name)}", gas=_GAS)
    d.send(c["ClearingHouseConfig"].functions.initialize(), d.deployer)
    d.send(c["MarketRegistry"].functions.initialize(v3_factory, c["QuoteToken"].address), d.deployer)
    d.send(c["OrderBook"].functions.initialize(c["MarketRegistry"].address), d.deployer)
    d.send(c["InsuranceFund"].functions.initialize(usdc), d.deployer)
    d.send(c["Exchange"].functions.initialize(c["MarketRegistry"].address, c["OrderBook"].address,
                                              c["ClearingHouseConfig"].address), d.deployer)
    d.send(c["AccountBalance"].functions.initialize(c["ClearingHouseConfig"].address, c["OrderBook"].address),
           d.deployer)
    d.send(c["Vault"].functions.initialize(c["InsuranceFund"].address, c["ClearingHouseConfig"].address,
                                           c["AccountBalance"].address, c["Exchange"].address), d.deployer)
    cm = COLLATERAL_MANAGER
    d.send(c["CollateralManager"].functions.initialize(
        c["ClearingHouseConfig"].address, c["Vault"].address, cm["max_tokens"], cm["debt_ratio"],
        cm["liquidation_ratio"], cm["mm_buffer"], cm["if_fee_ratio"], cm["debt_threshold"] * 10**6,
        cm["dust"] * 10**6), d.deployer)
    d.send(c["ClearingHouse"].functions.initialize(
        c["ClearingHouseConfig"].address, c["Vault"].address, c["QuoteToken"].address, v3_factory,
        c["Exchange"].address, c["AccountBalance"].address, c["InsuranceFund"].address), d.deployer)


def _wire(d: ChainDeployer, c: dict[str, Contract], pool: str) -> None:
    """The cross-references and token whitelists (only whitelisted addresses may hold virtual tokens)."""
    ch = c["ClearingHouse"].address
    steps = [
        c["Exchange"].functions.setAccountBalance(c["AccountBalance"].address),
        c["OrderBook"].functions.setExchange(c["Exchange"].address),
        c["Vault"].functions.setCollateralManager(c["CollateralManager"].address),
        c["InsuranceFund"].functions.setVault(c["Vault"].address),
        c["AccountBalance"].functions.setVault(c["Vault"].address),
        c["BaseToken"].functions.addWhitelist(pool),
        c["QuoteToken"].functions.addWhitelist(pool),
        c["ClearingHouseConfig"].functions.setSettlementTokenBalanceCap(MAX_UINT),
        # The ClearingHouse holds the whole supply of both virtual tokens: it mints positions by transferring.
        c["QuoteToken"].functions.mintMaximumTo(ch),
        c["BaseToken"].functions.mintMaximumTo(ch),
        c["QuoteToken"].functions.addWhitelist(ch),
        c["BaseToken"].functions.addWhitelist(ch),
        *(c[name].functions.setClearingHouse(ch)
          for name in ("MarketRegistry", "OrderBook", "Exchange", "AccountBalance", "Vault")),
    ]
    for fn in steps:
        d.send(fn, d.deployer, gas=500_000)


def _init_market(d: ChainDeployer, c: dict[str, Contract], pool: Contract, price: float) -> None:
    """The vAMM at the index price with room for its TWAP observations, listed on the MarketRegistry with the
    market's fees (the fixtures' initMarket), then the warm-up its mark TWAP needs."""
    base = c["BaseToken"].address
    d.send(pool.functions.initialize(sqrt_price_x96(price)), d.deployer, gas=300_000)  # both tokens have 18 decimals
    d.send(pool.functions.increaseObservationCardinalityNext(500), d.deployer, gas=15_000_000)
    d.send(c["MarketRegistry"].functions.addPool(base, POOL_FEE), d.deployer, gas=500_000)
    d.send(c["MarketRegistry"].functions.setFeeRatio(base, EXCHANGE_FEE_RATIO), d.deployer, gas=200_000)
    d.send(c["MarketRegistry"].functions.setInsuranceFundFeeRatio(base, INSURANCE_FUND_FEE_RATIO), d.deployer,
           gas=200_000)
    d.send(c["Exchange"].functions.setMaxTickCrossedWithinBlock(base, MAX_TICK_CROSSED), d.deployer, gas=200_000)
    anvil_rpc(d.w3, "evm_increaseTime", MARKET_WARMUP_S)
    anvil_rpc(d.w3, "evm_mine")


def add_maker_liquidity(d: ChainDeployer, c: dict[str, Contract], usdc: Contract, maker: str, price: float,
                        collateral_usdc: float, liquidity_usd: float, width: float = MAKER_RANGE) -> int:
    """Mint ``collateral_usdc`` to the maker, deposit it to the Vault and add liquidity worth ``liquidity_usd``
    (half vETH, half vUSD) on ±``width`` around ``price``; returns the liquidity added."""
    raw = round(collateral_usdc * 10**6)
    d.send(usdc.functions.mint(maker, raw), d.deployer, gas=150_000)
    d.send(usdc.functions.approve(c["Vault"].address, MAX_UINT), maker, gas=100_000)
    d.send(c["Vault"].functions.deposit(usdc.address, raw), maker, gas=1_000_000)
    spacing = TICK_SPACING[POOL_FEE]
    lower, upper = align_down(tick_at(price * (1 - width)), spacing), align_up(tick_at(price * (1 + width)), spacing)
    base_raw, quote_raw = round(liquidity_usd / 2 / price * 10**18), round(liquidity_usd / 2 * 10**18)
    deadline = int(d.w3.eth.get_block("latest")["timestamp"]) + 600
    params = (c["BaseToken"].address, base_raw, quote_raw, lower, upper, 0, 0, False, deadline)
    receipt = d.send(c["ClearingHouse"].functions.addLiquidity(params), maker, gas=3_000_000)
    events = c["ClearingHouse"].events.LiquidityChanged().process_receipt(receipt, errors=DISCARD)
    if not events or int(events[0]["args"]["liquidity"]) <= 0:
        raise DeployError(f"devnet {d.chain}: the Perp maker {maker} added no liquidity")
    return int(events[0]["args"]["liquidity"])


def deposit_collateral(w3: Web3, perp: dict[str, Any], account: str, amount_usdc: float) -> None:
    """Mint ``amount_usdc`` of the settlement token to ``account`` and deposit it in the market's Vault from it
    (impersonated): the devnet operator's standing margin. The account's ether is lent for the gas and put back
    to the wei, so its native balance (which the book counts as ETH delta) is what the devnet spec says."""
    account = Web3.to_checksum_address(account)
    raw = round(amount_usdc * 10**6)
    if raw <= 0:
        return
    usdc = w3.eth.contract(address=Web3.to_checksum_address(perp["settlement_token"]),
                           abi=load_artifact("ERC20PresetMinterPauser").abi)
    vault = perp_contract(w3, "Vault", perp["vault"])
    ether = w3.eth.get_balance(account)
    anvil_rpc(w3, "anvil_impersonateAccount", account)
    anvil_rpc(w3, "anvil_setBalance", account, hex(DEV_ACCOUNT_BALANCE_ETH * 10**18))
    try:
        for fn, sender in ((usdc.functions.mint(account, raw), perp["owner"]),
                           (usdc.functions.approve(vault.address, raw), account),
                           (vault.functions.deposit(usdc.address, raw), account)):
            params: Any = {"from": sender, "gas": 1_000_000, **TX}
            receipt = w3.eth.wait_for_transaction_receipt(fn.transact(params), timeout=30, poll_latency=0.01)
            if receipt["status"] != 1:
                raise DeployError(f"devnet chain {w3.eth.chain_id}: the Vault deposit of {amount_usdc:,.0f} USDC for "
                                  f"{account} reverted")
    finally:
        anvil_rpc(w3, "anvil_setBalance", account, hex(ether))
        anvil_rpc(w3, "anvil_stopImpersonatingAccount", account)


def deploy_perp(w3: Web3, usdc: str, v3_factory: str, index_price: float, *, underlying: str = "ETH",
                maker: str = MAKER_ACCOUNT, maker_collateral_usdc: float = 10_000_000.0,
                maker_liquidity_usd: float = 40_000_000.0) -> dict[str, Any]:
    """Deploy and wire Curie with one market of ``underlying`` (vETH, vBTC) on the chain's Uniswap V3 factory
    (``v3_factory``), USDC (``usdc``, the devnet's mintable token) as the Vault's settlement token, the index at
    ``index_price`` and the maker's liquidity around it. Returns the addresses, ``underlying``, the owner (anvil
    account 0) and maker, and ``code_hashes``.

    One market per deployment, so each is a margin account of its own: crosshedge's perp model counts one market
    per account (the config refuses two markets sharing a Vault), where Perp's own deployments list many markets
    on one ClearingHouse with cross margin."""
    deployer = str(w3.eth.accounts[0])
    maker = dev_account(w3, maker)
    d = ChainDeployer(w3=w3, chain=f"chain {w3.eth.chain_id}", deployer=deployer, lp=maker, trader=deployer)
    aggregator = _deploy_aggregator(d, underlying, index_price)
    feed = d.deploy("ChainlinkPriceFeedV3", aggregator.address, PRICE_FEED_TIMEOUT_S, CACHED_TWAP_INTERVAL_S,
                    key="perp_price_feed")
    dispatcher = d.deploy("PriceFeedDispatcher", feed.address, key="perp_price_feed_dispatcher")
    c: dict[str, Contract] = {}
    c["BaseToken"], c["QuoteToken"] = _deploy_tokens(d, dispatcher.address, underlying)
    factory = d.at("UniswapV3Factory", v3_factory)
    d.send(factory.functions.createPool(c["BaseToken"].address, c["QuoteToken"].address, POOL_FEE), d.deployer,
           gas=6_000_000)
    pool = d.at("UniswapV3Pool", factory.functions.getPool(c["BaseToken"].address, c["QuoteToken"].address,
                                                           POOL_FEE).call())
    _deploy_core(d, c, usdc, v3_factory)
    _wire(d, c, pool.address)
    _init_market(d, c, pool, index_price)
    set_index_price(w3, aggregator.address, index_price)  # a round younger than the warm-up
    usdc_token = d.at("ERC20PresetMinterPauser", usdc)
    liquidity = add_maker_liquidity(d, c, usdc_token, maker, index_price, maker_collateral_usdc, maker_liquidity_usd)
    out: dict[str, Any] = {_snake(name): Web3.to_checksum_address(contract.address) for name, contract in c.items()}
    out |= {"pool": Web3.to_checksum_address(pool.address), "aggregator": aggregator.address,
            "price_feed": feed.address, "price_feed_dispatcher": dispatcher.address, "settlement_token": usdc,
            "pool_fee": POOL_FEE, "owner": deployer, "maker": maker, "maker_liquidity": liquidity,
            "underlying": underlying}
    # Only the contracts the market uses are pinned, not the BaseTokens that lost the address draw.
    pinned = [a for k, a in out.items() if k not in {"settlement_token", "owner", "maker", "underlying"}
              and isinstance(a, str)]
    out["code_hashes"] = runtime_code_hashes(d, pinned)
    return out


def perp_market_name(underlying: str) -> str:
    """The market's name in the devnet state and the generated config's ``perps`` section: ``eth_perp``."""
    return f"{underlying.lower()}_perp"


def _snake(name: str) -> str:
    return "".join(f"_{ch.lower()}" if ch.isupper() and i else ch.lower() for i, ch in enumerate(name))


__all__ = ["MAKER_ACCOUNT", "MAKER_RANGE", "POOL_FEE", "add_maker_liquidity", "aggregator_contract", "deploy_perp",
           "deposit_collateral", "dev_account", "perp_contract", "perp_market_name", "set_index_price"]
