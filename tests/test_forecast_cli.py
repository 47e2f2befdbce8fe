"""``ikdsim forecast``: output formats on the shipped data, bad input, exit statuses."""

from __future__ import annotations

import io
import json
import sys

import pandas as pd
import pytest

import ikdsim.forecast  # noqa: F401 - the module (ikdsim.forecast the attribute is the function)
from ikdsim.cli import main

KALTIM = ("64.01", "64.02", "64.03", "64.07", "64.08", "64.09", "64.11", "64.71", "64.72", "64.74")
KEYS = ("region_code", "region_name", "model", "status", "last_observed", "target",
        "target_date", "prob_by_deadline", "prob_not_by_until", "at")  # fmt: skip


@pytest.fixture(scope="module")
def shipped_json(kaltim_fits):
    """``ikdsim forecast --format json`` on the shipped data, Kaltim's regencies.

    The fits are the session's (``fit_all`` on the shipped data, as the command would fit
    them); the other tests here run the command's own fitting.
    """
    capture_out, capture_err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("ikdsim.summary.fit_holding", lambda observations, codes, **kwargs: kaltim_fits)
        mp.setattr("sys.stdout", capture_out)
        mp.setattr("sys.stderr", capture_err)
        code = main(["forecast", "--format", "json", "--paths", "300", "--at", "2026-12-31",
                     "--region", *KALTIM])
    return code, capture_out.getvalue(), capture_err.getvalue()


def test_json_on_shipped_data_has_every_kaltim_regency(shipped_json):
    code, out, err = shipped_json
    assert code == 0, err
    records = json.loads(out)  # stdout is pure JSON: warnings went to stderr
    by_code = {r["region_code"]: r for r in records}
    assert list(by_code) == list(KALTIM)
    for c in KALTIM:
        rec = by_code[c]
        for key in KEYS:
            assert key in rec, (c, key)
        assert rec["status"] in {"ok", "sparse", "province_curve", "failed"}
        assert set(rec["target_date"]) == {"p10", "p50", "p90"}
        assert rec["target"] == 0.30
        assert [a["date"] for a in rec["at"]] == ["2026-12-31"]
        if rec["last_observed"] is not None:
            assert set(rec["last_observed"]) == {"as_of", "share"}
            assert 0 < rec["last_observed"]["share"] < 1
    # Shares are fractions: PPU's latest figure is 14.97%.
    assert by_code["64.09"]["last_observed"] == {"as_of": "2025-04-15", "share": pytest.approx(0.1497)}
    # The regencies without any figure get the province curve (or say they failed).
    assert by_code["64.01"]["last_observed"] is None
    assert "warning" in err  # the loader's warnings are counted on stderr, one line
    assert len(err.strip().splitlines()) == 1


def test_json_same_seed_same_output(capsys, shipped_json):
    args = ["forecast", "--format", "json", "--region", "65", "--model", "logistic", "--paths", "200"]
    assert main(args + ["--seed", "5"]) == 0
    first = capsys.readouterr().out
    assert main(args + ["--seed", "5"]) == 0
    assert capsys.readouterr().out == first
    assert main(args + ["--seed", "6"]) == 0
    assert capsys.readouterr().out != first


def test_table_and_csv(capsys):
    args = ["forecast", "--region", "65", "--model", "logistic", "--paths", "200", "--at", "2026-06-30"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Kalimantan Utara" in out and "P(by 2025-12-31)" in out and "status" in out
    assert "5.27%" in out  # the latest share
    assert main(args + ["--format", "csv"]) == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(frame["region_code"].astype(str)) == ["65"]
    assert {"p10", "p50", "p90", "prob_by_deadline", "share_p50@2026-06-30"} <= set(frame.columns)


def _run(capsys, args):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_at_after_until_is_exit_2(capsys):
    code, out, err = _run(capsys, ["forecast", "--until", "2027-12-31", "--at", "2028-06-30"])
    assert code == 2
    assert "2028-06-30" in err and "--until" in err
    assert out == ""


def test_deadline_after_until_is_exit_2(capsys):
    code, _, err = _run(capsys, ["forecast", "--until", "2027-12-31", "--deadline", "2028-06-30"])
    assert code == 2
    assert "--deadline" in err


def test_unknown_region_is_exit_2(capsys):
    code, out, err = _run(capsys, ["forecast", "--region", "99.99", "--format", "json"])
    assert code == 2
    assert "99.99" in err and "unknown" in err
    assert out == ""


def test_unreadable_data_is_exit_2(capsys, tmp_path):
    code, _, err = _run(capsys, ["forecast", "--data", str(tmp_path / "missing.csv")])
    assert code == 2
    assert "missing.csv" in err


def test_bad_data_is_exit_2(capsys, write_file):
    path = write_file("bad.csv", "region_code,as_of,activations\n64.09,2024-01-10,-5\n")
    code, _, err = _run(capsys, ["forecast", "--data", str(path)])
    assert code == 2
    assert "negative count" in err


def test_bad_options_are_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["forecast", "--target", "30"])
    assert exc.value.code == 2
    assert "between 0 and 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["forecast", "--at", "31/12/2026"])
    assert exc.value.code == 2


def test_every_region_failed_is_exit_1(capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("simulated breakdown")
        yield  # a generator of steps, like the one it replaces

    monkeypatch.setattr(sys.modules["ikdsim.forecast"], "member_draw_steps", broken)
    code, out, _ = _run(capsys, ["forecast", "--region", "65", "--model", "logistic", "--format", "json"])
    assert code == 1
    (rec,) = json.loads(out)
    assert rec["status"] == "failed" and "simulated breakdown" in rec["message"]


def test_help_documents_exit_status(capsys):
    with pytest.raises(SystemExit):
        main(["forecast", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "Exit status" in out and "every requested region failed" in out
