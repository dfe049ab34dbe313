"""Per-layer compression state seen by the cost models.

``Compression`` is what a compressed model looks like to hardware: how dense its
weights and activations are, how the zeros are arranged, and how many bits each
operand has. ``lepton_codesign.compression_state`` produces it from a trained model;
a search can also produce it directly from its knobs.

Sparsity structures (``structure`` codes):

* ``UNSTRUCTURED`` (0): zeros anywhere; needs index metadata to skip.
* ``NM`` (1): at most N non-zeros in every group of M along the reduction dim;
  ``weight_density = N / M`` and ``nm_m = M``.
* ``CHANNEL`` (2): whole output channels removed; the layer is simply narrower.

Example:
    >>> c = dense_compression(3)
    >>> c.weight_bits.tolist()
    [8.0, 8.0, 8.0]
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from lepton_codesign.hw_models.schema import (
    Rule,
    SpecError,
    check_fields,
    closest,
    is_abstract,
    spec_pytree,
)

UNSTRUCTURED, NM, CHANNEL = 0, 1, 2
STRUCTURES = {"unstructured": UNSTRUCTURED, "nm": NM, "n:m": NM, "channel": CHANNEL}
# Widest operand the cost models know: 32 = an unquantised float32 tensor (GPU fp32/tf32
# peaks, ``lepton_codesign.compress``'s FLOAT_BITS).
MAX_BITS = 32.0
_BITS = Rule(min=1.0, max=MAX_BITS, exclusive=False)
_DENSITY = Rule(min=0.0, max=1.0)
RULES = {
    "weight_density": _DENSITY, "act_density": _DENSITY,
    "structure": Rule("choice", choices=("unstructured", "nm", "channel")),
    "nm_m": Rule("int", min=1.0, exclusive=False),
    "weight_bits": _BITS, "act_bits": _BITS,
}


@spec_pytree
@dataclasses.dataclass(frozen=True)
class Compression:
    """Per-layer compression (arrays of shape ``(num_layers,)``, or ``(batch, num_layers)``).

    Concrete values are checked at construction against ``RULES`` (tracers are not).

    Attributes:
        weight_density: fraction of non-zero weights, in (0, 1].
        act_density: fraction of non-zero input activations, in (0, 1].
        structure: sparsity structure code (``UNSTRUCTURED``, ``NM``, ``CHANNEL``).
        nm_m: group size M of N:M sparsity (ignored for other structures).
        weight_bits: weight bit-width in [1, 32] (may be fractional when soft / learned).
        act_bits: activation bit-width in [1, 32].
    """

    weight_density: jax.Array
    act_density: jax.Array
    structure: jax.Array
    nm_m: jax.Array
    weight_bits: jax.Array
    act_bits: jax.Array

    @property
    def num_layers(self) -> int:
        return int(np.shape(self.weight_density)[-1])

    def __post_init__(self):
        self.validate()

    def validate(self) -> Compression:
        """Raise ``SpecError`` (a ``ValueError``) on out-of-range, non-finite or
        mis-shaped concrete values; tracers are skipped."""
        check_fields(self, RULES)
        sizes = {f: np.shape(getattr(self, f))[-1:] for f in RULES
                 if not is_abstract(getattr(self, f))}
        if len(set(sizes.values())) > 1:
            raise SpecError(f"Compression: per-layer fields have different lengths "
                            f"{ {f: s[0] if s else None for f, s in sizes.items()} }; allowed: "
                            "one entry per layer in every field (shape (..., num_layers))")
        return self


def make_compression(
    num_layers: int,
    weight_density=1.0,
    act_density=1.0,
    structure: str | int | list = "unstructured",
    nm_m=4,
    weight_bits=8,
    act_bits=8,
) -> Compression:
    """Build a ``Compression`` broadcasting scalars to ``num_layers``.

    Args:
        num_layers: number of layers of the workload it describes.
        weight_density, act_density, nm_m, weight_bits, act_bits: scalar or per-layer.
        structure: ``"unstructured" | "nm" | "channel"`` (or code), scalar or per-layer.

    Example:
        >>> make_compression(2, weight_density=0.5, structure="nm").structure.tolist()
        [1, 1]
    """

    def code(s):
        if isinstance(s, str):
            if s.lower() not in STRUCTURES:
                raise SpecError(f"Compression.structure: {s!r} is not allowed"
                                f"{closest(s, STRUCTURES)}; allowed: one of {sorted(STRUCTURES)}")
            return STRUCTURES[s.lower()]
        return int(s)

    structures = [code(s) for s in structure] if isinstance(structure, list) else code(structure)

    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
        raise SpecError(f"make_compression: num_layers {num_layers!r} is not allowed; "
                        "allowed: an integer >= 1")

    def full(field, x, dtype=jnp.float32):
        arr = jnp.asarray(x, dtype)
        if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] not in (1, num_layers)):
            raise SpecError(f"Compression.{field}: {arr.shape[-1] if arr.ndim else 0} values "
                            f"(shape {tuple(arr.shape)}) for {num_layers} layers; allowed: "
                            f"a scalar or one value per layer ({num_layers})")
        return jnp.broadcast_to(arr, (num_layers,))

    return Compression(
        weight_density=full("weight_density", weight_density),
        act_density=full("act_density", act_density),
        structure=full("structure", structures, jnp.int32),
        nm_m=full("nm_m", nm_m),
        weight_bits=full("weight_bits", weight_bits),
        act_bits=full("act_bits", act_bits),
    ).validate()


def dense_compression(num_layers: int, bits: int = 8) -> Compression:
    """Dense model with ``bits`` for weights and activations (the default: 8)."""
    return make_compression(num_layers, weight_bits=bits, act_bits=bits)
