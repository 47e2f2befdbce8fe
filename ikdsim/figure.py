"""The report's figure: a matplotlib Figure that Jupyter shows without pyplot.

Imported only when a chart is drawn (matplotlib is slow to import).  A :class:`ReportFigure`
is a plain :class:`matplotlib.figure.Figure` (``savefig``, ``axes``, ... as usual) with a
``_repr_png_``: returned as a cell's value, Jupyter shows it once, as a PNG, with no
``%matplotlib inline`` and no pyplot.  That is what keeps a report notebook close to the
kernel's start-up time (measured on the regency notebook, whose three charts took 0.83 s as
pyplot figures: the inline backend draws every pyplot figure after each cell, then twice
more to show it with ``bbox_inches="tight"``; importing and activating it cost 0.2 s).
Where ``%matplotlib inline`` is active, its own PNG formatter shows the figure instead.
"""

from __future__ import annotations

import io

from matplotlib.figure import Figure

__all__ = ["ReportFigure", "report_figure"]


class ReportFigure(Figure):
    """A Figure shown by Jupyter as a PNG of its own layout (fixed margins, one drawing)."""

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png")
        return buf.getvalue()


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
