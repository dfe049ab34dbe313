"""Pareto reports of a run directory: plots, ``front.csv`` and ``report.md``.

A run directory holds ``results.json`` (written by ``lepton_codesign.codesign`` or any
caller of ``write_results``) with this schema::

    {"run": {"name", "seed", "command", "settings", "versions", "wall_time_s", ...},
     "objectives": [{"name": "latency_s", "label": "latency [s]"}, ...],
     "points": [{"id", "family", "label", "hardware": {...}, "compression": {...},
                 "objectives": [...], "feasible", "on_front", "reference"}, ...],
     "hv_history": {"<family>": [[evaluations, hypervolume], ...]},
     "chosen": [{"id", "why", "layers": [{"layer", "latency_s", "energy_j", "bound"}]}]}

(``trials`` may add each operating point's per-layer compression; see ``report_html``.)
``codesign.report_io.load_results`` validates it first. ``write_report(run_dir)`` renders
PNGs with matplotlib's object-oriented API on an Agg canvas (no pyplot, so a notebook's
backend is left alone), ``front.csv``, ``report.md`` and the interactive, self-contained
``report.html`` (``codesign.report_html``). Every file name derived from the data is
sanitised (``report_io.safe_filename``), so nothing is written outside ``run_dir``.

Example:
    >>> write_report("reports/quickstart")  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import numpy as np

from lepton_codesign.codesign.report_io import inside, load_results, unique_labels
from lepton_codesign.codesign.report_tradeoff import compression_text, joint_section, tradeoff_plots
from lepton_codesign.search import report_format as fmt
from lepton_codesign.search.pareto import knee_index as knee_index  # re-export
from lepton_codesign.search.plotting import figure as _figure
from lepton_codesign.search.plotting import save as _save
from lepton_codesign.search.plotting import tex_safe as _tex_safe
from lepton_codesign.search.plotting import use_log as _use_log

_FAMILY_COLORS = {"asic": "tab:blue", "fpga": "tab:orange", "gpu": "tab:green"}


def _scatter(ax, res: dict, i: int, j: int, annotate: bool = True) -> None:
    pts = res["points"]
    objs = np.array([p["objectives"] for p in pts], float)
    fam = np.array([p["family"] for p in pts])
    front = np.array([p["on_front"] for p in pts])
    feas = np.array([p["feasible"] for p in pts])
    for f in sorted(set(fam)):
        color = _FAMILY_COLORS.get(f, "tab:gray")
        sel = (fam == f) & feas & ~front
        if sel.any():
            ax.scatter(objs[sel, i], objs[sel, j], s=12, alpha=0.35, color=color,
                       linewidths=0, label=_tex_safe(f"{f} (dominated)"))
        sel = (fam == f) & front
        if sel.any():
            ax.scatter(objs[sel, i], objs[sel, j], s=34, color=color, edgecolors="black",
                       linewidths=0.6, label=_tex_safe(f"{f} (front)"), zorder=3)
    infeas = ~feas
    if infeas.any():
        ax.scatter(objs[infeas, i], objs[infeas, j], s=10, marker="x", color="tab:red",
                   alpha=0.4, label="infeasible")
    ref = np.array([bool(p.get("reference")) for p in pts])
    if ref.any():
        which = sorted({p.get("point", p["label"]) for p in pts if p.get("reference")})
        ax.scatter(objs[ref, i], objs[ref, j], s=110, marker="*", facecolors="none",
                   edgecolors="black", linewidths=1.0, zorder=4,
                   label=_tex_safe(f"reference ({', '.join(which)})"))
    for c in res.get("chosen", [])[:1]:
        k = next(n for n, p in enumerate(pts) if p["id"] == c["id"])
        ax.scatter(objs[k, i], objs[k, j], s=160, facecolors="none", edgecolors="tab:red",
                   linewidths=1.5, zorder=5, label="chosen (knee)")
        if not annotate:
            continue
        ax.annotate(_tex_safe(f"chosen: {pts[k]['label']}"), (objs[k, i], objs[k, j]),
                    xytext=(12, 12), textcoords="offset points", fontsize=8,
                    arrowprops={"arrowstyle": "->", "lw": 0.8})
    labels = [_tex_safe(o["label"]) for o in res["objectives"]]
    ax.set_xlabel(labels[i])
    ax.set_ylabel(labels[j])
    if _use_log(objs[feas, i]):
        ax.set_xscale("log")
    if _use_log(objs[feas, j]):
        ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)


def _pairs_plot(res: dict, path: Path) -> None:
    k = len(res["objectives"])
    fig = _figure(figsize=(3.6 * (k - 1), 3.2 * (k - 1)))
    axes = fig.subplots(k - 1, k - 1, squeeze=False)
    for r in range(k - 1):
        for c in range(k - 1):
            ax = axes[r, c]
            if c > r:
                ax.axis("off")
                continue
            _scatter(ax, res, c, r + 1, annotate=False)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", fontsize=9)
    fig.suptitle(_tex_safe(f"{res['run'].get('name', 'run')}: all objective pairs"))
    _save(fig, path)


def _hv_plot(res: dict, path: Path) -> None:
    fig = _figure(figsize=(6, 4))
    ax = fig.subplots()
    for fam, hist in res.get("hv_history", {}).items():
        if hist:
            h = np.array(hist, float)
            ax.plot(h[:, 0], h[:, 1], marker="o", ms=3,
                    color=_FAMILY_COLORS.get(fam, "tab:gray"), label=_tex_safe(fam))
    ax.set_xlabel("evaluations")
    ax.set_ylabel("hypervolume / final hypervolume")
    ax.set_title("Hypervolume vs evaluations")
    ax.grid(True, alpha=0.3)
    ax.legend()
    _save(fig, path)


def _layers_plot(chosen: dict, label: str, path: Path) -> None:
    layers = chosen["layers"]
    names = [lay["layer"] for lay in layers]
    y = np.arange(len(names))
    mem = np.array([lay["bound"] == "memory" for lay in layers])
    fig = _figure(figsize=(11, 0.35 * len(names) + 1.8))
    axes = fig.subplots(1, 2, sharey=True)
    lat = np.array([lay["latency_s"] for lay in layers], float)
    for sel, color, what in ((~mem, "tab:blue", "compute-bound"),
                             (mem, "tab:red", "memory-bound")):
        if sel.any():
            axes[0].barh(y[sel], lat[sel], color=color, label=what)
    axes[0].set_xlabel("latency [s]")
    parts = [("energy_mac_j", "MAC", "tab:purple"), ("energy_sram_j", "SRAM", "tab:cyan"),
             ("energy_dram_j", "DRAM", "tab:brown"), ("energy_leak_j", "leakage", "tab:gray")]
    left = np.zeros(len(names))
    if all(key in layers[0] for key, _, _ in parts):
        for key, what, color in parts:
            vals = np.array([lay[key] for lay in layers], float)
            axes[1].barh(y, vals, left=left, color=color, label=what)
            left += vals
        axes[1].legend(fontsize=8)
    else:
        axes[1].barh(y, [lay["energy_j"] for lay in layers], color="tab:purple")
    axes[1].set_xlabel("energy [J]")
    for ax in axes:
        ax.grid(True, axis="x", alpha=0.3)
    axes[0].set_yticks(y, [_tex_safe(n) for n in names], fontsize=8)
    axes[0].invert_yaxis()
    axes[0].legend(fontsize=8)
    fig.suptitle(_tex_safe(f"Per-layer breakdown: {label}"))
    _save(fig, path)


def _front_rows(res: dict) -> list[dict]:
    names = [o["name"] for o in res["objectives"]]
    labels = unique_labels(res["points"])
    rows = []
    for p in res["points"]:
        if not p["on_front"] and not p.get("reference"):
            continue
        row = {"id": p["id"], "family": p["family"], "label": labels[p["id"]],
               "on_front": p["on_front"], "reference": bool(p.get("reference"))}
        row.update(dict(zip(names, p["objectives"], strict=False)))
        row.update({f"hw.{k}": v for k, v in p.get("hardware", {}).items()})
        row.update({f"comp.{k}": v for k, v in p.get("compression", {}).items()})
        rows.append(row)
    rows.sort(key=lambda r: (not r["on_front"], _sort_key(r[names[0]])))
    return rows


def _sort_key(v) -> float:
    return float("inf") if v is None else float(v)


def write_front_csv(res: dict, path: Path) -> None:
    """The front (and reference designs) as CSV: raw numbers, one column per setting."""
    rows = _front_rows(res)
    keys = sorted({k for r in rows for k in r}, key=lambda k: (k.count("."), k))
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def _md(text) -> str:
    """Markdown text from data: no pipes, backticks, line breaks or raw HTML."""
    return (str(text).replace("|", "/").replace("`", "'").replace("\n", " ")
            .replace("<", "&lt;").replace(">", "&gt;"))


def _markdown(res: dict, pngs: list[str]) -> str:
    run = res["run"]
    names = [o["name"] for o in res["objectives"]]
    rows = _front_rows(res)
    n_pts = len(res["points"])
    fams = sorted({p["family"] for p in res["points"]})
    wall = run.get("wall_time_s")
    lines = [f"# Co-design report: {_md(run.get('name', 'run'))}", "",
             f"- command: `{_md(run.get('command', ''))}`",
             f"- seed: {_md(run.get('seed'))}",
             f"- wall time: {fmt.si(wall, 's') if isinstance(wall, int | float) else 'n/a'}",
             f"- evaluated designs: {n_pts} across {', '.join(map(_md, fams))}; "
             f"on the front: {sum(p['on_front'] for p in res['points'])}",
             f"- data: {_md(run.get('data', 'n/a'))}",
             f"- versions: {_md(json.dumps(run.get('versions', {})))}",
             "- interactive report (sortable front, linked plots, per-design details): "
             "[report.html](report.html)", "",
             "## Pareto front", "",
             "| family | design | compression | " + " | ".join(names) + " |",
             "|---|---|---|" + "---|" * len(names)]
    chosen = {c["id"] for c in res.get("chosen", [])[:1]}
    comps = {p["id"]: p.get("compression") for p in res["points"]}
    for r in rows:
        tag = " (reference, dominated)" if r["reference"] and not r["on_front"] else ""
        tag += " **(chosen)**" if r["id"] in chosen else ""
        vals = " | ".join(fmt.objective(n, r[n]) for n in names)
        lines.append(f"| {_md(r['family'])} | {_md(r['label'])}{tag} | "
                     f"{_md(compression_text(comps.get(r['id'])))} | {vals} |")
    for c in res.get("chosen", []):
        lines += ["", f"Chosen design `{_md(c['id'])}`: {_md(c.get('why', ''))}."]
    lines += ["", *joint_section(res, _md)]
    lines += ["## Plots", ""] + [f"![{p}]({p})" for p in pngs]
    lines += ["", "## Settings", "", "```json", json.dumps(run.get("settings", {}), indent=2),
              "```", ""]
    return "\n".join(lines)


def write_report(run_dir: str | Path) -> list[Path]:
    """Render plots, ``front.csv``, ``report.md`` and ``report.html`` from ``results.json``.

    Args:
        run_dir: a run directory holding ``results.json`` (validated first).

    Returns:
        The files written, all inside ``run_dir``.

    Raises:
        FileNotFoundError: no ``results.json``.
        codesign.report_io.ResultsError: ``results.json`` is malformed (names file and key).
    """
    from lepton_codesign.codesign.report_html import write_html  # bokeh: only when reporting

    run_dir = Path(run_dir)
    res = load_results(run_dir)
    pngs = []
    names = [o["name"] for o in res["objectives"]]
    for i, j in itertools.combinations(range(len(names)), 2):
        fig = _figure(figsize=(6.4, 4.8))
        ax = fig.subplots()
        _scatter(ax, res, i, j)
        ax.legend(fontsize=8, loc="best")
        ax.set_title(_tex_safe(f"{names[j]} vs {names[i]}"))
        p = inside(run_dir, f"pareto_{names[i]}__{names[j]}", ".png")
        _save(fig, p)
        pngs.append(p.name)
    if len(names) > 2:
        _pairs_plot(res, run_dir / "pairs.png")
        pngs.append("pairs.png")
    pngs += tradeoff_plots(res, run_dir, _figure, _save, _FAMILY_COLORS, _tex_safe)
    if res.get("hv_history"):
        _hv_plot(res, run_dir / "hypervolume.png")
        pngs.append("hypervolume.png")
    labels = unique_labels(res["points"])
    for c in res.get("chosen", []):
        if c.get("layers"):
            p = inside(run_dir, f"layers_{c['id']}", ".png")
            _layers_plot(c, labels[c["id"]], p)
            pngs.append(p.name)
    write_front_csv(res, run_dir / "front.csv")
    (run_dir / "report.md").write_text(_markdown(res, pngs))
    write_html(res, run_dir / "report.html")
    return [run_dir / p for p in pngs] + [run_dir / n for n in ("front.csv", "report.md",
                                                                "report.html")]
