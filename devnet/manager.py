"""Bring a whole devnet up or down: anvil per chain, deployments in parallel, the generated config and keystore.

Usage::

    devnet = DevnetManager(spec, root=Path.cwd())
    result = devnet.up()          # starts anvil, deploys, writes <state_dir>/chains.generated.yaml
    devnet.status(); devnet.down()
"""

from __future__ import annotations

import json
import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from eth_account import Account
from web3 import HTTPProvider, Web3

from crosshedge import ConfigError
from crosshedge.config import GENERATED_CONFIG, DevnetChain, DevnetSpec
from devnet.anvil import AnvilOptions, running, start_anvil, stop_anvil, wait_ready
from devnet.deploy import deploy_chain, settle_base_fee

STATE_FILE = "state.json"
# Devnet-only keystore strength: scrypt n=2**14 keeps `devnet up` fast; real wallets bring their own keystore.
DEVNET_SCRYPT_N = 2**14


@dataclass(frozen=True)
class ChainStatus:
    name: str
    chain_id: int
    port: int
    running: bool
    block: int | None


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


class DevnetManager:
    """Lifecycle of the devnet described by a chains.yaml ``devnet`` section."""

    def __init__(self, spec: DevnetSpec, root: Path, port_offset: int = 0) -> None:
        self.spec = spec
        self.state_dir = spec.state_dir if spec.state_dir.is_absolute() else root / spec.state_dir
        self.port_offset = port_offset  # tests run a second devnet beside a running demo

    def port(self, chain: DevnetChain) -> int:
        return chain.port + self.port_offset

    def url(self, chain: DevnetChain) -> str:
        return f"http://127.0.0.1:{self.port(chain)}"

    def _new_operator(self) -> tuple[str, Path, Path]:
        """A fresh operator key, stored only in an encrypted keystore (0600) beside a 0600 password file."""
        account = Account.create()
        password = secrets.token_hex(16)
        keystore = Account.encrypt(account.key, password, kdf="scrypt", iterations=DEVNET_SCRYPT_N)
        ks_path, pw_path = self.state_dir / "operator.keystore.json", self.state_dir / "operator.password"
        _write_secret(ks_path, json.dumps(keystore))
        _write_secret(pw_path, password)
        return account.address, ks_path, pw_path

    def up(self) -> dict[str, Any]:
        """Start every chain and deploy; returns the devnet state (also written to state.json)."""
        started = time.perf_counter()
        self.down()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        operator, ks_path, pw_path = self._new_operator()
        for name, chain in self.spec.chains.items():
            start_anvil(AnvilOptions(name=name, chain_id=chain.chain_id, port=self.port(chain),
                                     base_fee_wei=int(chain.base_fee_gwei * 1e9),
                                     block_time_s=chain.block_time_s if chain.interval_mining else None),
                        self.state_dir)
        with ThreadPoolExecutor(max_workers=len(self.spec.chains) or 1) as pool:
            futures = {name: pool.submit(self._deploy_one, name, chain, operator)
                       for name, chain in self.spec.chains.items()}
            chains = {name: future.result() for name, future in futures.items()}
        state = {"operator": operator, "keystore": str(ks_path), "password_file": str(pw_path), "chains": chains,
                 "prices": self.spec.prices, "seconds": round(time.perf_counter() - started, 3)}
        (self.state_dir / STATE_FILE).write_text(json.dumps(state, indent=2))
        self._write_generated(state)
        return state

    def _deploy_one(self, name: str, chain: DevnetChain, operator: str) -> dict[str, Any]:
        url = self.url(chain)
        wait_ready(url)
        w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 30}))
        state = deploy_chain(w3, name, chain, self.spec.prices, operator)
        settle_base_fee(w3, int(chain.base_fee_gwei * 1e9))
        state["rpc_url"] = url
        return state

    def _write_generated(self, state: dict[str, Any]) -> None:
        chains: dict[str, Any] = {}
        for name, chain in self.spec.chains.items():
            s = state["chains"][name]
            gas: dict[str, Any] = {"type": "eip1559", "native_underlying": "ETH",
                                   "max_gas_price_gwei": max(chain.base_fee_gwei * 20, 1.0)}
            if chain.l1_data_fee_from:
                gas["l1_data_fee"] = {"l1_chain": chain.l1_data_fee_from, "tx_bytes": 400, "scalar": 0.01}
            chains[name] = {
                "chain_id": chain.chain_id, "rpc_url": s["rpc_url"], "block_time_s": chain.block_time_s,
                "confirmations": chain.confirmations, "wallet": "operator", "multicall": s["contracts"]["multicall"],
                "contracts": {k: v for k, v in s["contracts"].items() if k not in {"wbtc", "usdc"}},
                "gas": gas, "tokens": s["tokens"], "venues": s["venues"],
            }
        generated = {
            "chains": chains,
            "wallets": {"operator": {"address": state["operator"], "keystore": state["keystore"],
                                     "password_file": state["password_file"]}},
        }
        header = "# Written by `crosshedge devnet up`; do not edit. Addresses of this devnet's deployment.\n"
        (self.state_dir / GENERATED_CONFIG).write_text(header + yaml.safe_dump(generated, sort_keys=False))

    def down(self) -> list[str]:
        """Stop every chain's anvil; returns the names that were running."""
        return [name for name in self.spec.chains if stop_anvil(name, self.state_dir)]

    def status(self) -> list[ChainStatus]:
        out = []
        for name, chain in self.spec.chains.items():
            proc = running(name, self.state_dir)
            block = None
            if proc is not None:
                try:
                    block = Web3(HTTPProvider(self.url(chain), request_kwargs={"timeout": 2})).eth.block_number
                except (OSError, ValueError):
                    block = None
            out.append(ChainStatus(name, chain.chain_id, self.port(chain), proc is not None, block))
        return out

    def load_state(self) -> dict[str, Any]:
        path = self.state_dir / STATE_FILE
        if not path.exists():
            raise ConfigError(f"{path}: no devnet state; run `crosshedge devnet up` first")
        return dict(json.loads(path.read_text()))
