"""On-chip (SRAM) energy of one layer on an ``AsicSpec``.

SRAM traffic counts the operand elements moved, at their stored width:

* inputs are read once per column fold (OS, WS) or once (IS);
* weights are read once per row fold (OS), once (WS) or once per column fold (IS), in
  their stored format (compressed + index metadata when the hardware skips zeros);
* OS accumulates inside the PEs; WS / IS read-modify-write partial sums in the ofmap
  SRAM at accumulator width (``constants.ACC_BITS``), ``2 (fr - 1)`` times, then write
  the final output;
* every DRAM transfer also fills (or drains) its own operand's SRAM once.

Energy per byte follows the SRAM size law of ``constants.sram_energy_pj_per_byte``.

Example:
    >>> import jax.numpy as jnp
    >>> from lepton_codesign import hw_models as hw
    >>> from lepton_codesign.hw_models.asic_traffic import Traffic
    >>> wl = hw.gemm_workload([(16, 16, 16)])
    >>> t = Traffic(*(jnp.float32(256.0),) * 3, jnp.float32(768.0))
    >>> e = sram_energy_j(wl, hw.AsicSpec(16, 16, "os"), act_bits=8.0, w_bytes=256.0,
    ...                   k_streamed=wl.k, n_eff=wl.n, fr=1.0, fc=1.0, traffic=t)
    >>> bool(e[0] > 0)
    True
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lepton_codesign.hw_models import constants as C
from lepton_codesign.hw_models.asic_spec import IS, OS, WS, AsicSpec
from lepton_codesign.hw_models.asic_traffic import Traffic
from lepton_codesign.hw_models.workload import Workload


def sram_energy_j(wl: Workload, spec: AsicSpec, *, act_bits, w_bytes, k_streamed, n_eff, fr,
                  fc, traffic: Traffic) -> jax.Array:
    """SRAM read/write energy of each layer (joules; see module docstring).

    Args:
        wl: the workload.
        spec: the accelerator.
        act_bits: activation bit-width.
        w_bytes: stored size of one group's weights.
        k_streamed: reduction elements streamed per output (``k`` times the weight
            density when the hardware skips zeros). Not the cycle-level ``k_eff``, which
            also folds in PE packing / multi-pass factors that change how often the
            array folds but not how many bytes an operand has.
        n_eff: output channels after channel pruning.
        fr, fc: row and column fold counts.
        traffic: the layer's DRAM traffic (``asic_traffic.dram_traffic``).

    Returns:
        Per-layer SRAM energy in joules.
    """
    dataflow = jnp.asarray(spec.dataflow, jnp.int32)
    is_os, is_ws, is_is = dataflow == OS, dataflow == WS, dataflow == IS
    mk, mn = wl.m * k_streamed, wl.m * n_eff
    if_bytes = jnp.where(is_is, mk, mk * fc) * act_bits / 8.0
    fil_bytes = jnp.where(is_os, fr, jnp.where(is_ws, 1.0, fc)) * w_bytes
    of_bytes = (mn * act_bits / 8.0
                + jnp.where(is_os, 0.0, 2.0 * (fr - 1.0)) * mn * C.ACC_BITS / 8.0)
    e_if = C.sram_energy_pj_per_byte(spec.ifmap_sram_bytes, spec.node_nm)
    e_fil = C.sram_energy_pj_per_byte(spec.filter_sram_bytes, spec.node_nm)
    e_of = C.sram_energy_pj_per_byte(spec.ofmap_sram_bytes, spec.node_nm)
    reads = if_bytes * e_if + fil_bytes * e_fil + of_bytes * e_of
    fills = traffic.w_dram * e_fil + traffic.i_dram * e_if + traffic.o_dram * e_of
    return wl.groups * 1e-12 * (reads + fills)
