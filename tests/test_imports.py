"""Import cost: the report path keeps the slow, unused modules out (notebook start-up)."""

from __future__ import annotations

import subprocess
import sys

#: Modules the regency notebook does not need when its fits (and draws) are cached.
HEAVY = ("scipy", "statsmodels", "emcee", "numba", "matplotlib", "ikdsim.fitting")


def _loaded_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    return set(out.split())


def test_report_import_leaves_heavy_modules_out():
    assert _loaded_after("from ikdsim import report") == set()


def test_a_chart_needs_matplotlib_only():
    """Drawing a report chart (and its SVG) imports matplotlib, not pyplot nor scipy."""
    code = (
        "import numpy as np, pandas as pd\n"
        "from ikdsim.forecast import Forecast\n"
        "from ikdsim.report import RegencyReport\n"
        "t = np.linspace(2.5, 8.0, 50)\n"
        "fc = Forecast('64.09', 'PPU', 'logistic', 'ok', pd.Timestamp('2022-10-01'), t,\n"
        "              np.minimum(0.15 + 0.04 * (t - 2.5) * np.linspace(0.5, 1.5, 40)[:, None], 1), None,\n"
        "              pd.Series(dtype=float))\n"
        "rep = RegencyReport('64.09', pd.DataFrame({'region_code': []}), None, fc, fc.target_date(0.3), {}, None)\n"
        "assert '<svg' in rep.fan_chart()._repr_svg_()\n"
        "assert '<svg' in rep.target_date_chart()._repr_svg_()\n"
        "assert 'matplotlib.pyplot' not in sys.modules"
    )
    assert _loaded_after(code) == {"matplotlib"}


def test_package_names_resolve_on_first_use():
    import ikdsim
    import ikdsim.scenarios  # noqa: F401 - imports the submodule ikdsim.forecast
    from ikdsim import FitResult, fit, fit_all, forecast_table, load_scenario, plan, simulate  # noqa: F401

    assert callable(ikdsim.forecast) and ikdsim.forecast.__module__ == "ikdsim.forecast"
    assert ikdsim.fit.__module__ == "ikdsim.fitting" and "fit_all" in dir(ikdsim)
    assert set(ikdsim.__all__) <= set(dir(ikdsim))
    try:
        ikdsim.no_such_name  # noqa: B018
    except AttributeError:
        pass
    else:
        raise AssertionError("an unknown name must raise AttributeError")
