"""Fit a ``GpuSpec``'s calibration fields to measured kernels (``lepton-codesign calibrate``;
the spec files it writes come from ``hw_models.gpu_specfile``).

Measurements use the schema of ``benchmarks/validation/data/h200_kernels.json`` (written
by ``lepton_codesign.microbench``): ``meta`` (``device_kind``, ``platform``, ``jax``),
``gemm`` rows ``{M, N, K, dtype, latency_s, per_call_s}`` (``latency_s`` one synchronous
call, ``per_call_s`` back to back), ``bandwidth`` rows ``{MiB, latency_s, per_call_s}``
(a read+write copy) and optionally one ``power`` row (nvidia-smi during a repeated GEMM).

The fit, in order:

1. ``bandwidth_efficiency``: closed form, the best measured copy rate (2 x size /
   ``per_call_s``) over ``mem_bandwidth_bytes_per_s``.
2. ``efficiency_<dtype>`` for each measured dtype, ``dispatch_overhead_s``,
   ``min_call_interval_s``, ``warmup_s``, ``warmup_tau_s`` (and, with int8/fp8 rows,
   ``layout_pass_bytes_per_s``): one joint robust least-squares
   fit (``scipy.optimize.least_squares``, ``soft_l1`` loss with scale 0.02, i.e. close to
   least absolute deviations) of ``log(predicted / measured)`` over both ``latency_s``
   and ``per_call_s`` of every GEMM row, predictions from ``hw_models.gpu.evaluate_gpu``
   itself (parameters in log space; efficiencies <= 1), each row priced at the dtype
   it was measured in (``gpu_kernel.select_dtype`` of its bits and fp8 flag: float32
   as TF32 where allowed), not at the model's fastest candidate.
3. Power (only with a ``power`` row): ``idle_w`` is the measured idle; the throttled
   clock is the back-to-back time of the same GEMM over its time in the power loop, and
   ``dynamic_w`` the dynamic power that, at the model's activity and that clock, gives the
   measured mean power (closed form).

Example:
    >>> rows = gemm_rows({"gemm": [{"M": 8, "N": 8, "K": 8, "dtype": "float32",
    ...                             "latency_s": 1e-4, "per_call_s": 5e-5}]})
    >>> rows["bits"].tolist(), rows["fp8"].tolist()
    ([32.0], [0.0])
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from lepton_codesign.hw_models.compression import dense_compression
from lepton_codesign.hw_models.gpu import evaluate_gpu
from lepton_codesign.hw_models.gpu_kernel import select_dtype
from lepton_codesign.hw_models.gpu_spec import DTYPES, GpuSpec
from lepton_codesign.hw_models.schema import SpecError
from lepton_codesign.hw_models.workload import gemm_workload

# Measured dtype name -> (operand bits, fp8 flag). fp16 and bf16 share the 16-bit class.
MEASURED_DTYPES = {"float32": (32.0, 0.0), "bfloat16": (16.0, 0.0), "float16": (16.0, 0.0),
                   "int8": (8.0, 0.0), "float8_e4m3fn": (8.0, 1.0)}
TIME_FIELDS = ("dispatch_overhead_s", "min_call_interval_s", "warmup_s", "warmup_tau_s")


LOSS_SCALE = 0.02  # [A] soft_l1 scale in log space (2%): near-L1, robust to outlier shapes


def load_measurements(path: str | Path) -> dict:
    """Read and check a measurement file; errors name the file, row and key."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise SpecError(f"{path}: cannot read measurements ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("gemm"), list) or not data["gemm"]:
        raise SpecError(f"{path}: 'gemm' must be a non-empty list of rows")
    for i, r in enumerate(data["gemm"]):
        for key in ("M", "N", "K", "latency_s", "per_call_s"):
            v = r.get(key) if isinstance(r, dict) else None
            if not isinstance(v, (int, float)) or not np.isfinite(v) or v <= 0:
                raise SpecError(f"{path}: gemm[{i}].{key}: {v!r} is not allowed; allowed: "
                                "a finite number > 0")
        if r.get("dtype") not in MEASURED_DTYPES:
            raise SpecError(f"{path}: gemm[{i}].dtype: {r.get('dtype')!r} is not allowed; "
                            f"allowed: one of {list(MEASURED_DTYPES)}")
    from lepton_codesign.hw_models.gpu_checks import check_rows

    check_rows(data, str(path))
    return data


def gemm_rows(data: dict) -> dict:
    """The GEMM rows as numpy columns (``m, n, k, bits, fp8, latency_s, per_call_s``)."""
    g = data["gemm"]
    col = lambda f: np.array([f(r) for r in g], np.float64)  # noqa: E731
    return {"m": col(lambda r: r["M"]), "n": col(lambda r: r["N"]), "k": col(lambda r: r["K"]),
            "bits": col(lambda r: MEASURED_DTYPES[r["dtype"]][0]),
            "fp8": col(lambda r: MEASURED_DTYPES[r["dtype"]][1]),
            "latency_s": col(lambda r: r["latency_s"]),
            "per_call_s": col(lambda r: r["per_call_s"]),
            "dtype": [r["dtype"] for r in g]}


_WL = gemm_workload([(1, 1, 1)])
_CP = dense_compression(1, 8)


@jax.jit
def _predict(spec, m, n, k, bits, fp8):
    def one(m, n, k, bits, fp8):
        wl = dataclasses.replace(_WL, m=m[None], n=n[None], k=k[None],
                                 weight_elems=(k * n)[None], input_elems=(m * k)[None],
                                 output_elems=(m * n)[None])
        cp = dataclasses.replace(_CP, weight_bits=bits[None], act_bits=bits[None])
        s = spec.replace(prefer_fp8=fp8)
        c = evaluate_gpu(wl, s, cp, dtype=select_dtype(s, bits[None])[0])  # measured dtype
        return (c.total_latency_s, c.extras["interval_s"], c.extras["dtype"][0],
                c.extras["compute_utilization"][0])
    return jax.vmap(one)(m, n, k, bits, fp8)


def predict(spec: GpuSpec, rows: dict, idx=None):
    """``(latency_s, per_call_s, dtype_code, compute_utilization)`` the model predicts
    for GEMM ``rows`` (each one jitted call of one GEMM, at the row's measured dtype)."""
    idx = np.arange(len(rows["m"])) if idx is None else np.asarray(idx)
    cols = [jnp.asarray(rows[f][idx], jnp.float32) for f in ("m", "n", "k", "bits", "fp8")]
    return tuple(np.asarray(x) for x in _predict(spec, *cols))


def fit_bandwidth(data: dict, base: GpuSpec) -> float:
    """Best measured copy rate / ``base.mem_bandwidth_bytes_per_s`` (step 1), <= 1."""
    rates = [2.0 * r["MiB"] * 2**20 / r["per_call_s"] for r in data.get("bandwidth", [])]
    if not rates:
        return float(base.bandwidth_efficiency)
    return float(min(max(rates) / float(base.mem_bandwidth_bytes_per_s), 1.0))


def _codes(base: GpuSpec, rows: dict) -> list[int]:
    code = predict(base, rows)[2]
    return sorted({int(c) for c in code})


def fit_gemm(base: GpuSpec, rows: dict, idx=None) -> GpuSpec:
    """Step 2 on the rows ``idx`` (default all): efficiencies and call times."""
    from scipy.optimize import least_squares

    idx = np.arange(len(rows["m"])) if idx is None else np.asarray(idx)
    codes = _codes(base, rows)
    eight = any(DTYPES[c] in ("int8", "fp8") for c in codes)
    names = ([f"efficiency_{DTYPES[c]}" for c in codes] + list(TIME_FIELDS)
             + (["layout_pass_bytes_per_s"] if eight else []))
    # [A] start point and bounds: efficiencies 0.01-1, times 0.1 us-0.1 s, pass 1e9-1e13 B/s
    x0 = np.log([0.7] * len(codes) + [80e-6, 50e-6, 100e-6, 100e-6] + [1e11] * eight)
    lo = np.log([0.01] * len(codes) + [1e-7] * 4 + [1e9] * eight)
    hi = np.log([1.0] * len(codes) + [0.1] * 4 + [1e13] * eight)

    # The rows are short bursts: fit without the sustained power-cap throttle.
    burst = base.replace(dynamic_w=float(np.asarray(base.tdp_w - base.idle_w)))

    def spec_of(x):
        return burst.replace(**{f: float(v) for f, v in zip(names, np.exp(x), strict=True)})

    def residuals(x):
        lat, pc = predict(spec_of(x), rows, idx)[:2]
        return np.r_[np.log(lat / rows["latency_s"][idx]), np.log(pc / rows["per_call_s"][idx])]

    res = least_squares(residuals, np.clip(x0, lo, hi), bounds=(lo, hi), loss="soft_l1",
                        f_scale=LOSS_SCALE, diff_step=1e-3)  # float32 model: coarse steps
    return spec_of(res.x).replace(dynamic_w=base.dynamic_w)


def fit_power(data: dict, spec: GpuSpec, rows: dict) -> tuple[GpuSpec, dict]:
    """Step 3: ``idle_w`` and ``dynamic_w`` from the ``power`` row (if any)."""
    runs = data.get("power") or []
    if not runs:
        return spec, {}
    p = runs[0]
    match = re.fullmatch(r"gemm_(\w+?)_(\d+)", str(p.get("name", "")))
    alias = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32", "fp8": "float8_e4m3fn"}
    if match is None:
        raise SpecError(f"power[0].name: {p.get('name')!r} is not allowed; allowed: "
                        "'gemm_<dtype>_<size>' (a square GEMM)")
    dtype, size = alias.get(match[1], match[1]), float(match[2])
    same = [i for i, d in enumerate(rows["dtype"])
            if d == dtype and rows["m"][i] == rows["n"][i] == rows["k"][i] == size]
    one = {f: np.array([size]) for f in ("m", "n", "k")}
    one.update(bits=np.array([MEASURED_DTYPES[dtype][0]]),
               fp8=np.array([MEASURED_DTYPES[dtype][1]]))
    _, pc, _, util = predict(spec, one)
    burst = float(rows["per_call_s"][same[0]]) if same else float(pc[0])
    clock = min(burst / float(p["per_call_s"]), 1.0)
    activity = float(np.clip(util[0], 1e-3, 1.0))
    idle = float(p["idle_power_w"])
    dynamic = ((float(p["mean_power_w"]) - idle)
               / (activity * clock ** float(spec.throttle_exponent)))
    fitted = spec.replace(idle_w=idle, dynamic_w=dynamic)
    return fitted, {"clock_factor": clock, "activity": activity,
                    "measured_power_w": float(p["mean_power_w"]),
                    "power_loop_per_call_s": float(p["per_call_s"]), "burst_per_call_s": burst}


def fit(data: dict, base: GpuSpec) -> tuple[GpuSpec, dict]:
    """Steps 1-3 on all rows; returns the fitted spec and a report (residuals etc.)."""
    rows = gemm_rows(data)
    spec = base.replace(bandwidth_efficiency=fit_bandwidth(data, base))
    spec = fit_gemm(spec, rows)
    spec, power = fit_power(data, spec, rows)
    lat, pc = predict(spec, rows)[:2]
    report = {"rows": len(rows["m"]), "power": power, "residuals": {},
              "fitted": [f"efficiency_{DTYPES[c]}" for c in _codes(spec, rows)]
              + (["layout_pass_bytes_per_s"] if float(spec.layout_pass_bytes_per_s) > 0
                 else [])}
    for d in dict.fromkeys(rows["dtype"]):
        i = np.array([x == d for x in rows["dtype"]])
        report["residuals"][d] = {
            "n": int(i.sum()),
            "latency_median_abs": float(np.median(np.abs(lat[i] / rows["latency_s"][i] - 1))),
            "per_call_median_abs": float(np.median(np.abs(pc[i] / rows["per_call_s"][i] - 1)))}
    return spec, report


def cross_validate(data: dict, base: GpuSpec) -> dict:
    """Leave-one-shape-out: for each ``(M, N, K)``, fit step 2 without all its rows
    (every dtype) and predict them. Returns ``latency_s`` and ``per_call_s`` columns."""
    rows = gemm_rows(data)
    spec0 = base.replace(bandwidth_efficiency=fit_bandwidth(data, base))
    shapes = list(zip(rows["m"], rows["n"], rows["k"], strict=True))
    lat, pc = np.zeros(len(shapes)), np.zeros(len(shapes))
    for s in dict.fromkeys(shapes):
        test = np.array([i for i, x in enumerate(shapes) if x == s])
        train = np.array([i for i, x in enumerate(shapes) if x != s])
        spec = fit_gemm(spec0, rows, train)
        lat[test], pc[test] = predict(spec, rows, test)[:2]
    return {"latency_s": lat, "per_call_s": pc}
