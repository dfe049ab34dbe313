"""Tensor / pipeline / data-parallel splits (hw_models.parallel) and their costs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models import interconnect as icx
from lepton_codesign.hw_models.parallel import (
    Parallelism,
    bubble_fraction,
    pipeline_time_s,
    rebatch,
    stage_fractions,
    tensor_split,
)
from lepton_codesign.hw_models.schema import SpecError
from tests.llm.toy import LLAMA2_70B, TOY, toy_llm

H100 = hw.preset("h100-sxm")


@pytest.mark.parametrize("kw", [{"tp": 0}, {"pp": -1}, {"dp": True}, {"microbatches": 1.5}])
def test_parallelism_refuses_bad_values_by_name(kw):
    with pytest.raises(SpecError, match=f"Parallelism.{next(iter(kw))}"):
        Parallelism(**kw)


def test_tp_must_divide_heads_and_kv_heads_or_says_why():
    llm = toy_llm(shape=LLAMA2_70B, context=16)  # 64 heads, 8 KV heads
    with pytest.raises(SpecError, match=r"tp: 16 does not divide.*n_kv_heads=8.*\[1, 2, 4, 8\]"):
        Parallelism(tp=16).check(llm)
    with pytest.raises(SpecError, match="tp: 3"):
        Parallelism(tp=3).check(llm)
    Parallelism(tp=8).check(llm)


def test_pp_and_microbatches_limits():
    llm = toy_llm(batch=6)  # 4 layers
    with pytest.raises(SpecError, match=r"pp: 5 stages for 4 layers; allowed: 1..4"):
        Parallelism(pp=5).check(llm)
    with pytest.raises(SpecError,
                       match=r"microbatches: 4 does not divide the batch 6.*\[1, 2, 3, 6\]"):
        Parallelism(microbatches=4).check(llm)
    assert Parallelism(tp=2, pp=4, dp=3).devices == 24


def test_bubble_formula():
    assert bubble_fraction(1, 1) == 0.0
    assert bubble_fraction(4, 1) == 3 / 4
    assert bubble_fraction(4, 4) == 3 / 7
    assert bubble_fraction(8, 24) == 7 / 31
    b = [bubble_fraction(4, m) for m in (1, 2, 4, 8, 64)]
    assert all(x > y for x, y in zip(b, b[1:], strict=False)) and b[-1] < 0.05


def test_pipeline_time_and_bubble_agree():
    # useful work m * t out of (m + p - 1) * t: idle share = the bubble
    for p, m in [(2, 1), (4, 4), (8, 3)]:
        total = pipeline_time_s(1.0, 0.0, p, m)
        assert math.isclose(1 - m / total, bubble_fraction(p, m))
    assert pipeline_time_s(2.0, 0.5, 1, 1) == 2.0  # one stage: no sends


def test_tensor_split_by_role():
    wl = hw.make_workload([
        {"name": "c", "m": 4, "k": 64, "n": 128},
        {"name": "r", "m": 4, "k": 128, "n": 64},
        {"name": "h", "m": 2, "k": 16, "n": 32, "groups": 8, "kind": "matmul"},
        {"name": "x", "m": 4, "k": 64, "n": 64},
    ])
    d = tensor_split(wl, ("column", "row", "heads", "replicated"), 4)
    assert np.asarray(d.n).tolist() == [32, 64, 32, 64]
    assert np.asarray(d.k).tolist() == [64, 32, 16, 64]
    assert np.asarray(d.groups).tolist() == [1, 1, 2, 1]
    assert np.asarray(d.weight_elems).tolist() == [64 * 32, 32 * 64, 16 * 32 * 2, 64 * 64]
    # MACs of split layers divide by tp exactly; replicated ones do not
    ratio = np.asarray(wl.macs) / np.asarray(d.macs)
    assert ratio.tolist() == [4, 4, 4, 1]


def test_ops_split_after_column_and_heads_layers_only():
    llm = toy_llm(batch=2)
    d = tensor_split(llm.workload, llm.tp_roles, 2)
    kinds = llm.workload.ops.kinds
    ratio = np.asarray(llm.workload.ops.flops) / np.asarray(d.ops.flops)
    assert {k: r for k, r in zip(kinds, ratio, strict=True)} == {"softmax": 2.0, "norm": 1.0}


def test_rebatch_scales_activations_and_kv_not_weights():
    llm = toy_llm(batch=8, context=32)
    half = rebatch(llm.workload, 2)
    assert half.batch == 2
    has_w = np.asarray(llm.workload.has_weights)
    r = np.asarray(half.weight_elems) / np.asarray(llm.workload.weight_elems)
    assert np.all(r[has_w] == 1.0) and np.all(r[~has_w] == 0.25)  # KV is per sequence
    np.testing.assert_allclose(np.asarray(half.macs) * 4, np.asarray(llm.workload.macs))
    np.testing.assert_allclose(np.asarray(half.ops.flops) * 4,
                               np.asarray(llm.workload.ops.flops))


def test_stage_fractions_blocks_and_head():
    llm = toy_llm()  # 4 blocks of 9 layers + lm_head
    f = stage_fractions(llm, 3)  # ceil(4/3) = 2 blocks on the busiest stage
    assert f[:-1].tolist() == [0.5] * 36 and f[-1] == 1.0
    assert stage_fractions(llm, 1).tolist() == [1.0] * 37


def test_data_parallel_multiplies_throughput_and_devices():
    llm = toy_llm(batch=4)
    one = hw.evaluate_llm(llm, H100)
    two = hw.evaluate_llm(llm, H100, parallel=Parallelism(dp=2))
    assert two.devices == 2
    assert math.isclose(float(two.tokens_per_s), 2 * float(one.tokens_per_s), rel_tol=1e-6)
    for f in ("latency_s", "tokens_per_s_per_device", "usd_per_1m_tokens",
              "memory_per_device_bytes"):
        assert math.isclose(float(getattr(two, f)), float(getattr(one, f)), rel_tol=1e-6), f


def test_tensor_parallel_shares_memory_and_adds_all_reduces():
    llm = toy_llm(batch=4, context=256)
    r1 = hw.evaluate_llm(llm, H100)
    r4 = hw.evaluate_llm(llm, H100, parallel=Parallelism(tp=4))
    assert math.isclose(float(r4.kv_bytes_per_device), float(r1.kv_bytes_per_device) / 4,
                        rel_tol=1e-6)
    assert math.isclose(float(r4.weight_bytes_per_device),
                        float(r1.weight_bytes_per_device) / 4, rel_tol=1e-6)
    # one all-reduce per row layer (2 per block) + the LM head's all-gather
    ic = icx.default_interconnect(H100)
    ar = icx.all_reduce_s(4 * TOY.d_model * 2, 4, ic)
    ag = icx.all_gather_s(4 * TOY.vocab * 2, 4, ic)
    assert math.isclose(float(r4.comm_s), float(2 * TOY.n_layers * ar + ag), rel_tol=1e-5)
    assert float(r1.comm_s) == 0.0


def test_pipeline_step_is_stages_plus_sends():
    llm = toy_llm(batch=4, context=64)
    par = Parallelism(pp=4, microbatches=2)
    r = hw.evaluate_llm(llm, H100, parallel=par, pp_interconnect="ib400")
    send = icx.send_s(2 * 1 * TOY.d_model * 2, icx.interconnect("ib400"), 4)
    assert math.isclose(float(r.bubble_fraction), 3 / 5, rel_tol=1e-6)
    assert math.isclose(float(r.latency_s), float(5 * r.stage_s + 3 * send), rel_tol=1e-5)
    # a stage holds 1 of 4 blocks (+ the head): less memory than the whole model
    whole = hw.evaluate_llm(llm, H100)
    assert float(r.kv_bytes_per_device) == pytest.approx(float(whole.kv_bytes_per_device) / 4)
    assert float(r.weight_bytes_per_device) < float(whole.weight_bytes_per_device)
