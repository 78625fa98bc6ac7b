"""A third-party adapter package found through real entry-point discovery (a dist-info on sys.path).

The fixture package lives in tests/fixtures/plugin_pkg with its own pyproject.toml; the test "installs" it the way
pip lays out a distribution (package + <name>.dist-info with METADATA and entry_points.txt generated from that
pyproject), so discovery goes through importlib.metadata exactly as for an installed plugin.
"""

from __future__ import annotations

import importlib
import shutil
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from adapters import (
    ENTRY_POINT_GROUP,
    AdapterRegistry,
    VenueContracts,
    VenueEntry,
    check_entry_point,
    check_static,
    verification_problems,
)
from crosshedge import AdapterConformanceError

PLUGIN = Path(__file__).resolve().parents[2] / "fixtures" / "plugin_pkg"


def install_distribution(source: Path, target: Path) -> None:
    """Lay out ``source`` (a pyproject project) in ``target`` as an installed distribution."""
    project = tomllib.loads((source / "pyproject.toml").read_text())["project"]
    for package in tomllib.loads((source / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]:
        shutil.copytree(source / package, target / package)
    dist = target / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    lines = []
    for group, eps in project["entry-points"].items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {value}" for name, value in eps.items()]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture
def plugin_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    install_distribution(PLUGIN, tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield
    sys.modules.pop("crosshedge_test_plugin", None)


def test_plugin_is_discovered_and_passes_conformance(plugin_installed: None) -> None:
    names = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert {"test_fixed_price", "test_incomplete", "test_unverified", "uniswap_v3"} <= names
    registry = AdapterRegistry.from_entry_points()
    adapter = registry.venue("test_fixed_price")
    assert type(adapter).__module__ == "crosshedge_test_plugin"
    check_entry_point("test_fixed_price")


def test_plugin_missing_a_member_is_refused_with_the_member_named(plugin_installed: None) -> None:
    registry = AdapterRegistry.from_entry_points()
    with pytest.raises(AdapterConformanceError, match=r"test_incomplete.*missing parse_receipt"):
        registry.get("test_incomplete")
    with pytest.raises(AdapterConformanceError, match="missing parse_receipt"):
        check_entry_point("test_incomplete")


def test_plugin_without_an_approval_target_is_refused_listing_it(plugin_installed: None) -> None:
    registry = AdapterRegistry.from_entry_points()
    with pytest.raises(AdapterConformanceError, match=r"test_no_spender.*missing contracts"):
        registry.get("test_no_spender")
    with pytest.raises(AdapterConformanceError, match="missing contracts"):
        check_entry_point("test_no_spender")


def test_plugin_that_does_not_say_how_it_is_verified_is_refused_listing_it(plugin_installed: None) -> None:
    registry = AdapterRegistry.from_entry_points()
    with pytest.raises(AdapterConformanceError, match=r"test_unverified.*does not implement the venue contract: "
                                                      r"missing verification$"):
        registry.get("test_unverified")
    with pytest.raises(AdapterConformanceError, match="missing verification"):
        check_entry_point("test_unverified")


def test_conformance_checks_what_the_plugin_verifies(plugin_installed: None) -> None:
    adapter = AdapterRegistry.from_entry_points().venue("test_fixed_price")
    venue = VenueEntry(name="v", chain="c", adapter="test_fixed_price", config=adapter.config_model(price=1.0))
    checks = adapter.verification(venue)
    assert list(checks.roles) == ["router"] and checks.roles["router"].address == "0x" + "ab" * 20
    assert verification_problems(adapter, venue, adapter.contracts(venue)) == []
    elsewhere = VenueContracts(spender="0x" + "cd" * 20, called={"router": "0x" + "cd" * 20}, read={})
    assert verification_problems(adapter, venue, elsewhere) == [
        f"verification(v) declares no expected code for router 0x{'cd' * 20}, spender 0x{'cd' * 20} "
        "(named by contracts())"]


def test_conformance_refuses_an_empty_spender(plugin_installed: None) -> None:
    adapter = AdapterRegistry.from_entry_points().venue("test_fixed_price")
    good = VenueEntry(name="v", chain="c", adapter="test_fixed_price", config=adapter.config_model(price=1.0))
    check_static(adapter, good)
    blank = VenueEntry(name="v", chain="c", adapter="test_fixed_price",
                       config=adapter.config_model(price=1.0, router=""))
    with pytest.raises(AdapterConformanceError, match=r"contracts\(v\) names no approval target"):
        check_static(adapter, blank)


def test_plugin_is_not_visible_without_its_distribution() -> None:
    assert "test_fixed_price" not in {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
