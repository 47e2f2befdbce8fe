"""ikdsim: forecast digital-ID (IKD) adoption towards the 30% target, per regency.

Public API (see each function's docstring):

- :func:`load_observations`, :func:`load_regions`: the validated data layer;
- :func:`fit_curve`: nonlinear least squares on levels (regular series, reference checks);
- :func:`fit`, :func:`fit_province`, :func:`fit_all`: the increment-likelihood fit of one
  region, of a province with partial pooling, of every region; each gives a
  :class:`FitResult`;
- :func:`forecast` (also ``FitResult.forecast``): sample paths, bands and the date a target
  is reached (:class:`Forecast`, :class:`TargetDate`);
- :func:`forecast_table`: every region in one long table;
- :func:`load_scenario`, :func:`simulate`, :func:`plan`: outreach scenarios.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .curvefit import fit_curve  # noqa: E402
from .data import load_observations, load_regions  # noqa: E402
from .fitting import fit, fit_all, fit_province  # noqa: E402
from .forecast import Forecast, TargetDate, forecast  # noqa: E402
from .results import FitResult  # noqa: E402
from .scenario_spec import load_scenario  # noqa: E402
from .scenarios import plan, simulate  # noqa: E402
from .summary import forecast_table  # noqa: E402

__all__ = [
    "__version__",
    "FitResult",
    "Forecast",
    "TargetDate",
    "fit",
    "fit_all",
    "fit_curve",
    "fit_province",
    "forecast",
    "forecast_table",
    "load_observations",
    "load_regions",
    "load_scenario",
    "plan",
    "simulate",
]
