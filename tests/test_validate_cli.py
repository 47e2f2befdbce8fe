"""``ikdsim validate``: one small bad file per error class, and the shipped data.

Every bad file must give exit status 2 and a message naming the file, the row as a
spreadsheet shows it and the column; the file must be unchanged afterwards.
"""

from __future__ import annotations

import re

import pytest

from ikdsim.cli import main

H = "region_code,as_of,date_precision,activations,denominator,denominator_kind,percent,approximate,exclude"


def row(code="64.09", as_of="2024-01-10", prec="day", act="1000", den="", kind="",
        pct="", approx="false", excl="false") -> str:  # fmt: skip
    return ",".join([code, as_of, prec, act, den, kind, pct, approx, excl])


GOOD = row()  # row 2 of every file below

# (case id, file text, row, column, words in the message)
ERROR_CASES = [
    ("missing-column", "region_code,activations\n64.09,1000\n", 1, "as_of", "missing required column"),
    ("missing-figures", "region_code,as_of\n64.09,2024-01-10\n", 1, "activations",
     "missing required column"),
    ("bad-date", f"{H}\n{GOOD}\n{row(as_of='10 Januari 2024')}\n", 3, "as_of", "not a date"),
    ("impossible-date", f"{H}\n{GOOD}\n{row(as_of='2024-02-30')}\n", 3, "as_of", "not a calendar date"),
    ("future-date", f"{H}\n{GOOD}\n{row(as_of='2099-01-01')}\n", 3, "as_of", "date in the future"),
    ("negative-count", f"{H}\n{GOOD}\n{row(as_of='2024-02-10', act='-5')}\n", 3, "activations",
     "negative count"),
    ("fractional-count", f"{H}\n{GOOD}\n{row(as_of='2024-02-10', act='1000.5')}\n", 3, "activations",
     "fractional count"),
    ("non-numeric-count", f"{H}\n{GOOD}\n{row(as_of='2024-02-10', act='banyak')}\n", 3, "activations",
     "not a number"),
    ("percent-above-100", f"{H}\n{GOOD}\n{row(as_of='2024-02-10', act='', pct='120', kind='wajib_ktp')}\n",
     3, "percent", "percent outside 0-100"),
    ("percent-negative", f"{H}\n{GOOD}\n{row(as_of='2024-02-10', act='', pct='-1', kind='wajib_ktp')}\n",
     3, "percent", "percent outside 0-100"),
    ("count-above-denominator",
     f"{H}\n{GOOD}\n{row(code='35.78', as_of='2024-02-10', act='5000', den='4000', kind='wajib_ktp')}\n",
     3, "activations", "count above its denominator"),
    ("count-above-regions-base", f"{H}\n{GOOD}\n{row(as_of='2024-02-10', act='150000')}\n", 3,
     "activations", "count above the region's wajib-KTP base"),
    ("code-bps", f"{H}\n{GOOD}\n{row(code='6409', as_of='2024-02-10', act='1100')}\n", 3, "region_code",
     "malformed region code"),
    ("code-one-decimal", f"{H}\n{GOOD}\n{row(code='64.1', as_of='2024-02-10', act='1100')}\n", 3,
     "region_code", "malformed region code"),
    ("code-letters", f"{H}\n{GOOD}\n{row(code='KALTIM', as_of='2024-02-10', act='1100')}\n", 3,
     "region_code", "malformed region code"),
    ("code-kecamatan", f"{H}\n{GOOD}\n{row(code='64.09.01', as_of='2024-02-10', act='1100')}\n", 3,
     "region_code", "malformed region code"),
    ("no-denominator", f"{H}\n{GOOD}\n{row(code='35.78', as_of='2024-02-10', act='1100')}\n", 3,
     "denominator", "no denominator anywhere and no percent"),
    ("duplicate-different", f"{H}\n{GOOD}\n{row(act='1200')}\n", 3, "activations", "two rows"),
    ("decrease-exact", f"{H}\n{GOOD}\n{row(as_of='2024-02-10', act='900')}\n", 3, "activations",
     "more than rounding allows"),
    ("bad-flag", f"{H}\n{GOOD}\n{row(as_of='2024-02-10', act='1100', approx='kira-kira')}\n", 3,
     "approximate", "not a true/false flag"),
    ("bad-precision", f"{H}\n{GOOD}\n{row(as_of='2024-02-10', act='1100', prec='week')}\n", 3,
     "date_precision", "not a known value"),
    ("bad-kind", f"{H}\n{GOOD}\n{row(as_of='2024-02-10', act='1100', den='2000', kind='ktp')}\n", 3,
     "denominator_kind", "not a known value"),
    ("no-figure", f"{H}\n{GOOD}\n{row(as_of='2024-02-10', act='')}\n", 3, "activations",
     "gives no figure"),
    ("privacy-nik", "region_code,as_of,activations,nik\n64.09,2024-01-10,1000,\n", 1, "nik",
     "personal identifier"),
    ("privacy-nama", "region_code,as_of,activations,Nama Lengkap\n64.09,2024-01-10,1000,x\n", 1,
     "nama lengkap", "personal identifier"),
    ("privacy-name", "region_code,as_of,activations,name\n64.09,2024-01-10,1000,x\n", 1, "name",
     "personal identifier"),
    ("privacy-16-digits",
     "region_code,as_of,activations,ref\n64.09,2024-01-10,1000,\n64.09,2024-02-10,1100,6409012345678901\n",
     3, "ref", "16-digit number"),
    ("not-our-header", "a,b,c\n1,2,3\n", 1, "a", "no known column"),
]


def _check(path, code, err, row_no, column, words):
    assert code == 2, err
    assert path.name in err
    assert f"row {row_no}" in err
    if column is not None:
        assert f"column {column!r}" in err
    assert words in err


@pytest.mark.parametrize("case,text,row_no,column,words", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_error_gives_exit_2_with_file_row_column(case, text, row_no, column, words, write_file,
                                                 snapshot, capsys):  # fmt: skip
    path = write_file(f"{case}.csv", text)
    unchanged = snapshot(path)
    code = main(["validate", str(path)])
    err = capsys.readouterr().err
    _check(path, code, err, row_no, column, words)
    unchanged()


@pytest.mark.parametrize(
    "case,content,words",
    [
        ("empty", b"", "empty file"),
        ("blank-lines", b"\n \n\r\n", "empty file"),
        ("header-only", (H + "\n").encode(), "no data rows"),
        ("binary", bytes(range(256)) * 4, "not a table"),
        ("one-column", b"region_code\n64.09\n64.72\n", "not a table"),
        ("bad-xlsx", b"PK\x03\x04 this is no workbook", "not a readable .xlsx"),
    ],
)
def test_file_level_problem_gives_exit_2(case, content, words, write_file, snapshot, capsys):
    path = write_file(f"{case}.{'xlsx' if case == 'bad-xlsx' else 'csv'}", content)
    unchanged = snapshot(path)
    code = main(["validate", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and path.name in err and words in err and re.search(r"row \d", err), err
    unchanged()


def test_every_error_is_reported_in_one_pass(write_file, capsys):
    text = "\n".join([
        H, GOOD,
        row(as_of="2024-13-01", act="1100"),            # row 3 date
        row(as_of="2024-03-10", act="-1"),              # row 4 count
        row(code="9", as_of="2024-04-10", act="1200"),  # row 5 code
        row(as_of="2024-05-10", act="", pct="101", kind="wajib_ktp"),  # row 6 percent
    ]) + "\n"  # fmt: skip
    path = write_file("many.csv", text)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    for r, c in [(3, "as_of"), (4, "activations"), (5, "region_code"), (6, "percent")]:
        assert f"row {r}, column '{c}'" in err
    assert "4 errors" in err


def test_unknown_column_is_a_warning_and_strict_fails(write_file, snapshot, capsys):
    path = write_file("extra.csv", f"{H},kecamatan\n{GOOD},Penajam\n")
    unchanged = snapshot(path)
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "unknown column" in out and "row 1, column 'kecamatan'" in out
    assert main(["validate", str(path), "--strict"]) == 2
    unchanged()


def test_decrease_explained_by_rounding_is_a_warning_listing_both_rows(write_file, capsys):
    text = f"{H}\n{row(act='20229')}\n{row(as_of='2024-04-14', act='', pct='14', kind='wajib_ktp', approx='true')}\n"
    path = write_file("rounded.csv", text)
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "explained by rounding" in out
    assert f"{path.name}:2" in out and f"{path.name}:3" in out


def test_decrease_with_an_imprecise_date_is_a_warning(write_file, capsys):
    text = f"{H}\n{GOOD}\n{row(as_of='2024-02-15', prec='month', act='990')}\n"
    path = write_file("month.csv", text)
    assert main(["validate", str(path)]) == 0
    assert "imprecise date" in capsys.readouterr().out


def test_duplicate_with_one_excluded_is_fine(write_file, capsys):
    path = write_file("dup.csv", f"{H}\n{GOOD}\n{row(act='1200', excl='true')}\n")
    assert main(["validate", str(path)]) == 0


def test_region_column_name_is_allowed(write_file, capsys):
    path = write_file("names.csv", "region_code,region_name,as_of,activations\n64.09,PPU,2024-01-10,1000\n")
    assert main(["validate", str(path)]) == 0


def test_bad_regions_file_is_reported(write_file, capsys):
    obs = write_file("obs.csv", f"{H}\n{GOOD}\n")
    regions = write_file("regions.csv", "region_code,name,wajib_ktp\n64.09,PPU,-3\n")
    assert main(["validate", str(obs), "--regions", str(regions)]) == 2
    err = capsys.readouterr().err
    assert "regions.csv: row 2, column 'wajib_ktp'" in err and "negative count" in err


def test_excel_number_region_code_is_ambiguous(tmp_path, snapshot, capsys):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["region_code", "as_of", "activations"])
    ws.append([64.09, "2024-01-10", 1000])
    ws.append([64.1, "2024-01-10", 1000])
    path = tmp_path / "codes.xlsx"
    wb.save(path)
    unchanged = snapshot(path)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "codes.xlsx: row 3, column 'region_code': value '64.1'" in err
    assert "row 2" not in err
    unchanged()


# ----------------------------------------------------------------------------- shipped data
KALTIM = ["64", "64.01", "64.02", "64.03", "64.07", "64.08", "64.09", "64.11", "64.71", "64.72", "64.74"]


def test_shipped_data_validates(capsys):
    assert main(["validate"]) == 0
    out = capsys.readouterr().out
    table = {line.split()[0]: line for line in out.splitlines() if line[:1].isdigit() or line.startswith("ID ")}
    assert set(KALTIM) <= set(table)
    ppu = table["64.09"]
    share = float(re.search(r"(\d+\.\d\d)%", ppu).group(1))
    assert 14 <= share <= 16
    assert "warning" in out


def test_shipped_data_is_unchanged_by_validate(snapshot, capsys):
    from ikdsim.data import default_observations_path, default_regions_path

    checks = [snapshot(default_observations_path()), snapshot(default_regions_path())]
    main(["validate"])
    for unchanged in checks:
        unchanged()


def test_bare_command_prints_help_listing_every_subcommand(capsys):
    from ikdsim.cli import main

    assert main([]) == 2
    out = capsys.readouterr().out
    for name in ("validate", "forecast", "backtest", "simulate", "plan", "run"):
        assert name in out
