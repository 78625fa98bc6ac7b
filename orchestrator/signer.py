"""Load a wallet's key (env var or encrypted keystore) and sign transactions, without ever exposing the key.

The key lives only inside a :class:`WalletSigner`: its ``repr``/``str`` show the address, it refuses to be pickled
(so it cannot travel as a Celery task argument or land in Redis), and every error raised here names the wallet and
the source of the key, never the key or the password.

Usage::

    signer = load_signer("operator", config.wallets["operator"])          # password from env, file or a prompt
    signed = signer.sign({"chainId": 1, "nonce": 7, "to": router, ...})   # SignedTx(raw_hex, tx_hash)
    permit = signer.sign_permit(request, nonce=0, chain_id=1)             # SignedPermit (EIP-712, Permit2)
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from Crypto.Cipher import AES
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_keys.datatypes import PrivateKey
from eth_utils.crypto import keccak

from adapters import PermitRequest, SignedPermit, permit_typed_data
from crosshedge import ConfigError, LedgerError, UnsafeTransactionError
from crosshedge.config import WalletSettings

PasswordPrompt = Callable[[str], str]

SEAL_PREFIX = "sealed:v1:"
SEAL_CONTEXT = b"crosshedge ledger seal v1"  # domain separation: the sealing key is used for nothing else


@dataclass(frozen=True)
class SignedTx:
    """A signed transaction: raw bytes (hex) to broadcast and its hash. Not secret; keep out of logs anyway."""

    raw_hex: str
    tx_hash: str

    def __repr__(self) -> str:
        return f"SignedTx(tx_hash={self.tx_hash})"


class WalletSigner:
    """Signs for one wallet. Holds the key privately; safe to print, impossible to pickle."""

    __slots__ = ("_account", "_key", "address", "name")

    def __init__(self, name: str, account: LocalAccount) -> None:
        self.name = name
        self.address: str = account.address
        self._account = account
        # Handed raw key bytes, eth-account derives the public key again for every signature (an elliptic-curve
        # multiplication, as costly as the signature itself); a key object carries it.
        self._key = PrivateKey(bytes(account.key))

    def __repr__(self) -> str:
        return f"WalletSigner(name={self.name!r}, address={self.address})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError(f"wallet {self.name}: a signer cannot be pickled (keys never leave the process)")

    def __getstate__(self) -> NoReturn:
        raise TypeError(f"wallet {self.name}: a signer cannot be pickled (keys never leave the process)")

    def seal(self, raw_hex: str) -> str:
        """Encrypt a signed transaction for the ledger (AES-256-GCM under a key derived from this wallet's key).

        Before broadcast a signed transaction is a bearer instrument: whoever holds it can send it. The ledger
        keeps it write-ahead in Redis, so it goes there sealed; only a process holding this wallet can reopen it.
        """
        cipher = AES.new(self._seal_key(), AES.MODE_GCM)
        body, tag = cipher.encrypt_and_digest(bytes.fromhex(raw_hex.removeprefix("0x")))
        return SEAL_PREFIX + (bytes(cipher.nonce) + tag + body).hex()

    def unseal(self, sealed: str) -> str:
        """The raw transaction hex from :meth:`seal`; LedgerError if it was not sealed by this wallet or altered."""
        if not sealed.startswith(SEAL_PREFIX):
            raise LedgerError(f"wallet {self.name}: ledger holds a transaction that is not sealed")
        blob = bytes.fromhex(sealed.removeprefix(SEAL_PREFIX))
        nonce, tag, body = blob[:16], blob[16:32], blob[32:]
        try:
            raw = AES.new(self._seal_key(), AES.MODE_GCM, nonce=nonce).decrypt_and_verify(body, tag)
        except ValueError:
            raise LedgerError(f"wallet {self.name}: a sealed transaction in the ledger failed its integrity check "
                              "(altered, or sealed by another key)") from None
        return "0x" + raw.hex()

    def _seal_key(self) -> bytes:
        return keccak(SEAL_CONTEXT + bytes(self._account.key))

    def sign(self, tx: Mapping[str, Any]) -> SignedTx:
        """Sign an EIP-1559 transaction dict; ``from`` (if given) must be this wallet."""
        sender = tx.get("from")
        if sender is not None and str(sender).lower() != self.address.lower():
            raise UnsafeTransactionError(
                f"wallet {self.name}: asked to sign for {sender}, but the key is {self.address}")
        body = {k: v for k, v in tx.items() if k != "from"}
        try:
            signed = Account.sign_transaction(body, self._key)
        except (TypeError, ValueError) as exc:
            # eth-account's messages describe the transaction fields, never the key.
            raise UnsafeTransactionError(f"wallet {self.name}: transaction could not be signed: {exc}") from None
        return SignedTx(raw_hex="0x" + bytes(signed.raw_transaction).hex(), tx_hash="0x" + bytes(signed.hash).hex())


    def sign_typed_data(self, full_message: Mapping[str, Any]) -> str:
        """Sign an EIP-712 message (``types``, ``primaryType``, ``domain``, ``message``): 0x r ‖ s ‖ v.

        Signatures are deterministic (RFC 6979): the same message always gives the same bytes, so a transaction
        carrying one is rebuilt identically. UnsafeTransactionError when the message is not valid typed data.
        """
        try:
            signable = encode_typed_data(full_message=dict(full_message))
            signed = Account.sign_message(signable, self._key)
        except (TypeError, ValueError, KeyError) as exc:
            # eth-account's messages describe the typed data, never the key.
            raise UnsafeTransactionError(f"wallet {self.name}: typed data could not be signed: {exc}") from None
        return "0x" + bytes(signed.signature).hex()

    def sign_permit(self, request: PermitRequest, nonce: int, chain_id: int) -> SignedPermit:
        """A Permit2 ``PermitSingle`` for ``request`` at ``nonce`` on ``chain_id``, signed by this wallet."""
        if not 0 <= nonce < 2**48 or chain_id <= 0:
            raise UnsafeTransactionError(f"wallet {self.name}: refusing a permit for {request.token} at nonce {nonce} "
                                         f"on chain id {chain_id} (a Permit2 nonce is a uint48, a chain id positive)")
        signature = self.sign_typed_data(permit_typed_data(request, nonce, chain_id))
        return SignedPermit(request=request, nonce=nonce, signature=signature)


def _password(name: str, wallet: WalletSettings, prompt: PasswordPrompt | None) -> str:
    if wallet.password_env is not None:
        value = os.environ.get(wallet.password_env)
        if value is None:
            raise ConfigError(f"wallets.{name}.password_env: environment variable {wallet.password_env} is not set")
        return value
    if wallet.password_file is not None:
        try:
            return wallet.password_file.read_text().rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(
                f"wallets.{name}.password_file: cannot read {wallet.password_file} ({exc.strerror})") from None
    if prompt is None:
        raise ConfigError(f"wallets.{name}: the keystore needs a password and no prompt is available")
    return prompt(f"password for wallet {name} ({wallet.address}): ")


def _key_from_env(name: str, env: str) -> str:
    value = os.environ.get(env)
    if not value:
        raise ConfigError(f"wallets.{name}.key_env: environment variable {env} is not set")
    return value.strip()


def _key_from_keystore(name: str, wallet: WalletSettings, prompt: PasswordPrompt | None) -> bytes:
    assert wallet.keystore is not None
    try:
        keyfile = json.loads(wallet.keystore.read_text())
    except OSError as exc:
        raise ConfigError(f"wallets.{name}.keystore: cannot read {wallet.keystore} ({exc.strerror})") from None
    except json.JSONDecodeError:
        raise ConfigError(f"wallets.{name}.keystore: {wallet.keystore} is not a JSON keystore file") from None
    password = _password(name, wallet, prompt)
    try:
        return bytes(Account.decrypt(keyfile, password))
    except ValueError:
        raise ConfigError(f"wallets.{name}.keystore: wrong password or corrupt keystore {wallet.keystore}") from None


def load_signer(name: str, wallet: WalletSettings, prompt: PasswordPrompt | None = None) -> WalletSigner:
    """The signer of wallet ``name``; the key's address must equal the configured address.

    ``prompt`` asks for a keystore password when neither password_env nor password_file is given
    (``crosshedge worker`` passes :func:`getpass.getpass`).

    Usage: ``signer = load_signer("operator", config.wallets["operator"], prompt=getpass.getpass)``
    """
    try:
        if wallet.key_env is not None:
            account: LocalAccount = Account.from_key(_key_from_env(name, wallet.key_env))
        else:
            account = Account.from_key(_key_from_keystore(name, wallet, prompt))
    except ConfigError:
        raise
    except (ValueError, TypeError):
        # from_key's message could echo the bad value; say only where it came from.
        source = f"key_env {wallet.key_env}" if wallet.key_env else f"keystore {wallet.keystore}"
        raise ConfigError(f"wallets.{name}: the key from {source} is not a valid private key") from None
    if account.address.lower() != wallet.address.lower():
        raise ConfigError(f"wallets.{name}.address: is {wallet.address} but the key belongs to {account.address}")
    return WalletSigner(name, account)


def terminal_prompt(message: str) -> str:
    """Ask for a password on the terminal without echo."""
    return getpass.getpass(message)
