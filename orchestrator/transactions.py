"""Building and checking transactions before anything is signed: exact approvals, bounds, fees, simulation.

Usage::

    tx = approve_tx(chain_id, token, router, amount)
    validate_tx(record, tx, chain_id, allowlist, now, deadline, max_trade_usd, notional_usd)
    gas = simulate(w3, sender, tx, where)
"""

from __future__ import annotations

import math
from typing import Any

from eth_abi.abi import encode
from eth_typing import HexStr
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3RPCError

from adapters import TxRequest, checksum_address
from crosshedge import UnsafeTransactionError
from crosshedge.config import ChainSettings, ExecutionSettings
from orchestrator.ledger import IntentKind, IntentRecord, TxFields
from orchestrator.safety import check_gas_price

APPROVE_SELECTOR = bytes.fromhex("095ea7b3")  # approve(address,uint256)
ALLOWANCE_SELECTOR = bytes.fromhex("dd62ed3e")  # allowance(address,address)
SELF_TRANSFER_GAS = 21_000
#: Intent kinds that approve a spender (an exact amount, or 0 to revoke).
APPROVALS = frozenset({IntentKind.APPROVE, IntentKind.REVOKE})
#: Intent kinds whose call must carry a deadline in the future (a bridge deposit has its own fill deadline, which
#: the transfer adapter bounds; a perp margin deposit has none).
_DEADLINED = frozenset({IntentKind.SWAP, IntentKind.PERP_ORDER})


def approve_tx(chain_id: int, token: str, spender: str, amount: int) -> TxRequest:
    """An exact ERC20 approval: ``approve(spender, amount)`` on ``token`` (amount 0 revokes)."""
    data = APPROVE_SELECTOR + encode(["address", "uint256"], [checksum_address(spender), amount])
    return TxRequest(chain_id=chain_id, to=checksum_address(token), data="0x" + data.hex(),
                     description=f"approve {amount} to {spender}")


def self_transfer_tx(chain_id: int, address: str) -> TxRequest:
    """A zero-value transfer to oneself: spends one nonce and nothing else (fills a nonce gap)."""
    return TxRequest(chain_id=chain_id, to=checksum_address(address), data="0x",
                     description="zero-value self-transfer filling a nonce gap")


def read_allowance(w3: Web3, token: str, owner: str, spender: str) -> int:
    """``allowance(owner, spender)`` of an ERC20, at the latest block."""
    data = ALLOWANCE_SELECTOR + encode(["address", "address"], [owner, spender])
    out = w3.eth.call({"to": Web3.to_checksum_address(token), "data": HexStr("0x" + data.hex())})
    return int.from_bytes(bytes(out)[:32], "big")


def validate_tx(record: IntentRecord, tx: TxRequest | None, chain_id: int, allowlist: frozenset[str], now: float,
                deadline: int | None, max_trade_usd: float, notional_usd: float | None = None) -> None:
    """Refuse, before signing, anything that is not an exact, bounded, allowlisted call on the right chain.

    ``notional_usd`` is the trade's value from a fresh quote (the plan's own figure is never trusted for a cap;
    without one the intent's planned notional is checked). ``tx`` None checks the intent alone, before its calldata
    is built. Raises :class:`UnsafeTransactionError` with one sentence naming the intent and what is wrong.
    """
    spec = record.spec
    where = f"intent {spec.id} ({spec.kind} on {spec.chain})"
    if spec.kind is IntentKind.NONCE_FILL:
        _validate_self_transfer(where, record, tx, chain_id)
        return
    if spec.kind is not IntentKind.REVOKE and (spec.amount_in_raw <= 0 or spec.amount_in_raw >= 2**255):
        raise UnsafeTransactionError(f"{where}: amount in must be positive and bounded, got {spec.amount_in_raw}")
    notional = spec.notional_usd if notional_usd is None else notional_usd
    if not math.isfinite(notional) or notional < 0 or notional > max_trade_usd:
        raise UnsafeTransactionError(
            f"{where}: notional ${notional:,.2f} is outside [0, ${max_trade_usd:,.0f}] (execution.max_trade_usd)")
    if spec.kind in APPROVALS:
        if spec.spender is None or checksum_address(spec.spender) not in allowlist:
            raise UnsafeTransactionError(f"{where}: spender {spec.spender} is not an allowlisted router")
    else:
        if spec.min_amount_out_raw <= 0 and spec.kind is not IntentKind.PERP_DEPOSIT:
            raise UnsafeTransactionError(
                f"{where}: amountOutMinimum must be positive (from the plan), got {spec.min_amount_out_raw}")
        if spec.kind in _DEADLINED and (deadline is None or deadline <= now):
            # (a deposit carries its own fill deadline, which the transfer adapter bounds)
            raise UnsafeTransactionError(f"{where}: deadline {deadline} is not in the future (now {int(now)})")
        if spec.kind is IntentKind.DEPOSIT and (spec.destination is None or spec.destination == spec.chain):
            raise UnsafeTransactionError(f"{where}: a deposit must name another chain as its destination")
    if tx is None:
        return
    if tx.chain_id != chain_id:
        raise UnsafeTransactionError(
            f"{where}: transaction is for chain id {tx.chain_id}, chain {spec.chain} is {chain_id}")
    if not Web3.is_address(tx.to) or checksum_address(tx.to) not in allowlist:
        raise UnsafeTransactionError(f"{where}: target {tx.to} is not an allowlisted router or token of {spec.chain}")
    if tx.value != 0:
        raise UnsafeTransactionError(f"{where}: refusing to send native value {tx.value} with a hedge trade")


def _validate_self_transfer(where: str, record: IntentRecord, tx: TxRequest | None, chain_id: int) -> None:
    if tx is None:
        return
    if (tx.chain_id != chain_id or tx.value != 0 or tx.data not in ("0x", "")
            or Web3.to_checksum_address(tx.to) != Web3.to_checksum_address(record.spec.sender)):
        raise UnsafeTransactionError(f"{where}: a nonce filler must be a zero-value, empty transfer to oneself")


def current_fees(w3: Web3, chain: str, settings: ChainSettings, execution: ExecutionSettings) -> tuple[int, int, int]:
    """(maxFeePerGas, maxPriorityFeePerGas, base fee) for a new transaction; the gas cap breaker applies."""
    return fees_for(next_base_fee(w3), chain, settings, execution)


def fees_for(base: int, chain: str, settings: ChainSettings, execution: ExecutionSettings) -> tuple[int, int, int]:
    """:func:`current_fees` for a next base fee already read (``base``, wei); the gas cap breaker applies."""
    check_gas_price(chain, base, settings.gas.max_gas_price_gwei)
    tip = int(settings.gas.priority_fee_gwei * 1e9)
    cap = int(settings.gas.max_gas_price_gwei * 1e9)
    max_fee = min(int(base * execution.base_fee_multiplier) + tip, cap)
    return max_fee, min(tip, max_fee), base


def next_base_fee(w3: Web3) -> int:
    """The base fee the next block will charge (the pending block's; the latest's where there is none)."""
    try:
        block = w3.eth.get_block("pending")
    except Web3RPCError:
        block = w3.eth.get_block("latest")
    return int(block.get("baseFeePerGas", 0) or 0)


def bump_fees(max_fee: int, tip: int, next_base: int, bump_pct: float, base_fee_multiplier: float,
              cap_wei: int) -> tuple[int, int] | None:
    """Fees for a replacement at the same nonce: fee cap AND tip each >= ``bump_pct`` higher (and enough for the
    next base fee), never above ``cap_wei``. None when the cap does not leave room for a valid replacement.

    Usage: ``bump_fees(30 * 10**9, 10**9, 50 * 10**9, 12.5, 2.0, 500 * 10**9)``
    """
    factor = 1.0 + bump_pct / 100.0
    new_tip = max(math.ceil(tip * factor), tip + 1)
    min_fee = max(math.ceil(max_fee * factor), max_fee + 1)
    wanted = max(min_fee, int(next_base * base_fee_multiplier) + new_tip)
    new_fee = min(wanted, cap_wei)
    if new_fee < min_fee or new_tip > new_fee:
        return None
    return new_fee, new_tip


def simulate(w3: Web3, sender: str, tx: TxRequest, where: str) -> int:
    """``eth_call`` the transaction (refusing it if it reverts), then estimate its gas; returns the gas limit."""
    call = {"from": sender, "to": tx.to, "data": tx.data, "value": tx.value}
    try:
        w3.eth.call(call, "latest")  # type: ignore[arg-type]
        estimate = int(w3.eth.estimate_gas(call))  # type: ignore[arg-type]
    except (ContractLogicError, Web3RPCError) as exc:
        raise UnsafeTransactionError(f"{where}: simulation (eth_call) reverted: {short(exc)}") from None
    return estimate + estimate // 5 + 10_000  # headroom: state can move between simulation and inclusion


def tx_dict(fields: TxFields, max_fee: int, tip: int) -> dict[str, Any]:
    """The EIP-1559 transaction to sign for ``fields`` at the given fees."""
    return {"chainId": fields.chain_id, "nonce": fields.nonce, "to": fields.to, "data": fields.data,
            "value": fields.value, "gas": fields.gas, "maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip,
            "type": 2}


def short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 200 else text[:200] + "..."


__all__ = [
    "APPROVALS",
    "SELF_TRANSFER_GAS",
    "approve_tx",
    "bump_fees",
    "current_fees",
    "fees_for",
    "next_base_fee",
    "read_allowance",
    "self_transfer_tx",
    "short",
    "simulate",
    "tx_dict",
    "validate_tx",
]
