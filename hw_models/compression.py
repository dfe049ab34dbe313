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

UNSTRUCTURED, NM, CHANNEL = 0, 1, 2
STRUCTURES = {"unstructured": UNSTRUCTURED, "nm": NM, "n:m": NM, "channel": CHANNEL}


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Compression:
    """Per-layer compression (arrays of shape ``(num_layers,)``).

    Attributes:
        weight_density: fraction of non-zero weights, in (0, 1].
        act_density: fraction of non-zero input activations, in (0, 1].
        structure: sparsity structure code (``UNSTRUCTURED``, ``NM``, ``CHANNEL``).
        nm_m: group size M of N:M sparsity (ignored for other structures).
        weight_bits: weight bit-width (may be fractional when soft / learned).
        act_bits: activation bit-width.
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

    def validate(self) -> Compression:
        """Raise ``ValueError`` on out-of-range values; a no-op under tracing."""
        if any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(self)):
            return self
        wd, ad = np.asarray(self.weight_density), np.asarray(self.act_density)
        if np.any((wd <= 0) | (wd > 1)) or np.any((ad <= 0) | (ad > 1)):
            raise ValueError("densities must be in (0, 1]")
        if np.any(np.asarray(self.weight_bits) < 1) or np.any(np.asarray(self.act_bits) < 1):
            raise ValueError("bit-widths must be >= 1")
        if not np.all(np.isin(np.asarray(self.structure), [UNSTRUCTURED, NM, CHANNEL])):
            raise ValueError("structure codes must be 0 (unstructured), 1 (N:M), 2 (channel)")
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
                raise ValueError(f"structure {s!r} not in {sorted(STRUCTURES)}")
            return STRUCTURES[s.lower()]
        return int(s)

    structures = [code(s) for s in structure] if isinstance(structure, list) else code(structure)

    def full(x, dtype=jnp.float32):
        return jnp.broadcast_to(jnp.asarray(x, dtype), (num_layers,))

    return Compression(
        weight_density=full(weight_density),
        act_density=full(act_density),
        structure=full(structures, jnp.int32),
        nm_m=full(nm_m),
        weight_bits=full(weight_bits),
        act_bits=full(act_bits),
    ).validate()


def dense_compression(num_layers: int, bits: int = 8) -> Compression:
    """Dense model with ``bits`` for weights and activations (the default: 8)."""
    return make_compression(num_layers, weight_bits=bits, act_bits=bits)
