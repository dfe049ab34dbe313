"""Fake quantisation with a learned range and a differentiable bit-width.

A tensor ``x`` is quantised with a symmetric, uniform grid (zero is exact):

* ``levels(b) = 2^(b-1) - 1`` for signed tensors (weights, signed inputs), or
  ``2^b - 1`` for non-negative ones (post-ReLU activations);
* ``step = range / levels(b)``; ``q(x) = step * round(clip(x, lo, range) / step)``.

``round`` uses the straight-through estimator; the range is learned as in LSQ
(Esser et al., ICLR 2020 [C]: learned step, gradient scaled by ``1/sqrt(numel *
levels)``), and the bit-width ``b`` is a continuous parameter rounded to an integer in
the forward pass with a straight-through gradient. Because ``step`` depends on ``b``,
``d loss / d b`` sees the rounding error a coarser grid would cause, and bit
regularisers / hardware costs push the other way (the range + bits parametrisation of
Uhlich et al., ICLR 2020 [C]).

Example:
    >>> import jax.numpy as jnp
    >>> fake_quant(jnp.array([0.26, -1.0, 3.0]), jnp.float32(1.0), 2.0).tolist()
    [0.0, -1.0, 1.0]
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

MIN_BITS, MAX_BITS = 2, 16  # 1-bit (binary) grids need a different quantiser: unsupported


def round_ste(x: jax.Array) -> jax.Array:
    """``round(x)`` forward, identity gradient."""
    return x + jax.lax.stop_gradient(jnp.round(x) - x)


def clip_ste(x: jax.Array, lo: float, hi: float) -> jax.Array:
    """``clip(x, lo, hi)`` forward, identity gradient (the trainer projects the param)."""
    return x + jax.lax.stop_gradient(jnp.clip(x, lo, hi) - x)


def grad_scale(x: jax.Array, scale: float | jax.Array) -> jax.Array:
    """Value of ``x``, gradient multiplied by ``scale`` (LSQ's gradient scaling)."""
    return x * scale + jax.lax.stop_gradient(x * (1.0 - scale))


def check_bit_range(bit_range: tuple[int, int]) -> tuple[int, int]:
    """Validate ``(min_bits, max_bits)``: integers with 2 <= min <= max <= 16."""
    try:
        lo, hi = (int(b) for b in bit_range)
    except (TypeError, ValueError) as err:
        raise ValueError(f"bit_range must be two integers, got {bit_range!r}") from err
    if lo != bit_range[0] or hi != bit_range[1]:
        raise ValueError(f"bit_range must be integers, got {bit_range!r}")
    if not MIN_BITS <= lo <= hi <= MAX_BITS:
        raise ValueError(f"bit_range must satisfy {MIN_BITS} <= min <= max <= {MAX_BITS}, "
                         f"got {bit_range!r}")
    return lo, hi


def effective_bits(bits: jax.Array, bit_range: tuple[int, int]) -> jax.Array:
    """Integer bit-width used in the forward pass: ``clip(round(bits))`` with STE."""
    return round_ste(clip_ste(bits, float(bit_range[0]), float(bit_range[1])))


def report_bits(bits, bit_range: tuple[int, int]) -> np.ndarray:
    """Rounded, clipped integer bits for reports (NumPy, no gradient)."""
    return np.clip(np.round(np.asarray(bits)), bit_range[0], bit_range[1]).astype(np.int32)


def levels(bits: jax.Array | float, signed: bool) -> jax.Array:
    """Number of positive grid points: ``2^(b-1) - 1`` signed, ``2^b - 1`` unsigned."""
    bits = jnp.asarray(bits, jnp.float32)
    return jnp.exp2(bits - 1.0) - 1.0 if signed else jnp.exp2(bits) - 1.0


def _lsq_scale(x_size: int, range_size: int, lv: jax.Array) -> jax.Array:
    """LSQ's gradient scale ``1/sqrt(numel_per_range x levels)`` (Esser et al. 2020)."""
    return 1.0 / jnp.sqrt((x_size / max(range_size, 1)) * lv)


def fake_quant(x: jax.Array, q_range: jax.Array, bits: jax.Array | float,
               signed: bool = True, lsq_scale: float | None = None) -> jax.Array:
    """Quantise ``x`` to ``bits`` on ``[-range, range]`` (or ``[0, range]``), STE round.

    One fused custom-VJP op: the forward pass is one elementwise pass, the backward
    pass (gradients of ``x``, the range and the bit-width) one elementwise pass plus
    one reduction, instead of the dozen small kernels autodiff of the composed
    expression produces (that overhead dominated compressed training steps on CPU).
    The gradients equal those of the reference ``fake_quant_reference``:

    * ``x``: straight-through inside the range, 0 where clipped;
    * range (LSQ): ``(round(c) - c) / levels`` inside, ``+-1`` where clipped (``0``
      below an unsigned grid), times the LSQ scale and ``sign(range)``;
    * bits: ``(c - round(c)) r / levels^2`` inside, times ``d levels / d bits``.

    Args:
        x: tensor to quantise.
        q_range: clipping range, broadcastable to ``x`` (per-channel ranges are
            ``(N,)`` for a ``(..., N)`` kernel). Its absolute value is used.
        bits: integer-valued bit-width (use ``effective_bits`` for a learned one).
        signed: symmetric signed grid; else ``[0, range]``.
        lsq_scale: LSQ gradient scale for the range; default ``1/sqrt(numel/len(range)
            * levels)``.

    Returns:
        The fake-quantised tensor (same shape and dtype as ``x``).
    """
    bits = jnp.asarray(bits, jnp.float32)
    q_range = jnp.asarray(q_range, x.dtype)
    return _fake_quant(x, q_range, bits, bool(signed),
                       None if lsq_scale is None else float(lsq_scale))


def _fq_parts(x, q_range, bits, signed):
    lv = levels(bits, signed)
    r = jnp.abs(q_range) + 1e-8
    codes = x * (lv / r)
    lo = -lv if signed else jnp.zeros_like(lv)
    return lv, r, codes, lo


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _fake_quant(x, q_range, bits, signed, lsq_scale):
    lv, r, codes, lo = _fq_parts(x, q_range, bits, signed)
    return (jnp.round(jnp.clip(codes, lo, lv)) * (r / lv)).astype(x.dtype)


def _fake_quant_fwd(x, q_range, bits, signed, lsq_scale):
    return _fake_quant(x, q_range, bits, signed, lsq_scale), (x, q_range, bits)


def _fake_quant_bwd(signed, lsq_scale, res, g):
    x, q_range, bits = res
    lv, r, codes, lo = _fq_parts(x, q_range, bits, signed)
    inside = (codes >= lo) & (codes <= lv)
    err = jnp.round(codes) - codes
    gx = jnp.where(inside, g, 0.0)
    # d out / d r: (round(c) - c) / lv inside, +1 above, -1 below (signed) / 0 (unsigned)
    above = jnp.where(codes > lv, 1.0, -1.0 if signed else 0.0)
    dr = g * jnp.where(inside, err / lv, above)
    # d out / d lv: (c - round(c)) r / lv^2 inside, 0 where clipped
    dlv = g * jnp.where(inside, -err * r / (lv * lv), 0.0)
    scale = (_lsq_scale(x.size, int(np.size(q_range)), lv) if lsq_scale is None
             else lsq_scale)
    red = tuple(range(x.ndim - q_range.ndim)) + tuple(
        i + x.ndim - q_range.ndim for i, d in enumerate(q_range.shape) if d == 1)
    # both reductions in one kernel (XLA:CPU does not fuse sibling reductions): the pair
    # as one complex number per element (per-channel ranges: faster on XLA:CPU than
    # reducing a stacked pair over the leading axes), or a reduction of the stacked
    # pair (per-tensor ranges, where the two are level)
    if q_range.size > 1:
        z = jnp.sum(jax.lax.complex(dr.astype(jnp.float32), dlv.astype(jnp.float32)),
                    axis=red)
        sums = (jnp.real(z), jnp.imag(z))
    else:
        sums = jnp.sum(jnp.stack([dr, dlv]), axis=tuple(a + 1 for a in red))
    g_range = sums[0].reshape(q_range.shape) * scale * jnp.sign(q_range)
    dlv_db = jnp.log(2.0) * (lv + 1.0)  # d(2^(b-1) - 1)/db and d(2^b - 1)/db
    g_bits = (jnp.sum(sums[1]) * dlv_db).reshape(bits.shape).astype(bits.dtype)
    return gx.astype(x.dtype), g_range.astype(q_range.dtype), g_bits


_fake_quant.defvjp(_fake_quant_fwd, _fake_quant_bwd)


def fake_quant_reference(x: jax.Array, q_range: jax.Array, bits: jax.Array | float,
                         signed: bool = True, lsq_scale: float | None = None) -> jax.Array:
    """``fake_quant`` written with autodiff (round / clip STE): the reference its
    custom VJP is tested against."""
    lv = levels(bits, signed)
    if lsq_scale is None:
        lsq_scale = jax.lax.stop_gradient(_lsq_scale(x.size, int(np.size(q_range)), lv))
    r = grad_scale(jnp.abs(q_range), lsq_scale) + 1e-8
    step = r / lv
    codes = x * (1.0 / step)
    lo = -lv if signed else jnp.zeros_like(lv)
    lo_c, hi_c = jax.lax.stop_gradient(lo), jax.lax.stop_gradient(lv)
    inner = round_ste(jnp.clip(codes, lo_c, hi_c)) * step
    low = -r if signed else jnp.zeros_like(r)
    return jnp.where(codes > hi_c, r, jnp.where(codes < lo_c, low, inner))


def quantize_int(x: jax.Array, q_range: jax.Array, bits: int, signed: bool = True
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and step sizes: ``x ~= codes * step`` (for export).

    Returns:
        ``(codes, step)``: ``codes`` as the smallest NumPy integer type that holds
        ``bits`` bits, ``step`` float32 with the shape of ``q_range``.

    Example:
        >>> codes, step = quantize_int(jnp.array([0.5, -1.0]), jnp.float32(1.0), 3)
        >>> codes.tolist(), round(float(step), 6)
        ([2, -3], 0.333333)
    """
    lv = float(levels(bits, signed))
    r = np.abs(np.asarray(q_range, np.float32)) + np.float32(1e-8)
    step = (r / np.float32(lv)).astype(np.float32)
    lo = -r if signed else np.zeros_like(r)
    codes = np.round(np.clip(np.asarray(x, np.float32), lo, r) / step)
    dtype = np.int8 if bits <= 8 else np.int16
    if not signed and bits <= 8:
        dtype = np.uint8
    elif not signed:
        dtype = np.uint16
    return codes.astype(dtype), step


def lsq_init_range(x: jax.Array, bits: float, signed: bool = True, axis=None) -> jax.Array:
    """LSQ initial range: ``step = 2 mean|x| / sqrt(levels)``, range = step x levels,
    capped at ``max|x|`` (reduced over ``axis``; ``None`` = all)."""
    lv = float(levels(bits, signed))
    mean_abs = jnp.mean(jnp.abs(x), axis=axis)
    max_abs = jnp.max(jnp.abs(x), axis=axis)
    r = jnp.minimum(2.0 * mean_abs * math.sqrt(lv), max_abs)
    return jnp.maximum(r, 1e-4)
