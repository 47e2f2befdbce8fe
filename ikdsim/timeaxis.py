"""The one time axis used inside ikdsim: years since the IKD rollout began.

Dates appear only at the edges (loading, reporting); every model, fit and path works on a
float ``t`` in years (365.25 days) since :data:`ROLLOUT_START`.  IKD (Identitas
Kependudukan Digital) was introduced by Permendagri 72/2022 and rolled out from late 2022;
the national count was about 590,000 at the end of December 2022.  The start is a
parameter everywhere it matters; this is only the default.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

#: Default start of the IKD rollout (adoption is zero before it).
ROLLOUT_START = pd.Timestamp("2022-10-01")

DAYS_PER_YEAR = 365.25


def to_years(dates, start: pd.Timestamp | str | None = None) -> np.ndarray:
    """Convert dates to years since ``start`` (default :data:`ROLLOUT_START`).

    Parameters
    ----------
    dates : array-like of datetime-like
        Dates to convert.
    start : Timestamp or str, optional
        Origin of the time axis.

    Returns
    -------
    numpy.ndarray
        Float years since ``start``.

    Examples
    --------
    >>> float(to_years(["2023-10-01"])[0]).__round__(3)
    1.0
    """
    origin = pd.Timestamp(start) if start is not None else ROLLOUT_START
    if isinstance(dates, pd.Timestamp):
        dates = [dates]
    if origin.tz is None and isinstance(dates, (list, tuple)) and dates and all(
        type(d) is pd.Timestamp and d.tz is None for d in dates
    ):
        # Timestamps already (a horizon, a deadline): the same division in numpy, without
        # pandas' parsing (0.8 ms a call; a batch converts a few per region).
        # numpy's datetime64 arithmetic in the finest resolution among them, as pandas'.
        days = (np.array([d.asm8 for d in dates]) - origin.asm8) / np.timedelta64(1, "D")
        return np.asarray(days, dtype=float) / DAYS_PER_YEAR
    idx = pd.DatetimeIndex(pd.to_datetime(np.atleast_1d(dates)))
    return np.asarray((idx - origin) / pd.Timedelta(days=1), dtype=float) / DAYS_PER_YEAR


def to_dates(t, start: pd.Timestamp | str | None = None) -> pd.DatetimeIndex:
    """Convert years since ``start`` back to dates (rounded to the day).

    Parameters
    ----------
    t : array-like of float
        Years since ``start``.
    start : Timestamp or str, optional
        Origin of the time axis.

    Returns
    -------
    pandas.DatetimeIndex
    """
    origin = pd.Timestamp(start) if start is not None else ROLLOUT_START
    days = np.round(np.asarray(t, dtype=float) * DAYS_PER_YEAR)
    finite = np.isfinite(days)
    if origin.tz is None and days.ndim == 1 and np.all(np.abs(days[finite]) < 1e6):
        # Whole days added to the origin's day in numpy (NaN -> NaT): the numbers of the
        # pandas form below, without its per-call overhead (0.5 ms; a batch converts a
        # few times per region).
        out = np.full(days.shape, np.datetime64("NaT"), dtype=_dates_dtype(origin.unit))
        out[finite] = origin.normalize().to_datetime64() + days[finite].astype(np.int64).astype("timedelta64[D]")
        return pd.DatetimeIndex(out)
    return (origin + pd.to_timedelta(days, unit="D")).normalize()


@functools.lru_cache(maxsize=8)
def _dates_dtype(unit: str) -> np.dtype:
    """The dtype pandas gives ``origin + to_timedelta(days, unit="D")`` for an origin of
    this resolution (pandas' own rule, asked once per resolution)."""
    origin = pd.Timestamp("2000-01-01").as_unit(unit)
    return (origin + pd.to_timedelta(np.zeros(1), unit="D")).dtype
