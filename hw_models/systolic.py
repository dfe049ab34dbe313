"""Compute cycles of a dense GEMM on a systolic array, in SCALE-Sim's closed form.

SCALE-Sim maps a GEMM ``(m, k) @ (k, n)`` onto an ``R x C`` array as a spatial
``Sr x Sc`` problem with temporal depth ``T``:

=========  ==========  ==========  ==========
dataflow   Sr (rows)   Sc (cols)   T (time)
=========  ==========  ==========  ==========
OS         m           n           k
WS         k           n           m
IS         k           m           n
=========  ==========  ==========  ==========

and runs ``ceil(Sr / R) * ceil(Sc / C)`` folds, each costing fill + steady state +
drain cycles. See ``fold_cycles`` for the exact per-fold count and the convention
used (validated against SCALE-Sim v3 by ``benchmarks/validation/scalesim_cycles.py``).

Example:
    >>> import jax.numpy as jnp
    >>> int(gemm_compute_cycles(jnp.float32(16), jnp.float32(16), jnp.float32(16),
    ...                         16.0, 16.0, 0))
    62
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hw_models import _smooth


def spatial_map(m, k, n, dataflow):
    """``(Sr, Sc, T)`` for dataflow code 0 (OS), 1 (WS), 2 (IS); works when batched."""
    sr = jnp.where(dataflow == 0, m, k)
    sc = jnp.where(dataflow == 2, m, n)
    t = jnp.where(dataflow == 0, k, jnp.where(dataflow == 1, m, n))
    return sr, sc, t


def fold_cycles(t, rows, cols):
    """Cycles of one fold: ``2R + C + T - 2`` (fill R, skew C-1 + R-1, T steady)."""
    return 2.0 * rows + cols + t - 2.0


def gemm_compute_cycles(m, k, n, rows, cols, dataflow, smooth: bool = False) -> jax.Array:
    """SCALE-Sim compute cycles of one dense GEMM group.

    Args:
        m, k, n: GEMM dimensions (any broadcastable arrays).
        rows, cols: PE array shape.
        dataflow: code 0 (OS), 1 (WS), 2 (IS).
        smooth: straight-through ceil (exact values, identity gradients).

    Returns:
        Compute cycles, excluding memory stalls.
    """
    sr, sc, t = spatial_map(m, k, n, dataflow)
    folds = _smooth.ceil(sr / rows, smooth) * _smooth.ceil(sc / cols, smooth)
    return folds * fold_cycles(t, rows, cols)


def folds(m, k, n, rows, cols, dataflow, smooth: bool = False):
    """Row and column fold counts ``(ceil(Sr/R), ceil(Sc/C))``."""
    sr, sc, _ = spatial_map(m, k, n, dataflow)
    return _smooth.ceil(sr / rows, smooth), _smooth.ceil(sc / cols, smooth)
