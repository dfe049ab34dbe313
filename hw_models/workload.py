"""Workloads in GEMM form: one row per layer, struct-of-arrays.

A layer is ``groups`` independent GEMMs of shape ``(m, k) @ (k, n)``:

* dense layer: ``m = batch * tokens``, ``k = in_features``, ``n = out_features``;
* convolution: ``m = batch * out_h * out_w``, ``k = in_ch / groups * kh * kw``,
  ``n = out_ch / groups``; depthwise convolutions have ``groups = in_ch``;
* batched matmul (attention): ``groups`` = the product of the batch dimensions.

Element counts (``weight_elems``, ``input_elems``, ``output_elems``) are the unique
tensor sizes over all groups; the conv geometry fields are zero for non-conv layers.

Example:
    >>> wl = gemm_workload([(64, 128, 256)], names=["fc1"])
    >>> int(wl.macs[0])
    2097152
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from lepton_codesign.hw_models.vector_ops import VectorOps

KINDS = ("dense", "conv", "matmul")

_ARRAY_FIELDS = (
    "m", "k", "n", "groups", "weight_elems", "input_elems", "output_elems",
    "in_h", "in_w", "in_ch", "kh", "kw", "stride", "out_h", "out_w",
)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Workload:
    """Per-layer GEMM shapes of a network (arrays of shape ``(num_layers,)``).

    Attributes:
        m, k, n: GEMM dimensions of one group (rows of the input, reduction, columns).
        groups: number of independent GEMMs in the layer.
        weight_elems, input_elems, output_elems: unique elements of each tensor.
        in_h, in_w, in_ch, kh, kw, stride, out_h, out_w: conv geometry (0 if not conv).
        names: layer names (static).
        kinds: ``"dense" | "conv" | "matmul"`` per layer (static). ``matmul`` layers
            multiply two activations (attention) and have no stored weights.
        batch: the batch size the workload was traced with (static).
        stored_per_sample: per layer (static; empty: none), whether its stored operand
            is per sample rather than shared by the batch: an LLM's KV cache priced as a
            stored operand (``hw_models.llm_costs``), whose ``groups`` and element counts
            hold every sequence's. A model that re-reads stored operands for every
            sample (an FPGA dataflow design streaming from DRAM) reads ``1 / batch`` of
            such a layer's per sample, not all of it.
        ops: the non-GEMM operators (elementwise, reductions, norms, softmax, pooling,
            data movement) grouped into kernels, or ``None`` (``hw_models.vector_ops``).
    """

    m: jax.Array
    k: jax.Array
    n: jax.Array
    groups: jax.Array
    weight_elems: jax.Array
    input_elems: jax.Array
    output_elems: jax.Array
    in_h: jax.Array
    in_w: jax.Array
    in_ch: jax.Array
    kh: jax.Array
    kw: jax.Array
    stride: jax.Array
    out_h: jax.Array
    out_w: jax.Array
    names: tuple[str, ...] = dataclasses.field(default=(), metadata={"static": True})
    kinds: tuple[str, ...] = dataclasses.field(default=(), metadata={"static": True})
    batch: int = dataclasses.field(default=1, metadata={"static": True})
    ops: VectorOps | None = None
    stored_per_sample: tuple[bool, ...] = dataclasses.field(default=(),
                                                            metadata={"static": True})

    @property
    def num_layers(self) -> int:
        return len(self.names)

    @property
    def macs(self) -> jax.Array:
        """Multiply-accumulates per layer (all groups)."""
        return self.m * self.k * self.n * self.groups

    @property
    def total_macs(self) -> jax.Array:
        return jnp.sum(self.macs)

    @property
    def has_weights(self) -> np.ndarray:
        """Static mask: layers whose second operand is a stored weight."""
        return np.array([kind != "matmul" for kind in self.kinds])

    @property
    def per_sample(self) -> np.ndarray:
        """Static mask: layers whose stored operand is per sample (``stored_per_sample``)."""
        if not self.stored_per_sample:
            return np.zeros(self.num_layers, bool)
        if len(self.stored_per_sample) != self.num_layers:
            raise ValueError(f"Workload.stored_per_sample has {len(self.stored_per_sample)} "
                             f"entries for {self.num_layers} layers; allowed: one per layer "
                             "or none")
        return np.asarray(self.stored_per_sample, bool)

    def select(self, index: Sequence[int]) -> Workload:
        """Sub-workload with the given layers, in the given order."""
        idx = np.asarray(index, dtype=int)
        per_sample = self.per_sample
        arrays = {f: jnp.asarray(getattr(self, f))[idx] for f in _ARRAY_FIELDS}
        return Workload(
            **arrays,
            names=tuple(self.names[i] for i in idx),
            kinds=tuple(self.kinds[i] for i in idx),
            batch=self.batch,
            ops=None if self.ops is None else self.ops.select_layers(idx),
            stored_per_sample=(tuple(bool(per_sample[i]) for i in idx)
                               if self.stored_per_sample else ()),
        )

    def table(self) -> list[dict]:
        """One plain dict per layer (for printing / JSON)."""
        rows = []
        for i, name in enumerate(self.names):
            row = {"name": name, "kind": self.kinds[i]}
            row.update({f: int(np.asarray(getattr(self, f))[i]) for f in _ARRAY_FIELDS})
            row["macs"] = int(np.asarray(self.macs)[i])
            rows.append(row)
        return rows


def make_workload(layers: Sequence[dict], batch: int = 1,
                  ops: VectorOps | None = None) -> Workload:
    """Build a workload from per-layer dicts (keys: fields of ``Workload``).

    Missing element counts are derived from ``m, k, n, groups``; missing conv fields are
    zero. ``ops``: the non-GEMM op groups (``hw_models.vector_ops.make_vector_ops``).
    Used by both ``gemm_workload`` and ``lepton_codesign.extract_workload``.
    """
    if not layers:
        raise ValueError("a workload needs at least one layer")
    cols: dict[str, list[float]] = {f: [] for f in _ARRAY_FIELDS}
    names, kinds = [], []
    for i, layer in enumerate(layers):
        m, k, n = (int(layer[d]) for d in ("m", "k", "n"))
        g = int(layer.get("groups", 1))
        if min(m, k, n, g) <= 0:
            raise ValueError(f"layer {i}: m, k, n, groups must be positive, got {(m, k, n, g)}")
        kind = layer.get("kind", "dense")
        if kind not in KINDS:
            raise ValueError(f"layer {i}: kind {kind!r} not in {KINDS}")
        defaults = {
            "m": m, "k": k, "n": n, "groups": g,
            "weight_elems": k * n * g,
            "input_elems": m * k * g,
            "output_elems": m * n * g,
        }
        for f in _ARRAY_FIELDS:
            cols[f].append(float(layer.get(f, defaults.get(f, 0))))
        names.append(str(layer.get("name", f"layer{i}")))
        kinds.append(kind)
    if len(set(names)) != len(names):
        raise ValueError(f"layer names must be unique, got {names}")
    arrays = {f: jnp.asarray(np.asarray(v, np.float32)) for f, v in cols.items()}
    if ops is not None and int(np.max(np.asarray(ops.after), initial=-1)) >= len(names):
        raise ValueError(f"an op group follows layer {int(np.max(np.asarray(ops.after)))}, "
                         f"but the workload has {len(names)} layers")
    return Workload(**arrays, names=tuple(names), kinds=tuple(kinds), batch=int(batch),
                    ops=ops)


def gemm_workload(
    shapes: Sequence[tuple[int, int, int]],
    names: Sequence[str] | None = None,
    groups: Sequence[int] | None = None,
    batch: int = 1,
) -> Workload:
    """Workload from per-group GEMM shapes ``(m, k, n)``, without flax.

    Args:
        shapes: one ``(m, k, n)`` per layer (shape of one group).
        names: layer names; defaults to ``layer0, layer1, ...``.
        groups: independent GEMMs per layer; defaults to 1.
        batch: batch size the shapes include (for per-inference numbers).

    Returns:
        A ``Workload`` of dense layers.

    Example:
        >>> gemm_workload([(1, 40, 256), (1, 256, 10)]).num_layers
        2
    """
    names = list(names) if names is not None else [f"layer{i}" for i in range(len(shapes))]
    groups = list(groups) if groups is not None else [1] * len(shapes)
    if not (len(names) == len(shapes) == len(groups)):
        raise ValueError("shapes, names and groups must have the same length")
    layers = [
        {"m": m, "k": k, "n": n, "groups": g, "name": nm, "kind": "dense"}
        for (m, k, n), nm, g in zip(shapes, names, groups, strict=True)
    ]
    return make_workload(layers, batch=batch)


def conv_layer(
    name: str,
    in_hw: tuple[int, int],
    in_ch: int,
    out_ch: int,
    kernel: tuple[int, int],
    stride: int = 1,
    padding: int = 0,
    groups: int = 1,
    batch: int = 1,
) -> dict:
    """Per-layer dict for a 2-D convolution (square stride, symmetric padding).

    Example:
        >>> conv_layer("c1", (8, 8), 3, 16, (3, 3))["m"]
        36
    """
    (h, w), (kh, kw) = in_hw, kernel
    out_h = (h + 2 * padding - kh) // stride + 1
    out_w = (w + 2 * padding - kw) // stride + 1
    if out_h <= 0 or out_w <= 0 or in_ch % groups or out_ch % groups:
        raise ValueError(f"{name}: invalid conv geometry")
    return {
        "name": name, "kind": "conv",
        "m": batch * out_h * out_w, "k": in_ch // groups * kh * kw, "n": out_ch // groups,
        "groups": groups,
        "weight_elems": out_ch * (in_ch // groups) * kh * kw,
        "input_elems": batch * h * w * in_ch,
        "output_elems": batch * out_h * out_w * out_ch,
        "in_h": h, "in_w": w, "in_ch": in_ch, "kh": kh, "kw": kw, "stride": stride,
        "out_h": out_h, "out_w": out_w,
    }
