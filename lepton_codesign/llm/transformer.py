"""A decoder-only transformer (Llama-style) in Flax NNX, with a KV cache.

Pre-norm blocks of RMSNorm -> attention (RoPE, grouped-query) -> residual, RMSNorm ->
FFN (SwiGLU or plain GELU) -> residual; a final RMSNorm and an LM head (its own matrix
or the token embedding, tied). All linears are bias-free ``nnx.Linear`` modules, so
``lepton_codesign.compress`` can swap them for compressed ones.

Grouped-query attention never repeats the key / value heads: queries are reshaped to
``(batch, tokens, kv_heads, group, head_dim)`` and the score and value products are
``dot_general`` s with ``(batch, kv_heads)`` as batch dimensions, so each KV head is
read once per group of ``n_heads / n_kv_heads`` query heads, as GQA kernels do (Ainslie
et al. 2023, arXiv:2305.13245). The extracted workload shows the score product as
``m = tokens * group``, ``k = head_dim``, ``n = context`` per ``(batch, kv_head)``.

The cache is a list (one entry per layer) of ``(keys, values)`` arrays of shape
``(batch, length, kv_heads, head_dim)``. ``model(tokens, cache, pos)`` writes the new
tokens' keys and values at ``pos`` and attends to cache positions ``<= pos + i`` (a
static cache of fixed length, as in serving engines); without a cache the step attends
causally to its own tokens only and returns their keys and values as the cache.

Example:
    >>> import jax.numpy as jnp
    >>> from lepton_codesign.hw_models.llm_workload import LlmShape
    >>> s = LlmShape("toy", n_layers=2, d_model=32, n_heads=4, n_kv_heads=2, d_ff=64,
    ...              vocab=50)
    >>> lm = DecoderLM(s, rngs=nnx.Rngs(0))
    >>> logits, cache = lm(jnp.zeros((3, 5), jnp.int32))
    >>> logits.shape, cache[0][0].shape
    ((3, 5, 50), (3, 5, 2, 8))
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from lepton_codesign.hw_models.llm_workload import LlmShape

Cache = list[tuple[jax.Array, jax.Array]]


def _shape_only(key, shape, dtype=jnp.float32, *args, **kwargs) -> jax.ShapeDtypeStruct:
    """An initialiser that allocates nothing (for ``DecoderLM(abstract=True)``)."""
    del key, args, kwargs
    return jax.ShapeDtypeStruct(tuple(shape), dtype)


class RMSNorm(nnx.Module):
    """Root-mean-square norm with a learned gain (Zhang & Sennrich 2019, arXiv:1910.07467)."""

    def __init__(self, dim: int, eps: float = 1e-5, *, param_dtype=jnp.float32,
                 abstract: bool = False):
        make = jax.ShapeDtypeStruct if abstract else jnp.ones
        self.weight = nnx.Param(make((dim,), param_dtype))
        self.eps = eps

    def __call__(self, x: jax.Array) -> jax.Array:
        var = jnp.mean(jnp.square(x.astype(jnp.float32)), axis=-1, keepdims=True)
        return (x * jax.lax.rsqrt(var + self.eps)).astype(x.dtype) * self.weight[...]


def rope(x: jax.Array, pos, theta: float) -> jax.Array:
    """Rotary position embedding (Su et al. 2021, arXiv:2104.09864), half-split layout.

    The angles are computed in the program from an iota (no constant tables: a traced
    70B prefill would otherwise embed one per layer).

    Args:
        x: ``(batch, tokens, ..., head_dim)``; token ``i`` is at position ``pos + i``.
        pos: position of the first token (a Python int or a traced integer scalar).
        theta: the RoPE base (10000 for Llama 2, 500000 for Llama 3).
    """
    t, half = x.shape[1], x.shape[-1] // 2
    shape = (1, t) + (1,) * (x.ndim - 3) + (half,)
    off = pos if isinstance(pos, int) else jnp.asarray(pos).astype(jnp.float32)
    positions = jax.lax.broadcasted_iota(jnp.float32, shape, 1) + off
    freqs = theta ** (-jax.lax.broadcasted_iota(jnp.float32, shape, x.ndim - 1) / half)
    angles = positions * freqs
    cos, sin = jnp.cos(angles).astype(x.dtype), jnp.sin(angles).astype(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


class Attention(nnx.Module):
    """Multi-head / grouped-query / multi-query attention with RoPE and a KV cache."""

    def __init__(self, shape: LlmShape, rope_theta: float, kw: dict):
        d, hd = shape.d_model, shape.head_dim
        self.q_proj = nnx.Linear(d, shape.n_heads * hd, **kw)
        self.k_proj = nnx.Linear(d, shape.n_kv_heads * hd, **kw)
        self.v_proj = nnx.Linear(d, shape.n_kv_heads * hd, **kw)
        self.o_proj = nnx.Linear(shape.n_heads * hd, d, **kw)
        self.n_kv, self.head_dim = shape.n_kv_heads, hd
        self.group = shape.n_heads // shape.n_kv_heads
        self.rope_theta = rope_theta

    def __call__(self, x, cache: tuple | None, pos):
        b, t, _ = x.shape
        q = self.q_proj(x).reshape(b, t, self.n_kv, self.group, self.head_dim)
        k = self.k_proj(x).reshape(b, t, self.n_kv, self.head_dim)
        v = self.v_proj(x).reshape(b, t, self.n_kv, self.head_dim)
        q = rope(q, pos, self.rope_theta) * (self.head_dim ** -0.5)
        k = rope(k, pos, self.rope_theta)
        static = isinstance(pos, int)
        if cache is None:
            keys, values, start, masked = k, v, pos, t > 1
        else:
            ck, cv = cache
            if static and pos + t > ck.shape[1]:
                raise ValueError(f"pos={pos} + tokens={t} exceeds the cache length {ck.shape[1]}")
            keys = jax.lax.dynamic_update_slice(ck, k.astype(ck.dtype), (0, pos, 0, 0))
            values = jax.lax.dynamic_update_slice(cv, v.astype(cv.dtype), (0, pos, 0, 0))
            start, masked = 0, not static or ck.shape[1] - 1 > pos
        # scores: (b, t, kv, g, d) x (b, s, kv, d) -> (b, kv, t, g, s); batch dims (b, kv)
        scores = jax.lax.dot_general(q, keys.astype(q.dtype), (((4,), (3,)), ((0, 2), (0, 2))))
        if masked:  # some key is after some query: causal mask (from iotas, no constant)
            shp = (1, 1, t, 1, keys.shape[1])
            q_at = jax.lax.broadcasted_iota(jnp.int32, shp, 2) + pos
            k_at = jax.lax.broadcasted_iota(jnp.int32, shp, 4) + start
            scores = jnp.where(k_at <= q_at, scores, jnp.finfo(scores.dtype).min)
        probs = jax.nn.softmax(scores.astype(jnp.float32), axis=-1).astype(q.dtype)
        # values: (b, kv, t, g, s) x (b, s, kv, d) -> (b, kv, t, g, d)
        out = jax.lax.dot_general(probs, values.astype(q.dtype), (((4,), (1,)), ((0, 1), (0, 2))))
        out = out.transpose(0, 2, 1, 3, 4).reshape(b, t, -1)
        return self.o_proj(out), (keys, values)


class FeedForward(nnx.Module):
    """SwiGLU (``down(silu(gate(x)) * up(x))``, Shazeer 2020) or ``down(gelu(up(x)))``."""

    def __init__(self, shape: LlmShape, kw: dict):
        self.gate = nnx.Linear(shape.d_model, shape.d_ff, **kw) if shape.gated_ffn else None
        self.up = nnx.Linear(shape.d_model, shape.d_ff, **kw)
        self.down = nnx.Linear(shape.d_ff, shape.d_model, **kw)

    def __call__(self, x):
        if self.gate is not None:
            return self.down(nnx.silu(self.gate(x)) * self.up(x))
        return self.down(nnx.gelu(self.up(x)))


class Block(nnx.Module):
    """Pre-norm decoder block: ``x + attn(norm(x))``, then ``h + ffn(norm(h))``."""

    def __init__(self, shape: LlmShape, rope_theta: float, norm_eps: float, kw: dict):
        norm_kw = {"param_dtype": kw["param_dtype"], "abstract": "kernel_init" in kw}
        self.attn_norm = RMSNorm(shape.d_model, norm_eps, **norm_kw)
        self.attn = Attention(shape, rope_theta, kw)
        self.ffn_norm = RMSNorm(shape.d_model, norm_eps, **norm_kw)
        self.ffn = FeedForward(shape, kw)

    def __call__(self, x, cache, pos):
        a, cache = self.attn(self.attn_norm(x), cache, pos)
        h = x + a
        return h + self.ffn(self.ffn_norm(h)), cache


class DecoderLM(nnx.Module):
    """Decoder-only transformer language model of an ``LlmShape``.

    Args:
        shape: the model's shape (``lepton_codesign.llm.llm_config(name)``).
        rope_theta: RoPE base.
        norm_eps: RMSNorm epsilon.
        dtype: compute dtype of the linears (``None``: that of the inputs / params).
        param_dtype: parameter dtype.
        abstract: every parameter is a ``jax.ShapeDtypeStruct`` (no memory; the model
            can only be traced, e.g. by ``extract_workload``). Equivalent to building it
            under ``nnx.eval_shape``, whose cost grows with the square of the number of
            initialisers (26 s for Llama-2-70B on 2 cores; this: about 2 s).
        rngs: parameter initialisation.
    """

    def __init__(self, shape: LlmShape, *, rope_theta: float = 10000.0, norm_eps: float = 1e-5,
                 dtype=None, param_dtype=jnp.float32, abstract: bool = False,
                 rngs: nnx.Rngs):
        if not isinstance(shape, LlmShape):
            raise TypeError(f"shape: expected an LlmShape, got {type(shape).__name__}")
        if shape.head_dim % 2:
            raise ValueError(f"shape {shape.name!r}: head_dim={shape.head_dim} must be even "
                             "for RoPE")
        self.shape = shape
        kw = {"use_bias": False, "dtype": dtype, "param_dtype": param_dtype, "rngs": rngs}
        emb = {"dtype": dtype, "param_dtype": param_dtype, "rngs": rngs}
        if abstract:
            kw["kernel_init"] = emb["embedding_init"] = _shape_only
        self.embed = nnx.Embed(shape.vocab, shape.d_model, **emb)
        self.layers = nnx.List([Block(shape, rope_theta, norm_eps, kw)
                                for _ in range(shape.n_layers)])
        self.norm = RMSNorm(shape.d_model, norm_eps, param_dtype=param_dtype, abstract=abstract)
        self.lm_head = (None if shape.tied_embeddings
                        else nnx.Linear(shape.d_model, shape.vocab, **kw))

    def init_cache(self, batch: int, length: int, dtype=jnp.float32) -> Cache:
        """An all-zero cache of ``length`` positions for ``batch`` sequences."""
        s = self.shape
        kv = (batch, length, s.n_kv_heads, s.head_dim)
        return [(jnp.zeros(kv, dtype), jnp.zeros(kv, dtype)) for _ in range(s.n_layers)]

    def __call__(self, tokens: jax.Array, cache: Cache | None = None, pos: int = 0,
                 last_only: bool = False) -> tuple[jax.Array, Cache]:
        """One forward step: logits of the new tokens and the updated cache.

        Args:
            tokens: ``(batch, tokens)`` token ids (floats holding integers are cast).
            cache: ``None`` (attend causally within ``tokens``) or a per-layer list of
                ``(keys, values)`` of shape ``(batch, length, kv_heads, head_dim)``.
            pos: position of the first new token: a Python int (a decode at the end of
                the cache then skips the mask) or a traced integer scalar (one compiled
                decode step for every position; positions are not checked then).
            last_only: logits of the last token only (what serving needs after prefill).

        Returns:
            ``(logits, cache)``: logits ``(batch, tokens or 1, vocab)``; with a cache the
            updated cache, without one the new tokens' keys and values.
        """
        if cache is not None and len(cache) != self.shape.n_layers:
            raise ValueError(f"cache: {len(cache)} layers given, the model has "
                             f"{self.shape.n_layers}")
        if isinstance(pos, int | np.integer) and not isinstance(pos, bool):
            if pos < 0:
                raise ValueError(f"pos={pos!r}; allowed: an integer >= 0")
            pos = int(pos)
        elif not (hasattr(pos, "dtype") and jnp.issubdtype(pos.dtype, jnp.integer)
                  and jnp.ndim(pos) == 0):
            raise ValueError(f"pos={pos!r}; allowed: an integer >= 0 or an integer scalar array")
        if not jnp.issubdtype(tokens.dtype, jnp.integer):
            tokens = tokens.astype(jnp.int32)
        x = self.embed(tokens)
        new_cache = []
        for i, block in enumerate(self.layers):
            x, c = block(x, None if cache is None else cache[i], pos)
            new_cache.append(c)
        if last_only:
            x = x[:, -1:, :]
        x = self.norm(x)
        logits = self.embed.attend(x) if self.lm_head is None else self.lm_head(x)
        return logits, new_cache


class TokenLM(DecoderLM):
    """``DecoderLM`` for the trainer: ``model(tokens)`` returns per-token logits only.

    ``lepton_codesign.train`` takes ``(x, y)`` arrays with ``x`` cast to float32:
    tokens ``(batch, seq)`` (cast back to int32 here), labels ``(batch, seq)``; its
    cross-entropy and accuracy reduce over the last axis of ``(batch, seq, vocab)``.
    """

    def __call__(self, tokens: jax.Array) -> jax.Array:  # type: ignore[override]
        return super().__call__(tokens)[0]
