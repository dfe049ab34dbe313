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
from flax import nnx

from lepton_codesign.compress.variables import BitParam, MaskLogit, QuantRange

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


SMALL_LEAF = 16384  # elements; smaller leaves share one flattened update (_optimizer) [A]


def _label(var, split_masks: bool = True) -> str:
    if isinstance(var, MaskLogit):
        group = "masks"
    elif isinstance(var, BitParam):
        group = "bits"
    elif isinstance(var, QuantRange):
        group = "ranges"
    else:
        group = "weights"
    # unsplit masks: one group, normalised over all mask logits together
    small = var[...].size < SMALL_LEAF and (split_masks or group != "masks")
    return group + ("/small" if small else "")


def partition_optimizer(params, cfg, total_steps: int, offset: int = 0, *, schedule=None):
    """``optax.partition`` of the weight / mask / bit / range optimisers.

    Small leaves (biases, ranges, bit-widths, small kernels) of each group are raveled
    into one vector (``optax.flatten``), so their update is a few fused passes instead
    of a few per leaf: per-kernel overhead dominates small tensors on CPU. Large leaves
    are updated in place (raveling them would add two copies). The arithmetic is the
    same either way, except for ``normalized_sgd``, whose normalisation spans its
    whole group: all mask logits then form one group.

    Args:
        params: the trainable ``nnx.Param`` state.
        cfg: a ``train.TrainConfig`` (rates, optimiser names, weight decay).
        total_steps: length of the cosine decay of the weight learning rate.
        offset: optimiser steps already taken (a resumed run): the decay starts
            afresh at this count, while Adam's moments and step count continue.
        schedule: the weight learning-rate schedule to use instead (``total_steps``
            and ``offset`` are then ignored; ``compress.resume`` passes one that
            reads them as traced values).
    """
    split = cfg.mask_optimizer != "normalized_sgd"
    labels = jax.tree.map(lambda v: _label(v, split), params,
                          is_leaf=lambda v: isinstance(v, nnx.Variable))
    sched = optax.cosine_decay_schedule(cfg.learning_rate, max(total_steps, 1))
    if offset:
        base, sched = sched, lambda count: base(count - offset)
    if schedule is not None:
        sched = schedule
    groups = {
        "weights": lambda: optax.adamw(sched, weight_decay=cfg.weight_decay),
        "masks": lambda: mask_optimizer(cfg.mask_optimizer, cfg.mask_learning_rate),
        "bits": lambda: (optax.adam if cfg.bit_optimizer == "adam" else optax.sgd)(
            cfg.bit_learning_rate),
        "ranges": lambda: optax.adam(cfg.learning_rate),
    }
    used = set(jax.tree.leaves(labels))
    txs = {}
    for name, make in groups.items():
        txs[name] = make()
        small = name + "/small"
        txs[small] = optax.flatten(make()) if small in used else make()
    return optax.partition(txs, labels)
