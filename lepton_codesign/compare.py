"""Side-by-side comparison of one workload on several accelerators (ASIC, FPGA, GPU).

``compare`` evaluates the workload on each spec with the exact (``smooth=False``) cost
models and returns one plain-dict row per spec; ``format_table`` renders rows as a text
table, JSON or CSV; ``plot_compare`` draws a bar chart (matplotlib, Agg canvas, no
global backend change). The CLI ``lepton-codesign compare`` is a thin wrapper.

Row keys: ``spec``, ``kind`` (asic | fpga | gpu), ``latency_s`` (the whole batch),
``throughput_per_s`` (inferences/s; an FPGA dataflow pipeline accepts one per interval),
``energy_per_inference_j``, ``power_w``, ``usd_per_1m_inferences`` (TCO, see
``hw_models.dollars``), ``capex_usd`` (the part you plug in, the same thing for every
family: ``capex_convention`` says what, ``capex_breakdown`` what it is made of; an ASIC's
is die + package + DRAM + board + NRE / volume), ``cost_usd`` (the same number, the
``Costs`` field name), ``area_mm2`` (ASIC; 0 otherwise),
``utilization`` (text: MAC array, FPGA resources or GPU compute), ``utilization_max``,
``bound`` (compute | memory | mixed, by latency share), ``feasible``, ``infeasible``
(the overflowing resource, or ""), ``priced_as`` (the numeric format priced: the GPU's
dtypes, else the bit widths; ``--dtype`` / ``dtype=`` chooses it, see ``with_dtype``).

``sort_by`` orders the rows by any numeric key (``SORT_KEYS``), best first: ascending,
except throughput and utilisation (descending); designs that do not fit go last.

Example:
    >>> import hw_models as hw
    >>> wl = hw.gemm_workload([(1, 784, 256), (1, 256, 10)])
    >>> rows = compare(wl, ["gemmini-like", "kv260", "l4"])
    >>> [r["kind"] for r in rows]
    ['asic', 'fpga', 'gpu']
    >>> [r["spec"] for r in sort_rows(rows, "capex_usd")]
    ['gemmini-like', 'kv260', 'l4']
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models import fpga_spec, gpu_spec
from lepton_codesign.hw_models.dollars import CAPEX_CONVENTION

_COLUMNS = [  # (key, header, formatter) for the text table
    ("spec", "spec", str), ("kind", "kind", str),
    ("latency_s", "latency", lambda v: _eng(v, "s")),
    ("throughput_per_s", "inf/s", lambda v: _eng(v, "")),
    ("energy_per_inference_j", "energy/inf", lambda v: _eng(v, "J")),
    ("usd_per_1m_inferences", "$/1M inf", lambda v: f"{v:.4g}"),
    ("capex_usd", "capex $", lambda v: f"{v:,.0f}"),
    ("area_mm2", "area mm2", lambda v: f"{v:.3g}" if v else "-"),
    ("utilization", "utilization", str), ("bound", "bound", str),
    ("feasible", "fits", lambda v: "yes" if v else "NO"),
]


# Numeric row keys ``sort_by`` accepts; higher is better only for the last two.
SORT_KEYS = ("latency_s", "energy_per_inference_j", "power_w", "usd_per_1m_inferences",
             "capex_usd", "cost_usd", "area_mm2", "throughput_per_s", "utilization_max")
_HIGHER_IS_BETTER = ("throughput_per_s", "utilization_max")


def _eng(value: float, unit: str) -> str:
    if not np.isfinite(value) or value == 0:
        return f"{value:g} {unit}".strip()
    prefixes = [(1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "u"),
                (1e-9, "n"), (1e-12, "p")]
    for scale, p in prefixes:
        if abs(value) >= scale:
            return f"{value / scale:.3g} {p}{unit}".strip()
    return f"{value:.3g} {unit}".strip()


def _kind(spec) -> str:
    if isinstance(spec, hw.FpgaSpec):
        return "fpga"
    if isinstance(spec, hw.GpuSpec):
        return "gpu"
    return "asic"


def _bound(costs) -> str:
    lat = np.asarray(costs.latency_s, np.float64)
    share = float(np.sum(lat * np.asarray(costs.bound)) / max(np.sum(lat), 1e-30))
    return "memory" if share > 0.9 else "compute" if share < 0.1 else "mixed"


def _utilization(kind: str, workload, spec, costs) -> tuple[str, float]:
    ex = costs.extras
    if kind == "fpga":
        parts = {k: float(ex[f"util_{k}"]) for k in ("lut", "dsp", "bram", "uram")
                 if float(getattr(spec, "bram18" if k == "bram" else k)) > 0}
        text = " ".join(f"{k} {v:.0%}" for k, v in parts.items())
        return text, max(parts.values(), default=0.0)
    if kind == "gpu":
        flops = 2.0 * np.asarray(workload.macs, np.float64)
        lat = np.asarray(costs.latency_s, np.float64)
        u = np.asarray(ex["compute_utilization"], np.float64)
        mean = float(np.sum(u * lat) / max(np.sum(lat), 1e-30)) if flops.sum() else 0.0
        return f"compute {mean:.0%}", mean
    pes = float(spec.pe_rows) * float(spec.pe_cols)
    u = float(np.sum(np.asarray(workload.macs, np.float64))
              / max(float(np.sum(np.asarray(costs.cycles, np.float64))) * pes, 1e-30))
    return f"mac {u:.0%}", u


def _capex_breakdown(kind: str, spec, costs) -> str:
    """What the capex of one row is made of, in words and dollars."""
    if kind == "fpga":
        return "board list price"
    if kind == "gpu":
        return "card / module purchase price"
    ex = {k: float(np.asarray(v)) for k, v in costs.extras.items() if k.endswith("_usd")
          or k == "dram_devices"}
    dev = ex["dram_usd"] / ex["dram_devices"] if ex["dram_devices"] else 0.0
    return (f"die ${ex['die_cost_usd']:.4g} + package ${ex['package_usd']:.4g} + DRAM "
            f"{ex['dram_devices']:.0f} x ${dev:.4g} + board ${ex['board_usd']:.4g} + "
            f"NRE/volume ${ex['nre_share_usd']:.4g}")


def sort_rows(rows: list[dict], sort_by: str) -> list[dict]:
    """Rows ordered by ``sort_by`` (one of ``SORT_KEYS``), best first; infeasible last.

    Raises:
        ValueError: a key that is not a numeric row key, naming the allowed ones.
    """
    if sort_by not in SORT_KEYS:
        raise ValueError(f"sort_by {sort_by!r} is not a numeric row key; allowed: "
                         f"one of {list(SORT_KEYS)}")
    sign = -1.0 if sort_by in _HIGHER_IS_BETTER else 1.0
    return sorted(rows, key=lambda r: (not r["feasible"], sign * float(r[sort_by])))


# --dtype name -> (operand bits, GpuSpec changes). fp32 vs tf32 and int8 vs fp8 differ
# only on a GPU; an ASIC/FPGA prices the bit width.
DTYPE_FORMATS = {
    "fp32": (32, {"allow_tf32": 0.0}), "tf32": (32, {"allow_tf32": 1.0}),
    "bf16": (16, {}), "fp16": (16, {}), "fp8": (8, {"prefer_fp8": 1.0}),
    "int8": (8, {"prefer_fp8": 0.0}), "int4": (4, {"prefer_fp8": 0.0}),
}


def with_dtype(spec, workload: hw.Workload, dtype: str):
    """``(spec, compression)`` pricing ``workload`` in numeric format ``dtype``.

    Example:
        >>> spec, cp = with_dtype(hw.preset("h200"), hw.gemm_workload([(1, 8, 8)]), "fp8")
        >>> float(cp.weight_bits[0]), float(spec.prefer_fp8)
        (8.0, 1.0)
    """
    if dtype not in DTYPE_FORMATS:
        raise ValueError(f"--dtype {dtype!r} is not allowed; allowed: one of "
                         f"{list(DTYPE_FORMATS)}")
    bits, changes = DTYPE_FORMATS[dtype]
    if isinstance(spec, hw.GpuSpec) and changes:
        spec = spec.replace(**changes)
    return spec, hw.make_compression(workload.num_layers, weight_bits=bits, act_bits=bits)


def priced_as(spec, costs, compression) -> str:
    """What was priced: a GPU's dtypes (e.g. ``"bf16"``), else ``"<w>/<a>-bit"``."""
    if isinstance(spec, hw.GpuSpec):
        codes = dict.fromkeys(int(c) for c in np.asarray(costs.extras["dtype"]).ravel())
        return "+".join(gpu_spec.dtype_name(c) for c in codes)
    if compression is None:
        return "8-bit (default)"
    w = sorted({float(b) for b in np.asarray(compression.weight_bits).ravel()})
    a = sorted({float(b) for b in np.asarray(compression.act_bits).ravel()})
    return f"{'/'.join(f'{x:g}' for x in w)}-bit weights, {'/'.join(f'{x:g}' for x in a)}-bit acts"


def compare(workload: hw.Workload, specs: Sequence, compression: hw.Compression | None = None,
            deployment: hw.Deployment | None = None, sort_by: str | None = None,
            dtype: str | None = None) -> list[dict]:
    """Evaluate ``workload`` on every spec; one row (plain Python values) per spec.

    Args:
        workload: the network (``extract_workload`` / ``gemm_workload``).
        specs: spec objects, preset names or spec-file paths (mixed families allowed).
        compression: per-layer compression; default dense 8-bit.
        deployment: lifetime / utilisation / electricity for the TCO column.
        sort_by: order rows by this numeric key (``SORT_KEYS``, best first); ``None``
            keeps the order of ``specs``.
        dtype: numeric format (``DTYPE_FORMATS``); overrides ``compression``'s bits.

    Raises:
        hw.SpecError: a name that is neither a preset nor a readable spec file.
        ValueError: ``sort_by`` not in ``SORT_KEYS`` (checked before any evaluation).
    """
    if sort_by is not None:
        sort_rows([], sort_by)  # fail fast on a bad key
    batch = float(max(workload.batch, 1))
    rows = []
    for spec in specs:
        spec = hw.resolve_spec(spec) if isinstance(spec, (str, Path)) else spec
        kind = _kind(spec)
        cp = compression
        if dtype is not None:
            spec, cp = with_dtype(spec, workload, dtype)
        c = hw.evaluate(workload, spec, cp, deployment=deployment)
        latency = float(c.total_latency_s)
        thr = float(c.extras.get("throughput_per_s", batch / max(latency, 1e-30)))
        text, umax = _utilization(kind, workload, spec, c)
        bad = int(np.asarray(c.extras.get("infeasible_resource", 0)))
        names = {"fpga": fpga_spec.resource_name, "gpu": gpu_spec.resource_name}
        if kind == "asic":
            reason = "" if bool(c.feasible) else "die larger than a wafer"
        else:
            reason = "" if bad == 0 else names[kind](bad)
        rows.append({
            "spec": spec.name, "kind": kind, "latency_s": latency, "throughput_per_s": thr,
            "energy_per_inference_j": float(c.total_energy_j) / batch,
            "power_w": float(c.power_w),
            "usd_per_1m_inferences": float(c.usd_per_1m_inferences),
            "capex_usd": float(c.cost_usd), "cost_usd": float(c.cost_usd),
            "capex_breakdown": _capex_breakdown(kind, spec, c),
            "capex_convention": CAPEX_CONVENTION, "area_mm2": float(c.area_mm2),
            "utilization": text, "utilization_max": umax, "bound": _bound(c),
            "feasible": bool(c.feasible), "infeasible": reason,
            "priced_as": priced_as(spec, c, cp),
        })
    return rows if sort_by is None else sort_rows(rows, sort_by)


def format_table(rows: list[dict], fmt: str = "table", sort_by: str | None = None) -> str:
    """Render rows as ``"table"`` (aligned text), ``"json"`` or ``"csv"``.

    The text table ends with the capex convention, each ASIC's capex breakdown and,
    when ``sort_by`` is given, the sort key; JSON and CSV carry the convention and the
    breakdown in every row (``capex_convention``, ``capex_breakdown``).

    Raises:
        ValueError: unknown format.
    """
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["spec"])
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}; allowed: table, json, csv")
    cells = [[h for _, h, _ in _COLUMNS]]
    cells += [[f(r[k]) for k, _, f in _COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(_COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"{r['spec']}: does not fit ({r['infeasible']})" for r in rows if not r["feasible"]]
    notes += [f"{CAPEX_CONVENTION}."]
    notes += [f"  {r['spec']} capex: {r['capex_breakdown']}" for r in rows if r["kind"] == "asic"]
    if sort_by is not None:
        order = "descending" if sort_by in _HIGHER_IS_BETTER else "ascending"
        notes += [f"sorted by {sort_by} ({order}, best first; designs that do not fit last)"]
    return "\n".join(lines + notes)


def plot_compare(rows: list[dict], path: str | Path) -> Path:
    """Bar chart of latency, throughput, energy/inference and $/1M inferences (log y).

    Infeasible designs are hatched. Writes a PNG (or any format matplotlib infers from
    the suffix) and returns its path.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    panels = [("latency_s", "latency (s)"), ("throughput_per_s", "throughput (inf/s)"),
              ("energy_per_inference_j", "energy / inference (J)"),
              ("usd_per_1m_inferences", "$ per 1M inferences")]
    colors = {"asic": "tab:blue", "fpga": "tab:orange", "gpu": "tab:green"}
    fig = Figure(figsize=(10, 7), layout="constrained")
    FigureCanvasAgg(fig)
    names = [r["spec"] for r in rows]
    for ax, (key, label) in zip(fig.subplots(2, 2).ravel(), panels, strict=True):
        vals = [max(r[key], 1e-30) for r in rows]
        bars = ax.bar(names, vals, color=[colors[r["kind"]] for r in rows])
        for bar, r in zip(bars, rows, strict=True):
            if not r["feasible"]:
                bar.set_hatch("//")
        ax.set_yscale("log")
        ax.set_title(label)
        ax.tick_params(axis="x", rotation=30)
    handles = [Patch(color=c, label=k) for k, c in colors.items()
               if any(r["kind"] == k for r in rows)]
    fig.legend(handles=handles, loc="outside upper right")
    path = Path(path)
    fig.savefig(path, dpi=120)
    return path
