"""Loading and validating IKD observations and the regions table.

The observations frame
----------------------
:func:`load_observations` returns one tidy :class:`pandas.DataFrame`, one row per source
row, sorted by ``region_code`` then ``date``.  This is the one schema every other part of
ikdsim reads (the synthetic generator in :mod:`ikdsim.synthetic` emits it too):

=================  ===========  ===========================================================
column             dtype        meaning
=================  ===========  ===========================================================
region_code        str          Kemendagri code: ``NN`` province, ``NN.NN`` regency/city,
                                ``ID`` the nation
region_name        str          as the source (or the regions table) names it
level              str          ``national``, ``province`` or ``regency``
date               datetime64   the date the figure refers to
date_precision     str          ``day``, ``month`` or ``approx``
activations        float        reported cumulative count (NaN when the source gives none)
denominator        float        the source's own base, as reported (NaN if none)
denominator_kind   str          ``wajib_ktp``, ``ktp_el_recorded``, ``population`` or ""
percent            float        the source's own percent of that base (NaN if none)
base               float        the wajib-KTP base N used for ``share`` (NaN if none)
share              float        cumulative share of wajib KTP with IKD, 0-1 (NaN if none)
share_lo, share_hi float        the range of ``share`` that the source's rounding allows
share_rule         str          how ``share`` was derived (see :data:`SHARE_RULES`)
approximate        bool         the source rounds ("sekitar", "lebih dari", whole percent)
exclude            bool         kept for the record, not to be fitted
source_url         str          where the figure comes from
note               str          what to know about it
source_file        str          the file the row was read from
source_row         int          the row number as a spreadsheet shows it (header = row 1)
=================  ===========  ===========================================================

Share rules
-----------
``share`` is the cumulative share of the wajib-KTP base with IKD.  The first rule that
applies to a row gives it (:data:`SHARE_RULES` holds these sentences by ``share_rule``):

``count/regions``
    A count exists and the region has a ``wajib_ktp`` in the regions table:
    share = count / regions.wajib_ktp.  The count is the better figure when sources
    disagree on denominators (Samarinda's stated base 186,535 is wrong; the regions table
    gives 591,269); a stated wajib-KTP base more than 20% off the table's is a warning.
``count/own_denominator``
    A count exists, the region has no ``wajib_ktp`` in the regions table, and a
    ``wajib_ktp`` denominator is given on this row or another row of the region (the
    nearest in date): share = count / that denominator.  The national rows (``ID``) work
    this way: one row gives 201,050,000.
``count/implied_denominator``
    A count and a percent of wajib KTP, no denominator anywhere: base = count /
    (percent / 100), from this row or the nearest row of the region giving both.
``percent``
    Only a percent of wajib KTP (an empty ``denominator_kind`` next to a percent or a
    denominator is taken as ``wajib_ktp``, with a warning): share = percent / 100; base =
    the row's denominator, else the regions table's wajib KTP, else NaN.
``percent_converted``
    A percent of ``population`` or ``ktp_el_recorded``: share = percent / 100 x (the row's
    denominator, or regions.population for ``population``) / regions.wajib_ktp.  A
    ``ktp_el_recorded`` percent with no denominator is taken as a percent of wajib KTP
    (e-KTP recording in Kaltim is about 99%).

If none applies, ``share`` is NaN (a warning); a region with no denominator anywhere (rows
or regions table) and no percent is an error.

``share_lo`` and ``share_hi`` give the range the source's rounding allows, clipped to
[0, 1].  An exact count: lo = hi = share.  An approximate count: +- one unit of its last
significant digit (590000 -> +-10000, 11000 -> +-1000, 4650 -> +-10) but at least 1% of the
count.  An exact percent: +- half a unit of its last written decimal ("14.97" and "3.40" ->
+-0.005 points).  An approximate percent: +- one unit of its last written digit ("14" ->
+-1 point).  Converted shares scale the same way.

Input files
-----------
CSV (``,`` or ``;`` between cells; decimal point, or decimal comma with ``.`` thousands
separators; UTF-8 or Latin-1) or ``.xlsx`` (first sheet), header in row 1.  Required
columns: ``region_code``, ``as_of`` and at least one of ``activations`` and ``percent``.
Optional, with defaults: ``region_name`` (from the regions table), ``level`` (from the
code), ``date_precision`` (``day``), ``denominator``, ``denominator_kind``, ``approximate``
(false), ``exclude`` (false), ``source_url``, ``note``.  Dates are ``YYYY-MM-DD``,
``DD/MM/YYYY`` or Excel dates.  Other columns are ignored with a warning.  Region codes are
read as text: a code a spreadsheet turned into a number with one decimal (``64.1``) is
ambiguous and reported as malformed.

Validation
----------
:func:`validate_observations` collects every problem in one pass, each naming the file, the
row as a spreadsheet shows it (header = row 1), the column, the value and what would be
right (:class:`~ikdsim.errors.Problem`).  Errors: missing required columns; unparseable or
future dates; negative, fractional or non-numeric counts; percents outside 0-100; a count
above its denominator; malformed region codes; a region with no denominator anywhere and no
percent; two rows for one region and date with different figures (unless one is excluded);
a share falling below an earlier one by more than rounding allows when both dates are exact
to the day; an empty file; a file that is not a table.  Warnings: unknown columns; a
decrease that rounding or an imprecise date explains (naming both rows); an assumed
denominator kind; a stated base far from the regions table's.  A column named like a
personal identifier (``nik``, ``nama``, ``name``, ``nama_lengkap``, ...) or holding 16-digit
numbers makes the file refused: ikdsim works on aggregates only.  Input files are only ever
read.

The regions table
-----------------
:func:`load_regions` returns the columns of ``data/regions.csv`` (:data:`REGION_COLUMNS`):
``region_code`` and the text columns as str, ``population``, ``wajib_ktp``, ``kecamatan``,
``kelurahan`` and ``desa`` as float, ``population_as_of`` and ``wajib_ktp_as_of`` as
datetime64.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from .errors import DataError, DataWarning, Problem
from .io import display_name, read_table
from .validation import (
    INPUT_COLUMNS,
    NUMERIC_COLUMNS,
    OBSERVATION_COLUMNS,
    REGION_COLUMNS,
    REGION_NUMBERS,
    SHARE_RULES,
    ValidationReport,
    check_observations,
    check_regions,
    region_summary,
)

__all__ = [
    "OBSERVATION_COLUMNS",
    "REGION_COLUMNS",
    "SHARE_RULES",
    "DataError",
    "DataWarning",
    "Problem",
    "ValidationReport",
    "default_data_dir",
    "default_observations_path",
    "default_regions_path",
    "load_observations",
    "load_regions",
    "region_summary",
    "validate_observations",
    "validate_regions",
]

OBSERVATIONS_FILE = "ikd_observations.csv"
REGIONS_FILE = "regions.csv"

PathLike = str | Path
RegionsArg = PathLike | pd.DataFrame | None


def default_data_dir() -> Path:
    """The shipped ``data/`` folder (at the repository root, next to the package).

    Raises
    ------
    FileNotFoundError
        If ``data/ikd_observations.csv`` is not there (e.g. a non-editable install).
    """
    here = Path(__file__).resolve().parents[1] / "data"
    if not (here / OBSERVATIONS_FILE).is_file():
        raise FileNotFoundError(
            f"shipped data not found: expected {here / OBSERVATIONS_FILE}; pass a path instead"
        )
    return here


def default_observations_path() -> Path:
    """``data/ikd_observations.csv``, the shipped observations."""
    return default_data_dir() / OBSERVATIONS_FILE


def default_regions_path() -> Path:
    """``data/regions.csv``, the shipped regions table."""
    return default_data_dir() / REGIONS_FILE


def validate_regions(path: PathLike | None = None) -> ValidationReport:
    """Validate a regions table, collecting every problem (never raises for data problems).

    Parameters
    ----------
    path : str or Path, optional
        A CSV or ``.xlsx`` regions table; default the shipped ``data/regions.csv``.

    Returns
    -------
    ValidationReport
        ``frame`` is the regions frame (see :func:`load_regions`) or None.
    """
    path = Path(path) if path is not None else default_regions_path()
    try:
        table = read_table(path, numeric_columns=REGION_NUMBERS)
    except DataError as exc:
        return ValidationReport(display_name(path), None, exc.problems)
    return check_regions(table)


def validate_observations(
    path: PathLike | None = None, *, regions: RegionsArg = None
) -> ValidationReport:
    """Validate an observations file, collecting every problem in one pass.

    Never raises for problems in the data: they are in the report.

    Parameters
    ----------
    path : str or Path, optional
        A CSV or ``.xlsx`` file; default the shipped ``data/ikd_observations.csv``.
    regions : str, Path or DataFrame, optional
        The regions table (a file, or a frame from :func:`load_regions`); default the
        shipped ``data/regions.csv``.  Problems in a regions file are reported too.

    Returns
    -------
    ValidationReport
        ``frame`` (the observations frame, or None if the file is unreadable),
        ``problems``, ``errors``, ``warnings``, ``ok`` and ``regions``.
    """
    path = Path(path) if path is not None else default_observations_path()
    problems: list[Problem] = []
    if isinstance(regions, pd.DataFrame):
        regions_frame, regions_name = regions, "(given frame)"
    else:
        rep = validate_regions(regions)
        problems.extend(rep.problems)
        regions_frame, regions_name = rep.frame, rep.file
    try:
        table = read_table(path, numeric_columns=NUMERIC_COLUMNS)
    except DataError as exc:
        return ValidationReport(display_name(path), None, problems + exc.problems, regions_frame)
    report = check_observations(table, regions_frame, regions_name=regions_name)
    report.problems[:0] = problems
    return report


def _warn(problems: list[Problem]) -> None:
    for p in problems:
        if not p.is_error:
            warnings.warn(str(p), DataWarning, stacklevel=3)


def load_observations(path: PathLike | None = None, *, regions: RegionsArg = None) -> pd.DataFrame:
    """Load IKD observations into the tidy frame described in this module.

    Parameters
    ----------
    path : str or Path, optional
        A CSV or ``.xlsx`` file; default the shipped ``data/ikd_observations.csv``.
    regions : str, Path or DataFrame, optional
        The regions table; default the shipped ``data/regions.csv``.  A region that is not
        in it works when its rows carry their own denominator or percents.

    Returns
    -------
    DataFrame
        Columns :data:`OBSERVATION_COLUMNS`, sorted by ``region_code`` then ``date``;
        ``frame.attrs["problems"]`` lists the warnings.

    Raises
    ------
    DataError
        Listing every error found (see :func:`validate_observations`).

    Warns
    -----
    DataWarning
        One per warning (e.g. a decrease that rounding explains).

    Examples
    --------
    >>> obs = load_observations()  # doctest: +SKIP
    >>> obs.loc[obs.region_code == "64.09", "share"].iloc[-1]  # doctest: +SKIP
    0.1497
    """
    report = validate_observations(path, regions=regions)
    report.raise_for_errors()
    _warn(report.warnings)
    frame = report.frame
    frame.attrs["problems"] = report.warnings
    return frame


def load_regions(path: PathLike | None = None) -> pd.DataFrame:
    """Load the regions table (default the shipped ``data/regions.csv``).

    Parameters
    ----------
    path : str or Path, optional
        A CSV or ``.xlsx`` file with the columns of ``data/regions.csv``
        (``region_code`` and ``wajib_ktp`` required).

    Returns
    -------
    DataFrame
        Columns :data:`REGION_COLUMNS`: ``region_code`` and text as str, numbers as float,
        dates as datetime64; ``frame.attrs["problems"]`` lists the warnings.

    Raises
    ------
    DataError
        Listing every error found.
    """
    report = validate_regions(path)
    report.raise_for_errors()
    _warn(report.warnings)
    frame = report.frame
    frame.attrs["problems"] = report.warnings
    return frame
