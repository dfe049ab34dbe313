"""On-chip (register file + SRAM) energy of one layer on an ``AsicSpec``.

On-chip traffic counts operand elements moved, at their stored width, at each level of
the memory hierarchy (``hw_models.asic_memory``: its module docstring has the access
rules per level and dataflow). Without register files (the default) this is the
three-buffer model:

* inputs are read once per column fold (OS, WS) or once (IS);
* weights are read once per row fold (OS), once (WS) or once per column fold (IS), in
  their stored format (compressed + index metadata when the hardware skips zeros);
* OS accumulates inside the PEs; WS / IS read-modify-write partial sums in the ofmap
  SRAM at accumulator width (``constants.ACC_BITS``), ``2 (fr - 1)`` times, then write
  the final output;
* every DRAM transfer also fills (or drains) its own operand's SRAM once.

Per-PE register files add their reads and writes and cut the SRAM traffic by fold
reuse; the cheapest of three blockings is taken per layer. Energy per byte of
each level is the spec's override or its size law (``asic_memory.level_energies``).

Example:
    >>> import jax.numpy as jnp
    >>> from lepton_codesign import hw_models as hw
    >>> from lepton_codesign.hw_models.asic_traffic import Traffic
    >>> wl = hw.gemm_workload([(16, 16, 16)])
    >>> t = Traffic(*(jnp.float32(256.0),) * 3, jnp.float32(768.0))
    >>> e = onchip_energy_j(wl, hw.AsicSpec(16, 16, "os"), act_bits=8.0, w_bytes=256.0,
    ...                     k_streamed=wl.k, n_eff=wl.n, fr=1.0, fc=1.0, traffic=t)
    >>> bool(e.total_j[0] > 0), float(e.rf_j[0])
    (True, 0.0)
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from lepton_codesign.hw_models import asic_memory as mem
from lepton_codesign.hw_models.asic_spec import AsicSpec
from lepton_codesign.hw_models.asic_traffic import Traffic
from lepton_codesign.hw_models.workload import Workload


class OnChipEnergy(NamedTuple):
    """Per-layer on-chip energy in joules: ``total_j = sram_j + rf_j``."""

    total_j: jax.Array
    sram_j: jax.Array
    rf_j: jax.Array


def _energy_pj(b: mem.LevelBytes, e: dict, traffic: Traffic):
    """(SRAM pJ, RF pJ) per group for one set of level bytes. DRAM fills are SRAM writes
    (weights, inputs); outputs and spilled partial sums leaving for DRAM are SRAM reads."""
    reads = (b.sram_i_rd * e["sram_i_rd"] + b.sram_w_rd * e["sram_w_rd"]
             + (b.sram_o_rd * e["sram_o_rd"] + b.sram_o_wr * e["sram_o_wr"]))
    fills = (traffic.w_dram * e["sram_w_wr"] + traffic.i_dram * e["sram_i_wr"]
             + traffic.o_dram * e["sram_o_rd"])
    rf = (b.rf_w_rd * e["rf_w_rd"] + b.rf_w_wr * e["rf_w_wr"] + b.rf_i_rd * e["rf_i_rd"]
          + b.rf_i_wr * e["rf_i_wr"] + b.rf_o_rd * e["rf_o_rd"] + b.rf_o_wr * e["rf_o_wr"])
    return reads + fills, rf


def onchip_energy_j(wl: Workload, spec: AsicSpec, *, act_bits, w_bytes, k_streamed, n_eff,
                    fr, fc, traffic: Traffic, smooth: bool = False) -> OnChipEnergy:
    """RF and SRAM read/write energy of each layer (joules; see module docstring).

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
        smooth: straight-through floors / ceilings (for gradients).

    Returns:
        ``OnChipEnergy`` per layer.
    """
    e = mem.level_energies_pj_per_byte(spec)
    kw = dict(m=wl.m, k_s=k_streamed, n=n_eff, w_bytes=w_bytes, act_bits=act_bits, fr=fr,
              fc=fc, smooth=smooth)
    sram_j = rf_j = best = None
    for order in mem.ORDERS:
        sram, rf = _energy_pj(mem.level_bytes(spec, order=order, **kw), e, traffic)
        if best is None:
            sram_j, rf_j, best = sram, rf, sram + rf
        else:
            pick = sram + rf < best
            sram_j, rf_j = jnp.where(pick, sram, sram_j), jnp.where(pick, rf, rf_j)
            best = jnp.minimum(best, sram + rf)
    scale = wl.groups * 1e-12
    sram_j, rf_j = scale * sram_j, scale * rf_j
    return OnChipEnergy(sram_j + rf_j, sram_j, rf_j)


def sram_energy_j(wl: Workload, spec: AsicSpec, **kwargs) -> jax.Array:
    """Total on-chip (RF + SRAM) energy per layer; ``onchip_energy_j(...).total_j``."""
    return onchip_energy_j(wl, spec, **kwargs).total_j
