"""``extract_llm``: abstract extraction, analytic MAC / parameter / KV counts, roles, ops."""

import json
import subprocess
import sys

import numpy as np
import pytest

from lepton_codesign.hw_models.llm_workload import LlmShape
from lepton_codesign.llm import extract_llm, llm_config, param_count
from lepton_codesign.llm.extract import tp_role


def _analytic_macs(s: LlmShape, batch: int, tokens: int, context: int) -> int:
    """Linear layers (head on the last token only) + scores + values (all of them)."""
    d, kv = s.d_model, s.n_kv_heads * s.head_dim
    linear = 2 * d * d + 2 * d * kv + (3 if s.gated_ffn else 2) * d * s.d_ff
    attn = 2 * s.n_heads * s.head_dim * tokens * context
    return batch * (s.n_layers * (tokens * linear + attn) + s.vocab * d)


@pytest.mark.parametrize("name", ["llama2-7b", "llama3-8b", "mistral-7b", "llama2-70b"])
def test_decode_counts_match_the_shape(name):
    s, b, L = llm_config(name), 4, 1000
    wl = extract_llm(name, "decode", batch=b, context=L)
    assert wl.tokens == 1 and wl.context == L and wl.batch == b == wl.workload.batch
    assert int(np.asarray(wl.workload.total_macs, np.float64)) == _analytic_macs(s, b, 1, L)
    assert wl.weight_elems == param_count(s)
    assert wl.kv_cache_elems == 2 * s.n_layers * b * L * s.n_kv_heads * s.head_dim
    rows = wl.workload.table()
    mm = [r for r in rows if r["kind"] == "matmul"]
    assert len(mm) == 2 * s.n_layers
    g = s.n_heads // s.n_kv_heads
    for scores, values in zip(mm[::2], mm[1::2], strict=True):
        # (tokens * group) x head_dim x L per (batch, KV head); K / V read once each
        assert (scores["m"], scores["k"], scores["n"], scores["groups"]) == (
            g, s.head_dim, L, b * s.n_kv_heads)
        assert (values["m"], values["k"], values["n"]) == (g, L, s.head_dim)
        for r in (scores, values):
            assert r["weight_elems"] == b * L * s.n_kv_heads * s.head_dim
    # the KV tensors read by the matmuls are exactly the cache
    assert sum(r["weight_elems"] for r in mm) == wl.kv_cache_elems


def test_prefill_counts_and_chunked_prefill():
    s = llm_config("llama3-8b")
    wl = extract_llm(s, "prefill", batch=2, prompt_len=64)
    assert (wl.tokens, wl.context) == (64, 64)
    assert int(np.asarray(wl.workload.total_macs, np.float64)) == _analytic_macs(s, 2, 64, 64)
    head = wl.workload.table()[-1]
    assert head["name"] == "lm_head" and head["m"] == 2  # first output token's logits only
    chunk = extract_llm(s, "prefill", batch=2, prompt_len=64, context=192)
    assert int(np.asarray(chunk.workload.total_macs, np.float64)) == _analytic_macs(
        s, 2, 64, 192)
    assert chunk.kv_cache_elems == 3 * wl.kv_cache_elems
    assert wl.act_peak_elems == 2 * 64 * (s.d_model + s.d_model + 2 * s.d_ff)


def test_tensor_parallel_roles():
    s = llm_config("tiny")
    wl = extract_llm("tiny", "decode", context=8)
    per_block = ("column", "column", "column", "heads", "heads", "row", "column", "column",
                 "row")
    assert wl.tp_roles == per_block * s.n_layers + ("column",)
    assert tp_role("norm", "dense") == "replicated"
    tied = LlmShape("t", 1, 32, 4, 4, 64, 50, gated_ffn=False, tied_embeddings=True)
    wt = extract_llm(tied, "decode", context=8)
    assert wt.workload.names[-1] == "embed" and wt.tp_roles[-1] == "column"
    assert wt.tp_roles[-3:-1] == ("column", "row")  # up, down
    assert wt.weight_elems == param_count(tied)


def test_non_gemm_ops_come_from_the_trace():
    s, b, L = llm_config("tiny"), 2, 16
    wl = extract_llm("tiny", "decode", batch=b, context=L)
    ops = wl.workload.ops
    kinds = set(ops.kinds)
    assert {"norm", "softmax", "elementwise"} <= kinds
    tab = ops.table()
    silu = [r for r in tab if r["name"].endswith("ffn/gate/elementwise")]
    assert len(silu) == s.n_layers and all(r["transcendentals"] == b * s.d_ff for r in silu)
    # the embedding lookup reads its rows, not the table; cache writes touch the new token
    first = tab[0]
    assert first["after"] == -1 and first["in_elems"] < 2 * b * s.d_model
    rope = [r for r in tab if r["name"].endswith("v_proj/elementwise")]
    assert rope and all(r["in_elems"] < 4 * b * s.d_model for r in rope)
    # prefill: the causal mask is an epilogue of the score product, softmax over P keys
    pre = extract_llm("tiny", "prefill", batch=1, prompt_len=8)
    soft = [r for r in pre.workload.ops.table() if r["kind"] == "softmax"]
    assert soft and max(r["in_elems"] for r in soft) >= s.n_heads * 8 * 8


@pytest.mark.parametrize("kwargs, match", [
    ({"phase": "train"}, "phase='train'"),
    ({"phase": "prefill"}, "prompt_len is required"),
    ({"phase": "decode"}, "context"),
    ({"phase": "decode", "context": 0}, "context=0"),
    ({"phase": "decode", "context": 8, "batch": 0}, "batch=0"),
    ({"phase": "prefill", "prompt_len": 8, "context": 4}, "context=4 < prompt_len=8"),
    ({"phase": "decode", "context": 8, "shape_or_name": "lama2-7b"}, "did you mean"),
    ({"phase": "decode", "context": 8, "shape_or_name": 3}, "LlmShape"),
])
def test_bad_arguments(kwargs, match):
    kwargs = {"shape_or_name": "tiny", **kwargs}
    with pytest.raises(ValueError, match=match):
        extract_llm(**kwargs)


_PROBE = """
import json, resource, time
t0 = time.perf_counter()
from lepton_codesign.llm import extract_llm
t1 = time.perf_counter()
wl = extract_llm("llama2-70b", "decode", batch=8, context=4096)
t2 = time.perf_counter()
# VmHWM: this program's peak resident memory. ru_maxrss would also count the pytest
# parent's pages this child shared between fork and exec (GBs late in a suite run).
try:
    hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")]
    peak_mb = int(hwm[0].split()[1]) / 1024
except (OSError, IndexError):
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"import_s": t1 - t0, "extract_s": t2 - t1, "layers": wl.workload.num_layers,
                  "weights": wl.weight_elems, "peak_rss_mb": peak_mb}))
"""


def test_llama2_70b_decode_is_extracted_fast_without_weights():
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                         timeout=120, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["weights"] == param_count(llm_config("llama2-70b"))  # 69.0e9 elements
    assert r["layers"] == 80 * 9 + 1
    assert r["extract_s"] < 30, r
    assert r["peak_rss_mb"] < 2048, r  # fp16 weights alone would be 138 GB


def test_abstract_build_equals_nnx_eval_shape():
    """``DecoderLM(abstract=True)`` is what ``nnx.eval_shape`` gives, only faster."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from lepton_codesign.extract import extract_workload
    from lepton_codesign.llm.extract import _Step

    s = llm_config("tiny")
    ref = nnx.eval_shape(lambda: _Step(s, 15, True, rngs=nnx.Rngs(0)))
    ids = jax.ShapeDtypeStruct((2, 1), jnp.int32)
    kv = jax.ShapeDtypeStruct((2, 16, s.n_kv_heads, s.head_dim), jnp.float32)
    wl_ref = extract_workload(ref, ids, [(kv, kv)] * s.n_layers)
    wl = extract_llm("tiny", "decode", batch=2, context=16, dtype=jnp.float32).workload
    assert wl.names == wl_ref.names and wl.ops.names == wl_ref.ops.names
    np.testing.assert_array_equal(wl.macs, wl_ref.macs)
    np.testing.assert_array_equal(wl.ops.in_elems, wl_ref.ops.in_elems)
