"""The notebooks: committed clean, parameters documented, and each runs under papermill.

Each notebook is executed with tiny parameters (200 paths) and fits cached by
:func:`ikdsim.batch.fit_cache` (``kaltim_fits_file`` in conftest.py); the assertions read
the JSON file it writes.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat
import pytest

from ikdsim import batch

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ALL = sorted(NOTEBOOKS.glob("*.ipynb"))
PARAM_LINE = re.compile(r"^\w+: (str|int|float|bool|list|dict) = .+  # \S.*$")


def test_the_three_notebooks_exist():
    assert {p.name for p in ALL} >= {"regency_forecast.ipynb", "province_overview.ipynb", "scenario_explorer.ipynb"}


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_notebook_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a cell has outputs"
            assert cell.execution_count is None, f"{path.name}: a cell has an execution count"
        assert "papermill" not in cell.metadata, f"{path.name}: papermill metadata left in a cell"
    assert "papermill" not in nb.metadata
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_one_annotated_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for line in tagged[0].source.splitlines():
        assert PARAM_LINE.match(line), f"{path.name}: parameter line without type or comment: {line!r}"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_cells_call_the_package_only(path):
    """No loops, function or class definitions in notebook cells: those belong in ikdsim."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        code = "\n".join(line for line in cell.source.splitlines() if not line.startswith("%"))
        for node in ast.walk(ast.parse(code)):
            assert not isinstance(node, (ast.For, ast.While, ast.FunctionDef, ast.ClassDef, ast.Lambda,
                                         ast.ListComp, ast.DictComp, ast.SetComp, ast.GeneratorExp)), (
                f"{path.name}: {type(node).__name__} in a cell:\n{cell.source}"
            )  # fmt: skip


# ---------------------------------------------------------------------------- execution
@pytest.fixture
def fits_path(kaltim_fits_file):
    """Fits of the shipped data, as ``ikdsim run`` caches them (fitted once per session)."""
    return str(kaltim_fits_file)


@pytest.fixture
def run_notebook(tmp_path, monkeypatch):
    """``run_notebook(name, **parameters) -> Path`` of the output folder (papermill)."""
    import papermill as pm

    kernel, env = batch.resolve_kernel(tmp_path)
    for k, v in env.items():
        monkeypatch.setenv(k, v)

    def run(name: str, **parameters) -> Path:
        out = tmp_path / "out"
        out.mkdir(exist_ok=True)
        pm.execute_notebook(str(NOTEBOOKS / name), str(out / name), parameters={**parameters, "output_dir": str(out)},
                            kernel_name=kernel, progress_bar=False, execution_timeout=120, cwd=str(tmp_path))  # fmt: skip
        return out

    return run


def _is_iso_or_none(v) -> bool:
    return v is None or bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", v))


def test_regency_notebook_writes_key_numbers(run_notebook, fits_path):
    out = run_notebook("regency_forecast.ipynb", region_code="64.09", fits_path=fits_path, n_paths=200)
    data = json.loads((out / "summary.json").read_text())
    for key in ("region_code", "region_name", "model", "status", "n_obs", "last_date", "last_share", "target",
                "deadline", "until", "reached_on", "p10", "p50", "p90", "prob_by_deadline", "prob_not_by_until",
                "narrative", "scenarios", "ikdsim_version"):  # fmt: skip
        assert key in data, key
    assert data["region_code"] == "64.09" and data["status"] in ("ok", "sparse")
    assert data["n_obs"] >= 5 and 0.10 < data["last_share"] < 0.30
    assert data["last_date"] >= "2025-01-01" and data["target"] == 0.30 and data["n_paths"] == 200
    assert 0 <= data["prob_by_deadline"] <= 1 and 0 <= data["prob_not_by_until"] <= 1
    assert all(_is_iso_or_none(data[k]) for k in ("p10", "p50", "p90", "reached_on"))
    assert "wajib KTP sudah aktivasi IKD" in data["narrative"]  # Indonesian by default
    assert data["scenarios"][0]["scenario"] == "current trend"
    nb = nbformat.read(out / "regency_forecast.ipynb", as_version=4)
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/svg+xml" in o.get("data", {})]
    assert len(images) == 3  # fan chart, target-date chart, scenarios: each shown once, as SVG only
    assert not [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    # Each chart in the cell that draws it, as that cell's value.
    charts = [c for c in nb.cells if c.cell_type == "code"
              and any(call in c.source for call in ("rep.fan_chart()", "rep.target_date_chart()", "rep.scenarios.plot("))]  # fmt: skip
    assert len(charts) == 3
    assert all(sum("image/svg+xml" in o.get("data", {}) for o in c.outputs) == 1 for c in charts)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


def test_regency_notebook_same_numbers_with_and_without_cached_draws(run_notebook, kaltim_fits, fits_path, tmp_path):
    """The draws ``ikdsim run`` saves next to the fits give the notebook the same numbers as
    sampling; a tampered draws file changes them (so the notebook does read it)."""
    import dataclasses
    import shutil

    from ikdsim.drawcache import DrawCache, draws_path, recording

    def summary(fits_file):
        out = run_notebook("regency_forecast.ipynb", region_code="64.09", fits_path=str(fits_file), n_paths=200)
        return json.loads((out / "summary.json").read_text())

    bare, cached = tmp_path / "bare", tmp_path / "cached"
    for d in (bare, cached):
        d.mkdir()
        shutil.copy(fits_path, d)
    with recording() as cache:
        kaltim_fits["64.09"].forecast(until="2030-12-31", n_paths=200, seed=0)  # the notebook's defaults
    cache.save(draws_path(cached / Path(fits_path).name))
    assert not draws_path(bare / Path(fits_path).name).exists()
    assert summary(cached / Path(fits_path).name) == summary(bare / Path(fits_path).name)

    tampered = DrawCache.load(draws_path(cached / Path(fits_path).name))
    for key, (draws, state) in tampered.entries.items():
        tampered.entries[key] = (dataclasses.replace(draws, z=draws.z[::-1].copy() + 0.3), state)
        tampered.used.add(key)
    tampered.save(draws_path(cached / Path(fits_path).name))
    assert summary(cached / Path(fits_path).name) != summary(bare / Path(fits_path).name)


def test_regency_notebook_in_english_for_a_region_without_data(run_notebook, fits_path):
    out = run_notebook("regency_forecast.ipynb", region_code="64.01", fits_path=fits_path, n_paths=200, lang="en",
                       run_scenarios=False)  # fmt: skip
    data = json.loads((out / "summary.json").read_text())
    assert data["status"] == "province_curve" and data["last_share"] is None
    assert "no usable IKD activation figure" in data["narrative"]


def test_province_overview_notebook(run_notebook, fits_path):
    out = run_notebook("province_overview.ipynb", province="64", fits_path=fits_path, n_paths=200,
                       links="regions/{code}/report.html")  # fmt: skip
    data = json.loads((out / "province_64.json").read_text())
    assert data["region_code"] == "64" and data["level"] == "province"
    codes = {r["region_code"] for r in data["regions"]}
    assert len([c for c in codes if c.startswith("64.")]) == 10
    assert all(0 <= r["prob_by_deadline"] <= 1 for r in data["regions"] if r["prob_by_deadline"] is not None)
    nb = nbformat.read(out / "province_overview.ipynb", as_version=4)
    html = [o["data"]["text/html"] for c in nb.cells for o in c.get("outputs", []) if "text/html" in o.get("data", {})]
    assert any('href="regions/64.09/report.html"' in h for h in html)


def test_scenario_explorer_notebook(run_notebook, fits_path):
    out = run_notebook("scenario_explorer.ipynb", region_code="64.09", fits_path=fits_path, n_paths=200)
    data = json.loads((out / "scenarios.json").read_text())
    names = [r["scenario"] for r in data["scenarios"]]
    assert names[0] == "current trend"
    assert "jemput bola desa" in names, data["scenario_note"]


@pytest.mark.slow
def test_plain_papermill_call_fits_by_itself(tmp_path):
    """The README's plain call: no fits cache, the notebook fits the province itself."""
    import subprocess
    import sys

    out = tmp_path / "o.ipynb"
    subprocess.run([str(Path(sys.executable).parent / "papermill"), str(NOTEBOOKS / "regency_forecast.ipynb"), str(out),
                    "-p", "region_code", "64.72", "-p", "n_paths", "200", "-p", "output_dir", str(tmp_path),
                    "--no-progress-bar"], check=True, capture_output=True)  # fmt: skip
    assert json.loads((tmp_path / "summary.json").read_text())["region_code"] == "64.72"
