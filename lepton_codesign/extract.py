"""Workload extraction: trace a model with ``jax.make_jaxpr`` and keep its GEMMs.

Every ``dot_general`` and ``conv_general_dilated`` in the traced program (including
inside ``jit``, ``remat``, ``scan``, ``cond`` and custom-derivative calls) becomes one
layer of a ``hw_models.Workload`` in GEMM form. Operands are classified by data flow:

* a value computed only from parameters (a kernel, or a kernel times its mask, or its
  fake-quantised copy) is a **weight** and names the layer by its parameter path;
* a value that depends on the example inputs is an **activation**.

A GEMM with a weight operand is a ``dense`` or ``conv`` layer; one between two
activations (attention scores, attention x values) is a ``matmul`` layer. ``scan``
bodies count ``length`` times (as ``groups``).

For an NNX module the parameters are its ``nnx.State``; layer names are the module
paths (``"fc1"``, ``"blocks/0/conv"``). For a plain function, leaves inside container
arguments (dicts, lists, tuples) are parameters named by their key path, and bare
array arguments are data.

Example:
    >>> import jax.numpy as jnp
    >>> def mlp(params, x):
    ...     return jnp.tanh(x @ params["fc1"]["w"]) @ params["fc2"]["w"]
    >>> p = {"fc1": {"w": jnp.ones((40, 256))}, "fc2": {"w": jnp.ones((256, 10))}}
    >>> extract_workload(mlp, p, jnp.ones((8, 40))).names
    ('fc1', 'fc2')
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
from jax import tree_util
from jax.extend import core as jcore

from lepton_codesign import hw_models
from lepton_codesign.extract_ops import OpGrouper
from lepton_codesign.hw_models.vector_ops import make_vector_ops
from lepton_codesign.hw_models.workload import Workload


def _path_name(path: tuple, nnx_state: bool) -> str:
    """Layer name of a parameter leaf: its key path without the leaf's own name.

    NNX state paths end in ``(..., "kernel", .value)``; plain pytrees in ``(..., "w")``.
    """
    keys = []
    for entry in path:
        if isinstance(entry, tree_util.DictKey):
            keys.append(str(entry.key))
        elif isinstance(entry, tree_util.SequenceKey):
            keys.append(str(entry.idx))
        elif isinstance(entry, tree_util.GetAttrKey):
            keys.append(str(entry.name))
        else:
            keys.append(str(entry))
    if nnx_state and len(keys) > 1 and isinstance(path[-1], tree_util.GetAttrKey):
        keys.pop()  # the Variable's .value
    if len(keys) > 1:
        keys.pop()  # the parameter's own name (kernel, w, ...)
    return "/".join(keys) if keys else "param"


class _Tracer:
    """Walks a jaxpr, tracking which values are data-derived and which param they carry."""

    def __init__(self):
        self.layers: list[dict] = []
        self.ops = OpGrouper()
        self._matmuls = 0
        self._last_name = ""

    def run(self, jaxpr, data: list[bool], origin: list[str | None], repeat: int) -> None:
        is_data: dict[Any, bool] = {}
        orig: dict[Any, str | None] = {}
        for v, d, o in zip(jaxpr.invars, data, origin, strict=False):
            is_data[v], orig[v] = d, o
        for v in jaxpr.constvars:
            is_data[v], orig[v] = False, None

        def get(v):
            if isinstance(v, jcore.Literal):
                return False, None
            return is_data.get(v, False), orig.get(v)

        for eqn in jaxpr.eqns:
            ins = [get(v) for v in eqn.invars]
            name = eqn.primitive.name
            if name in ("dot_general", "conv_general_dilated"):
                if self._gemm(eqn, ins, repeat):
                    self.ops.gemm(eqn.outvars[0], len(self.layers) - 1)
            elif not self._recurse(eqn, ins, repeat) and any(d for d, _ in ins):
                self.ops.add(eqn, repeat)
            out_data = any(d for d, _ in ins)
            out_orig = None
            if not out_data:
                sized = [(math.prod(getattr(v.aval, "shape", ())), o)
                         for v, (_, o) in zip(eqn.invars, ins, strict=False) if o is not None]
                if sized:
                    out_orig = max(sized, key=lambda t: t[0])[1]
            for v in eqn.outvars:
                is_data[v], orig[v] = out_data, out_orig

    def _recurse(self, eqn, ins, repeat: int) -> bool:
        """Walk a call's / control flow's body; False if the primitive has none."""
        p, prim = eqn.params, eqn.primitive.name
        data = [d for d, _ in ins]
        origin = [o for _, o in ins]
        if prim == "scan":
            self.run(p["jaxpr"].jaxpr, data, origin, repeat * int(p["length"]))
        elif prim == "while":
            nc, nb = p["cond_nconsts"], p["body_nconsts"]
            self.run(p["body_jaxpr"].jaxpr, data[nc:nc + nb] + data[nc + nb:],
                     origin[nc:nc + nb] + origin[nc + nb:], repeat)
        elif prim == "cond":
            self.run(p["branches"][-1].jaxpr, data[1:], origin[1:], repeat)
        else:
            for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
                sub = p.get(key)
                if sub is None:
                    continue
                sub = getattr(sub, "jaxpr", sub)
                if hasattr(sub, "eqns") and len(sub.invars) == len(ins):
                    self.ops.alias(eqn.invars, sub.invars)
                    self.run(sub, data, origin, repeat)
                    self.ops.alias(sub.outvars, eqn.outvars)
                    return True
            return False
        return True

    def _gemm(self, eqn, ins, repeat: int) -> bool:
        """Record a GEMM / conv layer; False for a parameter-only product."""
        (lhs_d, lhs_o), (rhs_d, rhs_o) = ins[0], ins[1]
        lhs, rhs = (v.aval.shape for v in eqn.invars[:2])
        if not lhs_d and not rhs_d:
            return False  # parameter-only product: not activation work
        if eqn.primitive.name == "conv_general_dilated":
            layer = _conv_layer(eqn, lhs, rhs)
            weight = None if rhs_d else rhs_o
        else:
            swap = rhs_d and not lhs_d  # weight on the left: W @ x
            layer = _dot_layer(eqn, lhs, rhs, swap)
            weight = None if (lhs_d and rhs_d) else (lhs_o if swap else rhs_o)
        if weight is None:
            layer["kind"] = "matmul"
            prefix = self._last_name.rsplit("/", 1)[0] + "/" if "/" in self._last_name else ""
            layer["name"] = f"{prefix}matmul{self._matmuls}"
            self._matmuls += 1
        else:
            layer["name"] = weight
            self._last_name = weight
        if repeat > 1:
            for f in ("groups", "weight_elems", "input_elems", "output_elems"):
                layer[f] = layer.get(f, 0) * repeat if f != "groups" else layer["groups"] * repeat
        self.layers.append(layer)
        return True


def _dot_layer(eqn, lhs, rhs, swap: bool) -> dict:
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    if swap:
        lhs, rhs, lc, rc, lb, rb = rhs, lhs, rc, lc, rb, lb
    k = math.prod(lhs[i] for i in lc)
    g = math.prod(lhs[i] for i in lb)
    m = math.prod(s for i, s in enumerate(lhs) if i not in lc and i not in lb)
    n = math.prod(s for i, s in enumerate(rhs) if i not in rc and i not in rb)
    return {"kind": "dense", "m": m, "k": k, "n": n, "groups": g,
            "weight_elems": math.prod(rhs), "input_elems": math.prod(lhs),
            "output_elems": math.prod(eqn.outvars[0].aval.shape)}


def _conv_layer(eqn, lhs, rhs) -> dict:
    dn = eqn.params["dimension_numbers"]
    out = eqn.outvars[0].aval.shape
    groups = int(eqn.params["feature_group_count"]) * int(eqn.params.get("batch_group_count", 1))
    lhs_spec, rhs_spec, out_spec = dn.lhs_spec, dn.rhs_spec, dn.out_spec
    batch, in_ch = lhs[lhs_spec[0]], lhs[lhs_spec[1]]
    out_ch = rhs[rhs_spec[0]]
    in_sp = [lhs[i] for i in lhs_spec[2:]]
    k_sp = [rhs[i] for i in rhs_spec[2:]]
    out_sp = [out[i] for i in out_spec[2:]]
    strides = eqn.params["window_strides"]
    spatial = (in_sp + [1, 1])[:2] if len(in_sp) <= 2 else [math.prod(in_sp[:-1]), in_sp[-1]]
    ksp = (k_sp + [1, 1])[:2] if len(k_sp) <= 2 else [math.prod(k_sp[:-1]), k_sp[-1]]
    osp = (out_sp + [1, 1])[:2] if len(out_sp) <= 2 else [math.prod(out_sp[:-1]), out_sp[-1]]
    return {"kind": "conv", "m": batch * math.prod(out_sp),
            "k": in_ch // groups * math.prod(k_sp), "n": out_ch // groups, "groups": groups,
            "weight_elems": math.prod(rhs), "input_elems": math.prod(lhs),
            "output_elems": math.prod(out),
            "in_h": spatial[0], "in_w": spatial[1], "in_ch": in_ch,
            "kh": ksp[0], "kw": ksp[1], "stride": int(strides[0]) if strides else 1,
            "out_h": osp[0], "out_w": osp[1]}


def _is_nnx_module(obj) -> bool:
    try:
        from flax import nnx
    except ImportError:  # pragma: no cover - flax is a core dependency
        return False
    return isinstance(obj, nnx.Module)


def extract_workload(model_or_fn: Any, *example_inputs: Any, batch: int | None = None
                     ) -> Workload:
    """Trace a Flax NNX module or a plain JAX function into a ``Workload``.

    Args:
        model_or_fn: an ``nnx.Module`` (called as ``model(*example_inputs)``) or a
            function whose parameters are passed inside container arguments.
        *example_inputs: example arguments (arrays or ``jax.ShapeDtypeStruct``).
        batch: batch size for per-inference numbers; default: leading dim of the
            first array among the example inputs (1 if none).

    Returns:
        The workload, one layer per GEMM / convolution in execution order.

    Raises:
        ValueError: if the traced program contains no GEMM or convolution.
    """
    if _is_nnx_module(model_or_fn):
        from flax import nnx

        graphdef, state = nnx.split(model_or_fn)
        fn: Callable = lambda s, *xs: nnx.merge(graphdef, s)(*xs)
        args = (state, *example_inputs)
        param_args = {0}
        nnx_state = True
    else:
        fn, args = model_or_fn, example_inputs
        nnx_state = False
        param_args = {i for i, a in enumerate(args)
                      if isinstance(a, (dict, list, tuple)) or hasattr(a, "__dataclass_fields__")}
    closed = jax.make_jaxpr(fn)(*args)
    data, origin = [], []
    for i, arg in enumerate(args):
        for path, _ in tree_util.tree_flatten_with_path(arg)[0]:
            is_param = i in param_args
            data.append(not is_param)
            origin.append(_path_name(path, nnx_state) if is_param else None)
    tracer = _Tracer()
    tracer.run(closed.jaxpr, data, origin, 1)
    if not tracer.layers:
        raise ValueError("no dot_general / conv_general_dilated found in the traced program")
    seen: dict[str, int] = {}
    for layer in tracer.layers:  # a module called twice (shared weights) gets a suffix
        base = layer["name"]
        seen[base] = seen.get(base, 0) + 1
        if seen[base] > 1:
            layer["name"] = f"{base}#{seen[base]}"
    if batch is None:
        inputs = [a for i, a in enumerate(args) if i not in param_args]
        leaves = [a for a in jax.tree.leaves(inputs) if hasattr(a, "shape") and len(a.shape) > 0]
        batch = int(leaves[0].shape[0]) if leaves else 1
    ops = make_vector_ops(tracer.ops.groups([layer["name"] for layer in tracer.layers]))
    return hw_models.make_workload(tracer.layers, batch=batch, ops=ops)


