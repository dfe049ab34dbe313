"""Training losses: task, distillation, regularisers and a hardware-cost term.

The trainer's objective is

    task (or (1 - alpha) task + alpha KD) + feature_weight * feature matching
    + sparsity_weight * R_sparsity + bit_weight * R_bits + hw_weight * cost / cost_ref

where ``cost`` is a differentiable latency or energy from
``hw_models.evaluate(workload, spec, compression_state(model, soft=True), smooth=True)``
and ``cost_ref`` the same cost of the dense 8-bit model (so lambdas are unitless).

Example:
    >>> import jax.numpy as jnp
    >>> logits = jnp.array([[2.0, 0.0], [0.0, 2.0]])
    >>> round(float(kd_loss(logits, logits, temperature=4.0)), 6)
    0.0
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from lepton_codesign import hw_models
from lepton_codesign.compress.layers import compressed_layers
from lepton_codesign.compress.state import compression_state

METRICS = ("latency", "energy")


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy with integer labels."""
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of correct argmax predictions."""
    return jnp.mean(jnp.argmax(logits, -1) == labels)


def kd_loss(student_logits: jax.Array, teacher_logits: jax.Array,
            temperature: float = 4.0) -> jax.Array:
    """Hinton et al. (2015) distillation: ``T^2 KL(softmax(t/T) || softmax(s/T))``."""
    t = jax.nn.log_softmax(teacher_logits / temperature, -1)
    s = jax.nn.log_softmax(student_logits / temperature, -1)
    kl = jnp.sum(jnp.exp(t) * (t - s), axis=-1)
    return temperature**2 * jnp.mean(kl)


def feature_matching(student: jax.Array, teacher: jax.Array) -> jax.Array:
    """Mean squared error between features, each scaled by the teacher's RMS."""
    scale = jax.lax.stop_gradient(jnp.sqrt(jnp.mean(teacher * teacher)) + 1e-8)
    return jnp.mean(((student - teacher) / scale) ** 2)


def _weighted(model: nnx.Module, fn) -> jax.Array:
    layers = [layer for _, layer in compressed_layers(model)]
    if not layers:
        return jnp.zeros(())
    sizes = jnp.asarray([math.prod(layer.kernel_shape_gemm) for layer in layers], jnp.float32)
    vals = jnp.stack([jnp.asarray(fn(layer), jnp.float32) for layer in layers])
    return jnp.sum(vals * sizes) / jnp.sum(sizes)


def soft_density(model: nnx.Module) -> jax.Array:
    """Parameter-weighted soft density of the compressed layers (differentiable)."""
    return _weighted(model, lambda layer: layer.density(soft=True))


def average_weight_bits(model: nnx.Module) -> jax.Array:
    """Parameter-weighted average weight bit-width (straight-through, differentiable).

    Layers without weight quantisation count 32 bits.
    """
    def bits(layer):
        b = layer.bits("w")
        return 32.0 if b is None else b
    return _weighted(model, bits)


def sparsity_regulariser(model: nnx.Module, target_density: float | None = None) -> jax.Array:
    """``density`` (an L0 penalty) or ``relu(density - target)^2`` with a target."""
    d = soft_density(model)
    return d if target_density is None else jax.nn.relu(d - target_density) ** 2


def bit_regulariser(model: nnx.Module, budget_bits: float | None = None) -> jax.Array:
    """Average weight bits (scaled by 1/8), or ``relu(avg - budget)`` with a budget."""
    avg = average_weight_bits(model)
    return avg / 8.0 if budget_bits is None else jax.nn.relu(avg - budget_bits)


@dataclasses.dataclass(frozen=True)
class HardwareCost:
    """A differentiable hardware-cost term.

    Attributes:
        spec: a hardware spec for ``hw_models.evaluate`` (e.g. ``preset("gemmini-like")``).
        weight: the lambda multiplying ``cost / cost_ref``.
        metric: ``"latency"`` (total_latency_s) or ``"energy"`` (total_energy_j).
        workload: the model's workload; the trainer extracts it (batch 1) if ``None``.
        reference: the normaliser ``cost_ref``; by default the exact cost of the dense
            8-bit model (``reference_cost``).

    A loss term of the trainer (``compress.terms``): ``prepare`` binds the workload
    and reference, ``term(model, ctx)`` is ``weight * cost / reference``.
    """

    spec: object
    weight: float = 0.0
    metric: str = "energy"
    workload: hw_models.Workload | None = None
    reference: float | None = None

    task_share = 0.0  # a loss term (``compress.terms``): replaces no task loss
    tracks_act_density = True  # the cost reads the input densities (EMA in training)

    def __post_init__(self):
        if self.metric not in METRICS:
            raise ValueError(f"metric {self.metric!r} not in {METRICS}")
        if self.weight < 0:
            raise ValueError(f"hardware-cost weight must be >= 0, got {self.weight}")
        if self.reference is not None and not (math.isfinite(self.reference)
                                               and self.reference > 0):
            raise ValueError(f"hardware-cost reference must be finite and > 0, got "
                             f"{self.reference}")

    def prepare(self, setup):
        """Bind the workload (extracted from ``setup.model`` at batch 1 if not given)
        and the reference cost; ``None`` when ``weight`` is 0."""
        if self.weight <= 0:
            return None
        from lepton_codesign.extract import extract_workload

        wl = self.workload or extract_workload(setup.model, setup.x[:1])
        ref = self.reference or reference_cost(wl, self.spec, self.metric)
        return dataclasses.replace(self, workload=wl, reference=ref)

    def example_data(self, setup):
        return None

    def __call__(self, model, ctx) -> jax.Array:
        """``weight * cost / reference`` (a prepared term)."""
        cost = hardware_cost(model, self.workload, self.spec, self.metric)
        return self.weight * cost / self.reference


def hardware_cost(model: nnx.Module, workload: hw_models.Workload, spec, metric: str,
                  smooth: bool = True, soft: bool | None = None) -> jax.Array:
    """Total latency (s) or energy (J) of ``model`` on ``spec``.

    ``smooth=True`` (and, by default, a soft compression state) is differentiable with
    respect to mask logits and bit-widths; ``smooth=False`` gives the exact number.
    """
    soft = smooth if soft is None else soft
    comp = compression_state(model, soft=soft, workload=workload)
    costs = hw_models.evaluate(workload, spec, comp, smooth=smooth)
    return costs.total_latency_s if metric == "latency" else costs.total_energy_j


def reference_cost(workload: hw_models.Workload, spec, metric: str) -> float:
    """Exact cost of the dense 8-bit model (the normaliser of the hardware term)."""
    costs = hw_models.evaluate(workload, spec, hw_models.dense_compression(workload.num_layers))
    return float(costs.total_latency_s if metric == "latency" else costs.total_energy_j)
