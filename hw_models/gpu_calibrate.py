"""Fit a ``GpuSpec``'s calibration fields to measured kernels (``lepton-codesign calibrate``).

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
   itself (parameters in log space; efficiencies <= 1).
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
from lepton_codesign.hw_models.gpu_spec import DTYPES, GpuSpec
from lepton_codesign.hw_models.schema import SpecError
from lepton_codesign.hw_models.workload import gemm_workload

# Measured dtype name -> (operand bits, fp8 flag). fp16 and bf16 share the 16-bit class.
MEASURED_DTYPES = {"float32": (32.0, 0.0), "bfloat16": (16.0, 0.0), "float16": (16.0, 0.0),
                   "int8": (8.0, 0.0), "float8_e4m3fn": (8.0, 1.0)}
TIME_FIELDS = ("dispatch_overhead_s", "min_call_interval_s", "warmup_s", "warmup_tau_s")


def _kv(line: str, note: str) -> str:
    """A YAML ``key: value`` line with its source note, aligned as in the presets."""
    return f"{line:<37} # {note}"


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
        c = evaluate_gpu(wl, spec.replace(prefer_fp8=fp8), cp)
        return (c.total_latency_s, c.extras["interval_s"], c.extras["dtype"][0],
                c.extras["compute_utilization"][0])
    return jax.vmap(one)(m, n, k, bits, fp8)


def predict(spec: GpuSpec, rows: dict, idx=None):
    """``(latency_s, per_call_s, dtype_code, compute_utilization)`` the model predicts
    for GEMM ``rows`` (each one jitted call of one GEMM)."""
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


FITTED_FIELDS = ("bandwidth_efficiency", *TIME_FIELDS, "idle_w", "dynamic_w")


def spec_yaml(spec: GpuSpec, report: dict, base_text: str, meta: dict, command: str) -> str:
    """Spec file text: the base file's datasheet lines, then the fitted fields with
    provenance (device, jax, date, command, residuals) in comments."""
    fitted = [f for f in report.get("fitted", ()) if f.startswith("efficiency_")]
    fitted += [f for f in report.get("fitted", ()) if not f.startswith("efficiency_")]
    fitted += list(FITTED_FIELDS)
    if not report.get("power"):
        fitted = [f for f in fitted if f not in ("idle_w", "dynamic_w")]
    keep = []
    for line in base_text.split("\n# Calibrated:")[0].rstrip().splitlines():
        key = line.split(":", 1)[0].strip()
        if key and not line.startswith("#") and (key in fitted or key.startswith("efficiency_")
                                                 or key in ("prefer_fp8", "throttle_exponent",
                                                            "layout_pass_bytes_per_s")):
            continue
        keep.append(line)
    out = keep + ["", f"# Calibrated: {command}",
                  f"# Measured on {meta.get('device_kind', '?')} ({meta.get('platform', '?')}),"
                  f" jax {meta.get('jax', '?')}, {meta.get('date', 'date not recorded')};"
                  f" fitted {report.get('date', '')} by hw_models/gpu_calibrate.py"]
    if meta.get("nvidia_smi"):
        out.append(f"# nvidia-smi (name, clocks, power limit, memory): {meta['nvidia_smi']}")
    for d, r in report["residuals"].items():
        out.append(f"# fit residual {d}: median |error| latency "
                   f"{100 * r['latency_median_abs']:.1f}%, per call "
                   f"{100 * r['per_call_median_abs']:.1f}% ({r['n']} GEMMs, in sample)")
    unfitted = [f"efficiency_{d}" for d in DTYPES if f"efficiency_{d}" not in fitted]
    out.append(f"# not measured, so compute_efficiency ({float(spec.compute_efficiency):g}):"
               f" {', '.join(unfitted)}")
    power = report.get("power") or {}
    why = {"bandwidth_efficiency": "best copy rate / datasheet bandwidth (step 1)",
           "idle_w": "idle power before the power run (step 3)",
           "dynamic_w": f"power run, clock x{power.get('clock_factor', 1):.3f} (step 3)"}
    for f in fitted:
        v = float(np.asarray(getattr(spec, f)))
        out.append(_kv(f"{f}: {v:.6g}", f"[M] {why.get(f, 'GEMM rows (step 2)')}"))
    return "\n".join(out) + "\n"


# device_kind -> shipped preset holding that part's datasheet numbers (the fit's base).
DEVICE_PRESETS = {"NVIDIA H200": "h200", "NVIDIA H100 80GB HBM3": "h100-sxm",
                  "NVIDIA A100-SXM4-80GB": "a100-sxm", "NVIDIA L4": "l4", "Tesla T4": "t4"}


def _best_rate(data: dict, dtype: str) -> float:
    rates = [2.0 * r["M"] * r["N"] * r["K"] / r["per_call_s"] for r in data["gemm"]
             if r["dtype"] == dtype]
    return max(rates) if rates else 0.0


def cpu_base_text(data: dict) -> str:
    """Base spec for a device without a datasheet (a CPU): every peak is the best rate
    measured for that dtype [M], so fitted efficiencies are relative to it."""
    import os

    fp32, bf16 = _best_rate(data, "float32"), _best_rate(data, "bfloat16")
    bw = max([2.0 * r["MiB"] * 2**20 / r["per_call_s"] for r in data.get("bandwidth", [])]
             or [1e10])
    try:
        mem = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        mem = 8e9  # [A] when the OS does not say
    kind = data.get("meta", {}).get("device_kind", "cpu")
    return "\n".join([
        f"# {kind}: a CPU measured as a 'gpu'-kind spec. Peaks and bandwidth are the best",
        "# rates measured by the calibration run [M], not datasheet values.",
        "version: 1", "kind: gpu", "name: cpu-calibrated",
        _kv(f"peak_fp32_flops: {fp32:.6g}", "[M] best measured fp32 GEMM rate"),
        _kv("peak_tf32_flops: 0", "[A] no TF32 on a CPU"),
        _kv("peak_int8_ops: 0", "[A] int8 not measured on a CPU"),
        _kv("peak_fp8_flops: 0", "[A] fp8 not measured on a CPU"),
        _kv(f"peak_bf16_flops: {bf16 or fp32:.6g}", "[M] best measured bf16 rate"),
        _kv(f"mem_bandwidth_bytes_per_s: {bw:.6g}", "[M] best measured copy rate"),
        _kv(f"mem_capacity_bytes: {mem:.6g}", "[M] physical memory (os.sysconf)"),
        _kv("num_sms: 1", "[A] no tile-wave quantisation modelled on a CPU"),
        _kv("tile_m: 16", "[A]"), _kv("tile_n: 16", "[A]"),
        _kv("allow_tf32: false", "[A]"), _kv("sparse_speedup: 1", "[A]"),
        _kv("kernel_launch_s: 0", "[A] folded into the fitted call times"),
        _kv("tdp_w: 65", "[A] desktop-class CPU package power; not measured"),
        _kv("purchase_usd: 1000", "[A] placeholder; not a quote"),
        _kv("usd_per_hour: 0.1", "[A] placeholder"),
    ]) + "\n"


def base_text_for(data: dict, base: str | None = None) -> str:
    """The base spec text: ``base`` (preset name or file), else the preset of the
    measured ``device_kind``, else (``platform`` cpu) ``cpu_base_text``."""
    from importlib import resources

    meta = data.get("meta", {})
    name = base or DEVICE_PRESETS.get(meta.get("device_kind", ""))
    if name is None and meta.get("platform") == "cpu":
        return cpu_base_text(data)
    if name is None:
        raise SpecError(f"calibrate: no datasheet base for device {meta.get('device_kind')!r};"
                        f" allowed: --base PRESET|FILE, or a device in {list(DEVICE_PRESETS)}")
    if Path(name).suffix in (".yaml", ".yml"):
        return Path(name).read_text()
    path = resources.files("lepton_codesign.hw_models") / "presets" / f"{name}.yaml"
    if not path.is_file():
        raise SpecError(f"calibrate: --base {name!r} is not a preset or .yaml file")
    return path.read_text()


def spec_from_text(text: str) -> GpuSpec:
    """A ``GpuSpec`` from YAML spec text (the same checks as ``load_spec``)."""
    from lepton_codesign.hw_models.specio import spec_from_dict
    from lepton_codesign.hw_models.yaml_safe import load_yaml

    data, lines = load_yaml(text)
    spec = spec_from_dict(data, "<calibrate>", lines)
    if not isinstance(spec, GpuSpec):
        raise SpecError("calibrate: the base spec must be of kind 'gpu'")
    return spec


def calibrate(data: dict, base: str | None = None, command: str = "") -> tuple:
    """Fit ``data`` on its base spec; returns ``(spec, report, yaml_text)``.

    The text loads back to ``spec`` (values written to 6 significant digits).
    """
    import datetime

    base_text = base_text_for(data, base).split("\n# Calibrated:")[0].rstrip() + "\n"
    spec, report = fit(data, spec_from_text(base_text))
    report["date"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    text = spec_yaml(spec, report, base_text, data.get("meta", {}), command)
    return spec_from_text(text), report, text


TRANSFERRED = ("efficiency_int8", "efficiency_fp8", "efficiency_bf16", "efficiency_tf32",
               "bandwidth_efficiency", *TIME_FIELDS, "layout_pass_bytes_per_s")


def derived_text(base_text: str, source: GpuSpec, source_name: str) -> str:
    """A datasheet-only preset with the calibration fields of ``source`` carried over
    as assumptions: efficiencies as the same fractions of this part's own peaks, the
    host-side call times unchanged, and ``dynamic_w`` as the same multiple of
    ``tdp_w - idle_w``. Nothing here is measured on the target part."""
    keep = [ln for ln in base_text.split("\n# Derived:")[0].rstrip().splitlines()
            if ln.split(":", 1)[0].strip() not in (*TRANSFERRED, "dynamic_w")]
    spec = spec_from_text("\n".join(keep) + "\n")
    ratio = float(source.dynamic_w) / float(source.tdp_w - source.idle_w)
    out = keep + ["", f"# Derived: from the measured {source_name} fit (hw_models/presets/"
                  f"{source_name}.yaml) by benchmarks/validation/gpu_derive_presets.py.",
                  "# NOT measured on this part: [A] same XLA kernels and host stack, so the "
                  f"same fractions of peak and call times as the {source_name}."]
    for f in TRANSFERRED:
        out.append(_kv(f"{f}: {float(getattr(source, f)):.6g}",
                       f"[A] {source_name} fit, not measured here"))
    dyn = ratio * float(spec.tdp_w - spec.idle_w)
    out.append(_kv(f"dynamic_w: {dyn:.6g}",
                   f"[A] {ratio:.3f} x (tdp_w - idle_w), the {source_name} ratio"))
    return "\n".join(out) + "\n"
