"""Continuing a training run: ``TrainState`` and the start-up pieces of ``train``.

``train`` returns, beside the hardened model, the soft model of the main phase with its
optimiser state, step count and sparsity ramp (``TrainState``); ``train(None, ...,
init_state=state)`` continues from it for more epochs (successive halving promotes a
candidate to a longer budget this way). The ramp keeps its absolute steps, Adam's
moments and counts carry on, and the weight learning rate decays afresh over the new
epochs (a warm restart: Loshchilov & Hutter, SGDR, ICLR 2017 [C]).

Example:
    >>> import jax.numpy as jnp
    >>> from flax import nnx
    >>> TrainState(nnx.Linear(2, 2, rngs=nnx.Rngs(0)), None, 0, 0, 10).prune_end
    10
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from lepton_codesign.compress.layers import calibrate, compressed_layers
from lepton_codesign.compress.terms import TermSetup
from lepton_codesign.memo import memo
from lepton_codesign.optim import partition_optimizer


@dataclasses.dataclass(frozen=True)
class TrainState:
    """Where a training run stood before hardening: what ``train(init_state=...)``
    continues from.

    Attributes:
        model: the soft (not hardened) model after the main phase, training mode.
        opt_state: the optimiser state (Adam moments, step counts).
        step: optimiser steps taken so far (all runs of the chain).
        prune_begin, prune_end: the sparsity ramp in absolute steps (fixed by the
            first run, so a continued run keeps the target it reached).
    """

    model: nnx.Module
    opt_state: Any
    step: int
    prune_begin: int
    prune_end: int


def prepare_terms(terms, setup: TermSetup) -> tuple[tuple, tuple]:
    """The terms that act in this run (``prepare``) and their per-example data."""
    prepared = tuple(p for p in (t.prepare(setup) for t in terms) if p is not None)
    if not prepared:
        raise ValueError("no loss term is active (e.g. only a Distillation term and no "
                         "teacher): add TaskLoss() to TrainConfig.terms")
    return prepared, tuple(t.example_data(setup) for t in prepared)


def start(model, cfg, x, init_state: TrainState | None, total: int):
    """The model to train, its optimiser state (``None``: fresh), first step and ramp.

    A fresh run clones ``model`` in training mode and calibrates its activation
    quantisers on the first batch; a continued run clones the state's model (or
    ``model``, which must have its structure).
    """
    if init_state is None:
        model = nnx.clone(model)
        model.train()
        if any(layer.a_quant for _, layer in compressed_layers(model)):
            calibrate(model, x[: cfg.batch_size])
        return model, None, 0, int(cfg.prune_start * total), int(cfg.prune_end * total)
    if not isinstance(init_state, TrainState):
        raise TypeError(f"init_state must be a TrainState (TrainResult.state), got "
                        f"{type(init_state).__name__}")
    model = nnx.clone(init_state.model if model is None else model)
    model.train()
    if nnx.graphdef(model) != nnx.graphdef(init_state.model):
        raise ValueError("init_state: model differs in structure from the state's model; "
                         "pass model=None (or the state's model) to continue a run")
    return (model, init_state.opt_state, init_state.step, init_state.prune_begin,
            init_state.prune_end)


_SCHEDULE: contextvars.ContextVar = contextvars.ContextVar("lepton_lr_schedule")


@contextlib.contextmanager
def schedule_values(values):
    """While tracing a step: the traced ``schedule_arrays`` the weight learning-rate
    schedule of ``optimizer_for`` reads, so one compiled epoch serves every length."""
    token = _SCHEDULE.set(values)
    try:
        yield
    finally:
        _SCHEDULE.reset(token)


def traced_cosine(learning_rate: float):
    """``optax.cosine_decay_schedule(learning_rate, total)`` started at ``offset``, with
    ``(total, pi / total, offset)`` taken from ``schedule_values`` (the arithmetic XLA
    compiles optax's constant-length schedule to: bit-for-bit the same values for a
    fresh phase; a continued run, ``offset > 0``, agrees to float rounding, ~2e-5
    relative)."""
    def schedule(count):
        total, pi_over_total, offset = _SCHEDULE.get()
        count = jnp.minimum(count - offset, total)
        # XLA folds optax's ``pi * count / total`` (a constant total) into
        # ``count * (pi / total)``: the same product, ``pi / total`` rounded on the host
        cosine_decay = 0.5 * (1 + jnp.cos(count * pi_over_total))
        return learning_rate * ((1 - 0.0) * cosine_decay ** 1.0 + 0.0)
    return schedule


def schedule_arrays(total_steps: int, offset: int) -> tuple:
    """The traced values ``schedule_values`` takes for a decay of ``total_steps`` steps
    after ``offset``: ``(total, pi / total, offset)`` (float32, float32, int32)."""
    total = np.float32(total_steps)
    return (jnp.asarray(total), jnp.asarray(np.float32(np.pi) / total),
            jnp.asarray(offset, jnp.int32))


@dataclasses.dataclass(frozen=True, eq=False)
class PhaseOptimizer:
    """A phase's optimiser (``tx``, shared by phases of any length) and the length and
    offset of its learning-rate decay (passed to the compiled epoch as traced values)."""

    tx: optax.GradientTransformation
    total_steps: int
    offset: int


OPTIMIZER_CACHE_SIZE = 32  # optimisers kept per process (``epoch.epoch_fn`` keys) [A]
_OPTIMIZERS: dict = {}


def _optimizer_key(params, cfg) -> tuple:
    """What ``partition_optimizer`` reads: the variables' types and sizes, the rates
    and optimiser names of ``cfg`` (the schedule's length and offset are traced)."""
    shape = jax.tree.map(lambda v: (type(v).__name__, int(v.size)), params,
                         is_leaf=lambda v: isinstance(v, nnx.Variable))
    return (jax.tree.structure(shape), tuple(jax.tree.leaves(shape)), cfg.learning_rate,
            cfg.weight_decay, cfg.mask_optimizer, cfg.mask_learning_rate,
            cfg.bit_optimizer, cfg.bit_learning_rate)


def optimizer_for(params, cfg, steps: int, offset: int, opt_state):
    """The optimiser of a phase of ``steps`` steps after ``offset``, and its state:
    fresh, or ``opt_state`` carried on (checked to fit).

    Returns ``(PhaseOptimizer, opt_state)``. The same settings give the same ``tx``
    object (cached) whatever ``steps`` and ``offset`` are, so the compiled epoch that
    closes over it is reused (``epoch.epoch_fn``).
    """
    tx = memo(_OPTIMIZERS, _optimizer_key(params, cfg), OPTIMIZER_CACHE_SIZE,
              lambda: partition_optimizer(params, cfg, steps, offset,
                                          schedule=traced_cosine(cfg.learning_rate)))
    opt = PhaseOptimizer(tx, max(int(steps), 1), int(offset))
    fresh = tx.init(params)
    if opt_state is None:
        return opt, fresh
    if jax.tree.structure(fresh) != jax.tree.structure(opt_state):
        raise ValueError("init_state: its optimiser state does not fit this TrainConfig "
                         "(mask_optimizer, bit_optimizer or the parameters changed)")
    return opt, opt_state
