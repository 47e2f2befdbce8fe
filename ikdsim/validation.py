"""Checks for IKD observation and regions tables: one pass, every problem.

:func:`check_observations` turns a :class:`~ikdsim.io.RawTable` of text cells into the tidy
observations frame (schema in :mod:`ikdsim.data`) and a list of
:class:`~ikdsim.errors.Problem`, never raising for data problems.  It checks, in order:

1. privacy: a column named like a personal identifier (``nik``, ``nama``, ``name``,
   ``nama_lengkap``, ``full_name``, ``nik_ktp``, ...) or holding 16-digit numbers refuses
   the file (ikdsim works on aggregates only);
2. the header: required columns (``region_code``, ``as_of``, and ``activations`` or
   ``percent``), unknown columns (warning), duplicated columns;
3. every cell: region codes (``NN``, ``NN.NN``, ``ID``), dates (parseable, not in the
   future), counts (whole numbers >= 0), denominators (whole numbers > 0), percents
   (0-100), flags, and a count above its denominator;
4. every region: a base for its share (a denominator somewhere, a percent, or the regions
   table), then the share of each row by :data:`SHARE_RULES`;
5. across rows: two rows for one region and date with different figures, and decreases
   of the share over time (an error when rounding and imprecise dates cannot explain it,
   a warning when they can).

Cell parsers (``parse_*``) are small pure functions raising :class:`CellError`.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import DataError, Problem
from .io import RawTable

#: How ``share`` (cumulative share of wajib KTP with IKD) is derived, tried in this order.
SHARE_RULES: dict[str, str] = {
    "count/regions": (
        "a count exists and the region has a wajib_ktp in the regions table: share = count / "
        "regions.wajib_ktp (the count is the better figure when sources disagree on "
        "denominators, e.g. Samarinda's stated base 186,535 against 591,269)"
    ),
    "count/own_denominator": (
        "a count exists, the region has no wajib_ktp in the regions table, and a wajib_ktp "
        "denominator is given on this row or on another row of the same region (the nearest "
        "in date): share = count / that denominator"
    ),
    "count/implied_denominator": (
        "a count and a percent of wajib KTP but no denominator anywhere: base = count / "
        "(percent / 100), from this row or the nearest row of the region giving both"
    ),
    "percent": (
        "only a percent of wajib KTP (an empty denominator_kind is taken as wajib_ktp, with a "
        "warning): share = percent / 100; base = the row's denominator, else the regions "
        "table's wajib_ktp (NaN if neither)"
    ),
    "percent_converted": (
        "a percent of population or of ktp_el_recorded, converted to wajib KTP: share = "
        "percent / 100 x (the row's denominator, or regions.population for population) / "
        "regions.wajib_ktp; a ktp_el_recorded percent with no denominator is taken as a "
        "percent of wajib KTP, since e-KTP recording in Kaltim is about 99%"
    ),
    "": "no rule applies: share is NaN",
}

#: Columns of the observations frame, in order (see :mod:`ikdsim.data`).
OBSERVATION_COLUMNS: tuple[str, ...] = (
    "region_code", "region_name", "level", "date", "date_precision", "activations",
    "denominator", "denominator_kind", "percent", "base", "share", "share_lo", "share_hi",
    "share_rule", "approximate", "exclude", "source_url", "note", "source_file", "source_row",
)  # fmt: skip

#: Columns an observations file may have.
INPUT_COLUMNS: tuple[str, ...] = (
    "region_code", "region_name", "level", "as_of", "date_precision", "activations",
    "denominator", "denominator_kind", "percent", "approximate", "exclude", "source_url", "note",
)  # fmt: skip
REQUIRED_COLUMNS = ("region_code", "as_of")
FIGURE_COLUMNS = ("activations", "percent")
NUMERIC_COLUMNS = ("activations", "denominator", "percent")

#: Columns of the regions table (``data/regions.csv``), in order.
REGION_COLUMNS: tuple[str, ...] = (
    "region_code", "bps_code", "name", "kind", "province_code", "population",
    "population_as_of", "wajib_ktp", "wajib_ktp_as_of", "wajib_ktp_basis", "kecamatan",
    "kelurahan", "desa", "wajib_ktp_source",
)  # fmt: skip
REGION_REQUIRED = ("region_code", "wajib_ktp")
REGION_NUMBERS = ("population", "wajib_ktp", "kecamatan", "kelurahan", "desa")
REGION_DATES = ("population_as_of", "wajib_ktp_as_of")

LEVELS = ("national", "province", "regency")
DATE_PRECISIONS = ("day", "month", "approx")
DENOMINATOR_KINDS = ("wajib_ktp", "ktp_el_recorded", "population")

#: Whole column names that identify persons (compared after lower-casing, ``-``/space -> ``_``).
PRIVATE_COLUMN_NAMES = frozenset(
    {
        "nik", "nama", "name", "nama_lengkap", "namalengkap", "full_name", "fullname",
        "first_name", "last_name", "person_name", "nama_penduduk", "nama_warga", "nik_ktp",
        "no_nik", "nomor_nik", "nkk", "no_kk", "nomor_kk", "no_ktp", "nomor_ktp", "nama_ktp",
        "tanggal_lahir", "tgl_lahir", "date_of_birth", "alamat", "address", "email", "no_hp",
        "phone",
    }
)  # fmt: skip
_PRIVATE_TOKENS = frozenset({"nik", "nkk"})

CODE_EXPECTED = "'NN' (province), 'NN.NN' (regency or city) or 'ID' (nation), e.g. '64.09'"
DATE_EXPECTED = "a date as YYYY-MM-DD (or DD/MM/YYYY)"
COUNT_EXPECTED = "a whole number >= 0"
#: A wajib-KTP denominator this far from the regions table's is reported (warning).
DENOMINATOR_TOLERANCE = 0.20


# --------------------------------------------------------------------------- cell parsers
class CellError(ValueError):
    """A cell that cannot be read: ``message`` says why, ``expected`` what would be right."""

    def __init__(self, message: str, expected: str = ""):
        super().__init__(message)
        self.message, self.expected = message, expected


@dataclass(frozen=True)
class Number:
    """A number as written: its value, digits after the point, and last-digit unit.

    ``unit`` is one unit of the last significant digit: 590000 -> 10000, 4650 -> 10,
    20229 -> 1, 14.97 -> 0.01, 3.40 -> 0.01.
    """

    value: float
    decimals: int
    unit: float


_PLAIN = re.compile(r"[-+]?(\d+)(?:\.(\d*))?|[-+]?\.(\d+)")


def parse_region_code(text: str) -> str:
    """A Kemendagri region code: ``NN``, ``NN.NN`` or ``ID``.

    A code a spreadsheet turned into a number is accepted only with two decimals
    (``64,09`` -> ``64.09``); ``64.1`` is ambiguous (64.10?) and refused.

    >>> parse_region_code(" 64.09 "), parse_region_code("id"), parse_region_code("64,10")
    ('64.09', 'ID', '64.10')
    """
    s = text.strip()
    if s.upper() == "ID":
        return "ID"
    if re.fullmatch(r"\d{2},\d{2}", s):  # a number with a decimal comma; two decimals are unambiguous
        s = s.replace(",", ".")
    if re.fullmatch(r"\d{2}(\.\d{2})?", s):
        return s
    if not s:
        raise CellError("missing region code", CODE_EXPECTED)
    if re.fullmatch(r"\d{2}[.,]\d", s):
        raise CellError(
            "malformed region code: ambiguous, a spreadsheet may have turned e.g. '64.10' "
            "into a number",
            "the code written as text with two digits after the point, e.g. '64.10'",
        )
    if re.fullmatch(r"\d{4}", s):
        raise CellError("malformed region code: this looks like a BPS code", CODE_EXPECTED)
    raise CellError("malformed region code", CODE_EXPECTED)


def parse_number(text: str, *, decimal_comma: bool = False) -> Number | None:
    """Read a number as written (None for an empty cell).

    With ``decimal_comma``, ``"14,97"`` is 14.97 and ``"20.229"`` is 20229.  Without it,
    ``"20,229"`` is 20229 and ``"14,97"`` is still read as 14.97.  A trailing ``%`` is
    allowed.

    >>> parse_number("590000"), parse_number("3,40", decimal_comma=True)
    (Number(value=590000.0, decimals=0, unit=10000.0), Number(value=3.4, decimals=2, unit=0.01))
    """
    s = text.strip().replace("\u00a0", "").replace(" ", "")
    if s.endswith("%"):
        s = s[:-1]
    if not s:
        return None
    if decimal_comma:
        if re.fullmatch(r"[-+]?\d{1,3}(\.\d{3})+(,\d+)?", s):
            s = s.replace(".", "")
        s = s.replace(",", ".")
    elif re.fullmatch(r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?", s):
        s = s.replace(",", "")
    elif re.fullmatch(r"[-+]?\d+,\d+", s):
        s = s.replace(",", ".")
    m = _PLAIN.fullmatch(s)
    if not m:
        raise CellError("not a number", "a number")
    value = float(s)
    whole, frac = m.group(1) or "0", m.group(2) if m.group(3) is None else m.group(3)
    frac = frac or ""
    if frac.strip("0"):
        unit = 10.0 ** -len(frac)
    else:
        digits = whole.lstrip("0")
        unit = 10.0 ** (len(digits) - len(digits.rstrip("0"))) if digits else 1.0
    return Number(value, len(frac), float(unit))


def parse_count(text: str, *, decimal_comma: bool = False, positive: bool = False) -> Number | None:
    """A count: a whole number >= 0 (> 0 with ``positive``), or None for an empty cell."""
    expected = "a whole number > 0" if positive else COUNT_EXPECTED
    try:
        n = parse_number(text, decimal_comma=decimal_comma)
    except CellError:
        raise CellError("not a number", expected) from None
    if n is None:
        return None
    if n.value < 0:
        raise CellError("negative count", expected)
    if not n.value.is_integer():
        hint = expected + " (remove the thousands separator if '.' is one here)"
        raise CellError("fractional count", hint if re.search(r"\.\d{3}$", text.strip()) else expected)
    if positive and n.value == 0:
        raise CellError("zero denominator", expected)
    return n


def parse_percent(text: str, *, decimal_comma: bool = False) -> Number | None:
    """A percent between 0 and 100, or None for an empty cell."""
    try:
        n = parse_number(text, decimal_comma=decimal_comma)
    except CellError:
        raise CellError("not a number", "a percent between 0 and 100") from None
    if n is not None and not 0 <= n.value <= 100:
        raise CellError("percent outside 0-100", "a percent between 0 and 100")
    return n


def parse_date(text: str, *, today: _dt.date | None = None) -> _dt.date:
    """A date: ``YYYY-MM-DD``, ``DD/MM/YYYY`` (Indonesian order) or an Excel serial number.

    >>> parse_date("31/12/2024"), parse_date("45657")
    (datetime.date(2024, 12, 31), datetime.date(2024, 12, 31))
    """
    s = text.strip()
    if not s:
        raise CellError("missing date", DATE_EXPECTED)
    if m := re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?", s):
        y, mo, d = (int(g) for g in m.groups())
    elif m := re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", s):
        d, mo, y = (int(g) for g in m.groups())
    elif re.fullmatch(r"\d{5}(?:\.0*)?", s):
        date = _dt.date(1899, 12, 30) + _dt.timedelta(days=int(float(s)))
        y, mo, d = date.year, date.month, date.day
    else:
        raise CellError("not a date", DATE_EXPECTED)
    try:
        date = _dt.date(y, mo, d)
    except ValueError:
        raise CellError("not a calendar date", DATE_EXPECTED) from None
    today = today or _dt.date.today()
    if date > today:
        raise CellError("date in the future", f"a date on or before today ({today.isoformat()})")
    return date


_TRUE = {"true", "t", "yes", "y", "ya", "1", "1.0", "benar"}
_FALSE = {"false", "f", "no", "n", "tidak", "0", "0.0", "salah", ""}


def parse_bool(text: str) -> bool:
    """A flag: true/false, yes/no, ya/tidak, 1/0; empty is False."""
    s = text.strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise CellError("not a true/false flag", "true or false (empty means false)")


def parse_choice(text: str, choices: Iterable[str], default: str) -> str:
    """One of ``choices`` (case-insensitive); empty gives ``default``."""
    s = text.strip().lower()
    if not s:
        return default
    choices = tuple(choices)
    if s not in choices:
        raise CellError("not a known value", "one of " + ", ".join(repr(c) for c in choices))
    return s


def level_of(code: str) -> str:
    """``national``, ``province`` or ``regency`` from the form of a region code."""
    return "national" if code == "ID" else ("province" if "." not in code else "regency")


# --------------------------------------------------------------------------- the report
@dataclass
class ValidationReport:
    """The outcome of validating a file: the frame (None if unreadable) and every problem.

    Attributes
    ----------
    file : str
        The file as problems name it.
    frame : DataFrame or None
        The tidy frame (observations schema, or the regions table); rows with errors have
        NaN/NaT where a cell could not be read.
    problems : list of Problem
        Errors and warnings, in the order found.
    regions : DataFrame or None
        The regions table used (observations only).
    """

    file: str
    frame: pd.DataFrame | None
    problems: list[Problem] = field(default_factory=list)
    regions: pd.DataFrame | None = None

    @property
    def errors(self) -> list[Problem]:
        """The problems of severity ``error``."""
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        """The problems of severity ``warning``."""
        return [p for p in self.problems if not p.is_error]

    @property
    def ok(self) -> bool:
        """True when there are no errors (warnings allowed)."""
        return not self.errors

    def raise_for_errors(self) -> None:
        """Raise :class:`~ikdsim.errors.DataError` listing every error, if any."""
        if self.errors:
            raise DataError(self.errors)


class _Collector:
    """Collects problems for one file."""

    def __init__(self, name: str):
        self.name = name
        self.problems: list[Problem] = []

    def add(self, row, column, value, message, expected="", severity="error") -> None:
        self.problems.append(Problem(self.name, row, column, value, message, expected, severity))

    def warn(self, row, column, value, message, expected="") -> None:
        self.add(row, column, value, message, expected, "warning")

    def cell(self, row: int, column: str, text: str, parse: Callable, *args, **kw):
        """``parse(text, ...)``, recording a problem and returning None if it fails."""
        try:
            return parse(text, *args, **kw)
        except CellError as exc:
            self.add(row, column, text, exc.message, exc.expected)
            return None


def _normal_name(column: str) -> str:
    return re.sub(r"[\s\-.]+", "_", column.strip().lower())


def check_privacy(table: RawTable, *, names: bool = True) -> list[Problem]:
    """Refuse personal identifiers: columns named like one, or holding 16-digit numbers.

    Parameters
    ----------
    table : RawTable
    names : bool
        Check column names too (off for the regions table, whose ``name`` is a region's).

    Returns
    -------
    list of Problem
        One error per offending column; the identifiers themselves are never echoed.
    """
    col = _Collector(table.name)
    why = "ikdsim works on aggregates only; remove the column"
    for j, column in enumerate(table.header):
        norm = _normal_name(column)
        if names and (norm in PRIVATE_COLUMN_NAMES or _PRIVATE_TOKENS & set(norm.split("_"))):
            col.add(1, column, None, "a column named like a personal identifier: " + why,
                    "aggregate columns only (region_code, as_of, activations, ...)")
            continue
        for row, cells in table.rows:
            digits = re.sub(r"[\s.\-']", "", cells[j])
            if re.fullmatch(r"\d{16}", digits):
                col.add(row, column, "<16-digit number>",
                        "a 16-digit number, like a NIK (personal identifier): " + why,
                        "aggregate figures only")
                break
    return col.problems


def _check_header(table: RawTable, col: _Collector, known, required, need_one=()) -> bool:
    """Record header problems; return False if the table cannot be read row by row."""
    if not any(h in known for h in table.header):
        first = table.header[0] if table.header else None
        col.add(1, first, None,
                "not a table of this kind: no known column in the header row",
                "a header row with columns " + ", ".join(required + tuple(need_one)))
        return False
    fatal = False
    for h in dict.fromkeys(table.header):
        if table.header.count(h) > 1:
            col.add(1, h, None, "duplicated column", "each column once")
            fatal = True
    for h in table.header:
        if h not in known:
            col.warn(1, h or "(unnamed)", None, "unknown column, ignored",
                     "one of " + ", ".join(known))
    for r in required:
        if r not in table.header:
            col.add(1, r, None, "missing required column", f"a column {r!r} in the header row")
            fatal = True
    if need_one and not any(c in table.header for c in need_one):
        col.add(1, need_one[0], None, "missing required column",
                "a column " + " or ".join(repr(c) for c in need_one))
        fatal = True
    if not table.rows:
        col.add(2, None, None, "empty table: a header but no data rows",
                "at least one data row below the header")
        fatal = True
    return not fatal


# --------------------------------------------------------------------------- observations
def _fmt(x: float) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.0f}"


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _parse_observation_rows(table: RawTable, col: _Collector, today: _dt.date) -> list[dict]:
    dc = table.decimal_comma
    records = []
    for row, cells in table.rows:
        raw = dict(zip(table.header, cells))
        get = lambda c: raw.get(c, "")  # noqa: E731
        n_before = len(col.problems)
        code = col.cell(row, "region_code", get("region_code"), parse_region_code)
        date = col.cell(row, "as_of", get("as_of"), parse_date, today=today)
        precision = col.cell(row, "date_precision", get("date_precision"), parse_choice,
                             DATE_PRECISIONS, "day")
        count = col.cell(row, "activations", get("activations"), parse_count, decimal_comma=dc)
        denom = col.cell(row, "denominator", get("denominator"), parse_count,
                         decimal_comma=dc, positive=True)
        kind = col.cell(row, "denominator_kind", get("denominator_kind"), parse_choice,
                        DENOMINATOR_KINDS, "")
        pct = col.cell(row, "percent", get("percent"), parse_percent, decimal_comma=dc)
        approximate = col.cell(row, "approximate", get("approximate"), parse_bool)
        exclude = col.cell(row, "exclude", get("exclude"), parse_bool)
        level = col.cell(row, "level", get("level"), parse_choice, LEVELS, "")
        if code and level and level != level_of(code):
            col.warn(row, "level", get("level"), f"does not match the region code {code!r}",
                     repr(level_of(code)))
        if code and not level:
            level = level_of(code)
        if not get("activations").strip() and not get("percent").strip():
            col.add(row, "activations", "", "the row gives no figure",
                    "a count in 'activations' or a percent in 'percent'")
        if count and denom and count.value > denom.value:
            col.add(row, "activations", get("activations"),
                    f"count above its denominator {_fmt(denom.value)}",
                    f"a count <= {_fmt(denom.value)} (or a larger denominator)")
        if not kind and ((pct is not None and get("percent").strip())
                         or (denom is not None and get("denominator").strip())):
            if kind is not None:
                col.warn(row, "denominator_kind", "",
                         "no denominator kind given with a percent or denominator; "
                         "assumed 'wajib_ktp'", "one of " + ", ".join(DENOMINATOR_KINDS))
            kind = "wajib_ktp"
        records.append(dict(
            region_code=code or "", region_name=get("region_name").strip(), level=level or "",
            date=date, date_precision=precision or "day",
            activations=count.value if count else np.nan, count_unit=count.unit if count else 1.0,
            denominator=denom.value if denom else np.nan, denominator_kind=kind or "",
            percent=pct.value if pct else np.nan, pct_decimals=pct.decimals if pct else 0,
            approximate=bool(approximate), exclude=bool(exclude),
            source_url=get("source_url").strip(), note=get("note").strip(),
            source_file=table.name, source_row=row, ok=len(col.problems) == n_before
            or all(not p.is_error for p in col.problems[n_before:]), raw=raw,
        ))  # fmt: skip
    return records


@dataclass
class _RegionBase:
    """What is known about one region's bases."""

    wajib_ktp: float = np.nan
    population: float = np.nan
    name: str = ""
    own: list[tuple[_dt.date, float]] = field(default_factory=list)  # row wajib_ktp denominators
    implied: list[tuple[_dt.date, float]] = field(default_factory=list)  # count / (pct / 100)


def _nearest(pairs: list[tuple[_dt.date, float]], date: _dt.date | None) -> float:
    if not pairs:
        return np.nan
    if date is None:
        return pairs[0][1]
    return min(pairs, key=lambda p: (abs((p[0] - date).days), p[0] > date))[1]


def _count_range(rec: dict) -> tuple[float, float]:
    c = rec["activations"]
    if not rec["approximate"]:
        return c, c
    half = max(rec["count_unit"], 0.01 * c)
    return max(c - half, 0.0), c + half


def _percent_range(rec: dict) -> tuple[float, float]:
    p, step = rec["percent"], 10.0 ** -rec["pct_decimals"]
    half = step if rec["approximate"] else step / 2
    return max(p - half, 0.0), min(p + half, 100.0)


def derive_share(rec: dict, ctx: _RegionBase) -> tuple[float, float, float, float, str]:
    """``(base, share, share_lo, share_hi, rule)`` for one parsed row by :data:`SHARE_RULES`."""
    count, pct, denom, kind = rec["activations"], rec["percent"], rec["denominator"], rec["denominator_kind"]
    date = rec["date"]
    has = lambda x: not (x is None or math.isnan(x))  # noqa: E731
    if has(count):
        base, rule = np.nan, ""
        if has(ctx.wajib_ktp):
            base, rule = ctx.wajib_ktp, "count/regions"
        elif has(denom) and kind == "wajib_ktp":
            base, rule = denom, "count/own_denominator"
        elif ctx.own:
            base, rule = _nearest(ctx.own, date), "count/own_denominator"
        elif has(pct) and pct > 0 and kind == "wajib_ktp":
            lo, hi = _percent_range(rec)
            return count / (pct / 100), pct / 100, lo / 100, hi / 100, "count/implied_denominator"
        elif ctx.implied:
            base, rule = _nearest(ctx.implied, date), "count/implied_denominator"
        if rule:
            lo, hi = _count_range(rec)
            return base, count / base, lo / base, hi / base, rule
    if has(pct):
        lo, hi = _percent_range(rec)
        if kind == "wajib_ktp":
            base = denom if has(denom) else ctx.wajib_ktp
            return base, pct / 100, lo / 100, hi / 100, "percent"
        if kind == "population":
            pop = denom if has(denom) else ctx.population
            if has(pop) and has(ctx.wajib_ktp):
                f = pop / ctx.wajib_ktp
                return ctx.wajib_ktp, pct / 100 * f, lo / 100 * f, hi / 100 * f, "percent_converted"
        if kind == "ktp_el_recorded":
            if has(denom) and has(ctx.wajib_ktp):
                f = denom / ctx.wajib_ktp
                return ctx.wajib_ktp, pct / 100 * f, lo / 100 * f, hi / 100 * f, "percent_converted"
            base = ctx.wajib_ktp if has(ctx.wajib_ktp) else denom
            return base, pct / 100, lo / 100, hi / 100, "percent_converted"
    return np.nan, np.nan, np.nan, np.nan, ""


def _region_bases(records: list[dict], regions: pd.DataFrame | None) -> dict[str, _RegionBase]:
    table = {}
    if regions is not None and len(regions):
        for r in regions.itertuples(index=False):
            table[r.region_code] = r
    bases: dict[str, _RegionBase] = {}
    for rec in records:
        code = rec["region_code"]
        if not code or code in bases:
            continue
        r = table.get(code)
        b = _RegionBase()
        if r is not None:
            b.wajib_ktp = float(getattr(r, "wajib_ktp", np.nan))
            b.population = float(getattr(r, "population", np.nan))
            b.name = str(getattr(r, "name", "") or "")
        bases[code] = b
    for rec in records:
        b = bases.get(rec["region_code"])
        if b is None or rec["exclude"] or rec["date"] is None:
            continue
        if rec["denominator_kind"] == "wajib_ktp" and not math.isnan(rec["denominator"]):
            b.own.append((rec["date"], rec["denominator"]))
        c, p = rec["activations"], rec["percent"]
        if rec["denominator_kind"] == "wajib_ktp" and not math.isnan(c) and not math.isnan(p) and p > 0:
            b.implied.append((rec["date"], c / (p / 100)))
    return bases


def _check_bases(records, bases, col: _Collector, regions_name: str) -> set[str]:
    """A region with no denominator anywhere and no percent; denominators at odds.

    Returns the codes of the regions without any base.
    """
    seen, baseless = set(), set()
    by_region: dict[str, list[dict]] = {}
    for rec in records:
        by_region.setdefault(rec["region_code"], []).append(rec)
    for rec in records:
        code, b = rec["region_code"], bases.get(rec["region_code"])
        if b is None:
            continue
        if code not in seen:
            seen.add(code)
            rows = by_region[code]
            no_denom = all(math.isnan(r["denominator"]) for r in rows)
            no_pct = all(math.isnan(r["percent"]) for r in rows)
            if math.isnan(b.wajib_ktp) and no_denom and no_pct:
                baseless.add(code)
                where = f"not in the regions table {regions_name}" if regions_name else "no regions table"
                col.add(rec["source_row"], "denominator", rec["raw"].get("denominator", ""),
                        f"region {code!r} has no denominator anywhere and no percent "
                        f"({where}, no row gives a denominator or a percent)",
                        "a wajib_ktp denominator on one of its rows, a percent, "
                        "or a line for the region in the regions table")
        d = rec["denominator"]
        if (not rec["exclude"] and rec["denominator_kind"] == "wajib_ktp" and not math.isnan(d)
                and not math.isnan(b.wajib_ktp)
                and abs(d / b.wajib_ktp - 1) > DENOMINATOR_TOLERANCE):
            using = ("the share uses the count over the regions table's base"
                     if not math.isnan(rec["activations"]) else "the share uses the percent as stated")
            col.warn(rec["source_row"], "denominator", rec["raw"].get("denominator", ""),
                     f"the source's wajib-KTP base differs by {100 * (d / b.wajib_ktp - 1):+.0f}% "
                     f"from {_fmt(b.wajib_ktp)} in the regions table {regions_name}; {using}",
                     f"a base near {_fmt(b.wajib_ktp)}")
    return baseless


def _figure_column(rec: dict) -> str:
    return "activations" if rec["share_rule"].startswith("count") else "percent"


def _check_duplicates(records: list[dict], col: _Collector) -> None:
    groups: dict[tuple, list[dict]] = {}
    for rec in records:
        if rec["region_code"] and rec["date"] is not None:
            groups.setdefault((rec["region_code"], rec["date"]), []).append(rec)
    for (code, date), recs in groups.items():
        for k, later in enumerate(recs):
            for first in recs[:k]:
                if first["exclude"] or later["exclude"]:
                    continue
                diff = [c for c in ("activations", "percent")
                        if not math.isnan(first[c]) and not math.isnan(later[c]) and first[c] != later[c]]
                if diff:
                    c = diff[0]
                    col.add(later["source_row"], c, later["raw"].get(c, ""),
                            f"two rows for region {code!r} on {date}: differs from "
                            f"{col.name}:{first['source_row']} ({first['raw'].get(c, '')!r})",
                            "one figure per region and date, or exclude=true on one row")
                elif all(first["raw"].get(c, "") == later["raw"].get(c, "")
                         for c in ("activations", "percent", "denominator")):
                    col.warn(later["source_row"], "as_of", later["raw"].get("as_of", ""),
                             f"the same figures as {col.name}:{first['source_row']} for "
                             f"region {code!r} on {date} (duplicate row)", "each figure once")


def _check_decreases(records: list[dict], col: _Collector) -> None:
    """Shares falling over time, per region, over non-excluded rows with a share.

    An error when an earlier row's ``share_lo`` is above a later row's ``share_hi`` and both
    dates are exact to the day; otherwise a warning naming both rows.  Linear in the rows:
    each row is compared with running maxima over the strictly earlier dates.
    """
    by_region: dict[str, list[dict]] = {}
    for rec in records:
        if (rec["region_code"] and rec["date"] is not None and not rec["exclude"]
                and not math.isnan(rec["share"])):
            by_region.setdefault(rec["region_code"], []).append(rec)
    for recs in by_region.values():
        recs.sort(key=lambda r: (r["date"], r["source_row"]))
        top = lo_any = lo_day = None  # earlier rows: max share, max share_lo, same for day rows
        for _, same_date in itertools.groupby(recs, key=lambda r: r["date"]):
            group = list(same_date)
            for j in group:
                if top is None or top["share"] <= j["share"]:
                    continue
                c = _figure_column(j)
                day = j["date_precision"] == "day"
                if day and lo_day is not None and lo_day["share_lo"] > j["share_hi"]:
                    col.add(j["source_row"], c, j["raw"].get(c, ""),
                            f"share falls from {_describe(lo_day, col.name)} to "
                            f"{_describe(j, col.name)}, more than rounding allows, and both "
                            "dates are exact",
                            f"a cumulative figure of at least {_pct(lo_day['share_lo'])}, or "
                            "exclude=true on the wrong row")
                    continue
                if lo_any["share_lo"] > j["share_hi"]:
                    i = lo_any
                    imprecise = [f"row {r['source_row']} is {r['date_precision']}-precision"
                                 for r in (i, j) if r["date_precision"] != "day"]
                    why = "explained by an imprecise date (" + ", ".join(imprecise) + ")"
                else:
                    i, why = top, "explained by rounding (the ranges overlap)"
                col.warn(j["source_row"], c, j["raw"].get(c, ""),
                         f"share falls from {_describe(i, col.name)} to "
                         f"{_describe(j, col.name)}; {why}")
            for r in group:
                if top is None or r["share"] > top["share"]:
                    top = r
                if lo_any is None or r["share_lo"] > lo_any["share_lo"]:
                    lo_any = r
                if r["date_precision"] == "day" and (lo_day is None or r["share_lo"] > lo_day["share_lo"]):
                    lo_day = r


def _describe(rec: dict, name: str) -> str:
    """``data/x.csv:14 (2024-12-31, 14.34%, range 14.34-14.34%)``."""
    return (f"{name}:{rec['source_row']} ({rec['date']}, {_pct(rec['share'])}, range "
            f"{100 * rec['share_lo']:.2f}-{_pct(rec['share_hi'])})")


def _to_frame(records: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame([{c: r[c] for c in OBSERVATION_COLUMNS} for r in records],
                         columns=list(OBSERVATION_COLUMNS))
    for c in ("region_code", "region_name", "level", "date_precision", "denominator_kind",
              "share_rule", "source_url", "note", "source_file"):
        frame[c] = frame[c].astype(str)
    frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[us]")
    for c in ("activations", "denominator", "percent", "base", "share", "share_lo", "share_hi"):
        frame[c] = frame[c].astype("float64")
    for c in ("approximate", "exclude"):
        frame[c] = frame[c].astype(bool)
    frame["source_row"] = frame["source_row"].astype("int64")
    frame = frame.sort_values(["region_code", "date", "source_row"], kind="stable")
    return frame.reset_index(drop=True)


def check_observations(
    table: RawTable,
    regions: pd.DataFrame | None = None,
    *,
    regions_name: str = "",
    today: _dt.date | None = None,
) -> ValidationReport:
    """Validate an observations table and build the tidy frame, collecting every problem.

    Parameters
    ----------
    table : RawTable
        The file's cells (see :func:`ikdsim.io.read_table`).
    regions : DataFrame, optional
        The regions table (see :func:`ikdsim.load_regions`); None for none.
    regions_name : str
        How messages name the regions file.
    today : date, optional
        Dates after it are errors (default: today).

    Returns
    -------
    ValidationReport
        ``frame`` is None when the header makes the rows unreadable or privacy refuses it.
    """
    col = _Collector(table.name)
    col.problems.extend(table.problems)
    private = check_privacy(table)
    if private:
        col.problems.extend(private)
        return ValidationReport(table.name, None, col.problems, regions)
    if not _check_header(table, col, INPUT_COLUMNS, REQUIRED_COLUMNS, FIGURE_COLUMNS):
        return ValidationReport(table.name, None, col.problems, regions)
    records = _parse_observation_rows(table, col, today or _dt.date.today())
    bases = _region_bases(records, regions)
    baseless = _check_bases(records, bases, col, regions_name)
    for rec in records:
        b = bases.get(rec["region_code"], _RegionBase())
        rec["base"], rec["share"], rec["share_lo"], rec["share_hi"], rec["share_rule"] = (
            derive_share(rec, b) if rec["date"] is not None else (np.nan,) * 4 + ("",))
        for k in ("share", "share_lo", "share_hi"):
            if not math.isnan(rec[k]):
                rec[k] = min(max(rec[k], 0.0), 1.0)
        if not rec["region_name"]:
            rec["region_name"] = b.name
        if (rec["share_rule"] in ("count/regions", "count/own_denominator")
                and rec["activations"] > rec["base"]):
            col.add(rec["source_row"], "activations", rec["raw"].get("activations", ""),
                    f"count above the region's wajib-KTP base {_fmt(rec['base'])}",
                    f"a count <= {_fmt(rec['base'])}")
        if rec["ok"] and not rec["share_rule"] and not rec["exclude"] and (
                rec["region_code"] not in baseless) and (
                not math.isnan(rec["activations"]) or not math.isnan(rec["percent"])):
            c = "activations" if not math.isnan(rec["activations"]) else "percent"
            col.warn(rec["source_row"], c, rec["raw"].get(c, ""),
                     "no share can be derived for this row (no base to convert it)",
                     "a wajib_ktp denominator or percent, or the region in the regions table")
    _check_duplicates(records, col)
    _check_decreases(records, col)
    return ValidationReport(table.name, _to_frame(records), col.problems, regions)


# --------------------------------------------------------------------------- regions
def check_regions(table: RawTable, *, today: _dt.date | None = None) -> ValidationReport:
    """Validate a regions table (columns of ``data/regions.csv``) and build its frame.

    Returns
    -------
    ValidationReport
        ``frame`` has the :data:`REGION_COLUMNS`: codes and text as str, numbers as float,
        ``*_as_of`` as datetime64; None when the header makes the rows unreadable.
    """
    col = _Collector(table.name)
    col.problems.extend(table.problems)
    private = check_privacy(table, names=False)
    if private:
        col.problems.extend(private)
        return ValidationReport(table.name, None, col.problems)
    if not _check_header(table, col, REGION_COLUMNS, REGION_REQUIRED):
        return ValidationReport(table.name, None, col.problems)
    today = today or _dt.date.today()
    dc = table.decimal_comma
    out, first_row = [], {}
    for row, cells in table.rows:
        raw = dict(zip(table.header, cells))
        rec = {c: raw.get(c, "").strip() for c in REGION_COLUMNS}
        code = col.cell(row, "region_code", raw["region_code"], parse_region_code)
        rec["region_code"] = code or ""
        if code in first_row:
            col.add(row, "region_code", raw["region_code"],
                    f"region listed twice (also {col.name}:{first_row[code]})", "one row per region")
        elif code:
            first_row[code] = row
        for c in REGION_NUMBERS:
            n = col.cell(row, c, raw.get(c, ""), parse_count, decimal_comma=dc)
            rec[c] = n.value if n else np.nan
        for c in REGION_DATES:
            text = raw.get(c, "")
            d = col.cell(row, c, text, parse_date, today=today) if text.strip() else None
            rec[c] = d
        if rec["wajib_ktp"] > rec["population"]:
            col.add(row, "wajib_ktp", raw.get("wajib_ktp", ""),
                    f"wajib KTP above the population {_fmt(rec['population'])}",
                    f"a number <= {_fmt(rec['population'])}")
        out.append(rec)
    frame = pd.DataFrame(out, columns=list(REGION_COLUMNS))
    for c in REGION_COLUMNS:
        if c in REGION_NUMBERS:
            frame[c] = frame[c].astype("float64")
        elif c in REGION_DATES:
            frame[c] = pd.to_datetime(frame[c]).astype("datetime64[us]")
        else:
            frame[c] = frame[c].astype(str)
    return ValidationReport(table.name, frame.reset_index(drop=True), col.problems)


# --------------------------------------------------------------------------- summaries
def region_summary(frame: pd.DataFrame, regions: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per region: rows used and excluded, and the latest share.

    Parameters
    ----------
    frame : DataFrame
        An observations frame.
    regions : DataFrame, optional
        The regions table; its regions are listed too (with zero rows if none observed).

    Returns
    -------
    DataFrame
        Columns ``region_code, region_name, rows, excluded, latest_date, share, share_lo,
        share_hi, share_rule``; ``ID`` first, then by code.  The latest share is that of
        the latest non-excluded row with a share (NaN/NaT if none).
    """
    codes = list(dict.fromkeys(list(frame["region_code"]) + (
        list(regions["region_code"]) if regions is not None else [])))
    codes.sort(key=lambda c: (c != "ID", c))
    names = dict(zip(regions["region_code"], regions["name"])) if regions is not None else {}
    rows = []
    for code in codes:
        sub = frame[frame["region_code"] == code]
        used = sub[~sub["exclude"]]
        fit = used[used["share"].notna()].sort_values(["date", "source_row"])
        last = fit.iloc[-1] if len(fit) else None
        name = names.get(code) or next((n for n in sub["region_name"] if n), "")
        rows.append(dict(
            region_code=code, region_name=name, rows=len(used), excluded=int(sub["exclude"].sum()),
            latest_date=last["date"] if last is not None else pd.NaT,
            share=last["share"] if last is not None else np.nan,
            share_lo=last["share_lo"] if last is not None else np.nan,
            share_hi=last["share_hi"] if last is not None else np.nan,
            share_rule=last["share_rule"] if last is not None else "",
        ))  # fmt: skip
    return pd.DataFrame(rows, columns=["region_code", "region_name", "rows", "excluded",
                                       "latest_date", "share", "share_lo", "share_hi",
                                       "share_rule"])
