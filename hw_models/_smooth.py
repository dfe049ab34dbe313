"""Relaxations used when ``smooth=True``; the exact forms are used otherwise.

All cost models route every non-differentiable primitive (ceil, floor, max, step
functions) through this module so that one static flag switches a whole model between
the exact numbers that reports show and a differentiable surrogate for gradient search.

* ``ceil`` / ``floor`` use a straight-through estimator: the value is exact, the
  gradient is that of the identity. Smooth and exact values therefore agree.
* ``maximum`` uses a scale-aware log-sum-exp: within ~2% of the exact maximum, with
  gradients flowing to both arguments.
* ``step`` (``x >= 0``) uses a logistic in the caller's units.

Example:
    >>> import jax.numpy as jnp
    >>> float(ceil(jnp.float32(2.2), smooth=True))
    3.0
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# Temperature of the smooth max, relative to the larger argument: 2% keeps the smooth
# value within ln(2) * 2% ~ 1.4% of the exact one (design choice, see docstring).
SMOOTH_MAX_REL_TEMP = 0.02


def ceil(x: jax.Array, smooth: bool) -> jax.Array:
    """Ceiling; straight-through identity gradient when ``smooth``."""
    c = jnp.ceil(x)
    if not smooth:
        return c
    return x + jax.lax.stop_gradient(c - x)


def ceil_div(a: jax.Array, b: jax.Array, smooth: bool) -> jax.Array:
    """``ceil(a / b)`` for ``b > 0``, exact where ``a / b`` is misrounded.

    XLA:CPU's vectorised float32 division is not correctly rounded (``196 / 14`` gives
    ``14.000001`` eagerly but ``14`` under ``jit``), so a plain ``ceil(a / b)`` can count
    one fold too many in one mode and not the other. The result is corrected to the
    smallest integer ``c`` with ``c * b >= a`` (products of integers below 2**24 are exact
    in float32). With ``smooth`` the gradient is that of ``a / b`` (straight-through).

    Example:
        >>> import jax.numpy as jnp
        >>> [int(v) for v in ceil_div(jnp.array([196.0, 197.0]), 14.0, False)]
        [14, 15]
    """
    q = a / b
    c = jnp.ceil(q)
    c = jnp.where((c - 1.0) * b >= a, c - 1.0, c)
    c = jnp.where(c * b < a, c + 1.0, c)
    if not smooth:
        return c
    return q + jax.lax.stop_gradient(c - q)


def floor(x: jax.Array, smooth: bool) -> jax.Array:
    """Floor; straight-through identity gradient when ``smooth``."""
    f = jnp.floor(x)
    if not smooth:
        return f
    return x + jax.lax.stop_gradient(f - x)


def maximum(a: jax.Array, b: jax.Array, smooth: bool) -> jax.Array:
    """Elementwise max; a log-sum-exp with relative temperature when ``smooth``."""
    if not smooth:
        return jnp.maximum(a, b)
    scale = jax.lax.stop_gradient(jnp.maximum(jnp.abs(a), jnp.abs(b))) * SMOOTH_MAX_REL_TEMP
    scale = jnp.maximum(scale, 1e-30)
    return scale * jnp.logaddexp(a / scale, b / scale)


def step(x: jax.Array, smooth: bool, width: float | jax.Array = 0.1) -> jax.Array:
    """Heaviside ``x >= 0`` as 0/1; a logistic of the given width when ``smooth``."""
    if not smooth:
        return (x >= 0).astype(jnp.result_type(x, jnp.float32))
    return jax.nn.sigmoid(x / width)


def safe_log2(x: jax.Array) -> jax.Array:
    """log2 clipped below at 1 so that it is finite for any non-negative input."""
    return jnp.log2(jnp.maximum(x, 1.0))
