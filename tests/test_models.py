"""Tests for :mod:`ikdsim.models`: curve forms, broadcasting, anchoring, transforms."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ikdsim import models as M
from ikdsim.models import (
    CANDIDATES,
    MODELS,
    effort_from_pulses,
    generalized_bass,
    get_model,
)

# share-scale parameter sets (t in years since rollout)
PARAMS = {
    "logistic": (0.35, 1.8, 2.0),
    "gompertz": (0.35, 1.2, 1.5),
    "richards": (0.35, 1.5, 2.0, 0.4),
    "bass": (0.35, 0.02, 0.9),
    "bass_density": (0.35, 0.02, 0.9),
}
CEILING_MODELS = ["logistic", "gompertz", "richards", "bass"]


def test_registry_and_get_model():
    assert set(MODELS) == {"logistic", "gompertz", "richards", "bass", "bass_density"}
    assert CANDIDATES == ("logistic", "gompertz", "richards", "bass")
    assert all(c in MODELS for c in CANDIDATES)
    assert get_model("gompertz") is M.gompertz
    assert get_model(M.bass) is M.bass
    with pytest.raises(KeyError, match="known"):
        get_model("weibull")
    with pytest.raises(TypeError):
        MODELS["x"] = M.bass  # read-only registry
    with pytest.raises(dataclasses.FrozenInstanceError):
        M.logistic.name = "x"


@pytest.mark.parametrize("name", list(MODELS))
def test_metadata_consistent(name):
    m = MODELS[name]
    assert m.name == name
    assert len(m.lower) == len(m.upper) == len(m.param_names) == m.n_params
    assert all(lo < hi for lo, hi in zip(m.lower, m.upper))
    assert m.ceiling is None if name == "bass_density" else m.ceiling in ("K", "m")
    assert m.formula


def test_closed_forms_match_textbook():
    t = np.linspace(-1, 8, 50)
    K, r, t0 = 0.3, 1.4, 2.2
    np.testing.assert_allclose(M.logistic(t, K, r, t0), K / (1 + np.exp(-r * (t - t0))), rtol=1e-14)
    np.testing.assert_allclose(
        M.gompertz(t, K, r, t0), K * np.exp(-np.exp(-r * (t - t0))), rtol=1e-13
    )
    nu = 0.6
    np.testing.assert_allclose(
        M.richards(t, K, r, t0, nu), K * (1 + np.exp(-r * (t - t0))) ** (-1 / nu), rtol=1e-13
    )
    # nu = 1 is the logistic
    np.testing.assert_allclose(M.richards(t, K, r, t0, 1.0), M.logistic(t, K, r, t0), rtol=1e-14)
    m, p, q = 5.0, 0.03, 0.5
    E = np.exp(-(p + q) * t)
    np.testing.assert_allclose(M.bass(t, m, p, q), m * (1 - E) / (1 + q / p * E), rtol=1e-12)
    np.testing.assert_allclose(
        M.bass_density(t, m, p, q), m * ((p + q) ** 2 / p) * E / (1 + q / p * E) ** 2, rtol=1e-13
    )


@pytest.mark.parametrize("name", list(MODELS))
def test_broadcasting_n1_by_m(name):
    model = MODELS[name]
    rng = np.random.default_rng(0)
    n, mm = 7, 11
    t = np.linspace(0, 6, mm)
    draws = [np.asarray(v) * (1 + 0.1 * rng.standard_normal((n, 1))) for v in PARAMS[name]]
    draws = [np.abs(d) for d in draws]
    for fn in (model.curve, model.anchored, model.rate):
        out = fn(t, *draws)
        assert out.shape == (n, mm)
        # each row equals the scalar evaluation with that draw
        for i in (0, n - 1):
            row = fn(t, *(float(d[i, 0]) for d in draws))
            assert row.shape == (mm,)
            np.testing.assert_allclose(out[i], row, rtol=1e-13, atol=1e-300)
    # mixing scalar and (n, 1) parameters
    mixed = [draws[0]] + list(PARAMS[name][1:])
    assert model.curve(t, *mixed).shape == (n, mm)
    assert np.ndim(model.curve(1.5, *PARAMS[name])) == 0


@pytest.mark.parametrize("name", CEILING_MODELS)
def test_anchored_zero_at_origin_and_ceiling(name):
    model = MODELS[name]
    par = PARAMS[name]
    assert model.anchored(0.0, *par) == pytest.approx(0.0, abs=1e-15)
    assert model.anchored(500.0, *par) == pytest.approx(par[0], rel=1e-12)
    # monotone increasing between
    a = model.anchored(np.linspace(0, 20, 400), *par)
    assert np.all(np.diff(a) > 0)
    # and equals K (g - g0) / (1 - g0) computed naively
    t = np.linspace(0, 10, 41)
    g = model.curve(t, *par) / par[0]
    g0 = model.curve(0.0, *par) / par[0]
    np.testing.assert_allclose(model.anchored(t, *par), par[0] * (g - g0) / (1 - g0), rtol=1e-10)


def test_anchored_is_curve_for_bass_forms():
    t = np.linspace(0, 10, 30)
    for name in ("bass", "bass_density"):
        np.testing.assert_array_equal(
            MODELS[name].anchored(t, *PARAMS[name]), MODELS[name].curve(t, *PARAMS[name])
        )


def test_anchored_stable_far_from_inflection():
    # inflection long before the rollout: g(0) is ~1, the naive formula is 0/0
    a = M.logistic.anchored(np.array([0.0, 0.5, 50.0]), 0.3, 2.0, -30.0)
    assert np.all(np.isfinite(a))
    assert a[0] == 0.0 and 0 < a[1] < 0.3
    assert a[2] == pytest.approx(0.3, rel=1e-12)
    # inflection far after: tiny values keep their relative accuracy
    b = M.logistic.anchored(np.array([0.0, 1.0]), 0.3, 1.0, 40.0)
    assert b[0] == 0.0
    assert b[1] == pytest.approx(0.3 * (np.exp(-39.0) - np.exp(-40.0)), rel=1e-9)


@pytest.mark.parametrize("name", list(MODELS))
def test_rate_matches_numerical_derivative(name):
    model = MODELS[name]
    par = PARAMS[name]
    t = np.linspace(0.05, 8, 60)
    h = 1e-5
    num = (model.anchored(t + h, *par) - model.anchored(t - h, *par)) / (2 * h)
    scale = np.max(np.abs(num))
    np.testing.assert_allclose(model.rate(t, *par), num, rtol=1e-6, atol=1e-8 * scale)


@pytest.mark.parametrize("name", list(MODELS))
def test_transform_round_trip(name):
    model = MODELS[name]
    x = np.array(PARAMS[name], dtype=float)
    z = model.transform(x)
    assert np.all(np.isfinite(z))
    np.testing.assert_allclose(model.untransform(z), x, rtol=1e-12)
    # vectorized over rows
    rng = np.random.default_rng(1)
    Z = z + rng.standard_normal((50, model.n_params))
    X = model.untransform(Z)
    assert X.shape == (50, model.n_params)
    lo, hi = model.bounds
    assert np.all(X > lo) and np.all(X < hi)
    np.testing.assert_allclose(model.transform(X), Z, rtol=1e-10, atol=1e-10)


def test_transform_with_share_bounds_is_scaled_logit():
    lo, hi = np.array([0.2, 0.0, -np.inf]), np.array([1.0, np.inf, np.inf])
    x = np.array([0.6, 1.5, -0.3])
    z = M.logistic.transform(x, bounds=(lo, hi))
    np.testing.assert_allclose(z, [0.0, np.log(1.5), -0.3], atol=1e-15)
    np.testing.assert_allclose(M.logistic.untransform(z, bounds=(lo, hi)), x, rtol=1e-14)
    big = M.logistic.untransform(np.array([[40.0, 0.0, 0.0], [-40.0, 0.0, 0.0]]), bounds=(lo, hi))
    assert np.all((big[:, 0] >= 0.2) & (big[:, 0] <= 1.0))


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("scale", [1e-2, 1.0, 7e4])
def test_initial_inside_bounds_and_close(name, scale):
    model = MODELS[name]
    par = np.array(PARAMS[name], dtype=float)
    par[0] *= scale / 0.35
    t = np.linspace(0.25, 5, 20)
    y = model.curve(t, *par)
    x0 = model.initial(t, y)
    lo, hi = model.bounds
    assert x0.shape == (model.n_params,)
    assert np.all(x0 > lo) and np.all(x0 < hi)
    # the grid start reproduces the curve to within 15% of its range
    err = np.max(np.abs(model.curve(t, *x0) - y)) / np.ptp(y)
    assert err < 0.15


def test_gbm_with_identity_effort_equals_bass():
    gb = generalized_bass(lambda t: np.asarray(t, dtype=float))
    t = np.linspace(0, 10, 80)
    par = PARAMS["bass"]
    np.testing.assert_allclose(gb.curve(t, *par), M.bass.curve(t, *par), rtol=1e-15)
    np.testing.assert_allclose(gb.rate(t, *par), M.bass.rate(t, *par), rtol=1e-8)
    # and with an empty pulse list
    gb0 = generalized_bass(effort_from_pulses([]))
    np.testing.assert_array_equal(gb0.curve(t, *par), M.bass.curve(t, *par))
    assert gb0.name == "gbass" and gb0.param_names == ("m", "p", "q") and gb0.ceiling == "m"


def test_effort_from_pulses_values():
    X = effort_from_pulses([(1.0, 2.0, 0.5), (-1.0, 0.5, 1.0)])
    t = np.array([-0.5, 0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0])
    # overlap of [start, end] with [0, t]
    expected = t + 0.5 * np.clip(np.minimum(t, 2.0) - 1.0, 0, None) + 1.0 * np.clip(
        np.minimum(t, 0.5) - 0.0, 0, None
    )
    np.testing.assert_allclose(X(t), expected, rtol=1e-15)
    assert X(3.0) == pytest.approx(3.0 + 0.5 + 0.5)
    np.testing.assert_allclose(X.rate(np.array([0.25, 0.75, 1.5, 2.5])), [2.0, 1.0, 1.5, 1.0])
    with pytest.raises(ValueError):
        effort_from_pulses([(2.0, 1.0, 0.5)])
    with pytest.raises(ValueError):
        effort_from_pulses([(0.0, 1.0, -2.0)])


def test_gbm_more_effort_is_higher_everywhere():
    par = PARAMS["bass"]
    t = np.linspace(0, 10, 201)
    base = M.bass.curve(t, *par)
    small = generalized_bass(effort_from_pulses([(1.0, 3.0, 0.5)]), name="small")
    large = generalized_bass(effort_from_pulses([(1.0, 3.0, 1.5)]), name="large")
    ys, yl = small.curve(t, *par), large.curve(t, *par)
    assert np.all(ys >= base) and np.all(yl >= ys)
    after = t > 1.0
    assert np.all(ys[after] > base[after]) and np.all(yl[after] > ys[after])
    np.testing.assert_array_equal(ys[t <= 1.0], base[t <= 1.0])  # identical before the pulse
    # anchored == curve, and rate integrates to the curve (trapezoid)
    np.testing.assert_array_equal(large.anchored(t, *par), yl)
    tf = np.linspace(0, 10, 4001)  # pulse edges 1 and 3 are grid points
    r = large.rate((tf[1:] + tf[:-1]) / 2, *par)  # midpoint rule
    integral = np.concatenate([[0.0], np.cumsum(np.diff(tf) * r)])
    np.testing.assert_allclose(integral, large.curve(tf, *par), atol=1e-5 * par[0])
    # broadcasting works for GBM too
    assert large.curve(t, np.full((3, 1), par[0]), par[1], par[2]).shape == (3, t.size)


def test_wrong_number_of_params():
    with pytest.raises(TypeError, match="takes 3"):
        M.logistic(1.0, 0.3, 1.0)


@pytest.mark.parametrize("name, params", [
    ("logistic", (0.6, 1.2, 3.0)), ("gompertz", (0.6, 1.2, 3.0)), ("richards", (0.6, 1.2, 3.0, 0.7)), ("bass", (0.6, 0.03, 0.8)),
])
def test_anchored_and_rate_together_equal_each_alone(name, params):
    m = get_model(name)
    t = np.linspace(0.0, 8.0, 40)
    cols = [np.full((3, 1), v) * np.array([[0.8], [1.0], [1.2]]) for v in params]
    level, rate = m.anchored_and_rate(t, *cols)
    np.testing.assert_array_equal(level, m.anchored(t, *cols))
    np.testing.assert_array_equal(rate, m.rate(t, *cols))


@pytest.mark.parametrize("name", ["logistic", "gompertz", "richards", "bass", "bass_density"])
def test_starting_values_are_the_same_from_the_grid_cache(name):
    # The candidate shapes of the starting-value search are cached by form and times: a
    # second series on the same dates (other levels) gets the start it would get afresh.
    from ikdsim import models

    model = models.get_model(name)
    t = np.linspace(0.2, 2.7, 40)
    y1 = model.curve(t, *model.clip_inside(np.array([0.3, 0.8, 2.0] + ([1.3] if name == "richards" else []))
                                            if name != "bass" and name != "bass_density" else np.array([0.3, 0.05, 1.2])))
    y2 = 0.5 * y1 + 0.01 * np.sin(7 * t)
    models._GRID_CACHE.clear()
    fresh = model.initial(t, y2)
    models._GRID_CACHE.clear()
    model.initial(t, y1)  # fills the cache
    assert len(models._GRID_CACHE) == 1
    np.testing.assert_array_equal(model.initial(t, y2), fresh)
    # cached arrays cannot be changed by a caller
    cached = next(iter(models._GRID_CACHE.values()))
    assert not cached[-1].flags.writeable
