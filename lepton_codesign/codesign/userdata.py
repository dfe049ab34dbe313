"""User arrays for ``codesign(data=...)``: checked against the model before any training.

``check_user_data`` refuses what would otherwise train silently into a wrong answer:
labels that are negative, not integers, or outside the model's output classes (which
used to give 0% accuracy), inputs whose shape the model cannot take, NaN / inf inputs.
It returns the data's provenance (shown in the log and the report, and part of the run
directory's fingerprint, so a resume with other arrays is refused).

Example:
    >>> import numpy as np
    >>> x, y = np.zeros((20, 40), np.float32), np.arange(20) % 10
    >>> check_user_data(((x, y), (x, y)), "mlp", {"max_train": 4000, "max_test": 1000}
    ...                 )["source"]
    'user arrays: 20 train / 20 test, x (40,), 10 classes'
"""

from __future__ import annotations

import hashlib

import numpy as np


def _labels(name: str, y) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"data: {name} must be a 1-D array of class labels, got shape {y.shape}")
    if y.dtype == bool or not (np.issubdtype(y.dtype, np.integer)
                               or np.issubdtype(y.dtype, np.floating)):
        raise ValueError(f"data: {name} must hold integer class labels, got dtype {y.dtype}")
    if np.issubdtype(y.dtype, np.floating):
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"data: {name}[{i}] = {y[i].item()!r} is not an integer class label")
    if len(y) and y.min() < 0:
        i = int(np.argmin(y))
        raise ValueError(f"data: {name}[{i}] = {y[i].item()!r}: class labels must be >= 0")
    return y.astype(np.int64)


def _inputs(name: str, x) -> np.ndarray:
    try:
        x = np.asarray(x, np.float32)
    except (TypeError, ValueError) as err:
        raise ValueError(f"data: {name} must be a numeric array ({err})") from None
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"data: {name} must have shape (examples, features...) with at "
                         f"least one example, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"data: {name} contains NaN or inf")
    return x


def _model_io(model_name: str, features: int | None) -> tuple[tuple, int]:
    """``(input shape without batch, number of output classes)`` of the model."""
    import jax
    from flax import nnx

    from lepton_codesign.models import build_model

    model, x0 = build_model(model_name, batch=1, features=features)
    graphdef, state = nnx.split(model)
    out = jax.eval_shape(lambda s, x: nnx.merge(graphdef, s)(x), state, x0)
    return tuple(x0.shape[1:]), int(out.shape[-1])


def check_user_data(data, model_name: str, data_cfg: dict) -> dict:
    """Check ``((x_train, y_train), (x_test, y_test))`` against the model.

    Args:
        data: the user's arrays; labels are integers in ``[0, classes)``.
        model_name: the model (built-in name or ``module:factory``).
        data_cfg: the config's ``data`` section (``max_train`` / ``max_test`` trim).

    Returns:
        ``{"source": "user arrays: N train / M test, x shape, C classes", "sha256": ...}``.

    Raises:
        ValueError: naming the array, the offending value and what is allowed.
    """
    try:
        (xtr, ytr), (xte, yte) = data
    except (TypeError, ValueError) as err:
        raise ValueError("data must be ((x_train, y_train), (x_test, y_test))") from err
    xtr, xte = _inputs("x_train", xtr), _inputs("x_test", xte)
    ytr, yte = _labels("y_train", ytr), _labels("y_test", yte)
    if len(xtr) != len(ytr) or len(xte) != len(yte):
        raise ValueError(f"data: x and y must have the same number of rows, got train "
                         f"{len(xtr)} / {len(ytr)}, test {len(xte)} / {len(yte)}")
    if xtr.shape[1:] != xte.shape[1:]:
        raise ValueError(f"data: x_train rows have shape {xtr.shape[1:]} but x_test rows "
                         f"{xte.shape[1:]}")
    # the same `features` the trials build the model with (trials.run_trial)
    shape, classes = _model_io(model_name, int(xtr.shape[1]))
    if xtr.shape[1:] != shape:
        raise ValueError(f"data: x rows have shape {xtr.shape[1:]} but model {model_name!r} "
                         f"takes inputs of shape {shape}")
    for name, y in (("y_train", ytr), ("y_test", yte)):
        if len(y) and y.max() >= classes:
            raise ValueError(f"data: {name} has labels {int(y.min())}..{int(y.max())} but model "
                             f"{model_name!r} has {classes} output classes (labels must be "
                             f"in 0..{classes - 1})")
    n_tr, n_te = min(len(xtr), data_cfg["max_train"]), min(len(xte), data_cfg["max_test"])
    h = hashlib.sha256()
    for a in (xtr[:n_tr], ytr[:n_tr], xte[:n_te], yte[:n_te]):
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    trim = "" if (n_tr, n_te) == (len(xtr), len(xte)) else (
        f" (first rows of {len(xtr)} / {len(xte)}, see data.max_train / max_test)")
    return {"source": f"user arrays: {n_tr} train / {n_te} test, x {shape}, "
                      f"{classes} classes{trim}",
            "sha256": h.hexdigest()[:16]}


def dataset_provenance(data_cfg: dict) -> dict:
    """Provenance of a built-in data set (``config["data"]``)."""
    return {"source": f"{data_cfg['dataset']} (built-in, up to {data_cfg['max_train']} train "
                      f"/ {data_cfg['max_test']} test)"}
