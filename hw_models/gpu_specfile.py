"""Spec files from a calibration fit: base datasheet text, the fitted YAML with its
provenance, the CPU base spec, and presets derived from a measured fit.

``calibrate`` is the whole ``lepton-codesign calibrate`` path after measuring: pick the
base (``base_text_for``: the preset of the measured ``device_kind``, ``--base``, or a
CPU base built from the measurements), fit (``hw_models.gpu_calibrate.fit``), write the
spec text (``spec_yaml``). ``derived_text`` carries a measured fit's fractions over to
another part's datasheet as stated assumptions.

Example:
    >>> text = cpu_base_text({"gemm": [{"M": 64, "N": 64, "K": 64, "dtype": "float32",
    ...                                 "latency_s": 1e-4, "per_call_s": 1e-4}]})
    >>> spec_from_text(text).name
    'cpu-calibrated'
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lepton_codesign.hw_models.gpu_calibrate import TIME_FIELDS, fit
from lepton_codesign.hw_models.gpu_checks import held_out_report
from lepton_codesign.hw_models.gpu_spec import DTYPES, GpuSpec
from lepton_codesign.hw_models.schema import SpecError


def _kv(line: str, note: str) -> str:
    """A YAML ``key: value`` line with its source note, aligned as in the presets."""
    return f"{line:<37} # {note}"


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
    for what, r in report.get("held_out", {}).items():
        out.append(f"# held-out {what}: median |error| latency "
                   f"{100 * r['latency_median_abs']:.1f}%, per call "
                   f"{100 * r['per_call_median_abs']:.1f}% ({r['n']} kernels, not fitted)")
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

    ``report["held_out"]``: the fitted spec's errors on the measured convolutions and
    elementwise kernels, which the fit does not use (``hw_models.gpu_checks``).

    The text loads back to ``spec`` (values written to 6 significant digits).
    """
    import datetime

    base_text = base_text_for(data, base).split("\n# Calibrated:")[0].rstrip() + "\n"
    spec, report = fit(data, spec_from_text(base_text))
    report["held_out"] = held_out_report(spec, data)
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
