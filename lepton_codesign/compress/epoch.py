"""One training phase of ``train``: jitted epochs of scanned steps over a split model.

The model is split once (``nnx.split``) into trainable ``Param`` leaves and the rest
(mask state, fixed bits, statistics); each epoch is one ``jax.jit``-compiled
``lax.scan`` over shuffled mini-batches. A step sums the prepared loss terms
(``terms``), updates the parameters, projects learned bit-widths, folds gradients into
the methods' scores (saliency) and, every ``mask_update_every`` steps, refreshes the
masks that follow the sparsity ramp (``scores.update_masks``).

``run_phase`` continues from a ``PhaseState`` (parameters, optimiser state, step),
which is what lets ``train(..., init_state=...)`` resume a run.

The compiled epoch is cached (``epoch_fn``) by everything it closes over: the graph
definition, the optimiser, the phase's static pieces and the batch geometry. Values a
candidate of a search changes (bit-widths, target sparsity, masks) are variables, i.e.
traced arguments, so models that differ only in them reuse one compilation.

Example:
    >>> round(float(scores.cubic_ramp(5, 0, 10)), 3)
    0.875
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from lepton_codesign.compress import losses as L
from lepton_codesign.compress import scores
from lepton_codesign.compress.layers import compressed_layers
from lepton_codesign.compress.multitask import default_tasks, multitask_metrics
from lepton_codesign.compress.phase import Phase, phase
from lepton_codesign.compress.resume import PhaseOptimizer, schedule_arrays, schedule_values
from lepton_codesign.compress.terms import LossContext
from lepton_codesign.memo import memo


@dataclasses.dataclass(frozen=True)
class Run:
    """The static pieces of a phase (closed over by the jitted epoch, not traced).

    Attributes:
        terms: the prepared loss terms, summed in order.
        tasks: the tasks of a multi-task model (``None``: one CE task per output).
        prune_begin, prune_end: the sparsity ramp, in absolute steps.
        refresh: some layer's masks follow the ramp (``update_masks``).
        accumulate: some layer's method folds gradients into its scores.
        mask_update_every, saliency_decay: from the ``TrainConfig``.
    """

    terms: tuple
    tasks: Any
    prune_begin: int
    prune_end: int
    refresh: bool
    accumulate: bool
    mask_update_every: int
    saliency_decay: float

    @property
    def task_weight(self) -> float:
        """The task loss's share: 1 minus what the terms take (distillation)."""
        share = sum(float(getattr(t, "task_share", 0.0)) for t in self.terms)
        return 1.0 - share if share else 1.0

    @property
    def phase(self) -> Phase:
        """The forward-pass phase: input-density EMA only if a term reads it."""
        return Phase(track_act_density=any(getattr(t, "tracks_act_density", False)
                                           for t in self.terms))


def _loss_fn(graphdef, run: Run, params, rest, xb, yb, data, key, step):
    rest = jax.tree.map(lambda a: a, rest)  # fresh Variables at this trace level
    model = nnx.merge(graphdef, params, rest)
    for i, (_, layer) in enumerate(compressed_layers(model)):
        layer.reseed(key, i)
    out = model(xb)
    ctx = LossContext(out=out, x=xb, y=yb, step=step,
                      ramp=scores.cubic_ramp(step, run.prune_begin, run.prune_end),
                      task_weight=run.task_weight)
    loss = None
    for term, d in zip(run.terms, data, strict=True):
        value = term(model, dataclasses.replace(ctx, data=d))
        loss = value if loss is None else loss + value
    if isinstance(out, dict):
        metrics = multitask_metrics(out, yb, run.tasks or default_tasks(out))
        acc = jnp.mean(jnp.stack([v for k, v in metrics.items()
                                  if k.startswith("accuracy/")] or [jnp.zeros(())]))
    else:
        acc = L.accuracy(out, yb)
    _, _, new_rest = nnx.split(model, nnx.Param, ...)
    return loss, (new_rest, acc)


def _make_epoch(graphdef, tx, run: Run, steps: int, batch: int):
    def step_fn(carry, inp, run):
        params, rest, opt_state, step, key = carry
        idx, x, y, data = inp
        xb, yb = x[idx], jax.tree.map(lambda a: a[idx], y)
        db = jax.tree.map(lambda a: a[idx], data)
        key, sub = jax.random.split(key)
        (loss, (rest, acc)), grads = jax.value_and_grad(
            lambda p: _loss_fn(graphdef, run, p, rest, xb, yb, db, sub, step),
            has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        model = nnx.merge(graphdef, params, rest)
        for _, layer in compressed_layers(model):
            layer.project()
        if run.accumulate:
            scores.accumulate_saliency(model, nnx.merge(graphdef, grads, rest),
                                       run.saliency_decay)
        _, params, rest = nnx.split(model, nnx.Param, ...)
        if run.refresh:
            def refresh(rest):
                m = nnx.merge(graphdef, params, jax.tree.map(lambda a: a, rest))
                scores.update_masks(m, scores.cubic_ramp(step, run.prune_begin,
                                                         run.prune_end))
                return nnx.split(m, nnx.Param, ...)[2]
            rest = jax.lax.cond(step % run.mask_update_every == 0, refresh, lambda r: r,
                                rest)
        return (params, rest, opt_state, step + 1, key), (loss, acc)

    @jax.jit
    def epoch(params, rest, opt_state, step, key, x, y, data, sched):
        # the ramp and the learning-rate decay are traced: one compile, any length
        begin, end, lr_sched = sched
        timed = dataclasses.replace(run, prune_begin=begin, prune_end=end)
        key, pkey = jax.random.split(key)
        perm = jax.random.permutation(pkey, x.shape[0])[:steps * batch].reshape(steps, batch)

        def body(carry, idx):
            return step_fn(carry, (idx, x, y, data), timed)

        with schedule_values(lr_sched):
            (params, rest, opt_state, step, key), (losses, accs) = jax.lax.scan(
                body, (params, rest, opt_state, step, key), perm)
        return params, rest, opt_state, step, key, jnp.mean(losses), jnp.mean(accs)

    return epoch


EPOCH_CACHE_SIZE = 32  # compiled epochs kept per process [A]
_EPOCHS: dict = {}


def epoch_fn(graphdef, tx, run: Run, steps: int, batch: int):
    """The jitted epoch of ``_make_epoch``, cached by its static inputs (a model that
    differs only in variable values, e.g. bit-widths or the target sparsity, reuses
    the compiled one). Unhashable pieces (a loss term holding arrays) skip the cache."""
    run = dataclasses.replace(run, prune_begin=0, prune_end=0)  # traced (``sched``)
    return memo(_EPOCHS, (graphdef, tx, run, steps, batch), EPOCH_CACHE_SIZE,
                lambda: _make_epoch(graphdef, tx, run, steps, batch))


@dataclasses.dataclass(frozen=True)
class PhaseState:
    """Where a phase stands: the model (training mode), optimiser state and step."""

    model: nnx.Module
    opt_state: Any
    step: int


def run_phase(state: PhaseState, tx, run: Run, epochs: int, data, key, batch_size: int,
              bar=None, history=None, offset: int = 0,
              between_epochs=None) -> tuple[PhaseState, jax.Array]:
    """Train ``epochs`` epochs from ``state``; returns the new state and key.

    Args:
        state: model, optimiser state (``tx.init`` of its params for a fresh phase)
            and step.
        tx: the optimiser: a ``resume.PhaseOptimizer`` (``optimizer_for``; its decay
            length and offset are traced) or a plain optax one.
        run: the phase's static pieces.
        epochs: epochs to run.
        data: ``(x, y, per_term_data)``.
        key: PRNG key (shuffling, gate noise).
        batch_size: mini-batch size.
        bar, history, offset: progress bar, per-epoch history lists and the epoch
            number of the bar's first epoch.
        between_epochs: optional ``hook(epoch, model)`` called before each epoch (``epoch``
            counts from 0 in this phase) on the merged model, which it may change in
            place (values only, e.g. ``gradual.GradualMagnitude`` setting fixed masks
            outside the compiled step).
    """
    x, y, extra = data
    if isinstance(tx, PhaseOptimizer):
        tx, total, offset = tx.tx, tx.total_steps, tx.offset
    else:  # a plain optax optimiser (its schedule, if any, has constant arguments)
        total, offset = 1, 0
    sched = (jnp.asarray(run.prune_begin, jnp.int32), jnp.asarray(run.prune_end, jnp.int32),
             schedule_arrays(total, offset))
    batch = min(batch_size, x.shape[0])
    steps = x.shape[0] // batch
    graphdef, params, rest = nnx.split(state.model, nnx.Param, ...)
    opt_state = state.opt_state
    step = jnp.asarray(state.step, jnp.int32)
    with phase(run.phase):  # traced on the first call, inside the phase
        fn = epoch_fn(graphdef, tx, run, steps, batch)
        for e in range(epochs):
            if between_epochs is not None:
                model = nnx.merge(graphdef, params, rest)
                between_epochs(e, model)
                _, params, rest = nnx.split(model, nnx.Param, ...)
            start = time.perf_counter()
            params, rest, opt_state, step, key, loss, acc = fn(
                params, rest, opt_state, step, key, x, y, extra, sched)
            loss, acc = float(loss), float(acc)
            if history is not None:
                history["step_time_s"].append((time.perf_counter() - start) / steps)
                history["loss"].append(loss)
                history["train_accuracy"].append(acc)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.3f}", acc=f"{acc:.3f}", epoch=offset + e + 1)
    return PhaseState(nnx.merge(graphdef, params, rest), opt_state, int(step)), key
