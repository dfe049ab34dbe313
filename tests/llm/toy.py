"""Hand-written Llama-style ``LlmWorkload`` builder for the LLM costing tests (no flax).

Per decoder block ``blocks/<i>/``: Q, K, V projections (``column``), attention scores
and values (``heads``: ``groups = batch x kv_heads``, the ``n_heads / kv_heads`` query
heads of a group in ``m``, so the KV cache is one operand read once), the output
projection (``row``), gate / up (``column``) and down (``row``); then the LM head
(``column``). A softmax op group follows the scores and a norm follows each ``row``.
``fold=f`` writes ``n_layers / f`` blocks whose rows repeat ``f`` times in ``groups`` (what
``extract_workload`` gives for a ``scan``): Llama-2-70B with ``fold=20`` has the 37 rows
of a 4-block model, so the eager kernels compiled for one serve the other.
"""

from __future__ import annotations

from lepton_codesign.hw_models.llm_workload import LlmShape, LlmWorkload
from lepton_codesign.hw_models.vector_ops import make_vector_ops
from lepton_codesign.hw_models.workload import make_workload

LLAMA2_70B = LlmShape("llama2-70b", n_layers=80, d_model=8192, n_heads=64, n_kv_heads=8,
                      d_ff=28672, vocab=32000)
LLAMA2_7B = LlmShape("llama2-7b", n_layers=32, d_model=4096, n_heads=32, n_kv_heads=32,
                     d_ff=11008, vocab=32000)
# Llama-2-7B widths, 4 blocks: 37 workload rows like TOY (the eager kernels compile once)
WIDE = LlmShape("llama2-7b-4l", n_layers=4, d_model=4096, n_heads=32, n_kv_heads=32,
                d_ff=11008, vocab=32000)
TOY = LlmShape("toy", n_layers=4, d_model=256, n_heads=8, n_kv_heads=4, d_ff=512,
               vocab=1024)


def toy_llm(phase: str = "decode", batch: int = 1, context: int = 128, prompt: int = 64,
            shape: LlmShape = TOY, fold: int = 1) -> LlmWorkload:
    """One ``phase`` step of ``shape`` for ``batch`` sequences (decode: 1 new token with
    ``context`` cached; prefill: ``prompt`` tokens)."""
    s = shape
    T = 1 if phase == "decode" else prompt
    C = context if phase == "decode" else prompt
    B, d, H, Hk, hd, F = batch, s.d_model, s.n_heads, s.n_kv_heads, s.head_dim, s.d_ff
    q = H // Hk
    layers, roles, ops = [], [], []
    R = fold  # repeats folded into groups
    assert s.n_layers % fold == 0

    def dense(name, k, n, role, r=R):
        layers.append({"name": name, "m": B * T, "k": k, "n": n, "groups": r})
        roles.append(role)

    for i in range(s.n_layers // fold):
        p = f"blocks/{i}/"
        dense(p + "attn/q", d, H * hd, "column")
        dense(p + "attn/k", d, Hk * hd, "column")
        dense(p + "attn/v", d, Hk * hd, "column")
        layers.append({"name": p + "attn/matmul0", "kind": "matmul", "m": q * T, "k": hd,
                       "n": C, "groups": B * Hk * R})
        roles.append("heads")
        ops.append({"name": p + "softmax", "kind": "softmax", "in_elems": B * H * T * C * R,
                    "out_elems": B * H * T * C * R, "flops": 4 * B * H * T * C * R,
                    "transcendentals": B * H * T * C * R, "after": len(layers) - 1})
        layers.append({"name": p + "attn/matmul1", "kind": "matmul", "m": q * T, "k": C,
                       "n": hd, "groups": B * Hk * R})
        roles.append("heads")
        dense(p + "attn/o", H * hd, d, "row")
        ops.append({"name": p + "norm1", "kind": "norm", "in_elems": 2 * B * T * d * R,
                    "out_elems": B * T * d * R, "flops": 4 * B * T * d * R,
                    "transcendentals": B * T * R, "after": len(layers) - 1})
        dense(p + "mlp/gate", d, F, "column")
        dense(p + "mlp/up", d, F, "column")
        dense(p + "mlp/down", F, d, "row")
    dense("lm_head", d, s.vocab, "column", 1)
    wl = make_workload(layers, batch=B, ops=make_vector_ops(ops))
    gemm_w = sum(int(x) for x, kd in zip(wl.weight_elems, wl.kinds, strict=True)
                 if kd != "matmul")
    return LlmWorkload(
        workload=wl, shape=s, phase=phase, batch=B, tokens=T, context=C,
        tp_roles=tuple(roles), weight_elems=gemm_w + s.vocab * d,
        kv_cache_elems=B * C * s.kv_elems_per_token,
        act_peak_elems=B * T * max(2 * F, H * C))
