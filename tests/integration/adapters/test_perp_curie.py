"""The ``perp_curie`` adapter against Perpetual Protocol v2 (Curie) on a devnet chain: reads pinned to a block in a
bounded number of round trips, quotes equal to ``openPosition`` simulated from the taker to the wei, orders and
deposits that land, fills decoded as AccountBalance then reports them, positions equal to Curie's getters.

The module runs a one-chain perp devnet of its own (ports free beside the session's devnet, no block producer, no
relayer, no deployment cache) with a second maker whose narrow ranges put initialized ticks near the price, and
reverts the chain after each test.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_typing import HexStr
from web3 import Web3

from adapters import (
    ChainContext,
    PerpEntry,
    PerpMarketState,
    PerpPosition,
    RoundTripCounter,
    Side,
    calldata,
    check_live_fill,
    check_live_market,
    check_static_perp,
    connect,
    default_registry,
)
from adapters.perp_curie import MAX_ROUND_TRIPS, PerpCurieAdapter, PerpCurieConfig, simulate
from crosshedge import AdapterError, InputError
from crosshedge.config import (
    GENERATED_CONFIG,
    Config,
    DevnetBridgeSettings,
    DevnetChain,
    DevnetPool,
    DevnetSpec,
    load_config,
)
from devnet import DevnetManager, anvil_rpc, perp_contract
from orchestrator import take_snapshot
from orchestrator.assess import assess
from tests.integration.adapters.adapter_helpers import approve, send
from tests.integration.conftest import DEV_TX_FEES, _port_offset

pytestmark = pytest.mark.integration

BASE_PORT = 18945  # off chains.yaml's ports by no multiple of 37 (the offsets' step); in range at every port slot
INDEX_PRICE = 3000.0
E18 = 10**18
#: A second maker (anvil's dev account 6): narrow ranges 60..360 ticks around the price, so orders cross ticks.
MAKER2 = "0x976EA74026E726554dB657fA54763abd0C3a0aa9"
TRADER_COLLATERAL = 400_000 * 10**6
#: Sizes from dust to ones that cross several of the second maker's ticks (raw vETH).
SIZES = (10**13, 3 * 10**17, 5 * E18, 90 * E18, 300 * E18)
ADD_LIQUIDITY = "addLiquidity((address,uint256,uint256,int24,int24,uint256,uint256,bool,uint256))"


@dataclass
class PerpMarket:
    config: Config
    entry: PerpEntry
    ctx: ChainContext  # the trader's wallet as the chain context's wallet
    counter: RoundTripCounter
    perp: dict[str, Any]  # the devnet's Curie addresses
    trader: str
    usdc: str

    @property
    def w3(self) -> Web3:
        return self.ctx.w3

    def c(self, name: str, key: str) -> Any:
        return perp_contract(self.w3, name, self.perp[key])

    def head(self) -> int:
        return int(self.w3.eth.block_number)

    def read(self, block: int | None = None) -> PerpMarketState:
        [state] = PerpCurieAdapter().read(self.ctx, [self.entry], self.head() if block is None else block)
        return state

    def deadline(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"]) + 600


def _mint_usdc(w3: Web3, usdc: str, to: str, amount: int) -> None:
    send(w3, w3.eth.accounts[0], usdc, calldata("mint(address,uint256)", to, amount), gas=200_000)


def _add_narrow_ranges(w3: Web3, perp: dict[str, Any], usdc: str) -> None:
    """The second maker deposits and adds 6 nested ranges around the vAMM's price (12 initialized ticks)."""
    anvil_rpc(w3, "anvil_impersonateAccount", MAKER2)
    anvil_rpc(w3, "anvil_setBalance", MAKER2, hex(10**21))
    _mint_usdc(w3, usdc, MAKER2, 2_000_000 * 10**6)
    approve(w3, MAKER2, usdc, perp["vault"])
    send(w3, MAKER2, perp["vault"], calldata("deposit(address,uint256)", usdc, 2_000_000 * 10**6), gas=1_000_000)
    tick = int(w3.eth.contract(address=perp["pool"], abi=[{
        "name": "slot0", "type": "function", "stateMutability": "view", "inputs": [],
        "outputs": [{"type": t, "name": ""} for t in ("uint160", "int24", "uint16", "uint16", "uint16", "uint8",
                                                        "bool")]}]).functions.slot0().call()[1])
    centre = tick - tick % 60
    deadline = int(w3.eth.get_block("latest")["timestamp"]) + 3600
    for k in range(1, 7):
        params = (perp["base_token"], E18, 3_000 * E18, centre - 60 * k, centre + 60 * k, 0, 0, False, deadline)
        send(w3, MAKER2, perp["clearing_house"], calldata(ADD_LIQUIDITY, params), gas=3_000_000)


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PerpMarket]:
    tmp = tmp_path_factory.mktemp("perp-curie")
    chain = DevnetChain(chain_id=10, port=BASE_PORT + _port_offset([BASE_PORT]), base_fee_gwei=0.01, block_time_s=2,
                        pools=[DevnetPool(base="WETH", quote="USDC", depth_usd=2_000_000, positions=2)], perp=True)
    spec = DevnetSpec(state_dir=tmp / "devnet", block_interval_s=0.0, prices={"ETH": INDEX_PRICE, "BTC": 60_000.0},
                      chains={"optimism": chain}, bridge=DevnetBridgeSettings(relayer=False))
    manager = DevnetManager(spec, root=tmp, use_cache=False)
    try:
        state = manager.up()["chains"]["optimism"]
        config = load_config(manager.state_dir / GENERATED_CONFIG)
        [entry] = config.perps_on("optimism")
        counter = RoundTripCounter()
        w3 = connect("optimism", config.chains["optimism"], timeout=30, counter=counter)
        trader = Web3.to_checksum_address(state["accounts"]["trader"])
        ctx = ChainContext(name="optimism", chain_id=10, w3=w3, tokens=config.tokens("optimism"),
                           multicall=config.chains["optimism"].multicall, extras={"wallet": trader})
        usdc = state["tokens"]["USDC"]["address"]
        _add_narrow_ranges(w3, state["perps"]["eth_perp"], usdc)
        _mint_usdc(w3, usdc, trader, TRADER_COLLATERAL)
        yield PerpMarket(config, entry, ctx, counter, state["perps"]["eth_perp"], trader, usdc)
    finally:
        manager.down()


@pytest.fixture
def m(market: PerpMarket) -> Iterator[PerpMarket]:
    snapshot = anvil_rpc(market.w3, "evm_snapshot")
    try:
        yield market
    finally:
        anvil_rpc(market.w3, "evm_revert", snapshot)


def _deposit(m: PerpMarket, amount: int = TRADER_COLLATERAL) -> None:
    """The trader's exact approval of the Vault (contracts().spender), then build_deposit, sent."""
    adapter = PerpCurieAdapter()
    spender = adapter.contracts(m.entry).spender
    send(m.w3, m.trader, m.usdc, calldata("approve(address,uint256)", spender, amount), gas=100_000)
    tx = adapter.build_deposit(m.entry, m.usdc, amount)
    assert (tx.chain_id, tx.to) == (10, m.perp["vault"])
    send(m.w3, m.trader, tx.to, tx.data, gas=1_000_000)


def _send(m: PerpMarket, to: str, data: str, ok: bool = True) -> Any:
    tx_hash = m.w3.eth.send_transaction({"from": m.trader, "to": Web3.to_checksum_address(to), "data": HexStr(data),
                                         "gas": 3_000_000, **DEV_TX_FEES})
    receipt = m.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert (receipt["status"] == 1) is ok, receipt
    return receipt


def test_registered_and_conformant(m: PerpMarket) -> None:
    adapter = default_registry().perp("perp_curie")
    assert isinstance(adapter, PerpCurieAdapter)
    state = check_live_market(adapter, m.ctx, m.entry, m.head())
    check_static_perp(adapter, m.entry, state)


def test_read_is_bounded_pinned_and_equals_curie_getters(m: PerpMarket) -> None:
    adapter = PerpCurieAdapter()  # a fresh instance: no hints, the cold read
    block = m.head()
    m.counter.reset()
    [state] = adapter.read(m.ctx, [m.entry], block)
    assert m.counter.count <= MAX_ROUND_TRIPS == 3, m.counter.methods
    assert state.block_number == block and state.position is not None
    at = block
    base, house_config = m.perp["base_token"], m.c("ClearingHouseConfig", "clearing_house_config")
    interval = house_config.functions.getTwapInterval().call(block_identifier=at)
    exchange = m.c("Exchange", "exchange")
    sqrt_twap = exchange.functions.getSqrtMarkTwapX96(base, interval).call(block_identifier=at)
    base_token = m.c("BaseToken", "base_token")
    assert state.twap_interval_s == interval
    assert state.market_twap_price == (sqrt_twap / 2**96) ** 2
    assert state.index_price == base_token.functions.getIndexPrice(0).call(block_identifier=at) / E18
    assert state.index_twap_price == base_token.functions.getIndexPrice(interval).call(block_identifier=at) / E18
    assert state.mark_price == m.c("AccountBalance", "account_balance").functions.getMarkPrice(base).call(
        block_identifier=at) / E18
    assert state.mm_ratio == 0.0625 and state.im_ratio == 0.1 and state.exchange_fee_ratio == 0.001
    assert state.max_ticks_crossed == exchange.functions.getMaxTickCrossedWithinBlock(base).call()
    cap = house_config.functions.getMaxFundingRate().call() / 1e6
    premium = (state.market_twap_price - state.index_twap_price) / state.index_twap_price
    assert state.daily_funding_rate == max(-cap, min(cap, premium))
    assert PerpMarketState.model_validate_json(state.model_dump_json()) == state
    # Pinned: a trade later moves the vAMM, and the same block still reads the same state.
    _deposit(m)
    q = adapter.quote(state, Side.BUY, 5 * E18)
    _send(m, state.clearing_house, adapter.build_open(state, Side.BUY, 5 * E18, q.quote_amount_raw * 2,
                                                      m.deadline()).data)
    m.counter.reset()
    [again] = adapter.read(m.ctx, [m.entry], block)
    assert m.counter.count <= 2  # warm: the vAMM's words come in round 1
    assert again.pool == state.pool and again.mark_price == state.mark_price
    assert m.read().pool["sqrt_price_x96"] > state.pool["sqrt_price_x96"]


@pytest.mark.parametrize("side", [Side.SELL, Side.BUY])
def test_quote_equals_open_position_simulated_from_the_taker(m: PerpMarket, side: Side) -> None:
    _deposit(m)
    block = m.head()
    state = m.read(block)
    adapter = PerpCurieAdapter()
    crossed = []
    for size in SIZES:
        q = adapter.quote(state, side, size)
        loose = 1 if side is Side.SELL else 2**200  # the bound off the quote: the call answers what it computes
        got = simulate(m.ctx, m.entry.name, adapter.build_open(state, side, size, loose, m.deadline()), m.trader,
                       block)
        assert got == (size, q.quote_amount_raw), (side, size, got, q)
        crossed.append(q.ticks_crossed)
        # The bound exactly at the quote passes; one wei tighter reverts with Curie's reason, named by the adapter.
        simulate(m.ctx, m.entry.name, adapter.build_open(state, side, size, q.quote_amount_raw, m.deadline()),
                 m.trader, block)
        tight = q.quote_amount_raw + 1 if side is Side.SELL else q.quote_amount_raw - 1
        with pytest.raises(AdapterError, match=r"chain optimism: market eth_perp: .*CH_(TLRS|TMRL)"):
            simulate(m.ctx, m.entry.name, adapter.build_open(state, side, size, tight, m.deadline()), m.trader,
                     block)
    assert max(crossed) >= 2, crossed  # the large orders cross the second maker's ticks
    assert crossed == sorted(crossed)


def test_order_lands_fills_decode_and_position_equals_curie_getters(m: PerpMarket) -> None:
    vault, balance = m.c("Vault", "vault"), m.c("AccountBalance", "account_balance")
    before = vault.functions.getBalance(m.trader).call()
    _deposit(m)
    assert vault.functions.getBalance(m.trader).call() - before == TRADER_COLLATERAL
    adapter = PerpCurieAdapter()
    state = m.read()
    q = adapter.quote(state, Side.SELL, 7 * E18)
    receipt = _send(m, state.clearing_house,
                    adapter.build_open(state, Side.SELL, 7 * E18, q.quote_amount_raw * 995 // 1000,
                                       m.deadline()).data)
    fill = check_live_fill(adapter, state, q, receipt, m.trader)  # size, notional and fee to the wei
    base = m.perp["base_token"]
    assert fill.exchanged_position_size == -7 * E18
    assert balance.functions.getTakerPositionSize(m.trader, base).call() == fill.exchanged_position_size
    assert balance.functions.getTakerOpenNotional(m.trader, base).call() == fill.open_notional
    assert fill.open_notional == q.quote_amount_raw  # opened from flat: the notional received, fee taken
    assert fill.tx_hash == "0x" + bytes(receipt["transactionHash"]).hex() and fill.realized_pnl == 0

    after = m.read()
    pos = adapter.position(after)
    house, exchange = m.c("ClearingHouse", "clearing_house"), m.c("Exchange", "exchange")
    at = after.block_number
    assert pos.size == balance.functions.getTakerPositionSize(m.trader, base).call(block_identifier=at) / E18
    assert pos.open_notional == balance.functions.getTakerOpenNotional(m.trader, base).call(
        block_identifier=at) / E18
    assert after.free_collateral_usd == vault.functions.getFreeCollateral(m.trader).call(block_identifier=at) / 1e6
    assert after.account_value_usd == house.functions.getAccountValue(m.trader).call(block_identifier=at) / E18
    assert pos.owed_funding_usd == exchange.functions.getPendingFundingPayment(m.trader, base).call(
        block_identifier=at) / E18
    assert pos.owed_funding_usd == exchange.functions.getAllPendingFundingPayment(m.trader).call(
        block_identifier=at) / E18
    assert (pos.chain, pos.market, pos.block_number, pos.underlying) == ("optimism", "eth_perp", at, "ETH")
    # The risk engine's account value (collateral + size · mark + open notional − funding) is Curie's.
    value = pos.collateral_usd + pos.size * after.mark_price + pos.open_notional - pos.owed_funding_usd
    assert after.account_value_usd is not None and value == pytest.approx(after.account_value_usd, abs=1e-3)

    close_q = adapter.quote(after, Side.BUY, 7 * E18)  # closing a short buys its base back
    receipt = _send(m, after.clearing_house,
                    adapter.build_close(after, close_q.quote_amount_raw * 1005 // 1000, m.deadline()).data)
    [closed] = adapter.parse_fills(m.entry, receipt)
    assert closed.exchanged_position_size == 7 * E18
    assert (closed.exchanged_position_notional, closed.fee) == (close_q.exchanged_position_notional,
                                                                close_q.fee_raw)
    assert balance.functions.getTakerPositionSize(m.trader, base).call() == 0
    assert adapter.position(m.read()).size == 0

    tx = adapter.build_withdraw(m.entry, m.usdc, 1_000 * 10**6)
    _send(m, tx.to, tx.data)


def test_a_bound_tighter_than_the_quote_reverts_on_chain_as_an_adapter_error(m: PerpMarket) -> None:
    _deposit(m)
    adapter = PerpCurieAdapter()
    state = m.read()
    q = adapter.quote(state, Side.BUY, 3 * E18)
    receipt = _send(m, state.clearing_house,
                    adapter.build_open(state, Side.BUY, 3 * E18, q.quote_amount_raw - 1, m.deadline()).data, ok=False)
    with pytest.raises(AdapterError, match=r"^chain optimism: market eth_perp: transaction 0x[0-9a-f]{64} reverted$"):
        adapter.parse_fills(state, receipt)
    assert m.c("AccountBalance", "account_balance").functions.getTakerPositionSize(
        m.trader, m.perp["base_token"]).call() == 0
    with pytest.raises(InputError, match=r"chain optimism: market eth_perp: the account .* has no position"):
        adapter.build_close(m.read(), 10**18, m.deadline())


def test_the_snapshot_reads_the_wallets_account_and_the_book_carries_its_perp(m: PerpMarket) -> None:
    """The snapshot reads every perp market of the chain at its pinned block with the wallet's account, and the
    book's risk (orchestrator.assess) carries the perp: its delta, its Perps line; a market the snapshot refuses
    leaves the chain's positions incomplete (the underlying blocked), never read as flat."""
    config, registry = m.config, default_registry()
    wallet = Web3.to_checksum_address(config.wallets[config.chains["optimism"].wallet].address)
    adapter = PerpCurieAdapter()
    anvil_rpc(m.w3, "anvil_impersonateAccount", wallet)  # the operator's key is the signer's; the test sends as it
    _mint_usdc(m.w3, m.usdc, wallet, 50_000 * 10**6)
    send(m.w3, wallet, m.usdc, calldata("approve(address,uint256)", m.perp["vault"], 50_000 * 10**6), gas=100_000)
    send(m.w3, wallet, m.perp["vault"], adapter.build_deposit(m.entry, m.usdc, 50_000 * 10**6).data, gas=1_000_000)
    state = m.read()
    q = adapter.quote(state, Side.SELL, 4 * E18)
    send(m.w3, wallet, state.clearing_house,
         adapter.build_open(state, Side.SELL, 4 * E18, q.quote_amount_raw * 995 // 1000, m.deadline()).data,
         gas=3_000_000)
    anvil_rpc(m.w3, "evm_setTime", int(time.time()))
    anvil_rpc(m.w3, "evm_mine")  # a head on the wall clock: the snapshot refuses a stale one
    connections = {"optimism": m.w3}
    snap = take_snapshot(config, connections, registry)
    chain = snap.chains["optimism"]
    [read] = chain.perps
    assert read.block_number == chain.block_number and read.account == wallet
    assert read.position is not None and read.position.size == -4.0
    assert chain.perp_gas_usd["eth_perp"] > 0 and chain.refused_perps == {}
    spot_eth = sum(p.amount for p in chain.inventory if p.underlying == "ETH")
    assessment = assess(config, registry, snap, connections)
    assert assessment.report is not None
    assert assessment.report.underlying("ETH").delta == pytest.approx(spot_eth - 4.0, abs=1e-9)
    [line] = assessment.report.perps
    assert (line.chain, line.market, line.size) == ("optimism", "eth_perp", -4.0)
    assert line.liquidation_price is not None and line.liquidation_price > read.mark_price

    # The same market with its vAMM mistyped (the USDC token's address): refused alone, and ETH's book is blocked.
    bad_config = PerpCurieConfig.model_validate({**m.entry.config.model_dump(), "pool": m.usdc})
    bad = dataclasses.replace(m.entry, config=bad_config)
    mistyped = config.model_copy(update={"perps": (bad,)})
    snap = take_snapshot(mistyped, connections, registry)
    assert snap.chains["optimism"].perps == () and list(snap.chains["optimism"].refused_perps) == ["eth_perp"]
    assessment = assess(mistyped, registry, snap, connections)
    assert "perp market eth_perp" in assessment.book.blocked["ETH"]
    assert not any(isinstance(p, PerpPosition) for p in assessment.book.positions)
