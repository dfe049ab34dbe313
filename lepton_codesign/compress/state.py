"""Bridge to the cost models, hardening, and integer export / import.

* ``compression_state(model, soft)`` -> ``hw_models.Compression`` with one entry per
  layer of ``extract_workload(model, x)`` (pass the workload, or its names, to align;
  without them the order is the model's graph order of Linear / Conv layers).
  ``soft=True`` gives differentiable densities and straight-through bits for training;
  ``soft=False`` the exact numbers of the deployed model.
* ``harden(model)`` fixes masks at their targets and bits at their rounded values.
* ``export_compressed`` / ``import_compressed``: integer codes + per-channel steps +
  bits + packed masks per layer; ``save_exported`` / ``load_exported`` as ``.npz``
  (no pickle); ``storage_report`` counts the bits the exported model needs.

Example:
    >>> from flax import nnx
    >>> from lepton_codesign.models import MLP
    >>> from lepton_codesign.compress.policy import CompressionPolicy, compress
    >>> model = compress(MLP((8, 16, 4), rngs=nnx.Rngs(0)),
    ...                  CompressionPolicy(sparsity=0.5, method="magnitude", weight_bits=4))
    >>> compression_state(model, soft=False).weight_bits.tolist()
    [4.0, 4.0]
"""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from lepton_codesign import hw_models
from lepton_codesign.compress import masks as M
from lepton_codesign.compress import quant as Q
from lepton_codesign.compress.export_check import (
    EXPORT_FORMAT,
    FLOAT_BITS,
    ExportError,
    check_export,
)
from lepton_codesign.compress.layers import (
    CompressedConv,
    CompressedLinear,
    compressed_layers,
    gemm_layers,
    is_compressed,
)
from lepton_codesign.compress.methods import Fixed
from lepton_codesign.compress.registry import STRUCTURES
from lepton_codesign.compress.scores import hard_masks
from lepton_codesign.compress.variables import MaskLogit, MaskState


def _layer_entry(layer, soft: bool, float_bits: float, mask=None) -> tuple:
    if not is_compressed(layer):
        return 1.0, 1.0, 0, 4, float(float_bits), float(float_bits)
    size = math.prod(layer.kernel_shape_gemm)
    wd = layer.density(soft) if mask is None else jnp.mean(mask)
    wd = jnp.clip(wd, 1.0 / size, 1.0)
    ad = jnp.clip(jax.lax.stop_gradient(layer.act_density[...]), 1e-3, 1.0)

    def bits(which):
        if soft:
            b = layer.bits(which)
            return float(float_bits) if b is None else b
        b = layer.bits(which)
        return float(float_bits) if b is None else float(Q.report_bits(b, layer.bit_range))

    return wd, ad, layer.structure.code, layer.m, bits("w"), bits("a")


def compression_state(model: nnx.Module, soft: bool = False, *, workload=None,
                      names=None, float_bits: float = FLOAT_BITS) -> hw_models.Compression:
    """Per-layer compression of ``model`` for ``hw_models.evaluate``.

    Args:
        model: a (possibly compressed) NNX model.
        soft: differentiable estimate (training) instead of the exact hard state.
        workload: a ``Workload`` from ``extract_workload(model, x)``: the result then
            has its layers, in its order (layers without weights, e.g. attention
            matmuls, and plain layers are dense at ``float_bits``).
        names: alternatively, the layer names to align with.
        float_bits: bits reported for tensors that are not quantised (float32: 32).

    Returns:
        A ``hw_models.Compression`` (validated when ``soft=False``).

    Raises:
        ValueError: if a name does not match any layer of the model.
    """
    layers = dict(gemm_layers(model))
    masks = {} if soft else hard_masks(model)  # hard: exactly what ``harden`` keeps
    if workload is not None:
        names = workload.names
        kinds = workload.kinds
    else:
        names = tuple(layers) if names is None else tuple(names)
        kinds = ("dense",) * len(names)
    rows = []
    for name, kind in zip(names, kinds, strict=True):
        base = name.split("#", 1)[0]
        if kind == "matmul":
            rows.append(_layer_entry(None, soft, float_bits))
            continue
        if base not in layers:
            raise ValueError(f"layer {name!r} of the workload is not a Linear/Conv of the "
                             f"model; model layers: {sorted(layers)}")
        rows.append(_layer_entry(layers[base], soft, float_bits, masks.get(base)))
    cols = list(zip(*rows, strict=True))

    def stack(col, dtype=jnp.float32):
        return jnp.stack([jnp.asarray(v, dtype) for v in col])

    comp = hw_models.Compression(
        weight_density=stack(cols[0]), act_density=stack(cols[1]),
        structure=stack(cols[2], jnp.int32), nm_m=stack(cols[3]),
        weight_bits=stack(cols[4]), act_bits=stack(cols[5]))
    return comp if soft else comp.validate()


def _fix_layer(layer, mask_gemm: jax.Array, w_bits, a_bits, fold: bool = True) -> None:
    """Turn a compressed layer into a fixed one (mask state, integer bits), in place.

    ``fold``: multiply the method's fold factor (a hard-concrete gate's deterministic
    value) into the kernel. All mask state (``MaskLogit`` / ``MaskState``) is replaced by
    one fixed ``prune_mask``.
    """
    mask = jnp.broadcast_to(jnp.asarray(mask_gemm, jnp.float32), layer.kernel_shape_gemm)
    z = layer.method.fold(layer) if fold else None
    if z is not None:
        z = jnp.broadcast_to(z, layer.kernel_shape_gemm)
        layer.kernel[...] = (M.to_gemm(layer.kernel[...]) * z).reshape(layer.kernel.shape)
        mask = mask * (z > 0)
    layer.kernel[...] = (M.to_gemm(layer.kernel[...]) * mask).reshape(layer.kernel.shape)
    for name, value in list(vars(layer).items()):
        if isinstance(value, (MaskLogit, MaskState)):
            delattr(layer, name)
    layer.prune_mask = MaskState(mask)
    layer.method = Fixed()
    for attr, b in (("w", w_bits), ("a", a_bits)):
        q = getattr(layer, f"{attr}_quantiser")
        if b is not None and q is not None:
            setattr(layer, f"{attr}_quantiser", q.hardened(int(b)))
            setattr(layer, f"{attr}_bits", getattr(layer, f"{attr}_quantiser").variable())


def lowest_average_bits(layers: list) -> float:
    """The lowest parameter-weighted average weight bits ``layers`` can reach: learnable
    bits at their minimum, fixed bits as they are, float layers at ``FLOAT_BITS``."""
    sizes = [math.prod(layer.kernel_shape_gemm) for layer in layers]
    bits = [FLOAT_BITS if not layer.w_quant else
            layer.w_quantiser.lowest(layer.w_bits, layer.bit_range)
            if layer.w_quantiser.learnable else float(layer.bits("w"))
            for layer in layers]
    return sum(s * b for s, b in zip(sizes, bits, strict=True)) / sum(sizes)


def budget_bits(layers: list, bits: list, bit_budget: float) -> list:
    """Integer weight bits meeting a parameter-weighted average budget.

    Starts from the rounded learned bits. While the average (over the compressed
    layers, float layers counting ``FLOAT_BITS``) is above ``bit_budget``, lowers by
    one bit the learnable layer whose continuous bit-width is closest to rounding
    down (ties: the larger layer); then, while a one-bit raise still fits the budget,
    raises the layer closest to rounding up. Rounding alone leaves a hinge-penalty
    solution above its budget or unused budget below it.

    Args:
        layers: compressed layers, in order.
        bits: their rounded integer weight bits (``None`` for float layers).
        bit_budget: the average to meet.

    Returns:
        The adjusted integer bits (same order).

    Raises:
        ValueError: when the budget cannot be met within the layers' bit ranges.
    """
    sizes = [math.prod(layer.kernel_shape_gemm) for layer in layers]
    total = sum(sizes)
    out = [None if b is None else int(b) for b in bits]
    cont = [float(jnp.clip(layer.w_bits[...], *layer.bit_range)) if layer.learn_bits
            else None for layer in layers]  # continuous learned bits

    def average():
        return sum(sz * (FLOAT_BITS if b is None else b)
                   for sz, b in zip(sizes, out, strict=True)) / total

    def pick(step: int) -> int | None:
        """The learnable layer to move by ``step`` bits: the one closest to rounding
        that way (ties: the larger layer); a raise must still fit the budget."""
        cands = [((step * (cont[i] - out[i]), sizes[i]), i) for i, layer in enumerate(layers)
                 if cont[i] is not None
                 and layer.bit_range[0] <= out[i] + step <= layer.bit_range[1]
                 and (step < 0 or average() + sizes[i] / total <= bit_budget + 1e-9)]
        return max(cands, key=lambda c: c[0])[1] if cands else None

    while average() > bit_budget + 1e-9:
        i = pick(-1)
        if i is None:
            raise ValueError(f"an average of {bit_budget} weight bits cannot be met: it is "
                             f"{average():.3f} with every learnable layer at its minimum")
        out[i] -= 1
    while (i := pick(+1)) is not None:  # spend what is left of the budget
        out[i] += 1
    return out


def harden(model: nnx.Module, bit_budget: float | None = None) -> nnx.Module:
    """A copy of ``model`` with masks fixed at their targets and bits rounded.

    Learned gates with a target keep exactly their top ``1 - target`` logits (global or
    per layer, as the policy said); hard-concrete gates fold their deterministic
    value into the kernel. Pruned weights are set to zero. With ``bit_budget``, learned
    weight bits are rounded and then lowered or raised so that their average meets the
    budget as closely as possible from below (``budget_bits``).
    """
    out = nnx.clone(model)
    masks = hard_masks(out)
    layers = compressed_layers(out)
    rounded = []
    for _, layer in layers:
        bits = {w: layer.bits(w) for w in ("w", "a")}
        rounded.append({w: None if b is None else Q.report_bits(b, layer.bit_range)
                        for w, b in bits.items()})
    if bit_budget is not None and layers:
        w_bits = budget_bits([lay for _, lay in layers], [r["w"] for r in rounded],
                             bit_budget)
        for r, b in zip(rounded, w_bits, strict=True):
            r["w"] = None if b is None else np.int32(b)
    for (name, layer), bits in zip(layers, rounded, strict=True):
        _fix_layer(layer, masks[name], bits["w"], bits["a"])
    return out


# ---------------------------------------------------------------------- export / import
def export_compressed(model: nnx.Module) -> dict:
    """Integer export of every compressed layer (hardened first).

    Returns:
        ``{"format", "layers": {path: {...}}}``; per layer: ``kind``, ``kernel_shape``,
        ``structure``, ``n``, ``m``, ``mask`` (bool, GEMM layout), ``weight_bits``
        (32 = float), ``codes`` (integers, GEMM layout, 0 where pruned) or ``kernel``
        (float), ``step`` (per output channel), ``bias``, ``act_bits``,
        ``act_range``, ``act_signed``.
    """
    hard = harden(model)
    layers = {}
    for name, layer in compressed_layers(hard):
        wg = np.asarray(M.to_gemm(layer.kernel[...]), np.float32)
        entry = {
            "kind": "conv" if isinstance(layer, CompressedConv) else "dense",
            "kernel_shape": list(layer.kernel.shape), "structure": layer.structure.name,
            "n": layer.n, "m": layer.m,
            "mask": np.asarray(layer.prune_mask[...]) > 0,
            "bias": None if layer.bias is None else np.asarray(layer.bias[...], np.float32),
            "act_signed": bool(layer.act_signed),
        }
        if layer.w_quant:
            bits = int(np.asarray(layer.w_bits[...]))
            codes, step = Q.quantize_int(wg, layer.w_range[...], bits, signed=True)
            entry.update(weight_bits=bits, codes=codes * entry["mask"].astype(codes.dtype),
                         step=step)
        else:
            entry.update(weight_bits=FLOAT_BITS, kernel=wg * entry["mask"])
        if layer.a_quant:
            entry.update(act_bits=int(np.asarray(layer.a_bits[...])),
                         act_range=float(np.abs(np.asarray(layer.a_range[...]))))
        else:
            entry.update(act_bits=FLOAT_BITS, act_range=None)
        layers[name] = entry
    return {"format": EXPORT_FORMAT, "layers": layers}


def import_compressed(model: nnx.Module, exported: dict) -> nnx.Module:
    """A copy of ``model`` carrying the exported layers (fixed masks and bits).

    ``model`` has the same architecture as the exported one, dense or compressed;
    plain Linear / Conv layers named in the export are wrapped first.

    Raises:
        ExportError: a malformed export (``export_check``); ValueError: an export that
            does not match the model's layers.
    """
    check_export(exported)
    out = nnx.clone(model)
    from lepton_codesign.compress.policy import _set_child

    nodes = {name: node for name, node in gemm_layers(out)}
    paths = {"/".join(str(p) for p in path): path for path, _ in nnx.iter_graph(out)}
    for name, e in exported["layers"].items():
        if name not in nodes:
            raise ValueError(f"exported layer {name!r} not in the model; "
                             f"model layers: {sorted(nodes)}")
        layer = nodes[name]
        w_bits = None if e["weight_bits"] >= FLOAT_BITS else int(e["weight_bits"])
        a_bits = None if e["act_bits"] >= FLOAT_BITS else int(e["act_bits"])
        if not is_compressed(layer) or layer.w_quant != (w_bits is not None) \
                or layer.a_quant != (a_bits is not None):
            base = layer
            if is_compressed(layer):
                raise ValueError(f"layer {name!r}: quantisers differ from the export")
            cls = CompressedConv if isinstance(base, nnx.Conv) else CompressedLinear
            layer = cls(base, structure=e["structure"], n=e["n"], m=e["m"],
                        weight_bits=w_bits, act_bits=a_bits, bit_range=(2, 16))
            _set_child(out, paths[name], layer)
        shape = tuple(e["kernel_shape"])
        if tuple(layer.kernel.shape) != shape:
            raise ValueError(f"layer {name!r}: kernel shape {tuple(layer.kernel.shape)} "
                             f"!= exported {shape}")
        if w_bits is None:
            kernel = np.asarray(e["kernel"], np.float32)
        else:
            kernel = np.asarray(e["codes"], np.float32) * np.asarray(e["step"], np.float32)
            layer.w_range[...] = jnp.asarray(
                np.asarray(e["step"], np.float32) * float(Q.levels(w_bits, True)))
        layer.kernel[...] = jnp.asarray(kernel.reshape(shape))
        if e["bias"] is not None:
            layer.bias[...] = jnp.asarray(e["bias"])
        if a_bits is not None:
            layer.a_range[...] = jnp.asarray(e["act_range"], jnp.float32)
        layer.act_signed = bool(e["act_signed"])
        layer.structure = STRUCTURES.resolve(e["structure"], {"n": e["n"], "m": e["m"]})
        _fix_layer(layer, jnp.asarray(e["mask"], jnp.float32), w_bits, a_bits, fold=False)
    return out


def storage_report(exported: dict, *, dense_bits: int = FLOAT_BITS,
                   index_bits: int = 4) -> dict:
    """Bits needed to store the exported layers vs. the same layers dense in float32.

    Weights: non-zeros x bits, plus the index overhead of the cheapest encoding: a
    bitmap (1 bit per weight) or ``index_bits`` relative indices per non-zero (EIE's
    4-bit run-length indices, Han et al. 2016 [C]) for unstructured; ``ceil(log2 M)``
    bits per non-zero for N:M; a 1-bit-per-channel map for channel pruning. Per-channel
    steps and biases count 32 bits each.
    """
    if not exported["layers"]:
        raise ValueError("the export has no compressed layer")
    rows, dense_total, comp_total = {}, 0, 0
    for name, e in exported["layers"].items():
        mask = np.asarray(e["mask"])
        numel, nnz, cols = mask.size, int(mask.sum()), mask.shape[-1]
        bias = 0 if e["bias"] is None else np.size(e["bias"])
        dense = (numel + bias) * dense_bits
        w = nnz * int(e["weight_bits"])
        structure = STRUCTURES.resolve(e["structure"], {"n": int(e["n"]), "m": int(e["m"])})
        index = 0 if nnz == numel else structure.index_bits(nnz, numel, cols, index_bits)
        scales = cols * 32 if int(e["weight_bits"]) < FLOAT_BITS else 0
        total = w + index + scales + bias * 32
        rows[name] = {"numel": numel, "nnz": nnz, "weight_bits": int(e["weight_bits"]),
                      "dense_bits": dense, "compressed_bits": total}
        dense_total += dense
        comp_total += total
    return {"layers": rows, "dense_bits": dense_total, "compressed_bits": comp_total,
            "reduction": dense_total / max(comp_total, 1),
            "nonzeros": sum(r["nnz"] for r in rows.values()),
            "params": sum(r["numel"] for r in rows.values())}


def save_exported(path, exported: dict) -> None:
    """Write an export to ``path`` (``.npz``: arrays + JSON metadata, no pickle)."""
    arrays, meta = {}, {"format": exported["format"], "layers": {}}
    for name, e in exported["layers"].items():
        m = {}
        for k, v in e.items():
            if isinstance(v, np.ndarray):
                key = f"{name}::{k}"
                arrays[key] = v
                m[k] = {"array": key}
            else:
                m[k] = v
        meta["layers"][name] = m
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez_compressed(path, **arrays)


def load_exported(path) -> dict:
    """Read an export written by ``save_exported``, checked by ``export_check``.

    Raises:
        ExportError: unreadable file, not an export, or malformed content (naming the
            file, layer and key).
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            if "__meta__" not in data.files:
                raise ExportError(f"{path}: no '__meta__' entry; allowed: a file written by "
                                  "save_exported")
            meta = json.loads(bytes(data["__meta__"]).decode())
            if not isinstance(meta, dict) or not isinstance(meta.get("layers"), dict):
                raise ExportError(f"{path}: '__meta__' is not an export's metadata; "
                                  "allowed: a file written by save_exported")
            layers = {}
            for name, m in meta["layers"].items():
                if not isinstance(m, dict):
                    raise ExportError(f"{path}: layer {name!r}: not a mapping; allowed: a "
                                      "file written by save_exported")
                layers[name] = {k: _stored(data, path, name, k, v) for k, v in m.items()}
    except ExportError:
        raise
    except (OSError, ValueError, EOFError) as err:  # missing, directory, not a zip, bad JSON
        raise ExportError(f"{path}: cannot be read as an export ({type(err).__name__}: "
                          f"{err}); allowed: a .npz file written by save_exported") from None
    return check_export({"format": meta.get("format"), "layers": layers}, str(path))


def _stored(data, path, name: str, key: str, value):
    """An entry's value: an array reference resolved in the ``.npz``, else as stored."""
    if not (isinstance(value, dict) and "array" in value):
        return value
    ref = value["array"]
    if not isinstance(ref, str) or ref not in data.files or ref == "__meta__":
        raise ExportError(f"{path}: layer {name!r}: key {key!r}: array {ref!r} is missing; "
                          "allowed: a file written by save_exported")
    return data[ref]
