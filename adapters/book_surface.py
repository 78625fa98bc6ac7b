"""The option book's vol surfaces: the ``surface:`` section (and the older ``smiles:``) and ``smile_dynamics``.

YAML (see examples/book.yaml)::

    smile_dynamics: sticky_delta        # or sticky_strike (default sticky_delta)
    surface:
      ETH:                              # per underlying, expiry -> one smile
        7d:  {svi: {a: 0.0016, b: 0.012, rho: -0.35, m: 0.0, sigma: 0.12}}      # raw SVI, total variance in k
        30d: {moneyness: [0.7, 0.85, 1.0, 1.15, 1.3], vols: [0.82, 0.70, 0.62, 0.64, 0.70]}   # K/F points
        90d: {k: [-0.51, -0.22, 0.0, 0.18, 0.41], vols: [0.80, 0.69, 0.63, 0.64, 0.69]}      # ln(K/F) points

``smiles:`` is the same mapping with moneyness points only (the format before surfaces); a book may use either
section, not both for one underlying. Expiry keys are tenors or dates as for positions. The surface is marked at
the book's ``as_of`` and at the underlying's ``reference_prices`` entry (sticky_strike needs that entry). Every
problem is an :class:`InputError` naming the file, the entry (``surface.ETH.30d``) and its line; arbitrage names
the expiry and the strike.

Usage: ``surfaces = book_surfaces(path, doc, node, as_of, {"ETH": 3000.0}, parse_expiry, ("ETH", "BTC"))``
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import yaml
from pydantic import ValidationError

from adapters.positions import Smile
from adapters.vol_surface import SMILE_DYNAMICS, SmileDynamics, SmileSlice, SviParams, VolSurface
from crosshedge import InputError

ExpiryParser = Callable[[Any, datetime, str], tuple[datetime, float]]
_SECTIONS = ("surface", "smiles")


def first_error(exc: ValidationError) -> str:
    """A pydantic error as one clause: "field: message" (a model-level error without the "Value error, ")."""
    error = exc.errors()[0]
    message = str(error["msg"]).removeprefix("Value error, ")
    field = ".".join(str(part) for part in error["loc"])
    return f"{field}: {message}" if field else message


def _lines(node: yaml.Node | None, section: str) -> dict[str, int]:
    """1-based line of each ``section.<underlying>`` entry (for messages)."""
    out: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == section and isinstance(value, yaml.MappingNode):
                out.update({str(k.value).upper(): k.start_mark.line + 1 for k, _ in value.value})
    return out


def smile_dynamics(path: Any, doc: Mapping[str, Any]) -> SmileDynamics:
    """The book's ``smile_dynamics`` (default sticky_delta)."""
    raw = doc.get("smile_dynamics", "sticky_delta")
    for choice in SMILE_DYNAMICS:
        if raw == choice:
            return choice
    raise InputError(f"{path}: smile_dynamics must be one of {', '.join(SMILE_DYNAMICS)}, got {raw!r}")


def _slice(label: str, raw: Any, as_of: datetime, where: str, parse_expiry: ExpiryParser,
           legacy: bool) -> SmileSlice:
    if not isinstance(raw, dict):
        raise InputError(f"{where}: expected a mapping (svi, or moneyness/k with vols), got {type(raw).__name__}")
    expiry, _ = parse_expiry(label, as_of, where)
    try:
        if "svi" in raw and not legacy:
            extra = sorted(set(raw) - {"svi"})
            if extra:
                raise InputError(f"{where}: unexpected field(s) {', '.join(extra)} beside svi")
            return SmileSlice(label=label, expiry=expiry, svi=SviParams.model_validate(raw["svi"]))
        if "moneyness" in raw or legacy:
            smile = Smile.model_validate(raw)
            return SmileSlice(label=label, expiry=expiry, k=tuple(math.log(m) for m in smile.moneyness),
                              vols=smile.vols)
        return SmileSlice.model_validate({"label": label, "expiry": expiry, **raw})
    except ValidationError as exc:
        raise InputError(f"{where}: {first_error(exc).removeprefix(f'expiry {label}: ')}") from None


def book_surfaces(  # the loader's pieces, passed in
    path: Any, doc: Mapping[str, Any], node: yaml.Node | None, as_of: datetime, refs: Mapping[str, float],
    parse_expiry: ExpiryParser, underlyings: tuple[str, ...],
) -> dict[str, VolSurface]:
    """One checked :class:`VolSurface` per underlying from the book's ``surface:`` / ``smiles:`` sections."""
    dynamics = smile_dynamics(path, doc)
    out: dict[str, VolSurface] = {}
    for section in _SECTIONS:
        raw = doc.get(section)
        if raw is None:
            continue
        if not isinstance(raw, dict):
            raise InputError(f"{path}: {section}: expected a mapping of underlyings, got {type(raw).__name__}")
        lines = _lines(node, section)
        for u, by_expiry in raw.items():
            name = str(u).upper()
            where = f"{path}: {section}.{u}" + (f" (line {lines[name]})" if name in lines else "")
            if name not in underlyings:
                raise InputError(f"{where}: unknown underlying {name!r}; expected one of {', '.join(underlyings)}")
            if name in out:
                raise InputError(f"{where}: {name} has a surface already; give its smiles in one section")
            if not isinstance(by_expiry, dict) or not by_expiry:
                raise InputError(f"{where}: expected a mapping of expiries to smiles")
            slices = [_slice(str(e), s, as_of, f"{path}: {section}.{u}.{e}", parse_expiry, section == "smiles")
                      for e, s in by_expiry.items()]
            slices.sort(key=lambda s: s.expiry)
            try:
                out[name] = VolSurface(underlying=name, as_of=as_of, slices=tuple(slices), dynamics=dynamics,
                                       reference_price=refs.get(name))
            except ValidationError as exc:
                problem = first_error(exc)
                if problem.startswith("sticky_strike"):
                    problem += f" (reference_prices.{name})"
                raise InputError(f"{where}: {problem}") from None
    return out
