"""``ikdsim simulate`` and ``ikdsim plan``: output, exit codes, malformed files."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

import ikdsim
from ikdsim.cli import main
from ikdsim.fitting import fit

SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "scenarios"
SHIPPED = [str(SCENARIOS / n) for n in ("baseline.yaml", "kaltim_jemput_bola.yaml", "kaltim_intensive.yaml")]


@pytest.fixture(scope="module")
def ppu_fits():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        regions = ikdsim.load_regions()
        obs = ikdsim.load_observations(regions=regions)
        return {"64.09": fit(obs, "64.09", regions=regions, pool=False, model="bass")}


@pytest.fixture
def fast_fits(monkeypatch, ppu_fits):
    """The CLI without the province fit (a quick PPU-only fit)."""
    import ikdsim.commands.plan as plan_cmd
    import ikdsim.commands.simulate as sim_cmd

    fake = lambda obs, regions, codes: ppu_fits  # noqa: E731
    monkeypatch.setattr(sim_cmd, "fit_for", fake)
    monkeypatch.setattr(plan_cmd, "fit_for", fake)


def args_for(*scenarios):
    out = []
    for s in scenarios:
        out += ["--scenario", s]
    return out


def test_simulate_table(fast_fits, capsys):
    rc = main(["simulate", *args_for(*SHIPPED), "--region", "64.09", "--paths", "300"])
    out = capsys.readouterr().out
    assert rc == 0
    assert out.startswith("64.09 Kabupaten Penajam Paser Utara")
    header = out.splitlines()[1].split()
    assert header == ["baseline", "jemput_bola", "intensive"]
    for label in ("median 30% date", "80% interval", "P(by deadline)", "outreach activations", "team-days",
                  "activations/team-day"):
        assert label in out


def test_simulate_json_dates_move_right_way(fast_fits, capsys):
    rc = main(["simulate", *args_for(*SHIPPED), "--region", "64.09", "--format", "json", "--paths", "300",
               "--by-month"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 0 and data[0]["region_code"] == "64.09"
    base, steady, intensive = data[0]["scenarios"]
    assert base["activations"] == 0
    assert base["p50"] is None or (steady["p50"] is not None and steady["p50"] <= base["p50"])
    assert steady["prob_by_deadline"] >= base["prob_by_deadline"]
    assert intensive["prob_by_deadline"] >= steady["prob_by_deadline"]
    assert intensive["p50"] <= steady["p50"]
    # The accounting adds up.
    for s in (steady, intensive):
        assert sum(c["activations_mean"] for c in s["channels"]) == pytest.approx(s["activations"], rel=1e-9)
        assert sum(m["activations_mean"] for m in s["months"]) == pytest.approx(s["activations"], rel=1e-9)
        assert sum(c["team_days"] for c in s["channels"]) == pytest.approx(s["team_days"], rel=1e-9)
        assert s["per_team_day"] == pytest.approx(s["activations"] / s["team_days"])


def test_plan_output(fast_fits, capsys):
    rc = main(["plan", "--region", "64.09", "--scenario", SHIPPED[1], "--deadline", "2026-12-31",
               "--channel", "villages", "--paths", "300"])
    out = capsys.readouterr().out
    assert rc == 0 and "REACHABLE: smallest teams on villages:" in out


def test_plan_unreachable(fast_fits, capsys, write_file):
    path = write_file("offices.yaml", """
region: "64.09"
channels:
  government_offices: {pool_share: 0.035, teams: 1, events_per_week: 2, reach_per_event: 60,
                       activate_share: 0.85, start: 2026-02-01, end: 2026-12-31}
""")
    rc = main(["plan", "--region", "64.09", "--scenario", str(path), "--deadline", "2026-12-31", "--paths", "200",
               "--max", "4"])
    out = capsys.readouterr().out
    assert rc == 0 and "NOT REACHABLE" in out and "top out below it" in out


def test_malformed_file_exit_2(capsys, write_file):
    path = write_file("bad.yaml", """
region: "64.09"
channels:
  villages:
    pool_share: 0.6
    teams: -3
    events_per_week: 2
    reach_per_event: 300
    activate_share: 0.35
    start: 2026-02-01
    end: 2026-01-01
  bus_stops: {teams: 1}
""")
    rc = main(["simulate", "--scenario", str(path), "--scenario", SHIPPED[0]])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"{path}:6: channels.villages.teams: value '-3': negative; expected a number >= 0" in err
    assert "channels.villages.end: value '2026-01-01': ends before it starts" in err
    assert "channels.bus_stops: unknown channel" in err
    assert f"{path}: 3 errors" in err
    rc = main(["plan", "--region", "64.09", "--scenario", str(path)])
    assert rc == 2


def test_bad_arguments_exit_2(capsys):
    assert main(["simulate", "--scenario", SHIPPED[0], "--region", "99.99"]) == 2
    assert "unknown region" in capsys.readouterr().err
    assert main(["plan", "--region", "64.09", "--scenario", SHIPPED[1], "--deadline", "2026-31-12"]) == 2
    assert "not a date" in capsys.readouterr().err
    assert main(["plan", "--region", "64.09", "--scenario", SHIPPED[1], "--channel", "bus_stops"]) == 2
    assert "not a channel" in capsys.readouterr().err
    assert main(["plan", "--region", "64.09", "--scenario", SHIPPED[0]]) == 2
    assert "no outreach channel" in capsys.readouterr().err
    assert main(["simulate", "--scenario", "/nonexistent.yaml"]) == 2
    assert "cannot read the file" in capsys.readouterr().err


@pytest.mark.slow
def test_simulate_all_kaltim(capsys):
    """The real province fit: every regency, dates move the right way."""
    rc = main(["simulate", *args_for(*SHIPPED), "--format", "json", "--paths", "500"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 0 and len(data) == 10
    for region in data:
        base, steady, intensive = region["scenarios"]
        assert base["prob_by_deadline"] <= steady["prob_by_deadline"] + 1e-9 <= intensive["prob_by_deadline"] + 2e-9
        assert 0 < steady["activations"] < intensive["activations"]


@pytest.mark.parametrize("option", ["--data", "--observations"])
def test_simulate_reads_the_data_file_named_by_data_as_the_other_commands(option, fast_fits, capsys, tmp_path):
    # --data as in forecast/backtest/run; --observations, its first name, still works.
    src = Path(__file__).resolve().parents[1] / "data" / "ikd_observations.csv"
    copy = tmp_path / "obs.csv"
    copy.write_bytes(src.read_bytes())
    code = main(["simulate", "--scenario", SHIPPED[0], "--region", "64.09", option, str(copy),
                 "--paths", "50", "--format", "json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)
    missing = main(["simulate", "--scenario", SHIPPED[0], "--region", "64.09", option, str(tmp_path / "nope.csv")])
    assert missing == 2
