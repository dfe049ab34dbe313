"""Pruning methods: how a compressed layer's mask is held, scored, scheduled, hardened.

* ``NoPruning`` (``None`` / ``"none"``): dense, no mask state.
* ``Learned`` (``"learned"``): ``MaskLogit`` gate logits through the layer's ``Gate``;
  with a target, thresholds (or the ``GateTarget`` term) follow the sparsity ramp and
  hardening keeps exactly the top ``1 - target`` logits.
* ``Magnitude`` (``"magnitude"``): a ``prune_mask`` refreshed from ``|w|`` (channel
  norms) on the ramp; N:M patterns are recomputed from ``|w|`` in every call.
* ``Saliency`` (``"saliency"``): as magnitude, scored by an EMA of ``|w * dL/dw|``.
* ``Fixed`` (``"fixed"``): a hardened or imported mask, never updated.

Methods are stateless frozen dataclasses; the state lives on the layer as
``MaskLogit`` / ``MaskState`` variables. ``refresh`` recomputes the masks of a group of
layers that share method, structure, target and allocation (``scores.update_masks``).

Example:
    >>> METHODS.resolve(None), METHODS.resolve("magnitude")
    (NoPruning(), Magnitude())
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from lepton_codesign.compress import masks as M
from lepton_codesign.compress.registry import METHODS
from lepton_codesign.compress.variables import MaskLogit, MaskState


class PruningMethod:
    """Base of the pruning methods (frozen dataclasses registered in ``METHODS``).

    Attributes:
        name: the registered name.
        needs_target: score-based: a target sparsity is needed (unless the structure
            is a pattern).
        prunes: whether the method masks weights at all.
        accumulates: ``accumulate`` folds every step's gradients into the scores.
    """

    name: ClassVar[str]
    needs_target: ClassVar[bool] = False
    prunes: ClassVar[bool] = True
    accumulates: ClassVar[bool] = False

    def init_state(self, layer) -> None:
        """Create the mask state on a freshly wrapped ``layer``."""

    def prepare_group(self, layers: list) -> None:
        """Adjust the state of all layers ``compress`` just wrapped with this method."""

    def mask(self, layer, stochastic: bool) -> jax.Array | None:
        """The mask multiplied into the kernel (``None``: dense)."""
        return jax.lax.stop_gradient(layer.prune_mask[...])

    def hard(self, layer) -> jax.Array | None:
        """Evaluation-time mask values (entries > 0 kept; ``None``: dense)."""
        return self.mask(layer, stochastic=False)

    def soft_density(self, layer) -> jax.Array | None:
        """Differentiable kept fraction (``None``: use the hard mask's)."""
        return None

    def scores(self, layer) -> jax.Array:
        """Pruning scores in mask shape (higher = keep)."""
        return layer.structure.magnitude(M.to_gemm(layer.kernel[...]))

    def scheduled(self, layer) -> bool:
        """Whether ``refresh`` must run during training (on the sparsity ramp)."""
        return False

    def refresh(self, layers: list, ramp) -> None:
        """Recompute the state of a group of layers at ``ramp`` x their target."""

    def accumulate(self, layer, grad_layer, decay: float) -> None:
        """Fold this step's gradients (``grad_layer``: same layer, gradients) in."""

    def steered(self, layer) -> bool:
        """Whether the ``GateTarget`` term steers the layer's soft density to its target."""
        return False

    def ranked(self, layer) -> bool:
        """Whether hardening keeps exactly the top ``1 - target`` of ``scores``."""
        return False

    def fold(self, layer) -> jax.Array | None:
        """Factor multiplied into the kernel at hardening (``None``: none)."""
        return None


@METHODS.register("none")
@dataclasses.dataclass(frozen=True)
class NoPruning(PruningMethod):
    """Dense weights (quantisation only)."""

    prunes: ClassVar[bool] = False

    def mask(self, layer, stochastic):
        return None


@METHODS.register("learned")
@dataclasses.dataclass(frozen=True)
class Learned(PruningMethod):
    """Learned gates (``layer.gate``) over ``MaskLogit`` logits."""

    def init_state(self, layer) -> None:
        score = layer.structure.magnitude(M.to_gemm(layer.kernel[...]))
        layer.gate_logits = MaskLogit(score / (jnp.std(score) + 1e-8))
        layer.gate.init_state(layer)

    def prepare_group(self, layers: list) -> None:
        """Layers under one global threshold start from one common logit scale, so
        the initial global ranking is that of global magnitude pruning."""
        shared = [layer for layer in layers if layer.allocation.shared_logit_scale]
        if not shared:
            return
        scores = [layer.structure.magnitude(M.to_gemm(layer.kernel[...])) for layer in shared]
        scale = jnp.std(jnp.concatenate([s.reshape(-1) for s in scores])) + 1e-8
        for layer, s in zip(shared, scores, strict=True):
            layer.gate_logits[...] = s / scale

    def mask(self, layer, stochastic):
        return layer.gate.mask(layer, stochastic)

    def hard(self, layer):
        return layer.gate.hard(layer)

    def soft_density(self, layer):
        return layer.gate.soft_density(layer)

    def scores(self, layer):
        return layer.gate_logits[...]

    def scheduled(self, layer) -> bool:
        return layer.target_sparsity is not None and layer.gate.thresholded(layer.structure)

    def refresh(self, layers: list, ramp) -> None:
        layer0 = layers[0]
        scores = [jax.lax.stop_gradient(layer.gate_logits[...]) for layer in layers]
        ts = layer0.allocation.thresholds(scores, layer0.target_sparsity * ramp)
        for layer, t in zip(layers, ts, strict=True):
            layer.gate_threshold[...] = t

    def steered(self, layer) -> bool:
        return layer.target_sparsity is not None and layer.gate.steered(layer.structure)

    def ranked(self, layer) -> bool:
        return layer.target_sparsity is not None and not layer.structure.has_pattern

    def fold(self, layer):
        return layer.gate.fold(layer)


class _ScoreBased(PruningMethod):
    """A ``prune_mask`` set from scores on the ramp (threshold, or the N:M pattern)."""

    needs_target: ClassVar[bool] = True

    def init_state(self, layer) -> None:
        shape = layer.structure.mask_shape(layer.kernel_shape_gemm)
        layer.prune_mask = MaskState(jnp.ones(shape, jnp.float32))

    def scheduled(self, layer) -> bool:
        return True

    def refresh(self, layers: list, ramp) -> None:
        layer0 = layers[0]
        if layer0.structure.has_pattern:
            for layer in layers:
                layer.prune_mask[...] = layer.structure.pattern(self.scores(layer))
            return
        scores = [self.scores(layer) for layer in layers]
        ts = layer0.allocation.thresholds(scores, layer0.target_sparsity * ramp)
        for layer, s, t in zip(layers, scores, ts, strict=True):
            layer.prune_mask[...] = (s >= t).astype(jnp.float32)


@METHODS.register("magnitude")
@dataclasses.dataclass(frozen=True)
class Magnitude(_ScoreBased):
    """Keep the largest ``|w|`` (channel norms); N:M patterns follow ``|w|`` each call."""

    def init_state(self, layer) -> None:
        if not layer.structure.has_pattern:  # N:M: recomputed from |w| every call
            super().init_state(layer)

    def mask(self, layer, stochastic):
        if layer.structure.has_pattern:
            w = jax.lax.stop_gradient(M.to_gemm(layer.kernel[...]))
            return layer.structure.pattern(layer.structure.magnitude(w))
        return super().mask(layer, stochastic)

    def scheduled(self, layer) -> bool:
        return not layer.structure.has_pattern


@METHODS.register("saliency")
@dataclasses.dataclass(frozen=True)
class Saliency(_ScoreBased):
    """Keep the largest EMA of ``|w * dL/dw|`` (summed per channel for channels)."""

    accumulates: ClassVar[bool] = True

    def init_state(self, layer) -> None:
        super().init_state(layer)
        shape = layer.structure.mask_shape(layer.kernel_shape_gemm)
        layer.saliency = MaskState(jnp.zeros(shape, jnp.float32))

    def scores(self, layer):
        return layer.saliency[...]

    def accumulate(self, layer, grad_layer, decay: float) -> None:
        wg = M.to_gemm(layer.kernel[...])
        s = jnp.abs(wg * M.to_gemm(grad_layer.kernel[...]))
        if s.shape != layer.saliency.shape:  # channels: summed over the reduction dim
            s = jnp.sum(s, axis=0)
        layer.saliency[...] = decay * layer.saliency[...] + (1.0 - decay) * s


@METHODS.register("fixed")
@dataclasses.dataclass(frozen=True)
class Fixed(PruningMethod):
    """A fixed ``prune_mask`` (hardened or imported); never updated."""
