"""Paired comparison of two methods' per-seed scores (e.g. hypervolumes).

Used by ``codesign_joint.py`` to say whether a method is above the grid across seeds,
not only on the mean. For each seed both methods ran, ``d = score(method) -
score(baseline)``; the summary gives the mean and sd of ``d``, a Student-t 95%
confidence interval of its mean, wins / losses, and the exact one-sided Wilcoxon
signed-rank p-values (``scipy.stats.wilcoxon``, ``method="exact"``; scipy is a core
dependency already). The verdict, fixed before any run that quotes it:

* ``above`` if ``p(d > 0) < alpha``; ``below`` if ``p(d < 0) < alpha``;
* otherwise ``not separable``.

With ``n`` seeds the smallest exact one-sided p is ``2**-n``: 3 seeds can never reach
``alpha = 0.05`` (0.125), 5 seeds can (0.031) only if every seed agrees.

Example::

    >>> s = paired_comparison({0: 1.2, 1: 1.1, 2: 1.3}, {0: 1.0, 1: 1.0, 2: 1.0})
    >>> s["wins"], s["verdict"], round(s["p_greater"], 3)
    (3, 'not separable', 0.125)
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

# The verdict's one-sided level: the conventional 5%, fixed in benchmarks/README.md
# before the ten-seed run.
ALPHA = 0.05


def paired_comparison(scores: dict, baseline: dict, alpha: float = ALPHA) -> dict:
    """Summary of ``scores - baseline`` over the keys (seeds) both have.

    Args:
        scores: seed -> the method's score (larger is better).
        baseline: seed -> the baseline's score.
        alpha: the one-sided level of the verdict.

    Returns:
        A dict with ``seeds``, ``n``, ``mean``, ``sd``, ``ci95`` (a pair, or None for
        ``n < 2``), ``wins``, ``losses``, ``p_greater``, ``p_less`` (None for ``n < 1``
        or all differences zero) and ``verdict``.

    Raises:
        ValueError: a score that is not finite.
    """
    seeds = sorted(set(scores) & set(baseline))
    d = np.array([float(scores[s]) - float(baseline[s]) for s in seeds], float)
    if not np.all(np.isfinite(d)):
        raise ValueError(f"paired_comparison: non-finite score difference for seeds "
                         f"{[s for s, v in zip(seeds, d, strict=True) if not math.isfinite(v)]}")
    n = len(d)
    out = {"seeds": seeds, "n": n, "mean": float(d.mean()) if n else None,
           "sd": float(d.std(ddof=1)) if n > 1 else None, "ci95": None,
           "wins": int((d > 0).sum()), "losses": int((d < 0).sum()),
           "p_greater": None, "p_less": None, "verdict": "not separable"}
    if n > 1:
        half = stats.t.ppf(0.975, n - 1) * out["sd"] / math.sqrt(n)
        out["ci95"] = (out["mean"] - half, out["mean"] + half)
    if n and np.any(d != 0):
        # zero differences are dropped (Wilcoxon's convention); the exact null
        # distribution assumes no tied |d|, so with ties scipy picks its method
        nz = d[d != 0]
        method = "exact" if len(np.unique(np.abs(nz))) == len(nz) else "auto"
        out["p_greater"] = float(stats.wilcoxon(nz, alternative="greater",
                                                method=method).pvalue)
        out["p_less"] = float(stats.wilcoxon(nz, alternative="less",
                                             method=method).pvalue)
        if out["p_greater"] < alpha:
            out["verdict"] = "above"
        elif out["p_less"] < alpha:
            out["verdict"] = "below"
    return out


def paired_row(s: dict) -> str:
    """One markdown-row tail: seeds | mean +- sd | 95% CI | wins-losses | p | verdict."""
    sd = f" +- {s['sd']:.3f}" if s["sd"] is not None else ""
    ci = (f"{s['ci95'][0]:+.3f} to {s['ci95'][1]:+.3f}" if s["ci95"] is not None
          else "-")
    p = (f"{s['p_greater']:.3f} / {s['p_less']:.3f}" if s["p_greater"] is not None
         else "-")
    return (f"{s['n']} | {s['mean']:+.3f}{sd} | {ci} | {s['wins']}-{s['losses']} | {p} | "
            f"{s['verdict']}")
