"""Stateless normalised SGD, the default optimiser of mask logits.

Mask logits are as large as the weights they gate. Adam keeps two moments per logit,
and so adds two weight-sized arrays to read and write on every step. On CPU, where
the training step of a small MLP is bound by passes over weight-sized arrays, that is
most of what learned masks cost (``benchmarks/step_breakdown.py``).

``normalized_sgd`` keeps no state. A step moves the logits by ``learning_rate`` times
the gradient divided by its root mean square over all the leaves it updates:

    u = -learning_rate * g / sqrt(mean(g^2) + eps)

The size of the step is then independent of the scale of the gradient, which Adam also
gives: the logit gradient carries the weight's scale, and it shrinks as the training
loss falls. Normalised gradient descent: Nesterov, *Introductory Lectures on Convex
Optimization* (2004), section 3.2.3; stochastic case: Hazan, Levy & Shalev-Shwartz,
NeurIPS 2015 [C]. On the MNIST-1D validation split its learned masks are level with
Adam's for sigmoid-STE gates and better for hard-concrete gates
(``benchmarks/compression.py``, section ``tune``).

A gradient whose root mean square is below ~1e-15 is left nearly unscaled (``eps``
keeps the division finite; float32 squares underflow below ~1e-19): its step is then
smaller than the learning rate, never larger. An all-zero gradient gives a zero step.

Example:
    >>> import jax.numpy as jnp
    >>> tx = normalized_sgd(0.1)
    >>> g = {"a": jnp.array([3.0, -4.0]), "b": jnp.array([0.0, 0.0])}
    >>> u, _ = tx.update(g, tx.init(g))
    >>> [round(float(v), 4) for v in u["a"]]
    [-0.12, 0.16]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

EPS = 1e-30  # guards the all-zero gradient (update 0, not NaN) [A]


def scale_by_global_rms(eps: float = EPS) -> optax.GradientTransformation:
    """Divide the updates by their root mean square over all leaves (no state).

    An all-zero gradient gives an all-zero update. Leaves that are ``None`` or
    ``optax.MaskedNode`` (as ``optax.partition`` passes) are skipped.

    Example:
        >>> import jax.numpy as jnp
        >>> u, _ = scale_by_global_rms().update([jnp.array([2.0, -2.0])], None)
        >>> u[0].tolist()
        [1.0, -1.0]
    """

    def init(params):
        del params
        return optax.EmptyState()

    def update(updates, state, params=None):
        del params
        leaves = jax.tree.leaves(updates)
        size = sum(leaf.size for leaf in leaves)
        if size == 0:
            return updates, state
        sq = sum(jnp.sum(jnp.square(leaf.astype(jnp.float32))) for leaf in leaves)
        inv_rms = jax.lax.rsqrt(sq / size + eps)
        return jax.tree.map(lambda u: (u * inv_rms).astype(u.dtype), updates), state

    return optax.GradientTransformation(init, update)


def normalized_sgd(learning_rate: float | optax.Schedule) -> optax.GradientTransformation:
    """SGD on the gradient normalised to unit root mean square (see module docstring).

    Args:
        learning_rate: the root mean square of every step (a float or an optax schedule).

    Returns:
        A stateless ``optax.GradientTransformation``.
    """
    return optax.chain(scale_by_global_rms(), optax.scale_by_learning_rate(learning_rate))


MASK_OPTIMIZERS = ("normalized_sgd", "adam", "sgd")


def mask_optimizer(name: str, learning_rate: float) -> optax.GradientTransformation:
    """The optimiser of mask logits by name: one of ``MASK_OPTIMIZERS``."""
    if name == "normalized_sgd":
        return normalized_sgd(learning_rate)
    if name == "adam":
        return optax.adam(learning_rate)
    if name == "sgd":
        return optax.sgd(learning_rate)
    raise ValueError(f"mask_optimizer must be one of {MASK_OPTIMIZERS}, got {name!r}")
