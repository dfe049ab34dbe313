"""``SearchResult``: every evaluated design of a run, its objectives and the front.

Saved as two files side by side, no pickle: ``<stem>.json`` (settings, space, history,
the front as a readable table) and ``<stem>.npz`` (all arrays).

Example:
    >>> import os, tempfile, numpy as np
    >>> from search.space import Real, Space
    >>> space = Space({"x": Real(0, 1)})
    >>> r = SearchResult.from_arrays(space, np.array([[0.2], [0.8]]),
    ...                              np.array([[0.2, 0.8], [0.8, 0.2]]), np.zeros(2))
    >>> stem = os.path.join(tempfile.mkdtemp(), "run")
    >>> r.save(stem)
    >>> SearchResult.load(stem).front_mask.tolist()
    [True, True]
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from typing import Any

import jax
import numpy as np

from lepton_codesign.search import pareto
from lepton_codesign.search.space import Space


def _stem(path: str | os.PathLike) -> str:
    path = os.fspath(path)
    for suffix in (".json", ".npz"):
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


def front_mask_of(objectives: np.ndarray, feasible: np.ndarray) -> np.ndarray:
    """Feasible points not dominated by any other feasible point."""
    mask = np.zeros(len(objectives), bool)
    idx = np.flatnonzero(feasible)
    if idx.size:
        mask[idx] = np.asarray(jax.jit(pareto.nondominated)(objectives[idx]))
    return mask


@dataclasses.dataclass(frozen=True)
class SearchResult:
    """All designs a search evaluated, in evaluation order.

    Attributes:
        space: the search space.
        designs: ``{name: (n,) or (n, size) array}`` decoded designs (``Choice`` of
            strings as indices; ``labels()`` gives the options).
        unit: ``(n, dim)`` unit-cube encoding of the designs.
        objectives: ``(n, k)`` objective values (minimised).
        violation: ``(n,)`` total constraint violation (0 = satisfied).
        feasible: ``(n,)`` no violation and finite objectives.
        front_mask: ``(n,)`` feasible and non-dominated among feasible points.
        generation: ``(n,)`` generation that proposed each design.
        hv_history, evals_history, time_history: hypervolume of the feasible front
            w.r.t. ``ref_point``, evaluations, and wall seconds after each generation.
        ref_point: ``(k,)`` hypervolume reference point.
        objective_names: names of the ``k`` objectives.
        meta: strategy name and settings, budget, seed, smooth evaluations, ...
    """

    space: Space
    designs: dict[str, np.ndarray]
    unit: np.ndarray
    objectives: np.ndarray
    violation: np.ndarray
    feasible: np.ndarray
    front_mask: np.ndarray
    generation: np.ndarray
    hv_history: np.ndarray
    evals_history: np.ndarray
    time_history: np.ndarray
    ref_point: np.ndarray
    objective_names: tuple[str, ...]
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_arrays(cls, space: Space, unit, objectives, violation, **kw) -> SearchResult:
        """Build a result from cube points and objectives (history optional)."""
        unit = np.asarray(unit, np.float32)
        objectives = np.asarray(objectives, np.float32)
        violation = np.asarray(violation, np.float32)
        feasible = (violation <= 0) & np.all(np.isfinite(objectives), axis=1)
        k = objectives.shape[1]
        designs = {n: np.asarray(v) for n, v in space.decode(unit).items()} if len(unit) else {}
        defaults = dict(
            generation=np.zeros(len(unit), np.int32), hv_history=np.zeros(0),
            evals_history=np.zeros(0, np.int64), time_history=np.zeros(0),
            ref_point=np.full(k, np.nan), objective_names=tuple(f"f{i}" for i in range(k)),
            meta={})
        defaults.update(kw)
        return cls(space=space, designs=designs, unit=unit, objectives=objectives,
                   violation=violation, feasible=feasible,
                   front_mask=front_mask_of(objectives, feasible), **defaults)

    @property
    def num_evals(self) -> int:
        return len(self.objectives)

    def front(self) -> list[dict[str, Any]]:
        """The front as rows: design values (``Choice`` labels restored) + objectives."""
        idx = np.flatnonzero(self.front_mask)
        rows = self.space.labels({k: v[idx] for k, v in self.designs.items()})
        for row, i in zip(rows, idx, strict=True):
            row.update({n: float(self.objectives[i, j])
                        for j, n in enumerate(self.objective_names)})
            row["index"] = int(i)
        return rows

    def save(self, path: str | os.PathLike) -> None:
        """Write ``<path>.json`` and ``<path>.npz`` (a ``.json``/``.npz`` suffix is dropped)."""
        stem = _stem(path)
        os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
        arrays = {"unit": self.unit, "objectives": self.objectives, "violation": self.violation,
                  "feasible": self.feasible, "front_mask": self.front_mask,
                  "generation": self.generation, "hv_history": self.hv_history,
                  "evals_history": self.evals_history, "time_history": self.time_history,
                  "ref_point": self.ref_point}
        arrays.update({f"design/{k}": v for k, v in self.designs.items()})
        np.savez(stem + ".npz", **arrays)
        doc = {"format": "lepton-codesign.search/1", "objective_names": self.objective_names,
               "space": self.space.to_dict(), "meta": self.meta,
               "num_evals": self.num_evals, "ref_point": self.ref_point.tolist(),
               "hv_history": self.hv_history.tolist(),
               "evals_history": self.evals_history.tolist(), "front": self.front()}
        doc = _finite_or_none(json.loads(json.dumps(doc, default=_json_default)))
        with open(stem + ".json", "w") as fh:
            json.dump(doc, fh, indent=1, allow_nan=False)

    @classmethod
    def load(cls, path: str | os.PathLike) -> SearchResult:
        """Read a result written by ``save``."""
        stem = _stem(path)
        try:
            with open(stem + ".json") as fh:
                doc = json.load(fh)
        except json.JSONDecodeError as err:
            raise ValueError(f"{stem}.json: damaged result file ({err}); it cannot be read "
                             "back, rerun the search that wrote it") from None
        try:
            with np.load(stem + ".npz", allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (ValueError, EOFError, zipfile.BadZipFile) as err:
            raise ValueError(f"{stem}.npz: damaged result file ({type(err).__name__}: {err}); "
                             "it cannot be read back, rerun the search that wrote it") from None
        designs = {k[len("design/"):]: v for k, v in arrays.items() if k.startswith("design/")}
        return cls(space=Space.from_dict(doc["space"]), designs=designs,
                   objective_names=tuple(doc["objective_names"]), meta=doc["meta"],
                   **{k: v for k, v in arrays.items() if not k.startswith("design/")})


def _finite_or_none(x):
    """JSON has no NaN / inf: write them as null."""
    if isinstance(x, dict):
        return {k: _finite_or_none(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite_or_none(v) for v in x]
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
