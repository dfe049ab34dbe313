"""Calibrated GPU model: each term alone (per-dtype efficiency, split-K, fp8 path, output
widths, TF32 rule, per-call floors, single-call warm-up, power cap and throttle), jit and
vmap, the ``--dtype`` flag, and ``calibrate`` (CPU microbench and the H200 file)."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lepton_codesign import hw_models as hw
from lepton_codesign.cli import main
from lepton_codesign.hw_models import gpu_calibrate as gc
from lepton_codesign.hw_models import gpu_kernel as gk
from lepton_codesign.hw_models.gpu_spec import dtype_name

EVAL = jax.jit(hw.evaluate, static_argnames=("smooth",))
H200 = hw.preset("h200")
BARE = {"kernel_launch_s": 0.0, "dispatch_overhead_s": 0.0, "warmup_s": 0.0,
        "min_call_interval_s": 0.0, "layout_pass_bytes_per_s": 0.0}
DATA = Path(__file__).resolve().parents[1] / "benchmarks/validation/data/h200_kernels.json"


EVAL_AT = jax.jit(lambda wl, spec, cp, code: hw.evaluate_gpu(wl, spec, cp, dtype=code))


def run(shape, spec=H200, bits=8, fp8=False):
    """One GEMM of ``bits``-bit operands (floats with ``fp8``) priced at the dtype a kernel
    stored in that dtype runs at (``select_dtype``), as calibration prices measured rows:
    these tests check the kernel terms of one dtype, not which dtype is fastest."""
    spec = spec.replace(prefer_fp8=1.0 if fp8 else 0.0)
    code = gk.select_dtype(spec, jnp.asarray([float(bits)]))[0]
    return EVAL_AT(hw.gemm_workload([shape]), spec, hw.dense_compression(1, bits=bits), code)


def test_each_dtype_efficiency_scales_only_its_own_compute_time():
    big = (8192, 8192, 8192)  # (m, k, n): compute bound at every dtype
    base = H200.replace(**BARE)
    for bits, fp8, field in ((8, False, "efficiency_int8"), (8, True, "efficiency_fp8"),
                             (16, False, "efficiency_bf16"), (32, False, "efficiency_tf32")):
        half = base.replace(**{field: float(getattr(base, field)) / 2})
        t0 = float(run(big, base, bits, fp8).total_latency_s)
        assert float(run(big, half, bits, fp8).total_latency_s) == pytest.approx(2 * t0, 1e-4)
    # bf16 untouched by the int8 efficiency
    other = base.replace(efficiency_int8=0.1)
    assert float(run(big, other, 16).total_latency_s) == pytest.approx(
        float(run(big, base, 16).total_latency_s), rel=1e-6)


def test_split_k_fills_the_sms_for_few_tiles_and_deep_k():
    spec = H200.replace(**BARE)
    rate = 989.4e12 * float(spec.efficiency_bf16)
    t, waves = gk.compute_time_s(spec, 128.0, 128.0, 65536.0, 1.0, rate)
    assert float(waves) == 1.0  # 1 tile split into 132 k-slices: one wave
    assert float(t) == pytest.approx(2 * 128 * 128 * 65536 / rate, rel=1e-5)
    t_shallow, _ = gk.compute_time_s(spec, 128.0, 128.0, 256.0, 1.0, rate)  # no split
    assert float(t_shallow) == pytest.approx(132 * 2 * 128 * 128 * 256 / rate, rel=1e-5)


def test_achieved_fraction_grows_with_size_and_never_exceeds_efficiency():
    spec = H200.replace(**BARE)
    fractions = []
    for n in (256, 512, 1024, 2048, 4096, 8192, 16384):
        u = float(run((n, n, n), spec, 16).extras["compute_utilization"][0])
        assert u <= float(spec.efficiency_bf16) + 1e-6
        fractions.append(u)
    assert fractions == sorted(fractions)
    assert fractions[-1] > 0.95 * float(spec.efficiency_bf16)


def test_fp8_is_its_own_dtype_with_bf16_output():
    spec = H200.replace(**BARE)
    i8, f8 = run((1, 8192, 8192), spec, 8), run((1, 8192, 8192), spec, 8, fp8=True)
    assert dtype_name(i8.extras["dtype"][0]) == "int8"
    assert dtype_name(f8.extras["dtype"][0]) == "fp8"
    weights_and_input = 8192 * 8192 + 8192
    assert float(i8.dram_bytes[0]) == weights_and_input + 4 * 8192  # int32 out
    assert float(f8.dram_bytes[0]) == weights_and_input + 2 * 8192  # bf16 out
    big = (8192, 8192, 8192)
    ratio = float(run(big, spec, 8, True).total_latency_s) / float(
        run(big, spec, 8).total_latency_s)
    assert ratio == pytest.approx(float(spec.efficiency_int8) / float(spec.efficiency_fp8),
                                  rel=1e-3)
    no_fp8 = hw.preset("a100-sxm")  # no fp8 peak: the next float format
    assert dtype_name(run((64, 64, 64), no_fp8, 8, fp8=True).extras["dtype"][0]) == "bf16"


def test_eight_bit_layout_pass_adds_weight_bytes_over_its_rate_for_large_m():
    rate = 1.6e11
    off = H200.replace(**BARE)
    on = off.replace(layout_pass_bytes_per_s=rate)
    for shape, bits, fp8, expect in (((4096, 4096, 4096), 8, False, 4096 * 4096 / rate),
                                     ((4096, 4096, 4096), 8, True, 4096 * 4096 / rate),
                                     ((4096, 4096, 4096), 16, False, 0.0),  # bf16: none
                                     ((128, 4096, 4096), 8, False, 0.0)):  # M < min_m
        extra = float(run(shape, on, bits, fp8).total_latency_s) - float(
            run(shape, off, bits, fp8).total_latency_s)
        assert extra == pytest.approx(expect, abs=1e-7)


def test_output_width_per_dtype():
    assert [float(gk.output_bits(c)) for c in range(6)] == [32, 32, 16, 16, 32, 32]


def test_tf32_rule():
    assert dtype_name(run((64, 64, 64), H200, 32).extras["dtype"][0]) == "tf32"
    strict = H200.replace(allow_tf32=0.0)
    assert dtype_name(run((64, 64, 64), strict, 32).extras["dtype"][0]) == "fp32"
    assert dtype_name(run((64, 64, 64), hw.preset("t4"), 32).extras["dtype"][0]) == "fp32"
    big = (8192, 8192, 8192)  # fp32 without tensor cores is the 66.9 TFLOP/s path
    assert float(run(big, strict, 32).total_latency_s) > 5 * float(
        run(big, H200, 32).total_latency_s)


@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 4096), k=st.integers(1, 8192), n=st.integers(1, 8192),
       bits=st.sampled_from([4, 8, 16, 32]))
def test_no_prediction_below_the_per_call_floors(m, k, n, bits):
    c = run((m, k, n), H200, bits)
    floor = float(H200.dispatch_overhead_s) + float(H200.kernel_launch_s)
    assert float(c.total_latency_s) >= floor * (1 - 1e-6)
    assert float(c.extras["interval_s"]) >= float(H200.min_call_interval_s) * (1 - 1e-6)
    assert float(c.power_w) <= float(H200.tdp_w) * (1 + 1e-6)


def test_single_call_warmup_is_bounded_and_grows_with_work():
    extra = [float(gk.warmup_s(H200, jnp.asarray(t))) for t in (0.0, 1e-5, 1e-4, 1e-3, 1.0)]
    assert extra[0] == 0.0 and extra == sorted(extra)
    assert extra[-1] == pytest.approx(float(H200.warmup_s), rel=1e-6)
    lat, interval = gk.call_times(H200, jnp.asarray(1e-3))
    assert float(lat) == pytest.approx(float(H200.dispatch_overhead_s) + 1e-3 + extra[3])
    assert float(interval) == pytest.approx(1e-3)


def test_power_cap_and_throttle():
    # Golden case from the H200 power run: bf16 8192^3 back to back sits at the 700 W
    # cap [C] with the clock throttled (measured 693 W at x0.853 clock).
    c = run((8192, 8192, 8192), H200, 16)
    assert float(c.power_w) == pytest.approx(700.0, rel=1e-3)
    clock = float(c.extras["clock_factor"][0])
    assert 0.8 < clock < 0.9
    assert float(c.extras["interval_s"]) > float(c.total_latency_s) - float(
        H200.dispatch_overhead_s) - float(H200.warmup_s)  # throttled steady state is slower
    cool = H200.replace(dynamic_w=float(H200.tdp_w - H200.idle_w))  # never over the cap
    c2 = run((8192, 8192, 8192), cool, 16)
    assert float(c2.extras["clock_factor"][0]) == 1.0 and float(c2.power_w) < 700.0
    tiny = run((1, 8, 8), H200, 16)  # host-bound: near the measured idle power
    assert float(tiny.power_w) < float(H200.idle_w) * 1.05


def test_jit_equals_eager_and_vmap_over_specs():
    wl = hw.gemm_workload([(197, 768, 3072), (197, 3072, 768), (1, 4096, 4096)])
    cp = hw.dense_compression(3, bits=16)
    eager = hw.evaluate(wl, H200, cp)
    jitted = EVAL(wl, H200, cp)
    for a, b in ((eager.total_latency_s, jitted.total_latency_s),
                 (eager.extras["interval_s"], jitted.extras["interval_s"]),
                 (eager.total_energy_j, jitted.total_energy_j)):
        assert float(a) == pytest.approx(float(b), rel=1e-5)
    effs = jnp.asarray([0.4, 0.6, 0.8])
    batched = H200.replace(efficiency_bf16=effs)
    axes = jax.tree.map(lambda x: 0 if np.ndim(x) else None, batched)
    lat = jax.vmap(lambda s: hw.evaluate(wl, s, cp).total_latency_s, in_axes=(axes,))(batched)
    for e, v in zip(effs, lat, strict=True):
        one = EVAL(wl, H200.replace(efficiency_bf16=float(e)), cp).total_latency_s
        assert float(v) == pytest.approx(float(one), rel=1e-5)


@pytest.mark.parametrize("dtype, expect", [("fp8", "fp8"), ("int8", "int8"),
                                           ("fp32", "fp32"), ("tf32", "tf32"),
                                           ("bf16", "bf16")])
def test_cli_dtype_flag_prices_and_prints_the_format(capsys, dtype, expect):
    assert main(["evaluate", "--spec", "h200", "--model", "mlp", "--dtype", dtype,
                 "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["totals"]["priced_as"] == expect


def test_cli_dtype_flag_in_compare_table(capsys):
    assert main(["compare", "--model", "mlp", "--spec", "h200", "--spec", "gemmini-like",
                 "--dtype", "fp8"]) == 0
    assert "priced as: h200 fp8; gemmini-like 8-bit weights, 8-bit acts" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:  # argparse names the allowed formats
        main(["compare", "--model", "mlp", "--spec", "h200", "--dtype", "fp64"])
    assert exit_info.value.code == 2 and "fp8" in capsys.readouterr().err


def test_measurement_file_errors_name_the_row_and_key(tmp_path):
    bad = tmp_path / "m.json"
    bad.write_text(json.dumps({"gemm": [{"M": 1, "N": 1, "K": 1, "dtype": "float64",
                                         "latency_s": 1e-4, "per_call_s": 1e-4}]}))
    with pytest.raises(hw.SpecError, match=r"gemm\[0\]\.dtype"):
        gc.load_measurements(bad)
    bad.write_text(json.dumps({"gemm": [{"M": 1, "N": 1, "K": 1, "dtype": "float32",
                                         "latency_s": float("nan"), "per_call_s": 1e-4}]}))
    with pytest.raises(hw.SpecError, match=r"gemm\[0\]\.latency_s"):
        gc.load_measurements(bad)


def test_calibrate_from_the_h200_file_reproduces_the_committed_preset(tmp_path):
    out = tmp_path / "h200.yaml"
    assert main(["calibrate", "--from", str(DATA), "--out", str(out)]) == 0
    fitted, shipped = hw.load_spec(out).describe(), H200.describe()
    assert set(fitted) == set(shipped)
    for key, value in shipped.items():
        if isinstance(value, float):
            assert fitted[key] == pytest.approx(value, rel=1e-4), key
        else:
            assert fitted[key] == value, key


@pytest.mark.slow
def test_calibrate_quick_on_cpu_writes_a_loadable_spec(tmp_path):
    out, saved = tmp_path / "cpu.yaml", tmp_path / "cpu.json"
    assert main(["calibrate", "--quick", "--out", str(out),
                 "--save-measurements", str(saved)]) == 0
    spec = hw.load_spec(out)
    assert isinstance(spec, hw.GpuSpec) and float(spec.peak_fp32_flops) > 0
    assert "# Calibrated: lepton-codesign calibrate --quick" in out.read_text()
    assert "# held-out conv: median" in out.read_text()
    data = gc.load_measurements(saved)
    assert data["meta"]["platform"] == "cpu" and len(data["gemm"]) >= 5
    c = hw.evaluate(hw.gemm_workload([(256, 256, 256)]), spec,
                    hw.dense_compression(1, bits=32))
    assert np.isfinite(float(c.total_latency_s)) and float(c.total_latency_s) > 0


def test_interleaved_rounds_alternate_order_and_record_the_spread(monkeypatch):
    from lepton_codesign import microbench

    order = []

    def fake_samples(fn, args, reps):
        order.append(args[0])
        return [1.0 + 0.1 * i for i in range(reps)], 0.5 + args[0]

    monkeypatch.setattr(microbench, "_samples", fake_samples)
    jobs = [(lambda *a: _Ready(), (x,)) for x in (0, 1, 2)]
    rows = microbench.interleaved(jobs, reps=9, rounds=3)
    assert order == [0, 1, 2, 2, 1, 0, 0, 1, 2]  # odd rounds reversed
    assert [r["per_call_s"] for r in rows] == [0.5, 1.5, 2.5]
    # each job: 3 rounds of the samples 1.0, 1.1, 1.2 -> median 1.1, IQR 0.2
    assert rows[0]["latency_s"] == pytest.approx(1.1)
    assert rows[0]["latency_spread"] == pytest.approx(0.2 / 1.1)
    assert rows[0]["rounds"] == 3


class _Ready:
    def block_until_ready(self):
        return self


def test_run_suite_rounds_reach_every_gemm_row():
    from lepton_codesign.microbench import run_suite

    data = run_suite(quick=True, shapes=[(8, 8, 8), (16, 16, 16)], dtypes=["float32"],
                     mib=[1], reps=4, rounds=2, convs=(), elementwise=())
    assert [r["rounds"] for r in data["gemm"]] == [2, 2]
    assert all(r["latency_s"] > 0 and r["latency_spread"] >= 0 for r in data["gemm"])
