"""Across SpokePool events and the relay hash, decoded and computed with eth_abi (the ABI of @across-protocol/contracts
5.x, where addresses travel as bytes32).

Usage::

    deposit = decode_deposit(log, adapter="across", origin="ethereum", origin_chain_id=1)
    relay_hash(deposit, destination_chain_id=8453)     # the key of the destination's fillStatuses
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from hexbytes import HexBytes
from web3 import Web3

from adapters.rpc import checksum_address
from adapters.transfers import Deposit

FUNDS_DEPOSITED = Web3.keccak(text="FundsDeposited(bytes32,bytes32,uint256,uint256,uint256,uint256,uint32,uint32,"
                                   "uint32,bytes32,bytes32,bytes32,bytes)")
FILLED_RELAY = Web3.keccak(text="FilledRelay(bytes32,bytes32,uint256,uint256,uint256,uint256,uint256,uint32,uint32,"
                                "bytes32,bytes32,bytes32,bytes32,bytes32,(bytes32,bytes32,uint256,uint8))")
EXECUTED_REFUND_ROOT = Web3.keccak(text="ExecutedRelayerRefundRoot(uint256,uint256,uint256[],uint32,uint32,address,"
                                        "address[],bool,address)")
_DEPOSIT_DATA = ["bytes32", "bytes32", "uint256", "uint256", "uint32", "uint32", "uint32", "bytes32", "bytes32",
                 "bytes"]
_FILL_DATA = ["bytes32", "bytes32", "uint256", "uint256", "uint256", "uint32", "uint32", "bytes32", "bytes32",
              "bytes32", "bytes32", "(bytes32,bytes32,uint256,uint8)"]
_REFUND_DATA = ["uint256", "uint256[]", "address", "address[]", "bool", "address"]
#: V3RelayData (SpokePool's struct) followed by the destination chain id: what the relay hash is taken over.
_RELAY_DATA = "(bytes32,bytes32,bytes32,bytes32,bytes32,uint256,uint256,uint256,uint256,uint32,uint32,bytes)"


def to_bytes32(address: str) -> bytes:
    """An EVM address left-padded to the 32 bytes Across 5.x takes addresses as."""
    return bytes(12) + bytes(HexBytes(checksum_address(address)))


def from_bytes32(word: bytes) -> str:
    """The EVM address in a bytes32 (its low 20 bytes)."""
    return checksum_address("0x" + bytes(word)[-20:].hex())


def _topic_int(topic: Any) -> int:
    return int.from_bytes(bytes(HexBytes(topic)), "big")


def logs_of(receipt: Mapping[str, Any], address: str, topic: bytes) -> list[Mapping[str, Any]]:
    """The receipt's logs with ``topic`` emitted by ``address``."""
    want = checksum_address(address)
    return [log for log in receipt.get("logs", []) if log["topics"] and bytes(HexBytes(log["topics"][0])) == topic
            and checksum_address(log["address"]) == want]


def decode_deposit(log: Mapping[str, Any], adapter: str, origin: str, origin_chain_id: int) -> Deposit:
    """A FundsDeposited log as a :class:`Deposit`."""
    (input_token, output_token, input_amount, output_amount, quote_ts, fill_deadline, exclusivity, recipient,
     exclusive_relayer, message) = abi_decode(_DEPOSIT_DATA, bytes(HexBytes(log["data"])))
    topics = log["topics"]
    return Deposit(
        adapter=adapter, origin=origin, origin_chain_id=origin_chain_id,
        destination_chain_id=_topic_int(topics[1]), deposit_id=_topic_int(topics[2]),
        depositor=from_bytes32(bytes(HexBytes(topics[3]))), recipient=from_bytes32(recipient),
        input_token=from_bytes32(input_token), output_token=from_bytes32(output_token),
        input_amount=input_amount, output_amount=output_amount, quote_timestamp=quote_ts,
        fill_deadline=fill_deadline, exclusivity_deadline=exclusivity,
        exclusive_relayer=from_bytes32(exclusive_relayer), message="0x" + bytes(message).hex(),
        tx_hash="0x" + bytes(HexBytes(log["transactionHash"])).hex(), block_number=int(log["blockNumber"]),
    )


def relay_data(deposit: Deposit) -> tuple[Any, ...]:
    """The deposit as SpokePool's V3RelayData tuple (what fillRelay takes)."""
    return (to_bytes32(deposit.depositor), to_bytes32(deposit.recipient), to_bytes32(deposit.exclusive_relayer),
            to_bytes32(deposit.input_token), to_bytes32(deposit.output_token), deposit.input_amount,
            deposit.output_amount, deposit.origin_chain_id, deposit.deposit_id, deposit.fill_deadline,
            deposit.exclusivity_deadline, bytes(HexBytes(deposit.message)))


def relay_hash(deposit: Deposit, destination_chain_id: int) -> bytes:
    """keccak256(abi.encode(relayData, destinationChainId)): the key of the destination's ``fillStatuses``."""
    return bytes(Web3.keccak(abi_encode([_RELAY_DATA, "uint256"], [relay_data(deposit), destination_chain_id])))


def decode_fill(log: Mapping[str, Any]) -> dict[str, Any]:
    """A FilledRelay log's fields that identify the deposit and what was paid."""
    (input_token, output_token, input_amount, output_amount, _repayment_chain, fill_deadline, _excl, _excl_relayer,
     depositor, recipient, _message_hash, info) = abi_decode(_FILL_DATA, bytes(HexBytes(log["data"])))
    topics = log["topics"]
    return {
        "origin_chain_id": _topic_int(topics[1]), "deposit_id": _topic_int(topics[2]),
        "relayer": from_bytes32(bytes(HexBytes(topics[3]))), "input_token": from_bytes32(input_token),
        "output_token": from_bytes32(output_token), "input_amount": input_amount, "output_amount": output_amount,
        "fill_deadline": fill_deadline, "depositor": from_bytes32(depositor),
        "recipient": from_bytes32(info[0]) if any(info[0]) else from_bytes32(recipient),
        "paid": info[2] if info[2] else output_amount,
    }


def decode_refund(log: Mapping[str, Any]) -> dict[str, Any]:
    """An ExecutedRelayerRefundRoot log: the token and each refunded address with its amount."""
    _to_return, amounts, token, addresses, _deferred, _caller = abi_decode(_REFUND_DATA, bytes(HexBytes(log["data"])))
    return {"token": checksum_address(token), "chain_id": _topic_int(log["topics"][1]),
            "refunds": [(checksum_address(a), int(x)) for a, x in zip(addresses, amounts, strict=True)]}
