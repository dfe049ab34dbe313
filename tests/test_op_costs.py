"""Pricing of non-GEMM op groups (``hw_models.op_costs``), each term on its own."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models import op_costs
from lepton_codesign.hw_models.vector_ops import make_vector_ops


def _ops(**kw):
    return make_vector_ops([{"after": 0, **kw}])


def test_transcendentals_cost_more_slots_than_simple_ops():
    a = op_costs.op_work(_ops(flops=100))
    b = op_costs.op_work(_ops(transcendentals=100))
    assert float(b[0]) == pytest.approx(op_costs.TRANSCENDENTAL_OPS * float(a[0]))


def test_epilogue_writes_nothing_extra():
    r, w = op_costs.op_bytes(_ops(in_elems=10, out_elems=100, fused=1), 8.0)
    assert (float(r[0]), float(w[0])) == (10.0, 0.0)
    r, w = op_costs.op_bytes(_ops(in_elems=10, out_elems=100, fused=0), 16.0)
    assert (float(r[0]), float(w[0])) == (20.0, 200.0)


def test_epilogue_hides_behind_its_gemm():
    ops = make_vector_ops([{"after": 0, "fused": 1}, {"after": 0, "fused": 0}])
    got = op_costs.overlap_epilogue(ops, jnp.array([3.0, 3.0]), jnp.array([2.0]))
    np.testing.assert_allclose(got, [1.0, 3.0])


def test_roofline_takes_the_slower_of_compute_and_memory():
    assert float(op_costs.roofline_s(100.0, 0.0, 10.0, 1.0)) == 10.0
    assert float(op_costs.roofline_s(1.0, 50.0, 10.0, 1.0, fixed_s=2.0)) == 52.0


def test_asic_group_goes_off_chip_only_when_it_does_not_fit():
    spec = hw.AsicSpec(16, 16, ifmap_sram_bytes=1024.0, ofmap_sram_bytes=1024.0)
    small = op_costs.asic_op_costs(_ops(in_elems=100, out_elems=100), spec, 8.0, 16.0,
                                   jnp.zeros(1))
    big = op_costs.asic_op_costs(_ops(in_elems=4096, out_elems=4096), spec, 8.0, 16.0,
                                 jnp.zeros(1))
    assert float(small["dram_bytes"][0]) == 0.0 and float(small["dram_j"][0]) == 0.0
    assert float(big["dram_bytes"][0]) == 8192.0
    assert float(big["latency_s"][0]) == pytest.approx(
        8192.0 / float(spec.dram_bandwidth_bytes_per_s), rel=1e-6)  # memory-bound


@given(flops=st.floats(0, 1e9), transc=st.floats(0, 1e8), elems=st.floats(0, 1e8),
       bits=st.sampled_from([2.0, 4.0, 8.0, 16.0]), lanes=st.floats(1, 4096))
def test_asic_op_costs_are_finite_non_negative_and_monotone_in_bits(flops, transc, elems,
                                                                    bits, lanes):
    spec = hw.AsicSpec(32, 32)
    ops = _ops(flops=flops, transcendentals=transc, in_elems=elems, out_elems=elems)
    lo = op_costs.asic_op_costs(ops, spec, bits, lanes, jnp.zeros(1))
    hi = op_costs.asic_op_costs(ops, spec, 2 * bits, lanes, jnp.zeros(1))
    for key, v in lo.items():
        assert np.all(np.isfinite(v)) and np.all(np.asarray(v) >= 0), key
    e_lo = sum(float(lo[k][0]) for k in ("compute_j", "sram_j", "dram_j"))
    e_hi = sum(float(hi[k][0]) for k in ("compute_j", "sram_j", "dram_j"))
    assert e_lo <= e_hi * (1 + 1e-6)  # fewer bits never cost more energy


def _with_ops(groups, batch=1):
    wl = hw.gemm_workload([(batch, 64, 64), (batch, 64, 10)], batch=batch)
    import dataclasses
    return wl, dataclasses.replace(wl, ops=make_vector_ops(groups))


@pytest.mark.parametrize("preset", ["zcu104", "kv260", "alveo-u250"])
def test_fpga_ops_never_make_a_design_cheaper(preset):
    wl, wl_ops = _with_ops([{"after": 0, "fused": 1, "out_elems": 64, "flops": 64},
                            {"after": 1, "kind": "softmax", "in_elems": 10,
                             "out_elems": 10, "flops": 40, "transcendentals": 10}], batch=4)
    spec = hw.preset(preset)
    a, b = hw.evaluate(wl, spec), hw.evaluate(wl_ops, spec)
    assert float(b.total_latency_s) >= float(a.total_latency_s)
    assert float(b.total_energy_j) >= float(a.total_energy_j)
    assert float(b.extras["interval_s"]) >= float(a.extras["interval_s"]) * (1 - 1e-6)
    lat = np.asarray(b.extras["op_latency_s"])
    assert lat[0] == 0.0 and lat[1] > 0.0  # the epilogue is the layer's activation stage
    assert float(np.sum(b.latency_s)) == pytest.approx(float(b.total_latency_s), rel=1e-5)


@pytest.mark.parametrize("preset", ["kv260", "alveo-u55c"])  # overlay, dataflow
def test_fpga_runs_a_group_once_per_inference(preset):
    """A group's counts hold the whole batch (as ``extract_workload`` traces it): the
    batch's op time and energy grow with the batch, one inference's (the dataflow
    interval) does not. (They grew with its square before.)"""
    spec = hw.preset(preset)
    d, e, ival = {}, {}, {}
    for batch in (1, 8):
        groups = [{"after": 1, "kind": "pool", "in_elems": 4096 * batch,
                   "out_elems": 1024 * batch, "flops": 4096 * batch}]
        wl, wl_ops = _with_ops(groups, batch=batch)
        a, b = hw.evaluate(wl, spec), hw.evaluate(wl_ops, spec)
        d[batch] = float(b.total_latency_s) - float(a.total_latency_s)
        e[batch] = float(np.sum(b.extras["op_energy_j"]))
        ival[batch] = float(b.extras["interval_s"]) - float(a.extras["interval_s"])
    if int(spec.architecture) == 1:  # overlay: the group runs after its layer, per inference
        assert d[8] == pytest.approx(8 * d[1], rel=1e-3)
    else:  # dataflow: one more pipeline stage, filled once, then at the interval
        assert d[1] * (1 - 1e-3) <= d[8] <= 8 * d[1] * (1 + 1e-3)
    assert e[8] == pytest.approx(8 * e[1], rel=1e-5)
    assert ival[8] == pytest.approx(ival[1], rel=1e-3, abs=1e-12)


def test_gpu_unfused_group_is_a_kernel_and_an_epilogue_is_only_its_bytes():
    spec = hw.preset("h200")
    ops = make_vector_ops([{"after": 0, "fused": 1, "in_elems": 1000, "out_elems": 10**6,
                            "flops": 10**6},
                           {"after": 0, "fused": 0, "in_elems": 0, "out_elems": 0}])
    t = np.asarray(op_costs.gpu_op_costs(ops, spec, 16.0)["time_s"])
    bw = float(spec.mem_bandwidth_bytes_per_s * spec.bandwidth_efficiency)
    rate = float(spec.peak_fp32_flops) / 2.0
    assert t[0] == pytest.approx(max(2000.0 / bw, 1e6 / rate), rel=1e-5)
    assert t[1] == pytest.approx(float(spec.kernel_launch_s), rel=1e-6)  # empty kernel


@pytest.mark.parametrize("dtype_bits", [8.0, 16.0])
def test_gpu_ops_add_time_and_energy(dtype_bits):
    wl, wl_ops = _with_ops([{"after": 0, "kind": "norm", "in_elems": 4096,
                             "out_elems": 4096, "flops": 8 * 4096, "transcendentals": 64}],
                           batch=64)
    spec, cp = hw.preset("h200"), hw.dense_compression(2, bits=dtype_bits)
    a, b = hw.evaluate(wl, spec, cp), hw.evaluate(wl_ops, spec, cp)
    extra = float(b.extras["op_latency_s"][0])
    assert extra >= float(spec.kernel_launch_s)
    # at least the op kernel's time (the single-call warm-up term grows with busy time)
    assert float(b.total_latency_s) >= (float(a.total_latency_s) + extra) * (1 - 1e-5)
    assert float(b.total_energy_j) > float(a.total_energy_j)


def test_asic_ops_add_their_time_energy_and_per_group_extras():
    wl, wl_ops = _with_ops([{"after": 0, "fused": 1, "in_elems": 64, "out_elems": 64,
                             "flops": 128},
                            {"after": 1, "kind": "softmax", "in_elems": 10,
                             "out_elems": 10, "flops": 40, "transcendentals": 10}])
    spec = hw.AsicSpec(16, 16)
    a, b = hw.evaluate(wl, spec), hw.evaluate(wl_ops, spec)
    lat = np.asarray(b.extras["op_latency_s"])
    # softmax: (40 + 8 x 10) slots on 16 lanes at 1 GHz, on chip
    assert lat[1] == pytest.approx(120 / 16 / 1e9, rel=1e-5)
    assert float(b.total_latency_s) == pytest.approx(
        float(a.total_latency_s) + float(np.sum(lat)), rel=1e-5)
    assert float(b.total_energy_j) > float(a.total_energy_j)
    more = hw.evaluate(wl_ops, spec.replace(vector_lanes=64.0))
    assert float(more.extras["op_latency_s"][1]) == pytest.approx(lat[1] / 4, rel=1e-5)


def test_asic_vector_lanes_rule():
    with pytest.raises(hw.SpecError, match="vector_lanes"):
        hw.AsicSpec(16, 16, vector_lanes=-1.0)
