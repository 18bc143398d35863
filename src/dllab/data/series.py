"""Univariate time series that statsmodels ships, cut into time-ordered splits and windows.

Two series are on every machine with statsmodels installed (no download):

- `sunspots`: yearly mean sunspot numbers 1700-2008 (309 values), whose ~11-year solar cycle
  is the textbook non-linear, non-seasonal-but-cyclic series (Yule 1927, Tong 1990).
- `co2`: weekly atmospheric CO2 at Mauna Loa, 1958-2001 (Keeling et al.), turned into monthly
  means (526 values); the 5 months without any weekly reading are filled by linear
  interpolation in time. A trend plus a 12-month seasonal cycle.

    series = load_series("co2")                  # Series: values (T,), times, period 12
    split = time_split(len(series), val_fraction=0.1, test_fraction=0.2)
    origins = window_origins(split.test, context=36, horizon=12)   # forecast origins t

A window with origin `t` reads `values[t - context : t]` and its targets are
`values[t : t + horizon]`; `window_origins` only yields origins whose targets lie wholly inside
one split, so no value is a target in two splits and the splits keep their time order.
`read_values` reads a user's recent values (a CSV, one per line) for `dllab predict`.
"""

from __future__ import annotations

import hashlib
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dllab.errors import ConfigError, DataError, InputError
from dllab.registry import closest

__all__ = [
    "SERIES",
    "Series",
    "TimeSplit",
    "load_series",
    "read_values",
    "series_names",
    "time_split",
    "values_sha256",
    "window_origins",
    "windows",
]


@dataclass(frozen=True)
class Series:
    """One univariate series in its original units, oldest value first."""

    name: str
    values: np.ndarray  # (T,) float64, original units, no gaps
    times: np.ndarray  # (T,) float64 decimal years (1958.0 = January 1958), for plots
    period: int  # steps per season or cycle: the seasonal-naive lag (11 years, 12 months)
    unit: str  # what a value measures, for axis labels
    source: str  # where the numbers come from, for env.json and reports

    def __len__(self) -> int:
        return len(self.values)

    @property
    def checksum(self) -> str:
        return values_sha256(self.values)


def values_sha256(values: np.ndarray) -> str:
    """sha256 of the values as little-endian float64 bytes: what the run actually read."""
    return hashlib.sha256(np.ascontiguousarray(values, dtype="<f8").tobytes()).hexdigest()


def _statsmodels_datasets():  # noqa: ANN202  (a module)
    try:
        from statsmodels import datasets
    except ImportError as exc:
        raise DataError(
            "the time series come with statsmodels, which is not installed; "
            "install it with `pip install 'dllab[nlp]'` (or `pip install statsmodels`)"
        ) from exc
    return datasets


def _sunspots() -> Series:
    frame = _statsmodels_datasets().sunspots.load_pandas().data
    return Series(
        name="sunspots",
        values=frame["SUNACTIVITY"].to_numpy(np.float64),
        times=frame["YEAR"].to_numpy(np.float64),
        period=11,  # the Schwabe cycle; it varies between ~9 and ~14 years
        unit="yearly mean sunspot number",
        source="statsmodels.datasets.sunspots (SILSO yearly sunspot numbers 1700-2008)",
    )


def _co2() -> Series:
    weekly = _statsmodels_datasets().co2.load_pandas().data["co2"]
    # "MS": one row per calendar month, labelled by its first day; empty months become NaN.
    monthly = weekly.resample("MS").mean().interpolate(method="time")
    index = monthly.index
    return Series(
        name="co2",
        values=monthly.to_numpy(np.float64),
        times=(index.year + (index.month - 1) / 12).to_numpy(np.float64),
        period=12,
        unit="CO2 (ppm), monthly mean",
        source="statsmodels.datasets.co2 (Mauna Loa weekly CO2 1958-2001) -> monthly means, "
        "gaps interpolated in time",
    )


SERIES: dict[str, Callable[[], Series]] = {"sunspots": _sunspots, "co2": _co2}


def series_names() -> list[str]:
    return sorted(SERIES)


def load_series(name: str) -> Series:
    """Load a named series (`series_names()`); an unknown name lists the valid ones.

    >>> s = load_series("sunspots")  # doctest: +SKIP
    >>> len(s), s.period, s.values[:3]  # doctest: +SKIP
    (309, 11, array([ 5., 11., 16.]))
    """
    if name not in SERIES:
        hint = closest(name, series_names())
        raise ConfigError(
            f"unknown time series {name!r} in data.name; "
            + (hint + " " if hint else "")
            + "valid series: "
            + ", ".join(series_names())
        )
    series = SERIES[name]()
    if not np.isfinite(series.values).all():
        raise DataError(f"series {name!r} from {series.source} has missing values after loading")
    return series


@dataclass(frozen=True)
class TimeSplit:
    """Three contiguous, time-ordered ranges of indices: `[0, train) [train, val) [val, n)`.

    Each field is a `range` of the indices whose values are targets in that split.
    """

    train: range
    val: range
    test: range


def time_split(n: int, *, val_fraction: float, test_fraction: float) -> TimeSplit:
    """Split `n` steps in time order: the oldest for training, then validation, then test.

    The last `round(n * test_fraction)` steps are the test part and the
    `round(n * val_fraction)` before them the validation part; nothing is shuffled, so the
    model is always judged on a future it never saw.

    >>> time_split(100, val_fraction=0.1, test_fraction=0.2)
    TimeSplit(train=range(0, 70), val=range(70, 80), test=range(80, 100))
    """
    n_test, n_val = round(n * test_fraction), round(n * val_fraction)
    n_train = n - n_val - n_test
    if n_train < 1 or n_test < 1 or (val_fraction > 0 and n_val < 1):
        raise ConfigError(
            f"a series of {n} steps cannot be split into train/val/test with "
            f"val_fraction={val_fraction} and test_fraction={test_fraction}; use smaller fractions"
        )
    return TimeSplit(range(0, n_train), range(n_train, n_train + n_val), range(n_train + n_val, n))


def window_origins(part: range, *, context: int, horizon: int) -> np.ndarray:
    """Forecast origins `t` whose targets `[t, t + horizon)` lie inside `part` and whose inputs
    `[t - context, t)` start at or after index 0 (they may reach back into earlier parts).

    Returns int64 `(W,)`, oldest first, one origin per step (rolling origin).

    >>> window_origins(range(70, 80), context=5, horizon=3).tolist()
    [70, 71, 72, 73, 74, 75, 76, 77]
    """
    first = max(part.start, context)
    last = part.stop - horizon  # inclusive
    if last < first:
        raise ConfigError(
            f"the part of the series at steps {part.start}..{part.stop - 1} ({len(part)} steps) "
            f"holds no window of context {context} and horizon {horizon}; lower the horizon or "
            "context (model.kwargs) or raise data.val_fraction / data.test_fraction"
        )
    return np.arange(first, last + 1, dtype=np.int64)


def windows(
    values: np.ndarray, origins: np.ndarray, *, context: int, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs `(W, context)` = `values[t - context : t]` and targets `(W, horizon)` =
    `values[t : t + horizon]` for each origin `t`.

    >>> x, y = windows(np.arange(10.0), np.array([3, 4]), context=3, horizon=2)
    >>> x.tolist(), y.tolist()
    ([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0]], [[3.0, 4.0], [4.0, 5.0]])
    """
    back = np.arange(-context, 0)
    ahead = np.arange(horizon)
    return values[origins[:, None] + back], values[origins[:, None] + ahead]


def read_values(source: str) -> np.ndarray:
    """Numbers from a text file with one value per line, oldest first (`-`: standard input).

    Blank lines are skipped and a first line that is not a number is taken as a header;
    anything else that is not a finite number is an `InputError` naming the line.
    """
    if source == "-":
        lines = sys.stdin.read().splitlines()
    else:
        try:
            lines = Path(source).read_text(encoding="utf-8").splitlines()
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise InputError(
                f"{source} not found; give a CSV file with one value per line, oldest first"
            ) from exc
        except (UnicodeDecodeError, OSError) as exc:
            raise InputError(f"cannot read {source} as text ({type(exc).__name__})") from exc
    values = []
    for number, line in enumerate(lines, start=1):
        text = line.strip().rstrip(",")
        if not text:
            continue
        try:
            v = float(text)
        except ValueError:
            if number == 1:
                continue  # a header such as "value"
            raise InputError(
                f"{source} line {number}: {text[:40]!r} is not a number; "
                "give one value per line, oldest first"
            ) from None
        if not math.isfinite(v):
            raise InputError(f"{source} line {number}: {text!r} is not a finite number")
        values.append(v)
    return np.asarray(values, dtype=np.float64)
