"""Gradual magnitude pruning with the masks set between epochs, outside the compiled step.

Zhu & Gupta's gradual pruning (2017 [C]): the sparsity follows the cubic ramp to its
target and the smallest weights are masked as it rises. Here the masks are recomputed
once per epoch, on the host side of the trainer (``train(..., between_epochs=...)``),
into the fixed ``prune_mask`` of hardened layers (``methods.Fixed``). The compiled
training step then only multiplies a mask in: it does not depend on the structure (N:M,
channel, unstructured), the allocation (global, per layer) or the target, so every
policy with the same layers and quantiser kinds shares one compilation. That is what
the joint search needs: its candidates differ in exactly those knobs, and on a CPU a
small model's compile takes far longer than its epochs
(``benchmarks/results/finetune_vs_scratch.md`` times each first fine-tune).

* ``fixed_form(model, policy)``: the dense model compressed with ``policy``'s bits and
  layer selection, but no pruning method and the ``Unstructured`` / ``GlobalAllocation``
  description, hardened (all-ones ``prune_mask``, fixed bits). Its graph is the same for
  every pruning structure, allocation and target.
* ``GradualMagnitude``: the schedule (the ``between_epochs`` callback). Before epoch
  ``e`` it masks each layer at ``target x ramp(end of epoch e)`` from ``|w x mask|``
  (monotone: a pruned weight scores 0 and stays pruned); an N:M pattern is set at the
  first epoch (its density is the pattern's, there is no ramp).
* ``GradualMagnitude.restore(model)``: puts the policy's structure and allocation back
  on the trained model, so ``compression_state`` reports what the hardware runs.

Example:
    >>> from lepton_codesign.models import build_model
    >>> from lepton_codesign.compress import CompressionPolicy, compression_state
    >>> model, _ = build_model("mlp", features=8)
    >>> policy = CompressionPolicy(sparsity=0.5, allocation="per_layer", weight_bits=8)
    >>> m, schedule = fixed_form(model, policy), GradualMagnitude.of(policy, epochs=4)
    >>> schedule.sparsity_at(0), schedule.sparsity_at(1)  # the target by half-way
    (0.4375, 0.5)
    >>> schedule(1, m)  # masks for epoch 1, in place
    >>> [round(float(d), 2) for d in compression_state(schedule.restore(m)).weight_density]
    [0.5, 0.5, 0.5]
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
from flax import nnx

from lepton_codesign.compress import masks as M
from lepton_codesign.compress.allocations import Allocation
from lepton_codesign.compress.layers import compressed_layers
from lepton_codesign.compress.policy import CompressionPolicy, compress
from lepton_codesign.compress.scores import cubic_ramp
from lepton_codesign.compress.state import harden
from lepton_codesign.compress.structures import Structure

__all__ = ["GradualMagnitude", "fixed_form", "supports"]


def supports(policy: CompressionPolicy) -> bool:
    """Whether ``policy`` can be trained in fixed form: fixed (not learned) bits and a
    magnitude-rankable target (or an N:M pattern, or no pruning at all)."""
    p = policy.pieces
    if policy.learn_bits or policy.learn_act_bits:
        return False
    if not p.method.prunes:
        return True
    return p.structure.has_pattern or policy.sparsity is not None


def fixed_form(model: nnx.Module, policy: CompressionPolicy) -> nnx.Module:
    """``model`` with ``policy``'s quantisers and layer selection, hardened with an
    all-ones mask: the structure-neutral form ``GradualMagnitude`` trains.

    Raises:
        ValueError: ``policy`` is not ``supports``-ed (learned bits or no target).
    """
    if not supports(policy):
        raise ValueError("fixed_form needs fixed bits and a sparsity target (or N:M): "
                         f"got {policy}")
    neutral = dataclasses.replace(policy, method=None, structure="unstructured",
                                  allocation="global", sparsity=None)
    return harden(compress(model, neutral))


@dataclasses.dataclass(frozen=True)
class GradualMagnitude:
    """Per-epoch magnitude masks for a ``fixed_form`` model (a ``between_epochs`` hook).

    Attributes:
        structure: the policy's ``Structure`` (``None``: no pruning).
        allocation: the policy's ``Allocation``.
        sparsity: the target (ignored by pattern structures).
        epochs: the training's epochs (the ramp is laid over them).
        ramp_end: the fraction of the epochs by which the target is reached
            (``TrainConfig.prune_end``'s meaning).
    """

    structure: Structure | None
    allocation: Allocation
    sparsity: float
    epochs: int
    ramp_end: float = 0.5

    @classmethod
    def of(cls, policy: CompressionPolicy, epochs: int,
           ramp_end: float = 0.5) -> GradualMagnitude:
        p = policy.pieces
        return cls(p.structure if p.method.prunes else None, p.allocation,
                   float(policy.sparsity or 0.0), int(epochs), float(ramp_end))

    def sparsity_at(self, epoch: int) -> float:
        """The sparsity applied during ``epoch`` (the ramp's value at its end)."""
        end = max(self.ramp_end * self.epochs, 1.0)
        return self.sparsity * float(cubic_ramp(epoch + 1, 0, end))

    def __call__(self, epoch: int, model: nnx.Module) -> None:
        """Set the masks of ``model`` (in place) for ``epoch``."""
        if self.structure is None:
            return
        layers = [layer for _, layer in compressed_layers(model)]
        if self.structure.has_pattern and epoch > 0:
            return  # the pattern was set before the first epoch
        kernels = [layer.kernel[...] for layer in layers]
        old = [layer.prune_mask[...] for layer in layers]
        new = _masks(self.structure, self.allocation, kernels, old,
                     jnp.asarray(self.sparsity_at(epoch), jnp.float32))
        for layer, mask in zip(layers, new, strict=True):
            layer.prune_mask[...] = mask

    def restore(self, model: nnx.Module) -> nnx.Module:
        """``model`` (in place, returned) with the policy's structure and allocation on
        its layers: what ``compression_state`` and the exports read."""
        if self.structure is not None:
            for _, layer in compressed_layers(model):
                layer.structure = self.structure
                layer.allocation = self.allocation
        return model


@functools.partial(jax.jit, static_argnums=(0, 1))
def _masks(structure: Structure, allocation: Allocation, kernels, old, sparsity):
    """New ``(K, N)`` masks: ``structure`` over the magnitudes of the kept weights."""
    scores = [structure.magnitude(M.to_gemm(k) * m) for k, m in zip(kernels, old,
                                                                    strict=True)]
    if structure.has_pattern:
        new = [structure.pattern(s) for s in scores]
    else:
        ts = allocation.thresholds(scores, sparsity)
        new = [(s >= t).astype(jnp.float32) for s, t in zip(scores, ts, strict=True)]
    return [jnp.broadcast_to(n, m.shape).astype(m.dtype) for n, m in zip(new, old,
                                                                          strict=True)]
