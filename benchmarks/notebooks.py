"""Benchmark the report notebooks and ``ikdsim run``; print the figures.

1. **Notebook vs kernel floor**: a plain ``papermill`` call on the regency notebook with
   what ``ikdsim run`` gives it, against a papermill call on an empty notebook with one
   parameters cell, on the same machine: the floor is papermill's and the kernel's
   start-up.  Goal: the regency notebook within 1.5 times the floor.

   What is cached, made here exactly as ``ikdsim run`` makes it before it starts the
   notebooks: the **fits** of every region (``fits-<hash>.pkl``, :func:`ikdsim.batch.fit_cache`)
   and the **posterior parameter draws** of the summary table's forecasts
   (``draws-<hash>.pkl``, :func:`ikdsim.batch.summary_cache`, :mod:`ikdsim.drawcache`; the
   same seed and number of paths as the notebook).  The notebook still loads and validates
   the data and the scenario files, builds every path (process noise, the current trend and
   each scenario), and computes and draws everything it shows; it only skips refitting and
   re-running the posterior sampler (MCMC/importance sampling).  The time to make the two
   files (once per batch, for every region) is printed too.  The package is byte-compiled
   first, as ``ikdsim run`` does (:func:`ikdsim.batch.compile_package`).

   The same three notebooks are also timed through ``papermill.execute_notebook`` inside
   this process (papermill imported once, as ``ikdsim run`` runs them): that floor is the
   kernel's start-up alone.  A ``papermill`` command first spends about a second importing
   papermill (most of it ``jsonschema`` building the grammars of ``rfc3987_syntax``, a
   dependency of jupyterlab's), which the command-line floor includes and the
   in-process one does not; both ratios are printed.
2. **Parallel speedup**: ``ikdsim run --force`` (fits and draws cached, HTML on) with one
   job against all cores.  Goal: at least 1.7 on 2 cores.  ``--cold-draws`` deletes the
   draws file before each run, so the batch samples the posterior again (serially, for the
   summary) before the notebooks.

Run: ``.venv/bin/python benchmarks/notebooks.py [--repeat 5] [--n-paths 2000] [--region 64.09] [--cold-draws]``.
Timings are medians over ``--repeat`` runs, the three notebooks taken in turn; the load average is printed because other
processes on the machine change the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import nbformat

from ikdsim import batch
from ikdsim.data import default_observations_path, default_regions_path, load_observations, load_regions
from ikdsim.drawcache import draws_path

ROOT = Path(__file__).resolve().parents[1]
PAPERMILL = str(Path(sys.executable).parent / "papermill")


def empty_notebook(path: Path) -> Path:
    """A notebook with one annotated parameters cell and nothing else."""
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    cell = nbformat.v4.new_code_cell('region_code: str = "64.09"  # a parameter')
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    nbformat.write(nb, str(path))
    return path


def time_papermill(notebook: Path, out: Path, params: dict, env: dict) -> float:
    """Wall time of one ``papermill NOTEBOOK OUT -p ...`` as a subprocess."""
    args = [PAPERMILL, str(notebook), str(out), "--no-progress-bar"]
    for k, v in params.items():
        args += ["-p", k, str(v)]
    t0 = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, env=env, cwd=out.parent)
    return time.perf_counter() - t0


def time_in_process(notebook: Path, out: Path, params: dict, env: dict) -> float:
    """Wall time of ``papermill.execute_notebook`` in this process (papermill already imported)."""
    import papermill

    saved = dict(os.environ)
    os.environ.update(env)  # the kernel's environment, as for the command
    try:
        t0 = time.perf_counter()
        papermill.execute_notebook(str(notebook), str(out), progress_bar=False,
                                   parameters={k: str(v) if isinstance(v, Path) else v for k, v in params.items()},
                                   cwd=str(out.parent))  # fmt: skip
        return time.perf_counter() - t0
    finally:
        os.environ.clear()
        os.environ.update(saved)


def time_interleaved(runs: dict[str, tuple[Path, Path, dict]], repeat: int, env: dict, timer=time_papermill) -> dict[str, list[float]]:
    """Wall times of several papermill calls, taken in turn ``repeat`` times (A B C A B C ...).

    In turn rather than one after the other: a change of load on a shared machine then
    falls on every notebook alike, and their ratios stay comparable.
    """
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, (notebook, out, params) in runs.items():
            times[name].append(timer(notebook, out, params, env))
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per timing, taken in turn (median reported)")
    parser.add_argument("--n-paths", type=int, default=2000, help="paths per region (the default of ikdsim run)")
    parser.add_argument("--region", default="64.09", help="region of the regency notebook")
    parser.add_argument("--skip-speedup", action="store_true", help="only the notebook vs floor figures")
    parser.add_argument("--cold-draws", action="store_true",
                        help="speedup runs without the draws file (the batch samples the posterior again)")
    args = parser.parse_args(argv)

    cores = os.cpu_count() or 1
    print(f"machine: {cores} cores; load average {os.getloadavg()[0]:.2f} (1 min)")
    work = Path(tempfile.mkdtemp(prefix="ikdsim-bench-"))
    try:
        kernel, kenv = batch.resolve_kernel(work)
        env = {**os.environ, **kenv}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            fits_path, fits = batch.fit_cache(default_observations_path(), default_regions_path(), work / "cache")
            fit_s = time.perf_counter() - t0
            regions = load_regions()
            obs = load_observations(regions=regions)
            t0 = time.perf_counter()
            _, dpath = batch.summary_cache(obs, regions, fits, fits_path, n_paths=args.n_paths)
            draw_s = time.perf_counter() - t0
            batch.compile_package()  # as ikdsim run does before it starts the notebooks
        print(f"fit every region once (fit_all, cached for the notebooks): {fit_s:.1f} s")
        print(f"summary forecasts of every region, posterior draws cached for the notebooks: {draw_s:.1f} s")
        print(f"cached: {Path(fits_path).name} (fits), {dpath.name} (posterior draws, {dpath.stat().st_size / 1e6:.1f} MB)")

        # 1. The regency notebook against the empty-notebook floor.
        empty = empty_notebook(work / "empty.ipynb")
        params = {"region_code": args.region, "fits_path": fits_path, "n_paths": args.n_paths, "output_dir": work}
        regency_nb = ROOT / "notebooks" / "regency_forecast.ipynb"
        times = time_interleaved({
            "floor": (empty, work / "empty_out.ipynb", {"region_code": args.region}),
            "regency": (regency_nb, work / "regency_out.ipynb", params),
            "no_scen": (regency_nb, work / "regency_out2.ipynb", {**params, "run_scenarios": False}),
        }, args.repeat, env)  # fmt: skip
        floor, regency, no_scen = times["floor"], times["regency"], times["no_scen"]
        f, r, n = statistics.median(floor), statistics.median(regency), statistics.median(no_scen)
        print("\nplain papermill call with fits_path=%s (fits and posterior draws cached; median of %d, taken in turn)"
              % (Path(fits_path).name, args.repeat))
        print(f"  empty parameterized notebook (kernel floor): {f:6.2f} s")
        print(f"  regency notebook, {args.n_paths} paths, scenarios: {r:6.2f} s   ratio {r / f:.2f}  (goal <= 1.5)")
        print(f"  regency notebook, no scenarios:          {n:6.2f} s   ratio {n / f:.2f}")
        print("  where the regency notebook's time goes (last run, papermill's cell durations):")
        nb = nbformat.read(str(work / "regency_out.ipynb"), as_version=4)
        cells = [c for c in nb.cells if c.cell_type == "code"]
        in_cells = sum(c.metadata.get("papermill", {}).get("duration") or 0.0 for c in cells)
        for c in cells:
            first = c.source.strip().splitlines()[0] if c.source.strip() else ""
            print(f"    {c.metadata.get('papermill', {}).get('duration') or 0.0:5.2f} s  {first[:60]}")
        print(f"    {regency[-1] - in_cells:5.2f} s  outside the cells (kernel start-up, papermill, {len(nb.cells)} cells' saves)")

        # 1b. The same, papermill imported once (this process): the floor is the kernel's.
        import papermill  # noqa: F401 - imported before the timing, as in ikdsim run

        inproc = time_interleaved({
            "floor": (empty, work / "empty_in.ipynb", {"region_code": args.region}),
            "regency": (regency_nb, work / "regency_in.ipynb", params),
            "no_scen": (regency_nb, work / "regency_in2.ipynb", {**params, "run_scenarios": False}),
        }, args.repeat, env, timer=time_in_process)  # fmt: skip
        fi, ri, ni = (statistics.median(inproc[k]) for k in ("floor", "regency", "no_scen"))
        print(f"\npapermill.execute_notebook in this process (papermill imported once; median of {args.repeat}, taken in turn)")
        print(f"  empty parameterized notebook (kernel start-up alone): {fi:6.2f} s")
        print(f"  regency notebook, {args.n_paths} paths, scenarios: {ri:6.2f} s   ratio {ri / fi:.2f}   adds {ri - fi:.2f} s")
        print(f"  regency notebook, no scenarios:          {ni:6.2f} s   ratio {ni / fi:.2f}   adds {ni - fi:.2f} s")
        print(f"  (the command's floor above is {f - fi:.2f} s longer: starting Python and importing papermill)")

        # 2. ikdsim run: one job against all cores.
        if not args.skip_speedup:
            out = work / "reports"
            (out / ".cache").mkdir(parents=True)
            shutil.copy(fits_path, out / ".cache" / Path(fits_path).name)
            shutil.copy(dpath, out / ".cache" / dpath.name)
            walls = {}
            for jobs in sorted({1, cores}):
                if args.cold_draws:
                    draws_path(out / ".cache" / Path(fits_path).name).unlink(missing_ok=True)
                res = batch.run_batch(out, jobs=jobs, force=True, n_paths=args.n_paths, progress=False)
                if not res.ok:
                    print(res.format_status())
                walls[jobs] = res.seconds
                per = res.status["seconds"]
                print(f"\nikdsim run --force --jobs {jobs} (fits cached, draws {'sampled again' if args.cold_draws else 'cached'}): "
                      f"{res.seconds:6.1f} s wall, {len(res.status)} notebooks, "
                      f"median {per.median():.1f} s per notebook (with HTML)")  # fmt: skip
            if cores > 1:
                print(f"speedup {cores} cores over 1: {walls[1] / walls[cores]:.2f}  (goal >= 1.7 on 2 cores)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
