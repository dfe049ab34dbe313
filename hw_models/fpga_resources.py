"""FPGA resource costs of one MAC lane and the per-layer sparsity/shape bookkeeping.

A "MAC lane" is one multiply-accumulate per cycle (FINN: one SIMD lane of one PE; hls4ml:
one multiplier). Its cost depends on the operand widths ``w`` and ``a``:

* LUT multiplier: ``1.1 * (2 * ceil((w + a) / 6) - 1) * (w + a)`` LUTs, plus the adder
  tree ``1.1 * 2 * (w + a)`` [C] (FINN ``MVAU_hls.lut_estimation``, after FINN-R, Blott
  et al. TRETS 2018; ``(w + a) * (2 * SIMD - 1)`` per PE is ~``2 (w + a)`` per lane). For
  balanced widths this grows like ``w x a`` (``4/3 w a`` at ``w = a``).
* Implementation: DSP when ``w x a > lut_mac_max_bits ** 2`` (and the device has DSPs),
  else LUTs.
* DSP multiplier: ``ceil(w / 27) * ceil(a / 18)`` DSP48E2 slices (27 x 18 multiplier, AMD
  UG579 [S]) shared by ``dsp_macs_8bit`` (<= 8 bit) or ``dsp_macs_4bit`` (<= 4 bit)
  packed MACs and run ``dsp_clock_ratio`` times per fabric cycle; the adder tree stays in
  LUTs as above.
* Flip-flops: one per LUT [A] (pipelined datapaths register every LUT output).
* BRAM (folded dataflow layers with weights on chip): one RAMB18 delivers 36 bits per
  cycle [C] (FINN ``bram_estimation``, SDP mode), so a lane reading a ``w``-bit weight
  every cycle needs ``w / 36`` of a RAMB18.

Example:
    >>> import jax.numpy as jnp
    >>> from hw_models.fpga_spec import FpgaSpec
    >>> c = lane_costs(FpgaSpec(lut=1e5, dsp=100, bram18=100), jnp.float32(1), jnp.float32(1),
    ...                smooth=False)
    >>> round(float(c["lut"]), 2)  # a binary (XNOR-popcount) lane
    6.6
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lepton_codesign.hw_models import _smooth
from lepton_codesign.hw_models.compression import CHANNEL, NM, UNSTRUCTURED, Compression
from lepton_codesign.hw_models.workload import Workload

FINN_LUT_C0 = 300.0  # [C] FINN lut_estimation: fixed LUTs per MVAU (control, FIFOs)
FINN_LUT_C1 = 1.1  # [C] FINN lut_estimation: multiplier on the datapath LUTs
FF_PER_LUT = 1.0  # [A] one register per LUT output in a pipelined datapath
BRAM18_PORT_BITS = 36.0  # [C] widest RAMB18 port in SDP mode (FINN bram_estimation)
DSP_A_BITS, DSP_B_BITS = 27.0, 18.0  # [S] DSP48E2 multiplier is 27 x 18 (AMD UG579)


def st_scale(exact: jax.Array, driver: jax.Array, smooth: bool) -> jax.Array:
    """``exact`` with the relative gradient of ``driver`` (straight-through) when smooth.

    The value is exact; the gradient is ``exact * d(log driver)``, i.e. the quantity is
    treated locally as proportional to ``driver`` (used for step-wise costs such as DSP
    packing and dtype selection).
    """
    if not smooth:
        return exact
    driver = jnp.maximum(driver, 1e-30)
    return exact * driver / jax.lax.stop_gradient(driver)


def lane_costs(spec, w_bits, a_bits, smooth: bool) -> dict:
    """LUT / FF / DSP per MAC lane and whether the lane uses a DSP (see module doc)."""
    s = w_bits + a_bits
    lut_mul = FINN_LUT_C1 * (2.0 * _smooth.ceil_div(s, 6.0, smooth) - 1.0) * s
    lut_add = FINN_LUT_C1 * 2.0 * s
    wmax = jnp.maximum(w_bits, a_bits)
    # LUT multipliers cost ~ w x a, so the choice is made on the product [A]; a device
    # without DSPs puts every MAC in LUTs.
    use_dsp = (w_bits * a_bits > spec.lut_mac_max_bits ** 2) & (spec.dsp > 0)
    pack = jnp.where(wmax <= 4.0, spec.dsp_macs_4bit,
                     jnp.where(wmax <= 8.0, spec.dsp_macs_8bit, 1.0))
    units = (_smooth.ceil_div(w_bits, DSP_A_BITS, smooth)
             * _smooth.ceil_div(a_bits, DSP_B_BITS, smooth))
    dsp_lane = st_scale(units / (pack * spec.dsp_clock_ratio), w_bits * a_bits, smooth)
    lut = jnp.where(use_dsp, lut_add, lut_mul + lut_add)
    return {
        "lut": lut,
        "ff": lut * FF_PER_LUT,
        "dsp": jnp.where(use_dsp, dsp_lane, 0.0),
        "use_dsp": use_dsp,
    }


def layer_shapes(workload: Workload, compression: Compression, smooth: bool) -> dict:
    """Per-layer shapes after sparsity, shared by the dataflow and overlay models.

    Channel pruning narrows ``n``; N:M sparsity always removes the pruned MACs (the
    index pattern is fixed, so a mux selects the kept operands); unstructured sparsity
    is returned as ``unstructured_density`` for the dataflow model, which can only
    exploit it where a layer is fully unrolled with constant weights.
    """
    wl, cp = workload, compression
    has_w = jnp.asarray(wl.has_weights)
    d = jnp.where(has_w, cp.weight_density, 1.0)
    is_channel = (cp.structure == CHANNEL) & has_w
    is_nm = (cp.structure == NM) & has_w
    n_eff = jnp.where(is_channel, jnp.maximum(_smooth.ceil(wl.n * d, smooth), 1.0), wl.n)
    d_in = jnp.where(is_channel, 1.0, d)
    nm_scale = jnp.where(is_nm, d_in, 1.0)
    macs = wl.m * wl.k * n_eff * wl.groups * nm_scale
    lanes = wl.k * n_eff * wl.groups * nm_scale
    weights = jnp.where(has_w, lanes, 0.0)
    unstructured = (cp.structure == UNSTRUCTURED) & has_w
    return {
        "has_w": has_w, "n_eff": n_eff, "macs": macs, "weights": weights, "lanes": lanes,
        "nm_scale": nm_scale, "is_nm": is_nm,
        "unstructured_density": jnp.where(unstructured, d_in, 1.0),
        "dense_macs": wl.m * wl.k * n_eff * wl.groups,
    }


def io_bytes(workload: Workload, act_bits) -> jax.Array:
    """Per-layer off-chip bytes of the network input (first layer) and output (last)."""
    L = workload.num_layers
    first = jnp.zeros(L).at[0].set(1.0)
    last = jnp.zeros(L).at[L - 1].set(1.0)
    return (first * workload.input_elems + last * workload.output_elems) * act_bits / 8.0
