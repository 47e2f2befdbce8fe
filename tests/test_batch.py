"""``ikdsim run`` (:mod:`ikdsim.batch`): failures isolated, reruns skip, atomic outputs, dask."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from ikdsim import batch
from ikdsim.cli import main

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture
def out(tmp_path, kaltim_fits_file):
    """An output folder with the fits cache in place (the batch finds it by hash), and a
    private copy of the notebooks."""
    o = tmp_path / "reports"
    (o / ".cache").mkdir(parents=True)
    shutil.copy(kaltim_fits_file, o / ".cache" / kaltim_fits_file.name)
    shutil.copytree(NOTEBOOKS, tmp_path / "notebooks")
    return o


def run(out, **kw):
    kw.setdefault("n_paths", 200)
    kw.setdefault("progress", False)
    kw.setdefault("notebooks_dir", out.parent / "notebooks")
    return batch.run_batch(out, **kw)


def leftovers(folder: Path) -> list[Path]:
    """Temporary or partial files outside the cache."""
    return [p for p in folder.rglob("*") if ".cache" not in p.parts and (p.name.endswith(".tmp") or p.name.startswith("."))]


def test_broken_region_does_not_stop_the_batch_and_rerun_skips(out):
    res = run(out, codes=["64.09", "64.99"])
    st = res.status.set_index("region")
    assert st.loc["64.09", "status"] == "ok"
    assert st.loc["64.99", "status"] == "failed" and "64.99" in st.loc["64.99", "error"]
    assert st.loc["province_64", "status"] == "ok"
    assert res.exit_code == 1
    for f in ("report.ipynb", "report.html", "summary.json"):
        assert (out / "regions" / "64.09" / f).is_file()
    assert (out / "regions" / "64.99" / "report.error.ipynb").is_file()
    assert not (out / "regions" / "64.99" / "summary.json").exists()
    for f in ("index.html", "summary.csv", "status.csv", "province_64.html", "province_64.ipynb", "province_64.json"):
        assert (out / f).is_file(), f
    html = (out / "regions" / "64.09" / "report.html").read_text()
    assert "<img" in html and "rep = report.regency_report" not in html  # code hidden
    index = (out / "index.html").read_text()
    assert 'href="regions/64.09/report.html"' in index and 'href="province_64.html"' in index
    status_csv = pd.read_csv(out / "status.csv", dtype=str)
    assert list(status_csv.columns) == ["region", "name", "status", "seconds", "error"]
    summary = pd.read_csv(out / "summary.csv", dtype={"region_code": str})
    assert {"64.09", "64", "64.01"} <= set(summary["region_code"])
    # The index's numbers are the report's numbers (the same draws and paths).
    row = summary.set_index("region_code").loc["64.09"]
    report_json = json.loads((out / "regions" / "64.09" / "summary.json").read_text())
    for key in ("p10", "p50", "p90", "prob_by_deadline", "prob_not_by_until", "share_at_deadline"):
        assert (report_json[key] is None and pd.isna(row[key])) or report_json[key] == row[key], key
    assert not leftovers(out)
    # The summary's posterior draws are saved next to the fits, for the notebooks.
    fits_files = list((out / ".cache").glob("fits-*.pkl"))
    assert [p.name for p in (out / ".cache").glob("draws-*.pkl")] == [p.name.replace("fits-", "draws-") for p in fits_files]

    # Rerun: the good region and the overview are up to date; the broken one is retried.
    mtime = (out / "regions" / "64.09" / "report.html").stat().st_mtime_ns
    again = run(out, codes=["64.09", "64.99"]).status.set_index("region")
    assert again.loc["64.09", "status"] == "up to date" and again.loc["province_64", "status"] == "up to date"
    assert again.loc["64.99", "status"] == "failed"
    assert (out / "regions" / "64.09" / "report.html").stat().st_mtime_ns == mtime


@pytest.mark.slow
def test_changed_inputs_parameters_and_force_rerun(out):
    assert set(run(out, codes=["64.74"], html=False).status["status"]) == {"ok"}
    assert set(run(out, codes=["64.74"], html=False).status["status"]) == {"up to date"}
    # The stamp records the parameters: another n_paths makes the outputs stale.
    assert set(run(out, codes=["64.74"], html=False, n_paths=150).status["status"]) == {"ok"}
    assert set(run(out, codes=["64.74"], html=False, n_paths=150, force=True).status["status"]) == {"ok"}
    # A newer notebook (or data, scenario file, package source) makes the outputs stale.
    assert set(run(out, codes=["64.74"], html=False, n_paths=150).status["status"]) == {"up to date"}
    time.sleep(0.05)
    os.utime(out.parent / "notebooks" / "regency_forecast.ipynb")
    assert set(run(out, codes=["64.74"], html=False, n_paths=150).status["status"]) == {"ok"}


def test_time_limit(out):
    res = run(out, codes=["64.09"], timeout=1.0, html=False)
    st = res.status.set_index("region")
    assert st.loc["64.09", "status"] == "timeout" and res.exit_code == 1
    assert not (out / "regions" / "64.09" / "summary.json").exists()
    assert not leftovers(out)


def test_cli_run_no_html_and_bad_data(out, tmp_path, capsys):
    code = main(["run", "--out", str(out), "--region", "64.74", "--no-html", "--quiet", "--n-paths", "100"])
    # The shipped notebooks are used here; the status table is printed.
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "64.74" in printed and "Kota Bontang" in printed
    assert (out / "regions" / "64.74" / "report.ipynb").is_file()
    assert not (out / "regions" / "64.74" / "report.html").exists()
    bad = tmp_path / "bad.csv"
    bad.write_text("region_code,as_of,percent\n64.09,2025-13-45,12\n")
    assert main(["run", "--out", str(out), "--data", str(bad), "--quiet"]) == 2


@pytest.mark.slow
def test_killed_run_leaves_no_partial_file_and_rerun_completes(out):
    cmd = [sys.executable, "-m", "ikdsim", "run", "--out", str(out), "--quiet", "--jobs", "2", "--n-paths", "200"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / "regions").glob("*/summary.json")):
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not leftovers(out)
    for d in (out / "regions").iterdir():  # every region folder holds whole files only
        for f in d.glob("*.json"):
            json.loads(f.read_text())
    time.sleep(3)  # orphaned children notice and exit
    res = batch.run_batch(out, n_paths=200, progress=False)
    assert res.exit_code == 0, res.format_status()
    assert len(res.status) == 11 and "up to date" in set(res.status["status"])
    assert len(list((out / "regions").glob("*/report.html"))) == 10
    assert not list((out / ".cache" / "tmp").iterdir())


@pytest.mark.slow
def test_dask_local_cluster(out):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, host="127.0.0.1", protocol="tcp",
                                  dashboard_address=None) as cluster:  # fmt: skip
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        res = run(out, codes=["64.09", "64.99"], scheduler=cluster.scheduler_address)
    st = res.status.set_index("region")
    assert st.loc["64.09", "status"] == "ok" and st.loc["64.99", "status"] == "failed"
    assert (out / "regions" / "64.09" / "report.html").is_file()


def test_compile_package_leaves_current_bytecode_for_every_module():
    """What ``ikdsim run`` does before its kernels import the package: every module gets a
    .pyc whose header matches its source (Python then loads it instead of compiling)."""
    import importlib.util
    import struct

    from ikdsim.batch import _package_files, compile_package

    assert compile_package()
    for src in _package_files():
        pyc = Path(importlib.util.cache_from_source(str(src)))
        assert pyc.is_file(), src
        flags, mtime, size = struct.unpack("<III", pyc.read_bytes()[4:16])
        st = src.stat()
        assert flags == 0 and mtime == int(st.st_mtime) & 0xFFFFFFFF and size == st.st_size & 0xFFFFFFFF, src
