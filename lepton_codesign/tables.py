"""Rows of results as text: aligned tables, JSON or CSV.

Example:
    >>> print(format_rows([{"a": 1, "b": 2.5}], "csv").strip())
    a,b
    1,2.5
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np

from lepton_codesign.hw_models.costs import Costs, reason_name
from lepton_codesign.hw_models.workload import Workload

FORMATS = ("table", "json", "csv")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def format_rows(rows: list[dict], fmt: str = "table") -> str:
    """Render rows (dicts with the same keys) as ``table``, ``json`` or ``csv``."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} not in {FORMATS}")
    if fmt == "json":
        return json.dumps(rows, indent=2)
    keys = list(rows[0]) if rows else []
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()
    cells = [[_fmt(r.get(k, "")) for k in keys] for r in rows]
    widths = [max([len(k)] + [len(c[i]) for c in cells]) for i, k in enumerate(keys)]
    line = lambda vals: "  ".join(v.rjust(w) for v, w in zip(vals, widths, strict=False))
    return "\n".join([line(keys), line(["-" * w for w in widths])] + [line(c) for c in cells])


def layer_rows(workload: Workload, costs: Costs, ops: bool = True) -> list[dict]:
    """Per-layer rows: shape, MACs, cycles, latency, energy and bound.

    When the workload has non-GEMM op groups and the cost model priced them
    (``extras["op_latency_s"]``), each layer's ``latency_s`` / ``energy_j`` include the
    groups that follow it (groups before the first GEMM count on the first layer and are
    listed before it), and one row per group (``kind`` = ``op:<kind>``, ``fused``
    epilogues marked) follows its layer, showing its share.
    """
    rows = []
    arr = lambda x: np.asarray(x).reshape(-1)
    priced = ops and workload.ops is not None and "op_latency_s" in costs.extras
    ops = workload.ops
    op_rows: dict[int, list[dict]] = {}
    if priced:
        op_lat, op_en = arr(costs.extras["op_latency_s"]), arr(costs.extras["op_energy_j"])
        after = arr(ops.after).astype(int)
        for j, name in enumerate(ops.names):
            op_rows.setdefault(max(int(after[j]), -1), []).append({
                "layer": name, "kind": f"op:{ops.kinds[j]}" + (
                    " (epilogue)" if float(arr(ops.fused)[j]) > 0.5 else ""),
                "gemm_mxkxn": "-", "macs": 0, "compute_cycles": 0.0, "cycles": 0.0,
                "latency_s": float(op_lat[j]), "energy_j": float(op_en[j]), "bound": "-"})
    cyc, lat, en = arr(costs.cycles), arr(costs.latency_s), arr(costs.energy_j)
    ccyc, bound = arr(costs.compute_cycles), arr(costs.bound)
    m, k, n, g = (arr(getattr(workload, f)) for f in ("m", "k", "n", "groups"))
    macs = arr(workload.macs)
    rows.extend(op_rows.get(-1, []))  # groups that run before the first GEMM
    for i, name in enumerate(workload.names):
        rows.append({
            "layer": name, "kind": workload.kinds[i],
            "gemm_mxkxn": f"{int(m[i])}x{int(k[i])}x{int(n[i])}" + (
                f" x{int(g[i])}" if g[i] > 1 else ""),
            "macs": int(macs[i]), "compute_cycles": float(ccyc[i]), "cycles": float(cyc[i]),
            "latency_s": float(lat[i]), "energy_j": float(en[i]),
            "bound": "memory" if bound[i] else "compute",
        })
        rows.extend(op_rows.get(i, []))
    return rows


def with_total_row(layers: list[dict], totals: dict) -> list[dict]:
    """Layer rows plus a final ``layer = "total"`` row, for one CSV table.

    Per-layer columns of the total row hold the totals (``latency_s`` is the total
    latency, ``energy_j`` the total energy, ``macs`` the sum); columns that only exist
    for the whole design (``cost_usd``, ``feasible``, ...) are appended and left empty on
    the layer rows.

    Example:
        >>> rows = with_total_row([{"layer": "fc", "latency_s": 1.0}],
        ...                       {"total_latency_s": 1.0, "cost_usd": 5.0})
        >>> rows[-1]["layer"], rows[-1]["latency_s"], rows[0]["cost_usd"]
        ('total', 1.0, '')
    """
    renamed = {"total_latency_s": "latency_s", "total_energy_j": "energy_j"}
    total = {"layer": "total"}
    for key, value in totals.items():
        total[renamed.get(key, key)] = value
    keys = list(layers[0]) if layers else ["layer"]
    keys += [k for k in total if k not in keys]
    rows = [{k: r.get(k, "") for k in keys} for r in layers]
    rows.append({k: total.get(k, "") for k in keys})
    return rows


def total_row(workload: Workload, costs: Costs) -> dict:
    """Totals of one evaluation as a flat dict."""
    out = {"layers": workload.num_layers, "macs": int(np.asarray(workload.total_macs))}
    out.update(costs.summary())
    if "infeasible_reason" in costs.extras:  # set by evaluate's guard
        out["infeasible_reason"] = reason_name(costs.extras["infeasible_reason"])
    return out


