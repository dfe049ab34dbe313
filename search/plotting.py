"""Generic plotting helpers for search reports: matplotlib's object-oriented API only.

A figure lives on its own Agg canvas (no pyplot state, so a notebook's backend is left
alone); text taken from data is escaped so matplotlib never parses it as mathtext; an
axis goes to log scale when its positive values span more than two decades.

Example:
    >>> import numpy as np
    >>> fig = figure(figsize=(2, 2)); ax = fig.subplots()
    >>> tex_safe("$0.77 per 1M"), use_log(np.array([1.0, 1e3]))
    ('\\\\$0.77 per 1M', True)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def tex_safe(text: str) -> str:
    """Data-derived text: escape ``$`` so that matplotlib never parses it as mathtext."""
    return str(text).replace("$", r"\$")


def use_log(values: np.ndarray) -> bool:
    """Whether finite ``values`` are all positive and span more than two decades."""
    v = values[np.isfinite(values)]
    return bool(v.size and np.all(v > 0) and v.max() / v.min() > 100)


def figure(**kw) -> Figure:
    """A figure on its own Agg canvas: no pyplot state, no global backend switch."""
    fig = Figure(**kw)
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: Path) -> None:
    """``tight_layout`` then save at 110 dpi."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
