"""Every configuration example in README.md loads: the fenced yaml blocks go through crosshedge.config as written.

``"0x..."`` placeholders become distinct valid addresses and ``${ENV}`` variables get test values; nothing else
is changed, so an example with a wrong field, a missing chain or a bad value fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from crosshedge import ConfigError
from crosshedge.config import load_config

README = Path(__file__).resolve().parents[3] / "README.md"
_FENCE = re.compile(r"^```ya?ml[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_PLACEHOLDER = re.compile(r"0x\.\.\.")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def yaml_blocks() -> list[str]:
    return _FENCE.findall(README.read_text())


def filled(block: str) -> str:
    """The block with each ``0x...`` replaced by its own valid address (20 bytes, distinct per occurrence)."""
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _: "0x" + f"{next(counter):040x}", block)


def with_env(block: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Test values for every ``${ENV}`` of the block (an RPC URL variable gets its own local URL); the values."""
    values = {}
    for i, name in enumerate(sorted(set(_ENV.findall(block)))):
        values[name] = f"http://127.0.0.1:{8545 + i}" if "URL" in name else f"test-{name.lower()}"
        monkeypatch.setenv(name, values[name])
    return values


def test_the_readme_has_config_examples() -> None:
    blocks = yaml_blocks()
    assert blocks, "README.md has no ```yaml block: the Configuration section lost its example"
    assert any("chains:" in b for b in blocks)


@pytest.mark.parametrize("index", range(len(yaml_blocks())))
def test_each_readme_yaml_example_loads(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    block = yaml_blocks()[index]
    with_env(block, monkeypatch)
    path = tmp_path / "chains.yaml"
    path.write_text(filled(block))
    config = load_config(path)
    data = yaml.safe_load(block)
    assert set(config.chains) == set(data.get("chains", {}))
    assert set(config.wallets) == set(data.get("wallets", {}))
    declared = {(c, v) for c, chain in data.get("chains", {}).items() for v in chain.get("venues", {})}
    assert {(v.chain, v.name) for v in config.venues} == declared
    for chain in config.chains.values():
        assert chain.wallet in config.wallets  # every chain signs with a wallet the example defines


def test_real_chain_example_is_what_the_readme_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real-chain example: arbitrum with its L1 data fee priced off ethereum, a keystore wallet, env URLs."""
    block = next(b for b in yaml_blocks() if "arbitrum:" in b)
    env = with_env(block, monkeypatch)
    path = tmp_path / "chains.yaml"
    path.write_text(filled(block))
    config = load_config(path)
    arbitrum = config.chains["arbitrum"]
    assert arbitrum.rpc_url == env["ARBITRUM_RPC_URL"]  # ${ENV} interpolated
    assert arbitrum.gas.l1_data_fee is not None and arbitrum.gas.l1_data_fee.l1_chain in config.chains
    assert config.raw.devnet is None  # a real-chain config has no devnet section
    wallet = config.wallets[arbitrum.wallet]
    assert wallet.keystore is not None and wallet.password_env is not None and wallet.key_env is None


def test_an_error_in_the_example_names_the_dotted_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the Configuration section promises: file, dotted field path under chains.<name>., what was expected."""
    block = next(b for b in yaml_blocks() if "arbitrum:" in b)
    with_env(block, monkeypatch)
    data = yaml.safe_load(filled(block))
    data["chains"].pop("ethereum")  # the L1 the arbitrum data fee needs
    path = tmp_path / "chains.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as missing_l1:
        load_config(path)
    assert str(missing_l1.value).startswith(f"{path}: chains.arbitrum.gas.l1_data_fee.l1_chain: no chain named "
                                            "'ethereum'")
    data = yaml.safe_load(filled(block))
    venue = next(iter(data["chains"]["arbitrum"]["venues"].values()))
    venue["rooter"] = venue["router"]  # the README's own typo example
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as typo:
        load_config(path)
    message = str(typo.value)
    assert message.startswith(f"{path}: chains.arbitrum.venues.weth_usdc_500.rooter: unknown field"), message
    assert "\n" not in message
