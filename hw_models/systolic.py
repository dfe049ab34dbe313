"""Compute cycles of a dense GEMM on a systolic array, exactly as SCALE-Sim v3 counts them.

SCALE-Sim (v3.0.0, ``scalesim/compute/systolic_compute_{os,ws,is}.py``) maps a GEMM
``(m, k) @ (k, n)`` onto an ``R x C`` array as a spatial ``Sr x Sc`` problem with
temporal depth ``T``:

=========  ==========  ==========  ==========
dataflow   Sr (rows)   Sc (cols)   T (time)
=========  ==========  ==========  ==========
OS (0)     m           n           k
WS (1)     k           n           m
IS (2)     k           m           n
=========  ==========  ==========  ==========

(for a convolution ``m`` = output pixels, ``k`` = window size ``kh*kw*c_in``, ``n`` =
filters; SCALE-Sim builds exactly these operand matrices, so only ``m, k, n`` matter).
It runs ``ceil(Sr/R) * ceil(Sc/C)`` folds, and every fold, partial or not, contributes
the same number of rows ("cycles") to the demand matrices that drive its memory model:

* **OS**: ``T + R + C - 2``. Operands stream for ``T`` cycles, then ``C - 1`` idle
  lines let the outputs drain, and the row skew of the ``R``-wide ifmap demand adds
  ``R - 1`` (``create_ifmap_demand_mat``: ``T`` + ``arr_col - 1``, then
  ``skew_matrix``).
* **WS / IS**: ``2R + C + T - 2``. The stationary operand is first loaded in ``R``
  cycles (``inter_fold_gap_prefix = arr_row``), then ``T`` streaming cycles, ``C - 1``
  drain lines and the ``R - 1`` skew.

**Off-by-one convention.** SCALE-Sim's reported compute cycles (the ``Total Cycles``
column of ``COMPUTE_REPORT.csv``, printed as "Compute cycles") are
``max(ofmap serviced cycle)`` in ``double_buffered_scratchpad_mem.service_memory_requests``:
the 0-based index of the last demand line plus stall cycles. Without stalls that is
``folds * fold_cycles - 1``: one less than the number of demand lines. This module
returns SCALE-Sim's reported number, ``folds * fold_cycles - 1``, per GEMM; a layer of
``g`` groups costs ``g`` times that, which is also what SCALE-Sim reports summed over the
per-channel layers it creates for a depthwise ("DP") convolution. ``demand_lines`` gives
the count without the ``- 1``. Validated row for row against the real tool by
``benchmarks/validation/scalesim_cycles.py``.

Example:
    >>> import jax.numpy as jnp
    >>> # OS, 16x16 array, 16^3 GEMM: one fold of 16 + 16 + 16 - 2 lines, minus one.
    >>> int(gemm_compute_cycles(jnp.float32(16), jnp.float32(16), jnp.float32(16),
    ...                         16.0, 16.0, 0))
    45
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lepton_codesign.hw_models import _smooth

OS_CODE, WS_CODE, IS_CODE = 0, 1, 2


def spatial_map(m, k, n, dataflow):
    """``(Sr, Sc, T)`` for dataflow code 0 (OS), 1 (WS), 2 (IS); works when batched.

    Example:
        >>> [int(v) for v in spatial_map(2, 3, 5, 1)]
        [3, 5, 2]
    """
    sr = jnp.where(dataflow == OS_CODE, m, k)
    sc = jnp.where(dataflow == IS_CODE, m, n)
    t = jnp.where(dataflow == OS_CODE, k, jnp.where(dataflow == WS_CODE, m, n))
    return sr, sc, t


def fold_cycles(t, rows, cols, dataflow):
    """Demand lines of one fold: ``T + R + C - 2``, plus ``R`` in WS/IS (operand preload).

    Example:
        >>> int(fold_cycles(10, 4, 3, 0)), int(fold_cycles(10, 4, 3, 2))
        (15, 19)
    """
    preload = jnp.where(dataflow == OS_CODE, 0.0, rows)
    return t + rows + cols - 2.0 + preload


def folds(m, k, n, rows, cols, dataflow, smooth: bool = False):
    """Row and column fold counts ``(ceil(Sr/R), ceil(Sc/C))``.

    Example:
        >>> [int(f) for f in folds(5.0, 3.0, 7.0, 4.0, 3.0, 0)]
        [2, 3]
    """
    sr, sc, _ = spatial_map(m, k, n, dataflow)
    return _smooth.ceil_div(sr, rows, smooth), _smooth.ceil_div(sc, cols, smooth)


def demand_lines(m, k, n, rows, cols, dataflow, smooth: bool = False) -> jax.Array:
    """Rows of SCALE-Sim's demand matrices: ``folds * fold_cycles`` (no ``- 1``)."""
    fr, fc = folds(m, k, n, rows, cols, dataflow, smooth)
    _, _, t = spatial_map(m, k, n, dataflow)
    return fr * fc * fold_cycles(t, rows, cols, dataflow)


def gemm_compute_cycles(m, k, n, rows, cols, dataflow, smooth: bool = False) -> jax.Array:
    """SCALE-Sim v3 compute cycles of one dense GEMM group (its reported number).

    Args:
        m, k, n: GEMM dimensions (any broadcastable arrays; integral values).
        rows, cols: PE array shape.
        dataflow: code 0 (OS), 1 (WS), 2 (IS).
        smooth: straight-through ceil (exact values, identity gradients).

    Returns:
        ``ceil(Sr/R) * ceil(Sc/C) * fold_cycles - 1``: cycles excluding memory stalls,
        as in SCALE-Sim's ``COMPUTE_REPORT.csv`` "Total Cycles" (see module docstring).

    Example:
        >>> # WS, 4x3 array, m=5, k=3, n=7: 1 x 3 folds of 2*4 + 3 + 5 - 2 = 14 lines.
        >>> int(gemm_compute_cycles(5.0, 3.0, 7.0, 4.0, 3.0, 1))
        41
    """
    return demand_lines(m, k, n, rows, cols, dataflow, smooth) - 1.0
