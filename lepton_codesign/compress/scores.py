"""Score-based pruning: scores, sparsity schedule, global / per-layer allocation.

Split of concerns as in jaxpruner: **scores** (magnitude ``|w|``, saliency
``|w * dL/dw|`` - the seed's contribution formula - or learned gate logits) ->
**allocation** (one threshold over all layers, or one per layer) -> **structure**
(unstructured, N:M, channel) -> **schedule** (the cubic ramp of Zhu & Gupta, 2017 [C]:
``s_t = s_f + (s_i - s_f)(1 - p)^3``).

``update_masks(model, ramp)`` rewrites the mask state of every compressed layer in
place. It only uses array operations, so the trainer calls it on a merged model
inside ``jit`` / ``lax.scan``.

Example:
    >>> round(float(cubic_schedule(50, 0.9, 0, 100)), 4)
    0.7875
"""

from __future__ import annotations

from collections import defaultdict

import jax
import jax.numpy as jnp
from flax import nnx

from lepton_codesign.compress import masks as M
from lepton_codesign.compress.layers import compressed_layers


def cubic_schedule(step, final_sparsity, begin_step, end_step, initial_sparsity=0.0):
    """Sparsity at ``step``: cubic ramp from ``initial`` to ``final`` (Zhu & Gupta 2017).

    Constant before ``begin_step`` and after ``end_step``; works with traced ``step``.
    """
    span = max(end_step - begin_step, 1)
    p = jnp.clip((jnp.asarray(step, jnp.float32) - begin_step) / span, 0.0, 1.0)
    return final_sparsity + (initial_sparsity - final_sparsity) * (1.0 - p) ** 3


def cubic_ramp(step, begin_step, end_step):
    """Fraction of the final sparsity reached at ``step`` (0 -> 1, cubic)."""
    return cubic_schedule(step, 1.0, begin_step, end_step, 0.0)


def layer_scores(layer) -> jax.Array:
    """Pruning scores of a compressed layer, ``(K, N)`` or ``(N,)`` for channels."""
    if layer.method == "learned":
        return layer.gate_logits[...]
    if layer.method == "saliency":
        return layer.saliency[...]
    wg = M.to_gemm(layer.kernel[...])
    return M.channel_scores(wg) if layer.structure == "channel" else jnp.abs(wg)


def saliency(kernel_gemm: jax.Array, grad_gemm: jax.Array, channel: bool) -> jax.Array:
    """``|w * dL/dw|`` per weight, or summed over each output channel."""
    s = jnp.abs(kernel_gemm * grad_gemm)
    return jnp.sum(s, axis=0) if channel else s


def accumulate_saliency(model: nnx.Module, grads: nnx.Module, decay: float = 0.9) -> None:
    """EMA of ``|w * dL/dw|`` into every saliency layer (``grads``: same graph, grads)."""
    grad_layers = dict(compressed_layers(grads))
    for name, layer in compressed_layers(model):
        if layer.method != "saliency":
            continue
        g = M.to_gemm(grad_layers[name].kernel[...])
        s = saliency(M.to_gemm(layer.kernel[...]), g, layer.structure == "channel")
        layer.saliency[...] = decay * layer.saliency[...] + (1.0 - decay) * s


def allocate(scores: list[jax.Array], sparsity, allocation: str) -> list[jax.Array]:
    """Thresholds keeping ``1 - sparsity`` of the scores, one per entry.

    ``"global"``: one threshold over all entries (layers compete); ``"per_layer"``:
    each entry keeps its own fraction.
    """
    density = 1.0 - jnp.asarray(sparsity, jnp.float32)
    if allocation == "per_layer":
        return [M.density_threshold(s, density) for s in scores]
    flat = jnp.concatenate([s.reshape(-1) for s in scores])
    t = M.density_threshold(flat, density)
    return [t for _ in scores]


def _groups(model: nnx.Module, predicate) -> dict:
    groups: dict = defaultdict(list)
    for _, layer in compressed_layers(model):
        if predicate(layer):
            key = (layer.method, layer.structure, layer.target_sparsity, layer.allocation)
            groups[key].append(layer)
    return groups


def update_masks(model: nnx.Module, ramp) -> None:
    """Recompute score-based masks and learned-gate thresholds at ``ramp * target``.

    Args:
        model: a (merged) model; its mask state is updated in place.
        ramp: fraction of each layer's target sparsity to apply now (0..1), e.g.
            ``cubic_ramp(step, begin, end)``.
    """
    def scored(layer):
        return layer.method in ("magnitude", "saliency") and not (
            layer.method == "magnitude" and layer.structure == "nm")

    for (_, structure, target, alloc), layers in _groups(model, scored).items():
        if structure == "nm":
            for layer in layers:
                layer.prune_mask[...] = M.nm_mask(layer_scores(layer), layer.n, layer.m)
            continue
        scores = [layer_scores(layer) for layer in layers]
        for layer, s, t in zip(layers, scores, allocate(scores, target * ramp, alloc),
                               strict=True):
            layer.prune_mask[...] = (s >= t).astype(jnp.float32)

    def thresholded(layer):
        return (layer.method == "learned" and layer.gate == "sigmoid_ste"
                and layer.structure != "nm" and layer.target_sparsity is not None)

    for (_, _, target, alloc), layers in _groups(model, thresholded).items():
        scores = [jax.lax.stop_gradient(layer.gate_logits[...]) for layer in layers]
        for layer, t in zip(layers, allocate(scores, target * ramp, alloc), strict=True):
            layer.gate_threshold[...] = t


def gate_target_penalty(model: nnx.Module, ramp) -> jax.Array:
    """Squared gap between the expected density of hard-concrete gates and their
    (ramped) target: per layer, or of the parameter-weighted group density (global).

    Hard-concrete gates have no threshold to set; this term steers their expected L0
    to the policy's target, and ``harden`` then keeps exactly the target.
    """
    def hc(layer):
        return (layer.method == "learned" and layer.gate == "hard_concrete"
                and layer.structure != "nm" and layer.target_sparsity is not None)

    total = jnp.zeros(())
    for (_, _, target, alloc), layers in _groups(model, hc).items():
        goal = 1.0 - target * ramp
        dens = jnp.stack([layer.density(soft=True) for layer in layers])
        if alloc == "per_layer":
            total = total + jnp.sum((dens - goal) ** 2)
        else:
            sizes = jnp.asarray([float(layer.gate_logits.size) for layer in layers])
            total = total + (jnp.sum(dens * sizes) / jnp.sum(sizes) - goal) ** 2
    return total


def hard_masks(model: nnx.Module) -> dict[str, jax.Array]:
    """Final 0/1 masks ``(K, N)`` per compressed layer path, at each layer's target.

    Learned gates with a target keep exactly the top ``1 - target`` of their logits
    (globally or per layer); without a target, the gate's own hard decision is used.
    """
    layers = compressed_layers(model)
    out = {name: layer.hard_mask_gemm() for name, layer in layers}

    def ranked(layer):
        return (layer.method == "learned" and layer.target_sparsity is not None
                and layer.structure != "nm")

    names = {id(layer): name for name, layer in layers}
    for (_, _, target, alloc), group in _groups(model, ranked).items():
        scores = [layer.gate_logits[...] for layer in group]
        for layer, s, t in zip(group, scores, allocate(scores, target, alloc), strict=True):
            keep = (s >= t).astype(jnp.float32)
            out[names[id(layer)]] = jnp.broadcast_to(keep, layer.kernel_shape_gemm)
    return out
