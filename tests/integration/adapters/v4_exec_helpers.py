"""Uniswap V4 venue states from the devnet's ``uniswap_v4`` section, and real transactions signed by the operator.

Until the ``uniswap_v4`` adapter's reads land, tests build the :class:`VenueState` its read will return: the pool
dict (``pool_key``, ``pool_id``, ``pool_manager``, ``universal_router``, ``permit2``, ``weth``,
``base_is_currency0``, ``chain_id``) from the generated config, the mid from StateView at the block.
"""

from __future__ import annotations

from typing import Any

from eth_typing import HexStr
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract

from adapters import Curve, Segment, Side, TokenInfo, TxRequest, VenueState
from adapters.uniswap_v4 import NATIVE, PoolKey, quote_exact_single
from crosshedge.config import ChainSettings, Config, UniswapV4Deployment
from devnet import load_artifact
from orchestrator import WalletSigner, load_signer


def contract(w3: Web3, name: str, address: str) -> Contract:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(name).abi)


def deployment(settings: ChainSettings) -> UniswapV4Deployment:
    assert settings.uniswap_v4 is not None, "the chain has no uniswap_v4 section"
    return settings.uniswap_v4


def token(settings: ChainSettings, chain: str, symbol: str) -> TokenInfo:
    t = settings.tokens[symbol]
    return TokenInfo(chain=chain, symbol=symbol, address=t.address, decimals=t.decimals, underlying=t.underlying)


def pool_dict(settings: ChainSettings, pool_name: str) -> tuple[dict[str, Any], str]:
    """(the adapter's ``pool`` dict for V4 pool ``pool_name``, the base token's symbol)."""
    v4 = deployment(settings)
    p = v4.pools[pool_name]
    usdc = settings.tokens["USDC"].address.lower()
    base_c = p.currency1 if p.currency0.lower() == usdc else p.currency0
    base = "WETH" if int(base_c, 16) == 0 else next(s for s, t in settings.tokens.items()
                                                    if t.address.lower() == base_c.lower())
    pool = {"pool_key": {"currency0": p.currency0, "currency1": p.currency1, "fee": p.fee,
                         "tick_spacing": p.tick_spacing, "hooks": p.hooks},
            "pool_id": p.pool_id, "pool_manager": v4.pool_manager, "universal_router": v4.universal_router,
            "permit2": v4.permit2, "weth": settings.tokens["WETH"].address, "base_is_currency0": base_c == p.currency0,
            "chain_id": settings.chain_id}
    return pool, base


def pool_key(state: VenueState) -> PoolKey:
    k = state.pool["pool_key"]
    return PoolKey(k["currency0"], k["currency1"], k["fee"], k["tick_spacing"], k["hooks"])


def mid_price(w3: Web3, settings: ChainSettings, pool: dict[str, Any], base: TokenInfo, quote: TokenInfo,
              block: int) -> float:
    """Quote per base (human units, no fee) from StateView's slot0 at ``block``."""
    view = contract(w3, "StateView", deployment(settings).state_view)
    sqrt_p = view.functions.getSlot0(bytes.fromhex(pool["pool_id"][2:])).call(block_identifier=block)[0]
    raw = (sqrt_p / 2**96) ** 2  # currency1 per currency0, raw
    d0, d1 = (base.decimals, quote.decimals) if pool["base_is_currency0"] else (quote.decimals, base.decimals)
    price0 = raw * 10 ** (d0 - d1)
    return float(price0 if pool["base_is_currency0"] else 1 / price0)


def v4_state(config: Config, w3: Web3, chain: str, pool_name: str, venue: str | None = None,
             curves: tuple[Curve, Curve] | None = None, gas_units: int = 160_000) -> VenueState:
    """The venue state of V4 pool ``pool_name`` at the head (one flat segment at the mid unless ``curves``)."""
    settings = config.chains[chain]
    pool, base_symbol = pool_dict(settings, pool_name)
    base, quote = token(settings, chain, base_symbol), token(settings, chain, "USDC")
    block = w3.eth.get_block("latest")
    mid = mid_price(w3, settings, pool, base, quote, int(block["number"]))
    flat = (Segment(size=1.0, price=mid),)
    sell, buy = curves or (Curve(side=Side.SELL, segments=flat), Curve(side=Side.BUY, segments=flat))
    return VenueState(chain=chain, venue=venue or pool_name, adapter="uniswap_v4", underlying=base.underlying,
                      base=base, quote=quote, fee_pips=int(pool["pool_key"]["fee"]), mid_price=mid,
                      block_number=int(block["number"]), block_timestamp=int(block["timestamp"]),
                      gas_units=gas_units, sell=sell, buy=buy, pool=pool)


def v4_quote(config: Config, w3: Web3, state: VenueState, side: Side, amount_in: int) -> int:
    """V4Quoter's exact-in quote for the swap (the chain's own answer, at the head)."""
    quoter = contract(w3, "V4Quoter", deployment(config.chains[state.chain]).v4_quoter)
    zero_for_one = bool(state.pool["base_is_currency0"]) == (side is Side.SELL)
    out, _gas = quoter.functions.quoteExactInputSingle(
        quote_exact_single(pool_key(state), zero_for_one, amount_in)).call()
    return int(out)


def operator(config: Config, chain: str) -> WalletSigner:
    """The chain's trading wallet, unlocked from its keystore as the worker does."""
    name = config.chains[chain].wallet
    return load_signer(name, config.wallets[name])


def send(w3: Web3, signer: WalletSigner, tx: TxRequest, gas: int) -> Any:
    """Sign ``tx`` with the operator's key at its next nonce, send it and wait for the receipt."""
    base_fee = int(w3.eth.get_block("pending")["baseFeePerGas"])
    body = {"chainId": tx.chain_id, "nonce": w3.eth.get_transaction_count(to_checksum_address(signer.address),
                                                                          "pending"),
            "to": to_checksum_address(tx.to), "data": tx.data, "value": tx.value, "gas": gas,
            "maxFeePerGas": 2 * base_fee + 10**9, "maxPriorityFeePerGas": 10**9, "type": 2}
    signed = signer.sign(body)
    w3.eth.send_raw_transaction(HexStr(signed.raw_hex))
    return w3.eth.wait_for_transaction_receipt(HexStr(signed.tx_hash), timeout=30)


def balance(w3: Web3, token_address: str, owner: str) -> int:
    if int(token_address, 16) == int(NATIVE, 16):
        return int(w3.eth.get_balance(to_checksum_address(owner)))
    return int(contract(w3, "ERC20PresetMinterPauser", token_address).functions.balanceOf(
        to_checksum_address(owner)).call())
