"""Group the non-GEMM operators of a traced program into kernels (``VectorOps`` rows).

``extract_workload``'s tracer feeds every equation that computes on data (inputs or
activations) and is not a GEMM / convolution to ``OpGrouper.add``, and tells it where
each GEMM is (``gemm``). The grouping rule is ``hw_models.vector_ops``'s: a GEMM ends a
group, a reduction's consumers start a new one, elementwise work and data movement join
the current group, views are free. Parameter-only work (masking or fake-quantising a
kernel) is not counted: a deployed model stores its weights already compressed.

Example:
    >>> g = OpGrouper()
    >>> g.groups()
    []
"""

from __future__ import annotations

import math

from jax.extend import core as jcore

# Primitive classes. Views cost nothing (XLA emits bitcasts or fuses them).
FREE = frozenset({
    "reshape", "broadcast_in_dim", "squeeze", "expand_dims", "stop_gradient",
    "optimization_barrier", "copy_p", "reduce_precision",
})
TRANSCENDENTAL = frozenset({
    "exp", "exp2", "log", "log1p", "expm1", "tanh", "logistic", "erf", "erfc", "erf_inv",
    "sqrt", "rsqrt", "cbrt", "pow", "sin", "cos", "tan", "atan2", "asin", "acos", "atan",
    "sinh", "cosh", "asinh", "acosh", "atanh", "lgamma", "digamma",
})
REDUCTION = frozenset({
    "reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "reduce_and", "reduce_or",
    "argmax", "argmin", "cumsum", "cummax", "cummin", "cumprod", "cumlogsumexp",
})
POOL = frozenset({"reduce_window_sum", "reduce_window_max", "reduce_window_min",
                  "reduce_window"})
MOVE = frozenset({
    "transpose", "concatenate", "pad", "gather", "scatter", "scatter-add", "scatter_add",
    "dynamic_slice", "dynamic_update_slice", "slice", "rev", "sort", "select_and_scatter_add",
    "select_and_gather_add",
})

# Indexed reads touch only what they return (an embedding lookup reads its rows, not the
# table); in-place updates (XLA aliases the buffer of a dynamic_update_slice / scatter)
# read and write only the update: operand index of the update per primitive.
INDEXED_READ = frozenset({"gather", "dynamic_slice"})
IN_PLACE = {"dynamic_update_slice": 1, "scatter": 2, "scatter-add": 2, "scatter_add": 2}


def _elems(v) -> int:
    return int(math.prod(getattr(v.aval, "shape", ()) or (1,)))


class OpGrouper:
    """Accumulates op groups while a jaxpr is walked in execution order."""

    def __init__(self):
        self._groups: list[dict] = []
        self._cur: dict | None = None
        self._inside: set = set()  # vars produced by the current group (or its views)
        self._reduced: set = set()  # vars derived from a reduction in the current group
        self._gemm_outs: set = set()  # the last GEMM's output var (and views / aliases)
        self._layer = -1

    def gemm(self, out_var, layer_index: int) -> None:
        """A GEMM / conv layer runs here: close the current group."""
        self._flush()
        self._gemm_outs, self._layer = {out_var}, layer_index

    def alias(self, sources, targets) -> None:
        """``targets[i]`` is ``sources[i]`` under another name (a call's parameters/results)."""
        for src, dst in zip(sources, targets, strict=False):
            if isinstance(src, jcore.Literal) or isinstance(dst, jcore.Literal):
                continue
            for group in (self._inside, self._reduced, self._gemm_outs):
                if src in group:
                    group.add(dst)

    def add(self, eqn, repeat: int) -> None:
        """One data-dependent, non-GEMM equation (``repeat``: enclosing scan length)."""
        prim = eqn.primitive.name
        reads = [v for v in eqn.invars if not isinstance(v, jcore.Literal)]
        if any(v in self._reduced for v in reads):
            self._flush()  # a reduction's consumer starts a new kernel
        if prim in FREE:  # a view: its output belongs wherever its input does
            self.alias(reads[:1] * len(eqn.outvars), eqn.outvars)
            return
        if self._cur is None:
            self._cur = {"in_elems": 0.0, "out_elems": 0.0, "flops": 0.0,
                         "transcendentals": 0.0, "after": self._layer,
                         "epilogue": any(v in self._gemm_outs for v in reads),
                         "gemm_elems": 0.0, "classes": set(), "prims": [], "read": set()}
        g = self._cur
        out = sum(_elems(v) for v in eqn.outvars) * repeat
        if prim in IN_PLACE:
            out = _elems(eqn.invars[IN_PLACE[prim]]) * repeat
        for j, v in enumerate(eqn.invars):
            if isinstance(v, jcore.Literal) or v in g["read"] or v in self._inside:
                continue
            size = _elems(v) * repeat
            if j == 0 and prim in IN_PLACE:
                continue  # the updated buffer itself is not read
            if j == 0 and prim in INDEXED_READ:
                size = min(size, out)
            else:
                g["read"].add(v)
            if v in self._gemm_outs:
                g["gemm_elems"] = max(g["gemm_elems"], size)
            else:
                g["in_elems"] += size
        if prim in REDUCTION:
            cls, work = "reduction", sum(_elems(v) for v in reads) * repeat
        elif prim in POOL:
            cls, work = "pool", sum(_elems(v) for v in reads[:1]) * repeat
        elif prim in MOVE:
            cls, work = "move", 0.0
        else:
            cls, work = "elementwise", out
        if prim in TRANSCENDENTAL:
            g["transcendentals"] += out
        else:
            g["flops"] += work
        g["classes"].add(cls)
        g["prims"].append(prim)
        # What leaves the group: conservatively, the outputs of its last equation.
        g["out_elems"] = out
        for v in eqn.outvars:
            self._inside.add(v)
            if cls in ("reduction", "pool"):
                self._reduced.add(v)

    def _flush(self) -> None:
        g, self._cur = self._cur, None
        self._inside, self._reduced = set(), set()
        if g is None:
            return
        classes, gemm_elems = g.pop("classes"), g.pop("gemm_elems")
        del g["read"]
        fused = g.pop("epilogue") and classes == {"elementwise"}
        if not fused:
            g["in_elems"] += gemm_elems  # a separate kernel reads the GEMM's output back
        if "pool" in classes:
            kind = "pool"
        elif classes == {"move"}:
            kind = "data-movement"
        else:
            kind = "reduction" if "reduction" in classes else "elementwise"
        g.update(kind=kind, fused=1.0 if fused else 0.0)
        self._groups.append(g)

    def groups(self, layer_names: list[str] | None = None) -> list[dict]:
        """The finished groups, with norm / softmax labels and names, for ``make_vector_ops``.

        A run of groups between two GEMMs that holds a ``reduce_max`` and an ``exp`` is a
        softmax; one with an ``rsqrt`` (or ``sqrt``) after a ``reduce_sum`` is a
        normalisation (layer / RMS / batch norm in training mode): their reduction and
        follow-up groups take that kind.
        """
        self._flush()
        runs: dict[int, list[dict]] = {}
        for g in self._groups:
            runs.setdefault(int(g["after"]), []).append(g)
        for run in runs.values():
            prims = [p for g in run for p in g["prims"]]
            label = None
            if "reduce_max" in prims and "exp" in prims:
                label = "softmax"
            if "reduce_sum" in prims and ("rsqrt" in prims or "sqrt" in prims):
                label = "norm"
            if label:
                for g in run:
                    if g["kind"] in ("reduction", "elementwise") and not g["fused"]:
                        g["kind"] = label
        out, counts = [], {}
        for g in self._groups:
            base = (layer_names[g["after"]] if layer_names and g["after"] >= 0 else "input")
            key = f"{base}/{g['kind']}"
            counts[key] = counts.get(key, 0) + 1
            name = key if counts[key] == 1 else f"{key}#{counts[key]}"
            out.append({**{k: v for k, v in g.items() if k != "prims"}, "name": name})
        return out
