"""``ikdsim run``: fit every region once, then execute the report notebooks in parallel.

::

    ikdsim run [--data FILE] [--regions FILE] [--region CODE ...] [--out DIR] [--jobs N]
               [--scheduler ADDRESS] [--force] [--no-html] [--timeout SECONDS]
               [--n-paths N] [--seed N] [--lang id|en] [--quiet]

Writes ``DIR/regions/<code>/report.ipynb|html``, ``summary.json``, the province overview,
``index.html``, ``summary.csv`` and ``status.csv`` (layout: :mod:`ikdsim.batch`), and
prints the status table.  Exit status 0 when every notebook succeeded (or was up to date),
1 when a region failed or ran out of time (the others are still reported), 2 on bad input
data.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..cli import command


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``ikdsim run``."""
    parser.add_argument("--data", metavar="FILE", default=None,
                        help="observations file (default: the shipped data/ikd_observations.csv)")
    parser.add_argument("--regions", metavar="FILE", default=None,
                        help="regions table (default: the shipped data/regions.csv)")
    parser.add_argument("--region", metavar="CODE", nargs="+", default=None,
                        help="regencies to report (NN.NN; NN = all of a province); default all")
    parser.add_argument("--out", metavar="DIR", default="reports", help="output folder (default: reports)")
    parser.add_argument("--jobs", "-j", metavar="N", type=int, default=None,
                        help=f"notebooks run at once (default: all cores, {os.cpu_count()})")
    parser.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="run on a dask.distributed cluster, e.g. tcp://HOST:8786 (needs ikdsim[dask])")
    parser.add_argument("--force", action="store_true", help="rerun notebooks whose outputs are up to date")
    parser.add_argument("--no-html", dest="html", action="store_false", help="skip the HTML export")
    parser.add_argument("--timeout", metavar="SECONDS", type=float, default=600.0,
                        help="time limit of one notebook (default: 600)")
    parser.add_argument("--n-paths", metavar="N", type=int, default=2000, help="simulated paths per region (default: 2000)")
    parser.add_argument("--seed", metavar="N", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--lang", choices=("id", "en"), default="id", help="language of the reports (default: id)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")  # fmt: skip


@command("run", "fit every region once and run the report notebooks (HTML, index, summary.csv)")(configure)
def run(args: argparse.Namespace) -> int:
    """Run ``ikdsim run``; return the exit status."""
    from ..batch import run_batch
    from ..errors import DataError

    try:
        result = run_batch(
            args.out, data=args.data, regions=args.regions, codes=args.region, jobs=args.jobs,
            scheduler=args.scheduler, force=args.force, html=args.html, timeout=args.timeout,
            n_paths=args.n_paths, seed=args.seed, lang=args.lang, progress=not args.quiet,
        )  # fmt: skip
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.format_status())
    n_bad = int((~result.status["status"].isin(("ok", "up to date"))).sum())
    print(f"\n{len(result.status)} notebooks, {n_bad} failed, {result.seconds:.1f} s; "
          f"open {result.out / 'index.html'}")  # fmt: skip
    return result.exit_code
