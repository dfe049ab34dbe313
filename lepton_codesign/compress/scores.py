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

from lepton_codesign.compress.layers import compressed_layers
from lepton_codesign.compress.registry import ALLOCATIONS


def cubic_schedule(step, final_sparsity, begin_step, end_step, initial_sparsity=0.0):
    """Sparsity at ``step``: cubic ramp from ``initial`` to ``final`` (Zhu & Gupta 2017).

    Constant before ``begin_step`` and after ``end_step``; works with traced ``step``.
    """
    span = jnp.maximum(end_step - begin_step, 1)  # traced or not
    p = jnp.clip((jnp.asarray(step, jnp.float32) - begin_step) / span, 0.0, 1.0)
    return final_sparsity + (initial_sparsity - final_sparsity) * (1.0 - p) ** 3


def cubic_ramp(step, begin_step, end_step):
    """Fraction of the final sparsity reached at ``step`` (0 -> 1, cubic)."""
    return cubic_schedule(step, 1.0, begin_step, end_step, 0.0)


def layer_scores(layer) -> jax.Array:
    """Pruning scores of a compressed layer, ``(K, N)`` or ``(N,)`` for channels."""
    return layer.method.scores(layer)


def accumulate_saliency(model: nnx.Module, grads: nnx.Module, decay: float = 0.9) -> None:
    """Fold this step's gradients into every layer's scores (the saliency EMA of
    ``|w * dL/dw|``; ``grads``: the same graph holding gradients)."""
    grad_layers = dict(compressed_layers(grads))
    for name, layer in compressed_layers(model):
        layer.method.accumulate(layer, grad_layers[name], decay)


def allocate(scores: list[jax.Array], sparsity, allocation) -> list[jax.Array]:
    """Thresholds keeping ``1 - sparsity`` of the scores, one per entry.

    ``allocation``: an ``Allocation`` or its name (``"global"``: one threshold over
    all entries; ``"per_layer"``: each entry keeps its own fraction).
    """
    return ALLOCATIONS.resolve(allocation).thresholds(scores, sparsity)


def _groups(model: nnx.Module, predicate) -> dict:
    groups: dict = defaultdict(list)
    for _, layer in compressed_layers(model):
        if predicate(layer):
            # the target's value is traced: layers group by whether they have one (a
            # policy gives all its layers one target; a group uses its first layer's)
            key = (layer.method, layer.structure, layer.target_sparsity is not None,
                   layer.allocation)
            groups[key].append(layer)
    return groups


def needs_refresh(model: nnx.Module) -> bool:
    """Whether any layer's mask state follows the sparsity ramp (``update_masks``)."""
    return any(layer.method.scheduled(layer) for _, layer in compressed_layers(model))


def update_masks(model: nnx.Module, ramp) -> None:
    """Recompute score-based masks and learned-gate thresholds at ``ramp * target``.

    Args:
        model: a (merged) model; its mask state is updated in place.
        ramp: fraction of each layer's target sparsity to apply now (0..1), e.g.
            ``cubic_ramp(step, begin, end)``.
    """
    for (method, *_), layers in _groups(model, lambda lay: lay.method.scheduled(lay)).items():
        method.refresh(layers, ramp)


def gate_target_penalty(model: nnx.Module, ramp) -> jax.Array:
    """Squared gap between the soft density of steered gates (hard-concrete) and their
    (ramped) target: per layer, or of the parameter-weighted group density (global).

    Such gates have no threshold to set; this term steers their expected L0 to the
    policy's target, and ``harden`` then keeps exactly the target.
    """
    total = jnp.zeros(())
    for (_, _, _, alloc), layers in _groups(model, is_steered).items():
        goal = 1.0 - layers[0].target_sparsity * ramp
        dens = jnp.stack([layer.density(soft=True) for layer in layers])
        sizes = jnp.asarray([float(layer.gate_logits.size) for layer in layers])
        total = total + alloc.density_gap(dens, sizes, goal)
    return total


def is_steered(layer) -> bool:
    """Whether ``gate_target_penalty`` steers this layer (learned, steered gate, target)."""
    return layer.method.steered(layer)


def hard_masks(model: nnx.Module) -> dict[str, jax.Array]:
    """Final 0/1 masks ``(K, N)`` per compressed layer path, at each layer's target.

    Learned gates with a target keep exactly the top ``1 - target`` of their scores
    (globally or per layer); without a target, the gate's own hard decision is used.
    """
    layers = compressed_layers(model)
    out = {name: layer.hard_mask_gemm() for name, layer in layers}
    names = {id(layer): name for name, layer in layers}
    for (method, _, _, alloc), group in _groups(
            model, lambda lay: lay.method.ranked(lay)).items():
        target = group[0].target_sparsity
        scores = [method.scores(layer) for layer in group]
        for layer, s, t in zip(group, scores, alloc.thresholds(scores, target), strict=True):
            keep = (s >= t).astype(jnp.float32)
            out[names[id(layer)]] = jnp.broadcast_to(keep, layer.kernel_shape_gemm)
    return out
