"""``report.html``: an interactive, self-contained (offline) view of a run's designs.

One Bokeh document, its JavaScript embedded (``bokeh.resources.INLINE``, no CDN):

* a scatter plot per objective pair, all drawing one shared ``ColumnDataSource``, so a
  box or tap selection in one plot (or a click on a table row) selects the same designs
  everywhere; axes in human units (``us``, ``uJ``, ``%``), log scale over two decades;
* a sortable ``DataTable`` of the front (plus reference designs), the chosen design
  marked ``*``, objectives sorted by value but shown in human units;
* hovering a point shows a tooltip (design, family, objectives, hardware) and fills the
  details panel: hardware settings, the operating point's per-layer compression (from
  ``trials``) and, for the chosen design, its per-layer latency / energy breakdown;
* family check boxes and a "show dominated and infeasible designs" switch (``CustomJS``).

Every string from the data is HTML-escaped in Python, or shown as text by Bokeh.

Example:
    >>> from lepton_codesign.codesign.report_io import load_results
    >>> write_html(load_results("reports/quickstart"), Path("/tmp/r.html"))  # doctest: +SKIP
"""

from __future__ import annotations

import html
import itertools
import re
from pathlib import Path

import numpy as np
from bokeh.embed import file_html
from bokeh.layouts import column, gridplot, row
from bokeh.models import (
    BooleanFilter,
    CDSView,
    CheckboxGroup,
    ColumnDataSource,
    CustomJS,
    DataTable,
    Div,
    HoverTool,
    HTMLTemplateFormatter,
    TableColumn,
)
from bokeh.plotting import figure
from bokeh.resources import INLINE

from lepton_codesign.codesign.report_io import unique_labels
from lepton_codesign.codesign.report_tradeoff import compression_text
from lepton_codesign.search import report_format as fmt

# Tableau colours, as matplotlib's tab:blue / tab:orange / tab:green in the PNG reports.
_COLORS = {"asic": "#1f77b4", "fpga": "#ff7f0e", "gpu": "#2ca02c"}
_OTHER = ("#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
_STRUCTURES = ("unstructured", "N:M", "channel")  # hw_models.compression codes 0, 1, 2
_SCALES = ((1e-12, "p"), (1e-9, "n"), (1e-6, "u"), (1e-3, "m"), (1.0, ""), (1e3, "k"))


def _unit(name: str, values: np.ndarray) -> tuple[float, str]:
    """(factor, unit) so that ``values * factor`` reads in a human unit on an axis."""
    v = np.abs(values[np.isfinite(values) & (values != 0)])
    if name in ("error", "accuracy") or name.endswith(("_error", "_accuracy")):
        return 100.0, "%"
    if name.startswith("usd") or name.endswith("_usd"):
        return 1.0, "$ per 1M" if "per_1m" in name else "$"
    for suffix, base in (("_s", "s"), ("_j", "J"), ("_w", "W")):
        if name.endswith(suffix) and v.size:
            scale, prefix = next(((s, p) for s, p in reversed(_SCALES)
                                  if np.median(v) >= s), _SCALES[0])
            return 1.0 / scale, prefix + base
    return 1.0, ""


def _table(rows: list[tuple], head: tuple | None = None) -> str:
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                    for r in rows)
    top = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>" if head else ""
    return f"<table class='lc'>{top}{cells}</table>"


def _compression_html(trial: dict) -> str:
    comp, layers = trial.get("compression") or {}, trial.get("layers") or []
    keys = [k for k, v in comp.items() if isinstance(v, list)]
    n = max([len(layers)] + [len(comp[k]) for k in keys])

    def cell(key: str, i: int) -> str:
        vals = comp[key]
        v = vals[i] if i < len(vals) else None
        if key == "structure" and isinstance(v, int | float) and int(v) in (0, 1, 2):
            return _STRUCTURES[int(v)]
        if "density" in key and isinstance(v, int | float):
            return fmt.percent(v)
        return fmt.plain(v)

    rows = [(layers[i] if i < len(layers) else f"layer {i}",) + tuple(cell(k, i) for k in keys)
            for i in range(n)]
    acc = trial.get("accuracy")
    title = f"Compression per layer: {trial['name']}"
    if isinstance(acc, int | float):
        title += f" (test accuracy {fmt.percent(acc)})"
    return (f"<h4>{html.escape(title)}</h4>"
            + _table(rows, ("layer",) + tuple(k.replace("_", " ") for k in keys)))


def _layers_html(chosen: dict) -> str:
    rows = [(lay["layer"], fmt.si(lay["latency_s"], "s"), fmt.si(lay["energy_j"], "J"),
             lay.get("bound", ""), fmt.plain(lay.get("macs"))) for lay in chosen["layers"]]
    return ("<h4>Per-layer breakdown (chosen design)</h4>"
            + _table(rows, ("layer", "latency", "energy", "bound", "MACs")))


def _status(p: dict) -> str:
    if not p["feasible"]:
        return "infeasible" + (f": {p['reason']}" if p.get("reason") else "")
    if p["on_front"]:
        return "front" + (" (reference)" if p.get("reference") else "")
    return "reference (dominated)" if p.get("reference") else "dominated"


def _source(res: dict) -> tuple[dict, list[tuple[float, str]]]:
    pts, names = res["points"], [o["name"] for o in res["objectives"]]
    labels = unique_labels(pts)
    chosen = (res.get("chosen") or [{}])[0].get("id")
    fams = sorted({p["family"] for p in pts})
    colors = {f: _COLORS.get(f) or _OTHER[i % len(_OTHER)] for i, f in enumerate(fams)}
    objs = np.array([[np.nan if v is None else v for v in p["objectives"]] for p in pts], float)
    units = [_unit(n, objs[:, j]) for j, n in enumerate(names)]
    shown = sorted((i for i, p in enumerate(pts) if np.all(np.isfinite(objs[i]))),
                   key=lambda i: (pts[i]["id"] != chosen, not pts[i]["on_front"],
                                  not pts[i].get("reference"), objs[i, 0]))
    d: dict[str, list] = {"id": [], "label": [], "family": [], "status": [], "mark": [],
                          "point": [], "comp": [], "hw": [], "hw_rows": [], "color": [],
                          "size": [],
                          "alpha": [], "line_alpha": [], "marker": [], "front": [], "table": []}
    for i in shown:
        p = pts[i]
        top = p["on_front"] or bool(p.get("reference")) or p["id"] == chosen
        d["id"].append(p["id"])
        d["label"].append(labels[p["id"]])
        d["family"].append(p["family"])
        d["status"].append(_status(p))
        d["mark"].append("*" if p["id"] == chosen else "")
        d["point"].append(p.get("point") or (p.get("compression") or {}).get("point") or "")
        d["comp"].append(compression_text(p.get("compression")))
        d["hw"].append(", ".join(f"{k}={fmt.hardware(k, v)}"
                                 for k, v in (p.get("hardware") or {}).items()))
        d["hw_rows"].append("\n".join(f"{k}\t{fmt.hardware(k, v)}"
                                      for k, v in (p.get("hardware") or {}).items()))
        d["color"].append(colors[p["family"]] if p["feasible"] else "#d62728")
        d["size"].append(11 if top else 6)
        d["alpha"].append(0.95 if top else 0.35)
        d["line_alpha"].append(1.0 if top else 0.0)
        d["marker"].append("circle" if p["feasible"] else "x")
        d["front"].append(p["on_front"])
        d["table"].append(p["on_front"] or bool(p.get("reference")))
        for j, n in enumerate(names):
            d.setdefault(f"obj{j}", []).append(float(objs[i, j]))
            d.setdefault(f"x{j}", []).append(float(objs[i, j]) * units[j][0])
            d.setdefault(f"txt{j}", []).append(fmt.objective(n, float(objs[i, j])))
    if not shown:
        for j in range(len(names)):
            d[f"obj{j}"], d[f"x{j}"], d[f"txt{j}"] = [], [], []
    return d, units


def _axis_label(label: str, unit: str) -> str:
    return re.sub(r"\s*\[[^\]]*\]\s*$", "", label) + (f" [{unit}]" if unit else "")


def _log_axis(values: list[float]) -> bool:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return bool(v.size and np.all(v > 0) and v.max() / v.min() > 100)


_FILTER_JS = """
const fams = new Set(families.active.map((i) => families.labels[i]));
const all = dominated.active.length > 0;
const d = source.data;
const n = d.id.length;
const plot = new Array(n), tab = new Array(n);
for (let i = 0; i < n; i++) {
  const fam = fams.has(d.family[i]);
  plot[i] = fam && (all || d.table[i] || d.mark[i] === "*");
  tab[i] = fam && d.table[i];
}
plot_filter.booleans = plot;
table_filter.booleans = tab;
source.change.emit();
"""

_DETAILS_JS = """
const i = %s;
if (i === undefined || i === null) return;
const d = source.data;
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;",
  ">": "&gt;", '"': "&quot;", "'": "&#39;"})[c]);
const table = (rows) => "<table class='lc'>" + rows.map((r) => "<tr>" +
  r.map((c) => "<td>" + esc(c) + "</td>").join("") + "</tr>").join("") + "</table>";
let text = "<h3>" + esc(d.label[i] + " (" + d.id[i] + ", " + d.family[i] + ", " +
  d.status[i] + ")") + (d.mark[i] === "*" ? " <b>chosen</b>" : "") + "</h3>";
text += "<h4>Objectives</h4>" + table(olabels.map((lab, j) => [lab, d["txt" + j][i]]));
const hw = d.hw_rows[i] ? d.hw_rows[i].split("\\n").map((r) => r.split("\\t")) : [];
text += "<h4>Hardware</h4>" + table(hw);
if (d.point[i] in comp) text += comp[d.point[i]];
if (d.id[i] in layers) text += layers[d.id[i]];
panel.text = text;
"""

_CSS = ("<style>table.lc{border-collapse:collapse;font-size:12px;margin:2px 0 8px}"
        "table.lc td,table.lc th{border:1px solid #ccc;padding:1px 6px;text-align:left}"
        "h3,h4{margin:6px 0 2px}</style>")


def _header(res: dict, n_shown: int) -> str:
    run, pts = res["run"], res["points"]
    chosen = (res.get("chosen") or [{}])[0]
    labels = unique_labels(pts)
    wall = run.get("wall_time_s")
    lines = [f"<h2>Co-design report: {html.escape(str(run.get('name', 'run')))}</h2>",
             f"<p>{len(pts)} designs evaluated ({n_shown} with finite objectives shown), "
             f"{sum(p['on_front'] for p in pts)} on the front; seed "
             f"{html.escape(str(run.get('seed')))}; wall time "
             f"{fmt.si(wall, 's') if isinstance(wall, int | float) else 'n/a'}; command "
             f"<code>{html.escape(str(run.get('command', '')))}</code>.</p>"]
    if chosen.get("id"):
        lines.append(f"<p>Chosen design (<b>*</b> in the table, red ring in the plots): "
                     f"<b>{html.escape(labels[chosen['id']])}</b>, "
                     f"{html.escape(str(chosen.get('why', '')))}.</p>")
    hidden = [p for p in pts if any(v is None for v in p["objectives"])]
    if hidden:
        items = "".join(f"<li>{html.escape(labels[p['id']])}: {html.escape(_status(p))}</li>"
                        for p in hidden[:20])
        more = f"<li>... and {len(hidden) - 20} more</li>" if len(hidden) > 20 else ""
        lines.append(f"<p>Not drawn (no finite cost): {len(hidden)} design(s)</p>"
                     f"<ul>{items}{more}</ul>")
    lines.append("<p>Hover a point for its details; click, or box-select, to select designs in "
                 "every plot and the table; click a column header to sort.</p>")
    return _CSS + "".join(lines)


def build(res: dict):
    """The Bokeh layout of ``report.html`` for a validated ``results.json`` dict."""
    data, units = _source(res)
    names = [o["name"] for o in res["objectives"]]
    olabels = [_axis_label(o["label"], "") for o in res["objectives"]]  # units: in values
    source = ColumnDataSource(data, name="points")
    n = len(data["id"])
    plot_filter = BooleanFilter(booleans=[True] * n)
    table_filter = BooleanFilter(booleans=list(data["table"]))
    panel = Div(text="<i>Hover a point to see its details here.</i>", width=520,
                name="details")
    trials = {t["name"]: _compression_html(t) for t in res.get("trials", [])}
    layers = {c["id"]: _layers_html(c) for c in res.get("chosen", [])[:1] if c.get("layers")}
    details_args = {"source": source, "panel": panel, "comp": trials, "layers": layers,
                    "olabels": olabels}
    hover_js = CustomJS(args=details_args, code=_DETAILS_JS % "cb_data.index.indices[0]")
    tips = ([("design", "@label"), ("family", "@family"), ("status", "@status")]
            + [(lab, f"@txt{j}") for j, lab in enumerate(olabels)] + [("hardware", "@hw")])
    plots = []
    for i, j in itertools.combinations(range(len(names)), 2):
        kw = {"x_axis_type": "log" if _log_axis(data[f"x{i}"]) else "linear",
              "y_axis_type": "log" if _log_axis(data[f"x{j}"]) else "linear"}
        p = figure(width=400, height=330, tools="pan,wheel_zoom,box_select,tap,reset,save",
                   x_axis_label=_axis_label(olabels[i], units[i][1]),
                   y_axis_label=_axis_label(olabels[j], units[j][1]),
                   name=f"plot_{i}_{j}", **kw)
        r = p.scatter(f"x{i}", f"x{j}", source=source, view=CDSView(filter=plot_filter),
                      marker="marker", size="size", fill_color="color", line_color="black",
                      fill_alpha="alpha", line_alpha="line_alpha", selection_line_color="red",
                      nonselection_fill_alpha=0.1, name=f"points_{i}_{j}")
        chosen = BooleanFilter(booleans=[m == "*" for m in data["mark"]])
        p.scatter(f"x{i}", f"x{j}", source=source, view=CDSView(filter=chosen), size=20,
                  fill_alpha=0.0, line_color="red", line_width=2)
        p.add_tools(HoverTool(renderers=[r], tooltips=tips, callback=hover_js))
        plots.append(p)
    hv = _hv_plot(res)
    ncols = min(3, len(plots))
    grid = gridplot(plots + ([hv] if hv is not None else []), ncols=ncols,
                    toolbar_options={"logo": None})
    cols = [TableColumn(field="mark", title="", width=20),
            TableColumn(field="label", title="design", width=280),
            TableColumn(field="family", title="family", width=60),
            TableColumn(field="status", title="status", width=110)]
    cols += [TableColumn(field=f"obj{j}", title=lab, width=130,
                         formatter=HTMLTemplateFormatter(template=f"<%- txt{j} %>"))
             for j, lab in enumerate(olabels)]
    cols += [TableColumn(field="comp", title="compression", width=300),
             TableColumn(field="hw", title="hardware", width=520)]
    table = DataTable(source=source, view=CDSView(filter=table_filter), columns=cols,
                      sortable=True, reorderable=False, index_position=None, width=1300, height=300,
                      name="front_table")
    source.selected.js_on_change("indices", CustomJS(
        args=details_args, code=_DETAILS_JS % "cb_obj.indices[0]"))
    families = CheckboxGroup(labels=sorted(set(data["family"])), inline=True, name="families")
    families.active = list(range(len(families.labels)))
    dominated = CheckboxGroup(labels=["show dominated and infeasible designs"], active=[0],
                              name="dominated")
    flt = CustomJS(args={"source": source, "families": families, "dominated": dominated,
                         "plot_filter": plot_filter, "table_filter": table_filter},
                   code=_FILTER_JS)
    families.js_on_change("active", flt)
    dominated.js_on_change("active", flt)
    header = Div(text=_header(res, n), width=1300)
    controls = row(Div(text="<b>families:</b>"), families, dominated)
    return column(header, controls, row(grid, panel), Div(text="<h3>Pareto front</h3>"),
                  table)


def _hv_plot(res: dict):
    hist = {f: h for f, h in (res.get("hv_history") or {}).items() if h}
    if not hist:
        return None
    p = figure(width=400, height=330, x_axis_label="evaluations",
               y_axis_label="hypervolume / final hypervolume", title="Hypervolume",
               tools="pan,wheel_zoom,reset,save")
    for i, (fam, h) in enumerate(sorted(hist.items())):
        a = np.asarray(h, float)
        p.line(a[:, 0], a[:, 1], legend_label=fam, line_width=2,
               color=_COLORS.get(fam) or _OTHER[i % len(_OTHER)])
    p.legend.location = "bottom_right"
    return p


def write_html(res: dict, path: Path) -> Path:
    """Write the self-contained ``report.html`` (all JavaScript inline; opens offline).

    Args:
        res: a validated ``results.json`` dict (``report_io.load_results``).
        path: the file to write.
    """
    title = f"Co-design report: {res['run'].get('name', 'run')}"
    Path(path).write_text(file_html(build(res), resources=INLINE, title=title),
                          encoding="utf-8")
    return Path(path)
