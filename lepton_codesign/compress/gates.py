"""Learned mask gates: how ``MaskLogit`` values become a (differentiable) mask.

A gate is used by the ``learned`` pruning method (``methods.Learned``). It reads the
layer's ``gate_logits`` (and any state it created in ``init_state``) and answers:

* ``mask(layer, stochastic)``: the training-time mask (values in [0, 1], gradients to
  the logits);
* ``hard(layer)``: the evaluation-time mask (entries > 0 are kept);
* ``soft_density(layer)``: a differentiable estimate of the kept fraction;
* ``fold(layer)``: a factor multiplied into the kernel when the layer is hardened;
* ``thresholded(structure)``: the trainer moves ``gate_threshold`` to the (ramped)
  target (``GlobalAllocation`` / ``PerLayer`` thresholds of the logits);
* ``steered(structure)``: the ``GateTarget`` loss term steers the soft density to the
  target instead (a gate without a threshold);
* ``noise``: the trainer writes a fresh PRNG key into ``gate_key`` every step.

Gates:

* ``SigmoidSTE(temperature)`` (``"sigmoid_ste"``): hard ``logit >= threshold`` with
  the gradient of ``sigmoid((logit - threshold) / temperature)`` (Bengio et al. 2013).
* ``HardConcrete()`` (``"hard_concrete"``): the L0 relaxation of Louizos, Welling &
  Kingma (ICLR 2018) [C] (``masks.hard_concrete_*``).

Example:
    >>> GATES.resolve("sigmoid_ste", {"temperature": 2.0})
    SigmoidSTE(temperature=2.0)
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from lepton_codesign.compress import masks as M
from lepton_codesign.compress.registry import GATES
from lepton_codesign.compress.variables import MaskState


class Gate:
    """Base of the gates (frozen dataclasses registered in ``GATES``); see module doc."""

    name: ClassVar[str]
    noise: ClassVar[bool] = False

    def init_state(self, layer) -> None:
        """Create the gate's state variables on ``layer`` (``MaskState``), if any."""

    def mask(self, layer, stochastic: bool) -> jax.Array:
        """Training-time mask from ``layer.gate_logits`` (differentiable)."""
        raise NotImplementedError

    def hard(self, layer) -> jax.Array:
        """Evaluation-time mask (entries > 0 are kept)."""
        return self.mask(layer, stochastic=False)

    def soft_density(self, layer) -> jax.Array:
        """Differentiable estimate of the kept fraction."""
        return jnp.mean(self.mask(layer, stochastic=False))

    def fold(self, layer) -> jax.Array | None:
        """Factor multiplied into the kernel at hardening (``None``: none)."""
        return None

    def thresholded(self, structure) -> bool:
        """Whether the trainer sets ``layer.gate_threshold`` from the target."""
        return False

    def steered(self, structure) -> bool:
        """Whether the ``GateTarget`` term steers this gate to its target density."""
        return False


@GATES.register("sigmoid_ste")
@dataclasses.dataclass(frozen=True)
class SigmoidSTE(Gate):
    """Hard ``logit >= threshold``, sigmoid gradient (N:M: top ``n`` of ``m`` logits).

    Attributes:
        temperature: sigmoid temperature of the straight-through gradient (> 0).
    """

    temperature: float = 1.0

    def __post_init__(self):
        if not float(self.temperature) > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        object.__setattr__(self, "temperature", float(self.temperature))

    def thresholded(self, structure) -> bool:
        return not structure.has_pattern

    def init_state(self, layer) -> None:
        if self.thresholded(layer.structure):
            layer.gate_threshold = MaskState(jnp.zeros((), jnp.float32))

    def mask(self, layer, stochastic: bool) -> jax.Array:
        logits = layer.gate_logits[...]
        if layer.structure.has_pattern:
            return M.ste(layer.structure.pattern(jax.lax.stop_gradient(logits)),
                         jax.nn.sigmoid(logits / self.temperature))
        return M.sigmoid_ste(logits, layer.gate_threshold[...], self.temperature)


@GATES.register("hard_concrete")
@dataclasses.dataclass(frozen=True)
class HardConcrete(Gate):
    """Hard-concrete (L0) gate: noisy in training, its mean at evaluation."""

    noise: ClassVar[bool] = True

    def steered(self, structure) -> bool:
        return not structure.has_pattern

    def init_state(self, layer) -> None:
        layer.gate_key = MaskState(jax.random.PRNGKey(0))

    def _pattern(self, layer, z, logits):
        if layer.structure.has_pattern:
            return z * layer.structure.pattern(logits)
        return z

    def mask(self, layer, stochastic: bool) -> jax.Array:
        logits = layer.gate_logits[...]
        z = (M.hard_concrete_sample(logits, layer.gate_key[...]) if stochastic
             else M.hard_concrete_mean(logits))
        return self._pattern(layer, z, jax.lax.stop_gradient(logits))

    def hard(self, layer) -> jax.Array:
        logits = layer.gate_logits[...]
        return self._pattern(layer, M.hard_concrete_mean(logits), logits)

    def soft_density(self, layer) -> jax.Array:
        logits = layer.gate_logits[...]
        d = M.hard_concrete_density(logits)
        return jnp.mean(self._pattern(layer, d, jax.lax.stop_gradient(logits)))

    def fold(self, layer) -> jax.Array:
        return M.hard_concrete_mean(layer.gate_logits[...])
