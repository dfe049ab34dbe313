"""Loss terms the trainer sums: ``term(model, ctx) -> scalar`` each.

A term is a small frozen object. Before training, ``prepare(setup)`` returns the term
bound to what it needs (or ``None`` when it has nothing to do, e.g. distillation
without a teacher), and ``example_data(setup)`` any per-example arrays it reads (the
teacher's logits), which the trainer slices to each mini-batch as ``ctx.data``.

* ``TaskLoss(tasks)``: cross-entropy (or the weighted multi-task loss), times
  ``ctx.task_weight`` (``1 - `` the shares distillation takes);
* ``Distillation(alpha, temperature)``: ``alpha`` x Hinton et al. (2015) KD;
* ``FeatureMatching(feature_fn, weight)``: RMS-scaled feature MSE to the teacher;
* ``GateTarget(weight)``: steers gates without a threshold (hard-concrete) to their
  ramped target density (``scores.gate_target_penalty``);
* ``SparsityPenalty(weight, target_density)``, ``BitBudget(weight, budget)``: the
  regularisers of ``losses``; a budget is also met exactly by hardening;
* ``losses.HardwareCost(spec, weight, metric)``: a differentiable hardware cost.

Example:
    >>> import jax.numpy as jnp
    >>> ctx = LossContext(out=jnp.array([[2.0, 0.0]]), x=None, y=jnp.array([0]),
    ...                   step=0, ramp=1.0)
    >>> round(float(TaskLoss()(None, ctx)), 4)
    0.1269
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

from lepton_codesign.compress import losses as L
from lepton_codesign.compress.multitask import Task, default_tasks, multitask_loss, task_loss
from lepton_codesign.compress.scores import gate_target_penalty, is_steered
from lepton_codesign.compress.state import lowest_average_bits


@dataclasses.dataclass(frozen=True)
class TermSetup:
    """What terms may read in ``prepare`` / ``example_data`` (outside ``jit``).

    Attributes:
        model: the model about to be trained (training mode).
        x: the training inputs.
        layers: its compressed layers, ``(path, layer)``.
        teacher: the teacher model, or ``None``.
        teacher_out: the teacher's eval-mode outputs on ``x``, or ``None``.
        harden: the model is hardened at the end of training.
    """

    model: Any
    x: Any
    layers: list
    teacher: Any = None
    teacher_out: Any = None
    harden: bool = True


@dataclasses.dataclass(frozen=True)
class LossContext:
    """One mini-batch as terms see it (traced).

    Attributes:
        out: the model's outputs; x, y: inputs and labels (dicts per task for
        multi-task models); step: the step of the phase; ramp: the sparsity ramp
        (0..1) at ``step``; task_weight: the task loss's share; data: the term's
        own per-example arrays at this batch.
    """

    out: Any
    x: Any
    y: Any
    step: Any
    ramp: Any
    task_weight: float = 1.0
    data: Any = None


class LossTerm:
    """Base of the loss terms; see the module docstring."""

    task_share: float = 0.0  # fraction of the task loss this term replaces
    tracks_act_density: bool = False  # reads act_density (EMA kept in training)

    def prepare(self, setup: TermSetup) -> LossTerm | None:
        """The term bound for this training run, or ``None`` if it does nothing."""
        return self

    def example_data(self, setup: TermSetup):
        """Per-example arrays (leading axis = examples) sliced into ``ctx.data``."""
        return None

    def __call__(self, model, ctx: LossContext):
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class TaskLoss(LossTerm):
    """Cross-entropy with integer labels, or the weighted loss of ``tasks`` (dict outputs;
    default: one cross-entropy task per output)."""

    tasks: tuple[Task, ...] | None = None

    def __call__(self, model, ctx):
        if isinstance(ctx.out, dict):
            loss, _ = multitask_loss(ctx.out, ctx.y, self.tasks or default_tasks(ctx.out))
        else:
            loss = L.cross_entropy(ctx.out, ctx.y)
        return loss if ctx.task_weight == 1.0 else ctx.task_weight * loss


@dataclasses.dataclass(frozen=True)
class Distillation(LossTerm):
    """``alpha`` x KD from the teacher's logits (MSE for regression tasks); takes
    ``alpha`` of the task loss's weight."""

    alpha: float = 0.5
    temperature: float = 4.0
    tasks: tuple[Task, ...] | None = None

    def __post_init__(self):
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"kd_alpha must be in [0, 1], got {self.alpha}")
        if not self.temperature > 0:
            raise ValueError(f"kd_temperature must be > 0, got {self.temperature}")

    @property
    def task_share(self) -> float:
        return self.alpha

    def prepare(self, setup):
        return self if setup.teacher_out is not None and self.alpha > 0 else None

    def example_data(self, setup):
        return setup.teacher_out

    def __call__(self, model, ctx):
        if not isinstance(ctx.out, dict):
            return self.alpha * L.kd_loss(ctx.out, ctx.data, self.temperature)
        total = jnp.zeros(())
        for task in self.tasks or default_tasks(ctx.out):
            o, t = ctx.out[task.name], ctx.data[task.name]
            kd = (L.kd_loss(o, t, self.temperature) if task.loss == "ce"
                  else task_loss(o, t, "mse"))
            total = total + task.weight * kd
        return self.alpha * total


@dataclasses.dataclass(frozen=True)
class FeatureMatching(LossTerm):
    """``weight`` x RMS-scaled MSE between ``feature_fn(model, x)`` of student and teacher."""

    feature_fn: Callable | None = None
    weight: float = 0.0

    def prepare(self, setup):
        active = setup.teacher is not None and self.feature_fn is not None and self.weight > 0
        return self if active else None

    def example_data(self, setup):
        return self.feature_fn(setup.teacher, setup.x)

    def __call__(self, model, ctx):
        return self.weight * L.feature_matching(self.feature_fn(model, ctx.x), ctx.data)


@dataclasses.dataclass(frozen=True)
class GateTarget(LossTerm):
    """``weight`` x squared gap of steered gates' soft density to the ramped target."""

    weight: float = 100.0

    def prepare(self, setup):
        active = self.weight > 0 and any(is_steered(layer) for _, layer in setup.layers)
        return self if active else None

    def __call__(self, model, ctx):
        return self.weight * gate_target_penalty(model, ctx.ramp)


@dataclasses.dataclass(frozen=True)
class SparsityPenalty(LossTerm):
    """``weight`` x soft density (L0), or x ``relu(density - target_density)^2``."""

    weight: float = 0.0
    target_density: float | None = None

    def prepare(self, setup):
        return self if self.weight > 0 else None

    def __call__(self, model, ctx):
        return self.weight * L.sparsity_regulariser(model, self.target_density)


@dataclasses.dataclass(frozen=True)
class BitBudget(LossTerm):
    """``weight`` x average weight bits / 8, or x ``relu(average - budget)``.

    With a budget, hardening meets it exactly from below (``state.budget_bits``); an
    unreachable budget is an error before training.
    """

    weight: float = 0.0
    budget: float | None = None

    def prepare(self, setup):
        if self.weight <= 0:
            return None
        if setup.harden and self.budget is not None and setup.layers:
            low = lowest_average_bits([lay for _, lay in setup.layers])
            if low > self.budget + 1e-9:
                raise ValueError(f"bit_budget={self.budget} cannot be met: the lowest "
                                 f"average the compressed layers allow is {low:.3f} "
                                 "weight bits")
        return self

    def __call__(self, model, ctx):
        return self.weight * L.bit_regulariser(model, self.budget)


TERM_ORDER = (TaskLoss, Distillation, FeatureMatching, GateTarget, SparsityPenalty,
              BitBudget, L.HardwareCost)
