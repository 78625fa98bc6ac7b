"""What a demo replays, checked before anything starts: its options and the real price path they select.

``--steps`` must be a positive number of hours, ``--start`` a UTC time inside the price files, and the files must
hold ``steps + 1`` hours from there (the first one anchors the devnet's prices). A bad option is a
:class:`DemoOptionError` (the CLI's exit 2) naming the option and the data's range, raised before any chain, Redis
or worker is touched.

Usage::

    path = price_paths(DemoOptions(config_path=Path("chains.yaml"), steps=24), {"ETH": 3000.0, "BTC": 60000.0})
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from crosshedge.errors import InputError
from devnet import load_price_path

REPO_ROOT = Path(__file__).resolve().parents[2]
PRICE_FILES = {"ETH": "ethusdt_1h.csv", "BTC": "btcusdt_1h.csv"}
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # the price files' timestamps; string order is time order
_ALL_ROWS = 10**9

#: One replayed hour: its timestamp (as in the price files) and the price per underlying, scaled to the devnet.
PathStep = tuple[str, dict[str, float]]


class DemoOptionError(InputError):
    """An option of the demo is out of range (``--steps``, ``--start``): bad usage, exit code 2 in the CLI."""


@dataclass(frozen=True)
class DemoOptions:
    """What `crosshedge demo` replays and where its outputs go."""

    config_path: Path
    steps: int = 24
    start: str = "2022-06-12 00:00:00"  # the June 2022 sell-off: ETH fell ~30% in two days
    data_dir: Path = REPO_ROOT.parent / "shared" / "data"
    out_dir: Path = Path(".crosshedge/demo")
    workers: int = 1
    run_timeout_s: float = 120.0
    keep_devnet: bool = False


def parse_start(start: str) -> str:
    """``--start`` as the price files write time (UTC, ``YYYY-mm-dd HH:MM:SS``); DemoOptionError if it is none."""
    try:
        moment = datetime.fromisoformat(start.strip())
    except ValueError:
        raise DemoOptionError(f"--start: {start!r} is not a date and time (UTC, as in the price files, e.g. "
                              "'2022-06-12 00:00:00')") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime(_TIME_FORMAT)


def check_steps(steps: int) -> None:
    """DemoOptionError unless ``steps`` is a positive number of hours."""
    if steps < 1:
        raise DemoOptionError(f"--steps: {steps} is not a number of hours to replay; give 1 or more")


def _rows(opts: DemoOptions) -> dict[str, list[tuple[str, float]]]:
    return {u: load_price_path(opts.data_dir / name, None, _ALL_ROWS) for u, name in PRICE_FILES.items()}


def price_paths(opts: DemoOptions, devnet_prices: dict[str, float]) -> list[PathStep]:
    """The real hourly path from ``opts.start``, ``opts.steps`` hours long, rescaled so that the hour before the
    first step sits at the devnet's prices (the shape is the market's); hours are matched by timestamp across files.

    Raises DemoOptionError for a bad ``--steps`` or ``--start`` (naming the files' range), InputError for an
    unreadable price file.
    """
    check_steps(opts.steps)
    start = parse_start(opts.start)
    rows = _rows(opts)
    first = max(r[0][0] for r in rows.values())
    last = min(r[-1][0] for r in rows.values())
    files = f"the price files in {opts.data_dir} ({', '.join(PRICE_FILES.values())})"
    if not first <= start <= last:
        raise DemoOptionError(f"--start: {start} is outside the price data ({files} cover {first} to {last})")
    by_time = {u: dict(r) for u, r in rows.items()}
    common = sorted(set.intersection(*(set(t for t in p if t >= start) for p in by_time.values())))
    available = len(common) - 1  # the first hour anchors the devnet's prices
    if available < 1:
        raise DemoOptionError(f"--start: {start} leaves no hour to replay ({files} end at {last}); give an earlier "
                              "--start")
    if opts.steps > available:
        raise DemoOptionError(f"--steps: {opts.steps} hours from {start} need {opts.steps + 1} hourly prices, but "
                              f"{files} hold {available + 1} from there (to {last}); give --steps {available} or "
                              "less, or an earlier --start")
    hours = common[: opts.steps + 1]
    scale = {u: devnet_prices[u] / by_time[u][hours[0]] for u in PRICE_FILES}
    return [(t, {u: by_time[u][t] * scale[u] for u in PRICE_FILES}) for t in hours[1:]]


__all__ = ["PRICE_FILES", "DemoOptionError", "DemoOptions", "PathStep", "check_steps", "parse_start", "price_paths"]
