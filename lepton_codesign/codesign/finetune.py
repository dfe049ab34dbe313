"""Training tasks of the joint search: the dense model once, then one fine-tune per rung.

Both are top-level functions of plain data (they can run on a Ray worker) that return
JSON-able records. The training split is carved into a *fit* part and a *validation*
part (``data.validation_split``); every model is trained on the fit part only, promotions
are judged on the validation part, and only a full-budget candidate (``task["final"]``)
is evaluated on the test split, whose accuracy the report shows.

* ``train_dense``: trains the float model on the fit split and saves its parameters to
  ``task["dense_path"]`` (an ``.npz`` written atomically): every candidate starts there.
  With ``task["base_bits"]`` < 32 (``[compression] base_bits``) it is trained
  quantisation-aware at that width (weights and activations, fixed form), and its float
  weights are saved (``float_weights``): on the CNN an 8-bit model trained from scratch
  is more accurate than the float one, and candidates fine-tuned from it were too
  (``benchmarks/README.md``).
* ``run_rung``: loads the dense parameters, compresses the model with the candidate's
  policy and fine-tunes it up to ``task["epochs"]``. An unstructured or channel sparsity
  target trains learned gates; N:M patterns and quantisation-only candidates train in
  fixed form (``compress.gradual``: gradual magnitude pruning, one compiled step for all
  of them). Every fine-tune continues its previous rung's model (learned gates from
  their soft state; kept in ``task["checkpoint_dir"]``, the budgets below in
  ``task["rungs_below"]``), so a promotion trains only the epochs it adds; without the
  checkpoint the rungs below are re-run first, which gives the same model.
* **Refit** (``task["refit"]``): the full-budget stretch of a promoted candidate trains on
  the validation examples too (``refit_data``: all of them, the rest of a fit-sized set
  drawn from the fit split), as a model chosen on a validation split is refit on all the
  training data once the choice is made (scikit-learn's ``refit``; Hastie et al.,
  *Elements of Statistical Learning*, 2nd ed., 7.10). Its ``val_accuracy`` is then the
  rung below's (``task["val_below"]``, the accuracy it was promoted on); the accuracy
  on the validation examples after the refit, which trained on them, is kept as
  ``refit_val_accuracy`` (only an optimistic bound may read it). The test split is
  never trained on.

Example:
    >>> rec = run_rung({"candidate": Candidate().to_dict(), ...})  # doctest: +SKIP
    >>> rec["val_accuracy"], rec["epochs"]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import time
import zipfile
from pathlib import Path

import jax
import numpy as np
from flax import nnx

from lepton_codesign.codesign.candidate import Candidate
from lepton_codesign.codesign.trials import compression_to_dict


@functools.lru_cache(maxsize=2)
def _dataset(name: str):
    from lepton_codesign.data import load_dataset

    return load_dataset(name)


def split_data(task: dict):
    """``(fit, val, test)`` ``(x, y)`` pairs of a task (user arrays or a named data set)."""
    from lepton_codesign.data import validation_split

    if task.get("arrays") is not None:
        (xtr, ytr), (xte, yte) = task["arrays"]
    else:
        ds = _dataset(task["data"]["dataset"])
        (xtr, ytr), (xte, yte) = ds.train, ds.test
    n_tr, n_te = task["data"]["max_train"], task["data"]["max_test"]
    xtr, ytr = np.asarray(xtr, np.float32)[:n_tr], np.asarray(ytr, np.int32)[:n_tr]
    xte, yte = np.asarray(xte, np.float32)[:n_te], np.asarray(yte, np.int32)[:n_te]
    fit, val = validation_split(xtr, ytr, task["val_fraction"], seed=int(task["seed"]))
    return fit, val, (xte, yte)


def _train_config(task: dict, epochs: int, lr: float, **extra):
    from lepton_codesign.train import TrainConfig

    return TrainConfig(epochs=epochs, batch_size=task["train"]["batch_size"],
                       learning_rate=lr, progress=False, **extra)


def _save_leaves(path: Path, leaves) -> None:
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez(tmp, *[np.asarray(x) for x in leaves])
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_dense(task: dict, key: str = "dense_path"):
    """The trained dense model of ``task[key]`` (built, then filled)."""
    from lepton_codesign.models import build_model

    model, _ = build_model(task["model"], seed=int(task["seed"]), features=task["features"])
    saved = _read_leaves(Path(task[key]))
    if saved is None or not _fill(model, saved):
        raise RuntimeError(f"{task[key]}: saved dense parameters are unreadable or "
                           f"do not match the model {task['model']!r}; rerun with --fresh")
    return model


def train_dense(task: dict) -> dict:
    """Train the float model on the fit split; save it; return its record."""
    from lepton_codesign.train import evaluate_model

    t0 = time.time()
    fit, val, test = split_data(task)
    if task.get("progress"):
        print(f"joint search: training the dense {task['model']} once "
              f"({task['train']['epochs']} epochs)", file=sys.stderr, flush=True)
    res = fit_dense(task, fit, val, Path(task["dense_path"]))
    test_acc = evaluate_model(res.model, test)["accuracy"]
    return {"kind": "dense", "val_accuracy": float(res.metrics["test_accuracy"]),
            "accuracy": float(test_acc), "features": int(fit[0].shape[1]),
            "layers": list(res.workload.names), "train_time_s": time.time() - t0,
            "epoch_s": epoch_s(res, fit, task)}


def fit_dense(task: dict, data, eval_data, path: Path):
    """Train the float model of ``task`` on ``data`` with the ``[train]`` settings
    (``eval_data``: what its ``test_accuracy`` is measured on) and save its parameters
    to ``path``; returns the ``TrainResult``."""
    from lepton_codesign.models import build_model
    from lepton_codesign.train import train

    model, _ = build_model(task["model"], seed=int(task["seed"]),
                           features=int(data[0].shape[1]))
    tc = task["train"]
    bits = int(task.get("base_bits", 32))
    start = model if bits == 32 else _quantised_form(model, bits, data[0])
    res = train(start, data, eval_data, _train_config(task, tc["epochs"], tc["learning_rate"]),
                key=jax.random.key(int(task["seed"])))
    if bits != 32:  # the float model that holds the quantisation-aware weights
        from lepton_codesign.train import evaluate_model

        plain = float_weights(res.model, model)
        res = dataclasses.replace(res, model=plain, metrics={
            **res.metrics, "test_accuracy": evaluate_model(plain, eval_data)["accuracy"]})
    _save_leaves(path, jax.tree.leaves(nnx.state(res.model)))
    return res


def _quantised_form(model, bits: int, x):
    """``model`` in the fixed form of a ``bits``-bit weights-and-activations policy with
    no pruning (``compress.gradual.fixed_form``): the quantisation-aware dense model of
    ``[compression] base_bits``."""
    from lepton_codesign.compress import gradual
    from lepton_codesign.extract import extract_workload

    names = list(extract_workload(model, x[:1]).names)
    policy = Candidate(structure="none", weight_bits=(bits,), act_bits=bits).policy(names)
    return gradual.fixed_form(model, policy)


def float_weights(trained, model):
    """A copy of the float ``model`` holding the weights of ``trained`` (a compressed
    form of it): every variable of ``model`` takes the value of the variable at the same
    path in ``trained`` (a compressed layer keeps its wrapped layer's ``kernel`` /
    ``bias`` names); quantiser ranges and masks, which ``model`` lacks, are dropped.

    Raises:
        ValueError: a variable of ``model`` has no counterpart of its shape.
    """
    src = dict(jax.tree_util.tree_flatten_with_path(nnx.state(trained))[0])

    def take(path, leaf):
        if path not in src or np.shape(src[path]) != np.shape(leaf):
            raise ValueError(f"float_weights: {jax.tree_util.keystr(path)} has no "
                             "counterpart of its shape in the trained model")
        return src[path]

    out = nnx.clone(model)
    nnx.update(out, jax.tree_util.tree_map_with_path(take, nnx.state(out)))
    return out


def epoch_s(res, data, task: dict) -> float:
    """The steady-state time of one training epoch of ``res`` on ``data`` (``train``'s
    median step time, which leaves out the first epoch and its compiles, times the
    steps)."""
    steps = data[0].shape[0] // min(int(task["train"]["batch_size"]), data[0].shape[0])
    return float(res.metrics["step_time_s"]) * max(steps, 1)


def run_rung(task: dict) -> dict:
    """Fine-tune the dense model with a candidate's policy for ``task["epochs"]``.

    A candidate with fixed bits and an N:M pattern or no pruning is trained in fixed
    form: gradual magnitude pruning with its masks set between epochs
    (``compress.gradual``), so every such candidate of a model reuses one compiled
    training step. An unstructured or channel target, learned allocation, learned bits
    and hardware-aware training use the learned gates (``compress``'s ``"learned"``
    method); candidates of one gate / allocation kind share their compiled step too.
    Learned gates held far more accuracy than gradual magnitude pruning at 90% sparsity
    on the CNN (``benchmarks/finetune_vs_scratch.py``: 0.726 continued vs 0.632 at seed
    0).

    Returns a ``rung`` record: candidate, rung, epochs, validation accuracy, the hard
    compression, and (``task["final"]``) the test accuracy; a refit
    (``task["refit"]``, see the module docstring) adds ``refit`` and
    ``refit_val_accuracy``.
    """
    from lepton_codesign.train import evaluate_model

    t0 = time.time()
    cand = Candidate.from_dict(task["candidate"])
    fit, val, test = split_data(task)
    dense = load_dense(task)
    policy = cand.policy(list(task["layers"]))
    rate = {}
    if policy is None and not cand.distill:
        val_acc = evaluate_model(dense, val)["accuracy"]  # the dense model itself
        comp = _dense_compression(dense, fit[0])
        test_acc = evaluate_model(dense, test)["accuracy"] if task.get("final") else None
        start = 0
    else:
        val_acc, comp, test_acc, start, rate_s = fine_tune(task, cand, policy, dense, fit,
                                                            val, test)
        rate = {"epoch_s": rate_s}
        if task.get("refit"):  # trained on the validation examples: promoted on val_below
            rate["refit"], rate["refit_val_accuracy"] = True, float(val_acc)
            val_acc = task["val_below"]
    rec = {"kind": "rung", "index": int(task["index"]), "candidate": cand.to_dict(),
           "rung": int(task["rung"]), "epochs": int(task["epochs"]),
           "val_accuracy": float(val_acc), "compression": compression_to_dict(comp),
           "from_epochs": int(start), "train_time_s": time.time() - t0, **rate}
    if task.get("final"):
        rec["accuracy"] = float(test_acc)
    return rec


def fixed_form_ok(cand: Candidate, policy) -> bool:
    """Whether ``cand`` fine-tunes in fixed form (``compress.gradual``): its policy is
    supported, it needs no gate for a hardware-cost term, and it has no unstructured or
    channel sparsity target (those train learned gates: gradual magnitude pruning from
    the dense model fell far behind them at high sparsity, see ``run_rung``)."""
    from lepton_codesign.compress import gradual

    return (policy is not None and cand.hw_weight == 0 and gradual.supports(policy)
            and (not cand.prunes or cand.structure == "nm"))


def fine_tune(task, cand, policy, dense, fit, val, test):
    """``(val accuracy, hard compression, test accuracy or None, epochs continued from,
    the last stretch's steady-state epoch time)`` of a fine-tune.

    Every fine-tune continues the rungs below it (``task["rungs_below"]``): from the last
    one's checkpoint if there is one, else they are re-run from the dense model first
    (deterministic: the same model). A continued stretch is a warm restart at the
    target (no ramp), with fresh optimiser state; learned gates continue from their
    soft state (``TrainResult.state``), a fixed-form model from its weights and masks.
    With ``task["refit"]`` the last stretch trains on ``refit_data``.
    """
    from lepton_codesign.compress import compression_state, gradual
    from lepton_codesign.train import train

    extra = train_extras(task, cand)
    epochs = int(task["epochs"])
    key = jax.random.fold_in(jax.random.key(int(task["seed"]) + 1), int(task["index"]))
    teacher = dense if cand.distill else None
    fixed = fixed_form_ok(cand, policy)
    marks = [int(e) for e in task.get("rungs_below", ()) if 0 < int(e) < epochs]
    refit = bool(task.get("refit"))
    if refit and not (marks and task.get("final") and "val_below" in task):
        raise ValueError("a refit needs a full-budget (final) fine-tune with a rung below "
                         "(rungs_below) and that rung's val_below")
    leaves, start = None, 0
    if marks:
        prev = checkpoint_path(task, marks[-1])
        leaves = None if prev is None else _read_leaves(prev)
        start = marks[-1] if leaves is not None else 0
    bounds = [start, *[m for m in marks if m > start], epochs]
    schedule = None
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        model = start_model(dense, policy, fixed)
        if leaves is not None and not _fill(model, leaves):
            raise RuntimeError(f"{checkpoint_path(task, lo)}: the saved fine-tune does not "
                               f"fit candidate {cand.label()!r}; rerun with --fresh")
        # a continued stretch is at its target from the start (the ramp ran in the
        # first); each stretch shuffles afresh (its own key)
        config = _train_config(task, hi - lo, task["learning_rate"], **extra,
                               **({"prune_end": 0.0} if lo else {}))
        if fixed:
            schedule = gradual.GradualMagnitude.of(policy, hi - lo, config.prune_end)
        data = fit
        if refit and hi == epochs:  # model selection is done: the validation examples too
            data = refit_data(fit, val, (int(task["seed"]), int(task["index"])))
        res = train(model, data, val, config, key=jax.random.fold_in(key, lo), teacher=teacher,
                    between_epochs=schedule)
        # learned gates go on from their soft state (``train`` hardens its result)
        leaves = jax.tree.leaves(nnx.state(res.model if fixed else res.state.model))
    ckpt = checkpoint_path(task, epochs)
    if ckpt is not None and not task.get("final"):  # the next rung continues from here
        _save_leaves(ckpt, leaves)
    test_acc = _test(res.model, test, task)  # before ``restore``: the shared compile
    comp = res.compression
    if fixed:
        model = schedule.restore(res.model)
        comp = compression_state(model, soft=False, workload=res.workload)
    return (res.metrics["test_accuracy"], comp, test_acc, marks[-1] if marks else 0,
            epoch_s(res, data, task))


def train_extras(task: dict, cand: Candidate) -> dict:
    """The extra ``TrainConfig`` fields of a candidate's fine-tune (its regularisers and,
    with a hardware-cost weight, the ``HardwareCost`` term on ``task["hw_spec"]``)."""
    extra = cand.train_overrides()
    if cand.hw_weight > 0:
        from lepton_codesign import hw_models
        from lepton_codesign.compress import HardwareCost

        extra["hardware"] = HardwareCost(hw_models.resolve_spec(task["hw_spec"]),
                                         cand.hw_weight, task["hw_metric"])
    return extra


def start_model(dense, policy, fixed: bool):
    """The model a fine-tune starts from: the fixed form of ``dense`` (``fixed``), its
    compressed copy, or a copy of it (no policy)."""
    from lepton_codesign.compress import compress, gradual

    if fixed:
        return gradual.fixed_form(dense, policy)
    return nnx.clone(dense) if policy is None else compress(dense, policy)


def refit_data(fit, val, seed) -> tuple[np.ndarray, np.ndarray]:
    """The training set of a refit stretch: every validation example and a random draw
    of the fit examples for the rest, as many examples as ``fit`` has (the same shapes,
    so the compiled training step of the fit split serves it: one compile fewer per
    model kind; the fit examples left out were trained on in the rungs below). With
    more validation than fit examples, a random draw of the validation examples.

    Example:
        >>> fit = (np.arange(8.0)[:, None], np.arange(8))
        >>> val = (np.arange(8.0, 10.0)[:, None], np.arange(8, 10))
        >>> x, y = refit_data(fit, val, 0)
        >>> len(y), sorted(set(y) & {8, 9})
        (8, [8, 9])
    """
    rng = np.random.default_rng(seed)
    n = len(fit[1])
    order = [(val, rng.permutation(len(val[1]))), (fit, rng.permutation(n))]
    return tuple(np.concatenate([part[k][idx] for part, idx in order])[:n] for k in (0, 1))


def checkpoint_path(task: dict, epochs: int) -> Path | None:
    """Where the fixed-form model of ``task``'s candidate after ``epochs`` is kept (one
    file per rung: a rung re-run after a crash reads the rung below's, never its own)."""
    folder = task.get("checkpoint_dir")
    if folder is None:
        return None
    return Path(folder) / f"c{int(task['index']):05d}_e{int(epochs)}.npz"


def _read_leaves(path: Path):
    """The arrays of a ``_save_leaves`` file, or ``None`` if it is missing or unreadable
    (the caller then re-runs what it held)."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as z:
            return [z[f"arr_{i}"] for i in range(len(z.files))]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None


def _fill(model, leaves) -> bool:
    """Set ``model``'s state (in place) to ``leaves``; ``False`` if they do not fit."""
    state = nnx.state(model)
    old, treedef = jax.tree.flatten(state)
    if len(old) != len(leaves) or any(np.shape(a) != np.shape(b)
                                      for a, b in zip(leaves, old, strict=True)):
        return False
    nnx.update(model, jax.tree.unflatten(treedef, [jax.numpy.asarray(a) for a in leaves]))
    return True


def _test(model, test, task):
    from lepton_codesign.train import evaluate_model

    return evaluate_model(model, test)["accuracy"] if task.get("final") else None


def _dense_compression(model, x):
    """The hard compression of the uncompressed model (what ``train`` reports for it)."""
    from lepton_codesign.compress import compression_state
    from lepton_codesign.extract import extract_workload

    return compression_state(model, soft=False, workload=extract_workload(model, x[:1]))
