"""DPU overlay: the per-layer fixed overhead and the per-layer feature-map DRAM traffic."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models.fpga_spec import FpgaSpec

EVAL = jax.jit(hw.evaluate, static_argnames=("smooth",))
CALIBRATED = 12750.0  # benchmarks/validation/dpu_calibrate.py


def cnn() -> hw.Workload:
    return hw.make_workload([
        hw.conv_layer("c1", (32, 32), 3, 32, (3, 3), stride=1, padding=1),
        hw.conv_layer("dw", (32, 32), 32, 32, (3, 3), stride=2, padding=1, groups=32),
        hw.conv_layer("pw", (16, 16), 32, 64, (1, 1)),
        {"name": "fc", "m": 1, "k": 64, "n": 10},
    ])


def kv260() -> FpgaSpec:
    return hw.preset("kv260").replace(name="fpga")


def tiny() -> FpgaSpec:  # 4 RAMB18 of buffer: feature maps spill
    return FpgaSpec(lut=1e5, dsp=500.0, bram18=4.0, architecture="overlay",
                    dram_bandwidth_bytes_per_s=1e9, name="fpga")


def test_default_is_the_calibrated_value():
    assert float(FpgaSpec(lut=1e5, dsp=500.0, bram18=4.0).overlay_layer_overhead_cycles) \
        == CALIBRATED
    assert float(kv260().overlay_layer_overhead_cycles) == CALIBRATED


# Numbers of the overlay model before the overhead and the feature-map traffic existed
# (commit 953ca89): (total latency s, interval s, total energy J, DRAM bytes).
OLD = {"kv260": (1.6390000382671133e-05, 1.6390000382671133e-05, 5.1077964599244297e-05,
                 6922.0),
       "tiny": (0.00010522598313400522, 0.00010522599768592045, 0.000544241804163903,
                105226.0)}


@pytest.mark.parametrize("name", sorted(OLD))
def test_zero_overhead_and_no_fmap_traffic_reproduce_the_old_numbers(name):
    spec = {"kv260": kv260, "tiny": tiny}[name]().replace(
        overlay_layer_overhead_cycles=0.0, overlay_fmap_dram=0.0)
    c = EVAL(cnn(), spec, hw.make_compression(4))
    got = (float(c.total_latency_s), float(c.extras["interval_s"]), float(c.total_energy_j),
           float(np.sum(c.dram_bytes)))
    np.testing.assert_allclose(got, OLD[name], rtol=1e-6)


def test_overhead_adds_layers_times_overhead_over_f_when_compute_bound():
    wl = cnn()
    spec = kv260().replace(dram_bandwidth_bytes_per_s=1e15)  # compute-bound everywhere
    base = EVAL(wl, spec.replace(overlay_layer_overhead_cycles=0.0), hw.make_compression(4))
    assert int(np.sum(base.bound)) == 0
    for oh in (1.0, 500.0, CALIBRATED):
        c = EVAL(wl, spec.replace(overlay_layer_overhead_cycles=oh), hw.make_compression(4))
        extra = wl.num_layers * oh / float(spec.freq_hz)
        assert float(c.total_latency_s) == pytest.approx(float(base.total_latency_s) + extra,
                                                         rel=1e-5)
        np.testing.assert_allclose(c.latency_s, np.asarray(base.latency_s)
                                   + oh / float(spec.freq_hz), rtol=1e-5)
        np.testing.assert_array_equal(c.compute_cycles, base.compute_cycles)


def test_fmap_traffic_is_input_plus_output_per_layer_overlapped_with_compute():
    wl = cnn()
    spec = kv260().replace(overlay_layer_overhead_cycles=0.0)
    on = EVAL(wl, spec, hw.make_compression(4))
    off = EVAL(wl, spec.replace(overlay_fmap_dram=0.0), hw.make_compression(4))
    act = (np.asarray(wl.input_elems) + np.asarray(wl.output_elems)) * 8 / 8.0
    w = np.asarray(wl.weight_elems) * 8 / 8.0
    np.testing.assert_allclose(on.dram_bytes, w + act, rtol=1e-6)
    mem = (w + act) / float(spec.dram_bandwidth_bytes_per_s) * float(spec.freq_hz)
    np.testing.assert_allclose(on.cycles, np.maximum(on.compute_cycles, mem), rtol=1e-5)
    assert np.all(np.asarray(on.dram_bytes) >= np.asarray(off.dram_bytes))
    assert float(on.total_latency_s) >= float(off.total_latency_s)


@given(a=st.floats(0.0, 1e5), b=st.floats(0.0, 1e5), fm=st.sampled_from([0.0, 1.0]),
       bw=st.sampled_from([1e8, 1e9, 19.2e9, 1e15]))
def test_more_overhead_is_never_faster(a, b, fm, bw):
    lo, hi = sorted((a, b))
    spec = kv260().replace(overlay_fmap_dram=fm, dram_bandwidth_bytes_per_s=bw)
    c_lo = EVAL(cnn(), spec.replace(overlay_layer_overhead_cycles=lo), hw.make_compression(4))
    c_hi = EVAL(cnn(), spec.replace(overlay_layer_overhead_cycles=hi), hw.make_compression(4))
    assert float(c_hi.total_latency_s) >= float(c_lo.total_latency_s) * (1 - 1e-6)
    assert float(c_hi.extras["interval_s"]) >= float(c_lo.extras["interval_s"]) * (1 - 1e-6)
    assert float(c_hi.total_energy_j) >= float(c_lo.total_energy_j) * (1 - 1e-6)


def test_jit_equals_eager_and_vmap_equals_loop():
    wl, cp = cnn(), hw.make_compression(4, weight_bits=4, act_bits=8)
    specs = [kv260().replace(overlay_layer_overhead_cycles=o, overlay_fmap_dram=f)
             for o, f in ((0.0, 0.0), (0.0, 1.0), (300.0, 1.0), (CALIBRATED, 0.0))]
    specs.append(tiny())
    for s in specs:
        for x, y in zip(jax.tree.leaves(hw.evaluate(wl, s, cp)), jax.tree.leaves(EVAL(wl, s, cp)),
                        strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-5)
    stacked = jax.tree.map(lambda *x: jnp.stack([jnp.asarray(v, jnp.float32) for v in x]),
                           *specs)
    batched = jax.jit(jax.vmap(lambda s: hw.evaluate(wl, s, cp)))(stacked)
    for i, s in enumerate(specs):
        one = EVAL(wl, s, cp)
        np.testing.assert_allclose(batched.latency_s[i], one.latency_s, rtol=1e-5)
        np.testing.assert_allclose(batched.dram_bytes[i], one.dram_bytes, rtol=1e-6)
        np.testing.assert_allclose(batched.total_energy_j[i], one.total_energy_j, rtol=1e-5)


def test_smooth_mode_gradient_of_the_overhead_is_finite_and_positive():
    def lat(oh):
        s = kv260().replace(overlay_layer_overhead_cycles=oh)
        return hw.evaluate(cnn(), s, hw.make_compression(4), smooth=True).total_latency_s

    g = jax.grad(lat)(jnp.float32(100.0))
    assert np.isfinite(float(g))
    assert float(g) == pytest.approx(cnn().num_layers / 300e6, rel=1e-3)


@pytest.mark.parametrize("preset", ["zcu104", "zcu102", "alveo-u250"])
def test_dataflow_path_is_unchanged(preset):
    wl = cnn()
    spec = hw.preset(preset).replace(name="fpga")
    assert spec.describe()["architecture"] == "dataflow"
    base = EVAL(wl, spec, hw.make_compression(4))
    for kw in ({"overlay_layer_overhead_cycles": 0.0}, {"overlay_layer_overhead_cycles": 1e6},
               {"overlay_fmap_dram": 0.0}):
        other = EVAL(wl, spec.replace(**kw), hw.make_compression(4))
        for x, y in zip(jax.tree.leaves(other), jax.tree.leaves(base), strict=True):
            np.testing.assert_array_equal(x, y)
