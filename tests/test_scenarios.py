"""Outreach simulation: invariants, the plain forecast without outreach, a case by hand."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ikdsim
from ikdsim.fitting import fit
from ikdsim.scenario_spec import ScenarioError, load_scenario, parse_scenario
from ikdsim.scenarios import (
    _lift,
    _Organic,
    _run,
    _sources,
    deplete_pool,
    organic_draws,
    organic_increment,
    outreach_yield,
    plan,
    simulate,
    thin_organic,
    warped_increments,
)
from ikdsim.timeaxis import to_years

SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "scenarios"
UNTIL = "2029-12-31"


@pytest.fixture(scope="module")
def regions():
    return ikdsim.load_regions()


@pytest.fixture(scope="module")
def ppu(regions):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obs = ikdsim.load_observations(regions=regions)
        return fit(obs, "64.09", regions=regions, pool=False, model="bass")


def villages(teams=2.0, events=2.0, start="2026-02-01", end="2026-12-31", **extra):
    ch = {"pool_share": 0.6, "teams": teams, "events_per_week": events, "reach_per_event": 300,
          "activate_share": 0.35, "start": start, "end": end}
    ch.update(extra)
    return {"region": "64.09", "deadline": "2026-12-31", "channels": {"villages": ch}}


# ------------------------------------------------------------------ pure functions by hand
def test_pure_functions_by_hand():
    W = np.array([0.1])
    assert outreach_yield(W, 0.05, 0.2)[0] == pytest.approx(0.1 * (1 - np.exp(-0.25)))
    assert outreach_yield(W, 1e9, 0.2)[0] == pytest.approx(0.1)  # never more than the willing
    assert thin_organic(np.array([1.0]), np.array([0.08]), np.array([0.2]))[0] == pytest.approx(0.9)
    # (0.1 - 0.02) * (1 - 0.07 / (1 - 0.2 - 0.02))
    assert deplete_pool(W, np.array([0.02]), np.array([0.07]), np.array([0.78]))[0] == pytest.approx(0.08 * (1 - 0.07 / 0.78))
    t = np.array([0.0, 1.0, 2.0, 3.0])
    mu = np.array([[0.1, 0.2, 0.3]])
    assert np.array_equal(warped_increments(t, mu, np.zeros(4)), mu)
    # lift of half a year from t = 1: G(1) = .1, G(2.5) = .45, G(3.5) = .6 + .5 * .3
    out = warped_increments(t, mu, np.array([0.0, 0.0, 0.5, 0.5]))
    assert out[0] == pytest.approx([0.1, 0.35, 0.3])


def test_warped_increments_are_the_interpolation_formula():
    """The in-place form gives the numbers of G[idx] + w (G[idx + 1] - G[idx]) exactly."""
    rng = np.random.default_rng(2)
    t = np.cumsum(np.r_[2.5, np.full(80, 7 / 365.25)])
    mu = rng.gamma(0.5, 1e-3, (50, 80))
    lift = np.r_[np.zeros(20), np.linspace(0, 0.3, 30), np.full(31, 0.3)]
    G = np.concatenate((np.zeros((50, 1)), np.cumsum(mu, axis=1)), axis=1)
    tau = t + lift
    idx = np.clip(np.searchsorted(t, tau, side="right") - 1, 0, t.size - 2)
    w = (tau - t[idx]) / (t[idx + 1] - t[idx])
    want = np.clip(np.diff(G[:, idx] + w[None, :] * (G[:, idx + 1] - G[:, idx]), axis=1), 0.0, None)
    assert np.array_equal(warped_increments(t, mu, lift), want)


def test_small_case_by_hand():
    """Two weekly steps, one channel, a flat organic trend of 0.001 a step, N = 10,000."""
    N = 10_000.0
    origin = pd.Timestamp("2026-01-01")
    t = to_years(pd.to_datetime(["2026-01-01", "2026-01-08", "2026-01-15"]), origin)
    level0 = np.array([0.2])
    mu = np.array([[0.001, 0.001]])
    org = _Organic(t=t, level0=level0, mu=mu, noise=np.zeros_like(mu), plain=np.array([[0.2, 0.201, 0.202]]))
    sc = parse_scenario({"region": "64.09", "channels": {"villages": {
        "pool": 5000, "teams": 1, "events_per_week": 5, "reach_per_event": 200, "activate_share": 0.5,
        "start": "2026-01-01", "end": "2026-01-14"}}})
    run = _run(org, sc.for_region("64.09"), origin, N)
    # By hand: P = 0.5, W0 = 0.5 * 0.5 * (1 - 0.2) = 0.2; contacts a week 1000 / N = 0.1.
    P, W, s, theta = 0.5, 0.2, 0.2, 1.0
    A1 = W * (1 - np.exp(-0.1 / P))                      # 0.036254...
    o1 = theta * 0.001
    W = (W - A1) * (1 - o1 / (1 - s - A1))
    theta = theta * (1 - A1 / (1 - s))
    s1 = 0.2 + o1 + A1
    A2 = W * (1 - np.exp(-0.1 / P))
    o2 = theta * 0.001
    s2 = 0.2 + (o1 + A1) + (o2 + A2)
    assert run.outreach[0, :, 0] == pytest.approx([A1, A2], rel=1e-12)
    assert run.organic[0] == pytest.approx([o1, o2], rel=1e-12)
    assert run.paths[0] == pytest.approx([0.2, s1, s2], rel=1e-12)
    assert run.team_days[:, 0] == pytest.approx([5.0, 5.0])
    assert A1 * N == pytest.approx(362.54, abs=0.01)


def _run_plainly(org, rplan, origin, N):
    """The model of the module docstring as a plain loop over steps and sources (the
    reference that the vectorised ``_run`` must match bit for bit)."""
    t, level0, mu, noise = org.t, org.level0, org.mu, org.noise
    n, steps = mu.shape
    sources = _sources(rplan, t, origin, N)
    C = len(sources)
    mu_w = warped_increments(t, mu, _lift(rplan, t, origin))
    ratio = np.divide(mu_w, mu, out=np.ones_like(mu), where=mu > 0)
    W = np.stack([src.willing0 * (1.0 - level0) for src in sources], axis=1)
    theta, acc, s = np.ones(n), np.zeros(n), level0.copy()
    paths, out_A, out_o = np.empty((n, t.size)), np.zeros((n, steps, C)), np.empty((n, steps))
    paths[:, 0] = level0
    for j in range(steps):
        o = np.minimum(organic_increment(mu_w[:, j], noise[:, j] * ratio[:, j], theta), np.clip(1.0 - s, 0.0, None))
        A = np.zeros((n, C))
        for c, src in enumerate(sources):
            if src.cap is not None:
                if src.cap[j] > 0:
                    A[:, c] = np.minimum(src.cap[j], W[:, c])
            elif src.contacts[j] > 0:
                A[:, c] = outreach_yield(W[:, c], src.contacts[j], src.pool)
        total = A.sum(axis=1)
        room = np.clip(1.0 - s - o, 0.0, None)
        A *= np.where(total > room, np.divide(room, total, out=np.zeros_like(total), where=total > 0), 1.0)[:, None]
        total = A.sum(axis=1)
        for c in range(C):
            W[:, c] = deplete_pool(W[:, c], A[:, c], o, 1.0 - s - total)
        theta = thin_organic(theta, total, s)
        acc = acc + (o + total)
        s = np.minimum(level0 + acc, 1.0)
        paths[:, j + 1], out_A[:, j, :], out_o[:, j] = s, A, o
    return paths, out_A, out_o, W


@pytest.mark.parametrize("teams_factor", [1.0, 60.0])  # 60: the pools run dry
@pytest.mark.parametrize("name", ["kaltim_intensive.yaml", "kaltim_jemput_bola.yaml"])
def test_vectorised_run_matches_the_plain_loop_bit_for_bit(ppu, regions, name, teams_factor):
    import dataclasses

    sc = load_scenario(SCENARIOS / name, regions=regions)
    rplan = sc.for_region("64.09")
    rplan = dataclasses.replace(rplan, channels=tuple(dataclasses.replace(c, teams=c.teams * teams_factor)
                                                      for c in rplan.channels))  # fmt: skip
    org = organic_draws(ppu, until=UNTIL, n_paths=300, seed=4)
    N = float(ppu.data.base)
    run = _run(org, rplan, ppu.start, N)
    paths, out_A, out_o, W = _run_plainly(org, rplan, ppu.start, N)
    if name == "kaltim_intensive.yaml":
        assert len(run.labels) >= 8  # enough sources for numpy's pairwise summation to matter
    assert np.array_equal(run.paths, paths) and np.array_equal(run.outreach, out_A)
    assert np.array_equal(run.organic, out_o) and np.array_equal(run.willing_left, W)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_idle_stretch_at_once_equals_step_by_step(seed):
    """Steps without outreach done at once (_idle) give the loop's numbers bit for bit,
    also for paths that reach 100% inside the stretch, or start there."""
    from ikdsim.scenarios import _idle, _idle_steps

    rng = np.random.default_rng(seed)
    steps, n, C = 40, 500, 3
    level0 = rng.uniform(0.1, 0.6, n)
    level0[:5] = 1.0  # already full
    trend = np.clip(rng.normal(0.01, 0.02, (steps, n)), 0, None) * rng.uniform(0.1, 3.0, n)  # fast ones cap
    theta = rng.uniform(0.0, 1.0, n)
    acc = rng.uniform(0.0, 0.05, n)
    s = np.minimum(level0 + acc, 1.0)
    W = rng.uniform(0.0, 0.2, (C, n))
    got_p, got_o, ref_p, ref_o = (np.empty((steps, n)) for _ in range(4))
    got = _idle(trend, theta, acc, s, W, level0, got_p, got_o)
    ref = _idle_steps(trend, theta, acc, s, W, level0, ref_p, ref_o)
    assert 20 < np.sum(ref_p[-1] == 1.0) < n  # some paths reach the cap, not all
    assert np.array_equal(got_p, ref_p) and np.array_equal(got_o, ref_o)
    assert all(np.array_equal(a, b) for a, b in zip(got, ref))


# ------------------------------------------------------------------ against the plain forecast
def test_no_outreach_equals_plain_forecast(ppu):
    plain = ppu.forecast(until=UNTIL, n_paths=500, seed=3)
    for sc in (load_scenario(SCENARIOS / "baseline.yaml"), villages(teams=0)):
        res = simulate(ppu, sc, until=UNTIL, n_paths=500, seed=3)
        assert np.array_equal(res.paths, plain.paths)
        assert np.array_equal(res.baseline.paths, plain.paths)
        assert res.target_date().to_dict() == plain.target_date().to_dict()
        assert res.activations().sum() == 0
    # An outreach that never starts within the horizon runs through the stepping loop.
    late = simulate(ppu, villages(start="2035-01-01", end="2035-06-30"), until=UNTIL, n_paths=500, seed=3)
    np.testing.assert_allclose(late.paths, plain.paths, rtol=0, atol=1e-14)


def test_invariants_and_accounting(ppu):
    sc = villages(teams=50, events=7)  # far more than the pool can take
    sc["events"] = [{"name": "fair", "start": "2026-04-10", "days": 5, "activations_per_day": 90}]
    res = simulate(ppu, sc, until=UNTIL, n_paths=400, seed=1)
    assert res.paths.max() <= 1.0 and np.all(np.diff(res.paths, axis=1) >= 0)
    assert np.all(res.outreach >= 0) and np.all(res.willing_left >= 0)
    # Nobody activates twice: a pool gives at most its willing at the start.
    taken = res.outreach.sum(axis=1)
    assert np.all(taken <= res.willing_start + 1e-12)
    # Paths = start + organic + outreach, step by step.
    recon = res.paths[:, :1] + np.cumsum(res.organic + res.outreach.sum(axis=2), axis=1)
    np.testing.assert_allclose(res.paths[:, 1:], recon, atol=1e-12)
    # The per-step totals the simulation kept are the outreach summed over sources, exactly.
    assert res.outreach_total is not None and np.array_equal(res.outreach_total, res.outreach.sum(axis=2))
    # Months add up to totals, totals to the activations; team-days likewise.
    acc, tot = res.accounting(), res.totals()
    assert acc["activations_mean"].sum() == pytest.approx(tot["activations_mean"].sum(), rel=1e-9)
    assert tot["activations_mean"].sum() == pytest.approx(res.activations().mean(), rel=1e-9)
    assert acc["team_days"].sum() == pytest.approx(res.total_team_days(), rel=1e-9)
    by_src = acc.groupby("source")["activations_mean"].sum()
    for row in tot.itertuples():
        assert by_src[row.source] == pytest.approx(row.activations_mean, rel=1e-9)
    # Team-days by hand: 50 teams x 7 a week over 2026-02-01..2026-12-31 (334 days), and 5 fair days.
    assert res.total_team_days() == pytest.approx(50 * 7 * 334 / 7 + 5, rel=1e-9)
    assert acc["month"].min() == pd.Timestamp("2026-02-01") and acc["month"].max() == pd.Timestamp("2026-12-01")
    fair = tot.set_index("source").loc["fair"]
    assert fair.activations_mean == pytest.approx(450.0, rel=1e-6)
    # No double counting: net gain below the gross outreach (organic adopters-to-be taken).
    assert res.net_added("2029-12-31").mean() < res.activations().mean()


def test_more_effort_never_later(ppu):
    prev_p50, prev_prob = None, -1.0
    for teams in (0, 1, 2, 3, 5, 8):
        res = simulate(ppu, villages(teams=teams), until=UNTIL, n_paths=400, seed=2)
        td = res.target_date(0.30)
        p50 = td.p50 if td.p50 is not None else pd.Timestamp.max
        if prev_p50 is not None:
            assert p50 <= prev_p50
        prob = td.prob_by("2026-12-31")
        assert prob >= prev_prob
        prev_p50, prev_prob = p50, prob
    assert prev_prob > 0.9  # 8 village teams get PPU there


def test_word_of_mouth_brings_organic_forward(ppu):
    a = simulate(ppu, villages(teams=1), until=UNTIL, n_paths=300, seed=4)
    b = simulate(ppu, villages(teams=1, word_of_mouth=0.5), until=UNTIL, n_paths=300, seed=4)
    mid = pd.Timestamp("2026-12-31")
    assert np.median(b.at([mid])) > np.median(a.at([mid]))
    assert b.paths.max() <= 1.0


def test_unknown_base_refuses_counts(ppu):
    import dataclasses

    nobase = dataclasses.replace(ppu, data=dataclasses.replace(ppu.data, base=float("nan")))
    with pytest.raises(ScenarioError, match="no known wajib-KTP base"):
        simulate(nobase, villages(), until=UNTIL, n_paths=50)
    res = simulate(nobase, villages(), until=UNTIL, n_paths=50, base=140750)
    assert res.activations().mean() > 0
    with pytest.raises(ScenarioError, match="pool larger than the wajib-KTP base"):
        sc = villages()
        sc["channels"]["villages"].pop("pool_share")
        sc["channels"]["villages"]["pool"] = 150000
        simulate(ppu, sc, until=UNTIL, n_paths=50)


def test_start_after_deadline_is_said(ppu):
    sc = villages()
    sc["deadline"] = "2025-12-31"
    res = simulate(ppu, sc, until=UNTIL, n_paths=200)
    assert any("after the deadline 2025-12-31" in n for n in res.notes)
    base = simulate(ppu, load_scenario(SCENARIOS / "baseline.yaml"), until=UNTIL, n_paths=200)
    assert res.target_date().prob_by("2025-12-31") == base.target_date().prob_by("2025-12-31")
    p = plan(ppu, sc, prob=0.8, n_paths=200)
    assert not p.feasible and "after the deadline" in p.message


def test_plan_finds_smallest_and_says_unreachable(ppu):
    p = plan(ppu, villages(), deadline="2026-12-31", prob=0.8, vary="teams", n_paths=300)
    assert p.feasible and p.value >= 1 and p.achieved >= 0.8
    below = p.evaluations.set_index("teams").loc[p.value - 1, "prob_by_deadline"]
    assert below < 0.8
    small = {"region": "64.09", "channels": {"government_offices": {
        "pool_share": 0.035, "teams": 1, "events_per_week": 2, "reach_per_event": 60, "activate_share": 0.85,
        "start": "2026-02-01", "end": "2026-12-31"}}}
    q = plan(ppu, small, deadline="2026-12-31", prob=0.8, n_paths=200, max_value=8)
    assert not q.feasible and q.saturated_prob < 0.8 and "top out below it" in q.message
    r = plan(ppu, villages(), deadline="2026-12-31", prob=0.8, vary="events_per_week", n_paths=300)
    assert r.feasible and r.value % 0.5 == 0
