"""FPGA cost model: each cost term, infeasibility, properties, jit/vmap/grad, spec files."""

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
from lepton_codesign.hw_models.fpga_resources import lane_costs
from lepton_codesign.hw_models.fpga_spec import ARCHITECTURES, FpgaSpec, resource_name

EVAL = jax.jit(hw.evaluate, static_argnames=("smooth",))
REL = 1e-5
# XC7Z045 (ZC706 board): 218,600 LUT, 900 DSP, 545 BRAM36 [U] (AMD DS190), 28 nm.
ZC706 = FpgaSpec(lut=218600.0, dsp=900.0, bram18=1090.0, freq_hz=200e6, node_nm=28.0,
                 name="fpga")


def sfc(batch: int = 1) -> hw.Workload:
    """FINN's SFC topology: 784-256-256-256-10 fully connected."""
    dims = [(784, 256), (256, 256), (256, 256), (256, 10)]
    return hw.gemm_workload([(batch, k, n) for k, n in dims], batch=batch)


def comp(n, **kw):
    return hw.make_compression(n, **kw)


# --------------------------------------------------------------------- lane costs
@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_lut_lane_cost_is_finn_formula(bits):
    c = lane_costs(ZC706, jnp.float32(bits), jnp.float32(bits), smooth=False)
    s = 2 * bits
    assert float(c["lut"]) == pytest.approx(1.1 * ((2 * math.ceil(s / 6) - 1) * s + 2 * s))
    assert float(c["dsp"]) == 0.0 and not bool(c["use_dsp"])


def test_lut_cost_grows_like_w_times_a():
    lut = lambda b: float(lane_costs(ZC706.replace(lut_mac_max_bits=32.0),  # noqa: E731
                                     jnp.float32(b), jnp.float32(b), False)["lut"])
    assert lut(8) / lut(4) > 2.5 and lut(16) / lut(8) > 2.5  # super-linear in bits


@pytest.mark.parametrize("bits, threshold, clock, expect", [
    (8, 4, 1, 1 / 2), (4, 0, 1, 1 / 4), (16, 4, 1, 1.0), (32, 4, 1, 4.0), (8, 4, 2, 1 / 4),
])
def test_dsp_lane_cost_packing(bits, threshold, clock, expect):
    spec = ZC706.replace(lut_mac_max_bits=float(threshold), dsp_clock_ratio=float(clock))
    c = lane_costs(spec, jnp.float32(bits), jnp.float32(bits), smooth=False)
    assert bool(c["use_dsp"]) and float(c["dsp"]) == pytest.approx(expect)


# --------------------------------------------------------------------- dataflow
def test_dataflow_interval_set_by_scarcest_resource():
    wl = sfc()
    c = EVAL(wl, ZC706, comp(4, weight_bits=1, act_bits=1))
    assert resource_name(c.extras["limiting_resource"]) == "lut"
    assert 0.69 < float(c.extras["util_lut"]) <= 0.7
    macs = np.asarray(wl.macs, np.float64)
    T = 6.6 * macs.sum() / (0.7 * 218600 - 4 * 300)  # FINN lane cost of a binary MAC
    expect = max(math.ceil(x / math.floor(x / T * (1 + 1e-6))) for x in macs)
    assert float(c.extras["interval_s"]) * 200e6 == pytest.approx(expect)
    eight = EVAL(wl, ZC706, comp(4))
    assert resource_name(eight.extras["limiting_resource"]) == "dsp"
    assert float(eight.extras["util_dsp"]) <= 0.8 + 1e-6
    assert float(eight.total_latency_s) > float(c.total_latency_s)


def test_batch_is_pipelined():
    one, many = EVAL(sfc(1), ZC706, comp(4, weight_bits=1, act_bits=1)), None
    many = EVAL(sfc(8), ZC706, comp(4, weight_bits=1, act_bits=1))
    ival = float(one.extras["interval_s"])
    assert float(many.extras["interval_s"]) == pytest.approx(ival)
    assert float(many.total_latency_s) == pytest.approx(float(one.total_latency_s) + 7 * ival)
    assert float(many.extras["throughput_per_s"]) == pytest.approx(1 / ival)


def test_weights_stream_from_dram_when_they_do_not_fit():
    wl = hw.gemm_workload([(1, 4096, 4096)])  # 16 MiB of 8-bit weights > 2.4 MB of BRAM
    c = EVAL(wl, ZC706, comp(1))
    assert int(c.extras["weights_on_chip"]) == 0 and int(c.bound[0]) == 1
    assert float(c.dram_bytes[0]) >= 4096 * 4096
    slow = EVAL(wl, ZC706.replace(dram_bandwidth_bytes_per_s=9.6e9), comp(1))
    assert float(slow.total_latency_s) == pytest.approx(2 * float(c.total_latency_s), rel=0.01)
    small = EVAL(sfc(), ZC706, comp(4))  # fits: DRAM bandwidth barely matters
    assert int(small.extras["weights_on_chip"]) == 1
    slow = EVAL(sfc(), ZC706.replace(dram_bandwidth_bytes_per_s=9.6e9), comp(4))
    assert float(slow.total_latency_s) == pytest.approx(float(small.total_latency_s))


def test_unstructured_sparsity_saves_only_when_fully_unrolled():
    tiny = hw.gemm_workload([(1, 16, 16), (1, 16, 4)])
    dense = EVAL(tiny, ZC706, comp(2, weight_bits=4, act_bits=4))
    sparse = EVAL(tiny, ZC706, comp(2, weight_bits=4, act_bits=4, weight_density=0.25))
    assert np.all(np.asarray(dense.extras["fully_unrolled"]) == 1)
    lut = lambda c: float(c.extras["util_lut"]) * 218600 - 600  # noqa: E731 (minus fixed)
    assert lut(sparse) == pytest.approx(0.25 * lut(dense), rel=1e-4)
    assert float(sparse.energy_mac_j.sum()) < float(dense.energy_mac_j.sum())
    # folded design: unstructured zeros save nothing, N:M and channel pruning always do
    small = ZC706.replace(lut=30000.0, dsp=40.0)
    base = EVAL(sfc(), small, comp(4))
    assert np.all(np.asarray(base.extras["fully_unrolled"]) == 0)
    unstr = EVAL(sfc(), small, comp(4, weight_density=0.25))
    assert float(unstr.total_latency_s) == pytest.approx(float(base.total_latency_s))
    assert float(unstr.extras["util_dsp"]) == pytest.approx(float(base.extras["util_dsp"]))
    for structure in ("nm", "channel"):
        c = EVAL(sfc(), small, comp(4, weight_density=0.5, structure=structure))
        assert float(c.total_latency_s) < 0.6 * float(base.total_latency_s), structure


def test_infeasible_design_names_the_overflowing_resource():
    c = EVAL(sfc(), FpgaSpec(lut=1000.0, dsp=0.0, bram18=0.0, name="fpga"), comp(4))
    assert not bool(c.feasible) and resource_name(c.extras["infeasible_resource"]) == "lut"
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(c))
    big = FpgaSpec(lut=1e6, dsp=100.0, bram18=100.0, architecture="overlay",
                   overlay_macs=10000.0, name="fpga")
    c = EVAL(sfc(), big, comp(4))
    assert not bool(c.feasible) and resource_name(c.extras["infeasible_resource"]) == "dsp"
    assert bool(EVAL(sfc(), big.replace(overlay_macs=0.0), comp(4)).feasible)
    with pytest.raises(ValueError, match="resource code"):
        resource_name(99)


# --------------------------------------------------------------------- overlay
def test_overlay_tile_quantisation_and_passes():
    ov = FpgaSpec(lut=1e6, dsp=1e4, bram18=1e3, architecture="overlay", overlay_macs=256.0,
                  dram_bandwidth_bytes_per_s=1e15, name="fpga")
    fill = 16 + 16
    cyc = lambda wl, cp: np.asarray(EVAL(wl, ov, cp).compute_cycles)  # noqa: E731
    assert cyc(hw.gemm_workload([(1, 16, 16)]), comp(1))[0] == 1 + fill
    assert cyc(hw.gemm_workload([(1, 16, 17)]), comp(1))[0] == 2 + fill
    assert cyc(hw.gemm_workload([(2, 16, 16)]), comp(1))[0] == 2 + fill  # pp = 256/256 = 1
    assert cyc(hw.gemm_workload([(1, 16, 16)]), comp(1, weight_bits=16, act_bits=16))[0] \
        == 4 + fill
    conv = hw.make_workload([hw.conv_layer("c", (8, 8), 3, 16, (3, 3))])
    assert cyc(conv, comp(1))[0] == 36 * 9 + fill  # ceil(3/16) * 3 * 3 k-steps per pixel


def test_overlay_array_size_from_resources():
    ov = ZC706.replace(architecture="overlay")  # 8-bit lanes: 720 DSP * 2 packed MACs
    c = EVAL(sfc(), ov, comp(4))
    assert float(c.extras["parallel_macs"][0]) == 1440.0
    assert resource_name(c.extras["limiting_resource"]) == "dsp"
    double = EVAL(sfc(), ov.replace(dsp_clock_ratio=2.0), comp(4))
    assert float(double.extras["parallel_macs"][0]) == 2880.0


# --------------------------------------------------------------------- energy, dollars
def test_energy_terms():
    spec = ZC706.replace(static_power_w=3.0, dram_energy_pj_per_byte=100.0)
    wl = hw.gemm_workload([(1, 4096, 4096)])
    c = EVAL(wl, spec, comp(1))
    np.testing.assert_allclose(c.energy_leak_j, 3.0 * np.asarray(c.latency_s), rtol=1e-6)
    np.testing.assert_allclose(c.energy_dram_j, 100e-12 * np.asarray(c.dram_bytes), rtol=1e-6)
    total = c.energy_mac_j + c.energy_sram_j + c.energy_dram_j + c.energy_leak_j
    np.testing.assert_allclose(c.energy_j, total, rtol=1e-6)
    gap = EVAL(wl, spec.replace(hard_energy_gap=14.0), comp(1))  # 8-bit MACs on DSPs
    np.testing.assert_allclose(gap.energy_mac_j, 2 * np.asarray(c.energy_mac_j), rtol=1e-5)


def test_dollars_follow_the_shared_convention():
    spec = ZC706.replace(board_price_usd=2500.0)
    c = EVAL(sfc(4), spec, comp(4))
    assert float(c.cost_usd) == 2500.0 and float(c.area_mm2) == 0.0
    expect = dollars.usd_per_1m_inferences(2500.0, c.extras["interval_s"],
                                           c.total_energy_j / 4, dollars.Deployment())
    assert float(c.usd_per_1m_inferences) == pytest.approx(float(expect), rel=1e-5)


# --------------------------------------------------------------------- specs
@pytest.mark.parametrize("name", ["zcu102", "zcu104", "kv260", "alveo-u250", "alveo-u55c"])
def test_presets_load_and_fit_a_small_mlp(name):
    spec = hw.preset(name)
    assert isinstance(spec, FpgaSpec) and float(spec.board_price_usd) > 0
    spec = spec.replace(name="fpga")  # one static name: one compile for all presets
    assert bool(EVAL(sfc(), spec, comp(4)).feasible)


@pytest.mark.parametrize("line, key", [
    ("luts: 5", "luts"), ("lut_ceiling: 1.5", "lut_ceiling"),
    ("architecture: systolic", "architecture"), ("dsp: -1", "dsp"),
])
def test_bad_spec_files_name_the_key(tmp_path, line, key):
    base = {"version": 1, "kind": "fpga", "lut": 1000, "dsp": 10, "bram18": 10,
            "freq_hz": 1e8, "dram_bandwidth_bytes_per_s": 1e9, "board_price_usd": 100,
            "architecture": "dataflow"}
    k, v = line.split(": ")
    text = "\n".join(f"{a}: {b}" for a, b in base.items() if a != k) + f"\n{line}\n"
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(hw.SpecError, match=key):
        hw.load_spec(path)


# --------------------------------------------------------------------- transforms
def test_jit_equals_eager_and_vmap_equals_loop(mixed_workload):
    cp = comp(5, weight_bits=4, act_bits=8)
    specs = [hw.preset("zcu104").replace(name="fpga"), hw.preset("kv260").replace(name="fpga"),
             ZC706.replace(architecture="overlay")]
    eager = hw.evaluate(mixed_workload, specs[1], cp)
    jitted = EVAL(mixed_workload, specs[1], cp)
    for a, b in zip(jax.tree.leaves(jitted), jax.tree.leaves(eager), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5)
    stacked = jax.tree.map(lambda *x: jnp.stack([jnp.asarray(v, jnp.float32) for v in x]),
                           *specs)
    batched = jax.jit(jax.vmap(lambda s: hw.evaluate(mixed_workload, s, cp)))(stacked)
    for i, s in enumerate(specs):
        one = EVAL(mixed_workload, s, cp)
        np.testing.assert_allclose(batched.latency_s[i], one.latency_s, rtol=1e-5)
        np.testing.assert_allclose(batched.total_energy_j[i], one.total_energy_j, rtol=1e-5)
        assert int(batched.extras["infeasible_resource"][i]) == \
            int(one.extras["infeasible_resource"])


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_grad_smooth_is_finite_and_nonzero(arch):
    wl = sfc(2)
    structure = "nm" if arch == "dataflow" else "channel"  # overlays ignore N:M

    def cost(p, bw):
        s = ZC706.replace(architecture=arch, lut=p["lut"], dsp=p["dsp"], freq_hz=p["f"],
                          dram_bandwidth_bytes_per_s=bw * p["bw"])
        cp = comp(4, weight_density=p["d"], structure=structure, weight_bits=p["wb"],
                  act_bits=3.0)
        c = hw.evaluate(wl, s, cp, smooth=True)
        return c.total_latency_s + c.total_energy_j

    p = {"lut": 218600.0, "dsp": 900.0, "f": 2e8, "bw": 1.0, "d": 0.6, "wb": jnp.full(4, 3.0)}
    grad = jax.jit(jax.grad(cost))
    g = grad(p, 1e13)  # compute-bound
    for k, v in g.items():
        assert np.all(np.isfinite(np.asarray(v))), k
    assert float(g["f"]) < 0 and float(g["d"]) > 0 and float(jnp.sum(g["wb"])) > 0
    assert float(g["lut"] if arch == "dataflow" else g["dsp"]) < 0
    g = grad(p, 1e5)  # memory-bound
    assert np.isfinite(float(g["bw"])) and float(g["bw"]) < 0


# --------------------------------------------------------------------- properties
def log_uniform(lo, hi):
    return st.floats(math.log(lo), math.log(hi)).map(math.exp)


@st.composite
def fpga_specs(draw):
    return FpgaSpec(
        lut=float(draw(st.integers(1000, 2_000_000))), dsp=float(draw(st.integers(0, 12000))),
        bram18=float(draw(st.integers(0, 5000))), uram=float(draw(st.integers(0, 1500))),
        freq_hz=draw(log_uniform(5e7, 8e8)),
        dram_bandwidth_bytes_per_s=draw(log_uniform(1e8, 1e12)),
        node_nm=draw(st.floats(7.0, 90.0)), static_power_w=draw(st.floats(0.0, 50.0)),
        architecture=draw(st.sampled_from(ARCHITECTURES)),
        overlay_macs=float(draw(st.sampled_from([0, 1, 64, 1024, 20000]))),
        overlay_bits=float(draw(st.sampled_from([4, 8, 16]))),
        overlay_tile_k=float(draw(st.integers(1, 32))),
        overlay_tile_n=float(draw(st.integers(1, 32))),
        dsp_clock_ratio=float(draw(st.sampled_from([1, 2]))), name="fpga",
    )


@st.composite
def compressions(draw, n=5):
    lists = lambda s: draw(st.lists(s, min_size=n, max_size=n))  # noqa: E731
    bits = st.one_of(st.integers(1, 16).map(float), st.floats(1.0, 16.0))
    return hw.make_compression(
        n, weight_density=lists(st.floats(1e-6, 1.0)), act_density=lists(st.floats(1e-6, 1.0)),
        structure=lists(st.sampled_from([0, 1, 2])), nm_m=lists(st.sampled_from([2., 4., 16.])),
        weight_bits=lists(bits), act_bits=lists(bits))


@pytest.mark.parametrize("smooth", [False, True])
@given(spec=fpga_specs(), cp=compressions())
def test_all_costs_finite_and_nonnegative(mixed_workload, smooth, spec, cp):
    c = EVAL(mixed_workload, spec, cp, smooth=smooth)
    for leaf in jax.tree.leaves(c):
        arr = np.asarray(leaf)
        assert np.all(np.isfinite(arr)) and np.all(arr >= 0)
    assert np.asarray(c.feasible).dtype == np.bool_
    assert bool(c.feasible) == (int(c.extras["infeasible_resource"]) == 0)
    assert float(c.total_latency_s) > 0


@given(spec=fpga_specs(), cp=compressions(), scale=st.floats(1.0, 50.0),
       field=st.sampled_from(["lut", "dsp", "bram18", "uram", "freq_hz",
                              "dram_bandwidth_bytes_per_s"]))
def test_more_resources_never_slower(mixed_workload, spec, cp, scale, field):
    base = EVAL(mixed_workload, spec, cp)
    more = spec.replace(**{field: getattr(spec, field) * scale + (field == "bram18")})
    if field == "lut":
        more = more.replace(ff=spec.ff * scale)
    new = EVAL(mixed_workload, more, cp)
    assert float(new.total_latency_s) <= float(base.total_latency_s) * (1 + REL), field
    assert float(new.extras["interval_s"]) <= float(base.extras["interval_s"]) * (1 + REL)
