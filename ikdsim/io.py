"""Readers: a CSV or ``.xlsx`` file in, a table of text cells out.

Indonesian spreadsheet exports come in several dialects, and every cell is kept as the text
it was written as (so that ``"64.10"`` stays ``"64.10"`` and ``"3.40"`` keeps its two
decimals, which tell how much the figure was rounded):

- CSV with ``,`` or ``;`` (or tab) between cells, sniffed from the header line;
- a decimal comma (``14,97``, with ``20.229`` a thousands separator) when the delimiter is
  ``;`` and the numeric cells look like it (see :func:`detect_decimal_comma`);
- UTF-8 (with or without BOM), falling back to Windows-1252 / Latin-1;
- Excel ``.xlsx`` (first sheet): numbers are written back as text with the decimals their
  cell format shows, dates as ``YYYY-MM-DD``, booleans as ``true``/``false``.

The file is only ever opened for reading.  A file that cannot be read as a table raises
:class:`~ikdsim.errors.DataError` naming the file.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io as _io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DataError, Problem

__all__ = ["RawTable", "read_table", "display_name", "detect_decimal_comma"]

EXCEL_SUFFIXES = (".xlsx", ".xlsm")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls


@dataclass
class RawTable:
    """A table of text cells as read from a file.

    Attributes
    ----------
    path : Path
        The file.
    name : str
        How problems name the file (see :func:`display_name`).
    header : list of str
        Column names, stripped and lower-cased.
    rows : list of (int, list of str)
        Spreadsheet row number (header = row 1) and the cells, padded to the header width.
        Blank rows are left out (their numbers are skipped).
    kind : {'csv', 'xlsx'}
    delimiter, encoding : str or None
        What the CSV sniffing found (None for Excel).
    decimal_comma : bool
        Whether numbers use a decimal comma (and ``.`` as thousands separator).
    problems : list of Problem
        Non-fatal reading problems (e.g. a row with more cells than the header).
    """

    path: Path
    name: str
    header: list[str]
    rows: list[tuple[int, list[str]]]
    kind: str
    delimiter: str | None = None
    encoding: str | None = None
    decimal_comma: bool = False
    problems: list[Problem] = field(default_factory=list)

    def column(self, name: str) -> list[str]:
        """The cells of column ``name`` ("" for every row if there is no such column)."""
        if name not in self.header:
            return ["" for _ in self.rows]
        j = self.header.index(name)
        return [cells[j] for _, cells in self.rows]


def display_name(path: str | Path) -> str:
    """The file as problems name it: relative to the working directory when inside it."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


HEADER_HINT = "a header row (row 1) with columns such as region_code, as_of, activations, percent"


def _fatal(name: str, message: str, expected: str = HEADER_HINT, row: int | None = 1) -> DataError:
    """A file-level problem; it points at row 1, where the header should be."""
    return DataError([Problem(name, row, None, None, message, expected)])


def read_table(
    path: str | Path, *, numeric_columns: Iterable[str] = (), name: str | None = None
) -> RawTable:
    """Read a CSV or ``.xlsx`` file into a :class:`RawTable` of text cells.

    Parameters
    ----------
    path : str or Path
        The file (opened read-only).
    numeric_columns : iterable of str
        Columns whose cells are numbers; used to detect a decimal comma.
    name : str, optional
        How problems name the file (default :func:`display_name`).

    Returns
    -------
    RawTable

    Raises
    ------
    DataError
        The file is missing, empty, or not a table.
    """
    path = Path(path)
    name = name or display_name(path)
    if not path.exists():
        raise _fatal(name, "file not found", "an existing CSV or .xlsx file", row=None)
    if path.is_dir():
        raise _fatal(name, "is a directory, not a file", "a CSV or .xlsx file", row=None)
    with path.open("rb") as fh:  # read-only, never modified
        data = fh.read()
    if not data.strip():
        raise _fatal(name, "empty file")
    if data.startswith(_OLE_MAGIC):
        raise _fatal(name, "a legacy .xls workbook cannot be read", "the sheet saved as .xlsx or CSV")
    if path.suffix.lower() in EXCEL_SUFFIXES or data.startswith(_ZIP_MAGIC):
        header_raw, records = _excel_records(path, name)
        table = _table(path, name, header_raw, records, kind="xlsx")
    else:
        text, encoding = _decode(data, name)
        delimiter = _sniff_delimiter(text, name)
        header_raw, records = _csv_records(text, delimiter)
        table = _table(path, name, header_raw, records, kind="csv")
        table.delimiter, table.encoding = delimiter, encoding
    numeric = [c for c in numeric_columns if c in table.header]
    cells = [v for c in numeric for v in table.column(c)]
    table.decimal_comma = table.delimiter == ";" and detect_decimal_comma(cells)
    return table


def detect_decimal_comma(cells: Iterable[str]) -> bool:
    """Whether numeric cells are written with a decimal comma.

    True when some cell looks like ``14,97`` or a ``.``-grouped count like ``20.229``, or
    when no cell looks like a decimal-point number such as ``14.97`` (the usual case for a
    ``;``-separated export).

    Examples
    --------
    >>> detect_decimal_comma(["14,97", "20.229"]), detect_decimal_comma(["14.97", "20229"])
    (True, False)
    """
    comma = point = False
    for c in cells:
        s = c.strip().rstrip("%").strip()
        if re.fullmatch(r"[-+]?\d+,\d+", s) or re.fullmatch(r"[-+]?\d{1,3}(\.\d{3})+(,\d+)?", s):
            comma = True
        elif re.fullmatch(r"[-+]?\d*\.\d+", s):
            point = True
    return comma or not point


def _decode(data: bytes, name: str) -> tuple[str, str]:
    if b"\x00" in data:
        raise _fatal(name, "not a table: the file is binary", "a CSV text file or an .xlsx workbook")
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    controls = sum(1 for ch in text if (ord(ch) < 32 and ch not in "\t\r\n") or 0x7F <= ord(ch) < 0xA0)
    if controls > max(2, len(text) // 100):
        raise _fatal(name, "not a table: the file is binary", "a CSV text file or an .xlsx workbook")
    return text, encoding


def _sniff_delimiter(text: str, name: str) -> str:
    for line in text.splitlines():
        if line.strip():
            counts = {d: _count_outside_quotes(line, d) for d in (",", ";", "\t")}
            best = max(counts, key=lambda d: (counts[d], d == ","))
            if counts[best] == 0:
                raise _fatal(
                    name,
                    "not a table: the first line has a single column",
                    HEADER_HINT + ", separated by ',' or ';'",
                )
            return best
    raise _fatal(name, "empty file")


def _count_outside_quotes(line: str, ch: str) -> int:
    n, quoted = 0, False
    for c in line:
        if c == '"':
            quoted = not quoted
        elif c == ch and not quoted:
            n += 1
    return n


def _csv_records(text: str, delimiter: str) -> tuple[list[str], list[list[str]]]:
    reader = csv.reader(_io.StringIO(text, newline=""), delimiter=delimiter)
    records = list(reader)
    # Leading blank lines are not part of the table.
    while records and not any(c.strip() for c in records[0]):
        records.pop(0)
    return (records[0] if records else []), records[1:]


def _excel_records(path: Path, name: str) -> tuple[list[str], list[list[str]]]:
    try:
        import openpyxl
    except ImportError as exc:  # pragma: no cover - openpyxl is a dependency
        raise _fatal(name, f"cannot read Excel files: {exc}", "openpyxl installed") from exc
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException, ...
        raise _fatal(
            name, f"not a readable .xlsx workbook ({type(exc).__name__})", "an .xlsx file or a CSV"
        ) from exc
    try:
        ws = wb.worksheets[0]
        records = [[_excel_cell_text(c) for c in row] for row in ws.iter_rows()]
    finally:
        wb.close()
    while records and not any(c.strip() for c in records[0]):
        records.pop(0)
    if not records:
        raise _fatal(name, "empty file: the first sheet has no cells")
    return records[0], records[1:]


def _excel_cell_text(cell) -> str:
    v = getattr(cell, "value", None)
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, _dt.datetime):
        return v.date().isoformat()
    if isinstance(v, _dt.date):
        return v.isoformat()
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        m = re.search(r"0\.(0+)", str(getattr(cell, "number_format", "") or ""))
        if m:
            return f"{v:.{len(m.group(1))}f}"
        if v.is_integer() and abs(v) < 1e18:
            return str(int(v))
        return repr(v)
    return str(v)


def _table(path: Path, name: str, header_raw: list[str], records: list[list[str]], kind: str) -> RawTable:
    header = [h.strip().lstrip("\ufeff").strip().lower() for h in header_raw]
    # Trailing unnamed columns that hold nothing (trailing delimiters) are dropped.
    width = len(header)
    while width and not header[width - 1] and not any(
        len(r) >= width and r[width - 1].strip() for r in records
    ):
        width -= 1
    header = header[:width]
    if not header:
        raise _fatal(name, "empty file: no header row")
    rows: list[tuple[int, list[str]]] = []
    problems: list[Problem] = []
    for i, rec in enumerate(records):
        row_no = i + 2
        cells = [("" if c is None else str(c)) for c in rec]
        if not any(c.strip() for c in cells):
            continue
        extra = [c for c in cells[width:] if c.strip()]
        if extra:
            problems.append(
                Problem(
                    name,
                    row_no,
                    None,
                    extra[0],
                    f"the row has {len(cells)} cells but the header has {width}",
                    "one cell per header column (check the delimiter and quotes)",
                )
            )
        cells = (cells + [""] * width)[:width]
        rows.append((row_no, cells))
    return RawTable(path=path, name=name, header=header, rows=rows, kind=kind, problems=problems)
