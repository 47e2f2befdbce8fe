"""``ikdsim plan --region CODE --scenario FILE --deadline YYYY-MM-DD [--prob 0.8] [--vary teams]``.

Finds the smallest effort (teams, or events per team per week, set on the scenario's
channels) for which the probability of reaching the target (30%) by the deadline is at
least ``--prob`` (:func:`ikdsim.scenarios.plan`), or says plainly that it cannot be reached
that way and gives the best probability found.

Exit status: 0 an answer (reachable or not); 1 the region cannot be simulated; 2 bad input
(a malformed scenario file, an unknown region or channel, a bad date or probability).
"""

from __future__ import annotations

import argparse
import json
import sys

from ..cli import command
from .simulate import InputError, add_common, check_regions, fit_for, format_region, load_inputs, parse_date


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``ikdsim plan``."""
    parser.add_argument("--region", metavar="CODE", required=True, help="region code, e.g. 64.09")
    parser.add_argument("--scenario", metavar="FILE", required=True, help="scenario YAML file (channels, pools, yields, dates)")
    parser.add_argument("--prob", type=float, default=0.8, help="wanted probability of the target by the deadline (default 0.8)")
    parser.add_argument("--vary", choices=("teams", "events_per_week"), default="teams", help="the knob searched (default teams)")
    parser.add_argument("--channel", metavar="NAME", action="append", default=None,
                        help="channel to vary; repeatable (default: every channel of the scenario in the region)")
    parser.add_argument("--max", type=float, default=None, dest="max_value",
                        help="largest knob value tried (default 200 teams, 14 events a week)")
    add_common(parser)


def format_plan(res) -> str:
    """The text ``ikdsim plan`` prints."""
    r = res.result
    lines = [
        f"{r.region_code} {r.region_name}: scenario {r.scenario}",
        f"wanted: P(share >= {100 * res.target:g}% by {res.deadline.date()}) >= {100 * res.prob:g}%, "
        f"varying {res.knob.replace('_', ' ')} on {', '.join(res.channels)}",
        ("REACHABLE: " if res.feasible else "NOT REACHABLE: ") + res.message,
        f"without the varied channels: {100 * res.baseline_prob:.1f}%; every willing resident of the pools at once: "
        f"{100 * res.saturated_prob:.1f}%",
        "",
        "tried:",
    ]
    ev = res.evaluations
    head = f"  {res.knob:>15}  {'P(by deadline)':>14}  {'median date':>11}  {'activations':>11}  {'team-days':>9}"
    lines.append(head)
    for row in ev.itertuples(index=False):
        p50 = "-" if row.p50 is None or row.p50 != row.p50 else str(row.p50.date())
        lines.append(f"  {getattr(row, res.knob):>15g}  {100 * row.prob_by_deadline:>13.1f}%  {p50:>11}  "
                     f"{row.activations:>11,.0f}  {row.team_days:>9,.0f}")
    lines += ["", "at " + (f"{res.value:g}" if res.value is not None else f"{res.best_value:g} (best found)") + ":"]
    lines.append(format_region(r.region_code, _FitLabel(r), [r], res.deadline))
    tot = r.totals()
    if len(tot):
        lines.append("by channel:")
        lines.append("\n".join("  " + l for l in tot[["source", "activations_mean", "team_days", "per_team_day"]]
                               .to_string(index=False, float_format=lambda x: f"{x:,.1f}").splitlines()))
    return "\n".join(lines)


class _FitLabel:
    """The labels format_region needs, from a forecast."""

    def __init__(self, fc):
        self.region_name, self.model_name, self.status = fc.region_name, fc.model_name, fc.status
        self.last_observed = fc.last_observed


@command("plan", "find the smallest outreach effort that reaches the target by a deadline")(configure)
def run(args: argparse.Namespace) -> int:
    """Run ``ikdsim plan``; return the exit status."""
    from ..scenario_spec import ScenarioError
    from ..scenarios import base_of, plan

    try:
        deadline = parse_date(args.deadline)
        if not 0 < args.prob <= 1:
            raise InputError([f"error: --prob: value {args.prob}: out of range; expected a probability in (0, 1]"])
        if args.max_value is not None and args.max_value <= 0:
            raise InputError([f"error: --max: value {args.max_value:g}: expected a number > 0"])
        obs, regions, (scenario,) = load_inputs(args, [args.scenario])
        check_regions([args.region], regions, obs)
        if not scenario.applies_to(args.region):
            raise InputError([f"error: {args.scenario}: the scenario does not cover region {args.region}"])
        have = [c.name for c in scenario.for_region(args.region).channels]
        for ch in args.channel or []:
            if ch not in have:
                raise InputError([f"error: --channel: value {ch!r}: not a channel of {args.scenario} in {args.region}; "
                                  f"expected one of {', '.join(have) or '(none)'}"])
        if not have:
            raise InputError([f"error: {args.scenario}: no outreach channel in {args.region} to vary"])
    except InputError as exc:
        print("\n".join(exc.lines), file=sys.stderr)
        return 2
    fits = fit_for(obs, regions, [args.region])
    fit = fits.get(args.region)
    if fit is None or fit.status == "failed":
        print(f"error: {args.region}: cannot simulate: {'no fit' if fit is None else fit.message}", file=sys.stderr)
        return 1
    try:
        res = plan(fit, scenario, deadline=deadline, prob=args.prob, vary=args.vary, channels=args.channel,
                   target=args.target, max_value=args.max_value, base=base_of(fit, regions),
                   n_paths=args.paths, seed=args.seed)
    except (ScenarioError, ValueError) as exc:
        msgs = [str(p) for p in exc.problems] if isinstance(exc, ScenarioError) else [str(exc)]
        for m in msgs:
            print(f"error: {args.region}: {m}", file=sys.stderr)
        return 1
    if args.format == "json":
        print(json.dumps(res.to_dict(), indent=2, default=str))
    else:
        print(format_plan(res))
    return 0
