"""Charts, tables and plain-language text of :mod:`ikdsim.report` (matplotlib Agg)."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from ikdsim import report  # noqa: E402
from ikdsim.forecast import Forecast  # noqa: E402
from ikdsim.timeaxis import to_years  # noqa: E402

START = pd.Timestamp("2022-10-01")


def make_forecast(code="64.09", name="Penajam Paser Utara", growth=0.08, n=400, seed=1, last=0.15):
    """A synthetic forecast: linear growth per year with noise, from ``last`` on 2025-04-15."""
    rng = np.random.default_rng(seed)
    t0 = float(to_years([pd.Timestamp("2025-04-15")], START)[0])
    t = np.linspace(t0, float(to_years([pd.Timestamp("2030-12-31")], START)[0]), 150)
    rate = growth * np.exp(rng.normal(0, 0.3, (n, 1)))
    paths = np.minimum(last + rate * (t - t0), 1.0)
    observed = pd.Series([0.08, 0.1497], index=pd.to_datetime(["2024-03-01", "2025-04-15"]))
    return Forecast(code, name, "logistic", "ok", START, t, paths, (pd.Timestamp("2025-04-15"), last), observed)


def test_formats_indonesian_and_english():
    assert report.fmt_pct(0.1497, "id") == "14,97%"
    assert report.fmt_pct(0.1497, "en") == "14.97%"
    assert report.fmt_pct(12.345, "id", 1) == "1.234,5%"
    assert report.fmt_pct(None) == "-"
    assert report.fmt_date("2025-08-17", "id") == "17 Agustus 2025"
    assert report.fmt_date("2025-05-01", "id", day=False) == "Mei 2025"
    assert report.fmt_date("2025-05-01", "en") == "1 May 2025"
    assert report.fmt_prob(0.004) == "<1%" and report.fmt_prob(0.999) == ">99%"
    assert report.fmt_prob(0.0) == "0%" and report.fmt_prob(0.42, "en") == "42%"
    with pytest.raises(ValueError, match="lang"):
        report.fmt_pct(0.1, "fr")


BASE = {
    "region_code": "64.09", "region_name": "Penajam Paser Utara", "status": "ok", "last_share": 0.1497,
    "last_date": "2025-04-15", "target": 0.3, "deadline": "2025-12-31", "until": "2030-12-31",
    "reached_on": None, "p10": "2026-03-01", "p50": "2026-09-15", "p90": "2027-06-01",
    "prob_by_deadline": 0.02, "prob_not_by_until": 0.01, "share_at_deadline": 0.21,
    "share_at_deadline_p10": 0.19, "share_at_deadline_p90": 0.24,
}  # fmt: skip


def test_narrative_indonesian_default():
    text = report.narrative(BASE)
    assert text.startswith("Penajam Paser Utara: 14,97% wajib KTP sudah aktivasi IKD per 15 April 2025.")
    assert "median perkiraan mencapai 30% adalah September 2026" in text
    assert "Maret 2026 dan Juni 2027" in text
    assert "peluang mencapai 30% sebelum 31 Desember 2025: 2%".lower() in text.lower()
    assert "21,0%" in text


def test_narrative_english():
    text = report.narrative(BASE, "en")
    assert "14.97% of wajib-KTP residents" in text
    assert "median forecast for reaching 30% is September 2026" in text
    assert "by 31 December 2025: 2%" in text


def test_narrative_target_reached_beyond_horizon_and_no_data():
    reached = report.narrative({**BASE, "reached_on": "2025-03-01"}, "id")
    assert "sudah tercapai pada 1 Maret 2025" in reached and "median" not in reached
    beyond = {**BASE, "p10": None, "p50": None, "p90": None, "prob_not_by_until": 0.8}
    assert "belum tercapai hingga 2030" in report.narrative(beyond, "id")
    assert "not reached within the horizon (2030)" in report.narrative(beyond, "en")
    nodata = {**BASE, "last_share": None, "last_date": None, "status": "province_curve"}
    assert "kurva provinsi" in report.narrative(nodata, "id")
    assert "province curve" in report.narrative(nodata, "en")
    failed = report.narrative({**BASE, "status": "failed", "message": "no finite likelihood"}, "en")
    assert "could not be fitted" in failed


def test_narrative_upper_interval_beyond_horizon():
    text = report.narrative({**BASE, "p90": None}, "en")
    assert "after 2030" in text


@pytest.fixture(scope="module")
def ppu(kaltim_obs, kaltim_fits):
    res = kaltim_fits["64.09"]
    return kaltim_obs, res, res.forecast(until="2030-12-31", n_paths=300, seed=0)


def test_fan_chart_marks_approximate_and_excluded(ppu):
    obs, _, fc = ppu
    rows = obs[obs.region_code == "64.09"].copy()
    rows.loc[rows.index[0], "exclude"] = True  # one excluded point for the test
    ax = report.fan_chart(fc, observations=rows, lang="en")
    labels = ax.get_legend_handles_labels()[1]
    assert {"95%", "80%", "50%", "median", "observed", "approximate (rounding range)", "excluded"} <= set(labels)
    assert any(lab.startswith("target 30") for lab in labels)
    assert any(lab.startswith("deadline 31 December 2025") for lab in labels)
    # The target line sits at 0.30.
    assert any(np.allclose(line.get_ydata(), 0.30) for line in ax.get_lines() if len(line.get_ydata()) == 2)
    plt.close("all")


def test_forecast_plot_uses_fan_chart(ppu):
    _, _, fc = ppu
    ax = fc.plot(deadline=None, target=None)
    assert ax.get_title().startswith("64.09")
    plt.close("all")


def test_target_date_chart_cases():
    fc = make_forecast()
    ax = report.target_date_chart(fc.target_date(0.30), lang="id")
    assert "Tanggal mencapai 30%" in ax.get_title()
    never = make_forecast(growth=0.0001).target_date(0.30)
    ax = report.target_date_chart(never, lang="en")
    assert "not reached" in ax.texts[0].get_text()
    reached = make_forecast(last=0.35)
    reached = Forecast(**{**reached.__dict__, "observed": pd.Series([0.31], index=[pd.Timestamp("2025-01-01")])})
    ax = report.target_date_chart(reached.target_date(0.30), lang="en")
    assert "already reached" in ax.texts[0].get_text()
    plt.close("all")


def test_small_multiples_one_panel_per_region():
    fcs = [make_forecast(code=f"64.0{i}", name=f"R{i}", seed=i) for i in range(1, 6)]
    fig = report.small_multiples(fcs, ncols=3)
    visible = [ax for ax in fig.axes if ax.axison]
    assert len(visible) == 5 and len(fig.axes) == 6
    plt.close("all")


def test_key_numbers_and_json(ppu, tmp_path):
    obs, res, fc = ppu
    k = report.key_numbers(res, fc, target=0.30, deadline="2025-12-31", n_paths=300, seed=0)
    for key in ("region_code", "status", "last_date", "last_share", "p50", "prob_by_deadline", "prob_not_by_until"):
        assert key in k
    assert k["last_share"] == pytest.approx(0.1497)
    assert 0 <= k["prob_by_deadline"] <= 1 and 0 <= k["prob_not_by_until"] <= 1
    path = report.write_json(tmp_path / "s.json", {**k, "x": np.float64("nan")})
    data = json.loads(path.read_text())
    assert data["x"] is None and data["region_code"] == "64.09"
    assert not list(tmp_path.glob("*.tmp"))


def test_observations_table_lists_sources(ppu):
    obs, _, _ = ppu
    table = report.observations_table(obs, "64.09", "id")
    assert len(table) == (obs.region_code == "64.09").sum()
    assert table["source"].str.startswith("http").all()
    assert table["share"].str.contains(",").any()


def summary_frame():
    return pd.DataFrame(
        {
            "region_code": ["64.01", "64.09", "64.72"], "region_name": ["Paser", "PPU", "Samarinda"],
            "status": ["province_curve", "ok", "sparse"], "last_share": [np.nan, 0.1497, 0.05],
            "last_date": [None, "2025-04-15", "2024-06-01"], "until": ["2030-12-31"] * 3,
            "p10": [None, "2026-01-01", None], "p50": [None, "2026-06-01", None], "p90": [None, None, None],
            "reached_on": [None, None, None], "prob_by_deadline": [0.01, 0.3, 0.0],
            "prob_not_by_until": [0.9, 0.2, 0.95],
        }
    )  # fmt: skip


def test_ranking_table_orders_by_probability_then_date():
    table = report.ranking_table(summary_frame(), "en")
    assert list(table["code"]) == ["64.09", "64.01", "64.72"]
    assert table.loc[0, "median 30% date (80%)"] == "June 2026 (January 2026 - > 2030)"
    assert table.loc[2, "median 30% date (80%)"] == "not before 2030"


def test_index_html_links_ok_regions_and_lists_failures():
    status = pd.DataFrame({"region": ["64.01", "64.09", "64.72"], "status": ["ok", "ok", "failed"],
                           "seconds": [1, 1, 1], "error": ["", "", "ValueError: broken"]})  # fmt: skip
    page = report.index_html(summary_frame(), status, overview={"Province 64": "province_64.html"})
    assert page.startswith("<!DOCTYPE html>")
    assert 'href="regions/64.09/report.html"' in page
    assert 'href="regions/64.72/report.html"' not in page
    assert "ValueError: broken" in page and 'href="province_64.html"' in page
    assert 'href="summary.csv"' in page


def test_summary_table_rows_are_the_regions_key_numbers(kaltim_obs, kaltim_regions, kaltim_fits):
    """The index's table gives each region the numbers of its report, including no share at
    a deadline its figures have passed (Bontang's last figure is after 2025-12-31)."""
    codes = ["64.09", "64.74", "64.01"]
    table = report.summary_table(kaltim_obs, kaltim_regions, fits=kaltim_fits, codes=codes, n_paths=200,
                                 seed=0).set_index("region_code")  # fmt: skip
    assert table.loc["64.74", "last_date"] > "2025-12-31"
    for code in codes:
        fit = kaltim_fits[code]
        k = report.key_numbers(fit, fit.forecast(until="2030-12-31", n_paths=200, seed=0), deadline="2025-12-31")
        for key in ("p10", "p50", "p90", "prob_by_deadline", "prob_not_by_until", "share_at_deadline",
                    "share_at_deadline_p10", "share_at_deadline_p90"):  # fmt: skip
            got = table.loc[code, key]
            assert (k[key] is None and pd.isna(got)) or k[key] == got, (code, key, k[key], got)


def test_scenario_table_shows_notes_under_the_figures():
    """The comparison's HTML: the figures in the table, each scenario's notes listed below
    it (escaped), not a column; the text form is the table."""
    from ikdsim.report import ScenarioComparison

    table = pd.DataFrame(
        {"p50": ["2027-01-01", "2026-06-01"], "prob_by_deadline": [0.1, 0.4], "notes": [np.nan, "starts <late> & after"]},
        index=pd.Index(["current trend", "villages"], name="scenario"),
    )
    comp = ScenarioComparison(table, {}, "Scenarios skipped: 'x': bad")
    html = comp._repr_html_()
    assert "<th>notes</th>" not in html and "<th>prob_by_deadline</th>" in html
    assert "<li><b>villages</b>: starts &lt;late&gt; &amp; after</li>" in html
    assert html.count("<li>") == 1 and "Scenarios skipped" in html
    assert "villages" in repr(comp) and "Scenarios skipped" in repr(comp)


def test_chart_svg_has_each_path_on_one_line_and_the_same_drawing(ppu):
    """The SVG a notebook stores: path data on one line, the same paths as matplotlib's."""
    import io
    import re
    import xml.etree.ElementTree as ET

    from ikdsim.figure import SVG_RC, ReportFigure, compact_svg, report_figure

    obs, _, fc = ppu
    fig = report_figure((7.0, 4.0))
    report.fan_chart(fc, observations=obs[obs.region_code == "64.09"], ax=fig.add_subplot(), lang="en")
    assert isinstance(fig, ReportFigure)
    raw = io.StringIO()
    with matplotlib.rc_context(SVG_RC):
        fig.savefig(raw, format="svg", metadata={"Date": None})
    raw = raw.getvalue()
    shown = fig._repr_svg_()
    assert shown == compact_svg(raw)
    assert shown.count("\n") < raw.count("\n") / 3  # the fan chart's bands: hundreds of vertices

    def paths(svg):  # every path's data, whitespace normalised
        ns = "{http://www.w3.org/2000/svg}"
        return [" ".join(p.get("d").split()) for p in ET.fromstring(svg).iter(f"{ns}path") if p.get("d")]

    assert paths(shown) == paths(raw) and len(paths(raw)) > 10
    assert all("\n" not in d for d in re.findall(r' d="([^"]*)"', shown))
