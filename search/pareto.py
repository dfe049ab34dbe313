"""Pareto utilities (all objectives minimised), jittable with static shapes.

* ``dominance_matrix`` / ``nondominated`` / ``ranks``: Pareto domination, or Deb's
  *constrained* domination when a ``violation`` vector is given (Deb 2000, "An
  efficient constraint handling method for genetic algorithms"): a feasible point
  (violation <= 0) beats an infeasible one, two infeasible points compare by total
  violation, two feasible ones by Pareto domination.
* ``crowding_distance``: NSGA-II crowding distance within each front (Deb et al. 2002),
  boundary points get ``inf``.
* ``hypervolume``: exact in any number of objectives. 2 and 3 objectives run in JAX
  (sweep / slicing, O(n log n) and O(n^2)); 4 or more call moocore's exact algorithm
  on the host through ``jax.pure_callback`` (López-Ibáñez, moocore, "hv" = Fonseca et
  al. 2006 dimension sweep / HV4D+), so it works under ``jit`` and ``vmap`` too. Points
  that do not strictly dominate ``ref`` contribute nothing, as in moocore and pymoo.

Example:
    >>> import jax.numpy as jnp
    >>> pts = jnp.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [3.0, 3.0]])
    >>> nondominated(pts).tolist()
    [True, True, True, False]
    >>> float(hypervolume(pts, jnp.array([4.0, 4.0])))
    6.0
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike


def dominance_matrix(points: ArrayLike, violation: ArrayLike | None = None) -> jax.Array:
    """``D[i, j]`` is True when point ``i`` (constrained-)dominates point ``j``.

    Args:
        points: ``(n, k)`` objective vectors to minimise.
        violation: optional ``(n,)`` total constraint violation (<= 0 means feasible).
    """
    p = jnp.asarray(points)
    le = jnp.all(p[:, None, :] <= p[None, :, :], axis=-1)
    lt = jnp.any(p[:, None, :] < p[None, :, :], axis=-1)
    pareto = le & lt
    if violation is None:
        return pareto
    cv = jnp.maximum(jnp.asarray(violation, p.dtype), 0.0)
    fi, fj = (cv <= 0)[:, None], (cv <= 0)[None, :]
    infeasible_cmp = cv[:, None] < cv[None, :]
    return jnp.where(fi & fj, pareto, jnp.where(fi, True, jnp.where(fj, False, infeasible_cmp)))


def nondominated(points: ArrayLike, violation: ArrayLike | None = None) -> jax.Array:
    """Boolean ``(n,)`` mask of the points no other point (constrained-)dominates.

    Example:
        >>> nondominated(jnp.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])).tolist()
        [True, True, False]
    """
    return ~jnp.any(dominance_matrix(points, violation), axis=0)


def ranks(points: ArrayLike, violation: ArrayLike | None = None) -> jax.Array:
    """Non-dominated sorting: int32 front index per point (0 = best front).

    Example:
        >>> ranks(jnp.array([[0.0, 1.0], [1.0, 1.0], [2.0, 2.0]])).tolist()
        [0, 1, 2]
    """
    dom = dominance_matrix(points, violation)
    n = dom.shape[0]

    def body(carry):
        rank, r = carry
        remaining = rank < 0
        dominated = jnp.any(dom & remaining[:, None], axis=0)
        return jnp.where(remaining & ~dominated, r, rank), r + 1

    rank, _ = jax.lax.while_loop(lambda c: jnp.any(c[0] < 0), body,
                                 (jnp.full((n,), -1, jnp.int32), jnp.int32(0)))
    return rank


def crowding_distance(points: ArrayLike, rank: ArrayLike | None = None) -> jax.Array:
    """NSGA-II crowding distance of each point within its front (``inf`` at the ends).

    Each objective's gap is normalised by that objective's range within the front.

    Args:
        points: ``(n, k)`` objectives.
        rank: ``(n,)`` front index per point (``ranks``); default: one front.
    """
    p = jnp.asarray(points)
    n = p.shape[0]
    rank = jnp.zeros((n,), jnp.int32) if rank is None else jnp.asarray(rank, jnp.int32)

    def one_objective(v):
        order = jnp.lexsort((v, rank))
        sv, sr = v[order], rank[order]
        same_prev = jnp.concatenate([jnp.array([False]), sr[1:] == sr[:-1]])
        same_next = jnp.concatenate([sr[:-1] == sr[1:], jnp.array([False])])
        prev_v = jnp.concatenate([sv[:1], sv[:-1]])
        next_v = jnp.concatenate([sv[1:], sv[-1:]])
        span = (jax.ops.segment_max(v, rank, num_segments=n)
                - jax.ops.segment_min(v, rank, num_segments=n))[sr]
        gap = jnp.where(span > 0, (next_v - prev_v) / jnp.where(span > 0, span, 1.0), 0.0)
        d_sorted = jnp.where(same_prev & same_next, gap, jnp.inf)
        return jnp.zeros((n,), p.dtype).at[order].set(d_sorted)

    return jnp.sum(jax.vmap(one_objective, in_axes=1, out_axes=1)(p), axis=1)


def _mask_to_ref(points, ref, mask):
    """Replace points that are masked out or do not strictly dominate ``ref`` by ``ref``."""
    ok = jnp.all(points < ref, axis=1) & jnp.all(jnp.isfinite(points), axis=1)
    if mask is not None:
        ok = ok & jnp.asarray(mask, bool)
    return jnp.where(ok[:, None], points, ref[None, :])


def _hv2d(points, ref):
    order = jnp.argsort(points[:, 0])
    x, y = points[order, 0], jax.lax.cummin(points[order, 1])
    width = jnp.concatenate([x[1:], ref[:1]]) - x
    return jnp.sum(width * (ref[1] - y))


def _hv3d(points, ref):
    """Slices along z; slice i is the 2-D volume of the points at or below z_i.

    The 2-D sweep keeps every point in one global x order and lifts the points not yet
    in a slice to ``y = ref_y`` (they then add zero), so no per-slice sort is needed:
    O(n^2) work and memory.
    """
    n = points.shape[0]
    by_x = jnp.argsort(points[:, 0])
    p = points[by_x]
    width = jnp.concatenate([p[1:, 0], ref[:1]]) - p[:, 0]
    z_order = jnp.argsort(p[:, 2])
    z_rank = jnp.zeros((n,), jnp.int32).at[z_order].set(jnp.arange(n, dtype=jnp.int32))
    zs = p[z_order, 2]
    depth = jnp.concatenate([zs[1:], ref[2:]]) - zs
    in_slice = z_rank[None, :] <= jnp.arange(n)[:, None]
    y = jax.lax.cummin(jnp.where(in_slice, p[None, :, 1], ref[1]), axis=1)
    area = jnp.sum(width[None, :] * (ref[1] - y), axis=1)
    return jnp.sum(area * depth)


def _hv_host(points: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Exact hypervolume on the host (moocore, float64), for any number of objectives."""
    import moocore  # a core dependency; imported here so that ``import pareto`` stays light

    p, r = np.asarray(points, np.float64), np.asarray(ref, np.float64)
    p = p[np.all(p < r, axis=1)]
    hv = moocore.hypervolume(p, ref=r) if len(p) else 0.0
    return np.asarray(hv, np.asarray(points).dtype)


def _hv_exact_callback(points, ref):
    out = jax.ShapeDtypeStruct((), points.dtype)
    return jax.pure_callback(_hv_host, out, points, ref, vmap_method="sequential")


def hypervolume(points: ArrayLike, ref: ArrayLike, *, mask: ArrayLike | None = None,
                key: jax.Array | None = None, num_samples: int | None = None) -> jax.Array:
    """Exact hypervolume dominated by ``points`` and bounded by ``ref`` (minimisation).

    Jittable for any ``k``: ``k <= 3`` is pure JAX, ``k >= 4`` a host callback to moocore
    (not differentiable; nothing in the package differentiates the hypervolume).

    Args:
        points: ``(n, k)`` objectives; dominated points are allowed (they add nothing).
            Non-finite rows and rows that do not strictly dominate ``ref`` are ignored.
        ref: ``(k,)`` reference point.
        mask: optional ``(n,)`` bool; only True rows count (static shapes under ``jit``).
        key: unused; accepted so that callers of the former Monte-Carlo path keep working.
        num_samples: unused, as ``key``.

    Returns:
        A scalar of the points' float dtype (at least float32); 0 for an empty front.

    Example:
        >>> float(hypervolume(jnp.array([[1.0, 1.0, 1.0]]), jnp.array([2.0, 3.0, 4.0])))
        6.0
    """
    p = jnp.asarray(points)
    p = p.astype(jnp.result_type(p.dtype, jnp.float32))
    ref = jnp.asarray(ref, p.dtype)
    if p.ndim != 2 or ref.shape != (p.shape[1],):
        raise ValueError(f"points must be (n, k) and ref (k,), got {p.shape} and {ref.shape}")
    k = p.shape[1]
    if p.shape[0] == 0:
        return jnp.zeros((), p.dtype)
    p = _mask_to_ref(p, ref, mask)
    if k == 1:
        return jnp.maximum(ref[0] - jnp.min(p[:, 0]), 0.0)
    if k == 2:
        return _hv2d(p, ref)
    if k == 3:
        return _hv3d(p, ref)
    del key, num_samples  # the result is exact; see Args
    return _hv_exact_callback(p, ref)


def knee_index(objs: np.ndarray, front: np.ndarray) -> int:
    """Front point closest to the ideal point after per-objective normalisation.

    Objectives spanning more than two decades are normalised in log space.
    """
    idx = np.flatnonzero(front)
    if idx.size == 0:
        return -1
    f = objs[idx].astype(float)
    for j in range(f.shape[1]):
        col = f[:, j]
        if np.all(col > 0) and col.max() / col.min() > 100:
            f[:, j] = np.log10(col)
    lo, hi = f.min(0), f.max(0)
    z = (f - lo) / np.where(hi > lo, hi - lo, 1.0)
    return int(idx[np.argmin(np.linalg.norm(z, axis=1))])
