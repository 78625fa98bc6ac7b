"""Keys load from an env var or an encrypted keystore and never show up in reprs, errors or pickles."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from eth_account import Account
from eth_typing import HexStr

from crosshedge import ConfigError, LedgerError, UnsafeTransactionError
from crosshedge.config import WalletSettings
from orchestrator import load_signer

KEY = "0x" + "4c" * 32
ACCOUNT = Account.from_key(KEY)


def tx(nonce: int = 0) -> dict[str, object]:
    return {"chainId": 1, "nonce": nonce, "to": "0x" + "11" * 20, "data": "0x", "value": 0, "gas": 21_000,
            "maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 10**9, "type": 2}


def test_env_key_signs_and_hides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OP_KEY", KEY)
    signer = load_signer("operator", WalletSettings(address=ACCOUNT.address, key_env="OP_KEY"))
    signed = signer.sign(tx())
    assert Account.recover_transaction(signed.raw_hex) == ACCOUNT.address
    assert signed.tx_hash.startswith("0x") and len(signed.tx_hash) == 66
    for text in (repr(signer), str(signer), repr(signed)):
        assert KEY[2:] not in text.lower()
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(signer)


def test_keystore_with_password_file(tmp_path: Path) -> None:
    (tmp_path / "ks.json").write_text(json.dumps(Account.encrypt(HexStr(KEY), "pw", kdf="scrypt", iterations=2**10)))
    (tmp_path / "pw").write_text("pw\n")
    wallet = WalletSettings(address=ACCOUNT.address, keystore=tmp_path / "ks.json", password_file=tmp_path / "pw")
    assert load_signer("operator", wallet).address == ACCOUNT.address


def test_keystore_with_prompt_and_wrong_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ks.json").write_text(json.dumps(Account.encrypt(HexStr(KEY), "right", kdf="scrypt", iterations=2**10)))
    monkeypatch.setenv("OP_PW", "wrong")
    wallet = WalletSettings(address=ACCOUNT.address, keystore=tmp_path / "ks.json", password_env="OP_PW")
    with pytest.raises(ConfigError, match="wrong password") as err:
        load_signer("operator", wallet)
    assert "wrong" not in str(err.value).replace("wrong password", "")
    prompt_wallet = WalletSettings.model_construct(address=ACCOUNT.address, keystore=tmp_path / "ks.json",
                                                   key_env=None, password_env=None, password_file=None)
    assert load_signer("operator", prompt_wallet, prompt=lambda _: "right").address == ACCOUNT.address
    with pytest.raises(ConfigError, match="no prompt"):
        load_signer("operator", prompt_wallet)


def test_bad_or_mismatched_key_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OP_KEY", "0xnot-a-key-" + "ab" * 10)
    with pytest.raises(ConfigError) as err:
        load_signer("operator", WalletSettings(address=ACCOUNT.address, key_env="OP_KEY"))
    assert "not-a-key" not in str(err.value) and "OP_KEY" in str(err.value)
    other = Account.create()
    monkeypatch.setenv("OP_KEY", other.key.hex())
    with pytest.raises(ConfigError, match="key belongs to") as err:
        load_signer("operator", WalletSettings(address=ACCOUNT.address, key_env="OP_KEY"))
    assert other.key.hex().removeprefix("0x") not in str(err.value)
    monkeypatch.delenv("OP_KEY")
    with pytest.raises(ConfigError, match="OP_KEY is not set"):
        load_signer("operator", WalletSettings(address=ACCOUNT.address, key_env="OP_KEY"))


def test_refuses_to_sign_for_someone_else(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OP_KEY", KEY)
    signer = load_signer("operator", WalletSettings(address=ACCOUNT.address, key_env="OP_KEY"))
    with pytest.raises(UnsafeTransactionError, match="asked to sign for"):
        signer.sign({**tx(), "from": "0x" + "99" * 20})
    with pytest.raises(UnsafeTransactionError) as err:
        signer.sign({**tx(), "gas": "lots"})
    assert KEY[2:] not in str(err.value)


def test_signed_transactions_are_sealed_for_the_ledger(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OP_KEY", KEY)
    signer = load_signer("operator", WalletSettings(address=ACCOUNT.address, key_env="OP_KEY"))
    raw = signer.sign(tx()).raw_hex
    sealed = signer.seal(raw)
    assert raw[2:] not in sealed and sealed != signer.seal(raw)  # fresh nonce every time
    assert signer.unseal(sealed) == raw
    tampered = sealed[:-2] + ("00" if sealed[-2:] != "00" else "01")
    with pytest.raises(LedgerError, match="failed its integrity check"):
        signer.unseal(tampered)
    other = Account.create()
    monkeypatch.setenv("OTHER_KEY", other.key.hex())
    stranger = load_signer("other", WalletSettings(address=other.address, key_env="OTHER_KEY"))
    with pytest.raises(LedgerError, match="sealed by another key"):
        stranger.unseal(sealed)
    with pytest.raises(LedgerError, match="not sealed"):
        signer.unseal(raw)
