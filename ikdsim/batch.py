"""Run the report notebooks for every region: ``ikdsim run`` (:func:`run_batch`).

What a batch does
-----------------
1. Loads the observations and the regions table, and fits every region **once**
   (:func:`ikdsim.fitting.fit_all`), caching the fits in ``OUT/.cache/fits-<hash>.pkl``
   (the hash covers the data, the regions table and the package); the notebooks load
   their fit from there instead of refitting.
2. Computes the summary from those fits (one row of key numbers per region,
   :func:`ikdsim.report.summary_table`, which forecasts them with
   :func:`ikdsim.summary.forecast_table`) and writes ``OUT/summary.csv``.  The posterior
   draws of those forecasts are saved next to the fits, ``OUT/.cache/draws-<hash>.pkl``
   (:mod:`ikdsim.drawcache`): the notebooks reuse them instead of sampling again.
3. Executes ``notebooks/regency_forecast.ipynb`` for each regency and
   ``notebooks/province_overview.ipynb`` for each province with regencies, each in its own
   process (papermill, then nbconvert to HTML with the code hidden), ``jobs`` at a time,
   or on a dask.distributed cluster (``scheduler="tcp://HOST:PORT"``; the workers must see
   the same file system).  Each execution has a time limit; a region that fails or runs
   out of time is recorded and the others go on.
4. Writes ``OUT/status.csv`` and ``OUT/index.html`` (the ranking, linking every report).

Output layout
-------------
::

    OUT/index.html                      ranking table, links to every report
    OUT/summary.csv                     one row per region (columns of report.summary_table)
    OUT/status.csv                      region, name, status, seconds, error
    OUT/province_<code>.ipynb|.html|.json   the province overview
    OUT/regions/<code>/report.ipynb     executed regency notebook
    OUT/regions/<code>/report.html      the same as HTML, code hidden
    OUT/regions/<code>/summary.json     the regency's key numbers (report.key_numbers)
    OUT/.cache/                         fits, posterior draws, stamps, temporary folders (safe to delete)

``status`` is ``ok``, ``up to date`` (skipped), ``failed`` (the notebook raised, or the
fit failed: the report is still written and explains why; a notebook that raised is kept
as ``*.error.ipynb``) or ``timeout``.

Reruns and atomic writes
------------------------
A job is skipped when its stamp (``OUT/.cache/stamps/<job>.json``, written last) records
the same package version and parameters and every output is newer than every input: the
data and regions files, the scenario files, the notebook and the package's source files.
Failed jobs are always retried.  ``force=True`` reruns everything.  Every output is written to a temporary file in the same
file system and moved into place with ``os.replace``, so a run killed at any moment leaves
each file either complete (old or new) or absent; the next run completes the job.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from . import __version__

__all__ = [
    "BatchResult",
    "Job",
    "atomic_write",
    "default_notebooks_dir",
    "fit_cache",
    "summary_cache",
    "run_batch",
    "run_job",
]

REGENCY_NOTEBOOK = "regency_forecast.ipynb"
OVERVIEW_NOTEBOOK = "province_overview.ipynb"

#: Default time limit of one notebook job (seconds), and of one cell.
JOB_TIMEOUT = 600.0
CELL_TIMEOUT = 300.0

OK_STATUSES = ("ok", "up to date")


# ============================================================================ files
def atomic_write(path: str | Path, data: bytes) -> Path:
    """Write bytes to ``path`` atomically: a temp file in the same folder, then ``os.replace``.

    A reader (or a killed writer) never sees a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic_move(src: Path, dst: Path) -> None:
    """Move a finished file into place; across file systems, copy to a temp file first."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, dst)
    except OSError:
        atomic_write(dst, Path(src).read_bytes())
        Path(src).unlink(missing_ok=True)


def default_notebooks_dir() -> Path:
    """The ``notebooks/`` folder at the repository root (next to the package)."""
    here = Path(__file__).resolve().parents[1] / "notebooks"
    if not (here / REGENCY_NOTEBOOK).is_file():
        raise FileNotFoundError(f"notebooks not found: expected {here / REGENCY_NOTEBOOK}; pass notebooks_dir")
    return here


def _package_files() -> list[Path]:
    return sorted(Path(__file__).resolve().parent.rglob("*.py"))


def compile_package() -> bool:
    """Byte-compile ikdsim's modules where they are (:mod:`compileall`); True if all compiled.

    Every notebook kernel imports the package anew.  Where Python does not write bytecode
    as it imports (``PYTHONDONTWRITEBYTECODE``, usual in containers, as on the build
    machine) and the package is a checkout (an editable install, which pip does not
    byte-compile), each kernel would compile its modules from source (profiled in a regency
    notebook's kernel: 22 modules, 54 ms of compiling; the notebook's first cell took 0.46 s
    instead of 0.55 s in ``benchmarks/notebooks.py``).  Up-to-date
    files are left as they are; a folder that cannot be written is skipped silently (the
    kernels then compile in memory, as before).
    """
    import compileall

    return bool(compileall.compile_dir(str(Path(__file__).resolve().parent), quiet=2))


def _package_hash() -> str:
    h = hashlib.sha256(__version__.encode())
    for p in _package_files():
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


# ============================================================================ fits
def fit_cache(
    observations_path: str | Path,
    regions_path: str | Path,
    cache_dir: str | Path,
    *,
    observations: pd.DataFrame | None = None,
    regions: pd.DataFrame | None = None,
) -> tuple[Path, dict]:
    """Fit every region once and pickle the fits to ``cache_dir/fits-<hash>.pkl``.

    The hash covers the bytes of both files and of the package's source; an existing file
    with that hash is reused.  Written atomically.

    Parameters
    ----------
    observations_path, regions_path : str or Path
        The input files.
    cache_dir : str or Path
        Folder of the cache.
    observations, regions : pandas.DataFrame, optional
        The loaded frames (loaded here if not given).

    Returns
    -------
    (Path, dict)
        The pickle's path and the fits (region code to FitResult).
    """
    h = hashlib.sha256()
    for p in (observations_path, regions_path):
        h.update(Path(p).read_bytes())
    h.update(_package_hash().encode())
    path = Path(cache_dir) / f"fits-{h.hexdigest()[:16]}.pkl"
    if path.is_file():
        try:
            with open(path, "rb") as f:
                return path, pickle.load(f)
        except Exception:  # noqa: BLE001 - a corrupt cache is rebuilt
            pass
    from .data import load_observations, load_regions
    from .fitting import fit_all

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if regions is None:
            regions = load_regions(regions_path)
        if observations is None:
            observations = load_observations(observations_path, regions=regions)
        fits = fit_all(observations, regions=regions)
    atomic_write(path, pickle.dumps(fits, protocol=pickle.HIGHEST_PROTOCOL))
    for old in Path(cache_dir).glob("fits-*.pkl"):
        if old != path:
            old.unlink(missing_ok=True)
    return path, fits


def summary_cache(
    observations: pd.DataFrame,
    regions: pd.DataFrame,
    fits: dict,
    fits_path: str | Path,
    *,
    target: float = 0.30,
    deadline: str = "2025-12-31",
    until: str = "2030-12-31",
    n_paths: int = 2000,
    seed: int = 0,
) -> tuple[pd.DataFrame, Path]:
    """The summary table of the fits, and its posterior draws saved for the notebooks.

    :func:`ikdsim.report.summary_table` forecasts every region; the draws are recorded
    (reusing those already saved) and written atomically to
    :func:`ikdsim.drawcache.draws_path` of ``fits_path``, where the notebooks given
    ``fits_path`` find them.  Draws files of other fits are removed.

    Returns
    -------
    (pandas.DataFrame, Path)
        The summary and the draws file.
    """
    from .drawcache import draws_path, replaying
    from .report import summary_table

    path = draws_path(fits_path)
    with replaying(path) as draws:
        summary = summary_table(observations, regions, fits=fits, target=target, deadline=deadline, until=until,
                                n_paths=n_paths, seed=seed)  # fmt: skip
    if draws.misses or not path.is_file():
        draws.save(path)
    for old in path.parent.glob("draws-*.pkl"):
        if old != path:
            old.unlink(missing_ok=True)
    return summary, path


# ============================================================================ jobs
@dataclass
class Job:
    """One notebook execution: what to run, with what parameters, and where outputs go.

    Only plain values, so that it pickles to a process pool or a dask worker.
    """

    key: str  # region code, or "province_<code>"
    notebook: str  # input notebook path
    out_dir: str  # folder of the final outputs
    stem: str  # output name without suffix: "report" or "province_<code>"
    json_name: str  # name of the JSON the notebook writes
    parameters: dict
    tmp_root: str
    html: bool = True
    timeout: float = JOB_TIMEOUT
    cell_timeout: float = CELL_TIMEOUT
    kernel_name: str = "python3"
    env: dict = field(default_factory=dict)

    @property
    def outputs(self) -> list[Path]:
        """The final files, the JSON last."""
        d = Path(self.out_dir)
        files = [d / f"{self.stem}.ipynb"] + ([d / f"{self.stem}.html"] if self.html else [])
        return files + [d / self.json_name]


def run_job(job: Job, *, isolation: str = "auto") -> dict:
    """Run one notebook job in a child process, with a time limit; move outputs into place.

    Parameters
    ----------
    job : Job
    isolation : {"auto", "fork", "subprocess"}
        ``fork``: a child forked from a forkserver that has papermill and nbconvert
        imported already (saves their start-up on every job); ``subprocess``: a fresh
        ``python -m ikdsim.batch`` (what dask workers use: they may not fork);
        ``auto``: fork where possible.

    Returns
    -------
    dict
        ``{"region", "status", "seconds", "error"}`` with status ``ok``, ``failed`` or
        ``timeout``; never raises for a failing notebook.
    """
    t0 = time.perf_counter()
    Path(job.tmp_root).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=job.tmp_root, prefix=f"{os.getpid()}-{job.key}-"))
    spec = tmp / "job.json"
    spec.write_text(json.dumps({**asdict(job), "owner_pid": os.getpid()}))
    result = {"region": job.key, "status": "ok", "seconds": 0.0, "error": ""}
    try:
        ctx = _forkserver() if isolation in ("auto", "fork") else None
        if ctx is not None:
            proc = ctx.Process(target=_child, args=(str(spec),), name=f"ikdsim-{job.key}")
            proc.start()
            proc.join(job.timeout)
            if proc.is_alive():
                proc.kill()  # its kernel exits with it (it watches its parent)
                proc.join()
                result.update(status="timeout", error=f"no result within {job.timeout:g} s")
                return result
            code, err = proc.exitcode, ""
        else:
            env = {**os.environ, **job.env}
            popen = subprocess.Popen([sys.executable, "-m", "ikdsim.batch", str(spec)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env, cwd=tmp)  # fmt: skip
            try:
                _, raw = popen.communicate(timeout=job.timeout)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.communicate()
                result.update(status="timeout", error=f"no result within {job.timeout:g} s")
                return result
            code, err = popen.returncode, raw.decode("utf-8", "replace")
        if code != 0:
            err_file = tmp / "error.txt"
            text = err_file.read_text() if err_file.is_file() else err
            lines = [s for s in text.strip().splitlines() if s.strip()]
            result.update(status="failed", error=(lines[-1] if lines else f"exit status {code}")[:500])
            failed_nb = tmp / f"{job.stem}.ipynb"
            if failed_nb.is_file():
                _atomic_move(failed_nb, Path(job.out_dir) / f"{job.stem}.error.ipynb")
            return result
        produced = [tmp / p.name for p in job.outputs]
        missing = [p.name for p in produced if not p.is_file()]
        if missing:
            result.update(status="failed", error=f"the notebook did not write {', '.join(missing)}")
            return result
        info = json.loads((tmp / job.json_name).read_text())
        if info.get("status") == "failed":
            result.update(status="failed", error=f"fit failed: {info.get('message', '')}"[:500])
        for src, dst in zip(produced, job.outputs):
            _atomic_move(src, dst)  # the JSON last: its presence marks a complete set
        (Path(job.out_dir) / f"{job.stem}.error.ipynb").unlink(missing_ok=True)
        return result
    finally:
        result["seconds"] = round(time.perf_counter() - t0, 2)
        _remove_tree(tmp)


def _remove_tree(folder: Path, tries: int = 20) -> None:
    """Remove a temporary folder, retrying while an exiting kernel still writes into it."""
    for _ in range(tries):
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            return
        time.sleep(0.1)


@functools.lru_cache(maxsize=1)
def _forkserver():
    """A multiprocessing context whose forkserver has papermill and nbconvert imported."""
    import multiprocessing as mp

    if "forkserver" not in mp.get_all_start_methods() or mp.current_process().daemon:
        return None
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["ikdsim.batch", "papermill", "nbconvert", "nbformat"])
    return ctx


def _child(spec_path: str) -> None:
    """Entry point of a forked job: the job's environment and folder, then :func:`_execute`."""
    spec = json.loads(Path(spec_path).read_text())
    os.environ.update(spec.get("env") or {})
    os.chdir(Path(spec_path).parent)
    sys.exit(_execute(spec_path))


def _watch_parent(owner: int | None = None) -> None:
    """Exit when the parent, or the batch process that owns the job, dies.

    A killed batch thus leaves no orphan running (its kernel follows: it watches this
    process in turn).
    """
    parent = os.getppid()

    def alive(pid: int | None) -> bool:
        if pid is None:
            return True
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True
        return True

    def watch() -> None:
        while True:
            time.sleep(0.25)
            if os.getppid() != parent or not alive(owner):
                os._exit(3)

    threading.Thread(target=watch, daemon=True).start()


def _execute(spec_path: str) -> int:
    """Child process: execute the notebook with papermill, export HTML, into the job's folder.

    On failure, writes the error (``Name: message``) to ``error.txt`` beside the spec.
    """
    spec = json.loads(Path(spec_path).read_text())
    _watch_parent(spec.get("owner_pid"))
    tmp = Path(spec_path).parent
    # The kernel inherits this process's stderr: keep its chatter out of the terminal.
    log = os.open(tmp / "stderr.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 2)
    os.close(log)
    params = dict(spec["parameters"], output_dir=str(tmp))
    import papermill as pm

    out_nb = tmp / f"{spec['stem']}.ipynb"
    try:
        pm.execute_notebook(
            spec["notebook"], str(out_nb), parameters=params, kernel_name=spec["kernel_name"],
            progress_bar=False, request_save_on_cell_execute=False, execution_timeout=spec["cell_timeout"],
            cwd=str(tmp),
        )  # fmt: skip
        if spec["html"]:
            export_html(out_nb, tmp / f"{spec['stem']}.html")
    except pm.PapermillExecutionError as exc:
        (tmp / "error.txt").write_text(f"{exc.ename}: {exc.evalue}\n")
        return 1
    except Exception as exc:  # noqa: BLE001 - reported in the status table
        (tmp / "error.txt").write_text(f"{type(exc).__name__}: {exc}\n")
        return 1
    return 0


def export_html(notebook: str | Path, html_path: str | Path) -> Path:
    """Convert an executed notebook to HTML with the code hidden (nbconvert), atomically."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4)
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb)
    return atomic_write(html_path, body.encode("utf-8"))


# ============================================================================ kernel
def resolve_kernel(cache_dir: str | Path) -> tuple[str, dict]:
    """A kernel name that runs this interpreter (where ikdsim is installed), and its env.

    ``python3`` when it resolves to this interpreter (a kernel spec whose command is plain
    ``python`` is started with the interpreter that starts it); otherwise a private kernel
    spec in ``cache_dir/kernels`` pointing to ``sys.executable``, found through
    ``JUPYTER_PATH``.
    """
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        spec = KernelSpecManager().get_kernel_spec("python3")
        cmd = spec.argv[0]
        plain = {"python", f"python{sys.version_info[0]}", "python%i.%i" % sys.version_info[:2]}
        if cmd in plain or os.path.realpath(cmd) == os.path.realpath(sys.executable):
            return "python3", {}
    except Exception:  # noqa: BLE001 - no usable python3 spec: make our own
        pass
    root = Path(cache_dir) / "kernels"
    kdir = root / "kernels" / "ikdsim-python"
    kernel = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ikdsim)",
        "language": "python",
    }
    atomic_write(kdir / "kernel.json", json.dumps(kernel, indent=1).encode())
    path = os.pathsep.join([str(root)] + ([os.environ["JUPYTER_PATH"]] if os.environ.get("JUPYTER_PATH") else []))
    return "ikdsim-python", {"JUPYTER_PATH": path}


# ============================================================================ stamps
def _stamp_path(out: Path, key: str) -> Path:
    return out / ".cache" / "stamps" / f"{key}.json"


def _fingerprint(job: Job) -> str:
    params = {k: v for k, v in job.parameters.items() if k not in ("fits_path", "summary_path", "output_dir")}
    blob = json.dumps({"version": __version__, "params": params, "html": job.html, "stem": job.stem}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _up_to_date(job: Job, out: Path, newest_input: float) -> bool:
    stamp = _stamp_path(out, job.key)
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    if recorded.get("fingerprint") != _fingerprint(job) or recorded.get("status") != "ok":
        return False
    for p in job.outputs + [stamp]:
        if not p.is_file() or p.stat().st_mtime < newest_input:
            return False
    return True


def _write_stamp(job: Job, out: Path, result: dict) -> None:
    data = {"fingerprint": _fingerprint(job), "status": result["status"], "version": __version__,
            "seconds": result["seconds"]}
    atomic_write(_stamp_path(out, job.key), json.dumps(data).encode())


def _clean_tmp(tmp_root: Path) -> None:
    """Remove temporary folders left by runs whose process is gone."""
    if not tmp_root.is_dir():
        return
    for d in tmp_root.iterdir():
        pid = d.name.split("-", 1)[0]
        alive = False
        if pid.isdigit():
            try:
                os.kill(int(pid), 0)
                alive = True
            except OSError:
                alive = False
        if not alive:
            shutil.rmtree(d, ignore_errors=True)


# ============================================================================ batch
@dataclass
class BatchResult:
    """What a batch did.

    Attributes
    ----------
    out : Path
        The output folder.
    status : pandas.DataFrame
        One row per job: region, name, status, seconds, error.
    summary : pandas.DataFrame or None
        One row of key numbers per region (``summary.csv``).
    seconds : float
        Wall time.
    """

    out: Path
    status: pd.DataFrame
    summary: pd.DataFrame | None
    seconds: float

    @property
    def ok(self) -> bool:
        """Every job succeeded or was up to date."""
        return bool(self.status["status"].isin(OK_STATUSES).all())

    @property
    def exit_code(self) -> int:
        """0 when every job is ok or up to date, 1 otherwise."""
        return 0 if self.ok else 1

    def format_status(self) -> str:
        """The status table as text."""
        s = self.status.copy()
        s["error"] = s["error"].fillna("").astype(str).str.slice(0, 70)
        return s.to_string(index=False)


def _region_codes(observations: pd.DataFrame, regions: pd.DataFrame) -> list[str]:
    """The regencies and cities (codes ``NN.NN``) of :func:`ikdsim.summary.default_codes`."""
    from .summary import default_codes  # it imports the fitting, which the notebooks need not

    return sorted(c for c in default_codes(observations, regions) if "." in c)


def _names(observations: pd.DataFrame, regions: pd.DataFrame) -> dict[str, str]:
    names = dict(zip(observations["region_code"].astype(str), observations["region_name"].astype(str)))
    names.update(zip(regions["region_code"].astype(str), regions["name"].astype(str)))
    return names


def run_batch(
    out: str | Path = "reports",
    *,
    data: str | Path | None = None,
    regions: str | Path | None = None,
    codes: Sequence[str] | None = None,
    jobs: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    html: bool = True,
    timeout: float = JOB_TIMEOUT,
    cell_timeout: float = CELL_TIMEOUT,
    target: float = 0.30,
    deadline: str = "2025-12-31",
    until: str = "2030-12-31",
    n_paths: int = 2000,
    seed: int = 0,
    lang: str = "id",
    scenario_files: Sequence[str] | None = None,
    notebooks_dir: str | Path | None = None,
    progress: bool = True,
) -> BatchResult:
    """Fit every region once, run the regency and overview notebooks, write the index.

    Parameters
    ----------
    out : str or Path
        Output folder (layout in the module docstring).
    data, regions : str or Path, optional
        Observations file and regions table (default: the shipped ones).
    codes : sequence of str, optional
        Regencies to report (``NN.NN``; a province code ``NN`` means all its regencies);
        default every regency and city.  The overview of each of their provinces runs too.
    jobs : int, optional
        Notebooks run at once (default: ``os.cpu_count()``).
    scheduler : str, optional
        A dask.distributed scheduler address (``tcp://HOST:PORT``): run the jobs there.
    force : bool
        Rerun jobs whose outputs are up to date.
    html : bool
        Also write HTML (code hidden).
    timeout, cell_timeout : float
        Time limits (seconds) of one notebook and of one cell.
    target, deadline, until, n_paths, seed, lang
        Passed to the notebooks.
    scenario_files : sequence of str, optional
        Scenario files for the regency notebooks (default: ``data/scenarios/*.yaml``).
    notebooks_dir : str or Path, optional
        Where the notebooks are (default: the repository's ``notebooks/``).
    progress : bool
        Show a progress bar (tqdm).

    Returns
    -------
    BatchResult

    Raises
    ------
    ikdsim.errors.DataError
        When the data or regions file has errors (nothing is run).
    """
    from .data import default_observations_path, default_regions_path, load_observations, load_regions
    from .report import default_scenario_files, index_html  # report imports this module

    t_start = time.perf_counter()
    out = Path(out).resolve()
    cache = out / ".cache"
    tmp_root = cache / "tmp"
    out.mkdir(parents=True, exist_ok=True)
    _clean_tmp(tmp_root)
    data_path = Path(data).resolve() if data else default_observations_path()
    regions_path = Path(regions).resolve() if regions else default_regions_path()
    nb_dir = Path(notebooks_dir).resolve() if notebooks_dir else default_notebooks_dir()
    scen = [str(Path(s).resolve()) for s in scenario_files] if scenario_files else default_scenario_files()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        regions_frame = load_regions(regions_path)
        obs = load_observations(data_path, regions=regions_frame)
    names = _names(obs, regions_frame)
    all_codes = _region_codes(obs, regions_frame)
    if codes:
        wanted: list[str] = []
        for c in codes:
            c = str(c)
            wanted.extend([r for r in all_codes if r.startswith(c + ".")] if "." not in c else [c])
        regency_codes = list(dict.fromkeys(wanted))
    else:
        regency_codes = all_codes
    provinces = sorted({c.split(".")[0] for c in regency_codes})

    inputs = [data_path, regions_path, *map(Path, scen), nb_dir / REGENCY_NOTEBOOK, nb_dir / OVERVIEW_NOTEBOOK,
              *_package_files()]  # fmt: skip
    newest_input = max(p.stat().st_mtime for p in inputs if p.exists())
    kernel, kenv = resolve_kernel(cache)
    common = dict(data_path=str(data_path), regions_path=str(regions_path), target=float(target),
                  deadline=str(deadline), until=str(until), n_paths=int(n_paths), seed=int(seed), lang=lang)  # fmt: skip
    fits_placeholder = str(cache / "fits.pkl")
    job_list: list[Job] = []
    for c in regency_codes:
        params = dict(region_code=c, **common, fits_path=fits_placeholder, scenario_files=list(scen),
                      run_scenarios=True)  # fmt: skip
        job_list.append(Job(c, str(nb_dir / REGENCY_NOTEBOOK), str(out / "regions" / c), "report", "summary.json",
                            params, str(tmp_root), html, timeout, cell_timeout, kernel, kenv))  # fmt: skip
    for p in provinces:
        params = dict(province=p, **common, fits_path=fits_placeholder, summary_path=str(out / "summary.csv"),
                      links="regions/{code}/report.html")  # fmt: skip
        job_list.append(Job(f"province_{p}", str(nb_dir / OVERVIEW_NOTEBOOK), str(out), f"province_{p}",
                            f"province_{p}.json", params, str(tmp_root), html, timeout, cell_timeout, kernel, kenv))  # fmt: skip

    todo = [j for j in job_list if force or not _up_to_date(j, out, newest_input)]
    skipped = [j for j in job_list if j not in todo]
    summary_file = out / "summary.csv"
    results: list[dict] = [
        {"region": j.key, "status": "up to date", "seconds": 0.0, "error": ""} for j in skipped
    ]
    summary = pd.read_csv(summary_file, dtype={"region_code": str}) if summary_file.is_file() else None
    summary_stale = (
        force or summary is None or summary_file.stat().st_mtime < newest_input
        or not (out / "index.html").is_file()
    )  # fmt: skip
    if todo or summary_stale:
        fits_path, fits = fit_cache(data_path, regions_path, cache, observations=obs, regions=regions_frame)
        for j in todo:
            j.parameters["fits_path"] = str(fits_path)
        summary, _ = summary_cache(obs, regions_frame, fits, fits_path, target=target, deadline=deadline,
                                   until=until, n_paths=n_paths, seed=seed)  # fmt: skip
        atomic_write(summary_file, summary.to_csv(index=False).encode("utf-8"))
        if todo:
            compile_package()  # each kernel imports the package: from bytecode, not source
        results.extend(_run_jobs(todo, out, jobs=jobs, scheduler=scheduler, progress=progress))

    order = {j.key: i for i, j in enumerate(job_list)}
    status = pd.DataFrame(results, columns=["region", "status", "seconds", "error"])
    status.insert(1, "name", [names.get(k, names.get(k.replace("province_", ""), "")) for k in status["region"]])
    status = status.sort_values("region", key=lambda s: s.map(order)).reset_index(drop=True)
    atomic_write(out / "status.csv", status.to_csv(index=False).encode("utf-8"))
    if summary is not None:
        page = index_html(
            summary, status.assign(region=status["region"].astype(str)),
            overview={f"Province {p} ({names.get(p, p)})": f"province_{p}.html" if html else f"province_{p}.ipynb"
                      for p in provinces},
            links="regions/{code}/report.html" if html else "regions/{code}/report.ipynb",
            generated=f"ikdsim {__version__}; data {data_path.name}; {pd.Timestamp.now():%Y-%m-%d %H:%M}",
        )  # fmt: skip
        atomic_write(out / "index.html", page.encode("utf-8"))
    return BatchResult(out, status, summary, round(time.perf_counter() - t_start, 2))


def _run_jobs(todo: list[Job], out: Path, *, jobs: int | None, scheduler: str | None, progress: bool) -> list[dict]:
    """Run jobs on threads driving child processes, or on a dask cluster; stamp each success."""
    from tqdm.auto import tqdm

    results: list[dict] = []
    if not todo:
        return results
    bar = tqdm(total=len(todo), desc="ikdsim run", unit="notebook", disable=not progress, leave=True)

    def done(job: Job, res: dict) -> None:
        if res["status"] == "ok":  # failures are retried by the next run
            _write_stamp(job, out, res)
        else:
            _stamp_path(out, job.key).unlink(missing_ok=True)
        results.append(res)
        bar.set_postfix_str(f"{job.key} {res['status']}", refresh=False)
        bar.update(1)

    try:
        if scheduler:
            try:
                from distributed import Client, as_completed as dask_completed
            except ImportError as exc:  # pragma: no cover - optional extra
                raise RuntimeError("--scheduler needs dask: pip install 'ikdsim[dask]'") from exc
            with Client(scheduler) as client:
                futures = {client.submit(run_job, j, isolation="subprocess", pure=False,
                                         key=f"ikdsim-{j.key}-{time.time_ns()}"): j for j in todo}  # fmt: skip
                for fut in dask_completed(futures):
                    job = futures[fut]
                    try:
                        res = fut.result()
                    except Exception as exc:  # noqa: BLE001 - a lost worker fails one job
                        res = {"region": job.key, "status": "failed", "seconds": 0.0, "error": f"{type(exc).__name__}: {exc}"}
                    done(job, res)
        else:
            workers = max(1, int(jobs or os.cpu_count() or 1))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                # Regencies first, the overviews (which read summary.csv only) with them.
                futures = {pool.submit(run_job, j): j for j in todo}
                for fut in as_completed(futures):
                    done(futures[fut], fut.result())
    finally:
        bar.close()
    return results


def main(argv: Iterable[str] | None = None) -> int:
    """``python -m ikdsim.batch JOB.json``: execute one job (the child side of :func:`run_job`)."""
    parser = argparse.ArgumentParser(prog="python -m ikdsim.batch")
    parser.add_argument("spec", help="job specification (JSON written by run_job)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    return _execute(args.spec)


if __name__ == "__main__":
    sys.exit(main())
