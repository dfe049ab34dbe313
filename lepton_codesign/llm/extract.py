"""``extract_llm``: one prefill or decode step of a named transformer as an ``LlmWorkload``.

Nothing is materialised: the model is built abstract (``DecoderLM(abstract=True)``:
parameters are ``jax.ShapeDtypeStruct`` s, as ``nnx.eval_shape`` would give, without its
cost) and traced by ``lepton_codesign.extract_workload`` on
abstract tokens and an abstract KV cache, so the GEMMs *and* the non-GEMM op groups
(RMSNorm, RoPE, softmax, SiLU x up, residual adds, cache writes) come from the trace.
Llama-2-70B decode is extracted in seconds with no weights in memory.

* **prefill** (``tokens = prompt_len``): attention of the prompt to itself (causal); with
  ``context > prompt_len`` the prompt is a chunk appended to a cache of ``context``
  positions (chunked prefill). Only the last token's logits are computed, as serving
  engines do for the first output token.
* **decode** (``tokens = 1``): the new token attends to a KV cache of ``context``
  positions (itself included). The score product is ``m = group`` (query heads per KV
  head), ``k = head_dim``, ``n = context``, ``groups = batch * kv_heads``; its
  ``weight_elems`` is the K cache read (``batch * context * kv_heads * head_dim``), and the
  value product's the V cache read.

Tensor-parallel roles (``hw_models.llm_workload.TP_ROLES``) come from each layer's
parameter path: Q/K/V, gate/up and the LM head are ``column``, the attention output and
FFN down projections ``row``, attention products ``heads``.

Example:
    >>> wl = extract_llm("tiny", "decode", batch=2, context=16)
    >>> wl.tokens, wl.kv_cache_elems, wl.tp_roles[:4]
    (1, 4096, ('column', 'column', 'column', 'heads'))
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from lepton_codesign.hw_models.llm_workload import PHASES, LlmShape, LlmWorkload
from lepton_codesign.llm.configs import llm_config, llm_rope_theta
from lepton_codesign.llm.transformer import DecoderLM

_COLUMN = ("q_proj", "k_proj", "v_proj", "gate", "up", "lm_head", "embed")
_ROW = ("o_proj", "down")


class _Step(DecoderLM):
    """``DecoderLM`` whose call is one serving step at a fixed position (for tracing)."""

    def __init__(self, shape: LlmShape, pos: int, last_only: bool, **kw):
        super().__init__(shape, **kw)
        self.pos, self.last_only = pos, last_only

    def __call__(self, tokens, cache=None):  # type: ignore[override]
        return super().__call__(tokens, cache, self.pos, self.last_only)


def tp_role(name: str, kind: str) -> str:
    """Tensor-parallel role of a workload layer from its name and kind.

    Example:
        >>> tp_role("layers/3/ffn/down", "dense"), tp_role("layers/3/attn/matmul7", "matmul")
        ('row', 'heads')
    """
    if kind == "matmul":
        return "heads"
    leaf = name.split("#", 1)[0].rsplit("/", 1)[-1]
    if leaf in _COLUMN:
        return "column"
    if leaf in _ROW:
        return "row"
    return "replicated"


def _positive(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
        raise ValueError(f"extract_llm: {name}={v!r} is not allowed; allowed: an integer >= 1")
    return int(v)


def _resolve(shape_or_name) -> tuple[LlmShape, float]:
    if isinstance(shape_or_name, LlmShape):
        return shape_or_name, 10000.0
    if isinstance(shape_or_name, str):
        return llm_config(shape_or_name), llm_rope_theta(shape_or_name)
    raise ValueError(f"extract_llm: shape_or_name={shape_or_name!r}; allowed: an LlmShape or "
                     "a name from llm_config_names()")


def act_peak_elems(shape: LlmShape, batch: int, tokens: int, logits_tokens: int) -> int:
    """Largest activation live at once in a step (elements), fused attention assumed.

    The residual stream (``batch * tokens * d_model``) plus the widest layer's input and
    output: the FFN (normed input, gate and up outputs for a gated FFN, or the up
    output), the attention projections (input, Q, K, V) or the LM head. Attention
    scores are not counted: serving kernels (FlashAttention, Dao et al. 2022,
    arXiv:2205.14135; paged attention) keep them on chip. [D]

    Example:
        >>> act_peak_elems(llm_config("tiny"), 1, 4, 1)
        1536
    """
    bt, d = batch * tokens, shape.d_model
    kv = shape.n_kv_heads * shape.head_dim
    ffn = bt * (d + (2 if shape.gated_ffn else 1) * shape.d_ff)
    attn = bt * (2 * d + 2 * kv)
    head = batch * logits_tokens * (d + shape.vocab)
    return bt * d + max(ffn, attn, head)


def extract_llm(shape_or_name: LlmShape | str, phase: str, batch: int = 1, *,
                prompt_len: int | None = None, context: int | None = None,
                dtype=jnp.bfloat16) -> LlmWorkload:
    """One inference step of a decoder-only transformer, traced on abstract shapes.

    Args:
        shape_or_name: an ``LlmShape`` or a name from ``llm_config_names()``.
        phase: ``"prefill"`` or ``"decode"``.
        batch: sequences in the step.
        prompt_len: prefill tokens per sequence (required for ``"prefill"``).
        context: KV length per sequence, new tokens included: required for
            ``"decode"``; for ``"prefill"`` default ``prompt_len`` (larger: a chunk
            appended to a cache of that length).
        dtype: parameter / activation / cache dtype of the traced model (element counts
            do not depend on it; bytes are the costing side's business).

    Returns:
        An ``LlmWorkload``: the whole model's GEMMs and op groups for ``batch``
        sequences on one device, ``tp_roles``, ``weight_elems`` (every stored
        parameter), ``kv_cache_elems`` and ``act_peak_elems``.

    Raises:
        ValueError: an unknown phase or name, a missing or non-positive length, or
            ``context < prompt_len``.
    """
    shape, theta = _resolve(shape_or_name)
    if phase not in PHASES:
        raise ValueError(f"extract_llm: phase={phase!r}; allowed: {PHASES}")
    batch = _positive("batch", batch)
    if phase == "prefill":
        if prompt_len is None:
            raise ValueError("extract_llm: prompt_len is required for phase='prefill'")
        tokens = _positive("prompt_len", prompt_len)
        context = tokens if context is None else _positive("context", context)
        if context < tokens:
            raise ValueError(f"extract_llm: context={context} < prompt_len={tokens}; context "
                             "counts the prompt's own tokens")
    else:
        if context is None:
            raise ValueError("extract_llm: context (the KV length) is required for "
                             "phase='decode'")
        tokens, context = 1, _positive("context", context)
    with_cache = context > tokens or phase == "decode"
    pos = context - tokens if with_cache else 0
    model = _Step(shape, pos, True, rope_theta=theta, dtype=dtype, param_dtype=dtype,
                  abstract=True, rngs=nnx.Rngs(0))
    ids = jax.ShapeDtypeStruct((batch, tokens), jnp.int32)
    kv = jax.ShapeDtypeStruct((batch, context, shape.n_kv_heads, shape.head_dim), dtype)
    args = (ids, [(kv, kv)] * shape.n_layers) if with_cache else (ids,)

    from lepton_codesign.extract import extract_workload

    wl = extract_workload(model, *args, batch=batch)
    params = nnx.state(model, nnx.Param)
    weight_elems = sum(math.prod(p.shape) for p in jax.tree.leaves(params))
    kv_elems = 2 * shape.n_layers * math.prod(kv.shape)
    return LlmWorkload(
        workload=wl, shape=shape, phase=phase, batch=batch, tokens=tokens, context=context,
        tp_roles=tuple(tp_role(n, k) for n, k in zip(wl.names, wl.kinds, strict=True)),
        weight_elems=int(weight_elems), kv_cache_elems=int(kv_elems),
        act_peak_elems=act_peak_elems(shape, batch, tokens, 1))
