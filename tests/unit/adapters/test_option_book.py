"""The option book position source: the example book parses; every kind of bad row names file and row."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters import check_conformance
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
    assert "positions[1] (line 3)" in str(err.value) and "no smile" in str(err.value)


def test_smile_interpolation(tmp_path: Path) -> None:
    text = (
        "smiles: {ETH: {30d: {moneyness: [0.8, 1.0, 1.2], vols: [0.8, 0.6, 0.7]}}}\n"
        "positions:\n"
        "  - {id: a, underlying: ETH, type: call, strike: 3300, expiry: 30d, size: -1}\n"
    )
    (pos,) = load_book(_write(tmp_path, "s.yaml", text), NOW)
    assert pos.implied_vol(3000.0) == pytest.approx(0.6 + 0.1 * 0.5)
    assert pos.implied_vol(10_000.0) == pytest.approx(0.8)  # flat beyond the ends


def test_unreadable_file() -> None:
    with pytest.raises(InputError, match="cannot read the option book"):
        load_book(Path("/nonexistent/book.yaml"), NOW)
