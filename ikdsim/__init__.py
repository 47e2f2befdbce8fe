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

The names are imported on first use (PEP 562), so ``from ikdsim import report`` loads
only what the report needs (a notebook then starts without scipy.optimize, for one).
``forecast`` is imported here: it names both a submodule and the function, and the
package attribute must stay the function whatever is imported later.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from .longlived import long_lived  # noqa: E402

with long_lived():  # numpy, pandas and the numerical core live as long as the process
    from .forecast import Forecast, TargetDate, forecast

#: Public name -> the module that defines it.
_LAZY = {
    "fit_curve": "curvefit",
    "load_observations": "data",
    "load_regions": "data",
    "fit": "fitting",
    "fit_all": "fitting",
    "fit_province": "fitting",
    "FitResult": "results",
    "load_scenario": "scenario_spec",
    "plan": "scenarios",
    "simulate": "scenarios",
    "forecast_table": "summary",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from .curvefit import fit_curve
    from .data import load_observations, load_regions
    from .fitting import fit, fit_all, fit_province
    from .results import FitResult
    from .scenario_spec import load_scenario
    from .scenarios import plan, simulate
    from .summary import forecast_table


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        value = getattr(module, name)
        # A submodule named like its function (forecast) is set as an attribute when imported:
        # the public name is the function, as before.
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

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
