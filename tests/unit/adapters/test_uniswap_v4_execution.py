"""Uniswap V4 execution without a chain: the Permit2 permit's EIP-712 message (as Permit2's PermitHash hashes it),
its signature (recovers to the wallet, deterministic), the Universal Router call per direction, and fill decoding."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import decode, encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak
from web3 import HTTPProvider, Web3

from adapters import PermitRequest, SignedPermit, permit_typed_data, read_permit_nonce
from adapters.permit2 import decode_allowance
from adapters.types import Curve, Segment, Side, TokenInfo, VenueState
from adapters.uniswap.universal_router import ADDRESS_THIS, CONTRACT_BALANCE, EXECUTE_SELECTOR, Command
from adapters.uniswap_v4 import NATIVE, PERMIT2_ADDRESS, SWAP_TOPIC, Action, build_v4_swap, parse_v4_fill
from adapters.uniswap_v4 import v4_permit_request as permit_request
from adapters.uniswap_v4.execution import TRANSFER_TOPIC
from crosshedge import AdapterError, RpcError, UnsafeTransactionError
from orchestrator import WalletSigner

WETH = "0x" + "c0" * 20
USDC = "0x" + "0a" * 20  # above 0x0 (native), below WBTC
WBTC = "0x" + "f1" * 20
ROUTER = "0x" + "77" * 20
MANAGER = "0x" + "88" * 20
WALLET_KEY = "0x" + "42" * 32
WALLET = Account.from_key(WALLET_KEY).address
DEADLINE = 1_900_000_000
POOL_ID = "0x" + "ab" * 32


def _state(native: bool) -> VenueState:
    base = TokenInfo(chain="base", symbol="WETH" if native else "WBTC", address=WETH if native else WBTC,
                     decimals=18 if native else 8, underlying="ETH" if native else "BTC")
    quote = TokenInfo(chain="base", symbol="USDC", address=USDC, decimals=6, underlying="USD")
    # Ether pool: ETH (0x0) is currency0, the base. Token pool: USDC sorts below WBTC, so the base is currency1.
    c0, c1 = (NATIVE, USDC) if native else (USDC, WBTC)
    curve = Curve(side=Side.SELL, segments=(Segment(size=1.0, price=3000.0),))
    return VenueState(
        chain="base", venue="v4_test", adapter="uniswap_v4", underlying=base.underlying, base=base, quote=quote,
        fee_pips=250, mid_price=3000.0, block_number=1, block_timestamp=DEADLINE - 600, gas_units=150_000,
        sell=curve, buy=Curve(side=Side.BUY, segments=curve.segments),
        pool={"pool_key": {"currency0": c0, "currency1": c1, "fee": 250, "tick_spacing": 5, "hooks": NATIVE},
              "pool_id": POOL_ID, "pool_manager": MANAGER, "universal_router": ROUTER, "permit2": PERMIT2_ADDRESS,
              "weth": WETH if native else None, "base_is_currency0": native, "chain_id": 8453})


def _signed(state: VenueState, side: Side, amount: int, nonce: int = 0) -> SignedPermit:
    signer = WalletSigner("operator", Account.from_key(WALLET_KEY))
    return signer.sign_permit(permit_request(state, side, amount, DEADLINE), nonce, 8453)


def _typehash(text: str) -> bytes:
    return keccak(text=text)


def test_permit_digest_is_permit2s_permit_hash() -> None:
    """The EIP-712 digest computed by hand from Permit2's PermitHash type strings equals eth-account's."""
    request = permit_request(_state(True), Side.SELL, 10**18, DEADLINE)
    details_type = "PermitDetails(address token,uint160 amount,uint48 expiration,uint48 nonce)"
    single_type = "PermitSingle(PermitDetails details,address spender,uint256 sigDeadline)" + details_type
    details = keccak(encode(["bytes32", "address", "uint160", "uint48", "uint48"],
                            [_typehash(details_type), WETH, 10**18, DEADLINE, 7]))
    struct = keccak(encode(["bytes32", "bytes32", "address", "uint256"],
                           [_typehash(single_type), details, ROUTER, DEADLINE]))
    domain = keccak(encode(["bytes32", "bytes32", "uint256", "address"],
                           [_typehash("EIP712Domain(string name,uint256 chainId,address verifyingContract)"),
                            keccak(text="Permit2"), 8453, PERMIT2_ADDRESS]))
    digest = keccak(b"\x19\x01" + domain + struct)
    signable = encode_typed_data(full_message=permit_typed_data(request, 7, 8453))
    assert keccak(b"\x19" + signable.version + signable.header + signable.body) == digest


def test_permit_signature_recovers_to_the_wallet_and_is_deterministic() -> None:
    state = _state(True)
    first, again = _signed(state, Side.SELL, 10**18, nonce=3), _signed(state, Side.SELL, 10**18, nonce=3)
    assert first == again  # a rebuilt swap carries the very same bytes
    message = encode_typed_data(full_message=permit_typed_data(first.request, 3, 8453))
    assert Account.recover_message(message, signature=first.signature) == WALLET
    assert _signed(state, Side.SELL, 10**18, nonce=4).signature != first.signature
    assert _signed(state, Side.SELL, 10**18 + 1, nonce=3).signature != first.signature


def test_signer_refuses_a_nonce_permit2_cannot_hold() -> None:
    signer = WalletSigner("operator", Account.from_key(WALLET_KEY))
    request = permit_request(_state(True), Side.SELL, 10**18, DEADLINE)
    with pytest.raises(UnsafeTransactionError, match="wallet operator: refusing a permit") as err:
        signer.sign_permit(request, 2**48, 8453)
    assert WALLET_KEY[2:] not in str(err.value)


def _decoded(data: str) -> list[tuple[Command, bytes]]:
    raw = bytes.fromhex(data[2:])
    assert raw[:4] == EXECUTE_SELECTOR
    commands, inputs, deadline = decode(["bytes", "bytes[]", "uint256"], raw[4:])
    assert deadline == DEADLINE
    return [(Command(c), i) for c, i in zip(commands, inputs, strict=True)]


def _plan(data: bytes) -> list[tuple[Action, bytes]]:
    actions, params = decode(["bytes", "bytes[]"], data)
    return [(Action(a), p) for a, p in zip(actions, params, strict=True)]


def test_selling_weth_into_an_ether_pool_unwraps_in_the_router() -> None:
    state = _state(True)
    tx = build_v4_swap(state, Side.SELL, 10**18, 2_900 * 10**6, WALLET, DEADLINE, _signed(state, Side.SELL, 10**18))
    assert (tx.to.lower(), tx.chain_id, tx.value) == (ROUTER, 8453, 0)
    steps = _decoded(tx.data)
    assert [c for c, _ in steps] == [Command.PERMIT2_PERMIT, Command.PERMIT2_TRANSFER_FROM, Command.UNWRAP_WETH,
                                     Command.V4_SWAP]
    permit, _sig = decode(["((address,uint160,uint48,uint48),address,uint256)", "bytes"], steps[0][1])
    assert permit == ((WETH, 10**18, DEADLINE, 0), ROUTER, DEADLINE)
    assert decode(["address", "address", "uint160"], steps[1][1]) == (WETH, ADDRESS_THIS, 10**18)
    plan = _plan(steps[3][1])
    assert [a for a, _ in plan] == [Action.SWAP_EXACT_IN_SINGLE, Action.SETTLE, Action.TAKE]
    (key, zero_for_one, amount_in, minimum, _hook), = decode(
        ["((address,address,uint24,int24,address),bool,uint128,uint128,bytes)"], plan[0][1])
    assert (key[0], zero_for_one, amount_in, minimum) == (NATIVE, True, 10**18, 2_900 * 10**6)
    assert decode(["address", "uint256", "bool"], plan[1][1]) == (NATIVE, 10**18, False)  # from the router's ether
    assert decode(["address", "address", "uint256"], plan[2][1]) == (USDC, WALLET.lower(), 0)


def test_buying_ether_takes_it_to_the_router_and_wraps_it_to_the_wallet() -> None:
    state = _state(True)
    tx = build_v4_swap(state, Side.BUY, 3_000 * 10**6, 99 * 10**16, WALLET, DEADLINE,
                       _signed(state, Side.BUY, 3_000 * 10**6))
    steps = _decoded(tx.data)
    assert [c for c, _ in steps] == [Command.PERMIT2_PERMIT, Command.V4_SWAP, Command.WRAP_ETH]
    plan = _plan(steps[1][1])
    assert decode(["address", "uint256", "bool"], plan[1][1]) == (USDC, 3_000 * 10**6, True)  # from the user
    assert decode(["address", "address", "uint256"], plan[2][1]) == (NATIVE, ADDRESS_THIS, 0)
    assert decode(["address", "uint256"], steps[2][1]) == (WALLET.lower(), CONTRACT_BALANCE)


def test_a_token_pool_swap_settles_from_the_user_and_takes_to_the_wallet() -> None:
    state = _state(False)
    tx = build_v4_swap(state, Side.SELL, 10**8, 60_000 * 10**6, WALLET, DEADLINE, _signed(state, Side.SELL, 10**8))
    steps = _decoded(tx.data)
    assert [c for c, _ in steps] == [Command.PERMIT2_PERMIT, Command.V4_SWAP]
    plan = _plan(steps[1][1])
    (key, zero_for_one, *_), = decode(["((address,address,uint24,int24,address),bool,uint128,uint128,bytes)"],
                                      plan[0][1])
    assert (key[0], key[1], zero_for_one) == (USDC, WBTC, False)  # WBTC is currency1: selling it is one for zero
    assert decode(["address", "uint256", "bool"], plan[1][1]) == (WBTC, 10**8, True)
    assert decode(["address", "address", "uint256"], plan[2][1]) == (USDC, WALLET.lower(), 0)


def test_a_permit_for_anything_but_the_swap_is_refused() -> None:
    state = _state(True)
    with pytest.raises(UnsafeTransactionError, match="venue v4_test: the permit"):
        build_v4_swap(state, Side.SELL, 10**18, 1, WALLET, DEADLINE, _signed(state, Side.SELL, 10**18 + 1))
    with pytest.raises(UnsafeTransactionError, match="is not the swap's"):
        build_v4_swap(state, Side.BUY, 10**18, 1, WALLET, DEADLINE, _signed(state, Side.SELL, 10**18))
    with pytest.raises(AdapterError, match="a zero minimum would accept any price"):
        build_v4_swap(state, Side.SELL, 10**18, 0, WALLET, DEADLINE, None)


def test_an_ether_pool_without_the_configured_weth_is_refused() -> None:
    state = _state(True)
    state = state.model_copy(update={"pool": {**state.pool, "weth": None}})
    with pytest.raises(AdapterError, match=r"chain base: venue v4_test: pool currency 0x0+ is not the configured"):
        permit_request(state, Side.SELL, 10**18, DEADLINE)


def _log(address: str, topics: list[bytes], data: bytes) -> dict[str, Any]:
    return {"address": address, "topics": topics, "data": data}


def _receipt(amount0: int, amount1: int, transfers: list[tuple[str, str, str, int]]) -> dict[str, Any]:
    swap = encode(["int128", "int128", "uint160", "uint128", "int24", "uint24"], [amount0, amount1, 2**96, 1, 0, 250])
    logs = [_log(MANAGER, [SWAP_TOPIC, bytes.fromhex(POOL_ID[2:]), bytes(12) + bytes.fromhex(ROUTER[2:])], swap)]
    logs += [_log(token, [TRANSFER_TOPIC, bytes(12) + bytes.fromhex(src[2:]), bytes(12) + bytes.fromhex(dst[2:])],
                  value.to_bytes(32, "big")) for token, src, dst, value in transfers]
    return {"transactionHash": b"\x11" * 32, "status": 1, "blockNumber": 9, "gasUsed": 150_000,
            "effectiveGasPrice": 10**9, "from": WALLET, "logs": logs}


def test_the_fill_takes_the_swap_events_swapper_deltas_checked_against_the_wallet() -> None:
    state = _state(True)
    sold = _receipt(-10**18, 2_990 * 10**6, [(WETH, WALLET, ROUTER, 10**18), (USDC, MANAGER, WALLET, 2_990 * 10**6)])
    fill = parse_v4_fill(state, sold)
    assert (fill.side, fill.amount_in_raw, fill.amount_out_raw) == (Side.SELL, 10**18, 2_990 * 10**6)
    assert (fill.base_amount, fill.quote_amount, fill.gas_used) == (1.0, 2_990.0, 150_000)
    bought = _receipt(10**18, -3_010 * 10**6, [(USDC, WALLET, MANAGER, 3_010 * 10**6), (WETH, ROUTER, WALLET, 10**18)])
    fill = parse_v4_fill(state, bought)
    assert (fill.side, fill.amount_in_raw, fill.amount_out_raw) == (Side.BUY, 3_010 * 10**6, 10**18)


def test_a_fill_the_wallets_transfers_disagree_with_is_refused() -> None:
    state = _state(True)
    short = _receipt(-10**18, 2_990 * 10**6, [(WETH, WALLET, ROUTER, 10**18), (USDC, MANAGER, WALLET, 2_989 * 10**6)])
    with pytest.raises(AdapterError, match=r"the wallet paid .* but the Swap event says"):
        parse_v4_fill(state, short)
    with pytest.raises(AdapterError, match="has 0 Swap events"):
        parse_v4_fill(state, {**short, "logs": short["logs"][1:]})
    with pytest.raises(AdapterError, match="reverted"):
        parse_v4_fill(state, {**short, "status": 0})


def test_permit_request_values_are_validated() -> None:
    with pytest.raises(ValueError, match="amount"):
        PermitRequest(permit2=PERMIT2_ADDRESS, token=WETH, spender=ROUTER, amount=2**160, expiration=1,
                      sig_deadline=1)


def test_a_nonce_that_cannot_be_read_is_a_retryable_rpc_error_naming_the_chain() -> None:
    w3 = Web3(HTTPProvider("http://127.0.0.1:9", request_kwargs={"timeout": 2}))  # nothing listens on port 9
    request = permit_request(_state(True), Side.SELL, 10**18, DEADLINE)
    with pytest.raises(RpcError, match="chain base: JSON-RPC batch \\(eth_call\\) failed") as err:
        read_permit_nonce(w3, "base", request, WALLET)
    assert err.value.retryable


def test_an_allowance_answer_is_decoded_only_in_its_own_shape() -> None:
    assert decode_allowance(encode(["uint160", "uint48", "uint48"], [5, 6, 7])) == (5, 6, 7)
    with pytest.raises(ValueError, match="allowance returned 0 bytes"):
        decode_allowance(b"")
