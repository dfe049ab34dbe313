"""Retraining the chosen candidates on all the training data (``[compression] retrain``).

The search trains every model on the *fit* split and holds the *validation* split out
to judge promotions. Once it has chosen, the held-out examples have done their job:
as a model chosen on a validation split is retrained on all the training data
(scikit-learn's ``refit``; Hastie et al., *Elements of Statistical Learning*, 2nd ed.,
7.10; the searched policy of HAQ / APQ is fine-tuned afterwards in the same way), the
``retrain`` most accurate full-budget candidates (by *validation* accuracy: the test
split never chooses) are trained again on fit + validation:

* ``train_dense_all``: the dense model trained again from scratch, as the search's was
  (``[train]``), on all the training data, saved to ``task["dense_all_path"]``. It is
  the dense candidate's reported model too (the same protocol as a grid point's).
  Starting the retraining from the search's dense model instead (which has fitted the
  fit split), or from it continued for 12 epochs on all the data, held less accuracy
  on the CNN (``benchmarks/retrain_variants.py``).
* ``retrain_candidate``: a chosen candidate fine-tuned from it on all the training data
  with the search's schedule (its rungs, each continuing the one before, up to
  ``max_epochs``; one 36-epoch stretch from the dense model held less accuracy at 90%
  sparsity on the CNN); its test accuracy and hard compression replace the search's in
  the report (which keeps the search's as ``search_accuracy``).

At equal wall time (``benchmarks/codesign_joint.py --retrain 2``) the retraining's time
is taken from the search, and it did not raise the hypervolume: off by default.

Example:
    >>> pick([{"index": 1, "val_accuracy": 0.8}, {"index": 2, "val_accuracy": 0.9}], 1)
    [{'index': 2, 'val_accuracy': 0.9}]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from lepton_codesign.codesign.candidate import Candidate
from lepton_codesign.codesign.config_compression import rung_epochs
from lepton_codesign.codesign.finetune import (
    epoch_s,
    fine_tune,
    fit_dense,
    load_dense,
    split_data,
)
from lepton_codesign.codesign.trials import compression_to_dict


def all_data(fit, val) -> tuple[np.ndarray, np.ndarray]:
    """The whole training split: the fit examples, then the validation ones."""
    return tuple(np.concatenate([fit[k], val[k]]) for k in (0, 1))


def train_dense_all(task: dict) -> dict:
    """Train the dense model from scratch on fit + validation (``[train]``); save it to
    ``task["dense_all_path"]``; return its record."""
    t0 = time.time()
    fit, val, test = split_data(task)
    data = all_data(fit, val)
    res = fit_dense(task, data, test, Path(task["dense_all_path"]))
    return {"kind": "dense_all", "epochs": int(task["train"]["epochs"]),
            "accuracy": float(res.metrics["test_accuracy"]),
            "train_time_s": time.time() - t0, "epoch_s": epoch_s(res, data, task)}


def retrain_candidate(task: dict) -> dict:
    """Fine-tune ``task["candidate"]`` from the dense model of ``task["dense_all_path"]``
    on fit + validation with the search's schedule (``task["rungs_below"]``, then up to
    ``task["epochs"]``: each stretch continues the one before, as a promoted candidate
    continues its rungs); return a ``retrain`` record (test accuracy, hard
    compression)."""
    t0 = time.time()
    cand = Candidate.from_dict(task["candidate"])
    policy = cand.policy(list(task["layers"]))
    if policy is None and not cand.distill:
        raise ValueError("the dense model is retrained by train_dense_all, not as a candidate")
    fit, val, test = split_data(task)
    dense = load_dense(task, "dense_all_path")
    job = {**task, "final": True, "refit": False, "checkpoint_dir": None,
           "rungs_below": list(task.get("rungs_below", ()))}
    _, comp, acc, _, rate = fine_tune(job, cand, policy, dense, all_data(fit, val), test,
                                       test)
    return {"kind": "retrain", "index": int(task["index"]), "candidate": cand.to_dict(),
            "epochs": int(task["epochs"]), "accuracy": float(acc),
            "compression": compression_to_dict(comp), "train_time_s": time.time() - t0,
            "epoch_s": float(rate)}


def pick(finals: list[dict], k: int) -> list[dict]:
    """The ``k`` full-budget records with the highest validation accuracy (ties: the
    earlier candidate); the caller leaves the dense model out (it is retrained anyway)."""
    return sorted(finals, key=lambda r: (-float(r["val_accuracy"]), int(r["index"])))[:k]


def estimate_s(dense: dict, records: list[dict], k: int, epochs: int, dense_epochs: int,
               val_fraction: float) -> tuple[float, float]:
    """``(dense model, one candidate)`` expected retraining times: ``dense_epochs`` at
    the dense model's steady-state epoch time, and ``epochs`` at the median
    steady-state epoch time of the fine-tunes in ``records`` (else the dense model's),
    scaled by the larger data set (``1 / (1 - val_fraction)``). Compiles are left out,
    as the search's own estimates leave them out (one slow first job must not hold
    back the whole budget). ``k`` only says whether any is needed.

    Example:
        >>> estimate_s({"epoch_s": 0.1}, [{"rung": 0, "epoch_s": 0.5}], 2, 10, 20, 0.5)
        (4.0, 10.0)
    """
    if k <= 0:
        return 0.0, 0.0
    scale = 1.0 / (1.0 - val_fraction)
    tuned = [r["epoch_s"] for r in records if "epoch_s" in r and r.get("kind", "rung") == "rung"]
    dense_rate = float(dense.get("epoch_s") or 0.0)
    rate = float(np.median(tuned)) if tuned else dense_rate
    return scale * dense_epochs * dense_rate, scale * epochs * rate


def stage(cc, base, dense, finals, dense_index, again, runner, timed, left_s,
          dense_epochs: int) -> dict:
    """Retrain the dense model and the ``cc["retrain"]`` candidates of ``finals`` with
    the highest validation accuracy on all the training data (``retrain``); replayed
    from ``again`` (the recorded ``dense_all`` / ``retrain`` records) where done. With a
    budget (``left_s``: a function giving what is left of it, ``None`` without), a step
    starts while the time left covers at least half its estimate. ``runner``:
    ``joint._Runner`` (runs and records a job); ``timed``: adds records' wall times to
    the search's; ``dense_epochs``: the dense model's training epochs. Returns
    ``{index: record}``
    of the retrained ones (the dense model's: its ``dense_all`` accuracy with its
    compression)."""
    searched = [r for r in finals if r["index"] != dense_index]
    chosen = pick(searched, cc["retrain"])
    rungs = rung_epochs(cc["min_epochs"], cc["max_epochs"], cc["reduction_factor"])
    dense_s, one_s = estimate_s(dense, searched, cc["retrain"], rungs[-1], dense_epochs,
                                cc["validation_fraction"])

    def run(key, est, fn, task):
        """The step's record (replayed, or run if its estimate fits), else ``None``."""
        if key not in again:
            if left_s is not None and left_s() < 0.5 * est:
                return None
            again[key] = runner.map_one(fn, task)
        return timed([again[key]])[0]

    if runner.progress and "dense_all" not in again:
        print(f"joint search: retraining the dense model and {len(chosen)} candidate(s) on "
              "all the training data", file=sys.stderr, flush=True)
    dense_all = run("dense_all", dense_s, train_dense_all, base)
    if dense_all is None:
        return {}
    rec = next(r for r in finals if r["index"] == dense_index)
    out = {dense_index: {"accuracy": dense_all["accuracy"], "compression": rec["compression"]}}
    for rec in chosen:
        new = run(rec["index"], one_s, retrain_candidate, {
            **base, "index": rec["index"], "candidate": rec["candidate"],
            "epochs": rungs[-1], "rungs_below": rungs[:-1]})
        if new is not None:
            out[rec["index"]] = new
    return out
