"""Non-GEMM operators of a workload: elementwise, reduction, normalisation, softmax,
pooling and data movement, grouped into the kernels a compiler would run.

A ``VectorOps`` is a struct of arrays with one row per **op group**: a run of non-GEMM
operators that runs as one pass over memory. ``lepton_codesign.extract_workload``
builds it from the traced program with one predictable rule (XLA's loop and input
fusion, simplified):

* a GEMM or convolution ends the current group;
* a reduction ends its group after itself: whatever reads its result starts a new group
  (a reduction's consumers need the whole result, so XLA emits a new kernel);
* elementwise operators and data movement join the group they follow; reshapes,
  broadcasts and dtype-free views are free (no work, no traffic);
* a group of elementwise operators whose first operator reads the output of the GEMM it
  follows, with no reduction and no data movement, is that GEMM's **epilogue**
  (``fused = 1``: bias, activation, requantisation, residual add run as the GEMM's
  output is written, as in cuBLASLt / cuDNN epilogues and an accelerator's
  post-processing unit).

Per group: ``in_elems`` elements read from memory (for an epilogue: other than the
GEMM's own output, e.g. a residual), ``out_elems`` elements written, ``flops`` simple
operations (add, mul, compare, ...), ``transcendentals`` (exp, tanh, rsqrt, ...),
``after`` the index of the GEMM layer it follows (-1: before the first) and ``kinds``:
``"elementwise" | "reduction" | "norm" | "softmax" | "pool" | "data-movement"``.

Example:
    >>> ops = make_vector_ops([{"name": "fc1/relu", "kind": "elementwise", "in_elems": 0,
    ...                         "out_elems": 256, "flops": 256, "after": 0, "fused": 1}])
    >>> ops.num_ops, ops.kinds
    (1, ('elementwise',))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

OP_KINDS = ("elementwise", "reduction", "norm", "softmax", "pool", "data-movement")

_ARRAY_FIELDS = ("in_elems", "out_elems", "flops", "transcendentals", "after", "fused")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class VectorOps:
    """Non-GEMM op groups of a workload (arrays of shape ``(num_ops,)``).

    Attributes:
        in_elems: elements read from memory (an epilogue: besides the GEMM's output).
        out_elems: elements written.
        flops: simple operations (one per element per add / mul / compare / select).
        transcendentals: exp / log / tanh / logistic / erf / sqrt / rsqrt evaluations.
        after: index of the GEMM layer the group follows (-1 = before the first).
        fused: 1 for a GEMM epilogue, else 0.
        names: group names (static).
        kinds: one of ``OP_KINDS`` per group (static).
    """

    in_elems: jax.Array
    out_elems: jax.Array
    flops: jax.Array
    transcendentals: jax.Array
    after: jax.Array
    fused: jax.Array
    names: tuple[str, ...] = dataclasses.field(default=(), metadata={"static": True})
    kinds: tuple[str, ...] = dataclasses.field(default=(), metadata={"static": True})

    @property
    def num_ops(self) -> int:
        return len(self.names)

    def per_layer(self, values, num_layers: int) -> jax.Array:
        """Sum per-group ``values`` onto the GEMM layer each group follows.

        Groups before the first GEMM (``after = -1``) count on layer 0.

        Example:
            >>> ops = make_vector_ops([{"out_elems": 4, "after": 1}, {"out_elems": 4}])
            >>> [float(v) for v in ops.per_layer(jnp.array([2.0, 3.0]), 2)]
            [3.0, 2.0]
        """
        idx = jnp.clip(jnp.asarray(self.after, jnp.int32), 0, num_layers - 1)
        values = jnp.asarray(values)
        out = jnp.zeros(values.shape[:-1] + (num_layers,), values.dtype)
        return out.at[..., idx].add(values)

    def select_layers(self, index: Sequence[int]) -> VectorOps | None:
        """The groups that follow the given GEMM layers, re-indexed; ``None`` if none."""
        new_pos = {int(old): new for new, old in enumerate(index)}
        after = np.asarray(self.after, int)
        keep = [i for i in range(self.num_ops) if int(after[i]) in new_pos]
        if not keep:
            return None
        arrays = {f: np.asarray(getattr(self, f))[keep] for f in _ARRAY_FIELDS}
        arrays["after"] = np.array([new_pos[int(after[i])] for i in keep], np.float32)
        return VectorOps(**{f: jnp.asarray(v, jnp.float32) for f, v in arrays.items()},
                         names=tuple(self.names[i] for i in keep),
                         kinds=tuple(self.kinds[i] for i in keep))

    def table(self) -> list[dict]:
        """One plain dict per group (for printing / JSON)."""
        return [{"name": n, "kind": self.kinds[i],
                 **{f: int(np.asarray(getattr(self, f))[i]) for f in _ARRAY_FIELDS}}
                for i, n in enumerate(self.names)]


def make_vector_ops(groups: Sequence[dict]) -> VectorOps | None:
    """Build ``VectorOps`` from per-group dicts (keys: its fields; missing are 0).

    Returns ``None`` for an empty list (a workload without non-GEMM operators).

    Raises:
        ValueError: a negative or non-finite count, or an unknown kind.
    """
    if not groups:
        return None
    cols: dict[str, list[float]] = {f: [] for f in _ARRAY_FIELDS}
    names, kinds = [], []
    for i, g in enumerate(groups):
        kind = g.get("kind", "elementwise")
        if kind not in OP_KINDS:
            raise ValueError(f"op group {i}: kind {kind!r} not in {OP_KINDS}")
        for f in _ARRAY_FIELDS:
            v = float(g.get(f, -1 if f == "after" else 0))
            if not np.isfinite(v) or (v < 0 and f != "after"):
                raise ValueError(f"op group {i}: {f} = {v!r}; allowed: a finite number >= 0")
            cols[f].append(v)
        names.append(str(g.get("name", f"op{i}")))
        kinds.append(kind)
    arrays = {f: jnp.asarray(np.asarray(v, np.float32)) for f, v in cols.items()}
    return VectorOps(**arrays, names=tuple(names), kinds=tuple(kinds))
