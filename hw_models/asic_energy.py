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
reuse; the cheapest of four blockings is taken per layer. Energy per byte of
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
from lepton_codesign.hw_models import constants as C
from lepton_codesign.hw_models.asic_spec import IS, OS, WS, AsicSpec
from lepton_codesign.hw_models.asic_traffic import Traffic
from lepton_codesign.hw_models.workload import Workload


class OnChipEnergy(NamedTuple):
    """Per-layer on-chip energy in joules: ``total_j = sram_j + rf_j``."""

    total_j: jax.Array
    sram_j: jax.Array
    rf_j: jax.Array


def _energy_pj(b: mem.LevelBytes, e: dict, traffic: Traffic):
    """(SRAM pJ, RF pJ) per group for one set of level bytes (the reference form).

    DRAM fills are SRAM writes (weights, inputs); outputs and spilled partial sums that
    leave for DRAM are SRAM reads.
    """
    reads = (b.sram_i_rd * e["sram_i_rd"] + b.sram_w_rd * e["sram_w_rd"]
             + (b.sram_o_rd * e["sram_o_rd"] + b.sram_o_wr * e["sram_o_wr"]))
    fills = (traffic.w_dram * e["sram_w_wr"] + traffic.i_dram * e["sram_i_wr"]
             + traffic.o_dram * e["sram_o_rd"])
    rf = (b.rf_w_rd * e["rf_w_rd"] + b.rf_w_wr * e["rf_w_wr"] + b.rf_i_rd * e["rf_i_rd"]
          + b.rf_i_wr * e["rf_i_wr"] + b.rf_o_rd * e["rf_o_rd"] + b.rf_o_wr * e["rf_o_wr"])
    return reads + fills, rf


def reference_energy_pj(wl: Workload, spec: AsicSpec, *, act_bits, w_bytes, k_streamed, n_eff,
                        fr, fc, traffic: Traffic, smooth: bool = False):
    """(SRAM pJ, RF pJ) per group and candidate order, from ``asic_memory.level_bytes``.

    The readable form of what ``onchip_energy_j`` computes in fused form (tests check
    that the two agree); returns ``{order: (sram_pj, rf_pj)}``.
    """
    e = mem.level_energies_pj_per_byte(spec)
    kw = dict(m=wl.m, k_s=k_streamed, n=n_eff, w_bytes=w_bytes, act_bits=act_bits, fr=fr,
              fc=fc, smooth=smooth)
    return {o: _energy_pj(mem.level_bytes(spec, order=o, **kw), e, traffic) for o in mem.ORDERS}


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
    # The per-level byte counts of ``asic_memory.level_bytes`` are linear in the fold
    # counts, so each candidate blocking costs a few shared coefficients times (nr, nc)
    # plus its register-reuse terms (the same numbers as ``reference_energy_pj``, which
    # the tests check; this form keeps ``evaluate`` at its previous throughput).
    e = mem.level_energies_pj_per_byte(spec)
    dataflow = jnp.asarray(spec.dataflow, jnp.int32)
    is_os, is_ws, is_is = dataflow == OS, dataflow == WS, dataflow == IS
    a, p = act_bits / 8.0, C.ACC_BITS / 8.0
    w_el = w_bytes / jnp.maximum(k_streamed * n_eff, 1.0)
    e_w, e_i, e_p = mem.rf_entries(spec, w_el, a, smooth)
    e_s = jnp.where(is_ws, e_w, jnp.where(is_is, e_i, e_p))
    h_w, h_i, h_o = (mem.has_rf(spec.rf_weight_bytes), mem.has_rf(spec.rf_input_bytes),
                     mem.has_rf(spec.rf_psum_bytes))
    mk, mn = wl.m * k_streamed, wl.m * n_eff
    macs, out = mk * n_eff, mn * act_bits / 8.0
    mka, psum_b = mk * act_bits / 8.0, mn * C.ACC_BITS / 8.0
    fills = (traffic.w_dram * e["sram_w_wr"] + traffic.i_dram * e["sram_i_wr"]
             + traffic.o_dram * e["sram_o_rd"])
    sram0 = out * e["sram_o_wr"] + fills
    rf0 = h_o * (macs * p * (e["rf_o_rd"] + e["rf_o_wr"]) + out * e["rf_o_rd"])
    # per fold-count unit: (SRAM read + RF fill) of inputs, weights, psum round trips
    ci_s, ci_r = mka * e["sram_i_rd"], h_i * mka * e["rf_i_wr"]
    cw_s, cw_r = w_bytes * e["sram_w_rd"], h_w * w_bytes * e["rf_w_wr"]
    co_s = psum_b * (e["sram_o_rd"] + e["sram_o_wr"])
    co_r = h_o * psum_b * (e["rf_o_rd"] + e["rf_o_wr"])
    rw, ri = h_w * macs * w_el * e["rf_w_rd"], h_i * macs * a * e["rf_i_rd"]
    rw_load, ri_load = h_w * w_bytes * e["rf_w_rd"], h_i * mka * e["rf_i_rd"]

    def candidate(b_r, b_c):
        """(SRAM pJ, RF pJ) per group when ``b_r`` x ``b_c`` folds run per pass
        (``None``: no blocking, SCALE-Sim's fold loop)."""
        if b_r is None:
            nr, nc, held, b_c, reuse = fr, fc, False, 1.0, 1.0
        else:
            nr = mem.ceil_div_nonneg(fr, b_r, smooth)
            nc = mem.ceil_div_nonneg(fc, b_c, smooth)
            held = b_r * b_c > 1.0
            reuse = jnp.where(is_os, jnp.where(b_c > 1.0, 1.0, b_r), b_c)
        n_i = jnp.where(is_is, 1.0, nc)
        n_w = jnp.where(is_os, nr, jnp.where(is_ws, 1.0, nc))
        n_o = jnp.where(is_os, 0.0, nr - 1.0)
        w_rd = jnp.where(is_ws, jnp.where(held, rw, rw_load), rw / reuse)
        i_rd = jnp.where(is_is, jnp.where(held, ri, ri_load), ri / b_c)
        sram = sram0 + ci_s * n_i + cw_s * n_w + co_s * n_o
        return sram, rf0 + ci_r * n_i + cw_r * n_w + co_r * n_o + w_rd + i_rd

    scale = wl.groups * 1e-12
    if not spec.register_files:  # static: no RF level, the three-buffer model alone
        sram_j, _ = candidate(None, None)
        return OnChipEnergy(scale * sram_j, scale * sram_j, jnp.zeros_like(sram_j))
    blocks = [(None, None)] + [mem.blocking(e_s, e_p, fr, fc, dataflow, o, smooth)
                               for o in mem.ORDERS[1:]]
    cands = [candidate(b_r, b_c) for b_r, b_c in blocks]
    # The total is a min-reduction over a candidate axis, not sram_j + rf_j: when only
    # the total is used (``evaluate``) the split's selects are dead code, and XLA:CPU
    # computes the reduction once where it copied chains of elementwise minima and
    # selects into every fusion that read them (measured: 2-3x lower throughput).
    best = jnp.min(jnp.stack([s + r for s, r in cands], axis=-1), axis=-1)
    sram_j, rf_j = cands[0]
    for s, r in cands[1:]:
        pick = s + r < sram_j + rf_j
        sram_j, rf_j = jnp.where(pick, s, sram_j), jnp.where(pick, r, rf_j)
    return OnChipEnergy(scale * best, scale * sram_j, scale * rf_j)


_RF_ENERGY_KEYS = {"rf_weight_pj_per_byte": "rf_w_rd", "rf_input_pj_per_byte": "rf_i_rd",
                   "rf_psum_pj_per_byte": "rf_o_rd", "rf_weight_write_pj_per_byte": "rf_w_wr",
                   "rf_input_write_pj_per_byte": "rf_i_wr",
                   "rf_psum_write_pj_per_byte": "rf_o_wr"}


def onchip_split_j(workload: Workload, spec: AsicSpec, compression=None) -> OnChipEnergy:
    """Per-layer on-chip energy of ``hw.evaluate`` split into SRAM and register files.

    ``evaluate`` reports the sum (``energy_sram_j``): a second output of the blocking
    choice halved the model's throughput on CPU. The RF part is linear in the RF
    energies per byte at a fixed choice, so it is the derivative of ``energy_sram_j``
    along a common scale of those energies (one forward-mode pass).

    Example:
        >>> from lepton_codesign import hw_models as hw
        >>> wl = hw.gemm_workload([(64, 64, 64)])
        >>> s = onchip_split_j(wl, hw.AsicSpec(8, 8, "ws", rf_weight_bytes=16.0))
        >>> bool(s.rf_j[0] > 0), bool(abs(s.sram_j[0] + s.rf_j[0] - s.total_j[0]) < 1e-15)
        (True, True)
    """
    from lepton_codesign.hw_models.asic import evaluate_asic  # asic imports this module
    from lepton_codesign.hw_models.compression import dense_compression

    cp = compression or dense_compression(workload.num_layers)
    e = mem.level_energies_pj_per_byte(spec)
    resolved = spec.replace(**{f: e[k] for f, k in _RF_ENERGY_KEYS.items()})

    def onchip(scale):
        scaled = resolved.replace(**{f: e[k] * scale for f, k in _RF_ENERGY_KEYS.items()})
        return evaluate_asic(workload, scaled, cp).energy_sram_j

    total, rf = jax.jvp(onchip, (jnp.float32(1.0),), (jnp.float32(1.0),))
    return OnChipEnergy(total, total - rf, rf)


def rf_operand_split_j(workload: Workload, spec: AsicSpec, compression=None) -> dict:
    """Per-layer RF energy of ``hw.evaluate`` per operand: ``{"w", "i", "o"}`` joules.

    As ``onchip_split_j``, one forward-mode pass per operand along a scale of that
    operand's RF read and write energies (for diagnostics: which operand's RF carries
    a layer's on-chip energy).

    Example:
        >>> from lepton_codesign import hw_models as hw
        >>> wl = hw.gemm_workload([(64, 64, 64)])
        >>> spec = hw.AsicSpec(8, 8, "ws", rf_weight_bytes=16.0)
        >>> s = rf_operand_split_j(wl, spec)
        >>> bool(s["w"][0] > 0), float(s["i"][0]), float(s["o"][0])
        (True, 0.0, 0.0)
    """
    from lepton_codesign.hw_models.asic import evaluate_asic  # asic imports this module
    from lepton_codesign.hw_models.compression import dense_compression

    cp = compression or dense_compression(workload.num_layers)
    e = mem.level_energies_pj_per_byte(spec)
    resolved = spec.replace(**{f: e[k] for f, k in _RF_ENERGY_KEYS.items()})
    out = {}
    for op in ("w", "i", "o"):
        fields = {f: k for f, k in _RF_ENERGY_KEYS.items() if k.startswith(f"rf_{op}_")}

        def onchip(scale, fields=fields):
            scaled = resolved.replace(**{f: e[k] * scale for f, k in fields.items()})
            return evaluate_asic(workload, scaled, cp).energy_sram_j

        out[op] = jax.jvp(onchip, (jnp.float32(1.0),), (jnp.float32(1.0),))[1]
    return out
