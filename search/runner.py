"""``run``: drive a strategy against an objective, with progress, checkpoints and resume.

Each generation: ``ask`` -> decode -> **one** call of the objective on the whole batch
-> ``tell`` -> update the archive, the feasible front and its hypervolume -> write the
checkpoint atomically (``search.checkpoint``). With ``checkpoint=path``, a later call
with the same strategy, space, key and budget continues from the last completed
generation: every recorded evaluation is kept and none is recomputed, and the result
equals that of an uninterrupted run (the strategy state, including its PRNG key, is
part of the checkpoint). A finished checkpoint is returned as is; a larger budget
extends it.

The hypervolume is measured against ``ref_point``; if none is given, it is fixed from
the first generation with feasible points (their max plus 10% of their range) and
stored with the result, so the history stays comparable within a run.

Example:
    >>> import jax
    >>> from search import problems
    >>> p = problems.zdt1(n_var=4)
    >>> r = run(nsga2(20), p.objective, p.space, key=jax.random.key(0), budget=100,
    ...         ref_point=p.ref_point, progress=False)
    >>> r.objectives.shape, len(r.hv_history)
    ((100, 2), 5)
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from lepton_codesign.search import checkpoint as ckpt
from lepton_codesign.search import pareto
from lepton_codesign.search.base import Objective, Problem, Strategy, sanitize
from lepton_codesign.search.results import SearchResult
from lepton_codesign.search.space import Space
from lepton_codesign.search.strategies.nsga2 import nsga2  # noqa: F401  (doctest name)

logger = logging.getLogger(__name__)


def as_key(key) -> jax.Array:
    """A typed PRNG key from ``jax.random.key(...)``, a legacy ``PRNGKey`` or an int."""
    if isinstance(key, int | np.integer):
        return jax.random.key(int(key))
    key = jnp.asarray(key) if not hasattr(key, "dtype") else key
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    return jax.random.wrap_key_data(key)


@functools.partial(jax.jit, static_argnums=0)
def _decode(space: Space, u):
    return space.decode(u)


@jax.jit
def _front_update(objs, valid):
    return pareto.nondominated(jnp.where(valid[:, None], objs, jnp.inf)) & valid


@functools.partial(jax.jit, static_argnums=3)
def _hv(objs, valid, ref, num_samples, key, generation):
    if objs.shape[1] <= 3:
        return pareto.hypervolume(objs, ref, mask=valid)
    return pareto.hypervolume(objs, ref, mask=valid, num_samples=num_samples,
                              key=jax.random.fold_in(key, generation))


def _bucket(n: int) -> int:
    return max(64, 1 << (max(n, 1) - 1).bit_length())


def _padded(objs: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    pad = np.full((size, objs.shape[1]), np.inf, np.float32)
    pad[: len(objs)] = objs
    valid = np.zeros(size, bool)
    valid[: len(objs)] = True
    return pad, valid


class _Archive:
    """Everything evaluated so far, plus the indices of the feasible front."""

    def __init__(self, dim: int):
        self.unit = np.zeros((0, dim), np.float32)
        self.objs: np.ndarray | None = None
        self.viol = np.zeros(0, np.float32)
        self.gen = np.zeros(0, np.int32)
        self.front = np.zeros(0, np.int64)

    def add(self, u, objs, viol, generation: int) -> None:
        start = len(self.unit)
        self.unit = np.concatenate([self.unit, u])
        self.objs = objs if self.objs is None else np.concatenate([self.objs, objs])
        self.viol = np.concatenate([self.viol, viol])
        self.gen = np.concatenate([self.gen, np.full(len(u), generation, np.int32)])
        feas = (viol <= 0) & np.all(np.isfinite(objs), axis=1)
        cand = np.concatenate([self.front, start + np.flatnonzero(feas)])
        if len(cand):
            pad, valid = _padded(self.objs[cand], _bucket(len(cand)))
            keep = np.asarray(_front_update(pad, valid))[: len(cand)]
            self.front = cand[keep]

    def front_objs(self) -> np.ndarray:
        return self.objs[self.front]


def _initial_ref(objs: np.ndarray) -> np.ndarray:
    hi, lo = objs.max(0), objs.min(0)
    span = np.where(hi > lo, hi - lo, np.maximum(np.abs(hi), 1.0))
    return (hi + 0.1 * span).astype(np.float32)


def run(strategy: Strategy, objective: Objective, space: Space, *, key, budget: int,
        constraints: Callable[[dict], Any] | None = None,
        ref_point: Sequence[float] | None = None,
        objective_names: Sequence[str] | None = None,
        checkpoint: str | os.PathLike | None = None, progress: bool = True,
        hv_samples: int = 1 << 16) -> SearchResult:
    """Search ``space`` for designs minimising ``objective`` within ``budget`` evaluations.

    Args:
        strategy: e.g. ``nsga2(100)``, ``random_search(64)``, ``gradient(32)``.
        objective: ``designs -> (n, k)`` or ``-> ((n, k), violation)``; called once per
            generation on the whole batch (see ``search.base`` for the contract).
        space: the search space.
        key: PRNG key (``jax.random.key(seed)``) or an int seed.
        budget: exact evaluations; the last batch is truncated to fit.
        constraints: optional ``designs -> (n,) | (n, c)`` violation (<= 0 satisfied).
        ref_point: hypervolume reference point; default from the first feasible batch.
        objective_names: names for the ``k`` objectives (reports, JSON).
        checkpoint: ``.npz`` path written after every generation; resumed if present.
        progress: show a tqdm bar (evaluations, front size, hypervolume).
        hv_samples: Monte-Carlo samples for the hypervolume with more than 3 objectives.

    Returns:
        A ``SearchResult`` with every evaluated design.
    """
    if budget < 1:
        raise ValueError(f"budget must be >= 1, got {budget}")
    problem = Problem(space, objective, constraints)
    key = as_key(key)
    fingerprint = {"strategy": strategy.name, "config": _jsonable(strategy.config),
                   "space": space.to_dict(),
                   "key": np.asarray(jax.random.key_data(key)).tolist()}
    ref = None if ref_point is None else np.asarray(ref_point, np.float32)
    archive = _Archive(space.dim)
    hv_hist, ev_hist, t_hist = [], [], []
    generation, elapsed, names = 0, 0.0, objective_names
    state = strategy.init(key, problem)
    last_state, truncated = state, False
    if checkpoint is not None and os.path.exists(checkpoint):
        arrays, meta = ckpt.load(checkpoint)
        _check_complete(checkpoint, arrays, meta)
        if meta.get("fingerprint") != fingerprint:
            raise ValueError(f"{checkpoint}: checkpoint belongs to a different run "
                             "(strategy, settings, space or key differ); delete it or "
                             "pass another path")
        if meta["truncated"] and budget > len(arrays["unit"]):
            raise ValueError(f"{checkpoint}: the finished run's last batch was truncated to "
                             "its budget, so it cannot be extended; start a new run")
        state = last_state = ckpt.unflatten_state(state, arrays)
        for g in np.unique(arrays["generation"]):  # rebuild the front batch by batch
            rows = arrays["generation"] == g
            archive.add(arrays["unit"][rows], arrays["objectives"][rows],
                        arrays["violation"][rows], int(g))
        hv_hist, ev_hist, t_hist = (list(arrays[k]) for k in ("hv", "evals", "times"))
        generation, elapsed = meta["generation"], meta["elapsed_s"]
        if ref is None and meta["ref_point"] is not None:
            ref = np.asarray(meta["ref_point"], np.float32)
        names = names or meta.get("objective_names")
        logger.info("resumed %s at generation %d (%d evaluations)", checkpoint, generation,
                    len(archive.unit))

    t0 = time.perf_counter() - elapsed
    bar = tqdm(total=budget, initial=min(len(archive.unit), budget), unit="eval",
               disable=not progress, desc=strategy.name, dynamic_ncols=True)
    try:
        while len(archive.unit) < budget:
            u, next_state = strategy.ask(state, problem)
            u = np.asarray(u, np.float32)
            take = min(len(u), budget - len(archive.unit))
            objs, viol = problem.evaluate_designs(_decode(space, u[:take]))
            objs, viol = np.asarray(objs, np.float32), np.asarray(viol, np.float32)
            _check_k(objs.shape[1], archive, ref, names)
            truncated = take < len(u)
            if not truncated:
                state = strategy.tell(next_state, problem, u, *sanitize(objs, viol))
            last_state = next_state
            archive.add(u[:take], objs, viol, generation)
            generation += 1
            if ref is None and len(archive.front):
                ref = _initial_ref(archive.front_objs())
            hv = _front_hv(archive, ref, key, generation, hv_samples)
            hv_hist.append(hv)
            ev_hist.append(len(archive.unit))
            t_hist.append(time.perf_counter() - t0)
            names = names or [f"f{i}" for i in range(objs.shape[1])]
            if checkpoint is not None:
                _save(checkpoint, archive, state, fingerprint, generation, t_hist[-1],
                      ref, names, hv_hist, ev_hist, t_hist, truncated)
            bar.update(take)
            bar.set_postfix(front=len(archive.front), hv=f"{hv:.4g}")
    finally:
        bar.close()
    meta = {"strategy": strategy.name, "config": _jsonable(strategy.config),
            "budget": budget, "generations": generation,
            "key": fingerprint["key"]}
    if hasattr(last_state, "smooth_evals"):  # gradient strategy: relaxed evaluations
        meta["smooth_evals"] = int(last_state.smooth_evals)
    return SearchResult.from_arrays(
        space, archive.unit, archive.objs, archive.viol, generation=archive.gen,
        hv_history=np.asarray(hv_hist, np.float64), evals_history=np.asarray(ev_hist, np.int64),
        time_history=np.asarray(t_hist, np.float64),
        ref_point=ref if ref is not None else np.full(archive.objs.shape[1], np.nan),
        objective_names=tuple(names), meta=meta)


def _check_k(k: int, archive: _Archive, ref, names) -> None:
    if archive.objs is not None and k != archive.objs.shape[1]:
        raise ValueError(f"objective returned {k} objectives, earlier {archive.objs.shape[1]}")
    if ref is not None and ref.shape != (k,):
        raise ValueError(f"ref_point has {ref.size} entries, the objective returns {k}")
    if names is not None and len(names) != k:
        raise ValueError(f"{len(names)} objective_names for {k} objectives")


_CKPT_ARRAYS = ("unit", "objectives", "violation", "generation", "hv", "evals", "times")
_CKPT_META = ("generation", "elapsed_s", "ref_point", "objective_names", "truncated")


def _check_complete(path, arrays: dict, meta: dict) -> None:
    """A readable checkpoint that misses entries is damaged: say so, and what to do."""
    missing = [k for k in _CKPT_ARRAYS if k not in arrays] + [
        f"meta.{k}" for k in _CKPT_META if k not in meta]
    n = len(arrays.get("unit", ()))
    if not missing and any(len(arrays[k]) != n for k in _CKPT_ARRAYS[1:4]):
        missing = ["equal row counts"]
    if missing:
        raise ckpt.CheckpointError(f"{path}: damaged checkpoint (missing {missing}); delete it "
                                   "to restart this search from scratch")


def _front_hv(archive: _Archive, ref, key, generation: int, hv_samples: int) -> float:
    if ref is None or not len(archive.front):
        return 0.0
    pad, valid = _padded(archive.front_objs(), _bucket(len(archive.front)))
    return float(_hv(pad, valid, jnp.asarray(ref), hv_samples, key, generation))


def _save(path, archive: _Archive, state, fingerprint, generation, elapsed, ref, names,
          hv_hist, ev_hist, t_hist, truncated: bool) -> None:
    arrays = {"unit": archive.unit, "objectives": archive.objs, "violation": archive.viol,
              "generation": archive.gen, "hv": np.asarray(hv_hist, np.float64),
              "evals": np.asarray(ev_hist, np.int64), "times": np.asarray(t_hist, np.float64)}
    arrays.update(ckpt.flatten_state(state))
    meta = {"fingerprint": fingerprint, "generation": generation, "elapsed_s": elapsed,
            "ref_point": None if ref is None else np.asarray(ref).tolist(),
            "objective_names": list(names), "truncated": truncated}
    ckpt.save(path, arrays, meta)


def _jsonable(d: dict) -> dict:
    return {k: (v if isinstance(v, str | int | float | bool | type(None)) else repr(v))
            for k, v in d.items()}
