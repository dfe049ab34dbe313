"""Atomic NPZ checkpoints: arrays plus a JSON header, never pickle.

``save`` writes to a temporary file in the target directory, flushes it to disk and
``os.replace``-s it over the old checkpoint, so a crash at any moment leaves either
the previous checkpoint or the new one, never a torn file. ``load`` reads with
``allow_pickle=False``.

Strategy states are pytrees of arrays; ``flatten_state`` / ``unflatten_state`` turn
them into numbered NPZ entries and back, using a freshly initialised state as the
structure template.

Example:
    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "ck.npz")
    >>> save(path, {"x": np.arange(3)}, {"generation": 1})
    >>> arrays, meta = load(path)
    >>> arrays["x"].tolist(), meta["generation"]
    ([0, 1, 2], 1)
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

_HEADER = "__header_json__"
_STATE = "state/"


def save(path: str | os.PathLike, arrays: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
    """Atomically write ``arrays`` and the JSON-serialisable ``meta`` to ``path``."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    if any(v.dtype == object for v in payload.values()):
        raise TypeError("checkpoint arrays must not be object arrays")
    payload[_HEADER] = np.asarray(json.dumps(dict(meta)))
    fd, tmp = tempfile.mkstemp(prefix=".ckpt-", suffix=".npz", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class CheckpointError(ValueError):
    """A checkpoint file cannot be read; the message names the file and what to do."""


def load(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``(arrays, meta)`` from a file written by ``save``.

    Raises:
        CheckpointError: the file is damaged (truncated, not an NPZ, bad header) or is
            not a search checkpoint; deleting it restarts that search from scratch.
    """
    fix = "delete it to restart this search from scratch"
    try:
        with np.load(os.fspath(path), allow_pickle=False) as data:
            if _HEADER not in data.files:
                raise CheckpointError(f"{path}: not a search checkpoint (no header); {fix}")
            arrays = {k: data[k] for k in data.files if k != _HEADER}
            meta = json.loads(str(data[_HEADER]))
    except CheckpointError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"{path}: damaged checkpoint ({type(err).__name__}: {err}); "
                              f"{fix}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: damaged checkpoint (header is not an object); {fix}")
    return arrays, meta


def flatten_state(state) -> dict[str, np.ndarray]:
    """Numbered NPZ entries for the leaves of a strategy state."""
    out = {}
    for i, leaf in enumerate(jax.tree_util.tree_leaves(state)):
        if jnp.issubdtype(jnp.result_type(leaf), jax.dtypes.prng_key):
            raise TypeError("strategy states must store keys as jax.random.key_data(key)")
        out[f"{_STATE}{i}"] = np.asarray(leaf)
    return out


def unflatten_state(template, arrays: Mapping[str, np.ndarray]):
    """Rebuild a state with ``template``'s structure from ``flatten_state`` entries."""
    treedef = jax.tree_util.tree_structure(template)
    n = sum(1 for k in arrays if k.startswith(_STATE))
    if n != treedef.num_leaves:
        raise ValueError(f"checkpoint holds {n} state arrays, the strategy expects "
                         f"{treedef.num_leaves}: was it written by another strategy?")
    leaves = [jnp.asarray(arrays[f"{_STATE}{i}"]) for i in range(n)]
    return jax.tree_util.tree_unflatten(treedef, leaves)
