"""Variable types of compressed layers (filters for ``nnx.split`` and ``optax.partition``).

* ``MaskLogit``: learnable gate logits (hard-concrete ``log_alpha`` or STE logits);
* ``BitParam``: learnable continuous bit-widths;
* ``QuantRange``: learnable clipping ranges (LSQ);
* ``MaskState`` / ``QuantState``: non-trainable masks, thresholds, scores, fixed bits,
  the gate noise key and the observed input density.

Example:
    >>> import jax.numpy as jnp
    >>> isinstance(MaskLogit(jnp.zeros(2)), nnx.Param)
    True
"""

from __future__ import annotations

from flax import nnx


class MaskLogit(nnx.Param):
    """Learnable mask gate logits (``log_alpha`` for hard-concrete)."""


class BitParam(nnx.Param):
    """Learnable continuous bit-width (rounded to an integer in the forward pass)."""


class QuantRange(nnx.Param):
    """Learnable clipping range of a quantiser (per output channel for weights)."""


class MaskState(nnx.Variable):
    """Non-trainable mask state: fixed masks, thresholds, saliency scores, noise key."""


class QuantState(nnx.Variable):
    """Non-trainable quantiser state: fixed bit-widths, observed input density."""
