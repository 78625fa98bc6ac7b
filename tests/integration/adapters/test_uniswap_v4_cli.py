"""`crosshedge venues --save-state` and `crosshedge quote --pool-state` for V4 venues, as real subprocesses: the
V4 venues (as ``devnet.v4_venues`` writes them) are listed with their hook policy, their states are saved at the
read block, and the CLI's offline quote of each saved file equals V4Quoter at that block.

The shared venv's installed metadata predates the ``uniswap_v4`` entry point, so the subprocess gets it from a
small dist-info laid out in a temporary directory from pyproject.toml (what ``pip install -e .`` would record).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters import Side, UniswapV4PoolState, load_pool_state
from adapters.registry import ENTRY_POINT_GROUP
from adapters.uniswap_v4 import UniswapV4Adapter, UniswapV4Config
from crosshedge.config import generated_path
from devnet.v4 import v4_venue_sections
from tests.integration.adapters.v4_helpers import quoter_out, v4_entries
from tests.integration.conftest import DevnetHandle

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def _entry_point_shim(target: Path) -> Path:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"][ENTRY_POINT_GROUP]
    dist = target / "crosshedge_v4_entry_point-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: crosshedge-v4-entry-point\nVersion: 0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nuniswap_v4 = {declared['uniswap_v4']}\n")
    return target


def _v4_config(devnet: DevnetHandle, tmp: Path) -> Path:
    """The test config with its chains spelled out: the generated ones plus their V4 pools as venues."""
    data: dict[str, Any] = yaml.safe_load(devnet.config_path.read_text())
    path = generated_path(devnet.config)
    assert path is not None
    generated = yaml.safe_load(path.read_text())
    for chain in generated["chains"].values():
        chain["venues"] |= v4_venue_sections(chain["uniswap_v4"], chain["tokens"]["WETH"]["address"])
    data.pop("devnet")
    data["chains"], data["wallets"] = generated["chains"], generated["wallets"]
    out = tmp / "chains.v4.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def _run(shim: Path, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(shim)]), "COLUMNS": "250"}
    done = subprocess.run([sys.executable, "-c", "from crosshedge.cli import main; main()", *args],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _cli(shim: Path, *args: str) -> Any:
    return json.loads(_run(shim, *args))


def test_saved_v4_states_quote_through_the_cli_equal_to_v4_quoter(devnet: DevnetHandle, tmp_path: Path) -> None:
    shim, config = _entry_point_shim(tmp_path / "shim"), _v4_config(devnet, tmp_path)
    listed = _cli(shim, "venues", "--json", "--config", str(config), "--save-state", str(tmp_path / "states"))
    v4_rows = [r for r in listed["venues"] if r["adapter"] == "uniswap_v4"]
    assert len(v4_rows) == 3 * len(devnet.chains()) and not listed["failed"]
    # Every venue's state is saved but the route venues' (a route is no pool: it has no state of its own to record).
    assert all(key.split("/")[1].startswith("route_") and "cannot record its state" in why
               for key, why in listed["save_failed"].items()), listed["save_failed"]
    assert all(r["hook_policy"] == "exact: no hooks" for r in v4_rows)
    assert all(r["hook_policy"] is None for r in listed["venues"] if r["adapter"] != "uniswap_v4")
    table = _run(shim, "venues", "--config", str(config))  # for people: the policy of each V4 venue under the table
    assert all(f"{r['chain']}/{r['venue']}: exact: no hooks" in table for r in v4_rows), table
    checked = through_cli = 0
    v4 = UniswapV4Adapter()  # the adapter `quote --pool-state` loads for a V4 state
    for chain in devnet.chains():
        w3 = devnet.w3(chain)
        for i, entry in enumerate(v4_entries(devnet, chain)):
            assert isinstance(entry.config, UniswapV4Config)
            file = tmp_path / "states" / f"{chain}.{entry.name}.json"
            record = load_pool_state(file)
            assert isinstance(record, UniswapV4PoolState) and len(record.ticks) >= 4
            for side, amount in ((Side.SELL, 10 ** record.base_token.decimals // 3),
                                 (Side.BUY, 7_000 * 10 ** record.quote_token.decimals)):
                zf1 = record.base_is_token0 == (side is Side.SELL)
                expected = quoter_out(w3, entry.config, zf1, amount, record.block_number)
                quote = v4.quote_pool_state(record, side, amount)  # what `quote --pool-state` runs, in process
                assert not quote.partial and quote.amount_out == expected
                if i == 0:  # and the command itself, once a side per chain (each run is an interpreter start)
                    got = _cli(shim, "quote", "--pool-state", str(file), "--side", side.value, "--amount-in",
                               str(amount), "--json")
                    assert not got["partial"] and got["amount_out"] == expected
                    through_cli += 1
                checked += 1
    assert checked == 2 * 3 * len(devnet.chains()) and through_cli == 2 * len(devnet.chains())
