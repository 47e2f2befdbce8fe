"""``ikdsim simulate --scenario A.yaml [--scenario B.yaml ...] [--region CODE ...]``.

Compares outreach scenarios side by side, per region: the median date the target (30%)
is reached with its 80% interval, the probability of reaching it by the deadline, the
outreach activations, the activations added net of the organic adoption they displace,
team-days and activations per team-day (:func:`ikdsim.scenarios.compare`).  Fits every
province involved with pooling (:func:`ikdsim.fitting.fit_all`).

Exit status: 0 success; 1 a region could not be simulated (the others are printed);
2 bad input (a malformed scenario file: every problem is printed with the file, line, key
path, value and what is expected; an unknown region; a bad date).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

import numpy as np
import pandas as pd

from ..cli import command
from ..errors import DataError
from ._common import add_data_arguments

DEFAULT_SEED = 0


def add_common(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``simulate`` and ``plan``."""
    parser.add_argument("--deadline", metavar="YYYY-MM-DD", default=None,
                        help="deadline (default: the scenario's, else 2025-12-31)")
    parser.add_argument("--target", type=float, default=None, help="target share, 0-1 (default: the scenario's, else 0.30)")
    add_data_arguments(parser)
    # The option's first name, kept working: --data as in every other subcommand.
    parser.add_argument("--observations", dest="data", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--paths", type=int, default=2000, help="sample paths per region (default 2000)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default 0)")
    parser.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``ikdsim simulate``."""
    parser.add_argument("--scenario", metavar="FILE", action="append", required=True,
                        help="scenario YAML file; repeat to compare (e.g. data/scenarios/baseline.yaml)")
    parser.add_argument("--region", metavar="CODE", action="append", default=None,
                        help="region code; repeatable (default: every region a scenario covers)")
    parser.add_argument("--by-month", action="store_true", help="also print the outreach by channel and month")
    add_common(parser)


# ----------------------------------------------------------------------------- helpers
class InputError(Exception):
    """Bad command-line input: message lines for stderr, exit 2."""

    def __init__(self, lines):
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))


def parse_date(text: str | None, what: str = "--deadline") -> pd.Timestamp | None:
    """A YYYY-MM-DD option as a Timestamp (InputError otherwise)."""
    if text is None:
        return None
    try:
        import datetime as dt

        return pd.Timestamp(dt.date.fromisoformat(text))
    except ValueError:
        raise InputError([f"error: {what}: value {text!r}: not a date; expected YYYY-MM-DD"]) from None


def load_inputs(args, scenario_files):
    """Observations, regions and validated scenarios; InputError listing every problem."""
    from ..data import load_observations, load_regions
    from ..scenario_spec import ScenarioError, load_scenario

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            regions = load_regions(args.regions)
            obs = load_observations(args.data, regions=regions)
    except DataError as exc:
        raise InputError([f"error: {p}" for p in exc.problems if p.is_error]) from None
    scenarios, lines = [], []
    for f in scenario_files:
        try:
            scenarios.append(load_scenario(f, regions=regions))
        except ScenarioError as exc:
            errs = [p for p in exc.problems if p.is_error]
            lines += [f"error: {p}" for p in errs]
            lines.append(f"{f}: {len(errs)} error{'s' if len(errs) != 1 else ''}")
    if lines:
        raise InputError(lines)
    if args.target is not None and not 0 < args.target <= 1:
        raise InputError([f"error: --target: value {args.target}: out of range; expected a share in (0, 1]"])
    if args.paths < 10:
        raise InputError([f"error: --paths: value {args.paths}: too few; expected at least 10"])
    return obs, regions, scenarios


def check_regions(codes, regions, obs) -> None:
    """InputError for region codes neither in the regions table nor in the data."""
    known = set(regions["region_code"].astype(str)) | set(obs["region_code"].astype(str))
    bad = [c for c in codes if c not in known]
    if bad:
        raise InputError([f"error: --region: value {c!r}: unknown region; expected a code of the regions table "
                          f"(e.g. 64.09)" for c in bad])


def fit_for(obs, regions, codes):
    """Fits of the provinces holding ``codes`` (pooled; quiet)."""
    from ..fitting import fit_holding

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_holding(obs, codes, regions=regions)


def _date(s) -> str:
    return "-" if s is None else str(s)


def _count(x) -> str:
    return "-" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:,.0f}"


def format_region(code: str, fit, results, deadline_common) -> str:
    """Side-by-side table of one region's scenario results (ScenarioForecast list)."""
    sums = [r.summary(deadline_common) for r in results]
    target = sums[0]["target"]
    last = fit.last_observed
    head = f"{code} {fit.region_name}"
    if last is not None:
        head += f": last observed {last[0].date()} at {100 * last[1]:.2f}%"
    head += f"; model {fit.model_name} ({fit.status}); target {100 * target:g}%"
    names = [s["scenario"] for s in sums]

    def interval(s):
        if s["p10"] is None:
            return "-"
        return f"{s['p10']}..{s['p90'] if s['p90'] else '>' + s['until']}"

    def median(s):
        return s["p50"] if s["p50"] else f"after {s['until']}"

    rows = [
        ("deadline", [s["deadline"] for s in sums]),
        (f"median {100 * target:g}% date", [median(s) for s in sums]),
        ("80% interval", [interval(s) for s in sums]),
        ("P(by deadline)", [f"{100 * s['prob_by_deadline']:.1f}%" for s in sums]),
        ("share at deadline", [f"{100 * s['share_at_deadline_p50']:.1f}%" for s in sums]),
        ("outreach activations", [_count(s["activations"]) for s in sums]),
        ("  by the deadline", [_count(s["activations_by_deadline"]) for s in sums]),
        ("net added by deadline", [_count(s["net_added_by_deadline"]) for s in sums]),
        ("team-days", [_count(s["team_days"]) for s in sums]),
        ("activations/team-day", ["-" if s["per_team_day"] is None else f"{s['per_team_day']:.1f}" for s in sums]),
    ]
    lw = max(len(r[0]) for r in rows) + 2
    w = max([12] + [len(n) for n in names] + [len(v) for _, vals in rows for v in vals]) + 2
    lines = [head, " " * lw + "".join(f"{n:>{w}}" for n in names)]
    lines += [f"{label:<{lw}}" + "".join(f"{v:>{w}}" for v in vals) for label, vals in rows]
    for s in sums:
        for note in s["notes"]:
            if "baseline" in note:
                continue
            lines.append(f"  note ({s['scenario']}): {note}")
    return "\n".join(lines)


def format_months(result) -> str:
    """The monthly accounting of one result as text."""
    acc = result.accounting()
    if acc.empty:
        return f"  {result.scenario}: no outreach"
    piv = acc.pivot_table(index="month", columns="source", values="activations_mean", aggfunc="sum", fill_value=0.0)
    piv["total"] = piv.sum(axis=1)
    piv.index = [m.strftime("%Y-%m") for m in piv.index]
    td = acc.groupby("month")["team_days"].sum()
    piv["team_days"] = td.to_numpy()
    text = piv.to_string(float_format=lambda x: f"{x:,.0f}")
    return f"  {result.scenario} (mean activations by month; team-days):\n" + "\n".join("    " + l for l in text.splitlines())


@command("simulate", "compare outreach scenarios side by side, per region (exit 2 on a bad scenario file)")(configure)
def run(args: argparse.Namespace) -> int:
    """Run ``ikdsim simulate``; return the exit status."""
    from ..scenarios import base_of, simulate
    from ..scenario_spec import ScenarioError

    try:
        deadline = parse_date(args.deadline)
        obs, regions, scenarios = load_inputs(args, args.scenario)
        if args.region:
            check_regions(args.region, regions, obs)
            codes = list(dict.fromkeys(args.region))
        else:
            codes = []
            for sc in scenarios:
                for c in sc.region_codes(regions):
                    if c not in codes:
                        codes.append(c)
            if not codes:
                raise InputError(["error: the scenarios cover no region; give --region"])
    except InputError as exc:
        print("\n".join(exc.lines), file=sys.stderr)
        return 2
    fits = fit_for(obs, regions, codes)
    status, out_json, blocks = 0, [], []
    for code in codes:
        fit = fits.get(code)
        if fit is None or fit.status == "failed":
            why = "no fit" if fit is None else fit.message
            print(f"error: {code}: cannot simulate: {why}", file=sys.stderr)
            status = 1
            continue
        results = []
        try:
            base = base_of(fit, regions)
            for sc in scenarios:
                dl = deadline if deadline is not None else sc.deadline
                results.append((sc, dl))
            ends = [pd.Timestamp("2030-12-31")] + [d + pd.DateOffset(years=1) for _, d in results]
            ends += [sc.for_region(code).last_end + pd.DateOffset(years=2) for sc, _ in results if sc.for_region(code).last_end is not None]
            until = max(ends)
            sims = [simulate(fit, sc, until=until, base=base, deadline=dl, n_paths=args.paths, seed=args.seed) for sc, dl in results]
            if args.target is not None:
                sims = [dataclass_replace_target(s, args.target) for s in sims]
        except (ScenarioError, ValueError) as exc:
            msgs = [str(p) for p in exc.problems] if isinstance(exc, ScenarioError) else [str(exc)]
            for m in msgs:
                print(f"error: {code}: {m}", file=sys.stderr)
            status = 1
            continue
        if args.format == "json":
            entry = {"region_code": code, "region_name": fit.region_name, "model": fit.model_name, "status": fit.status,
                     "last_observed": None if fit.last_observed is None else
                     {"as_of": fit.last_observed[0].date().isoformat(), "share": fit.last_observed[1]},
                     "base": base, "scenarios": []}
            for s in sims:
                d = s.summary()
                d["channels"] = s.totals().replace({np.nan: None}).to_dict(orient="records")
                if args.by_month:
                    acc = s.accounting()
                    acc["month"] = [m.strftime("%Y-%m") for m in acc["month"]]
                    d["months"] = acc.replace({np.nan: None}).to_dict(orient="records")
                entry["scenarios"].append(d)
            out_json.append(entry)
        else:
            block = format_region(code, fit, sims, None)
            if args.by_month:
                block += "\n" + "\n".join(format_months(s) for s in sims)
            blocks.append(block)
    if args.format == "json":
        print(json.dumps(out_json, indent=2, default=str))
    else:
        print("\n\n".join(blocks))
    return status


def dataclass_replace_target(result, target: float):
    """The result with another target share (for --target)."""
    import dataclasses

    return dataclasses.replace(result, target=float(target))
