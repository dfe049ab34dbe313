"""Multi-task models: a shared trunk, one head per task, per-task losses and metrics.

The whole multi-head model is one ``nnx.Module``, so ``compress``, ``extract_workload``
and the hardware-cost term see (and cost) every head.

Example:
    >>> import jax.numpy as jnp
    >>> from flax import nnx
    >>> rngs = nnx.Rngs(0)
    >>> model = MultiTaskModel(nnx.Linear(8, 16, rngs=rngs),
    ...                        {"digit": nnx.Linear(16, 10, rngs=rngs),
    ...                         "parity": nnx.Linear(16, 2, rngs=rngs)})
    >>> sorted(model(jnp.ones((3, 8))))
    ['digit', 'parity']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from lepton_codesign.compress.losses import accuracy, cross_entropy, kd_loss

LOSSES = ("ce", "mse")


@dataclasses.dataclass(frozen=True)
class Task:
    """One task of a multi-task model.

    Attributes:
        name: the key of the head and of the targets.
        loss: ``"ce"`` (integer class labels) or ``"mse"`` (regression targets).
        weight: weight of this task's loss in the total.
    """

    name: str
    loss: str = "ce"
    weight: float = 1.0

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"task {self.name!r}: loss {self.loss!r} not in {LOSSES}")
        if self.weight < 0:
            raise ValueError(f"task {self.name!r}: weight must be >= 0, got {self.weight}")


class MultiTaskModel(nnx.Module):
    """``heads[name](trunk(x))`` for every task; returns a dict of outputs.

    Args:
        trunk: shared feature extractor (any NNX module).
        heads: one module per task name (the activation between trunk and heads is
            ``activation``, ReLU by default).
        activation: applied to the trunk output before the heads.
    """

    def __init__(self, trunk: nnx.Module, heads: Mapping[str, nnx.Module],
                 activation=jax.nn.relu):
        if not heads:
            raise ValueError("a multi-task model needs at least one head")
        self.trunk = trunk
        self.heads = nnx.Dict(dict(heads))
        self.activation = activation

    def features(self, x: jax.Array) -> jax.Array:
        """Trunk features (what feature matching compares)."""
        return self.activation(self.trunk(x))

    def __call__(self, x: jax.Array) -> dict[str, jax.Array]:
        h = self.features(x)
        return {name: head(h) for name, head in self.heads.items()}


def default_tasks(outputs: Mapping[str, jax.Array]) -> tuple[Task, ...]:
    """One cross-entropy task of weight 1 per output."""
    return tuple(Task(name) for name in sorted(outputs))


def _check(outputs: Mapping, targets: Mapping, tasks: Sequence[Task]) -> None:
    for task in tasks:
        if task.name not in outputs or task.name not in targets:
            raise ValueError(f"task {task.name!r} missing from outputs {sorted(outputs)} "
                             f"or targets {sorted(targets)}")


def task_loss(output: jax.Array, target: jax.Array, loss: str) -> jax.Array:
    """Loss of one task: cross-entropy or mean squared error."""
    if loss == "ce":
        return cross_entropy(output, target)
    return jnp.mean((output - target.reshape(output.shape)) ** 2)


def multitask_loss(outputs: Mapping[str, jax.Array], targets: Mapping[str, jax.Array],
                   tasks: Sequence[Task], teacher: Mapping[str, jax.Array] | None = None,
                   kd_alpha: float = 0.0, temperature: float = 4.0
                   ) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Weighted sum of per-task losses (with distillation on ``"ce"`` tasks).

    Returns:
        ``(total, {task: loss})``.
    """
    _check(outputs, targets, tasks)
    per_task = {}
    for task in tasks:
        loss = task_loss(outputs[task.name], targets[task.name], task.loss)
        if teacher is not None and kd_alpha > 0:
            if task.loss == "ce":
                kd = kd_loss(outputs[task.name], teacher[task.name], temperature)
            else:
                kd = jnp.mean((outputs[task.name] - teacher[task.name]) ** 2)
            loss = (1.0 - kd_alpha) * loss + kd_alpha * kd
        per_task[task.name] = loss
    total = sum(task.weight * per_task[task.name] for task in tasks)
    return total, per_task


def multitask_metrics(outputs: Mapping[str, jax.Array], targets: Mapping[str, jax.Array],
                      tasks: Sequence[Task]) -> dict[str, jax.Array]:
    """``accuracy/<task>`` for classification, ``mse/<task>`` for regression tasks."""
    _check(outputs, targets, tasks)
    out = {}
    for task in tasks:
        o, t = outputs[task.name], targets[task.name]
        if task.loss == "ce":
            out[f"accuracy/{task.name}"] = accuracy(o, t)
        else:
            out[f"mse/{task.name}"] = jnp.mean((o - t.reshape(o.shape)) ** 2)
    return out
