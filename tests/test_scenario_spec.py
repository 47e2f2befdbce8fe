"""The scenario file format: the shipped files load, malformed files give clear errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import ikdsim
from ikdsim.scenario_spec import CHANNELS, ScenarioError, load_scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "scenarios"


@pytest.fixture(scope="module")
def regions():
    return ikdsim.load_regions()


GOOD = """
name: test
region: "64.09"
deadline: 2026-12-31
start: 2026-02-01
end: 2026-12-31
channels:
  villages: {pool_share: 0.6, teams: 2, events_per_week: 2, reach_per_event: 300, activate_share: 0.35}
  schools: {pool: 3000, teams: 1, events_per_week: 1, reach_per_event: 150, activate_share: 0.5, end: 2026-06-30}
events:
  - {name: fair, start: 2026-04-10, days: 5, activations_per_day: 60}
"""


def problems(write_file, text, regions, name="s.yaml"):
    path = write_file(name, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, regions=regions)
    return [str(p) for p in info.value.problems], str(path)


@pytest.mark.parametrize("name", ["baseline.yaml", "kaltim_jemput_bola.yaml", "kaltim_intensive.yaml"])
def test_shipped_scenarios_load(name, regions):
    sc = load_scenario(SCENARIOS / name, regions=regions)
    assert sc.regions == "all"
    codes = sc.region_codes(regions)
    assert "64.09" in codes and "64" not in codes and len(codes) == 10
    if name == "baseline.yaml":
        assert sc.is_empty
    else:
        plan = sc.for_region("64.09")
        assert not plan.is_empty
        assert all(c.start >= pd.Timestamp("2026-02-01") for c in plan.channels)


def test_good_file(write_file, regions):
    sc = load_scenario(write_file("s.yaml", GOOD), regions=regions)
    plan = sc.for_region("64.09")
    assert [c.name for c in plan.channels] == ["villages", "schools"]
    schools = plan.channels[1]
    assert schools.pool == 3000 and schools.end == pd.Timestamp("2026-06-30")
    assert schools.start == pd.Timestamp("2026-02-01")  # top-level default
    assert plan.events[0].end == pd.Timestamp("2026-04-14")
    assert sc.for_region("64.01").is_empty and not sc.applies_to("64.01")


def test_overrides_merge(write_file, regions):
    text = GOOD.replace('region: "64.09"', "regions: all") + """
overrides:
  "64.72":
    channels: {villages: {teams: 5}, schools: null}
    events: []
"""
    sc = load_scenario(write_file("s.yaml", text), regions=regions)
    ov = sc.for_region("64.72")
    assert [c.name for c in ov.channels] == ["villages"] and ov.channels[0].teams == 5
    assert ov.channels[0].reach_per_event == 300 and ov.events == ()
    assert sc.for_region("64.09").channels[0].teams == 2


def test_every_problem_named(write_file, regions):
    text = """
region: "64.99"
deadlin: 2026-12-31
channels:
  villages:
    pool_share: 0.6
    teams: -2
    events_per_week: 2
    reach_per_event: 300
    activate_share: 1.4
    start: 2026-05-01
    end: 2026-02-01
  vilages: {teams: 1}
events:
  - {name: fair, start: 2026-13-01, days: 0}
"""
    probs, path = problems(write_file, text, regions)
    text_all = "\n".join(probs)
    assert all(p.startswith(path + ":") for p in probs)
    assert f"{path}:3: deadlin: unknown key" in text_all and "did you mean 'deadline'" in text_all
    assert "region: value '64.99': unknown region" in text_all
    assert f"{path}:7: channels.villages.teams: value '-2': negative; expected a number >= 0" in text_all
    assert "channels.villages.activate_share: value '1.4': out of range" in text_all
    assert "channels.villages.end: value '2026-02-01': ends before it starts" in text_all
    assert "channels.vilages: unknown channel (did you mean 'villages'?)" in text_all
    assert "events[0].start: value '2026-13-01': not a date" in text_all
    assert "events[0].days: value '0'" in text_all
    assert len(probs) == 9  # no knock-on "missing" errors for invalid values


def test_pool_larger_than_base(write_file, regions):
    probs, _ = problems(write_file, GOOD.replace("pool: 3000", "pool: 150000"), regions)
    assert any("channels.schools.pool: value '150000': pool larger than the wajib-KTP base of 64.09 (140,750)" in p
               for p in probs)


def test_missing_and_exclusive_keys(write_file, regions):
    text = """
region: "64.09"
channels:
  villages: {pool: 100, pool_share: 0.5, teams: 1, events_per_week: 1, reach_per_event: 1, activate_share: 0.5}
  schools: {teams: 1}
"""
    probs, _ = problems(write_file, text, regions)
    joined = "\n".join(probs)
    assert "channels.villages.pool: value '100': both pool and pool_share given" in joined
    assert "channels.villages.start: missing" in joined
    assert "channels.schools.events_per_week: missing" in joined
    assert "channels.schools.pool_share: missing: the channel's eligible pool" in joined


def test_yaml_syntax_and_not_a_mapping(write_file, regions):
    probs, path = problems(write_file, "region: [64.09\nchannels: {", regions)
    assert "not valid YAML" in probs[0] and probs[0].startswith(path)
    probs, _ = problems(write_file, "- just a list\n", regions, name="t.yaml")
    assert "not a YAML mapping" in probs[0]


def test_unquoted_region_code(write_file, regions):
    sc = load_scenario(write_file("s.yaml", GOOD.replace('"64.09"', "64.09")), regions=regions)
    assert sc.regions == ("64.09",)


def test_channels_listed():
    assert "office_service" in CHANNELS and len(CHANNELS) == 7
