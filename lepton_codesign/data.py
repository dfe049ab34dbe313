"""Offline classification data: scikit-learn digits, MNIST-1D, or your own arrays.

Nothing is downloaded: ``digits`` ships with scikit-learn, and MNIST-1D is generated
procedurally by the ``mnist1d`` package (``make_dataset``; its ``get_dataset`` would try
the network and write a pickle, so it is never called). With the default arguments
the MNIST-1D data equal the official pickle: 4000 train / 1000 test sequences of
length 40 (Greydanus, 2020).

Example:
    >>> ds = load_digits()
    >>> ds.train[0].shape[1], ds.num_classes
    (64, 10)
"""

from __future__ import annotations

import random
from typing import NamedTuple

import numpy as np


class Dataset(NamedTuple):
    """Train / test ``(x, y)`` arrays (float32 inputs, int32 labels)."""

    train: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    num_classes: int
    name: str


def _split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int):
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    perm = np.random.default_rng(seed).permutation(len(y))
    n_test = max(1, int(round(len(y) * test_fraction)))
    te, tr = perm[:n_test], perm[n_test:]
    return (x[tr], y[tr]), (x[te], y[te])


def from_arrays(x, y, *, test: tuple | None = None, test_fraction: float = 0.2,
                seed: int = 0, num_classes: int | None = None,
                name: str = "arrays") -> Dataset:
    """A ``Dataset`` from user arrays (split off a test set unless ``test`` is given).

    Args:
        x: inputs, first axis = examples.
        y: integer class labels, shape ``(examples,)``.
        test: optional ``(x_test, y_test)``.
        test_fraction: share held out when ``test`` is ``None``.
        seed: seed of the split permutation.
        num_classes: default ``max(y) + 1``.
        name: label for reports.

    Raises:
        ValueError: on mismatched lengths, non-integer or negative labels.
    """
    x = np.asarray(x, np.float32)
    y = np.asarray(y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} examples but y has {y.shape[0]}")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or (y.size and y.min() < 0):
        raise ValueError("y must be a 1-D array of non-negative integer class labels")
    y = y.astype(np.int32)
    if test is None:
        train, test = _split(x, y, test_fraction, seed)
    else:
        train = (x, y)
        test = (np.asarray(test[0], np.float32), np.asarray(test[1]).astype(np.int32))
    classes = int(max(train[1].max(), test[1].max()) + 1) if num_classes is None \
        else int(num_classes)
    return Dataset(train, test, classes, name)


def validation_split(x, y, fraction: float = 0.2, seed: int = 0):
    """Carve a validation split off training arrays: ``((x_fit, y_fit), (x_val, y_val))``.

    The split is a seeded permutation of the training examples, so the test split is
    never touched (model selection on validation data, reporting on test data).

    Example:
        >>> (xf, yf), (xv, yv) = validation_split(np.zeros((10, 2)), np.arange(10), 0.2)
        >>> len(yf), len(yv)
        (8, 2)
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    if len(y) < 2:
        raise ValueError(f"need at least 2 training examples to split, got {len(y)}")
    return _split(np.asarray(x), np.asarray(y), fraction, seed)


def load_digits(*, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 digits (1797 images, bundled), pixels scaled to [0, 1].

    Inputs are flattened to 64 features; ``seed`` fixes the train / test split.
    """
    from sklearn.datasets import load_digits as _load

    d = _load()
    x = (d.data / 16.0).astype(np.float32)
    return from_arrays(x, d.target, test_fraction=test_fraction, seed=seed,
                       num_classes=10, name="digits")


def load_mnist1d(*, num_samples: int = 5000, train_split: float = 0.8, seed: int = 42,
                 **overrides) -> Dataset:
    """MNIST-1D generated locally with ``mnist1d.data.make_dataset`` (no download).

    Args:
        num_samples: total examples (default 5000 as in the paper).
        train_split: share used for training (default 0.8).
        seed: the generator seed (42 reproduces the official data).
        **overrides: any other field of ``mnist1d.data.get_dataset_args``.

    The global NumPy / ``random`` states that ``make_dataset`` reseeds are restored.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    for key, value in {"num_samples": num_samples, "train_split": train_split,
                       "seed": seed, **overrides}.items():
        if not hasattr(args, key):
            raise ValueError(f"unknown MNIST-1D argument {key!r}")
        setattr(args, key, value)
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return Dataset((d["x"].astype(np.float32), d["y"].astype(np.int32)),
                   (d["x_test"].astype(np.float32), d["y_test"].astype(np.int32)),
                   10, "mnist1d")


def load_dataset(name: str, **kwargs) -> Dataset:
    """``"digits"`` or ``"mnist1d"`` by name."""
    loaders = {"digits": load_digits, "mnist1d": load_mnist1d}
    if name not in loaders:
        raise ValueError(f"unknown dataset {name!r}; available: {sorted(loaders)}")
    return loaders[name](**kwargs)
