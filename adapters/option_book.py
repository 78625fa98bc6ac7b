"""The option book position source: a desk's (or an options vault's) European options from a YAML or CSV file.

YAML layout (see examples/book.yaml)::

    as_of: 2026-11-21T08:00:00Z        # optional; tenors count from it (default: the valuation time)
    reference_prices: {ETH: 3000}       # optional; the spot each strike was set against (backtests roll at K/ref)
    smile_dynamics: sticky_delta        # optional; or sticky_strike (how the smile moves with spot)
    surface:                            # optional; per underlying and expiry: raw SVI or vol points
      ETH: {30d: {moneyness: [0.8, 1.0, 1.2], vols: [0.75, 0.62, 0.66]},
            90d: {svi: {a: 0.02, b: 0.05, rho: -0.3, m: 0.0, sigma: 0.2}}}
    positions:
      - {id: eth-c1, underlying: ETH, type: call, strike: 3300, expiry: 30d, size: -40, vol: 0.62, venue: deribit}
      - {id: eth-p1, underlying: ETH, type: put, strike: 2700, expiry: 45d, size: -25, venue: lyra}  # surface vol

The surface format, its interpolation and its arbitrage checks are in :mod:`adapters.book_surface` and
:mod:`adapters.vol_surface`; the older ``smiles:`` section (moneyness points per expiry) loads as vol points. A line
without ``vol`` takes the surface at its strike and expiry (interpolated across expiries, so its expiry need not
be one of the surface's); a line with ``vol`` keeps that flat vol whatever the spot does.

CSV: a header ``id,underlying,type,strike,expiry,size,vol,venue`` (any order, mapped by name; ``venue`` optional).

``expiry`` is a tenor (``12h``, ``7d``, ``2w``, ``3m`` = 90 days, ``1y`` = 365 days) counted from the as-of time,
an ISO date (expires 08:00 UTC, the Deribit convention) or an ISO datetime with a zone. A tenor book never goes
stale, which is what a demo and a backtest need; absolute dates are what a live desk exports.

Every problem raises :class:`InputError` naming the file, the row (1-based line for CSV; ``positions[i]`` and its
line for YAML) and the field: malformed numbers, expired options, unknown underlyings, duplicate ids, a missing
surface, an arbitrage in the surface (naming the expiry and the strike), and values outside the bounds a real
desk's book keeps (a typo or a unit slip does not):

* ``size``: at most 1e7 units of the underlying either way (ten million ETH or BTC);
* ``vol`` and smile ``vols``: within (0, 10], annualised decimals (0.62 is 62%; 10 is 1,000%);
* ``strike``: within (0, 1e9] quote units, and within a factor 20 of the underlying's ``reference_prices`` entry
  when the book has one; smile ``moneyness`` (K/F) within [1/20, 20];
* ``expiry``: after the as-of time and at most 3,650 days (ten years) after it;
* ``as_of``: not after the valuation time by more than 5 minutes of clock skew;
* ``reference_prices``: within (0, 1e9] quote units.

The bounds live in :mod:`adapters.positions` (``MAX_ABS_SIZE``, ``MAX_VOL``, ``MAX_STRIKE``,
``MAX_STRIKE_MULTIPLE``, ``MAX_TENOR_DAYS``, ``MAX_REFERENCE_PRICE``), whose models enforce them too.

Usage::

    positions = OptionBook().read_positions(None, OptionBookSettings(path=Path("examples/book.yaml")), None,
                                            as_of=datetime(2026, 11, 21, tzinfo=UTC))
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from adapters.book_surface import book_surfaces, first_error
from adapters.contract import PositionScope
from adapters.positions import (
    MAX_ABS_SIZE,
    MAX_REFERENCE_PRICE,
    MAX_STRIKE,
    MAX_STRIKE_MULTIPLE,
    MAX_TENOR_DAYS,
    MAX_VOL,
    OptionPosition,
)
from adapters.types import ChainContext
from adapters.vol_surface import VolSurface
from crosshedge import InputError

_TENOR = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([hdwmy])\s*$", re.IGNORECASE)
_TENOR_DAYS = {"h": 1 / 24, "d": 1.0, "w": 7.0, "m": 30.0, "y": 365.0}
_EXPIRY_HOUR_UTC = 8  # Deribit-style expiry time for a date without a time
_CSV_REQUIRED = ("id", "underlying", "type", "strike", "expiry", "size")
#: How far a book's as_of may run ahead of the valuation clock (clock skew between the desk and us).
MAX_AS_OF_SKEW = timedelta(minutes=5)


class OptionBookSettings(BaseModel):
    """chains.yaml ``positions.<name>.settings`` for the option book."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path  # YAML (.yaml/.yml) or CSV (.csv); relative paths resolve against chains.yaml's directory
    underlyings: tuple[str, ...] = ("ETH", "BTC")  # anything else in the book is an error
    as_of: AwareDatetime | None = None  # pin "now" (expiry checks, tenors); default: the clock


def _row_error(where: str, msg: str) -> InputError:
    return InputError(f"{where}: {msg}")


def parse_expiry(text: Any, as_of: datetime, where: str) -> tuple[datetime, float]:
    """(expiry, tenor in days) from a tenor, an ISO date or an ISO datetime; see the module docstring."""
    if isinstance(text, datetime):
        expiry = text if text.tzinfo else text.replace(tzinfo=UTC)
    elif isinstance(text, date):
        expiry = datetime(text.year, text.month, text.day, _EXPIRY_HOUR_UTC, tzinfo=UTC)
    else:
        raw = str(text).strip()
        match = _TENOR.match(raw)
        if match:
            days = float(match.group(1)) * _TENOR_DAYS[match.group(2).lower()]
            return as_of + timedelta(days=days), days
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise _row_error(where, f"expiry {raw!r} is neither a tenor like '30d' nor an ISO date") from None
        if len(raw) <= 10:
            parsed = parsed.replace(hour=_EXPIRY_HOUR_UTC)
        expiry = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return expiry, (expiry - as_of).total_seconds() / 86400.0


def _number(value: Any, field: str, where: str) -> float:
    if isinstance(value, bool) or value is None or value == "":
        raise _row_error(where, f"{field} is missing or not a number ({value!r})")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise _row_error(where, f"{field} {value!r} is not a number") from None
    if not math.isfinite(out):
        raise _row_error(where, f"{field} must be finite, got {value!r}")
    return out


def _position(
    row: dict[str, Any], where: str, as_of: datetime, ctx: BookContext
) -> OptionPosition:
    pid = str(row.get("id") or "").strip()
    if not pid:
        raise _row_error(where, "id is missing")
    where = f"{where} (id {pid})"
    underlying = str(row.get("underlying") or "").strip().upper()
    if underlying not in ctx.underlyings:
        raise _row_error(where, f"unknown underlying {underlying!r}; expected one of {', '.join(ctx.underlyings)}")
    kind = str(row.get("type") or row.get("kind") or "").strip().lower()
    if kind not in ("call", "put"):
        raise _row_error(where, f"type must be 'call' or 'put', got {kind!r}")
    strike = _strike(row, where, ctx.reference_prices.get(underlying), underlying)
    size = _number(row.get("size"), "size", where)
    if abs(size) > MAX_ABS_SIZE:
        raise _row_error(where, f"size {size:g} is beyond ±{MAX_ABS_SIZE:g} units of {underlying}")
    expiry_text = row.get("expiry")
    expiry, tenor = parse_expiry(expiry_text, as_of, where)
    if expiry <= as_of:
        raise _row_error(where, f"option expired at {expiry.isoformat()} (as of {as_of.isoformat()})")
    if tenor > MAX_TENOR_DAYS:
        raise _row_error(where, f"expiry {str(expiry_text).strip()!r} is {tenor:,.0f} days out, beyond the "
                                f"{MAX_TENOR_DAYS:,.0f}-day (10-year) limit")
    vol, surface = _vol(row, where, ctx, underlying)
    try:
        return OptionPosition(
            id=pid, underlying=underlying, kind=kind,  # checked above
            strike=strike, expiry=expiry, size=size, vol=vol, surface=surface, venue=str(row.get("venue") or "otc"),
            tenor_days=tenor, reference_price=ctx.reference_prices.get(underlying),
        )
    except ValidationError as exc:  # the model's own bounds: the checks above should have said it first
        raise _row_error(where, first_error(exc)) from None


def _strike(row: dict[str, Any], where: str, reference: float | None, underlying: str) -> float:
    strike = _number(row.get("strike"), "strike", where)
    if strike <= 0:
        raise _row_error(where, f"strike must be positive, got {strike}")
    if strike > MAX_STRIKE:
        raise _row_error(where, f"strike {strike:g} is above the {MAX_STRIKE:g} limit")
    if reference is not None and not 1 / MAX_STRIKE_MULTIPLE <= strike / reference <= MAX_STRIKE_MULTIPLE:
        raise _row_error(where, f"strike {strike:g} is more than {MAX_STRIKE_MULTIPLE:g}x away from the {underlying} "
                                f"reference price {reference:g}")
    return strike


def _vol(
    row: dict[str, Any], where: str, ctx: BookContext, underlying: str
) -> tuple[float | None, VolSurface | None]:
    """(flat vol, surface): exactly one is set; a line without a vol takes its underlying's surface."""
    vol_raw = row.get("vol")
    if vol_raw in (None, "", "smile", "surface"):
        surface = ctx.surfaces.get(underlying)
        if surface is None:
            raise _row_error(where, f"no vol given and no surface (or smile) for {underlying} in the book")
        return None, surface
    vol = _number(vol_raw, "vol", where)
    if vol <= 0:
        raise _row_error(where, f"vol must be positive, got {vol}")
    if vol > MAX_VOL:
        raise _row_error(where, f"vol {vol:g} is above {MAX_VOL:g} (1,000%); vols are annualised decimals "
                                "(0.62 is 62%)")
    return vol, None


class BookContext(BaseModel):
    """Book-level data that rows refer to."""

    model_config = ConfigDict(frozen=True)

    underlyings: tuple[str, ...]
    surfaces: dict[str, VolSurface] = {}
    reference_prices: dict[str, float] = {}


def _yaml_rows(path: Path, text: str) -> tuple[dict[str, Any], yaml.Node, list[tuple[str, dict[str, Any]]]]:
    try:
        doc = yaml.safe_load(text)
        node = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InputError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("positions"), list):
        raise InputError(f"{path}: expected a mapping with a 'positions' list")
    lines: list[int] = []
    assert isinstance(node, yaml.MappingNode)
    for key, value in node.value:
        if key.value == "positions" and isinstance(value, yaml.SequenceNode):
            lines = [item.start_mark.line + 1 for item in value.value]
    rows = []
    for i, row in enumerate(doc["positions"]):
        where = f"{path}: positions[{i}] (line {lines[i]})" if i < len(lines) else f"{path}: positions[{i}]"
        if not isinstance(row, dict):
            raise InputError(f"{where}: expected a mapping of fields, got {type(row).__name__}")
        rows.append((where, row))
    return doc, node, rows


def _csv_rows(path: Path, text: str) -> list[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(text.splitlines())
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in _CSV_REQUIRED if c not in header]
    if missing:
        raise InputError(f"{path}: line 1: header lacks column(s) {', '.join(missing)}")
    rows = []
    for i, raw in enumerate(reader, start=2):
        if None in raw:
            raise InputError(f"{path}: row {i}: more fields than the header has")
        rows.append((f"{path}: row {i}", {k.strip().lower(): (v or "").strip() for k, v in raw.items()}))
    return rows


def _mapping(value: Any, where: str) -> dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _book_context(path: Path, doc: dict[str, Any], node: yaml.Node | None, underlyings: tuple[str, ...],
                  as_of: datetime) -> BookContext:
    """Reference prices and surfaces, each checked with a sentence naming the file and the entry."""
    refs: dict[str, float] = {}
    for u, price in _mapping(doc.get("reference_prices"), f"{path}: reference_prices").items():
        value = _number(price, "price", f"{path}: reference_prices.{u}")
        if not 0 < value <= MAX_REFERENCE_PRICE:
            raise InputError(f"{path}: reference_prices.{u}: price must be within (0, {MAX_REFERENCE_PRICE:g}], "
                             f"got {value:g}")
        refs[str(u).upper()] = value
    surfaces = book_surfaces(path, doc, node, as_of, refs, parse_expiry, underlyings)
    return BookContext(underlyings=underlyings, surfaces=surfaces, reference_prices=refs)


def _as_of(path: Path, doc: dict[str, Any], now: datetime) -> datetime:
    if doc.get("as_of") is None:
        return now
    as_of, _ = parse_expiry(doc["as_of"], now, f"{path}: as_of")
    if as_of > now + MAX_AS_OF_SKEW:
        raise InputError(f"{path}: as_of: {as_of.isoformat()} is in the future (valuation time {now.isoformat()}; "
                         f"at most {MAX_AS_OF_SKEW.total_seconds() / 60:.0f} minutes of clock skew)")
    return as_of


def load_book(path: Path, now: datetime, underlyings: Sequence[str] = ("ETH", "BTC")) -> list[OptionPosition]:
    """Parse and validate a book file as of ``now``; raises :class:`InputError` naming file and row.

    Usage: ``load_book(Path("examples/book.yaml"), datetime.now(UTC))``
    """
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the option book ({exc.strerror})") from None
    known = tuple(u.upper() for u in underlyings)
    as_of = now
    if path.suffix.lower() == ".csv":
        rows, ctx = _csv_rows(path, text), BookContext(underlyings=known)
    else:
        doc, node, rows = _yaml_rows(path, text)
        as_of = _as_of(path, doc, now)
        ctx = _book_context(path, doc, node, known, as_of)
    positions: list[OptionPosition] = []
    seen: dict[str, str] = {}
    for where, row in rows:
        pos = _position(row, where, as_of, ctx)
        if pos.expiry <= now:
            raise _row_error(f"{where} (id {pos.id})", f"option expired at {pos.expiry.isoformat()} (now {now})")
        if pos.id in seen:
            raise _row_error(where, f"duplicate id {pos.id!r} (first at {seen[pos.id]})")
        seen[pos.id] = where
        positions.append(pos)
    return positions


class OptionBook:
    """Position source ``option_book``: the options in a book file (off-chain, so ``chain`` is ignored)."""

    name: ClassVar[str] = "option_book"
    kind: ClassVar[Literal["positions"]] = "positions"
    config_model: ClassVar[type[BaseModel]] = OptionBookSettings
    scope: ClassVar[PositionScope] = PositionScope.OFFCHAIN

    def read_positions(
        self, chain: ChainContext | None, config: BaseModel, block: int | None, as_of: datetime
    ) -> Sequence[OptionPosition]:
        """Every option in the configured file, validated as of ``config.as_of`` if pinned, else ``as_of``."""
        if not isinstance(config, OptionBookSettings):
            config = OptionBookSettings.model_validate(config.model_dump())
        return load_book(config.path, config.as_of or as_of, config.underlyings)
