"""Variation operators on the unit cube, vectorised in JAX (bounds are [0, 1]).

* ``sbx``: simulated binary crossover, bounded form (Deb & Agrawal 1995; the variant
  pymoo's ``SBX`` implements), per-variable exchange probability 0.5.
* ``polynomial_mutation``: bounded polynomial mutation (Deb & Goyal 1996; pymoo's ``PM``).
* ``uniform_crossover`` / ``reset_mutation``: for categorical coordinates, whose cube
  position has no meaningful order.
* ``binary_tournament``: NSGA-II crowded-comparison tournament.

Operators take their uniform random numbers as arguments (``Uniforms`` hands them
out from **one** ``jax.random.uniform`` draw): every PRNG call site adds a copy of
the threefry hash to the compiled program, and on a CPU each copy costs about a
second of XLA compile time.

Defaults (eta_c = 15, crossover probability 0.9, eta_m = 20, mutation probability
1 / dim) are Deb et al. 2002's and pymoo's.

Example:
    >>> import jax, jax.numpy as jnp
    >>> a = jnp.full((4, 3), 0.2); b = jnp.full((4, 3), 0.8)
    >>> r = Uniforms(jax.random.key(0), 4 * 3 * 3 + 4)
    >>> c1, c2 = sbx(r((4, 1)), r((4, 3)), r((4, 3)), r((4, 3)), a, b)
    >>> bool(jnp.all((c1 >= 0) & (c1 <= 1)))
    True
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

_EPS = 1e-14


class Uniforms:
    """Slices of one uniform draw of ``total`` numbers, handed out by shape."""

    def __init__(self, key: jax.Array, total: int):
        self._u = jax.random.uniform(key, (total,))
        self._used = 0

    def __call__(self, shape: tuple[int, ...]) -> jax.Array:
        size = math.prod(shape)
        if self._used + size > self._u.shape[0]:
            raise ValueError("Uniforms: drew more numbers than reserved")
        out = self._u[self._used: self._used + size].reshape(shape)
        self._used += size
        return out


def _sbx_betaq(rand, beta, eta):
    alpha = 2.0 - beta ** -(eta + 1.0)
    low = (rand * alpha) ** (1.0 / (eta + 1.0))
    high = (1.0 / jnp.maximum(2.0 - rand * alpha, _EPS)) ** (1.0 / (eta + 1.0))
    return jnp.where(rand <= 1.0 / alpha, low, high)


def sbx(r_do, r_var, r_beta, r_swap, a, b, *, eta: float = 15.0, prob: float = 0.9,
        prob_var: float = 0.5):
    """Two children per parent pair (rows of ``a`` and ``b``).

    ``r_do`` is ``(n, 1)``, the other uniforms ``(n, d)``.
    """
    y1, y2 = jnp.minimum(a, b), jnp.maximum(a, b)
    delta = jnp.maximum(y2 - y1, _EPS)
    bq1 = _sbx_betaq(r_beta, 1.0 + 2.0 * y1 / delta, eta)
    bq2 = _sbx_betaq(r_beta, 1.0 + 2.0 * (1.0 - y2) / delta, eta)
    c1 = jnp.clip(0.5 * (y1 + y2 - bq1 * delta), 0.0, 1.0)
    c2 = jnp.clip(0.5 * (y1 + y2 + bq2 * delta), 0.0, 1.0)
    swap = r_swap < 0.5
    c1, c2 = jnp.where(swap, c2, c1), jnp.where(swap, c1, c2)
    active = (r_do < prob) & (r_var < prob_var) & (jnp.abs(a - b) > _EPS)
    return jnp.where(active, c1, a), jnp.where(active, c2, b)


def polynomial_mutation(r_mut, r_delta, x, *, eta: float = 20.0, prob_var: float = 0.1):
    """Mutate each coordinate of ``x`` with probability ``prob_var``."""
    mut_pow = 1.0 / (eta + 1.0)
    xy_lo, xy_hi = 1.0 - x, x  # 1 - delta1, 1 - delta2 on the unit interval
    r = r_delta
    val_lo = 2.0 * r + (1.0 - 2.0 * r) * xy_lo ** (eta + 1.0)
    val_hi = 2.0 * (1.0 - r) + 2.0 * (r - 0.5) * xy_hi ** (eta + 1.0)
    dq = jnp.where(r <= 0.5, val_lo ** mut_pow - 1.0, 1.0 - val_hi ** mut_pow)
    return jnp.where(r_mut < prob_var, jnp.clip(x + dq, 0.0, 1.0), x)


def uniform_crossover(r_do, r_swap, a, b, *, prob: float = 0.9, prob_var: float = 0.5):
    """Swap coordinates between parents with probability ``prob_var`` (pair done w.p. ``prob``)."""
    swap = (r_do < prob) & (r_swap < prob_var)
    return jnp.where(swap, b, a), jnp.where(swap, a, b)


def reset_mutation(r_mut, r_value, x, *, prob_var: float):
    """Replace each coordinate by the uniform ``r_value`` with probability ``prob_var``."""
    return jnp.where(r_mut < prob_var, r_value, x)


def binary_tournament(r_pick, r_coin, rank, crowding):
    """Winners of random pairs: lower rank wins, then larger crowding distance.

    ``r_pick`` is ``(n, 2)`` (the pair), ``r_coin`` ``(n,)`` (ties).
    """
    pop = rank.shape[0]
    pairs = jnp.minimum(jnp.floor(r_pick * pop).astype(jnp.int32), pop - 1)
    i, j = pairs[:, 0], pairs[:, 1]
    i_wins = (rank[i] < rank[j]) | (
        (rank[i] == rank[j]) & ((crowding[i] > crowding[j])
                                | ((crowding[i] == crowding[j]) & (r_coin < 0.5))))
    return jnp.where(i_wins, i, j)


def duplicate_rows(x, existing):
    """Rows of ``x`` equal to an earlier row of ``x`` or to any row of ``existing``."""
    same_self = jnp.all(x[:, None, :] == x[None, :, :], axis=-1)
    earlier = jnp.tril(same_self, k=-1)
    same_existing = jnp.all(x[:, None, :] == existing[None, :, :], axis=-1)
    return jnp.any(earlier, axis=1) | jnp.any(same_existing, axis=1)
