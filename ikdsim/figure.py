"""The report's figure: a matplotlib Figure that Jupyter shows without pyplot.

Imported only when a chart is drawn (matplotlib is slow to import).  A :class:`ReportFigure`
is a plain :class:`matplotlib.figure.Figure` (``savefig``, ``axes``, ... as usual) with a
``_repr_svg_``: returned as a cell's value, Jupyter shows it once, as SVG, with no
``%matplotlib inline`` and no pyplot.  That is what keeps a report notebook close to the
kernel's start-up time (measured on the regency notebook, whose three charts took 0.83 s as
pyplot figures: the inline backend draws every pyplot figure after each cell, then twice
more to show it with ``bbox_inches="tight"``; importing and activating it cost 0.2 s).
Where ``%matplotlib inline`` is active, its own PNG formatter shows the figure instead.

SVG rather than PNG: the charts are lines, bands and text, which SVG keeps sharp at any
zoom in JupyterLab and in the HTML reports, and writing it is quicker than rasterising and
compressing a PNG (the regency notebook's three charts: 0.13 s against 0.22 s).  The text
stays text (``svg.fonttype: none``, drawn by the viewer in DejaVu Sans or its sans-serif
font) and the file carries no date, so the same chart gives the same bytes.

matplotlib writes a path's data one vertex per line (``M x y \nL x y \nL ...``); a fan
chart has about 2,400 lines.  A notebook stores a text output as a list of its lines, and
papermill writes the whole notebook after each cell starts and ends (34 times for the
regency notebook) with Python's JSON encoder, one list item at a time; so the path data
is written on one line (:func:`compact_svg`), the same drawing with about a fifth of
the lines.
"""

from __future__ import annotations

import io
import re

from .longlived import long_lived

with long_lived():  # matplotlib lives as long as the process (ikdsim.longlived)
    from matplotlib import rc_context
    from matplotlib.backends.backend_svg import FigureCanvasSVG  # noqa: F401 - loaded now, frozen
    from matplotlib.figure import Figure

__all__ = ["SVG_RC", "ReportFigure", "compact_svg", "report_figure"]

#: rcParams of the SVG a report figure shows: text as text, fixed element ids.
SVG_RC = {"svg.fonttype": "none", "svg.hashsalt": "ikdsim"}


#: A path's data attribute (in SVG only paths have one; matplotlib writes it in double quotes).
_PATH_DATA = re.compile(r' d="([^"]*)"')


def compact_svg(svg: str) -> str:
    """``svg`` with each path's data on one line: its line breaks made single spaces.

    In SVG path data any run of spaces and line breaks is one separator, so the drawing is
    the same; matplotlib's other line breaks (between elements and attributes) are kept.

    Examples
    --------
    >>> compact_svg('<path d="M 1 2 \\nL 3 4 \\nz\\n"/>')
    '<path d="M 1 2 L 3 4 z"/>'
    """
    return _PATH_DATA.sub(lambda m: f' d="{" ".join(m.group(1).split())}"', svg)


class ReportFigure(Figure):
    """A Figure shown by Jupyter as SVG of its own layout (fixed margins, one drawing)."""

    def _repr_svg_(self) -> str:
        buf = io.StringIO()
        with rc_context(SVG_RC):
            self.savefig(buf, format="svg", metadata={"Date": None})
        return compact_svg(buf.getvalue())


def report_figure(figsize: tuple[float, float], margins: tuple[float, float, float, float] | None = None) -> ReportFigure:
    """A new :class:`ReportFigure`, not registered with pyplot.

    Parameters
    ----------
    figsize : (float, float)
        Width and height in inches.
    margins : (float, float, float, float), optional
        Left, right, bottom and top margins in inches, fixed (no layout pass at drawing
        time); default: matplotlib's.
    """
    fig = ReportFigure(figsize=figsize)
    if margins is not None:
        (w, h), (left, right, bottom, top) = figsize, margins
        fig.subplots_adjust(left=left / w, right=1 - right / w, bottom=bottom / h, top=1 - top / h)
    return fig
