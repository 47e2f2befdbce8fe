"""Tests for :func:`ikdsim.curvefit.fit_curve` against certified and published fits."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ikdsim import models as M
from ikdsim.curvefit import CurveFitResult, CurveFitWarning, fit_curve

DATA = Path(__file__).parent / "data"

# NIST StRD Rat42 certified values (b1, b2, b3), their sds, RSS and residual sd
RAT42_B = (7.2462237576e01, 2.6180768402e00, 6.7359200066e-02)
RAT42_SD = (1.7340283401e00, 8.8295217536e-02, 3.4465663377e-03)
RAT42_RSS = 8.0565229338e00
RAT42_SIGMA = 1.1587725499e00


@pytest.fixture(scope="module")
def rat42() -> pd.DataFrame:
    return pd.read_csv(DATA / "nist_rat42.csv")


@pytest.fixture(scope="module")
def bass10() -> pd.DataFrame:
    return pd.read_csv(DATA / "bass_sales10.csv")


# ---------------------------------------------------------------------------------------
# NIST Rat42
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("start", [(100.0, 1.0, 0.1), (75.0, 2.5, 0.07)], ids=["start1", "start2"])
def test_nist_rat42_logistic(rat42, start):
    """Rat42: y = b1 / (1 + exp(b2 - b3 x)) is the logistic with K=b1, r=b3, t0=b2/b3.

    Fitted from each NIST starting point (converted to (K, r, t0)); estimates, RSS and
    residual sd to 6 significant digits, standard errors to rtol 1e-4 (the sd of b2 by
    the delta method from the covariance of (r, t0)).
    """
    b1, b2, b3 = start
    res = fit_curve("logistic", rat42["x"], rat42["y"], p0=[b1, b3, b2 / b3])
    K, r, t0 = res.params["K"], res.params["r"], res.params["t0"]
    print(
        f"\nRat42 from {start}: K={K:.10g} b2={r * t0:.10g} r={r:.10g} "
        f"rss={res.rss:.10g} sigma={res.sigma:.10g} se(K)={res.bse['K']:.10g} "
        f"se(r)={res.bse['r']:.10g}"
    )
    assert res.status == "ok" and res.converged and res.at_bound == ()
    assert res.nobs == 9 and res.df_resid == 6
    assert K == pytest.approx(RAT42_B[0], rel=1e-6)
    assert r == pytest.approx(RAT42_B[2], rel=1e-6)
    assert r * t0 == pytest.approx(RAT42_B[1], rel=1e-6)
    assert res.rss == pytest.approx(RAT42_RSS, rel=1e-6)
    assert res.sigma == pytest.approx(RAT42_SIGMA, rel=1e-6)
    assert res.bse["K"] == pytest.approx(RAT42_SD[0], rel=1e-4)
    assert res.bse["r"] == pytest.approx(RAT42_SD[2], rel=1e-4)
    c = res.cov
    var_b2 = t0**2 * c.loc["r", "r"] + r**2 * c.loc["t0", "t0"] + 2 * r * t0 * c.loc["r", "t0"]
    print(f"se(b2) delta method = {np.sqrt(var_b2):.10g}")
    assert np.sqrt(var_b2) == pytest.approx(RAT42_SD[1], rel=1e-4)


def test_nist_rat42_default_start(rat42):
    """The data-driven start (no p0) reaches the certified optimum too."""
    res = fit_curve("logistic", rat42["x"].to_numpy(), rat42["y"].to_numpy())
    assert res.status == "ok"
    assert res.params["K"] == pytest.approx(RAT42_B[0], rel=1e-6)
    assert res.rss == pytest.approx(RAT42_RSS, rel=1e-6)


def test_nist_rat42_plain_callable(rat42):
    """A plain callable in the NIST parametrization gives b2 and its sd directly."""

    def nist(x, b1, b2, b3):
        return b1 / (1 + np.exp(b2 - b3 * x))

    res = fit_curve(nist, rat42["x"], rat42["y"], p0=[100.0, 1.0, 0.1])
    assert tuple(res.params.index) == ("p0", "p1", "p2")
    np.testing.assert_allclose(res.params.to_numpy(), RAT42_B, rtol=1e-6)
    np.testing.assert_allclose(res.bse.to_numpy(), RAT42_SD, rtol=1e-4)
    assert res.model_name == "nist"


# ---------------------------------------------------------------------------------------
# Published Bass fit
# ---------------------------------------------------------------------------------------


def test_bass_density_published_fit(bass10):
    """Bass sales example (rpubs chengjun/bass_model; R DIMORA examples).

    Formulation: the Bass adoption *density* fitted to per-period sales at whole periods
    t = 1..10, sales_t = M ((P+Q)^2/P) exp(-(P+Q) t) / (1 + (Q/P) exp(-(P+Q) t))^2,
    unit weights, R ``nls`` from M=60630, P=0.03, Q=0.38.  Published to 3 significant
    digits: estimates and standard errors compared to rtol 5e-3.
    """
    assert len(bass10) == 10  # ten periods, k = 3 -> 7 residual df as published
    res = fit_curve("bass_density", bass10["t"], bass10["sales"], p0=[60630, 0.03, 0.38])
    m, p, q = res.params
    print(
        f"\nBass density: M={m:.6g} (se {res.bse['m']:.4g}), P={p:.6g} (se {res.bse['p']:.4g}),"
        f" Q={q:.6g} (se {res.bse['q']:.4g}), sigma={res.sigma:.6g} on {res.df_resid} df"
    )
    assert res.status == "ok"
    assert res.df_resid == 7
    assert m == pytest.approx(6.80e4, rel=5e-3)
    assert p == pytest.approx(6.59e-3, rel=5e-3)
    assert q == pytest.approx(6.38e-1, rel=5e-3)
    assert res.bse["m"] == pytest.approx(3.13e3, rel=5e-3)
    assert res.bse["p"] == pytest.approx(1.43e-3, rel=5e-3)
    assert res.bse["q"] == pytest.approx(4.14e-2, rel=5e-3)
    assert res.sigma == pytest.approx(727, rel=5e-3)
    # the default start finds the same optimum
    res0 = fit_curve("bass_density", bass10["t"], bass10["sales"])
    np.testing.assert_allclose(res0.params.to_numpy(), res.params.to_numpy(), rtol=1e-6)


# ---------------------------------------------------------------------------------------
# synthetic recoveries
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,truth",
    [
        ("richards", (0.30, 2.0, 1.5, 0.5)),
        ("gompertz", (0.25, 1.5, 1.2)),
        ("logistic", (0.40, 2.5, 1.8)),
        ("bass", (0.35, 0.03, 1.6)),
    ],
)
def test_synthetic_recovery(name, truth):
    rng = np.random.default_rng(20240601)
    t = np.linspace(1 / 12, 4.0, 48)
    model = M.MODELS[name]
    y = model.curve(t, *truth) + rng.normal(0.0, 0.002, t.size)
    res = fit_curve(name, t, y)
    assert res.status == "ok"
    z = (res.params.to_numpy() - np.asarray(truth)) / res.bse.to_numpy()
    assert np.all(np.abs(z) < 4.0), z
    assert res.sigma == pytest.approx(0.002, rel=0.3)
    # the fit is much closer than the noise to the true curve
    assert np.max(np.abs(res.predict(t) - model.curve(t, *truth))) < 0.004


def test_weights():
    rng = np.random.default_rng(3)
    t = np.linspace(0.1, 4, 30)
    y = M.logistic(t, 0.3, 2.0, 1.5) + rng.normal(0, 0.003, t.size)
    a = fit_curve("logistic", t, y)
    b = fit_curve("logistic", t, y, weights=np.full(t.size, 4.0))
    np.testing.assert_allclose(b.params, a.params, rtol=1e-7)
    np.testing.assert_allclose(b.bse, a.bse, rtol=1e-5)  # scale-invariant
    assert b.rss == pytest.approx(4 * a.rss, rel=1e-9)
    # weight 2 on a point == that point duplicated
    w = np.ones(t.size)
    w[5] = 2.0
    c = fit_curve("logistic", t, y, weights=w)
    d = fit_curve("logistic", np.append(t, t[5]), np.append(y, y[5]))
    np.testing.assert_allclose(c.params, d.params, rtol=1e-7)
    assert c.rss == pytest.approx(d.rss, rel=1e-8)


# ---------------------------------------------------------------------------------------
# bounds, failures and invalid input
# ---------------------------------------------------------------------------------------


def _share_data():
    rng = np.random.default_rng(11)
    t = np.linspace(0.1, 4, 40)
    return t, M.logistic(t, 0.3, 2.0, 1.5) + rng.normal(0, 0.002, t.size)


def test_fit_forced_onto_bound_says_so():
    t, y = _share_data()
    with pytest.warns(CurveFitWarning, match="at_bound"):
        res = fit_curve("logistic", t, y, bounds={"K": (0.01, 0.2)})
    assert res.status == "at_bound"
    assert res.at_bound == ("K",)
    assert res.params["K"] == pytest.approx(0.2, rel=1e-6)
    # sequence form of bounds, with the truth inside, is ok and quiet
    with warnings.catch_warnings():
        warnings.simplefilter("error", CurveFitWarning)
        ok = fit_curve("logistic", t, y, bounds=([0.25, 0.0, -np.inf], [1.0, np.inf, np.inf]))
    assert ok.status == "ok" and ok.at_bound == ()
    assert ok.params["K"] == pytest.approx(0.3, abs=0.01)


def test_bass_q_on_zero_bound():
    """Data more concave than any Bass curve drive the imitation q to its bound 0."""
    t = np.linspace(0.1, 5, 30)
    y = 0.3 * np.log1p(t) / np.log(6.0)
    with pytest.warns(CurveFitWarning):
        res = fit_curve("bass", t, y)
    assert res.status == "at_bound" and "q" in res.at_bound


def test_nonconverged_fit_reports_failed():
    t, y = _share_data()
    with pytest.warns(CurveFitWarning, match="failed"):
        res = fit_curve("logistic", t, y, p0=[1.0, 0.1, 10.0], max_nfev=2)
    assert res.status == "failed" and not res.converged
    assert isinstance(res, CurveFitResult)


def test_unidentified_fit_reports_failed():
    t = np.linspace(0, 1, 10)
    y = 2.0 * t

    def redundant(x, a, b):  # only a*b is identified
        return a * b * x

    with pytest.warns(CurveFitWarning, match="not identified"):
        res = fit_curve(redundant, t, y, p0=[1.0, 1.0])
    assert res.status == "failed"
    assert np.all(np.isnan(res.bse))


def test_invalid_inputs_raise():
    t, y = _share_data()
    with pytest.raises(ValueError, match="same length"):
        fit_curve("logistic", t, y[:-1])
    y_nan = y.copy()
    y_nan[3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        fit_curve("logistic", t, y_nan)
    with pytest.raises(ValueError, match="fewer"):
        fit_curve("richards", t[:3], y[:3])
    with pytest.raises(ValueError, match="p0 is required"):
        fit_curve(lambda x, a: a * x, t, y)
    with pytest.raises(ValueError, match="weights"):
        fit_curve("logistic", t, y, weights=-np.ones(t.size))
    with pytest.raises(ValueError, match="p0 has"):
        fit_curve("logistic", t, y, p0=[0.3, 1.0])
    with pytest.raises(ValueError, match="bounds"):
        fit_curve("logistic", t, y, bounds={"KK": (0, 1)})
    with pytest.raises(KeyError):
        fit_curve("nope", t, y)


# ---------------------------------------------------------------------------------------
# result object
# ---------------------------------------------------------------------------------------


def test_result_accessors(rat42):
    res = fit_curve("logistic", rat42["x"], rat42["y"], p0=[100, 0.1, 10.0])
    ci = res.conf_int(0.05)
    q = stats.t.ppf(0.975, 6)
    np.testing.assert_allclose(ci["lower"], res.params - q * res.bse, rtol=1e-14)
    np.testing.assert_allclose(ci["upper"], res.params + q * res.bse, rtol=1e-14)
    np.testing.assert_allclose(res.predict(rat42["x"]), res.fittedvalues, rtol=1e-14)
    np.testing.assert_allclose(res.resid, rat42["y"] - res.fittedvalues, rtol=1e-14)
    assert float(res.resid @ res.resid) == pytest.approx(res.rss, rel=1e-12)
    np.testing.assert_allclose(np.sqrt(np.diag(res.cov)), res.bse, rtol=1e-14)
    d = res.to_dict()
    assert json.loads(json.dumps(d))["params"]["K"] == pytest.approx(RAT42_B[0], rel=1e-6)
    assert d["status"] == "ok" and d["model"] == "logistic"
    text = str(res.summary())
    for token in ("logistic", "K", "t0", "std err", "ok"):
        assert token in text
    assert "<table" in res._repr_html_()
    assert "CurveFitResult logistic" in repr(res)
    with pytest.raises(AttributeError):
        res.rss = 0.0  # read-only
