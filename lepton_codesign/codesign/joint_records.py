"""Records of the joint search in ``joint.jsonl``: what a resume may trust.

One JSON object per line, appended (and fsync-ed) the moment a result exists:

* ``{"kind": "dense", ...}``: the dense model trained once (its parameters are in
  ``dense.npz``); first line of a run;
* ``{"kind": "rung", "index", "candidate", "rung", "epochs", "val_accuracy",
  "compression", ["accuracy"]}``: one fine-tune of candidate ``index`` at one
  successive-halving rung (``accuracy``, the test accuracy, only at the full budget;
  a refit one also has ``refit`` and ``refit_val_accuracy``, see ``finetune``);
* ``{"kind": "dense_all", "accuracy"}``: the dense model retrained on all the training
  data (``[compression] retrain``; its parameters are in ``dense_all.npz``), after the
  search;
* ``{"kind": "retrain", "index", "candidate", "epochs", "accuracy", "compression"}``: a
  chosen full-budget candidate retrained from it (``retrain``'s module docstring).

Both also carry ``train_time_s`` (the job's own time), ``wall_s`` (the search's wall
time since the record before; ``record_wall_s`` reads older records without it)
and, where the job trained, ``epoch_s`` (the steady-state time of one training epoch,
compiles excluded: what the time budget's estimates use).

``check_joint_record`` says what is wrong with a parsed line (``None`` if plausible);
``rundir.RunDir.joint_records`` applies it with ``file:line`` in the message.

Example:
    >>> check_joint_record({"kind": "rung"}, ["fc"])
    'index None must be an integer >= 0'
"""

from __future__ import annotations

from lepton_codesign.codesign.candidate import Candidate
from lepton_codesign.codesign.trials import bad_number, check_compression

JOINT_KINDS = ("dense", "rung", "dense_all", "retrain")


def record_wall_s(rec: dict) -> float:
    """The search wall time a record accounts for (older records: training time)."""
    return float(rec.get("wall_s", rec.get("train_time_s", 0.0)))


def check_joint_record(rec, layers: list[str] | None) -> str | None:
    """What is wrong with a parsed ``joint.jsonl`` record (``layers``: the dense record's)."""
    if not isinstance(rec, dict):
        return "not a JSON object"
    kind = rec.get("kind")
    for key in ("wall_s", "train_time_s", "epoch_s"):  # optional (older records lack some)
        if key in rec and bad_number(rec[key], 0.0, float("inf")):
            return f"{key} {rec[key]!r} is not a finite number >= 0"
    if kind == "dense":
        for key in ("val_accuracy", "accuracy"):
            if bad_number(rec.get(key), 0.0, 1.0):
                return f"{key} {rec.get(key)!r} is not a finite number in [0, 1]"
        lay = rec.get("layers")
        if not isinstance(lay, list) or not lay or not all(isinstance(x, str) for x in lay):
            return "layers must be a non-empty list of layer names"
        f = rec.get("features")
        if isinstance(f, bool) or not isinstance(f, int) or f < 1:
            return f"features {f!r} must be a positive integer"
        return None
    if kind not in JOINT_KINDS:
        return f"kind {kind!r} is not one of {list(JOINT_KINDS)}"
    if layers is None:
        return f"a {kind} record before the dense record"
    if kind == "dense_all":
        if bad_number(rec.get("accuracy"), 0.0, 1.0):
            return f"accuracy {rec.get('accuracy')!r} is not a finite number in [0, 1]"
        # epochs: optional, the epochs it was trained for
        return _check_counts({"epochs": 1, **rec}, ("epochs",))
    if kind == "retrain":
        return _check_retrain(rec, layers)
    if problem := _check_job(rec, ("index", "rung", "epochs")):
        return problem
    start = rec.get("from_epochs", 0)  # optional: the rung below a fine-tune continued
    if isinstance(start, bool) or not isinstance(start, int) or not 0 <= start < rec["epochs"]:
        return f"from_epochs {start!r} must be an integer in [0, epochs)"
    if bad_number(rec.get("val_accuracy"), 0.0, 1.0):
        return f"val_accuracy {rec.get('val_accuracy')!r} is not a finite number in [0, 1]"
    for key in ("accuracy", "refit_val_accuracy"):  # optional
        if key in rec and bad_number(rec[key], 0.0, 1.0):
            return f"{key} {rec[key]!r} is not a finite number in [0, 1]"
    if not isinstance(rec.get("refit", False), bool):
        return f"refit {rec['refit']!r} must be true or false"
    return check_compression(rec.get("compression"), len(layers))


_INT_MIN = {"index": 0, "rung": 0, "epochs": 1}  # lowest allowed value of each count


def _check_counts(rec: dict, keys) -> str | None:
    """What is wrong with a record's integer counts ``keys``, if anything."""
    for key in keys:
        v, lo = rec.get(key), _INT_MIN[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            return f"{key} {v!r} must be an integer >= {lo}"
    return None


def _check_job(rec: dict, keys) -> str | None:
    """What is wrong with a job record's counts (``keys``) and candidate, if anything."""
    if problem := _check_counts(rec, keys):
        return problem
    try:
        Candidate.from_dict(rec.get("candidate"))
    except (TypeError, ValueError, KeyError) as err:
        return f"candidate is not a valid compression candidate ({err})"
    return None


def _check_retrain(rec: dict, layers: list[str]) -> str | None:
    if problem := _check_job(rec, ("index", "epochs")):
        return problem
    if bad_number(rec.get("accuracy"), 0.0, 1.0):
        return f"accuracy {rec.get('accuracy')!r} is not a finite number in [0, 1]"
    return check_compression(rec.get("compression"), len(layers))
