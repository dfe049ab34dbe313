"""Bit-width quantisers of a compressed layer's weights or inputs.

* ``FixedBits(bits)`` (``"fixed"``): a constant bit-width (``QuantState``).
* ``LearnedBits(bits)`` (``"learned"``): a continuous ``BitParam`` starting at ``bits``,
  rounded (straight-through) in the forward pass and kept inside the layer's
  ``bit_range`` after every update.

Both quantise with ``quant.fake_quant`` on a learned (LSQ) range (``quantise``); the
quantiser object decides how the bit-width is held, projected, reported and hardened.
``None`` stands for a float tensor. A policy or layer takes an instance in place of
an integer ``weight_bits`` / ``act_bits``.

The bit-width a layer computes with is its variable's value, never the quantiser's
``bits`` (the initial value): two quantisers of one kind compare equal whatever their
``bits``, so layers that differ only in bit-widths have the same graph definition and
one compiled training step serves them all (the joint search's candidates).

Example:
    >>> q = quantiser(4, learned=True)
    >>> q, float(q.variable()[...]), q.hardened(3)
    (LearnedBits(bits=4), 4.0, FixedBits(bits=3))
    >>> FixedBits(4) == FixedBits(8)  # same kind: one compiled step serves both
    True
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import ClassVar

import jax.numpy as jnp

from lepton_codesign.compress.quant import fake_quant
from lepton_codesign.compress.registry import QUANTISERS
from lepton_codesign.compress.variables import BitParam, QuantState


class Quantiser:
    """Base of the quantisers (frozen dataclasses registered in ``QUANTISERS``).

    Attributes:
        bits: the initial (or fixed) bit-width.
        learnable: the bit-width is a trained ``BitParam``.
    """

    name: ClassVar[str]
    learnable: ClassVar[bool] = False
    bits: int

    def __post_init__(self):
        b = self.bits
        if isinstance(b, bool) or not isinstance(b, numbers.Integral):
            raise ValueError(f"{type(self).__name__}.bits must be an integer, got {b!r}")
        object.__setattr__(self, "bits", int(b))

    def variable(self):
        """A new variable holding the bit-width (``BitParam`` or ``QuantState``)."""
        raise NotImplementedError

    def quantise(self, x, q_range, bits, signed: bool):
        """The fake-quantised ``x`` (``bits``: the integer-valued STE bit-width)."""
        return fake_quant(x, q_range, bits, signed=signed)

    def project(self, var, bit_range: tuple[int, int]) -> None:
        """Keep ``var`` inside ``bit_range`` after an update (in place)."""

    def lowest(self, var, bit_range: tuple[int, int]) -> float:
        """The lowest bit-width this quantiser can reach."""
        return float(self.bits)

    def hardened(self, bits: int) -> Quantiser:
        """The quantiser of a hardened layer at the integer ``bits``: this one at
        ``bits`` if it is not learnable, else ``FixedBits`` (override to keep a
        learnable quantiser's own ``quantise``)."""
        if self.learnable:
            return FixedBits(int(bits))
        return dataclasses.replace(self, bits=int(bits))


@QUANTISERS.register("fixed")
@dataclasses.dataclass(frozen=True)
class FixedBits(Quantiser):
    """A constant bit-width."""

    bits: int = dataclasses.field(default=8, compare=False)

    def variable(self):
        return QuantState(jnp.asarray(self.bits, jnp.float32))


@QUANTISERS.register("learned")
@dataclasses.dataclass(frozen=True)
class LearnedBits(Quantiser):
    """A learned continuous bit-width, rounded straight-through in the forward pass."""

    bits: int = dataclasses.field(default=8, compare=False)
    learnable: ClassVar[bool] = True

    def variable(self):
        return BitParam(jnp.asarray(self.bits, jnp.float32))

    def project(self, var, bit_range):
        lo, hi = bit_range
        var[...] = jnp.clip(var[...], lo - 0.49, hi + 0.49)

    def lowest(self, var, bit_range):
        return float(bit_range[0])


def quantiser(bits, learned: bool = False) -> Quantiser | None:
    """The quantiser for ``bits``: ``None`` (float), a ``Quantiser`` (as it is), or an
    integer (``LearnedBits`` when ``learned``, else ``FixedBits``)."""
    if bits is None or isinstance(bits, Quantiser):
        return bits
    return QUANTISERS.resolve("learned" if learned else "fixed", {"bits": bits})
