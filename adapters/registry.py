"""Find adapters through the ``crosshedge.adapters`` entry-point group and check them against the contract.

Built-in adapters are registered in crosshedge's own pyproject.toml exactly like third-party ones, so there is one
discovery path. A plugin that misses a member of its protocol is refused at load with a message listing every
missing member (as pluggy and ape do), never patched with silent defaults.

Usage::

    registry = AdapterRegistry.from_entry_points()
    v3 = registry.venue("uniswap_v3")
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any, cast

from pydantic import BaseModel

from adapters.contract import (
    CAPABILITY_MEMBERS,
    DECLARED_ATTRIBUTES,
    REQUIRED_MEMBERS,
    Adapter,
    Capability,
    LensVenueReader,
    Permit2Venue,
    PerpAdapter,
    PoolStateVenue,
    PositionScope,
    PositionSource,
    StagedVenueReader,
    TransferAdapter,
    VenueAdapter,
)
from crosshedge import AdapterConformanceError, ConfigError

ENTRY_POINT_GROUP = "crosshedge.adapters"


def check_conformance(obj: Any, where: str) -> None:
    """Raise :class:`AdapterConformanceError` listing every member ``obj`` lacks for its declared kind.

    That covers the kind's required members (methods callable), a pydantic ``config_model``, the declared
    ``capabilities`` (each a :class:`Capability` whose members exist) and a position source's ``scope``.
    """
    kind = getattr(obj, "kind", None)
    if kind not in REQUIRED_MEMBERS:
        raise AdapterConformanceError(
            f"adapter {where}: 'kind' must be one of {sorted(REQUIRED_MEMBERS)}, got {kind!r}"
        )
    required = REQUIRED_MEMBERS[kind]
    missing = [m for m in required if not hasattr(obj, m)]
    problems = [f"missing {m}" for m in missing]
    problems += [f"{m} is not callable" for m in required
                 if m not in missing and m not in DECLARED_ATTRIBUTES and not callable(getattr(obj, m))]
    config_model = getattr(obj, "config_model", None)
    if "config_model" not in missing and not (inspect.isclass(config_model) and issubclass(config_model, BaseModel)):
        problems.append("config_model is not a pydantic model class")
    if kind == "venue" and "capabilities" not in missing:
        problems += _capability_problems(obj)
    if kind == "positions" and "scope" not in missing and getattr(obj, "scope", None) not in set(PositionScope):
        problems.append(f"scope must be one of {[s.value for s in PositionScope]}, got {obj.scope!r}")
    if problems:
        raise AdapterConformanceError(f"adapter {where} does not implement the {kind} contract: {', '.join(problems)}")


def _capability_problems(obj: Any) -> list[str]:
    declared = obj.capabilities
    if not isinstance(declared, frozenset) or not all(isinstance(c, Capability) for c in declared):
        return [f"capabilities must be a frozenset of Capability values, got {declared!r}"]
    return [f"declares capability {c.value} but lacks {m}" for c in sorted(declared)
            for m in CAPABILITY_MEMBERS[c] if not callable(getattr(obj, m, None))]


class AdapterRegistry:
    """Adapters by name, each loaded once and checked for conformance."""

    def __init__(
        self,
        entry_points_by_name: Mapping[str, EntryPoint] | None = None,
        adapters: Mapping[str, Adapter] | None = None,
    ) -> None:
        # Entry points are imported on first use, so one broken plugin does not take the others down.
        self._entry_points = dict(entry_points_by_name or {})
        self._adapters: dict[str, Adapter] = dict(adapters or {})
        # Venue adapters that passed venue()'s checks: a read asks for its adapters several times per chain, and a
        # runtime Protocol isinstance costs ~10 µs each (the adapter was already checked for conformance at load).
        self._venues: dict[str, VenueAdapter] = {}

    @classmethod
    def from_entry_points(cls, eps: Iterable[EntryPoint] | None = None) -> AdapterRegistry:
        """Every adapter registered under the entry-point group (or the given entry points), loaded lazily."""
        found = {ep.name: ep for ep in (eps if eps is not None else entry_points(group=ENTRY_POINT_GROUP))}
        return cls(entry_points_by_name=found)

    def names(self) -> list[str]:
        return sorted(set(self._adapters) | set(self._entry_points))

    def get(self, name: str) -> Adapter:
        """The adapter called ``name``, imported and conformance-checked on first use."""
        if name not in self._adapters:
            if name not in self._entry_points:
                raise ConfigError(
                    f"unknown adapter {name!r}; installed adapters: {', '.join(self.names()) or 'none'}"
                )
            self._adapters[name] = load_entry_point(self._entry_points[name])
        return self._adapters[name]

    def venue(self, name: str) -> VenueAdapter:
        checked = self._venues.get(name)
        if checked is not None:
            return checked
        adapter = self.get(name)
        if adapter.kind != "venue":
            raise ConfigError(f"adapter {name!r} is a {adapter.kind} source, not a venue")
        assert isinstance(adapter, VenueAdapter)
        self._venues[name] = adapter
        return adapter

    def staged_reader(self, name: str) -> StagedVenueReader | None:
        """The venue adapter ``name`` as a staged reader when it declares :attr:`Capability.STAGED_READS`."""
        adapter = self.venue(name)
        return cast(StagedVenueReader, adapter) if Capability.STAGED_READS in adapter.capabilities else None

    def lens_reader(self, name: str) -> LensVenueReader | None:
        """The venue adapter ``name`` as a lens reader when it declares :attr:`Capability.LENS_READS`."""
        adapter = self.venue(name)
        return cast(LensVenueReader, adapter) if Capability.LENS_READS in adapter.capabilities else None

    def pool_state_venue(self, name: str) -> PoolStateVenue | None:
        """The venue adapter ``name`` as a saver and quoter of recorded states when it declares
        :attr:`Capability.POOL_STATE`."""
        adapter = self.venue(name)
        return cast(PoolStateVenue, adapter) if Capability.POOL_STATE in adapter.capabilities else None

    def permit2_venue(self, name: str) -> Permit2Venue | None:
        """The venue adapter ``name`` as a Permit2 venue when it declares :attr:`Capability.PERMIT2` (its swaps then
        need a signed permit), else None."""
        adapter = self.venue(name)
        return cast(Permit2Venue, adapter) if Capability.PERMIT2 in adapter.capabilities else None

    def transfer(self, name: str) -> TransferAdapter:
        """The transfer adapter (a bridge) called ``name``."""
        adapter = self.get(name)
        if adapter.kind != "transfer":
            raise ConfigError(f"adapter {name!r} is a {adapter.kind} adapter, not a transfer adapter")
        assert isinstance(adapter, TransferAdapter)
        return adapter

    def perp(self, name: str) -> PerpAdapter:
        """The perp adapter (a perpetual-futures venue) called ``name``."""
        adapter = self.get(name)
        if adapter.kind != "perp":
            raise ConfigError(f"adapter {name!r} is a {adapter.kind} adapter, not a perp adapter")
        assert isinstance(adapter, PerpAdapter)
        return adapter

    def positions(self, name: str) -> PositionSource:
        adapter = self.get(name)
        if adapter.kind != "positions":
            raise ConfigError(f"adapter {name!r} is a {adapter.kind} adapter, not a position source")
        assert isinstance(adapter, PositionSource)
        return adapter


def load_entry_point(ep: EntryPoint) -> Adapter:
    """Import one entry point, instantiate its class and check it; errors name the entry point."""
    where = f"{ep.name!r} ({ep.value})"
    try:
        target = ep.load()
    except (ImportError, AttributeError) as exc:
        raise AdapterConformanceError(f"adapter {where} could not be imported: {exc}") from exc
    instance = target() if inspect.isclass(target) else target
    check_conformance(instance, where)
    if getattr(instance, "name", None) != ep.name:
        raise AdapterConformanceError(
            f"adapter {where} declares name {getattr(instance, 'name', None)!r}; it must match its entry point name"
        )
    return cast(Adapter, instance)


@cache
def default_registry() -> AdapterRegistry:
    """The registry of installed adapters (loaded once per process; entry points do not change at run time)."""
    return AdapterRegistry.from_entry_points()
