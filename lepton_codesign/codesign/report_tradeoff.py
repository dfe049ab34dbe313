"""Accuracy-vs-cost trade-off plots per family and the compression of each front point.

``results.json`` points may carry a ``compression`` summary (``point``, ``label``,
``density``, ``structure``, ``weight_bits``, ``act_bits``: what ``codesign`` writes);
``compression_text`` renders it in one cell. ``tradeoff_plots`` draws, per hardware
family, the error against every cost objective with that family's two-objective Pareto
staircase; ``joint_section`` summarises a joint compression search (``results["joint"]``)
and lists its full-budget candidates. Object-oriented matplotlib only (no pyplot).

Example:
    >>> compression_text({"label": "s0.80 w4 a8", "density": 0.2, "structure": "unstructured"})
    's0.80 w4 a8 (density 0.20, unstructured)'
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def compression_text(comp: dict | None) -> str:
    """One-line summary of a point's compression (its name when nothing else is known)."""
    comp = comp or {}
    head = comp.get("label") or comp.get("point") or "?"
    extra = []
    if isinstance(comp.get("density"), int | float):
        extra.append(f"density {comp['density']:.2f}")
    if comp.get("structure"):
        extra.append(str(comp["structure"]))
    if comp.get("point") and comp.get("label") and comp["point"] != comp["label"]:
        head = f"{comp['point']}: {head}"
    return f"{head} ({', '.join(extra)})" if extra else str(head)


def _staircase(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 2-D non-dominated points (both minimised), sorted by ``x``."""
    order = np.lexsort((y, x))
    keep, best = [], np.inf
    for i in order:
        if y[i] < best:
            keep.append(i)
            best = y[i]
    return x[keep], y[keep]


def tradeoff_plots(res: dict, run_dir: Path, figure, save, colors: dict, tex) -> list[str]:
    """``tradeoff_<family>.png``: error vs each cost objective; returns the file names.

    ``figure`` / ``save`` / ``tex`` are ``codesign.report``'s figure factory, saver and
    mathtext escaper (passed in to keep one rendering convention).
    """
    names = [o["name"] for o in res["objectives"]]
    if "error" not in names or len(names) < 2:
        return []
    e = names.index("error")
    costs = [j for j in range(len(names)) if j != e]
    pts = [p for p in res["points"] if p["feasible"] and None not in p["objectives"]]
    out = []
    for fam in sorted({p["family"] for p in pts}):
        sel = [p for p in pts if p["family"] == fam]
        objs = np.array([p["objectives"] for p in sel], float)
        front = np.array([p["on_front"] for p in sel])
        fig = figure(figsize=(4.2 * len(costs), 3.8))
        axes = np.atleast_1d(fig.subplots(1, len(costs)))
        color = colors.get(fam, "tab:gray")
        for ax, j in zip(axes, costs, strict=True):
            x, y = objs[:, j], 100.0 * objs[:, e]
            ax.scatter(x[~front], y[~front], s=10, alpha=0.3, color=color, linewidths=0,
                       label="dominated")
            if front.any():
                ax.scatter(x[front], y[front], s=30, color=color, edgecolors="black",
                           linewidths=0.6, label="on the overall front", zorder=3)
            sx, sy = _staircase(x, y)
            ax.step(sx, sy, where="post", color="black", lw=0.9,
                    label=tex(f"{fam}: best error per cost"))
            ax.set_xlabel(tex(res["objectives"][j]["label"]))
            ax.set_ylabel("error [%]")
            if np.all(x > 0) and x.max() / x.min() > 100:
                ax.set_xscale("log")
            ax.grid(True, which="both", alpha=0.3)
        axes[0].legend(fontsize=7)
        fig.suptitle(tex(f"{fam}: accuracy vs cost"))
        path = run_dir / f"tradeoff_{_safe(fam)}.png"
        save(fig, path)
        out.append(path.name)
    return out


def _safe(name: str) -> str:
    from lepton_codesign.codesign.report_io import safe_filename

    return safe_filename(name)


def joint_section(res: dict, md) -> list[str]:
    """Markdown lines summarising ``results["joint"]`` (empty for a grid run)."""
    info = res.get("joint")
    if not isinstance(info, dict):
        return []
    lines = ["## Joint search", "",
             f"- compression candidates searched: {info.get('candidates')} (+ "
             f"{info.get('seeds')} seeds); fine-tuned at the full budget: "
             f"{info.get('full_budget')}; stopped early by successive halving: "
             f"{info.get('pruned')}",
             f"- rungs (fine-tuning epochs): {info.get('rungs_epochs')}; promotions judged "
             "on a validation split of the training data; accuracies below are on the "
             "test split after the full budget",
             f"- dense model (trained once): test accuracy "
             f"{100 * float(info.get('dense_accuracy', float('nan'))):.1f} %",
             f"- search time (dense model, fine-tunes, nested pricing): "
             f"{float(info.get('search_time_s', info.get('training_time_s', 0))):.0f} s"
             + (" (stopped by `time_budget_s`)" if info.get("cut_by_budget") else "")]
    n_refit = sum(1 for t in res.get("trials", []) if t.get("refit"))
    if n_refit:
        lines.append(f"- refit (the validation examples trained on in their full-budget "
                     f"stretch): {n_refit} (validation accuracy: the rung below's, on which "
                     "they were promoted)")
    n_again = sum(1 for t in res.get("trials", []) if t.get("retrained"))
    if n_again:
        lines.append(f"- retrained on all the training data (fit + validation) after the "
                     f"search: {n_again} (the dense model and the candidates most accurate "
                     "on the validation split; test accuracy of the retrained model, the "
                     "search's in brackets)")
    lines += ["", "| candidate | compression | validation acc. | test acc. |",
              "|---|---|---|---|"]
    for t in res.get("trials", []):
        if "val_accuracy" not in t:
            continue
        before = (f" (retrained; {100 * t['search_accuracy']:.1f} %)"
                  if "search_accuracy" in t else "")
        lines.append(f"| {md(t['name'])} | {md(t.get('label', ''))} | "
                     f"{100 * t['val_accuracy']:.1f} % | {100 * t['accuracy']:.1f} %{before} |")
    return [*lines, ""]
