"""The option book position source: the example book parses; every kind of bad row names file and row."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from adapters import OptionPosition, Smile, check_conformance
from adapters.option_book import OptionBook, OptionBookSettings, load_book
from crosshedge import InputError
from risk import bsm

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "book.yaml"


def test_example_book_is_a_net_short_gamma_desk_book() -> None:
    book = load_book(EXAMPLE, NOW)
    assert {p.underlying for p in book} == {"ETH", "BTC"}
    assert {p.kind for p in book} == {"call", "put"}
    assert any(p.size > 0 for p in book) and any(p.size < 0 for p in book)
    tenors = sorted(p.tenor_days for p in book)
    assert tenors[0] == 7 and tenors[-1] == 180
    spot = {"ETH": 3000.0, "BTC": 60000.0}
    gamma_usd = sum(
        p.size * float(bsm(p.kind == "call", spot[p.underlying], p.strike, p.years_to_expiry(NOW), 0, 0,
                           p.implied_vol(spot[p.underlying])).gamma) * spot[p.underlying] ** 2
        for p in book
    )
    assert gamma_usd < 0


def test_adapter_conforms_and_values_as_of_the_given_time(tmp_path: Path) -> None:
    adapter = OptionBook()
    check_conformance(adapter, "option_book")
    positions = adapter.read_positions(None, OptionBookSettings(path=EXAMPLE), None, as_of=NOW)
    assert all(p.expiry > NOW for p in positions)
    eth_7d = next(p for p in positions if p.id == "eth-c-3150-7d")
    assert (eth_7d.expiry - NOW).days == 7


def test_settings_forbid_unknown_fields() -> None:
    with pytest.raises(ValueError, match="extra"):
        OptionBookSettings.model_validate({"path": "x.yaml", "paht": "y"})


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


HEADER = "id,underlying,type,strike,expiry,size,vol,venue\n"
GOOD = "a,ETH,call,3000,30d,-1,0.6,deribit\n"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("b,ETH,call,abc,30d,-1,0.6,x\n", "strike 'abc' is not a number"),
        ("b,ETH,call,-5,30d,-1,0.6,x\n", "strike must be positive"),
        ("b,ETH,call,3000,30d,-1,0,x\n", "vol must be positive"),
        ("b,ETH,call,3000,30d,-1,nan,x\n", "vol must be finite"),
        ("b,DOGE,call,3000,30d,-1,0.6,x\n", "unknown underlying 'DOGE'"),
        ("a,ETH,put,3000,30d,1,0.6,x\n", "duplicate id 'a'"),
        ("b,ETH,call,3000,2026-01-01,-1,0.6,x\n", "expired"),
        ("b,ETH,straddle,3000,30d,-1,0.6,x\n", "type must be 'call' or 'put'"),
        ("b,ETH,call,3000,soon,-1,0.6,x\n", "neither a tenor"),
        ("b,ETH,call,3000,30d,,0.6,x\n", "size is missing"),
    ],
)
def test_bad_csv_rows_name_file_and_row(tmp_path: Path, row: str, message: str) -> None:
    path = _write(tmp_path, "book.csv", HEADER + GOOD + row)
    with pytest.raises(InputError) as err:
        load_book(path, NOW)
    assert str(path) in str(err.value) and "row 3" in str(err.value)
    assert message in str(err.value)


def test_csv_columns_by_name_and_missing_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "b.csv", "size,expiry,id,underlying,type,strike,vol\n-2,2027-03-26,z,btc,put,50000,0.5\n")
    (pos,) = load_book(path, NOW)
    assert pos.underlying == "BTC" and pos.size == -2 and pos.expiry == datetime(2027, 3, 26, 8, tzinfo=UTC)
    bad = _write(tmp_path, "c.csv", "id,underlying,type,expiry,size\n")
    with pytest.raises(InputError, match="line 1: header lacks column"):
        load_book(bad, NOW)


def test_yaml_rows_report_index_and_line(tmp_path: Path) -> None:
    text = (
        "positions:\n"
        "  - {id: a, underlying: ETH, type: call, strike: 3000, expiry: 7d, size: -1, vol: 0.5}\n"
        "  - {id: b, underlying: ETH, type: put, strike: 3000, expiry: 7d, size: -1}\n"
    )
    path = _write(tmp_path, "b.yaml", text)
    with pytest.raises(InputError) as err:
        load_book(path, NOW)
    assert "positions[1] (line 3)" in str(err.value) and "no surface" in str(err.value)


def test_smile_interpolation(tmp_path: Path) -> None:
    text = (
        "smiles: {ETH: {30d: {moneyness: [0.8, 1.0, 1.2], vols: [0.8, 0.6, 0.7]}}}\n"
        "positions:\n"
        "  - {id: a, underlying: ETH, type: call, strike: 3300, expiry: 30d, size: -1}\n"
    )
    (pos,) = load_book(_write(tmp_path, "s.yaml", text), NOW)
    # The old smiles section loads as vol points: exact at the points, monotone cubic in total variance between.
    assert pos.implied_vol(3300 / 1.2) == pytest.approx(0.7) and pos.implied_vol(3300.0) == pytest.approx(0.6)
    between = [pos.implied_vol(3300 / m) for m in (1.05, 1.1, 1.15)]
    assert 0.6 < between[0] < between[1] < between[2] < 0.7
    # Beyond the ends total variance is linear in k (the end slope carried on where the wing rises).
    t = 30 / 365
    w = [pos.implied_vol(3300 / m) ** 2 * t for m in (0.8, 0.6, 0.4)]
    assert w[0] == pytest.approx(0.8**2 * t) and w[2] - w[1] == pytest.approx((w[1] - w[0]) * math.log(1.5)
                                                                             / math.log(4 / 3))


def test_unreadable_file() -> None:
    with pytest.raises(InputError, match="cannot read the option book"):
        load_book(Path("/nonexistent/book.yaml"), NOW)


# ---------------------------------------------------------------- bounds a desk's book keeps


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ("b,ETH,call,3000,30d,1e30,0.6,x\n", "size", "size 1e+30 is beyond ±1e+07 units of ETH"),
        ("b,ETH,put,3000,30d,-20000000,0.6,x\n", "size", "size -2e+07 is beyond ±1e+07 units of ETH"),
        ("b,ETH,call,3000,30d,-1,1e6,x\n", "vol", "vol 1e+06 is above 10 (1,000%); vols are annualised decimals"),
        ("b,ETH,call,3000,30d,-1,62,x\n", "vol", "vol 62 is above 10"),
        ("b,BTC,call,1e12,30d,-1,0.6,x\n", "strike", "strike 1e+12 is above the 1e+09 limit"),
        ("b,BTC,call,inf,30d,-1,0.6,x\n", "strike", "strike must be finite"),
        ("b,ETH,call,3000,4000d,-1,0.6,x\n", "expiry", "expiry '4000d' is 4,000 days out, beyond the 3,650-day"),
        ("b,ETH,call,3000,2099-01-01,-1,0.6,x\n", "expiry", "days out, beyond the 3,650-day (10-year) limit"),
    ],
)
def test_csv_rows_out_of_bounds_name_file_row_and_field(tmp_path: Path, row: str, field: str, message: str) -> None:
    path = _write(tmp_path, "book.csv", HEADER + GOOD + row)
    with pytest.raises(InputError) as err:
        load_book(path, NOW)
    text = str(err.value)
    assert text.startswith(f"{path}: row 3 (id b): {field}") and message in text, text


YAML_BOOK = (
    "reference_prices: {{ETH: 3000}}\n"
    "positions:\n"
    "  - {{id: a, underlying: ETH, type: call, strike: 3000, expiry: 30d, size: -1, vol: 0.6}}\n"
    "  - {{id: b, underlying: ETH, type: {kind}, strike: {strike}, expiry: {expiry}, size: {size}, vol: {vol}}}\n"
)
GOOD_LINE = {"kind": "call", "strike": 3300, "expiry": "30d", "size": -1, "vol": 0.6}


@pytest.mark.parametrize(
    ("edit", "field", "message"),
    [
        ({"size": 1e30}, "size", "size 1e+30 is beyond ±1e+07 units of ETH"),
        ({"vol": 1e6}, "vol", "vol 1e+06 is above 10"),
        ({"strike": 300_000}, "strike", "strike 300000 is more than 20x away from the ETH reference price 3000"),
        ({"strike": 100}, "strike", "strike 100 is more than 20x away from the ETH reference price 3000"),
        ({"expiry": "11y"}, "expiry", "expiry '11y' is 4,015 days out"),
        ({"expiry": "2099-06-01T00:00:00Z"}, "expiry", "days out, beyond the 3,650-day (10-year) limit"),
    ],
)
def test_yaml_lines_out_of_bounds_name_file_line_and_field(
    tmp_path: Path, edit: dict[str, object], field: str, message: str
) -> None:
    path = _write(tmp_path, "book.yaml", YAML_BOOK.format(**(GOOD_LINE | edit)))
    with pytest.raises(InputError) as err:
        load_book(path, NOW)
    text = str(err.value)
    assert text.startswith(f"{path}: positions[1] (line 4) (id b): {field}") and message in text, text


def _book(head: str) -> str:
    return head + "positions:\n  - {id: a, underlying: ETH, type: call, strike: 3000, expiry: 30d, size: -1}\n"


SMILE = "smiles: {ETH: {30d: {moneyness: [0.8, 1.0, 1.2], vols: [0.7, 0.6, 0.65]}}}\n"


@pytest.mark.parametrize(
    ("head", "message"),
    [
        ("as_of: 2099-01-01T00:00:00Z\n" + SMILE, "as_of: 2099-01-01T00:00:00+00:00 is in the future (valuation time "
                                                  "2026-11-21T12:00:00+00:00; at most 5 minutes of clock skew)"),
        ("as_of: 1d\n" + SMILE, "as_of: 2026-11-22T12:00:00+00:00 is in the future"),
        ("reference_prices: {ETH: 1e12}\n" + SMILE, "reference_prices.ETH: price must be within (0, 1e+09], got 1e+12"),
        ("reference_prices: {ETH: -5}\n" + SMILE, "reference_prices.ETH: price must be within (0, 1e+09], got -5"),
        ("reference_prices: {ETH: lots}\n" + SMILE, "reference_prices.ETH: price 'lots' is not a number"),
        ("reference_prices: [3000]\n" + SMILE, "reference_prices: expected a mapping, got list"),
        ("smiles: {ETH: {30d: {moneyness: [0.8, 1.0, 1.2], vols: [0.7, 12, 0.65]}}}\n",
         "smiles.ETH.30d: vols[1] must be within (0, 10], got 12"),
        ("smiles: {ETH: {30d: {moneyness: [0.001, 1.0, 1.2], vols: [0.7, 0.6, 0.65]}}}\n",
         "smiles.ETH.30d: moneyness[0] must be within [0.05, 20], got 0.001"),
        ("smiles: {ETH: {30d: {moneyness: [0.8, 1.0], vols: [0.7, .nan]}}}\n",
         "smiles.ETH.30d: vols[1] must be within (0, 10], got nan"),
        ("smiles: {ETH: {30d: {moneyness: [0.8, 1.0], vols: high}}}\n", "smiles.ETH.30d: vols: "),
    ],
)
def test_book_level_values_out_of_bounds_name_file_and_field(tmp_path: Path, head: str, message: str) -> None:
    path = _write(tmp_path, "book.yaml", _book(head))
    with pytest.raises(InputError) as err:
        load_book(path, NOW)
    assert str(err.value).startswith(f"{path}: {message}"), str(err.value)


def test_the_bounds_are_inclusive_where_documented(tmp_path: Path) -> None:
    text = (
        "as_of: 2026-11-21T12:04:00Z\n"  # four minutes ahead of the clock: skew, accepted
        "reference_prices: {ETH: 3000}\n"
        "smiles: {ETH: {30d: {moneyness: [0.05, 20], vols: [10, 0.5]}}}\n"
        "positions:\n"
        "  - {id: a, underlying: ETH, type: call, strike: 60000, expiry: 3650d, size: -1e7, vol: 10}\n"
        "  - {id: b, underlying: ETH, type: put, strike: 150, expiry: 30d, size: 1e7}\n"
    )
    a, b = load_book(_write(tmp_path, "edge.yaml", text), NOW)
    assert (a.size, a.vol, a.strike, a.tenor_days) == (-1e7, 10, 60_000, 3650)
    assert b.strike == 150 and b.surface is not None and b.implied_vol(3000.0) == pytest.approx(10.0)


def test_the_position_models_enforce_the_bounds_themselves() -> None:
    base: dict[str, object] = dict(id="c", underlying="ETH", kind="call", strike=3000.0, expiry=NOW, size=-1.0,
                                   vol=0.6, tenor_days=30.0, reference_price=3000.0)
    OptionPosition.model_validate(base)
    for edit, field in [({"size": 1e30}, "size"), ({"vol": 1e6}, "vol"), ({"strike": 1e12}, "strike"),
                        ({"tenor_days": 4000.0}, "tenor_days"), ({"reference_price": 1e12}, "reference_price"),
                        ({"strike": 100_000.0}, "more than 20x away from the reference price 3000")]:
        with pytest.raises(ValidationError, match=field):
            OptionPosition.model_validate(base | edit)
    with pytest.raises(ValidationError, match=r"vols must be within \(0, 10\], got 11"):
        Smile(moneyness=(1.0,), vols=(11.0,))
    with pytest.raises(ValidationError, match=r"moneyness must be within \[0.05, 20\], got 50"):
        Smile(moneyness=(50.0,), vols=(0.5,))


def test_the_readme_book_example_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    block = readme.split("## The option book and its vol surface", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    (pos,) = load_book(_write(tmp_path, "readme.yaml", block), NOW)
    assert pos.surface is not None and [s.label for s in pos.surface.slices] == ["30d", "90d", "1y"]
