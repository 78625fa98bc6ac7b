"""Config models, V2 math, RPC helpers and the conformance checker of the built-in adapters (no chain)."""

from __future__ import annotations

import socket

import pytest
from eth_abi.abi import encode
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, ValidationError

from adapters import Capability, check_static, connect, decode, redact_url, static_problems
from adapters.erc20 import Erc20Config, Erc20Inventory
from adapters.rpc.abi import _split_types
from adapters.uniswap import get_amount_out
from adapters.uniswap_v2.adapter import UniswapV2Adapter, UniswapV2Config
from adapters.uniswap_v3.adapter import UniswapV3Adapter, UniswapV3Config
from crosshedge import AdapterConformanceError, RpcError

POOL = "0x88e6a0c2ddd26feeb64f039a2c41296fcb3f5640"


def test_v2_amount_out_known_vector() -> None:
    # UniswapV2Router test vector: reserves 5e18 / 10e18, 1e18 in -> 1662497915624478906 out.
    assert get_amount_out(10**18, 5 * 10**18, 10 * 10**18) == 1662497915624478906


@given(st.integers(1, 10**30), st.integers(10**3, 10**30), st.integers(10**3, 10**30))
def test_v2_amount_out_never_beats_fee_free_constant_product(amount: int, r_in: int, r_out: int) -> None:
    out = get_amount_out(amount, r_in, r_out)
    assert 0 <= out < r_out
    assert out * (r_in + amount) <= amount * r_out  # the 0.3% fee only ever costs


def test_config_models_forbid_typos_and_checksum_addresses() -> None:
    cfg = UniswapV3Config.model_validate({"pool": POOL, "router": POOL})
    assert cfg.pool == "0x88e6A0c2dDD26FEEb64F039a2c41296FcB3f5640" and cfg.window_ticks == 4000
    with pytest.raises(ValidationError, match="poool"):
        UniswapV3Config.model_validate({"poool": POOL, "router": POOL})
    with pytest.raises(ValidationError, match="address"):
        UniswapV2Config.model_validate({"pair": "0x1234", "router": POOL})
    with pytest.raises(ValidationError):
        Erc20Config.model_validate({"walet": POOL})


@pytest.mark.parametrize("adapter", [UniswapV3Adapter(), UniswapV2Adapter(), Erc20Inventory()])
def test_builtin_adapters_pass_static_conformance(adapter: object) -> None:
    assert static_problems(adapter) == []


def test_conformance_lists_every_problem() -> None:
    class Loose(BaseModel):
        model_config = ConfigDict(extra="ignore")

    class Broken:
        name = "broken"
        kind = "venue"
        config_model = Loose
        capabilities = frozenset({Capability.STAGED_READS})  # declared, but read_stages is missing

        def contracts(self, venue: object) -> None: ...

        def verification(self, venue: object) -> None: ...

        def read(self, chain: object, venues: object, block: object) -> list[object]:
            return []

        def quote(self, state: object, amount_in: object) -> int:  # 'side' forgotten
            return 0

        def build_swap(
            self, state: object, side: object, amount_in: object, min_amount_out: object,
                       recipient: object, deadline: object) -> None: ...

        def parse_receipt(self, state: object, receipt: object) -> None: ...

    with pytest.raises(AdapterConformanceError, match="declares capability staged_reads but lacks read_stages"):
        check_static(Broken())
    Broken.capabilities = frozenset()
    problems = static_problems(Broken())
    assert any("extra='forbid'" in p for p in problems)
    assert any(p.startswith("quote(") for p in problems)
    Broken.parse_receipt = None  # type: ignore[assignment,method-assign]
    with pytest.raises(AdapterConformanceError, match="parse_receipt is not callable"):
        check_static(Broken())
    del Broken.verification  # an adapter that does not say how its contracts are verified is refused, named
    with pytest.raises(AdapterConformanceError, match="missing verification, parse_receipt is not callable"):
        check_static(Broken())


def test_redact_url_hides_keys_and_credentials() -> None:
    assert redact_url("https://user:pw@mainnet.infura.io/v3/0123456789abcdef0123456789abcdef?x=1") == (
        "https://mainnet.infura.io/v3/***"
    )
    assert redact_url("http://127.0.0.1:8545") == "http://127.0.0.1:8545"


def test_split_types_and_static_decode_match_eth_abi() -> None:
    assert _split_types("f(int24,(address,uint256)[],bytes)") == ["int24", "(address,uint256)[]", "bytes"]
    data = encode(["uint160", "int24", "bool", "address"], [2**150, -887272, True, POOL])
    assert decode(("uint160", "int24", "bool", "address"), data) == (2**150, -887272, True, POOL)
    with pytest.raises(ValueError, match="empty"):
        decode(("uint256",), b"")


def test_connect_to_a_closed_port_names_chain_and_url() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    class Settings:
        chain_id = 1
        rpc_url = f"http://127.0.0.1:{port}/?apikey=secret"

    with pytest.raises(RpcError, match=rf"chain ethereum: RPC http://127.0.0.1:{port}/ is unreachable") as info:
        connect("ethereum", Settings(), timeout=1, retries=1)
    assert "secret" not in str(info.value)
