"""Held-out checks of a calibrated ``GpuSpec``: convolutions and elementwise kernels.

``lepton-codesign calibrate`` fits a spec on GEMMs and copies only
(``hw_models.gpu_calibrate``). The microbenchmark suite (``lepton_codesign.microbench``)
also times a few convolutions and non-GEMM kernels; they are **never fitted**: this
module predicts them with the fitted spec and reports the error, so every calibration
states how well it carries over to kernels it did not see.

* **conv** rows ``{N, H, W, Cin, Cout, kh, kw, stride, padding, groups, dtype,
  latency_s, per_call_s}`` (NHWC, square stride, symmetric padding): priced by
  ``evaluate_gpu`` on the ``conv_layer`` workload, i.e. the implicit GEMM with the
  model's MMA padding, CUDA-core path for depthwise and memory terms, at the row's
  measured dtype (``gpu_kernel.select_dtype``, as the GEMM fit).
* **elementwise** rows ``{op, elems, row_len, dtype, latency_s, per_call_s}`` (``op``
  one of ``OPS``): one unfused op group priced as the model prices any non-GEMM kernel
  (``op_costs.gpu_op_costs``) inside one call (``gpu_kernel.call_times``). Reads,
  writes, simple ops and transcendentals per element are counted from the jitted
  function the suite measures (``OPS``).

Example:
    >>> from lepton_codesign.hw_models.gpu_spec import GpuSpec
    >>> spec = GpuSpec(peak_bf16_flops=1e15, mem_bandwidth_bytes_per_s=4e12,
    ...                dispatch_overhead_s=80e-6, min_call_interval_s=50e-6)
    >>> row = {"op": "add_relu", "elems": 2**20, "row_len": 1024, "dtype": "float32",
    ...        "latency_s": 1e-4, "per_call_s": 5e-5}
    >>> lat, per_call = predict_elementwise(spec, [row])
    >>> round(float(lat[0]) * 1e6)
    87
"""

from __future__ import annotations

import numpy as np

from lepton_codesign.hw_models.compression import dense_compression
from lepton_codesign.hw_models.gpu import evaluate_gpu
from lepton_codesign.hw_models.gpu_calibrate import MEASURED_DTYPES
from lepton_codesign.hw_models.gpu_kernel import call_times, select_dtype
from lepton_codesign.hw_models.gpu_spec import GpuSpec
from lepton_codesign.hw_models.op_costs import gpu_op_costs
from lepton_codesign.hw_models.schema import SpecError
from lepton_codesign.hw_models.vector_ops import make_vector_ops
from lepton_codesign.hw_models.workload import conv_layer, make_workload

# Per element of the input (``row_len`` elements per softmax / norm row) [D] from the
# functions ``lepton_codesign.microbench`` times: (kind, elements read per element,
# written, simple ops, transcendentals per element, transcendentals per row).
OPS = {
    # relu(x + y): two reads, one write, an add and a max
    "add_relu": ("elementwise", 2.0, 1.0, 2.0, 0.0, 0.0),
    # exp(x - max) / sum over the row: max, subtract, sum, divide; one exp per element
    "softmax": ("softmax", 1.0, 1.0, 4.0, 1.0, 0.0),
    # (x - mean) * rsqrt(var + eps): mean, subtract, square, sum, scale; one rsqrt a row
    "layernorm": ("norm", 1.0, 1.0, 6.0, 0.0, 1.0),
}
# the float dtypes of ``gpu_calibrate.MEASURED_DTYPES`` (the microbenchmark's conv and
# elementwise kernels run in float types only)
BITS = {d: MEASURED_DTYPES[d][0] for d in ("float32", "bfloat16", "float16")}
CONV_KEYS = ("N", "H", "W", "Cin", "Cout", "kh", "kw", "stride", "padding", "groups")


def _positive(rows: list, what: str, keys: tuple) -> None:
    for i, r in enumerate(rows):
        for key in (*keys, "latency_s", "per_call_s"):
            v = r.get(key) if isinstance(r, dict) else None
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
            if not ok or v < (0 if key == "padding" else 1e-30):
                raise SpecError(f"{what}[{i}].{key}: {v!r} is not allowed; allowed: a finite "
                                f"number {'>= 0' if key == 'padding' else '> 0'}")
        if r.get("dtype") not in BITS:
            raise SpecError(f"{what}[{i}].dtype: {r.get('dtype')!r} is not allowed; "
                            f"allowed: one of {list(BITS)}")


def check_rows(data: dict, where: str = "<measurements>") -> None:
    """Raise ``SpecError`` (naming ``where``, the row and the key) on a bad conv or
    elementwise row; both lists are optional."""
    try:
        _positive(data.get("conv") or [], "conv", CONV_KEYS)
        _positive(data.get("elementwise") or [], "elementwise", ("elems", "row_len"))
    except SpecError as e:
        raise SpecError(f"{where}: {e}") from None
    for i, r in enumerate(data.get("elementwise") or []):
        if r.get("op") not in OPS:
            raise SpecError(f"{where}: elementwise[{i}].op: {r.get('op')!r} is not allowed; "
                            f"allowed: one of {list(OPS)}")


def predict_conv(spec: GpuSpec, rows: list) -> tuple[np.ndarray, np.ndarray]:
    """``(latency_s, per_call_s)`` the model predicts for each conv row."""
    lat, pc = [], []
    for r in rows:
        layer = conv_layer("conv", (int(r["H"]), int(r["W"])), int(r["Cin"]), int(r["Cout"]),
                           (int(r["kh"]), int(r["kw"])), int(r["stride"]), int(r["padding"]),
                           int(r["groups"]), batch=int(r["N"]))
        bits = BITS[r["dtype"]]
        c = evaluate_gpu(make_workload([layer], batch=int(r["N"])), spec,
                         dense_compression(1, bits=bits),
                         dtype=select_dtype(spec, np.array([bits]))[0])  # measured dtype
        lat.append(float(c.total_latency_s))
        pc.append(float(c.extras["interval_s"]))
    return np.array(lat), np.array(pc)


def predict_elementwise(spec: GpuSpec, rows: list) -> tuple[np.ndarray, np.ndarray]:
    """``(latency_s, per_call_s)`` the model predicts for each elementwise row."""
    lat, pc = [], []
    for r in rows:
        kind, rd, wr, simple, tr_elem, tr_row = OPS[r["op"]]
        n = float(r["elems"])
        ops = make_vector_ops([{
            "name": r["op"], "kind": kind, "in_elems": rd * n, "out_elems": wr * n,
            "flops": simple * n, "transcendentals": tr_elem * n + tr_row * n / r["row_len"],
            "after": 0, "fused": 0}])
        busy = gpu_op_costs(ops, spec, BITS[r["dtype"]])["time_s"][0]
        one_lat, one_pc = call_times(spec, busy)
        lat.append(float(one_lat))
        pc.append(float(one_pc))
    return np.array(lat), np.array(pc)


def held_out_report(spec: GpuSpec, data: dict) -> dict:
    """Per category (``conv``, ``elementwise``): rows, median |error| of latency and per
    call, and every row's predictions. Categories without rows are left out."""
    out = {}
    for what, fn in (("conv", predict_conv), ("elementwise", predict_elementwise)):
        rows = data.get(what) or []
        if not rows:
            continue
        lat, pc = fn(spec, rows)
        m_lat = np.array([r["latency_s"] for r in rows])
        m_pc = np.array([r["per_call_s"] for r in rows])
        out[what] = {
            "n": len(rows),
            "latency_median_abs": float(np.median(np.abs(lat / m_lat - 1.0))),
            "per_call_median_abs": float(np.median(np.abs(pc / m_pc - 1.0))),
            "rows": [{**r, "latency_pred_s": float(a), "per_call_pred_s": float(b)}
                     for r, a, b in zip(rows, lat, pc, strict=True)],
        }
    return out
