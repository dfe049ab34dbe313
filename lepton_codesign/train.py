"""``train``: fit a (compressed) NNX model on ``(x, y)`` arrays, fast on CPU.

The model is split once (``nnx.split``) into trainable ``Param`` leaves and the rest
(mask state, fixed bits, statistics); each epoch is one ``jax.jit``-compiled
``lax.scan`` over shuffled mini-batches (``compress.epoch``). ``optax.partition``
gives weights, mask logits (``MaskLogit``), bit-widths (``BitParam``) and quantiser
ranges (``QuantRange``) their own optimisers (``optim.partition_optimizer``). The
objective is the sum of the config's loss terms (``compress.terms``). Score-based
masks and learned-gate thresholds follow a cubic sparsity ramp between
``prune_start`` and ``prune_end`` (fractions of training). At the end masks and bits
are hardened (``harden``), optionally fine-tuned, and the result reports test accuracy
and the hard ``hw_models.Compression``.

Fine-tuning a compressed copy of a trained dense model is ``compress`` of the trained
model, then ``train``; a run continues for more epochs from its result's ``state``
(successive halving promotes a candidate to a longer budget this way):

Example:
    >>> import jax
    >>> from flax import nnx
    >>> from lepton_codesign.compress import CompressionPolicy, compress
    >>> from lepton_codesign.data import load_digits
    >>> from lepton_codesign.models import MLP
    >>> ds = load_digits()
    >>> cfg = TrainConfig(epochs=2, progress=False)
    >>> dense = train(MLP((64, 32, 10), rngs=nnx.Rngs(0)), ds.train, ds.test, cfg,
    ...               key=jax.random.key(0))
    >>> small = compress(dense.model, CompressionPolicy(sparsity=0.8, weight_bits=4))
    >>> res = train(small, ds.train, ds.test, cfg, key=jax.random.key(1))
    >>> more = train(None, ds.train, ds.test, cfg, key=jax.random.key(2),
    ...              init_state=res.state)  # two more epochs, continuing ``res``
    >>> more.state.step == 2 * res.state.step
    True
    >>> 0.0 <= more.metrics["test_accuracy"] <= 1.0
    True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from lepton_codesign import hw_models
from lepton_codesign.compress import losses as L
from lepton_codesign.compress import scores
from lepton_codesign.compress.epoch import PhaseState, Run, run_phase
from lepton_codesign.compress.layers import compressed_layers, measure_act_density
from lepton_codesign.compress.legacy import KEYWORDS, terms_from_keywords
from lepton_codesign.compress.multitask import Task, default_tasks, multitask_metrics
from lepton_codesign.compress.resume import TrainState, optimizer_for, prepare_terms, start
from lepton_codesign.compress.state import compression_state, harden
from lepton_codesign.compress.terms import BitBudget, TaskLoss, TermSetup
from lepton_codesign.memo import memo
from lepton_codesign.optim import MASK_OPTIMIZERS, partition_optimizer

_optimizer = partition_optimizer  # the name before optim.partition_optimizer


class _Unset:
    """Marks a loss keyword of ``TrainConfig`` that was not given."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET = _Unset()


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training settings (all methods of a comparison should share the budget).

    The objective is the sum of ``terms`` (``compress.terms``). The loss keywords of
    earlier versions are still accepted (init-only, not stored) and set the fields of
    the matching term (``compress.legacy.KEYWORDS``): ``tasks`` (``TaskLoss``),
    ``kd_alpha`` / ``kd_temperature`` (``Distillation``), ``feature_fn`` /
    ``feature_weight`` (``FeatureMatching``), ``gate_target_weight``
    (``GateTarget``), ``sparsity_weight`` / ``target_density`` (``SparsityPenalty``),
    ``bit_weight`` / ``bit_budget`` (``BitBudget``) and ``hardware``
    (``HardwareCost`` or ``None``). ``dataclasses.replace`` keeps the terms and
    applies the keywords it is given.

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
        harden: fix masks and bits at the end (reported accuracy is then exact).
        finetune_epochs: epochs of fine-tuning after hardening.
        eval_batch_size: batch size of evaluation.
        progress: show a tqdm progress bar.
        terms: the loss terms, summed in order; default ``TaskLoss()``,
            ``Distillation()`` (with a teacher) and ``GateTarget()`` (with
            hard-concrete gates), with the loss keywords applied.
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
    harden: bool = True
    finetune_epochs: int = 0
    eval_batch_size: int = 1000
    progress: bool = True
    terms: tuple | None = None
    tasks: dataclasses.InitVar[tuple[Task, ...] | None] = _UNSET
    kd_alpha: dataclasses.InitVar[float] = _UNSET
    kd_temperature: dataclasses.InitVar[float] = _UNSET
    feature_fn: dataclasses.InitVar[Callable | None] = _UNSET
    feature_weight: dataclasses.InitVar[float] = _UNSET
    gate_target_weight: dataclasses.InitVar[float] = _UNSET
    sparsity_weight: dataclasses.InitVar[float] = _UNSET
    target_density: dataclasses.InitVar[float | None] = _UNSET
    bit_weight: dataclasses.InitVar[float] = _UNSET
    bit_budget: dataclasses.InitVar[float | None] = _UNSET
    hardware: dataclasses.InitVar[L.HardwareCost | None] = _UNSET

    def __post_init__(self, *legacy):
        given = {k: v for k, v in zip(KEYWORDS, legacy, strict=True) if v is not _UNSET}
        object.__setattr__(self, "terms", terms_from_keywords(self.terms, given))
        if not self.terms:
            raise ValueError("terms is empty: the objective needs at least one loss term")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be >= 1")
        if not 0 <= self.finetune_epochs < self.epochs:
            raise ValueError("finetune_epochs must be in [0, epochs)")
        if not 0.0 <= self.prune_start <= self.prune_end <= 1.0:
            raise ValueError("need 0 <= prune_start <= prune_end <= 1")
        if self.bit_optimizer not in ("adam", "sgd"):
            raise ValueError(f"bit_optimizer must be 'adam' or 'sgd', got {self.bit_optimizer!r}")
        if self.mask_optimizer not in MASK_OPTIMIZERS:
            raise ValueError(f"mask_optimizer must be one of {MASK_OPTIMIZERS}, "
                             f"got {self.mask_optimizer!r}")
        if self.mask_update_every < 1:
            raise ValueError("mask_update_every must be >= 1")

    def term(self, kind: type):
        """The first term of type ``kind`` (e.g. ``BitBudget``), or ``None``."""
        return next((t for t in self.terms if isinstance(t, kind)), None)

    @property
    def task_list(self) -> tuple[Task, ...] | None:
        """The tasks of the ``TaskLoss`` term (``None``: one CE task per output)."""
        task = self.term(TaskLoss)
        return None if task is None else task.tasks


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
        state: the run before hardening, to continue it (``train(init_state=...)``).
    """

    model: nnx.Module
    metrics: dict
    compression: hw_models.Compression
    workload: hw_models.Workload
    history: dict
    state: TrainState | None = None


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


_FORWARDS: dict = {}
FORWARD_CACHE_SIZE = 32  # compiled eval forwards kept per process [A]


def _forward(graphdef):
    """The jitted eval-mode forward pass of a graph definition (cached: models that
    differ only in variable values, e.g. bit-widths, share one compilation)."""
    def fwd(state, xb):
        m = nnx.merge(graphdef, state)
        m.eval()
        return m(xb)

    return memo(_FORWARDS, graphdef, FORWARD_CACHE_SIZE, lambda: jax.jit(fwd))


def predict(model: nnx.Module, x, batch_size: int = 1000):
    """Eval-mode outputs of ``model`` on ``x`` in fixed-size chunks (one compile)."""
    graphdef, state = nnx.split(model)
    fwd = _forward(graphdef)
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


def train(model: nnx.Module | None, train_data, test_data, config: TrainConfig | None = None,
          *, key: jax.Array, teacher: nnx.Module | None = None,
          init_state: TrainState | None = None, between_epochs=None) -> TrainResult:
    """Train ``model`` (dense or compressed) and report accuracy and compression.

    Args:
        model: an NNX model returning logits (or a dict of outputs per task); it is
            copied, not modified. ``None`` with ``init_state``: the state's model.
        train_data, test_data: ``(x, y)`` arrays; ``y`` integer labels (or a dict of
            them per task for a ``MultiTaskModel``).
        config: ``TrainConfig``; defaults to ``TrainConfig()``.
        key: PRNG key for shuffling and gate noise.
        teacher: optional model to distil from (its logits on the training set are
            computed once, in eval mode).
        init_state: continue a run (``TrainResult.state``) for ``config.epochs`` more
            epochs: the soft model, optimiser moments, step count and sparsity ramp
            carry on; the weight learning rate decays afresh over the new epochs (a
            warm restart).
        between_epochs: optional ``hook(epoch, model)`` run before every epoch of the
            main phase on the training model (see ``compress.epoch.run_phase``), e.g.
            ``compress.gradual.GradualMagnitude``.

    Returns:
        A ``TrainResult`` with ``.model``, ``.metrics["test_accuracy"]``,
        ``.compression`` (hard ``hw_models.Compression``), ``.workload``, ``.history``
        and ``.state`` (to continue training).
    """
    from lepton_codesign.extract import extract_workload

    cfg = config or TrainConfig()
    if model is None and init_state is None:
        raise ValueError("model is None: pass a model, or init_state to continue a run")
    x, y = _as_arrays(train_data, "train_data")
    test = _as_arrays(test_data, "test_data")
    steps = x.shape[0] // min(cfg.batch_size, x.shape[0])
    main_epochs = cfg.epochs - cfg.finetune_epochs
    model, opt_state, step0, begin, end = start(model, cfg, x, init_state,
                                                 main_epochs * steps)
    layers = compressed_layers(model)
    teacher_out = None if teacher is None else predict(teacher, x, cfg.eval_batch_size)
    setup = TermSetup(model=model, x=x, layers=layers, teacher=teacher,
                      teacher_out=teacher_out, harden=cfg.harden)
    terms, extra = prepare_terms(cfg.terms, setup)
    run = Run(terms=terms, tasks=cfg.task_list, prune_begin=begin, prune_end=end,
              refresh=scores.needs_refresh(model),
              accumulate=any(layer.method.accumulates for _, layer in layers),
              mask_update_every=cfg.mask_update_every, saliency_decay=cfg.saliency_decay)
    history = {"loss": [], "train_accuracy": [], "step_time_s": []}
    bar = None
    if cfg.progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=cfg.epochs, desc="train", leave=False)
    try:
        params = nnx.state(model, nnx.Param)
        tx, opt_state = optimizer_for(params, cfg, main_epochs * steps, step0, opt_state)
        state, key = run_phase(PhaseState(model, opt_state, step0), tx, run, main_epochs,
                               (x, y, extra), key, cfg.batch_size, bar, history, 0,
                               between_epochs)
        resume = TrainState(nnx.clone(state.model), state.opt_state, state.step, begin, end)
        model = state.model
        if cfg.harden:  # a bit budget is met exactly by the hardened bits
            budget = next((t for t in terms if isinstance(t, BitBudget)), None)
            model = harden(model, None if budget is None else budget.budget)
        if cfg.finetune_epochs:
            setup = dataclasses.replace(setup, model=model,
                                        layers=compressed_layers(model))
            ft_terms, ft_extra = prepare_terms(terms, setup)
            ft_run = dataclasses.replace(run, terms=ft_terms, prune_begin=0, prune_end=0,
                                         refresh=False, accumulate=False)
            params = nnx.state(model, nnx.Param)
            tx, opt_state = optimizer_for(params, cfg, cfg.finetune_epochs * steps, 0, None)
            state, key = run_phase(PhaseState(model, opt_state, 0), tx, ft_run,
                                   cfg.finetune_epochs, (x, y, ft_extra), key,
                                   cfg.batch_size, bar, history, main_epochs)
            model = state.model
    finally:
        if bar is not None:
            bar.close()
    model.eval()
    if compressed_layers(model):  # input densities of the final model, on training inputs
        measure_act_density(model, x[: cfg.eval_batch_size])
    tasks = cfg.task_list
    test_m = evaluate_model(model, test, tasks, cfg.eval_batch_size)
    train_m = evaluate_model(model, (x, y), tasks, cfg.eval_batch_size)
    metrics = {f"test_{k}": v for k, v in test_m.items()}
    metrics.update({f"train_{k}": v for k, v in train_m.items()})
    metrics["loss"] = history["loss"][-1]
    times = history["step_time_s"]
    metrics["step_time_s"] = float(np.median(times[1:] if len(times) > 1 else times))
    workload = extract_workload(model, x[:1])
    comp = compression_state(model, soft=False, workload=workload)
    return TrainResult(model, metrics, comp, workload, history, resume)
