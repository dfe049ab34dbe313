"""``train``: fit a (compressed) NNX model on ``(x, y)`` arrays, fast on CPU.

The model is split once (``nnx.split``) into trainable ``Param`` leaves and the rest
(mask state, fixed bits, statistics); each epoch is one ``jax.jit``-compiled
``lax.scan`` over shuffled mini-batches. ``optax.partition`` gives weights, mask logits
(``MaskLogit``), bit-widths (``BitParam``) and quantiser ranges (``QuantRange``) their
own optimisers. Score-based masks and learned-gate thresholds follow a cubic
sparsity ramp between ``prune_start`` and ``prune_end`` (fractions of training).
At the end masks and bits are hardened (``harden``), optionally fine-tuned, and
the result reports test accuracy and the hard ``hw_models.Compression``.

Example:
    >>> import jax
    >>> from flax import nnx
    >>> from lepton_codesign.data import load_digits
    >>> from lepton_codesign.models import MLP
    >>> ds = load_digits()
    >>> res = train(MLP((64, 32, 10), rngs=nnx.Rngs(0)), ds.train, ds.test,
    ...             TrainConfig(epochs=2, progress=False), key=jax.random.key(0))
    >>> 0.0 <= res.metrics["test_accuracy"] <= 1.0
    True
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from lepton_codesign import hw_models
from lepton_codesign.compress import losses as L
from lepton_codesign.compress.layers import (
    BitParam,
    MaskLogit,
    QuantRange,
    calibrate,
    compressed_layers,
    measure_act_density,
)
from lepton_codesign.compress.multitask import (
    Task,
    default_tasks,
    multitask_loss,
    multitask_metrics,
)
from lepton_codesign.compress.scores import (
    accumulate_saliency,
    cubic_ramp,
    gate_target_penalty,
    update_masks,
)
from lepton_codesign.compress.state import compression_state, harden, lowest_average_bits
from lepton_codesign.optim import MASK_OPTIMIZERS, mask_optimizer


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training settings (all methods of a comparison should share the budget).

    Attributes:
        epochs: total epochs, including ``finetune_epochs`` after hardening.
        batch_size: mini-batch size (the last partial batch of an epoch is dropped).
        learning_rate: weight learning rate (AdamW, cosine decay to 0).
        weight_decay: AdamW decoupled weight decay of the weights.
        mask_learning_rate, bit_learning_rate: rates of ``MaskLogit`` /
            ``BitParam``; quantiser ranges use ``learning_rate``.
        mask_optimizer: optimiser of the mask logits, one of
            ``optim.MASK_OPTIMIZERS``: ``"normalized_sgd"`` (stateless; its step is
            ``mask_learning_rate`` times the gradient over its root mean square over
            all mask logits), ``"adam"`` or ``"sgd"``.
        bit_optimizer: ``"adam"`` or ``"sgd"`` for bit-widths. With SGD a budget
            penalty moves each layer's bits in proportion to its parameter count
            (Adam normalises that away).
        prune_start, prune_end: sparsity ramp (cubic) as fractions of the main phase.
        mask_update_every: steps between mask / threshold recomputations.
        saliency_decay: EMA decay of the saliency scores.
        gate_target_weight: weight of the penalty steering hard-concrete gates to
            their (ramped) target density.
        kd_alpha, kd_temperature: distillation weight and temperature (with a teacher).
        feature_fn, feature_weight: optional feature matching, ``feature_fn(model, x)``
            applied to student and teacher.
        sparsity_weight, target_density: sparsity regulariser (``None``: L0 penalty).
        bit_weight, bit_budget: bit regulariser (hinge above ``bit_budget`` average
            weight bits, or the average itself). With a budget, hardening lowers or
            raises rounded bits so the reported average meets it as closely as
            possible from below (``compress.state.budget_bits``); an unreachable
            budget is an error before training starts.
        hardware: optional ``HardwareCost`` term.
        tasks: tasks of a multi-task model (default: one CE task per output).
        harden: fix masks and bits at the end (reported accuracy is then exact).
        finetune_epochs: epochs of fine-tuning after hardening.
        eval_batch_size: batch size of evaluation.
        progress: show a tqdm progress bar.
    """

    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    mask_learning_rate: float = 3e-2
    mask_optimizer: str = "normalized_sgd"
    bit_learning_rate: float = 1e-2
    bit_optimizer: str = "adam"
    prune_start: float = 0.0
    prune_end: float = 0.5
    mask_update_every: int = 8
    saliency_decay: float = 0.9
    gate_target_weight: float = 100.0
    kd_alpha: float = 0.5
    kd_temperature: float = 4.0
    feature_fn: Callable | None = None
    feature_weight: float = 0.0
    sparsity_weight: float = 0.0
    target_density: float | None = None
    bit_weight: float = 0.0
    bit_budget: float | None = None
    hardware: L.HardwareCost | None = None
    tasks: tuple[Task, ...] | None = None
    harden: bool = True
    finetune_epochs: int = 0
    eval_batch_size: int = 1000
    progress: bool = True

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be >= 1")
        if not 0 <= self.finetune_epochs < self.epochs:
            raise ValueError("finetune_epochs must be in [0, epochs)")
        if not 0.0 <= self.prune_start <= self.prune_end <= 1.0:
            raise ValueError("need 0 <= prune_start <= prune_end <= 1")
        if not 0.0 <= self.kd_alpha <= 1.0:
            raise ValueError(f"kd_alpha must be in [0, 1], got {self.kd_alpha}")
        if self.bit_optimizer not in ("adam", "sgd"):
            raise ValueError(f"bit_optimizer must be 'adam' or 'sgd', got {self.bit_optimizer!r}")
        if self.mask_optimizer not in MASK_OPTIMIZERS:
            raise ValueError(f"mask_optimizer must be one of {MASK_OPTIMIZERS}, "
                             f"got {self.mask_optimizer!r}")
        if self.mask_update_every < 1:
            raise ValueError("mask_update_every must be >= 1")


@dataclasses.dataclass
class TrainResult:
    """What ``train`` returns.

    Attributes:
        model: the trained (hardened) model, in eval mode.
        metrics: ``test_accuracy``, ``train_accuracy`` (and per-task entries),
            ``step_time_s`` (median over epochs after the first), ``loss``.
        compression: the hard ``hw_models.Compression``, aligned with ``workload``.
        workload: ``extract_workload(model, x[:1])`` (batch 1).
        history: per-epoch ``loss`` and ``train_accuracy`` (running, soft model) and
            ``step_time_s`` (wall time per step; the first epoch includes compilation).
    """

    model: nnx.Module
    metrics: dict
    compression: hw_models.Compression
    workload: hw_models.Workload
    history: dict


SMALL_LEAF = 16384  # elements; smaller leaves share one flattened update (_optimizer) [A]


def _label(var, split_masks: bool = True) -> str:
    if isinstance(var, MaskLogit):
        group = "masks"
    elif isinstance(var, BitParam):
        group = "bits"
    elif isinstance(var, QuantRange):
        group = "ranges"
    else:
        group = "weights"
    # unsplit masks: one group, normalised over all mask logits together
    small = var[...].size < SMALL_LEAF and (split_masks or group != "masks")
    return group + ("/small" if small else "")


def _optimizer(params, cfg: TrainConfig, total_steps: int):
    """``optax.partition`` of the weight / mask / bit / range optimisers.

    Small leaves (biases, ranges, bit-widths, small kernels) of each group are raveled
    into one vector (``optax.flatten``), so their update is a few fused passes instead
    of a few per leaf: per-kernel overhead dominates small tensors on CPU. Large leaves
    are updated in place (raveling them would add two copies). The arithmetic is the
    same either way, except for ``normalized_sgd``, whose normalisation spans its
    whole group: all mask logits then form one group.
    """
    split = cfg.mask_optimizer != "normalized_sgd"
    labels = jax.tree.map(lambda v: _label(v, split), params,
                          is_leaf=lambda v: isinstance(v, nnx.Variable))
    sched = optax.cosine_decay_schedule(cfg.learning_rate, max(total_steps, 1))
    groups = {
        "weights": lambda: optax.adamw(sched, weight_decay=cfg.weight_decay),
        "masks": lambda: mask_optimizer(cfg.mask_optimizer, cfg.mask_learning_rate),
        "bits": lambda: (optax.adam if cfg.bit_optimizer == "adam" else optax.sgd)(
            cfg.bit_learning_rate),
        "ranges": lambda: optax.adam(cfg.learning_rate),
    }
    used = set(jax.tree.leaves(labels))
    txs = {}
    for name, make in groups.items():
        txs[name] = make()
        small = name + "/small"
        txs[small] = optax.flatten(make()) if small in used else make()
    return optax.partition(txs, labels)


def _as_arrays(data, name: str):
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise ValueError(f"{name} must be an (x, y) pair of arrays")
    x, y = data
    x = jnp.asarray(x, jnp.float32)
    y = {k: jnp.asarray(v) for k, v in y.items()} if isinstance(y, dict) else jnp.asarray(y)
    for leaf in jax.tree.leaves(y):
        if leaf.shape[0] != x.shape[0]:
            raise ValueError(f"{name}: x has {x.shape[0]} examples, y has {leaf.shape[0]}")
    return x, y


def predict(model: nnx.Module, x, batch_size: int = 1000):
    """Eval-mode outputs of ``model`` on ``x`` in fixed-size chunks (one compile)."""
    graphdef, state = nnx.split(model)

    @jax.jit
    def fwd(state, xb):
        m = nnx.merge(graphdef, state)
        m.eval()
        return m(xb)

    x = jnp.asarray(x, jnp.float32)
    n, bs = x.shape[0], min(batch_size, x.shape[0])
    outs = []
    for i in range(0, n, bs):
        xb = x[i:i + bs]
        pad = bs - xb.shape[0]
        if pad:
            xb = jnp.concatenate([xb, jnp.zeros((pad, *xb.shape[1:]), xb.dtype)])
        outs.append(jax.tree.map(lambda o, p=pad: o[:bs - p], fwd(state, xb)))
    return jax.tree.map(lambda *o: jnp.concatenate(o), *outs)


def evaluate_model(model: nnx.Module, data, tasks=None, batch_size: int = 1000) -> dict:
    """Accuracy of ``model`` on ``(x, y)`` (per task, plus their mean, for dict outputs)."""
    x, y = _as_arrays(data, "data")
    out = predict(model, x, batch_size)
    if isinstance(out, dict):
        tasks = tasks or default_tasks(out)
        metrics = {k: float(v) for k, v in multitask_metrics(out, y, tasks).items()}
        accs = [v for k, v in metrics.items() if k.startswith("accuracy/")]
        metrics["accuracy"] = float(np.mean(accs)) if accs else float("nan")
        return metrics
    return {"accuracy": float(L.accuracy(out, y))}


class _Context:
    """Static pieces shared by the epoch function (closed over, not traced)."""

    def __init__(self, cfg: TrainConfig, multitask: bool, teacher: bool, hw_wl, hw_ref,
                 prune_begin: int, prune_end: int, scored: bool, saliency: bool):
        self.cfg, self.multitask, self.teacher = cfg, multitask, teacher
        self.hw_wl, self.hw_ref = hw_wl, hw_ref
        self.prune_begin, self.prune_end = prune_begin, prune_end
        self.scored, self.saliency = scored, saliency
        self.hc_target = False


def _loss_fn(graphdef, ctx: _Context, params, rest, xb, yb, tb, fb, key, step):
    cfg = ctx.cfg
    rest = jax.tree.map(lambda a: a, rest)  # fresh Variables at this trace level
    model = nnx.merge(graphdef, params, rest)
    for i, (_, layer) in enumerate(compressed_layers(model)):
        if hasattr(layer, "gate_key"):
            k = jax.random.fold_in(key, i)
            if jnp.issubdtype(k.dtype, jax.dtypes.prng_key):
                k = jax.random.key_data(k)
            layer.gate_key[...] = k
    out = model(xb)
    alpha = cfg.kd_alpha if ctx.teacher else 0.0
    if ctx.multitask:
        tasks = cfg.tasks or default_tasks(out)
        loss, _ = multitask_loss(out, yb, tasks, tb, alpha, cfg.kd_temperature)
        acc = jnp.mean(jnp.stack([v for k, v in multitask_metrics(out, yb, tasks).items()
                                  if k.startswith("accuracy/")] or [jnp.zeros(())]))
    else:
        loss = L.cross_entropy(out, yb)
        if ctx.teacher and alpha > 0:
            loss = (1.0 - alpha) * loss + alpha * L.kd_loss(out, tb, cfg.kd_temperature)
        acc = L.accuracy(out, yb)
    if fb is not None and cfg.feature_weight > 0:
        loss = loss + cfg.feature_weight * L.feature_matching(cfg.feature_fn(model, xb), fb)
    if ctx.hc_target and cfg.gate_target_weight > 0:
        ramp = cubic_ramp(step, ctx.prune_begin, ctx.prune_end)
        loss = loss + cfg.gate_target_weight * gate_target_penalty(model, ramp)
    if cfg.sparsity_weight > 0:
        loss = loss + cfg.sparsity_weight * L.sparsity_regulariser(model, cfg.target_density)
    if cfg.bit_weight > 0:
        loss = loss + cfg.bit_weight * L.bit_regulariser(model, cfg.bit_budget)
    if ctx.hw_wl is not None and cfg.hardware.weight > 0:
        cost = L.hardware_cost(model, ctx.hw_wl, cfg.hardware.spec, cfg.hardware.metric)
        loss = loss + cfg.hardware.weight * cost / ctx.hw_ref
    _, _, new_rest = nnx.split(model, nnx.Param, ...)
    return loss, (new_rest, acc)


def _make_epoch(graphdef, tx, ctx: _Context, steps: int, batch: int):
    cfg = ctx.cfg

    def step_fn(carry, inp):
        params, rest, opt_state, step, key = carry
        idx, x, y, t, f = inp
        xb, yb = x[idx], jax.tree.map(lambda a: a[idx], y)
        tb = None if t is None else jax.tree.map(lambda a: a[idx], t)
        fb = None if f is None else f[idx]
        key, sub = jax.random.split(key)
        (loss, (rest, acc)), grads = jax.value_and_grad(
            lambda p: _loss_fn(graphdef, ctx, p, rest, xb, yb, tb, fb, sub, step),
            has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        model = nnx.merge(graphdef, params, rest)
        for _, layer in compressed_layers(model):
            layer.project()
        if ctx.saliency:
            accumulate_saliency(model, nnx.merge(graphdef, grads, rest), cfg.saliency_decay)
        _, params, rest = nnx.split(model, nnx.Param, ...)
        if ctx.scored:
            def refresh(rest):
                m = nnx.merge(graphdef, params, jax.tree.map(lambda a: a, rest))
                update_masks(m, cubic_ramp(step, ctx.prune_begin, ctx.prune_end))
                return nnx.split(m, nnx.Param, ...)[2]
            rest = jax.lax.cond(step % cfg.mask_update_every == 0, refresh, lambda r: r, rest)
        return (params, rest, opt_state, step + 1, key), (loss, acc)

    @jax.jit
    def epoch(params, rest, opt_state, step, key, x, y, t, f):
        key, pkey = jax.random.split(key)
        perm = jax.random.permutation(pkey, x.shape[0])[:steps * batch].reshape(steps, batch)

        def body(carry, idx):
            return step_fn(carry, (idx, x, y, t, f))

        (params, rest, opt_state, step, key), (losses, accs) = jax.lax.scan(
            body, (params, rest, opt_state, step, key), perm)
        return params, rest, opt_state, step, key, jnp.mean(losses), jnp.mean(accs)

    return epoch


def _run_phase(model, cfg, ctx, epochs, data, key, bar, history, offset):
    x, y, t, f = data
    batch = min(cfg.batch_size, x.shape[0])
    steps = x.shape[0] // batch
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tx = _optimizer(params, cfg, epochs * steps)
    opt_state = tx.init(params)
    epoch_fn = _make_epoch(graphdef, tx, ctx, steps, batch)
    step = jnp.asarray(0, jnp.int32)
    for e in range(epochs):
        start = time.perf_counter()
        params, rest, opt_state, step, key, loss, acc = epoch_fn(
            params, rest, opt_state, step, key, x, y, t, f)
        loss, acc = float(loss), float(acc)
        history["step_time_s"].append((time.perf_counter() - start) / steps)
        history["loss"].append(loss)
        history["train_accuracy"].append(acc)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", acc=f"{acc:.3f}", epoch=offset + e + 1)
    return nnx.merge(graphdef, params, rest), key


def train(model: nnx.Module, train_data, test_data, config: TrainConfig | None = None, *,
          key: jax.Array, teacher: nnx.Module | None = None) -> TrainResult:
    """Train ``model`` (dense or compressed) and report accuracy and compression.

    Args:
        model: an NNX model returning logits (or a dict of outputs per task); it is
            copied, not modified.
        train_data, test_data: ``(x, y)`` arrays; ``y`` integer labels (or a dict of
            them per task for a ``MultiTaskModel``).
        config: ``TrainConfig``; defaults to ``TrainConfig()``.
        key: PRNG key for shuffling and gate noise.
        teacher: optional model to distil from (its logits on the training set are
            computed once, in eval mode).

    Returns:
        A ``TrainResult`` with ``.model``, ``.metrics["test_accuracy"]``,
        ``.compression`` (hard ``hw_models.Compression``), ``.workload``, ``.history``.
    """
    from lepton_codesign.extract import extract_workload

    cfg = config or TrainConfig()
    x, y = _as_arrays(train_data, "train_data")
    test = _as_arrays(test_data, "test_data")
    model = nnx.clone(model)
    model.train()
    layers = compressed_layers(model)
    if any(layer.a_quant for _, layer in layers):
        calibrate(model, x[: cfg.batch_size])
    if cfg.harden and cfg.bit_weight > 0 and cfg.bit_budget is not None and layers:
        low = lowest_average_bits([lay for _, lay in layers])
        if low > cfg.bit_budget + 1e-9:
            raise ValueError(f"bit_budget={cfg.bit_budget} cannot be met: the lowest average "
                             f"the compressed layers allow is {low:.3f} weight bits")
    for _, layer in layers:  # the EMA costs a pass per layer and step: only if costed
        layer.track_act_density = cfg.hardware is not None
    multitask = isinstance(y, dict)
    t = f = None
    if teacher is not None:
        t = predict(teacher, x, cfg.eval_batch_size)
        if cfg.feature_fn is not None:
            f = cfg.feature_fn(teacher, x)
    hw_wl = hw_ref = None
    if cfg.hardware is not None:
        hw_wl = cfg.hardware.workload or extract_workload(model, x[:1])
        hw_ref = L.reference_cost(hw_wl, cfg.hardware.spec, cfg.hardware.metric)
    steps = x.shape[0] // min(cfg.batch_size, x.shape[0])
    main_epochs = cfg.epochs - cfg.finetune_epochs
    total = main_epochs * steps
    scored = any(layer.method in ("magnitude", "saliency") or (
        layer.method == "learned" and layer.target_sparsity is not None) for _, layer in layers)
    ctx = _Context(cfg, multitask, teacher is not None, hw_wl, hw_ref,
                   int(cfg.prune_start * total), int(cfg.prune_end * total), scored,
                   any(layer.method == "saliency" for _, layer in layers))
    ctx.hc_target = any(layer.method == "learned" and layer.gate == "hard_concrete"
                        and layer.target_sparsity is not None for _, layer in layers)
    history = {"loss": [], "train_accuracy": [], "step_time_s": []}
    bar = None
    if cfg.progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=cfg.epochs, desc="train", leave=False)
    try:
        model, key = _run_phase(model, cfg, ctx, main_epochs, (x, y, t, f), key, bar,
                                       history, 0)
        if cfg.harden:  # a bit budget is met exactly by the hardened bits
            model = harden(model, cfg.bit_budget if cfg.bit_weight > 0 else None)
        if cfg.finetune_epochs:
            ft_ctx = _Context(cfg, multitask, teacher is not None, hw_wl, hw_ref, 0, 0,
                              False, False)
            model, key = _run_phase(model, cfg, ft_ctx, cfg.finetune_epochs,
                                     (x, y, t, f), key, bar, history, main_epochs)
    finally:
        if bar is not None:
            bar.close()
    model.eval()
    layers = compressed_layers(model)
    if layers:  # input densities of the final model, measured on training inputs
        measure_act_density(model, x[: cfg.eval_batch_size])
        for _, layer in layers:
            layer.track_act_density = True
    test_m = evaluate_model(model, test, cfg.tasks, cfg.eval_batch_size)
    train_m = evaluate_model(model, (x, y), cfg.tasks, cfg.eval_batch_size)
    metrics = {f"test_{k}": v for k, v in test_m.items()}
    metrics.update({f"train_{k}": v for k, v in train_m.items()})
    metrics["loss"] = history["loss"][-1]
    times = history["step_time_s"]
    metrics["step_time_s"] = float(np.median(times[1:] if len(times) > 1 else times))
    workload = extract_workload(model, x[:1])
    comp = compression_state(model, soft=False, workload=workload)
    return TrainResult(model, metrics, comp, workload, history)
