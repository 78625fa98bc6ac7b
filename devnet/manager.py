"""Bring a whole devnet up or down: anvil per chain, deployments in parallel, the generated config and keystore.

Usage::

    devnet = DevnetManager(spec, root=Path.cwd())
    result = devnet.up()          # starts anvil, deploys, writes <state_dir>/chains.generated.yaml
    devnet.status(); devnet.down()
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import socket
import time
import urllib.request
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
from devnet.mev import RelayOptions, start_relay, stop_relay
from devnet.producer import start_producer, stop_producer
from devnet.v4 import v4_venue_sections

STATE_FILE = "state.json"
RELAY_PORT_OFFSET = 100  # a chain's private relay listens at the chain's port + 100 (18545 -> 18645)
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


def _port_answers(port: int, timeout_s: float = 0.5) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:``port`` (a bind test would also trip on a port
    our own just-stopped anvil left in TIME_WAIT, which anvil can reuse)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _foreign_chain_id(url: str, timeout_s: float = 2.0) -> int | None:
    """The chain id a JSON-RPC node at ``url`` reports (eth_chainId), or None when it does not answer one."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            result = json.loads(response.read()).get("result")
        return int(result, 16) if isinstance(result, str) else None
    except (OSError, ValueError, AttributeError, http.client.HTTPException):
        return None


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

    def relay_port(self, chain: DevnetChain) -> int:
        return self.port(chain) + RELAY_PORT_OFFSET

    def _new_operator(self) -> tuple[str, Path, Path]:
        """A fresh operator key, stored only in an encrypted keystore (0600) beside a 0600 password file.

        Its address has no zero byte: calldata costs 4 gas per zero byte and 16 per other byte, so every devnet's
        operator pays the same gas for the same swaps (their recipient is this address), and a demo repeats.
        """
        account = Account.create()
        while b"\x00" in bytes.fromhex(account.address[2:]):  # about 1 key in 13
            account = Account.create()
        password = secrets.token_hex(16)
        keystore = Account.encrypt(account.key, password, kdf="scrypt", iterations=DEVNET_SCRYPT_N)
        ks_path, pw_path = self.state_dir / "operator.keystore.json", self.state_dir / "operator.password"
        _write_secret(ks_path, json.dumps(keystore))
        _write_secret(pw_path, password)
        return account.address, ks_path, pw_path

    def up(self) -> dict[str, Any]:
        """Start every chain and deploy; returns the devnet state (also written to state.json).

        Every chain's port is checked before anything starts: a port another process holds (a node this devnet
        did not start) is a ConfigError naming the chain, the port and, when it answers JSON-RPC, its chain id;
        nothing is started or deployed then.
        """
        started = time.perf_counter()
        self.down()
        self._check_ports_free()
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
        self._start_relays(chains)
        state = {"operator": operator, "keystore": str(ks_path), "password_file": str(pw_path), "chains": chains,
                 "prices": self.spec.prices, "seconds": round(time.perf_counter() - started, 3)}
        (self.state_dir / STATE_FILE).write_text(json.dumps(state, indent=2))
        self._write_generated(state)
        self.start_block_producer()
        return state

    def _check_ports_free(self) -> None:
        """ConfigError for the first chain whose port something else answers on (our own anvils are down by now)."""
        for name, chain in self.spec.chains.items():
            port = self.port(chain)
            if chain.private_relay and _port_answers(self.relay_port(chain)):
                raise ConfigError(f"devnet.chains.{name}.private_relay: port {self.relay_port(chain)} (the chain's "
                                  f"port + {RELAY_PORT_OFFSET}) is already in use; nothing was started or deployed")
            if not _port_answers(port):
                continue
            found = _foreign_chain_id(self.url(chain))
            what = (f"another node answers there with chain id {found}" if found is not None
                    else "another process is listening there (it does not answer eth_chainId)")
            raise ConfigError(f"devnet.chains.{name}.port: port {port} is already in use ({what}); stop it or "
                              f"choose another port for chain {name}; nothing was started or deployed")

    def _deploy_one(self, name: str, chain: DevnetChain, operator: str) -> dict[str, Any]:
        url = self.url(chain)
        wait_ready(url)
        w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 30}))
        state = deploy_chain(w3, name, chain, self.spec.prices, operator)
        settle_base_fee(w3, int(chain.base_fee_gwei * 1e9))
        state["rpc_url"] = url
        state["base_fee_wei"] = int(chain.base_fee_gwei * 1e9)  # what the block producer holds the base fee at
        return state

    def _start_relays(self, chains: dict[str, Any]) -> None:
        """A private relay (devnet.mev.relay) per chain that asks for one; its URL goes into the chain's state.

        On an interval-mining chain it builds a block every block time, as a builder does; on an automining chain
        (where every public transaction is mined at once) it includes a transaction as soon as it arrives.
        """
        for name, chain in self.spec.chains.items():
            if not chain.private_relay:
                continue
            block_time_s = chain.block_time_s if chain.interval_mining else 0.0
            relay = start_relay(RelayOptions(name=name, upstream=self.url(chain), port=self.relay_port(chain),
                                             block_time_s=block_time_s), self.state_dir)
            wait_ready(relay.url)
            chains[name]["private_rpc_url"] = relay.url

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
                # keccak256 of each deployment's runtime code: the contract verifier pins these exact contracts.
                "code_hashes": s.get("code_hashes", {}),
            }
            if s.get("uniswap_v4"):  # the V4 deployment; its pools are venues only with devnet.v4_venues
                chains[name]["uniswap_v4"] = s["uniswap_v4"]
                if self.spec.v4_venues:
                    weth = s["tokens"]["WETH"]["address"]
                    chains[name]["venues"] = {**s["venues"], **v4_venue_sections(s["uniswap_v4"], weth)}
            if "private_rpc_url" in s:  # sends go through the chain's private relay; reads stay on rpc_url
                chains[name]["private_rpc_url"] = s["private_rpc_url"]
        generated = {
            "chains": chains,
            "wallets": {"operator": {"address": state["operator"], "keystore": state["keystore"],
                                     "password_file": state["password_file"]}},
        }
        header = "# Written by `crosshedge devnet up`; do not edit. Addresses of this devnet's deployment.\n"
        (self.state_dir / GENERATED_CONFIG).write_text(header + yaml.safe_dump(generated, sort_keys=False))

    def down(self) -> list[str]:
        """Stop the block producer, the relays and every chain's anvil; returns the names of the chains that were
        running."""
        stop_producer(self.state_dir)
        for name in self.spec.chains:
            stop_relay(name, self.state_dir)
        return [name for name in self.spec.chains if stop_anvil(name, self.state_dir)]

    def start_block_producer(self) -> None:
        """Keep blocks coming on every chain (devnet.producer), unless the spec turns it off."""
        if self.spec.block_interval_s > 0:
            start_producer(self.state_dir, self.spec.block_interval_s)

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
