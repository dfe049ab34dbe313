"""GPU cost model: dtype choice, tiles/waves, memory, sparsity, overheads, energy,
dollars, infeasibility, properties, jit/vmap/grad, spec files."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models import dollars
from lepton_codesign.hw_models import gpu_kernel as gk
from lepton_codesign.hw_models.gpu_spec import DTYPES, GpuSpec, dtype_name, resource_name

EVAL = jax.jit(hw.evaluate, static_argnames=("smooth",))
EVAL_AT = jax.jit(lambda wl, spec, cp, code: hw.evaluate_gpu(wl, spec, cp, dtype=code))
GPUS = ["a100-sxm", "h100-sxm", "h200", "l4", "t4"]
A100 = hw.preset("a100-sxm")


def gpu(name: str) -> GpuSpec:
    """A preset renamed to one static name, so all presets share one compiled evaluator."""
    return hw.preset(name).replace(name="a100-sxm")
NO_OVERHEAD = {"kernel_launch_s": 0.0, "dispatch_overhead_s": 0.0, "warmup_s": 0.0,
               "layout_pass_bytes_per_s": 0.0}


def comp(n=1, **kw):
    return hw.make_compression(n, **kw)


def dtypes(spec, bits):
    c = EVAL(hw.gemm_workload([(64, 64, 64)]), spec, comp(weight_bits=bits, act_bits=bits))
    return dtype_name(c.extras["dtype"][0])


@pytest.mark.parametrize("name, bits, expect", [
    ("a100-sxm", 4, "int4"), ("h100-sxm", 4, "int8"), ("a100-sxm", 5, "int8"),
    ("t4", 12, "bf16"), ("l4", 32, "tf32"), ("t4", 32, "fp32"), ("h200", 8, "int8"),
    ("a100-sxm", 16, "bf16"), ("h100-sxm", 8, "int8"),  # int8 operands never as fp8
])
def test_select_dtype_is_the_narrowest_supported_dtype_wide_enough(name, bits, expect):
    code, _ = gk.select_dtype(gpu(name), jnp.asarray([float(bits)]))
    assert dtype_name(int(code[0])) == expect


@pytest.mark.parametrize("name, bits, expect", [
    ("a100-sxm", 4, "int4"), ("a100-sxm", 8, "int8"), ("t4", 12, "bf16"),
    ("l4", 32, "tf32"), ("t4", 32, "fp32"), ("a100-sxm", 16, "bf16"),
])
def test_compute_bound_gemm_runs_at_the_narrowest_dtype(name, bits, expect):
    c = EVAL(hw.gemm_workload([(4096, 4096, 4096)]), gpu(name),
             comp(weight_bits=bits, act_bits=bits))
    assert dtype_name(c.extras["dtype"][0]) == expect


def test_tf32_only_when_allowed():
    assert dtypes(gpu("l4").replace(allow_tf32=0.0), 32) == "fp32"
    with pytest.raises(ValueError, match="dtype code"):
        dtype_name(7)


def test_compute_time_with_tile_and_wave_quantisation():
    spec = A100.replace(**NO_OVERHEAD)
    n = 4096
    c = EVAL(hw.gemm_workload([(n, n, n)]), spec, comp(weight_bits=16, act_bits=16))
    waves = math.ceil((n // 128) ** 2 / 108)
    expect = waves * 2 * 128 * 128 * n / (312e12 * float(spec.efficiency_bf16) / 108)
    assert int(c.bound[0]) == 0 and float(c.extras["waves"][0]) == waves
    assert float(c.latency_s[0]) == pytest.approx(expect, rel=1e-5)
    bf16 = comp(weight_bits=16, act_bits=16)
    one = EVAL(hw.gemm_workload([(128 * 27, 4096, 512)]), spec, bf16)  # 108 tiles: 1 wave
    two = EVAL(hw.gemm_workload([(128 * 28, 4096, 512)]), spec, bf16)  # 112 tiles: 2 waves
    assert int(one.bound[0]) == 0 and int(two.bound[0]) == 0
    assert float(two.latency_s[0]) == pytest.approx(2 * float(one.latency_s[0]), rel=1e-5)


def test_memory_bound_gemv_moves_operands_at_stored_width():
    spec = gpu("h100-sxm").replace(**NO_OVERHEAD)
    wl = hw.gemm_workload([(1, 8192, 8192)])
    i8 = EVAL_AT(wl, spec, comp(), 1)  # priced at int8
    bytes8 = 8192 * 8192 + 8192 + 4 * 8192  # int8 in, int32 out
    assert int(i8.bound[0]) == 1 and float(i8.dram_bytes[0]) == bytes8
    bw = 3.35e12 * float(spec.bandwidth_efficiency)
    assert float(i8.latency_s[0]) == pytest.approx(bytes8 / bw, rel=1e-5)
    # the model's choice: bf16 writes 16-bit outputs, so it beats int8's int32 ones
    c8 = EVAL(wl, spec, comp())
    assert dtype_name(c8.extras["dtype"][0]) == "bf16"
    assert float(c8.dram_bytes[0]) == bytes8 - 2 * 8192
    c4 = EVAL(wl, spec, comp(weight_bits=4))
    assert dtype_name(c4.extras["dtype"][0]) == "bf16"  # computes at bf16 ...
    assert float(c4.dram_bytes[0]) == 8192 * 8192 / 2 + 3 * 8192  # ... moves 4-bit weights


def test_only_two_four_sparsity_speeds_up():
    wl = hw.gemm_workload([(8192, 8192, 8192)])
    a100 = A100.replace(**NO_OVERHEAD)  # the single-call warm-up is not proportional
    base = float(EVAL(wl, a100, comp()).total_latency_s)
    lat = lambda spec=a100, **kw: float(EVAL(wl, spec, comp(**kw)).total_latency_s)  # noqa
    assert lat(weight_density=0.5, structure="nm", nm_m=4) == pytest.approx(base / 2, rel=0.01)
    assert lat(weight_density=1 / 8, structure="nm", nm_m=8) == pytest.approx(base / 2, rel=0.01)
    assert lat(weight_density=0.5, structure="nm", nm_m=8) == pytest.approx(base)  # 4:8
    assert lat(weight_density=0.5, structure="unstructured") == pytest.approx(base)
    assert lat(weight_density=0.5, structure="channel") == pytest.approx(base / 2, rel=0.02)
    t4 = gpu("t4").replace(**NO_OVERHEAD)
    assert lat(t4, weight_density=0.5, structure="nm", nm_m=4) == pytest.approx(lat(t4))


def test_launch_and_dispatch_overheads():
    spec = A100.replace(kernel_launch_s=5e-6, dispatch_overhead_s=30e-6, warmup_s=0.0)
    one = EVAL(hw.gemm_workload([(1, 8, 8)]), spec, comp())
    ten = EVAL(hw.gemm_workload([(1, 8, 8)] * 10), spec, comp(10))
    busy = float(one.total_latency_s) - 35e-6
    assert busy > 0
    assert float(ten.total_latency_s) == pytest.approx(10 * (busy + 5e-6) + 30e-6, rel=1e-4)


def test_energy_is_power_of_utilisation_times_time():
    spec = gpu("h100-sxm").replace(**NO_OVERHEAD, dynamic_w=630.0)  # never throttles
    c = EVAL(hw.gemm_workload([(8192, 8192, 8192)]), spec, comp(weight_bits=16, act_bits=16))
    np.testing.assert_allclose(c.energy_leak_j, 70.0 * np.asarray(c.latency_s), rtol=1e-6)
    u = float(c.extras["compute_utilization"][0])
    assert 0.5 < u <= float(spec.efficiency_bf16)
    assert float(c.power_w) == pytest.approx(70 + 630 * u, rel=0.01)
    assert float(c.power_w) <= 700.0
    idle = EVAL(hw.gemm_workload([(1, 8, 8)]), gpu("h100-sxm"), comp())  # overheads
    assert float(idle.power_w) < 80.0


def test_dollars_own_versus_rent():
    wl = hw.gemm_workload([(256, 4096, 4096)], batch=256)
    own = EVAL(wl, A100, comp())
    # $/1M inferences use the throughput time base (back-to-back interval)
    t, e = float(own.extras["interval_s"]) / 256, float(own.total_energy_j) / 256
    expect = dollars.usd_per_1m_inferences(15000.0, t, e, dollars.Deployment())
    assert float(own.cost_usd) == 15000.0
    assert float(own.usd_per_1m_inferences) == pytest.approx(float(expect), rel=1e-5)
    rent = EVAL(wl, A100.replace(pricing="rent"), comp())
    assert float(rent.usd_per_1m_inferences) == pytest.approx(1e6 * 1.844 * t / 3600, rel=1e-5)


def test_too_large_for_memory_is_infeasible():
    wl = hw.gemm_workload([(1, 200_000, 200_000)])  # 40 GB of 8-bit weights on a 24 GB L4
    c = EVAL(wl, gpu("l4"), comp())
    assert not bool(c.feasible) and resource_name(c.extras["infeasible_resource"]) == "memory"
    assert np.all(np.isfinite(np.asarray(c.total_latency_s)))
    assert bool(EVAL(wl, gpu("h200"), comp()).feasible)


@pytest.mark.parametrize("name", GPUS)
def test_presets_load(name):
    spec = hw.preset(name)
    assert isinstance(spec, GpuSpec) and float(spec.tdp_w) > float(spec.idle_w) > 0
    assert float(spec.purchase_usd) > 0 and float(spec.usd_per_hour) > 0


@pytest.mark.parametrize("line, key", [
    ("idle_w: 900", "idle_w"), ("pricing: lease", "pricing"), ("peak_int8: 1", "peak_int8"),
    ("compute_efficiency: 2", "compute_efficiency"),
])
def test_bad_spec_files_name_the_key(tmp_path, line, key):
    base = {"version": 1, "kind": "gpu", "peak_fp32_flops": 1e12, "peak_bf16_flops": 1e13,
            "peak_int8_ops": 2e13, "mem_bandwidth_bytes_per_s": 1e11,
            "mem_capacity_bytes": 1e10, "num_sms": 10, "tdp_w": 100, "purchase_usd": 1000}
    k = line.split(": ")[0]
    text = "\n".join(f"{a}: {b}" for a, b in base.items() if a != k) + f"\n{line}\n"
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(hw.SpecError, match=key):
        hw.load_spec(path)


def test_jit_equals_eager_and_vmap_equals_loop(mixed_workload):
    cp = comp(5, weight_bits=8, act_bits=8, weight_density=0.5, structure="nm")
    specs = [gpu(n) for n in GPUS]
    eager, jitted = hw.evaluate(mixed_workload, specs[0], cp), EVAL(mixed_workload, specs[0], cp)
    for a, b in zip(jax.tree.leaves(jitted), jax.tree.leaves(eager), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5)
    stacked = jax.tree.map(lambda *x: jnp.stack([jnp.asarray(v, jnp.float32) for v in x]),
                           *specs)
    batched = jax.jit(jax.vmap(lambda s: hw.evaluate(mixed_workload, s, cp)))(stacked)
    for i, s in enumerate(specs):
        one = EVAL(mixed_workload, s, cp)
        np.testing.assert_allclose(batched.latency_s[i], one.latency_s, rtol=1e-5)
        np.testing.assert_allclose(batched.total_energy_j[i], one.total_energy_j, rtol=1e-5)
        np.testing.assert_array_equal(batched.extras["dtype"][i], one.extras["dtype"])


@pytest.mark.parametrize("structure", ["nm", "channel"])
def test_grad_smooth_is_finite_and_nonzero(structure):
    wl = hw.gemm_workload([(4096, 4096, 4096), (1, 8192, 8192)])

    def cost(p):
        s = A100.replace(peak_int8_ops=p["peak"], mem_bandwidth_bytes_per_s=p["bw"],
                         tdp_w=p["tdp"])
        cp = comp(2, weight_density=p["d"], structure=structure, nm_m=4.0,
                  weight_bits=p["wb"], act_bits=6.0)
        c = hw.evaluate(wl, s, cp, smooth=True)
        return c.total_latency_s + 1e-3 * c.total_energy_j

    p = {"peak": 624e12, "bw": 1.555e12, "tdp": 400.0, "d": 0.75, "wb": jnp.full(2, 6.0)}
    g = jax.jit(jax.grad(cost))(p)
    for k, v in g.items():
        assert np.all(np.isfinite(np.asarray(v))) and np.all(np.asarray(v) != 0), k
    assert float(g["peak"]) < 0 and float(g["bw"]) < 0 and float(g["d"]) > 0


# --------------------------------------------------------------------- properties
def log_uniform(lo, hi):
    return st.floats(math.log(lo), math.log(hi)).map(math.exp)


@st.composite
def gpu_specs(draw):
    """Random GPUs whose peaks do not fall as the dtype gets narrower (0 = absent)."""
    fp32 = draw(log_uniform(1e11, 1e14))
    peaks = [fp32]
    for _ in range(5):  # tf32, bf16, fp8, int8, int4
        peaks.append(peaks[-1] * draw(st.floats(1.0, 4.0)))
    present = draw(st.lists(st.booleans(), min_size=4, max_size=4))
    tf32, bf16, fp8, int8, int4 = peaks[1:]
    return GpuSpec(
        peak_fp32_flops=fp32, peak_tf32_flops=tf32 * present[0], peak_bf16_flops=bf16,
        peak_fp8_flops=fp8 * present[1], peak_int8_ops=int8 * present[2],
        peak_int4_ops=int4 * present[3], sparse_speedup=draw(st.sampled_from([1.0, 2.0])),
        mem_bandwidth_bytes_per_s=draw(log_uniform(1e10, 1e13)),
        mem_capacity_bytes=draw(log_uniform(1e6, 2e11)), num_sms=float(draw(st.integers(1, 200))),
        tdp_w=draw(st.floats(10.0, 1000.0)), idle_w=draw(st.floats(0.0, 10.0)),
        kernel_launch_s=draw(st.floats(0.0, 1e-4)), dispatch_overhead_s=draw(st.floats(0.0, 1e-3)),
        compute_efficiency=draw(st.floats(0.05, 1.0)),
        bandwidth_efficiency=draw(st.floats(0.05, 1.0)),
        pricing=draw(st.sampled_from(["own", "rent"])), usd_per_hour=draw(st.floats(0.0, 20.0)),
    )


@st.composite
def compressions(draw, n=5):
    lists = lambda s: draw(st.lists(s, min_size=n, max_size=n))  # noqa: E731
    bits = st.one_of(st.integers(1, 32).map(float), st.floats(1.0, 32.0))
    return hw.make_compression(
        n, weight_density=lists(st.floats(1e-6, 1.0)), act_density=lists(st.floats(1e-6, 1.0)),
        structure=lists(st.sampled_from([0, 1, 2])), nm_m=lists(st.sampled_from([2., 4., 8.])),
        weight_bits=lists(bits), act_bits=lists(bits))


@pytest.mark.parametrize("smooth", [False, True])
@given(spec=gpu_specs(), cp=compressions())
def test_all_costs_finite_and_nonnegative(mixed_workload, smooth, spec, cp):
    c = EVAL(mixed_workload, spec, cp, smooth=smooth)
    for leaf in jax.tree.leaves(c):
        arr = np.asarray(leaf)
        assert np.all(np.isfinite(arr)) and np.all(arr >= 0)
    assert float(c.power_w) <= float(spec.tdp_w) * (1 + 1e-5)
    assert bool(c.feasible) == (int(c.extras["infeasible_resource"]) == 0)


@given(spec=gpu_specs(), cp=compressions(), scale=st.floats(1.0, 20.0), data=st.data())
def test_more_peak_or_bandwidth_or_fewer_bits_never_slower(mixed_workload, spec, cp, scale,
                                                           data):
    base = float(EVAL(mixed_workload, spec, cp).total_latency_s)
    peaks = ("peak_fp32_flops", "peak_tf32_flops", "peak_bf16_flops", "peak_fp8_flops",
             "peak_int8_ops", "peak_int4_ops")
    faster = spec.replace(**{k: getattr(spec, k) * scale for k in peaks})
    assert float(EVAL(mixed_workload, faster, cp).total_latency_s) <= base * (1 + 1e-5)
    wider = spec.replace(mem_bandwidth_bytes_per_s=spec.mem_bandwidth_bytes_per_s * scale)
    assert float(EVAL(mixed_workload, wider, cp).total_latency_s) <= base * (1 + 1e-5)
    shrink = data.draw(st.floats(0.0, 1.0))
    fewer = cp.__class__(cp.weight_density, cp.act_density, cp.structure, cp.nm_m,
                         1.0 + (cp.weight_bits - 1.0) * shrink, 1.0 + (cp.act_bits - 1.0) * shrink)
    assert float(EVAL(mixed_workload, spec, fewer).total_latency_s) <= base * (1 + 1e-5)


def test_fewer_bits_never_slower_counterexample(mixed_workload):
    """Found by the property above: the 5-bit attention matmul (k = 8) ran in bf16 (MMA
    step 16); at 1 bit it ran in int4, padding k to 64 and writing int32, 8.20 us vs
    7.69 us when the narrowest dtype was always taken. The fastest candidate is now."""
    p = math.exp(26)
    spec = GpuSpec(peak_fp32_flops=p, peak_bf16_flops=p, peak_int4_ops=p,
                   sparse_speedup=1.0, mem_bandwidth_bytes_per_s=math.exp(24),
                   mem_capacity_bytes=1e6, num_sms=1.0, tdp_w=10.0, idle_w=0.0,
                   kernel_launch_s=0.0, dispatch_overhead_s=0.0, compute_efficiency=1.0,
                   bandwidth_efficiency=1.0, usd_per_hour=0.0)
    base = comp(5, weight_bits=1.0, act_bits=[1.0, 1.0, 1.0, 5.0, 1.0])
    fewer = comp(5, weight_bits=1.0, act_bits=1.0)
    t_base = float(EVAL(mixed_workload, spec, base).total_latency_s)
    t_fewer = float(EVAL(mixed_workload, spec, fewer).total_latency_s)
    assert t_fewer <= t_base * (1 + 1e-6)
    # the defect's numbers, priced at the narrowest dtype (as before the fix)
    narrow = lambda cp: gk.select_dtype(spec, jnp.maximum(cp.weight_bits, cp.act_bits))[0]  # noqa: E731
    old_base = float(EVAL_AT(mixed_workload, spec, base, narrow(base)).total_latency_s)
    old_fewer = float(EVAL_AT(mixed_workload, spec, fewer, narrow(fewer)).total_latency_s)
    assert old_base == pytest.approx(7.69e-6, rel=1e-3)
    assert old_fewer == pytest.approx(8.20e-6, rel=1e-3)
    assert t_base <= old_base * (1 + 1e-6) and t_fewer < old_fewer


def _per_layer(spec):
    """``spec`` without per-call terms: each layer's ``latency_s`` is its kernel time."""
    return spec.replace(dispatch_overhead_s=0.0, warmup_s=0.0)


@given(spec=gpu_specs(), cp=compressions(), fp8=st.booleans())
def test_chosen_dtype_is_the_fastest_candidate(mixed_workload, spec, cp, fp8):
    spec = _per_layer(spec).replace(prefer_fp8=float(fp8))
    c = EVAL(mixed_workload, spec, cp)
    code = np.asarray(c.extras["dtype"])
    ok = np.asarray(gk.wide_enough(spec, jnp.maximum(cp.weight_bits, cp.act_bits)))
    times = np.stack([np.asarray(EVAL_AT(mixed_workload, spec, cp, d).latency_s)
                      for d in range(len(DTYPES))], axis=-1)
    layers = np.arange(len(code))
    assert np.all(ok[layers, code] | ~ok.any(axis=-1))  # a candidate whenever there is one
    best = np.where(ok, times, np.inf).min(axis=-1)
    np.testing.assert_allclose(np.asarray(c.latency_s)[ok.any(axis=-1)],
                               best[ok.any(axis=-1)], rtol=1e-6)


@given(spec=gpu_specs(), cp=compressions(),
       drop=st.sampled_from(["peak_int4_ops", "peak_int8_ops", "peak_fp8_flops",
                             "peak_tf32_flops", "allow_tf32"]))
def test_removing_a_dtype_never_makes_a_layer_faster(mixed_workload, spec, cp, drop):
    spec = _per_layer(spec)
    full = np.asarray(EVAL(mixed_workload, spec, cp).latency_s)
    fewer = np.asarray(EVAL(mixed_workload, spec.replace(**{drop: 0.0}), cp).latency_s)
    assert np.all(fewer >= full * (1 - 1e-6))
