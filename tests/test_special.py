"""ikdsim.special against scipy.special (which the package no longer imports for these)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from ikdsim.special import expit, logit, normal_quantile


def test_expit_matches_scipy_to_rounding():
    x = np.concatenate((np.linspace(-709, 745, 200_001), [-1e-300, 0.0, 1e-300]))
    got, ref = expit(x), special.expit(x)
    assert np.max(np.abs(got - ref) / ref) < 1e-14
    assert expit(-800.0) == 0.0 and expit(800.0) == 1.0  # no overflow warning either


def test_logit_matches_scipy_and_inverts_expit():
    p = np.linspace(1e-12, 1 - 1e-12, 100_001)
    assert np.max(np.abs(logit(p) - special.logit(p))) < 1e-10
    z = np.linspace(-30, 15, 1001)  # above 15, 1 - expit(z) keeps too few digits in any float
    assert np.allclose(logit(expit(z)), z, rtol=0, atol=1e-8)
    assert logit(0.0) == -np.inf and logit(1.0) == np.inf and np.isnan(logit(1.5))


@pytest.mark.parametrize("p", [1e-10, 0.025, 0.1, 0.5, 0.9, 0.975, 1 - 1e-10])
def test_normal_quantile_matches_ndtri(p):
    assert normal_quantile(p) == pytest.approx(special.ndtri(p), rel=1e-14, abs=1e-14)
