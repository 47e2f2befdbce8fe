"""Priors for the growth-model parameters, and their empirical-Bayes estimation.

Every fit in :mod:`ikdsim.fitting` is a penalised likelihood: the likelihood of
:mod:`ikdsim.likelihood` times independent normal priors on the parameters, each on a fixed
*prior scale* (logit for a ceiling, log for a rate, identity for a date).  With many points
the data swamp the prior; with one or two points the prior decides the shape, which is what
makes a sparse regency's fit possible at all, and honest: its uncertainty is the prior's.

Default priors (:data:`DEFAULT_PRIOR`) are weakly informative.  Within a province they are
replaced by priors estimated from the province's own regencies and province series
(:func:`estimate_prior`): a normal random-effects model per parameter, with the centre the
precision-weighted mean of the unit estimates and the between-unit variance from the
DerSimonian-Laird moment estimator, shrunk towards the default spread by
:data:`TAU_PRIOR_UNITS` pseudo-units and kept between :data:`TAU_MIN` and the default spread.

References
----------
.. [1] DerSimonian, R. and Laird, N. (1986). Meta-analysis in clinical trials.
   *Controlled Clinical Trials* 7, 177-188.
.. [2] Efron, B. and Morris, C. (1975). Data analysis using Stein's estimator and its
   generalizations. *JASA* 70, 311-319 (empirical Bayes shrinkage).
.. [3] Gelman, A. et al. (2013). *Bayesian Data Analysis*, 3rd ed., ch. 5 (hierarchical
   models; partial pooling).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from .special import expit, logit

#: The scale on which each parameter's prior is normal.
PRIOR_SCALE: Mapping[str, str] = {
    "K": "logit",
    "m": "logit",
    "r": "log",
    "t0": "identity",
    "nu": "log",
    "p": "log",
    "q": "log",
    "sigma2": "log",
}

#: Weakly informative defaults: (centre, sd) on the prior scale.  Time in years since the
#: rollout.  Ceiling: logit 0 = 50% with 95% of mass in 5-95%; growth rate r: 1/yr within
#: a factor of 20; midpoint t0: 4 years after rollout +- 10 (early in a curve the data cannot
#: tell a near midpoint and low ceiling from a far midpoint and high ceiling, and a tight
#: prior here biases forecasts low: see benchmarks/calibration.py); Richards nu: 1
#: (logistic) within a factor of 7; Bass p: 3%/yr and q: 0.3/yr within a factor of 20; overdispersion sigma2:
#: 0.15 yr (a year's adoption wanders about 40% from the curve, sd) within a factor of 20.
#:
#: The overdispersion's centre is set by the real series, not the synthetic ones.  At 0.015
#: (a year's adoption wandering about 12%, the campaigns :mod:`ikdsim.synthetic` draws) the
#: backtests' 80% intervals held 60% of 85 later real figures (90% interval 54 to 71% over
#: 14 regions) and 56% of the four regions collected afterwards as a hold-out: real
#: adoption moves in spells (a launch push, a new requirement, a lull after a deadline) that
#: change the rate by a factor of two to five within a year, which a few news figures a year
#: cannot show in-sample (their own marginal estimates average 0.018), so the prior decides.
#: At 0.15: 71% (62 to 80%), the medians' mean error 1.64 instead of 2.12 points outside
#: Kaltim and the interval score 8.23 instead of 9.21 over all 85 (README, "On the real
#: data"; centres 0.05 to 1.2 compared on two seeds in benchmarks/README.md).  The cost is on
#: synthetic news-like regencies, whose campaigns are as mild as the old centre: their 80%
#: intervals hold 89.5% instead of 78.5% (seed 1), with medians 14% closer; 15-day reports
#: estimate their own overdispersion and barely move (86.0 to 85.5%).
DEFAULT_PRIOR: Mapping[str, tuple[float, float]] = {
    "K": (0.0, 1.5),
    "m": (0.0, 1.5),
    "r": (0.0, 1.5),
    "t0": (4.0, 10.0),
    "nu": (0.0, 1.0),
    "p": (float(np.log(0.03)), 1.5),
    "q": (float(np.log(0.3)), 1.5),
    "sigma2": (float(np.log(0.15)), 1.5),
}

#: Smallest between-unit sd an estimated prior may have (on the prior scale): regencies
#: differ, and a province with two informative series must not pin them to one curve.
TAU_MIN = 0.3

#: Weight, in pseudo-units, of the default spread in the estimated between-unit variance:
#: ``tau2 = (n * tau2_DL + TAU_PRIOR_UNITS * sd_default**2) / (n + TAU_PRIOR_UNITS)``.  A
#: moment estimate from two or three units is very noisy (and often zero); this shrinks it
#: towards the default spread (the posterior mean under a scaled inverse-chi-square prior
#: on tau2 with this many degrees of freedom), and lets a province of many regencies speak
#: for itself.
TAU_PRIOR_UNITS = 3.0


def to_prior_scale(name: str, value):
    """Map a parameter to the scale its prior is normal on."""
    kind = PRIOR_SCALE.get(name, "identity")
    v = np.asarray(value, dtype=float)
    if kind == "logit":
        return logit(np.clip(v, 1e-12, 1 - 1e-12))
    if kind == "log":
        return np.log(np.maximum(v, 1e-300))
    return v


def from_prior_scale(name: str, value):
    """Inverse of :func:`to_prior_scale`."""
    kind = PRIOR_SCALE.get(name, "identity")
    v = np.asarray(value, dtype=float)
    if kind == "logit":
        return expit(v)
    if kind == "log":
        return np.exp(v)
    return v


@dataclass(frozen=True)
class Prior:
    """Independent normal priors on the prior scale of named parameters.

    Attributes
    ----------
    mean, sd : dict
        Centre and spread for each parameter name.
    source : str
        Where the prior comes from: ``"default"`` or ``"pooled:<province>"``.
    """

    mean: Mapping[str, float]
    sd: Mapping[str, float]
    source: str = "default"
    units: tuple[str, ...] = field(default=())

    @classmethod
    def default(cls, names: Iterable[str]) -> Prior:
        """The weakly informative default prior for these parameter names."""
        names = tuple(names)
        return cls(
            mean={n: DEFAULT_PRIOR[n][0] for n in names},
            sd={n: DEFAULT_PRIOR[n][1] for n in names},
        )

    def logpdf(self, params: Mapping[str, float | np.ndarray]):
        """Log prior density (up to a constant) of the named parameter values.

        Values may be arrays (one entry per draw); the result then has their shape.
        """
        total = 0.0
        for name, value in params.items():
            if name not in self.mean:
                continue
            z = (to_prior_scale(name, value) - self.mean[name]) / self.sd[name]
            total = total - 0.5 * z * z
        return float(total) if np.ndim(total) == 0 else total

    def to_frame(self):
        """The prior as a table: parameter, scale, centre, sd, and the centre in natural units."""
        import pandas as pd

        return pd.DataFrame(
            {
                "scale": [PRIOR_SCALE.get(n, "identity") for n in self.mean],
                "centre": list(self.mean.values()),
                "sd": [self.sd[n] for n in self.mean],
                "centre_natural": [float(from_prior_scale(n, v)) for n, v in self.mean.items()],
            },
            index=pd.Index(list(self.mean), name="parameter"),
        )


def estimate_prior(
    estimates: list[Mapping[str, float]],
    variances: list[Mapping[str, float]],
    names: Iterable[str],
    *,
    source: str,
    units: tuple[str, ...] = (),
) -> Prior:
    """Empirical-Bayes prior from several units' estimates (DerSimonian-Laird per parameter).

    Parameters
    ----------
    estimates : list of dict
        Each informative unit's estimates on the prior scale.
    variances : list of dict
        Their sampling variances on the prior scale.
    names : iterable of str
        Parameters to estimate a prior for.
    source : str
        Label stored on the prior.
    units : tuple of str
        The region codes the prior was estimated from.

    Returns
    -------
    Prior
        Centre: the random-effects weighted mean (the default centre when no unit informs
        the parameter).  Spread: ``sqrt(tau2)``, the DerSimonian-Laird estimate shrunk
        towards the default spread, clipped to ``[TAU_MIN, default sd]``.  With fewer than
        two informative units the default prior is returned unchanged.

    Examples
    --------
    >>> p = estimate_prior([{"r": 0.0}, {"r": 1.0}], [{"r": 0.01}, {"r": 0.01}], ["r"], source="x")
    >>> round(p.mean["r"], 2), round(p.sd["r"], 2)
    (0.5, 0.89)
    """
    mean: dict[str, float] = {}
    sd: dict[str, float] = {}
    for name in names:
        d_mean, d_sd = DEFAULT_PRIOR[name]
        y = np.array([e[name] for e in estimates if name in e], dtype=float)
        v = np.array([w[name] for e, w in zip(estimates, variances) if name in e], dtype=float)
        ok = np.isfinite(y) & np.isfinite(v) & (v > 0)
        y, v = y[ok], v[ok]
        if y.size < 2:
            # One unit cannot tell a province's centre from its own noise: a prior centred
            # on its own estimate would count its data twice.  Keep the default.
            mean[name], sd[name] = d_mean, d_sd
            continue
        w = 1.0 / v
        ybar = float(np.sum(w * y) / np.sum(w))
        q = float(np.sum(w * (y - ybar) ** 2))
        c = float(np.sum(w) - np.sum(w**2) / np.sum(w))
        tau2_dl = max(0.0, (q - (y.size - 1)) / c) if c > 0 else 0.0
        tau2 = (y.size * tau2_dl + TAU_PRIOR_UNITS * d_sd**2) / (y.size + TAU_PRIOR_UNITS)
        tau = float(np.clip(np.sqrt(tau2), TAU_MIN, d_sd))
        wr = 1.0 / (v + tau**2)
        mean[name] = float(np.sum(wr * y) / np.sum(wr))
        sd[name] = tau
    return Prior(mean=mean, sd=sd, source=source, units=units)
