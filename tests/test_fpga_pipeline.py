"""Dataflow FPGA pipeline depth: latency floors, batch = fill + (B-1) x interval, energy."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models import fpga_pipeline as fp
from lepton_codesign.hw_models.fpga_spec import FpgaSpec

EVAL = jax.jit(hw.evaluate, static_argnames=("smooth",))


def mlp(dims, batch=1):
    return hw.gemm_workload([(batch, a, b) for a, b in zip(dims[:-1], dims[1:], strict=False)],
                            batch=batch)


def cnn(batch=1):
    layers = [hw.conv_layer("c1", (16, 16), 3, 8, (3, 3), 1, 1, 1, batch),
              hw.conv_layer("c2", (16, 16), 8, 16, (3, 3), 2, 1, 1, batch),
              {"name": "fc", "m": batch, "k": 16 * 8 * 8, "n": 10}]
    return hw.make_workload(layers, batch=batch)


@st.composite
def dataflow_specs(draw):
    return FpgaSpec(
        lut=float(draw(st.integers(20_000, 2_000_000))), dsp=float(draw(st.integers(1, 12000))),
        bram18=float(draw(st.integers(0, 5000))), uram=float(draw(st.integers(0, 1500))),
        freq_hz=draw(st.floats(5e7, 8e8)), dram_bandwidth_bytes_per_s=draw(st.floats(1e9, 1e12)),
        io_bits_per_cycle=float(draw(st.sampled_from([8, 64, 512, 4096]))),
        adder_levels_per_cycle=float(draw(st.sampled_from([1, 2, 4, 6, 8]))),
        dsp_mul_stages=float(draw(st.sampled_from([1, 3]))),
        act_stages=float(draw(st.sampled_from([0, 1]))),
        fifo_stages=float(draw(st.sampled_from([0, 1]))),
        fold_balanced=float(draw(st.sampled_from([0, 1]))),
        target_interval_cycles=float(draw(st.sampled_from([0, 1, 3, 40]))), name="fpga")


WORKLOADS = {"mlp": lambda b: mlp([40, 256, 256, 10], b), "sfc": lambda b: mlp([784, 256, 10], b),
             "cnn": cnn}


@settings(max_examples=40, deadline=None)
@given(spec=dataflow_specs(), which=st.sampled_from(sorted(WORKLOADS)),
       bits=st.sampled_from([1, 2, 4, 8, 16]), batch=st.sampled_from([1, 3]))
def test_never_faster_than_the_pipeline_and_batch_is_fill_plus_intervals(spec, which, bits,
                                                                         batch):
    wl = WORKLOADS[which](batch)
    cp = hw.make_compression(wl.num_layers, weight_bits=bits, act_bits=bits)
    c = EVAL(wl, spec, cp)
    f = float(spec.freq_hz)
    lat = float(c.total_latency_s) * f
    depth = np.asarray(c.extras["pipeline_depth_cycles"])
    assert lat >= depth.sum() * (1 - 1e-5)
    # whatever the style: a registered product (>= 1 stage) per layer (the adder levels on
    # top, <= 8 per stage, are checked in test_depth_formula_and_fan_in_follows_the_reuse_factor)
    assert np.all(depth >= 1.0) and lat >= depth.sum() * (1 - 1e-5)
    mul = float(spec.dsp_mul_stages) if bits * bits > 16 else fp.LUT_MUL_STAGES
    assert np.all(depth >= mul + float(spec.act_stages) + float(spec.fifo_stages) - 1e-6)
    if float(spec.target_interval_cycles) > 0:
        ival_t = float(c.extras["interval_s"]) * f
        assert ival_t >= float(spec.target_interval_cycles) * (1 - 1e-5)
    fill = float(c.extras["fill_latency_s"]) * f
    ival = float(c.extras["interval_s"]) * f
    assert fill >= depth.sum() * (1 - 1e-5) and fill >= ival * (1 - 1e-5)
    assert lat == pytest.approx(fill + (batch - 1) * ival, rel=1e-4)
    # energy: throughput-bound total, latency-bound variant in extras
    e_tp, e_lb = float(c.total_energy_j), float(c.extras["energy_latency_bound_j"])
    assert e_lb >= e_tp * (1 - 1e-5)
    # both totals are float32: their difference is exact only to a few ulps of e_lb
    assert e_lb - e_tp == pytest.approx(5.0 * (lat - batch * ival) / f, rel=1e-3,
                                        abs=1e-12 + 4e-7 * e_lb)


def test_quickstart_mlp_on_u250_takes_at_least_25_cycles():
    wl = mlp([40, 256, 256, 10])
    for bits in (1, 2, 4, 8, 16):
        c = EVAL(wl, hw.preset("alveo-u250").replace(name="fpga"),
                 hw.make_compression(3, weight_bits=bits, act_bits=bits))
        assert float(c.total_latency_s) * 200e6 >= 25, bits


def test_depth_formula_and_fan_in_follows_the_reuse_factor():
    d = fp.layer_depth(jnp.array([1.0, 2.0, 40.0, 256.0, 257.0]), 1.0,
                       jnp.array([True, False, True, True, True]), smooth=False)
    assert [int(x) for x in d] == [5, 4, 11, 13, 14]
    assert float(fp.adder_levels(jnp.float32(256.0), 4.0, False)) == 2.0
    # the most chaining a spec allows (8 levels per stage) still costs a stage per 8 levels
    assert float(fp.adder_levels(jnp.float32(4096.0), fp.MAX_ADDER_LEVELS_PER_CYCLE,
                                 False)) == 2.0
    hls = fp.pipeline_style("hls4ml")
    d = fp.layer_depth(jnp.array([1.0, 64.0]), hls["adder_levels_per_cycle"],
                       jnp.array([True, True]), False, hls["dsp_mul_stages"],
                       hls["act_stages"], hls["fifo_stages"])
    assert [int(x) for x in d] == [1, 2]  # the product register, + one chained adder stage
    # a layer folded r times adds k / r products per cycle
    fan = fp.fan_in_per_cycle(jnp.array([64.0, 64.0, 64.0]), jnp.array([1.0, 1.0, 2.0]),
                              jnp.array([1.0, 4.0, 8.0]))
    np.testing.assert_allclose(fan, [64.0, 16.0, 16.0])
    assert float(fp.input_cycles(jnp.float32(784.0), 512.0, False)) == 2.0


def test_input_streaming_bounds_latency_and_interval():
    wl = mlp([1024, 16, 10])
    wide = EVAL(wl, hw.preset("alveo-u250").replace(name="fpga"), hw.make_compression(2))
    narrow = EVAL(wl, hw.preset("alveo-u250").replace(name="fpga", io_bits_per_cycle=8.0),
                  hw.make_compression(2))
    assert float(narrow.extras["interval_s"]) * 200e6 == pytest.approx(1024.0)
    assert float(narrow.total_latency_s) > float(wide.total_latency_s) + 1000 / 200e6


def test_overlay_numbers_and_energy_unchanged_by_the_pipeline_terms():
    ov = hw.preset("kv260").replace(name="fpga")
    wl = cnn(2)
    c = EVAL(wl, ov, hw.make_compression(wl.num_layers))
    base = EVAL(wl, ov.replace(io_bits_per_cycle=1.0, adder_levels_per_cycle=8.0),
                hw.make_compression(wl.num_layers))
    assert float(c.total_latency_s) == float(base.total_latency_s)
    assert float(c.extras["energy_latency_bound_j"]) == pytest.approx(float(c.total_energy_j))
    np.testing.assert_allclose(c.energy_leak_j, float(ov.static_power_w) * np.asarray(c.latency_s),
                               rtol=1e-5)


def test_jit_eager_vmap_loop_and_smooth_gradients():
    wl = mlp([40, 256, 256, 10], 2)
    cp = hw.make_compression(3, weight_bits=4, act_bits=4)
    specs = [hw.preset(n).replace(name="fpga") for n in ("zcu104", "alveo-u250", "zcu102")]
    for s in specs:
        a, b = hw.evaluate(wl, s, cp), EVAL(wl, s, cp)
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-5)
    stacked = jax.tree.map(lambda *x: jnp.stack([jnp.asarray(v, jnp.float32) for v in x]),
                           *specs)
    batched = jax.jit(jax.vmap(lambda s: hw.evaluate(wl, s, cp)))(stacked)
    for i, s in enumerate(specs):
        one = EVAL(wl, s, cp)
        np.testing.assert_allclose(batched.total_latency_s[i], one.total_latency_s, rtol=1e-5)
        np.testing.assert_allclose(batched.extras["pipeline_depth_cycles"][i],
                                   one.extras["pipeline_depth_cycles"], rtol=1e-6)

    def cost(p):
        s = specs[0].replace(lut=p["lut"], io_bits_per_cycle=p["io"],
                             adder_levels_per_cycle=p["lv"])
        c = hw.evaluate(wl, s, hw.make_compression(3, weight_bits=p["wb"], act_bits=4.0),
                        smooth=True)
        return c.total_latency_s + c.total_energy_j + c.extras["energy_latency_bound_j"]

    g = jax.jit(jax.grad(cost))({"lut": 230000.0, "io": 512.0, "lv": 1.0,
                                 "wb": jnp.full(3, 4.0)})
    for k, v in g.items():
        assert np.all(np.isfinite(np.asarray(v))), k
    assert math.isfinite(float(g["lut"]))


def test_fill_of_dense_chain_and_streamed_conv_overlap():
    # dense chain: input, then c_i - 1 + d_i per layer
    ends = fp.fill_cycles(jnp.array([4.0, 2.0]), jnp.array([3.0, 2.0]), jnp.float32(5.0),
                          jnp.array([1.0, 1.0]), False)
    np.testing.assert_allclose(ends, [5 + 3 + 3, 11 + 1 + 2])
    # a conv needing 10% of its input starts early: s = 0.1 * 100 = 10, o = 12,
    # e = max(10 + 100 - 1, 100) + 2 = 111; the next layer needs half: s = 12 + 0.5 * 99
    ends = fp.fill_cycles(jnp.array([100.0, 20.0]), jnp.array([2.0, 2.0]),
                          jnp.float32(100.0), jnp.array([0.1, 0.5]), False)
    np.testing.assert_allclose(ends, [111.0, max(12 + 49.5 + 19, 111) + 2])
    wl = cnn()
    need = np.asarray(fp.first_output_need(wl))
    assert need[-1] == 1.0 and 0 < need[0] < 0.2  # 2 rows + 3 px of 16 x 16


def test_target_interval_and_hls4ml_unfolded_layers():
    wl = cnn()
    cp = hw.make_compression(wl.num_layers, weight_bits=16, act_bits=16)
    u250 = hw.preset("alveo-u250").replace(name="fpga")
    slow = EVAL(wl, u250.replace(target_interval_cycles=5000.0), cp)
    # folded to the target; integer lanes per layer round the slowest stage up a little
    assert 5000.0 <= float(slow.extras["interval_s"]) * 200e6 <= 5000.0 * 1.1
    hls = u250.replace(**fp.pipeline_style("hls4ml"))
    bal = EVAL(wl, hls.replace(fold_balanced=1.0), cp)
    unf = EVAL(wl, hls, cp)
    # same interval (the first conv's pixels), but the cheap layers stay parallel
    assert float(unf.extras["interval_s"]) == pytest.approx(float(bal.extras["interval_s"]))
    assert float(np.asarray(unf.compute_cycles)[-1]) == 1.0
    assert float(np.asarray(bal.compute_cycles)[-1]) > 100.0
    assert float(unf.total_latency_s) < float(bal.total_latency_s)


def test_pipeline_style_names_and_physical_bounds():
    assert fp.pipeline_style("rtl")["adder_levels_per_cycle"] == 1.0
    with pytest.raises(ValueError, match="allowed"):
        fp.pipeline_style("vhdl")
    for bad in ({"adder_levels_per_cycle": 9.0}, {"dsp_mul_stages": 0.5},
                {"act_stages": -1.0},
                {"target_interval_cycles": float("nan")}):
        with pytest.raises(Exception, match=next(iter(bad))):
            FpgaSpec(lut=1e5, dsp=100, bram18=100, **bad)


@pytest.mark.parametrize("name", ["alveo-u250", "alveo-u55c", "zcu102", "zcu104"])
def test_presets_in_either_style_respect_the_depth_floor(name):
    wl = cnn()
    cp = hw.make_compression(wl.num_layers, weight_bits=8, act_bits=8)
    for style in ("rtl", "hls4ml"):
        spec = hw.preset(name).replace(name="fpga", **fp.pipeline_style(style))
        c = EVAL(wl, spec, cp)
        depth = np.asarray(c.extras["pipeline_depth_cycles"])
        fill = float(c.extras["fill_latency_s"]) * float(spec.freq_hz)
        assert np.all(depth >= 1.0) and fill >= depth.sum() * (1 - 1e-5), (name, style)
        assert fill >= float(c.extras["interval_s"]) * float(spec.freq_hz) * (1 - 1e-5)


@pytest.mark.parametrize("style", ["rtl", "hls4ml"])
def test_dataflow_sizes_attention_for_one_inference(style):
    # an extracted transformer's attention matmuls hold the batch in ``groups``: one
    # inference has all their rows and 1 / B of their lanes. Their multipliers, reuse
    # factor and the design's LUTs must not grow with the batch (hls4ml style: 3x the
    # multipliers at batch 3 before the fix; rtl: 3x the reported reuse factor)
    from lepton_codesign.extract import extract_workload
    from lepton_codesign.models import build_model

    spec = hw.preset("alveo-u55c").replace(**fp.pipeline_style(style),
                                           target_interval_cycles=64.0)
    out = {}
    for batch in (1, 3):
        model, x = build_model("transformer", batch=batch)
        wl = extract_workload(model, x, batch=batch)
        out[batch] = hw.evaluate(wl, spec).extras
    attn = np.array([k == "matmul" for k in wl.kinds])
    assert attn.any()
    for key in ("parallel_macs", "reuse_factor"):
        one, three = (np.asarray(out[b][key]).ravel() for b in (1, 3))
        np.testing.assert_allclose(three[attn], one[attn], rtol=1e-6, err_msg=key)
    for key in ("util_lut", "util_ff", "util_dsp", "interval_s"):
        assert float(out[3][key]) == pytest.approx(float(out[1][key]), rel=1e-6), key
