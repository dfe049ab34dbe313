"""evaluate_llm: phases, memory capacity, the decode bandwidth floor, LLM compression,
jit / vmap (hw_models.llm_costs)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models.costs import reason_name
from lepton_codesign.hw_models.gpu_spec import DTYPES
from lepton_codesign.hw_models.llm_workload import LlmShape
from lepton_codesign.hw_models.parallel import Parallelism
from lepton_codesign.hw_models.schema import SpecError
from tests.llm.toy import LLAMA2_70B, WIDE, toy_llm

H100 = hw.preset("h100-sxm")


def gemm_weight_elems(s: LlmShape) -> int:
    """Stored GEMM weights of the toy builder's Llama-style shape, by hand."""
    hd = s.head_dim
    block = (s.d_model * s.n_heads * hd + 2 * s.d_model * s.n_kv_heads * hd
             + s.n_heads * hd * s.d_model + 3 * s.d_model * s.d_ff)
    return s.n_layers * block + s.d_model * s.vocab


def test_llama2_70b_fp16_does_not_fit_one_80gb_gpu_but_fits_with_tp():
    llm = toy_llm("decode", batch=1, context=4096, shape=LLAMA2_70B, fold=20)
    one = hw.evaluate_llm(llm, H100)
    assert not bool(one.feasible)
    assert reason_name(one.infeasible_reason) == "memory-capacity"
    assert "exceed the device memory" in hw.costs.reason_text(one.infeasible_reason)
    assert float(one.memory_per_device_bytes) > 80e9 > float(one.memory_capacity_bytes) - 1
    assert all(np.isfinite(float(getattr(one, f))) for f in
               ("latency_s", "usd_per_1m_tokens", "energy_per_token_j", "tokens_per_s"))
    # ~69e9 parameters x 2 bytes
    assert 135e9 < float(one.weight_bytes_per_device) < 140e9
    for tp in (2, 4, 8):
        r = hw.evaluate_llm(llm, H100, parallel=Parallelism(tp=tp))
        assert bool(r.feasible), tp
        assert reason_name(r.infeasible_reason) == "none"


def test_kv_cache_capacity_by_hand():
    llm = toy_llm("decode", batch=8, context=2048, shape=WIDE)
    r = hw.evaluate_llm(llm, H100, kv_bits=8)
    # batch x context x layers x 2 (K, V) x kv_heads x head_dim x 1 byte
    assert float(r.kv_bytes_per_device) == pytest.approx(8 * 2048 * 4 * 2 * 32 * 128)
    r16 = hw.evaluate_llm(llm, H100)
    assert float(r16.kv_bytes_per_device) == pytest.approx(2 * float(r.kv_bytes_per_device))
    assert float(r.memory_per_device_bytes) < float(r16.memory_per_device_bytes)
    total = (r.weight_bytes_per_device + r.kv_bytes_per_device + r.act_bytes_per_device)
    assert float(r.memory_per_device_bytes) == pytest.approx(float(total))


def test_capacity_of_asic_and_fpga_cards():
    llm = toy_llm("decode", batch=1, context=1024, shape=WIDE)  # 1.9 GB of weights
    tpu = hw.evaluate_llm(llm, hw.preset("tpuv1-like"), compression="w8a8")  # 8 GiB
    assert bool(tpu.feasible) and float(tpu.memory_capacity_bytes) == 2.0 ** 33
    small = hw.evaluate_llm(llm, hw.preset("eyeriss-like"))  # 1 GiB
    assert reason_name(small.infeasible_reason) == "memory-capacity"
    derived = hw.AsicSpec(32, 32, dram_bandwidth_bytes_per_s=25.6e9)  # 4 DDR4 devices
    r = hw.evaluate_llm(toy_llm(), derived)
    assert float(r.memory_capacity_bytes) == 4 * 2.0 ** 30


SPECS = [hw.preset(n) for n in ("h100-sxm", "h200", "a100-sxm", "l4", "t4",
                                "tpuv1-like", "nvdla-like", "alveo-u55c")]


@settings(max_examples=12)
@given(spec_i=st.integers(0, len(SPECS) - 1), heads=st.sampled_from([(4, 4), (8, 2), (16, 2)]),
       d_head=st.sampled_from([32, 64, 128]),
       batch=st.sampled_from([1, 2, 8]), context=st.sampled_from([16, 300, 2048]),
       tp=st.sampled_from([1, 2]), scheme=st.sampled_from(["fp16", "w4a16", "w8a8"]),
       kv_bits=st.sampled_from([16, 8]))
def test_decode_never_beats_weights_plus_kv_over_bandwidth(spec_i, heads, d_head, batch,
                                                         context, tp, scheme, kv_bits):
    """Random shapes, batches, contexts, splits, schemes and devices (4 blocks: one
    layer count, so the eager kernels compile once per family)."""
    H, Hk = heads
    s = LlmShape("rand", n_layers=4, d_model=H * d_head, n_heads=H, n_kv_heads=Hk,
                 d_ff=3 * H * d_head, vocab=512)
    spec = SPECS[spec_i]
    r = hw.evaluate_llm(toy_llm("decode", batch, context, shape=s), spec,
                        parallel=Parallelism(tp=tp), compression=scheme, kv_bits=kv_bits)
    wbits = {"fp16": 16, "w4a16": 4, "w8a8": 8}[scheme]
    floor_bytes = (gemm_weight_elems(s) * wbits / 8
                   + batch * context * s.kv_elems_per_token * kv_bits / 8) / tp
    bw = getattr(spec, "mem_bandwidth_bytes_per_s", None) or spec.dram_bandwidth_bytes_per_s
    assert float(r.latency_s) >= floor_bytes / bw * (1 - 1e-5)
    assert float(r.floor_s) == pytest.approx(floor_bytes / bw, rel=1e-5)


@pytest.mark.parametrize("name", ["h100-sxm", "l4", "tpuv1-like"])
def test_device_models_themselves_respect_the_floor(name):
    """The memory floor is a guard: the GPU and ASIC models already read every weight
    and the whole KV cache, so it does not bind there."""
    llm = toy_llm("decode", batch=4, context=512, shape=WIDE)
    r = hw.evaluate_llm(llm, hw.preset(name), compression="w8a8")
    assert not bool(r.floor_bound)


def test_attention_is_charged_for_the_kv_read_on_every_family():
    for name in ("h100-sxm", "tpuv1-like", "alveo-u55c", "kv260"):  # FPGA dataflow + overlay
        spec = hw.preset(name)
        short = hw.evaluate_llm(toy_llm("decode", 4, 64, shape=WIDE), spec)
        long = hw.evaluate_llm(toy_llm("decode", 4, 4096, shape=WIDE), spec)
        kv_growth = 4 * (4096 - 64) * WIDE.kv_elems_per_token * 2  # bytes
        moved = float(jnp.sum(long.device_costs.dram_bytes)
                      - jnp.sum(short.device_costs.dram_bytes))
        assert moved >= kv_growth * (1 - 1e-4), name
        # each sequence's cache once, not the batch's once per sequence (a dataflow
        # FPGA streamed the whole batch's per inference: 4x here before the fix)
        assert moved <= kv_growth * 1.05, name
        assert float(long.latency_s) > float(short.latency_s), name


@pytest.mark.parametrize("style", ["rtl", "hls4ml"])
def test_fpga_dataflow_sizes_a_kv_layer_for_one_sequence(style):
    # an attention layer holds the batch in ``groups``: one inference has 1 / B of its
    # lanes, all of its rows. The KV layers' multipliers and reuse factor must not grow
    # with the batch (hls4ml style: 4x the lanes at batch 4 before the fix; rtl: 4x the
    # reported reuse factor), nor the design's resources
    from lepton_codesign.hw_models import fpga_pipeline as fp

    tiny = LlmShape("tiny", n_layers=1, d_model=32, n_heads=2, n_kv_heads=2, d_ff=64,
                    vocab=64)
    spec = hw.preset("alveo-u55c").replace(**fp.pipeline_style(style),
                                           target_interval_cycles=8.0)
    out = {}
    for batch in (1, 4):
        llm = toy_llm("decode", batch, 16, shape=tiny)
        ex = hw.evaluate_llm(llm, spec).device_costs.extras
        out[batch] = ex
    kv = np.array(["matmul" in n for n in toy_llm("decode", 1, 16, shape=tiny)
                   .workload.names])
    assert kv.any()
    for key in ("parallel_macs", "reuse_factor"):
        one, four = (np.asarray(out[b][key]).ravel() for b in (1, 4))
        np.testing.assert_allclose(four[kv], one[kv], rtol=1e-6, err_msg=key)
    for key in ("util_lut", "util_ff", "util_dsp"):
        assert float(out[4][key]) == pytest.approx(float(out[1][key]), rel=1e-6), key


def test_fpga_dataflow_never_unrolls_a_kv_cache_into_constants():
    # a model small enough that a dataflow design unrolls every weight layer into
    # constant multipliers: the KV cache changes every token, so its layers stay folded
    # and keep it in BRAM (before the fix it was "unrolled" at batch 1, with no BRAM)
    tiny = LlmShape("t", n_layers=1, d_model=8, n_heads=2, n_kv_heads=2, d_ff=16, vocab=16)
    llm = toy_llm("decode", 1, 4, shape=tiny)
    ex = hw.evaluate_llm(llm, hw.preset("alveo-u55c")).device_costs.extras
    kv = np.array(["matmul" in n for n in llm.workload.names])
    unrolled = np.asarray(ex["fully_unrolled"]).ravel().astype(bool)
    assert unrolled[~kv].all()  # the constant weights are unrolled ...
    assert not unrolled[kv].any()  # ... the cache is not
    assert float(ex["util_bram"]) > 0.0


def test_w4a16_decode_at_batch_1_is_faster_than_fp16_and_keeps_16_bit_compute():
    llm = toy_llm("decode", batch=1, context=1024, shape=WIDE)
    fp16 = hw.evaluate_llm(llm, H100)
    w4 = hw.evaluate_llm(llm, H100, compression="w4a16")
    w8 = hw.evaluate_llm(llm, H100, compression="w8a16")
    assert float(w4.latency_s) < float(w8.latency_s) < float(fp16.latency_s)
    assert float(w4.weight_bytes_per_device) < 0.35 * float(fp16.weight_bytes_per_device)
    dt = lambda r: {DTYPES[int(c)] for c in np.asarray(r.device_costs.extras["dtype"])}  # noqa: E731
    assert dt(w4) == dt(fp16) == {"bf16"}  # weight-only: the compute path stays 16-bit
    # w8a8 decode GEMVs are memory-bound: int8 GEMMs write int32, so the model runs them
    # in bf16 (16-bit outputs), never in fp8 (e4m3 holds 5-bit integers); compute-bound
    # prefill GEMMs run in int8
    assert dt(hw.evaluate_llm(llm, H100, compression="w8a8")) == {"bf16"}
    prefill = toy_llm("prefill", batch=8, context=1024, shape=WIDE)
    assert dt(hw.evaluate_llm(prefill, H100, compression="w8a8")) == {"int8", "bf16"}
    assert dt(hw.evaluate_llm(llm, H100, compression="fp8")) == {"fp8", "bf16"}


def test_fp8_and_sparsity_change_bytes_and_kernels():
    llm = toy_llm("decode", batch=8, context=512, shape=WIDE)
    fp16 = hw.evaluate_llm(llm, H100)
    fp8 = hw.evaluate_llm(llm, H100, compression="fp8")
    sp = hw.evaluate_llm(llm, H100, compression="fp16+2:4")
    assert float(fp8.latency_s) < float(fp16.latency_s)
    assert float(fp8.weight_bytes_per_device) < 0.6 * float(fp16.weight_bytes_per_device)
    # 2:4: half the values + 2-bit indices = 9/16 of the bytes, 2x sparse tensor cores
    gemm = gemm_weight_elems(WIDE)
    other = WIDE.vocab * WIDE.d_model * 2
    assert float(sp.weight_bytes_per_device) == pytest.approx(gemm * 2 * 9 / 16 + other)
    speed = np.asarray(sp.device_costs.extras["sparse_speedup"])
    assert speed.max() == 2.0 and speed.min() == 1.0  # attention (KV) is not sparse
    assert float(sp.latency_s) < float(fp16.latency_s)


def test_packed_weights_skip_only_the_per_call_8bit_layout_pass():
    # prefill of 4 x 256 rows (>= 512): XLA's 8-bit path re-lays-out the weights every call
    llm = toy_llm("prefill", batch=4, prompt=256, shape=WIDE)
    packed = hw.evaluate_llm(llm, H100, compression="fp8")
    per_call = hw.evaluate_llm(llm, H100, compression="fp8", packed_weights=False)
    bare = hw.evaluate_llm(llm, H100.replace(layout_pass_bytes_per_s=0.0), compression="fp8",
                           packed_weights=False)
    assert float(packed.latency_s) < float(per_call.latency_s)
    assert float(packed.latency_s) == pytest.approx(float(bare.latency_s), rel=1e-6)
    # 16-bit weights have no layout pass: the flag changes nothing
    a = hw.evaluate_llm(llm, H100)
    b = hw.evaluate_llm(llm, H100, packed_weights=False)
    assert float(a.latency_s) == float(b.latency_s)


def test_kv8_lowers_memory_and_long_context_decode_time():
    llm = toy_llm("decode", batch=16, context=4096, shape=WIDE)
    kv16 = hw.evaluate_llm(llm, H100)
    kv8 = hw.evaluate_llm(llm, H100, kv_bits=8)
    assert float(kv8.memory_per_device_bytes) < float(kv16.memory_per_device_bytes)
    assert float(kv8.latency_s) < float(kv16.latency_s)


def test_phase_metrics():
    pre = hw.evaluate_llm(toy_llm("prefill", batch=2, prompt=512, shape=WIDE), H100)
    dec = hw.evaluate_llm(toy_llm("decode", batch=2, context=512, shape=WIDE), H100)
    assert float(pre.ttft_s) > float(dec.tpot_s) > 0
    with pytest.raises(ValueError, match="decode result"):
        dec.ttft_s  # noqa: B018
    assert float(dec.tokens_per_s_per_request) == pytest.approx(1 / float(dec.tpot_s))
    assert float(pre.tokens_per_s_per_request) == pytest.approx(512 / float(pre.ttft_s))
    assert float(dec.tokens_per_s) == pytest.approx(2 / float(dec.tpot_s))
    # $ per 1M tokens: module capex amortised over 3 years at 50% + electricity
    life_s = 3 * 365.25 * 24 * 3600 * 0.5
    t_tok = float(dec.tpot_s) / 2
    usd = 1e6 * (27500 * t_tok / life_s + float(dec.energy_per_token_j) * 0.10 / 3.6e6)
    assert float(dec.usd_per_1m_tokens) == pytest.approx(usd, rel=1e-4)
    assert 0 < float(dec.energy_per_token_j) < 700 * float(dec.tpot_s)


def test_rented_gpus_pay_per_hour_for_every_device():
    llm = toy_llm("decode", batch=8, context=512, shape=WIDE)
    rent = H100.replace(pricing="rent")
    r = hw.evaluate_llm(llm, rent, parallel=Parallelism(tp=2))
    t_tok = float(r.tpot_s) / 8
    assert float(r.usd_per_1m_tokens) == pytest.approx(1e6 * 2 * 4.916 * t_tok / 3600, rel=1e-4)


def test_bad_inputs_say_what_is_allowed():
    llm = toy_llm()
    with pytest.raises(SpecError, match="did you mean 'w4a16'"):
        hw.evaluate_llm(llm, H100, compression="w4a61")
    with pytest.raises(SpecError, match=r"kv_bits: 0"):
        hw.evaluate_llm(llm, H100, kv_bits=0)
    with pytest.raises(SpecError, match="interconnect"):
        hw.evaluate_llm(llm, H100, parallel=Parallelism(tp=2), interconnect="nvlink9")


@pytest.mark.slow  # ~40 s on 2 shared cores: one jit and one vmap compile
def test_jit_matches_eager_and_vmap_matches_loop():
    one_block = LlmShape("one", n_layers=1, d_model=256, n_heads=8, n_kv_heads=4, d_ff=512,
                         vocab=1024)
    llm = toy_llm("decode", batch=2, context=128, shape=one_block)
    par = Parallelism(tp=2)
    eager = hw.evaluate_llm(llm, H100, parallel=par, compression="fp8")
    jitted = jax.jit(lambda s: hw.evaluate_llm(llm, s, parallel=par, compression="fp8"))(H100)
    for f in ("latency_s", "usd_per_1m_tokens", "energy_per_token_j",
              "memory_per_device_bytes", "infeasible_reason"):
        np.testing.assert_allclose(np.asarray(getattr(jitted, f)),
                                   np.asarray(getattr(eager, f)), rtol=2e-5, err_msg=f)
    specs = [H100, H100.replace(mem_bandwidth_bytes_per_s=1e12, mem_capacity_bytes=1e6),
             H100.replace(peak_bf16_flops=100e12, purchase_usd=5000.0)]
    stacked = jax.tree.map(lambda *x: jnp.stack([jnp.asarray(v, jnp.float32) for v in x]),
                           *specs)
    batch = jax.vmap(lambda s: hw.evaluate_llm(llm, s, parallel=par))(stacked)
    loop = [hw.evaluate_llm(llm, s, parallel=par) for s in specs]
    for f in ("latency_s", "usd_per_1m_tokens", "memory_per_device_bytes", "feasible"):
        np.testing.assert_allclose(np.asarray(getattr(batch, f)),
                                   [np.asarray(getattr(r, f)) for r in loop], rtol=2e-5,
                                   err_msg=f)
    assert np.asarray(batch.feasible).tolist() == [True, False, True]  # 1 MB of memory
