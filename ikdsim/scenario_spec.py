"""Outreach ("jemput bola") scenario files: the YAML format, its validation, and the model.

A scenario says what outreach a regency office runs, for one region or all: channels (teams
visiting government offices, schools, campuses, villages, companies, public events, and
every office visitor asked to activate), each with the pool of residents it can reach, and
one-off events (a fair of N days).  :func:`load_scenario` reads and validates a file and
returns a :class:`Scenario`; every problem is collected in one pass and raised together as
a :class:`ScenarioError` naming the file, the line, the key path
(``channels.villages.teams``), the value and what is expected.

Format
------
::

    name: PPU jemput bola                # optional (default: the file name)
    description: free text               # optional
    region: "64.09"                      # one region; or `regions: all` / `regions: [..]`
    deadline: 2026-12-31                 # optional (default 2025-12-31)
    target: 0.30                         # optional (default 0.30)
    start: 2026-02-01                    # optional defaults for every channel's dates
    end: 2026-12-31
    word_of_mouth: 0.0                   # optional default lift (see below)
    channels:
      villages:                          # one of CHANNELS
        pool_share: 0.70                 # eligible pool: share of wajib KTP, or
        # pool: 98000                    #   a count of residents (not both)
        teams: 2                         # teams working this channel
        events_per_week: 4               # events (visits) per team per week; 1 event = 1 team-day
        reach_per_event: 150             # residents reached per event
        activate_share: 0.5              # share of reached non-adopters who can and do activate
        start: 2026-02-01                # active from start to end, both inclusive
        end: 2026-12-31
        word_of_mouth: 0.1               # optional: organic-rate lift while it runs
    events:                              # one-off events
      - name: HUT PPU fair
        start: 2026-04-10
        days: 5
        activations_per_day: 60          # or reach_per_day + activate_share
        teams: 1                         # optional (team-days = teams x days)
    overrides:                           # optional, per region (with `regions:`)
      "64.72":
        channels: {villages: {teams: 4}} # merged key by key into the channels above
        events: []                       # replaces the event list

Channel units: an *event* is one team-day (a village visit, a school session, a day at an
office); ``office_service`` is written the same way (``teams``: service points,
``events_per_week``: service days, ``reach_per_event``: visitors a day who are asked).
Counts (``pool``, reaches) are residents; the simulation converts them to shares of the
region's wajib-KTP base, so a region whose base is unknown cannot take them
(:mod:`ikdsim.scenarios`).  ``word_of_mouth`` is the Generalized Bass effort lift
``beta``: while the channel runs, the organic adoption clock runs ``1 + beta`` times as fast.

Region codes should be quoted (``"64.10"``); an unquoted number is read with two decimals.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from .errors import DataError

__all__ = [
    "CHANNELS",
    "Channel",
    "OneOffEvent",
    "RegionPlan",
    "Scenario",
    "ScenarioProblem",
    "ScenarioError",
    "load_scenario",
    "parse_scenario",
    "DEFAULT_DEADLINE",
    "DEFAULT_TARGET",
]

#: The outreach channels a scenario may use.
CHANNELS: tuple[str, ...] = (
    "government_offices",
    "schools",
    "campuses",
    "villages",
    "companies",
    "office_service",
    "public_events",
)

DEFAULT_DEADLINE = pd.Timestamp("2025-12-31")
DEFAULT_TARGET = 0.30

_TOP_KEYS = ("name", "description", "region", "regions", "deadline", "target", "start", "end",
             "word_of_mouth", "channels", "events", "overrides")
_CHANNEL_KEYS = ("pool", "pool_share", "teams", "events_per_week", "reach_per_event",
                 "activate_share", "start", "end", "word_of_mouth", "note")
_EVENT_KEYS = ("name", "start", "days", "activations_per_day", "reach_per_day", "activate_share",
               "teams", "pool", "pool_share", "word_of_mouth", "note")
_OVERRIDE_KEYS = ("channels", "events")


# ----------------------------------------------------------------------------- problems
@dataclass(frozen=True)
class ScenarioProblem:
    """One problem in a scenario file.

    Attributes
    ----------
    file : str
        The file as the user named it.
    path : str
        Key path, e.g. ``channels.villages.teams`` or ``events[0].days`` ("" for the file).
    value : str or None
        The offending value as written.
    message, expected : str
        What is wrong, and what would be right.
    line : int or None
        Line in the file (1-based), when known.
    severity : {'error', 'warning'}
    """

    file: str
    path: str
    value: str | None
    message: str
    expected: str = ""
    line: int | None = None
    severity: str = "error"

    @property
    def is_error(self) -> bool:
        """True for an error."""
        return self.severity == "error"

    def __str__(self) -> str:
        text = self.file + (f":{self.line}" if self.line else "") + ": "
        if self.path:
            text += f"{self.path}: "
        if self.value is not None:
            text += f"value {self.value!r}: "
        text += self.message
        if self.expected:
            text += f"; expected {self.expected}"
        return text


class ScenarioError(DataError):
    """A scenario file that cannot be used; ``.problems`` lists every problem found."""


# ----------------------------------------------------------------------------- model
@dataclass(frozen=True)
class Channel:
    """One outreach channel as it runs in one region.

    ``pool`` (a count) or ``pool_share`` (share of wajib KTP) is set, not both.  Contacts
    per week are ``teams * events_per_week * reach_per_event``; team-days per week are
    ``teams * events_per_week``.  Active from ``start`` to ``end`` inclusive.
    """

    name: str
    teams: float
    events_per_week: float
    reach_per_event: float
    activate_share: float
    start: pd.Timestamp
    end: pd.Timestamp
    pool: float | None = None
    pool_share: float | None = None
    word_of_mouth: float = 0.0

    def pool_in_share(self, base: float) -> float:
        """The pool as a share of the base (a count needs a known base)."""
        if self.pool_share is not None:
            return float(self.pool_share)
        return float(self.pool) / base


@dataclass(frozen=True)
class OneOffEvent:
    """A one-off event of ``days`` days from ``start`` (a fair, a campus day).

    Yield: ``activations_per_day`` (capped by the willing left in its pool), or
    ``reach_per_day`` residents with ``activate_share`` activating, as for a channel.  The
    pool defaults to the whole wajib-KTP base.
    """

    name: str
    start: pd.Timestamp
    days: float
    teams: float = 1.0
    activations_per_day: float | None = None
    reach_per_day: float | None = None
    activate_share: float = 1.0
    pool: float | None = None
    pool_share: float | None = None
    word_of_mouth: float = 0.0

    @property
    def end(self) -> pd.Timestamp:
        """Last day of the event."""
        return self.start + pd.Timedelta(days=max(float(self.days), 1.0) - 1.0)

    def pool_in_share(self, base: float) -> float:
        """The pool as a share of the base (default 1: anybody)."""
        if self.pool is not None:
            return float(self.pool) / base
        return 1.0 if self.pool_share is None else float(self.pool_share)


@dataclass(frozen=True)
class RegionPlan:
    """The outreach of one region: channels and one-off events."""

    channels: tuple[Channel, ...] = ()
    events: tuple[OneOffEvent, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when there is no outreach at all."""
        return not any(c.teams * c.events_per_week * c.reach_per_event * c.activate_share > 0 for c in self.channels) and not any(
            e.days > 0 and ((e.activations_per_day or 0) > 0 or (e.reach_per_day or 0) * e.activate_share > 0)
            for e in self.events
        )

    @property
    def first_start(self) -> pd.Timestamp | None:
        """Earliest start of any channel or event."""
        starts = [c.start for c in self.channels] + [e.start for e in self.events]
        return min(starts) if starts else None

    @property
    def last_end(self) -> pd.Timestamp | None:
        """Latest end of any channel or event."""
        ends = [c.end for c in self.channels] + [e.end for e in self.events]
        return max(ends) if ends else None

    def with_knob(self, knob: str, value: float, channels: Iterable[str] | None = None) -> RegionPlan:
        """The plan with ``knob`` (``teams`` or ``events_per_week``) set to ``value`` on the
        given channels (default: every channel)."""
        if knob not in ("teams", "events_per_week"):
            raise ValueError(f"knob must be 'teams' or 'events_per_week', not {knob!r}")
        names = set(channels) if channels is not None else {c.name for c in self.channels}
        chans = tuple(dataclasses.replace(c, **{knob: float(value)}) if c.name in names else c for c in self.channels)
        return RegionPlan(chans, self.events)


@dataclass(frozen=True)
class Scenario:
    """A validated outreach scenario (from :func:`load_scenario`).

    Attributes
    ----------
    name, description, file : str
    regions : "all" or tuple of str
        Where it applies (``all``: every regency and city of the regions table).
    deadline : pandas.Timestamp
    target : float
    plan : RegionPlan
        The outreach for every region it applies to.
    overrides : dict of str to RegionPlan
        Regions with their own (merged) outreach.
    """

    name: str
    regions: str | tuple[str, ...]
    plan: RegionPlan
    overrides: Mapping[str, RegionPlan] = field(default_factory=dict)
    deadline: pd.Timestamp = DEFAULT_DEADLINE
    target: float = DEFAULT_TARGET
    description: str = ""
    file: str = "<scenario>"

    def applies_to(self, code: str) -> bool:
        """True when the scenario covers region ``code``."""
        if self.regions == "all":
            return code != "ID" and "." in code or code in self.overrides
        return code in self.regions

    def for_region(self, code: str) -> RegionPlan:
        """The outreach in region ``code`` (empty where the scenario does not apply)."""
        if not self.applies_to(code):
            return RegionPlan()
        return self.overrides.get(code, self.plan)

    def region_codes(self, regions: pd.DataFrame | None = None) -> list[str]:
        """The regions covered, in the regions table's order where given."""
        if self.regions != "all":
            return list(self.regions)
        if regions is None:
            return sorted(self.overrides)
        return [c for c in regions["region_code"].astype(str) if self.applies_to(c)]

    @property
    def is_empty(self) -> bool:
        """True when no region gets any outreach (a baseline)."""
        return self.plan.is_empty and all(p.is_empty for p in self.overrides.values())


# ----------------------------------------------------------------------------- parsing
#: libyaml's safe loader where PyYAML was built with it (the wheels are): the same
#: documents, nodes and marks as the pure-Python one, about five times faster (a report
#: notebook reads every scenario file).
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):
    """The safe loader, keeping dates as text (validated by us: 2026-13-01 is an error
    with its key path, not a crash)."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))


def _line_map(text: str) -> dict[str, int]:
    """Key path -> 1-based line, from the YAML node tree (best effort)."""
    out: dict[str, int] = {}
    try:
        root = yaml.compose(text, Loader=_SafeLoader)
    except yaml.YAMLError:
        return out

    def walk(node, path: str) -> None:
        out.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = _code_text(k.value) if path.endswith("overrides") else str(k.value)
                p = f"{path}.{key}" if path else key
                out[p] = k.start_mark.line + 1
                walk(v, p)
                out[p] = k.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, f"{path}[{i}]")

    if root is not None:
        walk(root, "")
    return out


def _code_text(value: Any) -> str:
    """A region code as text (an unquoted number read with two decimals)."""
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value.strip()
        if "." in value and len(value.split(".")[1]) == 1:
            return f"{float(value):.2f}"
        return value.strip()
    return str(value)


class _Collector:
    def __init__(self, file: str, lines: Mapping[str, int]):
        self.file, self.lines, self.problems = file, lines, []

    def add(self, path: str, value, message: str, expected: str = "", severity: str = "error") -> None:
        line = self.lines.get(path)
        if line is None:
            parent = path
            while parent and line is None:
                parent = parent.rsplit(".", 1)[0] if "." in parent else ""
                line = self.lines.get(parent)
        shown = None if value is _MISSING else _show(value)
        self.problems.append(ScenarioProblem(self.file, path, shown, message, expected, line, severity))

    def unknown_keys(self, d: Mapping, allowed: Iterable[str], path: str, what: str) -> None:
        allowed = tuple(allowed)
        for k in d:
            if str(k) not in allowed:
                close = difflib.get_close_matches(str(k), allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.add(f"{path}.{k}" if path else str(k), _MISSING, f"unknown key in {what}{hint}",
                         "one of " + ", ".join(allowed))


_MISSING = object()


def _show(value) -> str:
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    return str(value)


def _number(c: _Collector, d: Mapping, key: str, path: str, *, lo=0.0, hi=None, lo_open=False,
            integer=False, required=False, default=None):
    p = f"{path}.{key}" if path else key
    if key not in d or d[key] is None:
        if required:
            c.add(p, _MISSING, "missing", _expect(lo, hi, lo_open, integer))
        return default
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        try:
            v = float(str(v).replace("_", ""))
        except ValueError:
            c.add(p, d[key], "not a number", _expect(lo, hi, lo_open, integer))
            return default
    v = float(v)
    bad = v != v or (lo is not None and (v <= lo if lo_open else v < lo)) or (hi is not None and v > hi)
    if bad:
        what = "negative" if lo == 0 and v < 0 else "out of range"
        c.add(p, d[key], what, _expect(lo, hi, lo_open, integer))
        return default
    if integer and v != int(v):
        c.add(p, d[key], "not a whole number", _expect(lo, hi, lo_open, integer))
        return default
    return v


def _expect(lo, hi, lo_open, integer) -> str:
    kind = "a whole number" if integer else "a number"
    if lo is not None and hi is not None:
        return f"{kind} in {'(' if lo_open else '['}{lo:g}, {hi:g}]"
    if lo is not None:
        return f"{kind} {'>' if lo_open else '>='} {lo:g}"
    return kind


def _date(c: _Collector, d: Mapping, key: str, path: str, *, required=False, default=None):
    p = f"{path}.{key}" if path else key
    if key not in d or d[key] is None:
        if required and default is None:
            c.add(p, _MISSING, "missing", "a date YYYY-MM-DD")
        return default
    v = d[key]
    if isinstance(v, (_dt.date, _dt.datetime)):
        return pd.Timestamp(v).normalize()
    try:
        if not isinstance(v, str) or len(v.strip()) != 10:
            raise ValueError
        return pd.Timestamp(_dt.date.fromisoformat(v.strip()))
    except ValueError:
        c.add(p, v, "not a date", "a date YYYY-MM-DD")
        return default


def _channel_fields(c: _Collector, d, path: str, defaults: Mapping) -> dict | None:
    """Type and range checks of one channel's keys (values present only)."""
    if not isinstance(d, Mapping):
        c.add(path, d, "a channel must be a mapping of keys", "keys " + ", ".join(_CHANNEL_KEYS))
        return None
    c.unknown_keys(d, _CHANNEL_KEYS, path, "a channel")
    out: dict = {}
    out["pool"] = _number(c, d, "pool", path, lo=0, integer=True)
    out["pool_share"] = _number(c, d, "pool_share", path, lo=0, hi=1, lo_open=True)
    out["teams"] = _number(c, d, "teams", path, lo=0)
    out["events_per_week"] = _number(c, d, "events_per_week", path, lo=0, hi=7 * 24)
    out["reach_per_event"] = _number(c, d, "reach_per_event", path, lo=0)
    out["activate_share"] = _number(c, d, "activate_share", path, lo=0, hi=1)
    out["start"] = _date(c, d, "start", path)
    out["end"] = _date(c, d, "end", path)
    out["word_of_mouth"] = _number(c, d, "word_of_mouth", path, lo=0)
    if "pool" in d and "pool_share" in d and d["pool"] is not None and d["pool_share"] is not None:
        c.add(f"{path}.pool", d["pool"], "both pool and pool_share given", "one of them")
    clean = {k: v for k, v in out.items() if k in d and d[k] is not None and v is not None}
    clean["_invalid"] = {k for k in out if k in d and d[k] is not None and out[k] is None}
    return clean


def _finish_channel(c: _Collector, name: str, fields: Mapping, path: str, defaults: Mapping,
                    bases: Mapping[str, float], codes: Iterable[str]) -> Channel | None:
    """Completeness and consistency of a merged channel; the Channel."""
    ok = not fields.get("_invalid")
    for key in ("teams", "events_per_week", "reach_per_event", "activate_share"):
        if key not in fields and key not in fields.get("_invalid", ()):
            c.add(f"{path}.{key}", _MISSING, "missing", "a number >= 0")
            ok = False
    if "pool" not in fields and "pool_share" not in fields and not {"pool", "pool_share"} & set(fields.get("_invalid", ())):
        c.add(f"{path}.pool_share", _MISSING, "missing: the channel's eligible pool",
              "pool (a count of residents) or pool_share (a share of wajib KTP, 0-1)")
        ok = False
    start = fields.get("start", defaults.get("start"))
    end = fields.get("end", defaults.get("end"))
    for key, v in (("start", start), ("end", end)):
        if v is None:
            c.add(f"{path}.{key}", _MISSING, "missing (and no top-level default)", "a date YYYY-MM-DD")
            ok = False
    if start is not None and end is not None and end < start:
        c.add(f"{path}.end", end.date(), f"ends before it starts ({start.date()})", "an end on or after the start")
        ok = False
    pool = fields.get("pool")
    if pool is not None and not _pool_fits(c, pool, path, bases, codes):
        ok = False
    if not ok:
        return None
    wom = fields.get("word_of_mouth", defaults.get("word_of_mouth", 0.0)) or 0.0
    return Channel(
        name=name, teams=fields["teams"], events_per_week=fields["events_per_week"],
        reach_per_event=fields["reach_per_event"], activate_share=fields["activate_share"],
        start=start, end=end, pool=pool, pool_share=fields.get("pool_share"), word_of_mouth=float(wom),
    )  # fmt: skip


def _pool_fits(c: _Collector, pool: float, path: str, bases: Mapping[str, float],
               codes: Iterable[str]) -> bool:
    """Whether ``pool`` is within the wajib-KTP base of every region; a problem for each it exceeds."""
    ok = True
    for code in codes:
        base = bases.get(code)
        if base is not None and base == base and pool > base:
            c.add(f"{path}.pool", int(pool), f"pool larger than the wajib-KTP base of {code} ({base:,.0f})",
                  f"at most {base:,.0f}, or a pool_share")
            ok = False
    return ok


def _events(c: _Collector, items, path: str, defaults: Mapping, bases: Mapping[str, float],
            codes: Iterable[str]) -> tuple[OneOffEvent, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        c.add(path, items, "events must be a list", "a list of events, each with name, start, days and a yield")
        return ()
    out = []
    for i, d in enumerate(items):
        p = f"{path}[{i}]"
        if not isinstance(d, Mapping):
            c.add(p, d, "an event must be a mapping", "keys " + ", ".join(_EVENT_KEYS))
            continue
        c.unknown_keys(d, _EVENT_KEYS, p, "an event")
        name = str(d.get("name", f"event {i + 1}"))
        start = _date(c, d, "start", p, required=True)
        days = _number(c, d, "days", p, lo=0, lo_open=True, integer=True, required=True)
        apd = _number(c, d, "activations_per_day", p, lo=0)
        rpd = _number(c, d, "reach_per_day", p, lo=0)
        share = _number(c, d, "activate_share", p, lo=0, hi=1)
        teams = _number(c, d, "teams", p, lo=0, default=1.0)
        pool = _number(c, d, "pool", p, lo=0, integer=True)
        pool_share = _number(c, d, "pool_share", p, lo=0, hi=1, lo_open=True)
        wom = _number(c, d, "word_of_mouth", p, lo=0, default=defaults.get("word_of_mouth", 0.0) or 0.0)
        has_apd, has_rpd = d.get("activations_per_day") is not None, d.get("reach_per_day") is not None
        if has_apd == has_rpd:
            c.add(p, _MISSING, "give the event's yield one way",
                  "activations_per_day, or reach_per_day with activate_share (not both)")
            continue
        if has_rpd and d.get("activate_share") is None:
            c.add(f"{p}.activate_share", _MISSING, "missing (needed with reach_per_day)", "a number in [0, 1]")
            continue
        if pool is not None and pool_share is not None:
            c.add(f"{p}.pool", d["pool"], "both pool and pool_share given", "one of them")
            continue
        if pool is not None:
            _pool_fits(c, pool, p, bases, codes)
        if start is None or days is None:
            continue
        out.append(OneOffEvent(
            name=name, start=start, days=days, teams=teams if teams is not None else 1.0,
            activations_per_day=apd, reach_per_day=rpd, activate_share=1.0 if share is None else share,
            pool=pool, pool_share=pool_share, word_of_mouth=float(wom or 0.0),
        ))  # fmt: skip
    return tuple(out)


def parse_scenario(data: Any, *, file: str = "<scenario>", regions: pd.DataFrame | None = None,
                   text: str | None = None) -> Scenario:
    """Validate a scenario already read from YAML (a dict) and build the :class:`Scenario`.

    Parameters
    ----------
    data : dict
        The YAML document.
    file : str
        Name used in problems.
    regions : pandas.DataFrame, optional
        The regions table (:func:`ikdsim.load_regions`): region codes are checked against
        it, and count pools against each region's wajib-KTP base.
    text : str, optional
        The YAML text, for line numbers in problems.

    Raises
    ------
    ScenarioError
        Listing every problem.
    """
    c = _Collector(file, _line_map(text) if text else {})
    if not isinstance(data, Mapping):
        c.add("", _MISSING if data is None else data, "the file is not a YAML mapping",
              "keys such as region, channels, events")
        raise ScenarioError(c.problems)
    c.unknown_keys(data, _TOP_KEYS, "", "the scenario")

    known: dict[str, float] = {}
    if regions is not None:
        for r in regions.itertuples(index=False):
            known[str(r.region_code)] = float(r.wajib_ktp) if pd.notna(getattr(r, "wajib_ktp", None)) else float("nan")
    regencies = [k for k in known if "." in k]

    # Where it applies.
    scope: str | tuple[str, ...] = ()
    if ("region" in data) == ("regions" in data):
        c.add("region", _MISSING, "say where the scenario applies (once)",
              "region: \"64.09\", or regions: all, or regions: [\"64.09\", ...]")
    elif "region" in data:
        scope = (_code_text(data["region"]),)
    else:
        v = data["regions"]
        if isinstance(v, str) and v.strip().lower() == "all":
            scope = "all"
        elif isinstance(v, list) and v:
            scope = tuple(_code_text(x) for x in v)
        else:
            c.add("regions", v, "not a list of region codes", "all, or a list of region codes")
    if scope != "all" and known:
        key = "region" if "region" in data else "regions"
        for code in scope:
            if code not in known:
                c.add(key, code, "unknown region", "a code of the regions table (e.g. 64.09)")

    deadline = _date(c, data, "deadline", "", default=DEFAULT_DEADLINE)
    target = _number(c, data, "target", "", lo=0, hi=1, lo_open=True, default=DEFAULT_TARGET)
    defaults = {
        "start": _date(c, data, "start", ""),
        "end": _date(c, data, "end", ""),
        "word_of_mouth": _number(c, data, "word_of_mouth", "", lo=0, default=0.0),
    }
    codes_for_pools = list(regencies if scope == "all" else scope)
    bases = {k: v for k, v in known.items()}

    # Channels.
    raw_channels = data.get("channels") or {}
    fields_by_channel: dict[str, dict] = {}
    if not isinstance(raw_channels, Mapping):
        c.add("channels", raw_channels, "channels must be a mapping", "channel names: " + ", ".join(CHANNELS))
        raw_channels = {}
    for name, d in raw_channels.items():
        p = f"channels.{name}"
        if str(name) not in CHANNELS:
            close = difflib.get_close_matches(str(name), CHANNELS, n=1)
            c.add(p, _MISSING, "unknown channel" + (f" (did you mean {close[0]!r}?)" if close else ""),
                  "one of " + ", ".join(CHANNELS))
            continue
        f = _channel_fields(c, d, p, defaults)
        if f is not None:
            fields_by_channel[str(name)] = f
    override_codes = set()
    raw_over = data.get("overrides") or {}
    if not isinstance(raw_over, Mapping):
        c.add("overrides", raw_over, "overrides must be a mapping", "region code: {channels: ..., events: ...}")
        raw_over = {}
    for code in raw_over:
        override_codes.add(_code_text(code))
    top_codes = [k for k in codes_for_pools if k not in override_codes] if scope == "all" else [k for k in codes_for_pools if k not in override_codes]
    chans = []
    for name, f in fields_by_channel.items():
        ch = _finish_channel(c, name, f, f"channels.{name}", defaults, bases, top_codes)
        if ch is not None:
            chans.append(ch)
    events = _events(c, data.get("events"), "events", defaults, bases, top_codes)
    plan = RegionPlan(tuple(chans), events)

    # Per-region overrides.
    overrides: dict[str, RegionPlan] = {}
    for code_raw, od in raw_over.items():
        code = _code_text(code_raw)
        op = f"overrides.{code}"
        if known and code not in known:
            c.add(op, code, "unknown region", "a code of the regions table (e.g. 64.09)")
            continue
        if scope != "all" and code not in scope:
            c.add(op, code, "region not in the scenario's regions", "one of " + ", ".join(scope))
            continue
        if od is None:
            od = {}
        if not isinstance(od, Mapping):
            c.add(op, od, "an override must be a mapping", "keys channels and events")
            continue
        c.unknown_keys(od, _OVERRIDE_KEYS, op, "an override")
        och = od.get("channels") or {}
        if not isinstance(och, Mapping):
            c.add(f"{op}.channels", och, "channels must be a mapping", "channel names: " + ", ".join(CHANNELS))
            och = {}
        merged = {k: dict(v) for k, v in fields_by_channel.items()}
        for name, d in och.items():
            p = f"{op}.channels.{name}"
            if str(name) not in CHANNELS:
                c.add(p, _MISSING, "unknown channel", "one of " + ", ".join(CHANNELS))
                continue
            if d is None:  # `villages: null` switches the channel off in this region
                merged.pop(str(name), None)
                continue
            f = _channel_fields(c, d, p, defaults)
            if f is None:
                continue
            if "pool" in f:
                merged.setdefault(str(name), {}).pop("pool_share", None)
            if "pool_share" in f:
                merged.setdefault(str(name), {}).pop("pool", None)
            invalid = merged.setdefault(str(name), {}).get("_invalid", set()) | f["_invalid"]
            merged[str(name)].update(f)
            merged[str(name)]["_invalid"] = invalid
        ochans = []
        for name, f in merged.items():
            where = f"{op}.channels.{name}" if name in och else f"channels.{name}"
            ch = _finish_channel(c, name, f, where, defaults, bases, [code])
            if ch is not None:
                ochans.append(ch)
        oev = _events(c, od["events"], f"{op}.events", defaults, bases, [code]) if "events" in od else plan.events
        overrides[code] = RegionPlan(tuple(ochans), oev)

    errors = [p for p in c.problems if p.is_error]
    if errors:
        raise ScenarioError(c.problems)
    name = data.get("name")
    return Scenario(
        name=str(name) if name else Path(file).stem,
        regions=scope,
        plan=plan,
        overrides=overrides,
        deadline=deadline,
        target=float(target),
        description=str(data.get("description") or ""),
        file=file,
    )


def load_scenario(path, *, regions: pd.DataFrame | None = None) -> Scenario:
    """Read and validate a scenario file.

    Parameters
    ----------
    path : str or Path
        The YAML file.
    regions : pandas.DataFrame, optional
        The regions table (default: none, so region codes and count pools are checked
        only when the scenario is simulated); the CLI passes the shipped table.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        Every problem found, each naming the file, line, key path, value and what is
        expected.
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError([ScenarioProblem(name, "", None, f"cannot read the file ({exc.strerror})",
                                             "a readable YAML file")]) from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        msg = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError([ScenarioProblem(name, "", None, f"not valid YAML: {msg}", "a YAML mapping", line)]) from None
    return parse_scenario(data, file=name, regions=regions, text=text)
