"""Weight masks: structures (unstructured, N:M, channel) and gates (hard-concrete, STE).

All functions are pure and work on kernels in *GEMM layout* ``(K, N)``: ``K`` is the
reduction dimension (inputs x kernel window), ``N`` the output channels. Layers reshape
their kernels to this layout (``to_gemm`` / ``from_gemm``) so one implementation serves
``nnx.Linear`` and ``nnx.Conv``.

Gates:

* **hard-concrete** (L0 relaxation, Louizos, Welling & Kingma, ICLR 2018 [C]): a
  stretched, clipped binary-concrete variable with ``gamma = -0.1``, ``zeta = 1.1``,
  ``beta = 2/3`` (the paper's constants). It has exact zeros and a closed-form
  probability of being non-zero (the expected L0 density).
* **sigmoid with straight-through** (Bengio et al. 2013): the forward value is a hard
  0/1 mask, the gradient is that of ``sigmoid((logit - threshold) / temperature)``.

Example:
    >>> import jax.numpy as jnp
    >>> m = nm_mask(jnp.arange(8.0).reshape(8, 1), 2, 4)
    >>> m[:, 0].tolist()
    [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

# Hard-concrete constants of Louizos et al., ICLR 2018, section 4 [C].
HC_GAMMA = -0.1
HC_ZETA = 1.1
HC_BETA = 2.0 / 3.0


def to_gemm(kernel: jax.Array) -> jax.Array:
    """Kernel ``(*window, in, out)`` (or ``(in, out)``) -> GEMM layout ``(K, N)``."""
    return kernel.reshape(-1, kernel.shape[-1])


def from_gemm(x: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Inverse of ``to_gemm``; ``(N,)`` channel vectors broadcast to the kernel shape."""
    if x.ndim == 1:
        return jnp.broadcast_to(x, shape)
    return x.reshape(shape)


def ste(hard: jax.Array, soft: jax.Array) -> jax.Array:
    """Value of ``hard``, gradient of ``soft`` (straight-through estimator)."""
    return soft + jax.lax.stop_gradient(hard - soft)


def sigmoid_ste(logits: jax.Array, threshold: jax.Array | float = 0.0,
                temperature: float = 1.0) -> jax.Array:
    """Hard gate ``logits >= threshold`` with the gradient of a sigmoid.

    The value is ``ste(hard, sigmoid((logits - threshold) / temperature))``; the
    sigmoid is only evaluated in the backward pass (custom VJP). The threshold gets
    no gradient.

    Example:
        >>> sigmoid_ste(jnp.array([-1.0, 2.0])).tolist()
        [0.0, 1.0]
    """
    return _sigmoid_ste(logits, jax.lax.stop_gradient(jnp.asarray(threshold, logits.dtype)),
                        float(temperature))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _sigmoid_ste(logits, threshold, temperature):
    return (logits >= threshold).astype(logits.dtype)


def _sigmoid_ste_fwd(logits, threshold, temperature):
    return _sigmoid_ste(logits, threshold, temperature), (logits, threshold)


def _sigmoid_ste_bwd(temperature, res, g):
    logits, threshold = res
    # sigmoid'(z) = s (1 - s) = (1 - tanh(z/2)^2) / 4: the same value, but XLA's
    # CPU tanh is a cheap rational approximation where the logistic costs an exp.
    t = jnp.tanh((logits - threshold) * (0.5 / temperature))
    return g * (0.25 / temperature) * (1.0 - t * t), jnp.zeros_like(threshold)


_sigmoid_ste.defvjp(_sigmoid_ste_fwd, _sigmoid_ste_bwd)


def hard_concrete_sample(log_alpha: jax.Array, key: jax.Array,
                         beta: float = HC_BETA) -> jax.Array:
    """Sample the hard-concrete gate (values in [0, 1] with exact zeros and ones).

    ``u ~ U(0,1)``, ``s = sigmoid((log u - log(1-u) + log_alpha) / beta)``,
    ``z = clip(s * (zeta - gamma) + gamma, 0, 1)`` (Louizos et al. 2018, eq. 10).
    """
    u = jax.random.uniform(key, log_alpha.shape, minval=1e-6, maxval=1.0 - 1e-6)
    s = jax.nn.sigmoid((jnp.log(u) - jnp.log1p(-u) + log_alpha) / beta)
    return jnp.clip(s * (HC_ZETA - HC_GAMMA) + HC_GAMMA, 0.0, 1.0)


def hard_concrete_mean(log_alpha: jax.Array) -> jax.Array:
    """Deterministic test-time gate ``clip(sigmoid(log_alpha) (zeta - gamma) + gamma)``."""
    return jnp.clip(jax.nn.sigmoid(log_alpha) * (HC_ZETA - HC_GAMMA) + HC_GAMMA, 0.0, 1.0)


def hard_concrete_density(log_alpha: jax.Array, beta: float = HC_BETA) -> jax.Array:
    """P(gate != 0) = sigmoid(log_alpha - beta log(-gamma / zeta)) (the expected L0)."""
    return jax.nn.sigmoid(log_alpha - beta * math.log(-HC_GAMMA / HC_ZETA))


@functools.partial(jax.jit, static_argnums=(1, 2))
def nm_mask(scores: jax.Array, n: int, m: int) -> jax.Array:
    """Keep the ``n`` largest scores in every group of ``m`` along ``K`` (axis 0).

    ``scores`` has GEMM layout ``(K, N)``. Groups are consecutive along ``K``; when
    ``K`` is not a multiple of ``m`` the last, partial group keeps ``min(n, size)``.
    Exactly ``n`` of every full group of ``m`` survive (ties broken by position).

    Example:
        >>> int(nm_mask(jnp.ones((8, 3)), 2, 4).sum())
        12
    """
    if not 0 < n <= m:
        raise ValueError(f"N:M needs 0 < N <= M, got N={n}, M={m}")
    k, cols = scores.shape
    groups = -(-k // m)
    pad = groups * m - k
    s = jnp.pad(scores.T, ((0, 0), (0, pad)), constant_values=-jnp.inf)
    s = s.reshape(cols, groups, m)
    _, idx = jax.lax.top_k(s, n)
    mask = jnp.sum(jax.nn.one_hot(idx, m, dtype=scores.dtype), axis=-2)
    mask = mask * jnp.isfinite(s).astype(scores.dtype)  # padded slots never count
    return mask.reshape(cols, groups * m)[:, :k].T


def nm_ste(logits: jax.Array, n: int, m: int, temperature: float = 1.0) -> jax.Array:
    """Learned N:M gate: hard top-``n`` of every ``m`` logits, sigmoid gradient."""
    return ste(nm_mask(jax.lax.stop_gradient(logits), n, m),
               jax.nn.sigmoid(logits / temperature))


def keep_count(size: int, density: jax.Array | float) -> jax.Array:
    """Number of elements kept at ``density`` (at least one)."""
    return jnp.clip(jnp.round(density * size), 1, size).astype(jnp.int32)


SELECT_SAMPLE = 512  # random sample for the first selection probes (kth_largest) [A]
_SELECT_OFFSETS = (-1.0, -0.3, 0.0, 0.3, 1.0)  # probe offsets, x the rank uncertainty [A]


def _count_all(*conds: jax.Array) -> jax.Array:
    """``[sum(c) for c in conds]`` for 1-D boolean arrays, in one pass (a variadic
    reduction: XLA:CPU runs it as one kernel, and faster than a single ``jnp.sum``)."""
    ops = tuple(c.astype(jnp.int32) for c in conds)
    out = jax.lax.reduce(ops, tuple(jnp.int32(0) for _ in ops),
                         lambda a, b: tuple(x + y for x, y in zip(a, b, strict=True)), (0,))
    return jnp.stack(out)


def _count_ge(flat: jax.Array, probes: jax.Array) -> jax.Array:
    """``[sum(flat >= q) for q in probes]`` in one pass."""
    return _count_all(*(flat >= probes[i] for i in range(probes.shape[0])))


@functools.partial(jax.jit, static_argnames=("iters",))
def kth_largest(scores: jax.Array, k: jax.Array | int, iters: int = 32) -> jax.Array:
    """The ``k``-th largest element of ``scores`` (exact; ``1 <= k <= size``).

    A selection by counting passes (no full sort: XLA's CPU sort costs ~50 counting
    passes at 10^5 elements). Each pass counts the elements above several probes at
    once. The first probes are quantiles of a fixed random sample of
    ``SELECT_SAMPLE`` elements; later ones sit at the linear interpolation of the
    rank inside the current bracket, at +-0.3 and +-1 times its rank uncertainty
    (sqrt of the elements left in the bracket), and halfway to each end of the
    bracket, so every pass at least halves the bracket. Typical inputs take 2-6
    passes where bisection takes ~20. The loop stops when a probe keeps exactly
    ``k`` elements; when two passes in a row leave the bracket's element count
    unchanged (ties at the answer, or two close elements), a check pass tests the
    smallest element in the bracket. The answer is always verified by a counting
    pass; a sort answers when the check fails (NaN or infinite scores, or ``iters``
    passes without an answer), so the result is always exact. Works under ``jit``
    with traced ``k``. On CPU, denormal scores compare as zero (flushed), as they do
    in the masks built from the threshold.

    Example:
        >>> float(kth_largest(jnp.array([3.0, 1.0, 2.0, 5.0]), 2))
        3.0
    """
    flat = scores.reshape(-1)
    n, dt = flat.size, flat.dtype
    k = jnp.clip(jnp.asarray(k, jnp.int32), 1, n)
    kf = k.astype(dt)
    lo, hi = jnp.min(flat), jnp.max(flat)
    m = min(SELECT_SAMPLE, n)
    sample = jnp.sort(flat[jax.random.randint(jax.random.key(0), (m,), 0, n)])
    p = 1.0 - kf / n  # quantile of the answer, counted from the bottom
    sigma = jnp.sqrt(m * p * (1.0 - p)) + 1.0
    ranks = jnp.floor(p * m + jnp.asarray((-2.0, -0.5, 0.5, 2.0), dt) * sigma)
    # the probes are materialised once (optimization_barrier): XLA would otherwise
    # recompute them inside the counting kernel and for the stored bracket, and the
    # two copies can round differently, pairing a bound with another bound's count
    probes = jax.lax.optimization_barrier(
        jnp.concatenate([sample[jnp.clip(ranks, 0, m - 1).astype(jnp.int32)], hi[None]]))

    def narrow(probes, counts, lo, c_lo, hi, c_hi):
        # invariant: count(>= lo) = c_lo >= k > c_hi = count(>= hi), or lo = hi = answer
        above = (counts >= k) & (probes > lo)
        below = (counts < k) & (probes < hi)
        i_lo = jnp.argmax(jnp.where(above, probes, -jnp.inf))
        i_hi = jnp.argmin(jnp.where(below, probes, jnp.inf))
        a, b = above.any(), below.any()
        return (jnp.where(a, probes[i_lo], lo), jnp.where(a, counts[i_lo], c_lo),
                jnp.where(b, probes[i_hi], hi), jnp.where(b, counts[i_hi], c_hi))

    counts = _count_ge(flat, probes)
    c_max = counts[-1]  # count(>= max): the max is the last probe
    # count(>= max) >= k: lo becomes the max (the answer), the loop does not start
    lo, c_lo, hi, c_hi = narrow(probes, counts, lo, jnp.int32(n), hi, c_max)

    def snap(lo):  # smallest element >= lo: the answer if none lies in [lo, answer)
        return jnp.min(jnp.where(flat >= lo, flat, jnp.inf))

    def is_answer(t):  # count(>= t) >= k > count(> t), in one pass
        ge, gt = _count_all(flat >= t, flat > t)
        return (ge >= k) & (gt < k)

    def probe(carry):
        i, lo, c_lo, hi, c_hi, stall, t, done = carry
        left = (c_lo - c_hi).astype(dt)
        guess = lo + (hi - lo) * ((c_lo - k).astype(dt) / left)
        spread = (jnp.sqrt(left) + 1.0) * (hi - lo) / left
        probes = jax.lax.optimization_barrier(jnp.concatenate([
            jnp.stack([0.5 * (lo + guess), 0.5 * (guess + hi)]),
            jnp.clip(guess + jnp.asarray(_SELECT_OFFSETS, dt) * spread, lo, hi)]))
        lo, c_lo2, hi, c_hi2 = narrow(probes, _count_ge(flat, probes), lo, c_lo, hi, c_hi)
        same = (c_lo2 - c_hi2) == (c_lo - c_hi)
        return i + 1, lo, c_lo2, hi, c_hi2, jnp.where(same, stall + 1, 0), t, done

    def check(carry):  # the bracket stopped losing elements: ties at the answer?
        i, lo, c_lo, hi, c_hi, _, _, _ = carry
        t = snap(lo)
        return i + 1, lo, c_lo, hi, c_hi, jnp.int32(0), t, is_answer(t)

    def cond(carry):
        i, lo, c_lo, hi, _, _, _, done = carry
        return (i < iters) & ~done & (c_lo != k) & (hi > lo)

    def body(carry):
        return jax.lax.cond(carry[5] >= 2, check, probe, carry)

    _, lo, _, _, _, _, t, done = jax.lax.while_loop(
        cond, body, (jnp.int32(1), lo, c_lo, hi, c_hi, jnp.int32(0), lo, jnp.bool_(False)))

    def finish():  # verified, not trusted: NaN / inf inputs end up in the sort
        t = snap(lo)
        return jax.lax.cond(is_answer(t), lambda: t, lambda: jnp.sort(flat)[n - k])

    return jax.lax.cond(done, lambda: t, finish)


def density_threshold(scores: jax.Array, density: jax.Array | float) -> jax.Array:
    """Score threshold keeping the top ``density`` fraction (``scores >= t``).

    ``t`` is the ``keep_count``-th largest score (``kth_largest``), so the kept count
    is exact whenever it is not split by tied scores (ties at ``t`` are all kept).
    Works under ``jit`` with a traced ``density``.

    Example:
        >>> float(density_threshold(jnp.arange(10.0), 0.3))
        7.0
    """
    flat = scores.reshape(-1)
    return kth_largest(flat, keep_count(flat.size, density))


def topk_mask(scores: jax.Array, density: jax.Array | float) -> jax.Array:
    """0/1 mask keeping the top ``density`` fraction of ``scores``."""
    return (scores >= density_threshold(scores, density)).astype(scores.dtype)


def channel_scores(kernel_gemm: jax.Array) -> jax.Array:
    """L2 norm of each output channel of a ``(K, N)`` kernel, shape ``(N,)``."""
    return jnp.sqrt(jnp.sum(kernel_gemm * kernel_gemm, axis=0))
