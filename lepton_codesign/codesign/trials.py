"""One training trial per compression operating point (runs on any executor).

``run_trial`` is a top-level function of plain-data arguments so that it can be
shipped to a Ray worker; it returns plain data (JSON-able) too.

Example:
    >>> rec = run_trial({"point": {...}, "model": "mlp", ...})  # doctest: +SKIP
    >>> rec["accuracy"], rec["compression"]["weight_bits"]  # doctest: +SKIP
"""

from __future__ import annotations

import math
import sys
import time

import jax
import numpy as np

from lepton_codesign import hw_models

FLOAT_BITS = 32


def compression_to_dict(comp: hw_models.Compression) -> dict:
    return {f: np.asarray(getattr(comp, f)).tolist()
            for f in ("weight_density", "act_density", "structure", "nm_m", "weight_bits",
                      "act_bits")}


def compression_from_dict(d: dict) -> hw_models.Compression:
    import jax.numpy as jnp

    return hw_models.Compression(**{
        k: jnp.asarray(v, jnp.int32 if k == "structure" else jnp.float32) for k, v in d.items()
    })


_COMP_RULES = {  # field -> (low, high) of every per-layer value
    "weight_density": (0.0, 1.0), "act_density": (0.0, 1.0),
    "structure": (0, 2), "nm_m": (1, 1 << 16), "weight_bits": (1, 32), "act_bits": (1, 32),
}


def _bad_number(v, lo, hi) -> bool:
    return (isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
            or not lo <= v <= hi)


def check_record(rec, names) -> str | None:
    """What is wrong with a saved trial record (``None`` if it is plausible).

    Args:
        rec: a parsed line of ``trials.jsonl``.
        names: the operating point names of the run's config.

    Example:
        >>> check_record({"name": "x", "accuracy": 7.5}, ["x"])
        'accuracy 7.5 is not a finite number in [0, 1]'
    """
    if not isinstance(rec, dict):
        return "not a JSON object"
    if rec.get("name") not in names:
        return f"name {rec.get('name')!r} is not an operating point of this config {list(names)}"
    if _bad_number(rec.get("accuracy"), 0.0, 1.0):
        return f"accuracy {rec.get('accuracy')!r} is not a finite number in [0, 1]"
    layers = rec.get("layers")
    if not isinstance(layers, list) or not layers or not all(isinstance(x, str) for x in layers):
        return "layers must be a non-empty list of layer names"
    feats = rec.get("features")
    if isinstance(feats, bool) or not isinstance(feats, int) or feats < 1:
        return f"features {feats!r} must be a positive integer"
    return check_compression(rec.get("compression"), len(layers))


def check_compression(comp, n_layers: int) -> str | None:
    """What is wrong with a saved ``compression_to_dict`` record (``None`` if plausible).

    Example:
        >>> check_compression({"weight_density": [1.0]}, 1)[:30]
        'compression must hold exactly '
    """
    if not isinstance(comp, dict) or set(comp) != set(_COMP_RULES):
        return f"compression must hold exactly {sorted(_COMP_RULES)}"
    for field, (lo, hi) in _COMP_RULES.items():
        vals = comp[field]
        if not isinstance(vals, list) or len(vals) != n_layers:
            return f"compression.{field} must list one value per layer ({n_layers})"
        if bad := [v for v in vals if _bad_number(v, lo, hi)]:
            return f"compression.{field} value {bad[0]!r} is outside [{lo}, {hi}]"
    return None


def bad_number(v, lo, hi) -> bool:
    """Not a finite number in ``[lo, hi]`` (booleans are not numbers)."""
    return _bad_number(v, lo, hi)


def policy_for(point: dict):
    """The ``CompressionPolicy`` of an operating point, or ``None`` for a float model."""
    from lepton_codesign.compress import CompressionPolicy

    nm = point["structure"] == "nm"
    prune = nm or point["sparsity"] > 0
    wb = point["weight_bits"] if point["weight_bits"] < FLOAT_BITS else None
    ab = point["act_bits"] if point["act_bits"] < FLOAT_BITS else None
    if not prune and wb is None and ab is None:
        return None
    bits = [b for b in (wb, ab) if b is not None]
    return CompressionPolicy(
        sparsity=None if nm or not prune else point["sparsity"],
        structure=point["structure"], n=point["nm"][0], m=point["nm"][1],
        method="learned" if prune else None, weight_bits=wb, act_bits=ab,
        learn_bits=point["learn_bits"], bit_range=(2, max([8] + bits)))


def run_trial(task: dict) -> dict:
    """Train the model at one operating point; return accuracy and hard compression.

    Args:
        task: ``{"point", "model", "data", "train", "seed", "progress"}`` with the
            sections of a validated config, and optionally ``"arrays"``: user data
            ``((x_train, y_train), (x_test, y_test))`` that replaces ``data``, and
            ``"source"``: how the progress line names the data.
    """
    from lepton_codesign.compress import compress
    from lepton_codesign.data import load_dataset
    from lepton_codesign.models import build_model
    from lepton_codesign.train import TrainConfig, train

    t0 = time.time()
    point, seed = task["point"], int(task["seed"])
    if task.get("progress"):
        source = task.get("source") or task["data"]["dataset"]
        print(f"trial {point['name']}: training {task['model']} on {source}",
              file=sys.stderr, flush=True)
    if task.get("arrays") is not None:  # user data: ((x_train, y_train), (x_test, y_test))
        (xtr, ytr), (xte, yte) = task["arrays"]
        xtr, xte = np.asarray(xtr, np.float32), np.asarray(xte, np.float32)
        ytr, yte = np.asarray(ytr, np.int32), np.asarray(yte, np.int32)
    else:
        ds = load_dataset(task["data"]["dataset"])
        (xtr, ytr), (xte, yte) = ds.train, ds.test
    xtr, ytr = xtr[: task["data"]["max_train"]], ytr[: task["data"]["max_train"]]
    xte, yte = xte[: task["data"]["max_test"]], yte[: task["data"]["max_test"]]
    features = int(xtr.shape[1])
    model, _ = build_model(task["model"], seed=seed, features=features)
    policy = policy_for(point)
    if policy is not None:
        model = compress(model, policy)
    tc = task["train"]
    cfg = TrainConfig(epochs=tc["epochs"], batch_size=tc["batch_size"],
                      learning_rate=tc["learning_rate"], progress=bool(task.get("progress")))
    teacher = None
    if point["distill"]:
        dense, _ = build_model(task["model"], seed=seed, features=features)
        teacher = train(dense, (xtr, ytr), (xte, yte), cfg, key=jax.random.key(seed)).model
    res = train(model, (xtr, ytr), (xte, yte), cfg, key=jax.random.key(seed + 1), teacher=teacher)
    return {"name": point["name"], "accuracy": float(res.metrics["test_accuracy"]),
            "compression": compression_to_dict(res.compression),
            "layers": list(res.workload.names), "features": features,
            "train_time_s": time.time() - t0,
            "step_time_s": float(res.metrics.get("step_time_s", float("nan")))}
