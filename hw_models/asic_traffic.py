"""DRAM traffic of one layer on an ``AsicSpec``: every tensor once, plus refetches.

A tensor is fetched again when the operand a dataflow re-streams does not fit its SRAM:
weights per row fold and a row fold's inputs per column fold in OS, inputs per column
fold in WS, weights per column fold in IS, and partial sums per reduction fold in WS/IS
when one column fold's outputs do not fit (loop order: column folds outer, row folds
inner, as SCALE-Sim's compute model assumes). The ``Traffic`` it returns is what the
on-chip energy model (``hw_models.asic_energy``) and the stall model use.

Example:
    >>> import jax.numpy as jnp
    >>> from lepton_codesign import hw_models as hw
    >>> wl = hw.gemm_workload([(256, 256, 256)])
    >>> t = dram_traffic(wl, hw.AsicSpec(16, 16, "ws"), act_bits=8.0, w_bytes=65536.0,
    ...                  i_bytes=65536.0, o_bytes=65536.0, n_eff=wl.n, fr=jnp.float32(16),
    ...                  fc=jnp.float32(16))
    >>> int(t.dram_bytes[0])
    196608
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from lepton_codesign.hw_models import _smooth
from lepton_codesign.hw_models.asic_spec import IS, OS, WS, AsicSpec
from lepton_codesign.hw_models.workload import Workload


class Traffic(NamedTuple):
    """Per-layer DRAM traffic (bytes per group unless named otherwise).

    Attributes:
        w_dram, i_dram, o_dram: weight / input / output (+ spilled partial sum) bytes.
        dram_bytes: all three, times the layer's groups.
    """

    w_dram: jax.Array
    i_dram: jax.Array
    o_dram: jax.Array
    dram_bytes: jax.Array


def not_fit(tensor_bytes, sram_bytes, smooth: bool = False):
    """1 when a tensor does not fit its SRAM (smooth: logistic in log-ratio)."""
    return 1.0 - _smooth.step(jnp.log(sram_bytes) - jnp.log(jnp.maximum(tensor_bytes, 1.0)),
                              smooth, width=0.05)


def dram_traffic(wl: Workload, spec: AsicSpec, *, act_bits, w_bytes, i_bytes, o_bytes, n_eff,
                 fr, fc, smooth: bool = False) -> Traffic:
    """DRAM bytes of each layer under the spec's dataflow (see module docstring).

    Args:
        wl: the workload.
        spec: the accelerator.
        act_bits: activation bit-width.
        w_bytes, i_bytes, o_bytes: stored size of one group's weights (compressed when
            the hardware skips zeros), unique inputs and outputs.
        n_eff: output channels after channel pruning.
        fr, fc: row and column fold counts of the dataflow's spatial mapping.
        smooth: logistic fit tests instead of hard ones (for gradients).

    Returns:
        ``Traffic``.
    """
    ab = act_bits
    rows, cols = spec.pe_rows, spec.pe_cols
    dataflow = jnp.asarray(spec.dataflow, jnp.int32)
    nf_w = not_fit(w_bytes, spec.filter_sram_bytes, smooth)
    is_os, is_ws, is_is = dataflow == OS, dataflow == WS, dataflow == IS
    # WS re-streams the whole input per column fold; OS (row folds outer) re-streams
    # one row fold's input rows (R x k, at most the whole input) per column fold.
    os_rows_bytes = jnp.minimum(jnp.minimum(rows, wl.m) * wl.k * ab / 8.0, i_bytes)
    nf_i = not_fit(jnp.where(is_os, os_rows_bytes, i_bytes), spec.ifmap_sram_bytes, smooth)
    # A partial sum is live only during its column fold, so what must fit the ofmap
    # SRAM is one column fold's outputs (WS: m x C, IS: C x n), not the whole output.
    psum_frac = jnp.where(is_ws, jnp.minimum(cols, n_eff) / n_eff,
                          jnp.where(is_is, jnp.minimum(cols, wl.m) / wl.m, 1.0))
    # Simplification: partial sums that spill to DRAM are charged at activation width
    # (a real mapper would tile m to keep 32-bit psums on chip; SCALE-Sim's loop order,
    # which the cycle counts follow, does not).
    nf_o = not_fit(o_bytes * psum_frac, spec.ofmap_sram_bytes, smooth)
    w_ref = 1.0 + jnp.where(is_os, (fr - 1.0) * nf_w, jnp.where(is_is, (fc - 1.0) * nf_w, 0.0))
    i_ref = 1.0 + jnp.where(is_is, 0.0, (fc - 1.0) * nf_i)
    psum_spill = jnp.where(is_os, 0.0, 2.0 * (fr - 1.0) * nf_o) * o_bytes
    w_dram, i_dram, o_dram = w_bytes * w_ref, i_bytes * i_ref, o_bytes + psum_spill
    return Traffic(w_dram, i_dram, o_dram, wl.groups * (w_dram + i_dram + o_dram))
