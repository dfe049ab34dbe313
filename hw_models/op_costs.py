"""Cost of the non-GEMM op groups (``hw_models.vector_ops``) on a vector unit.

Every family prices an op group the same way, with its own unit and memory:

* **work** = simple ops + ``TRANSCENDENTAL_OPS`` x transcendentals, run on ``lanes``
  simple ops per cycle;
* **bytes** = elements read + written at the activation width; an epilogue (``fused``)
  writes nothing extra (its output replaces the GEMM's) and reads only its other
  operands (bias, residual);
* **time** = ``max(work / (lanes f), off-chip bytes / bandwidth)`` plus a fixed cost per
  unfused group (a GPU kernel launch; 0 on an accelerator whose sequencer issues the
  next instruction back to back). An epilogue overlaps its GEMM: only the part that
  outlasts the GEMM adds time.

``fpga_op_costs`` applies it to an ``FpgaSpec``: the unit is as wide as the design's
stream (``io_bits_per_cycle / act_bits`` lanes [A]: FINN's streaming pool / threshold
layers and a DPU's misc engine both process one stream word per cycle). Epilogues are
the activation / requantisation stage already in every layer's pipeline depth (no
extra time). A dataflow design runs each other group as one more pipeline stage
(it lengthens the fill, and the interval if it is the slowest stage); an overlay runs
it after its layer, with the feature maps to and from DDR when ``overlay_fmap_dram``.

``gpu_op_costs`` applies it to a ``GpuSpec``: every unfused group is one memory-bound
kernel (``kernel_launch_s`` + roofline at ``bandwidth_efficiency`` and the CUDA-core
rate, one simple op per FP32 lane per clock, i.e. ``peak_fp32_flops / 2`` as FMA counts
two flops [D]); an epilogue only moves its extra operands (cuBLASLt / cuDNN fuse bias,
activation and residual into the GEMM's output write).

``asic_op_costs`` applies this to an ``AsicSpec``: a post-processing (vector) unit of
``lanes`` lanes at the array clock, tensors on chip when they fit the output + input
buffers, else to and from DRAM. Energy per simple op is an adder at the activation
width with the PE's overhead factor.

Example:
    >>> import jax.numpy as jnp
    >>> from lepton_codesign.hw_models.vector_ops import make_vector_ops
    >>> ops = make_vector_ops([{"in_elems": 0, "out_elems": 64, "flops": 64, "after": 0}])
    >>> t = roofline_s(op_work(ops), 0.0, 16 * 1e9, 1e9)  # 64 ops on 16 lanes at 1 GHz
    >>> round(float(t[0]) * 1e9, 3)
    4.0
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lepton_codesign.hw_models import constants as C
from lepton_codesign.hw_models.vector_ops import VectorOps

# One exp / tanh / rsqrt costs 8 simple-op slots [D]: an NVIDIA SM issues 16 special-
# function (SFU) results per clock against 128 FP32 lanes (Ampere/Hopper SM diagrams,
# NVIDIA A100 and H100 whitepapers [C]), i.e. 8x; an accelerator's piecewise-polynomial
# or LUT+interpolation unit is of the same order (4-8 multiply-adds) [A].
TRANSCENDENTAL_OPS = 8.0


def op_work(ops: VectorOps) -> jax.Array:
    """Simple-op slots of each group (transcendentals weighted)."""
    return ops.flops + TRANSCENDENTAL_OPS * ops.transcendentals


def op_bytes(ops: VectorOps, act_bits) -> tuple[jax.Array, jax.Array]:
    """``(read_bytes, write_bytes)`` of each group at ``act_bits`` per element."""
    write = jnp.where(ops.fused > 0.5, 0.0, ops.out_elems)
    return ops.in_elems * act_bits / 8.0, write * act_bits / 8.0


def roofline_s(work, offchip_bytes, ops_per_s, bytes_per_s, fixed_s=0.0) -> jax.Array:
    """``max(work / ops_per_s, bytes / bytes_per_s) + fixed_s`` (all broadcast)."""
    return jnp.maximum(work / ops_per_s, offchip_bytes / bytes_per_s) + fixed_s


def overlap_epilogue(ops: VectorOps, group_s, gemm_latency_s) -> jax.Array:
    """Group time after overlap: an epilogue adds only what outlasts its GEMM layer."""
    idx = jnp.clip(jnp.asarray(ops.after, jnp.int32), 0, gemm_latency_s.shape[-1] - 1)
    gemm_s = jnp.take(gemm_latency_s, idx, axis=-1)
    return jnp.where(ops.fused > 0.5, jnp.maximum(group_s - gemm_s, 0.0), group_s)


def layer_value(ops: VectorOps, per_layer_values) -> jax.Array:
    """Each group's value of a per-layer array, taken at the layer it follows."""
    idx = jnp.clip(jnp.asarray(ops.after, jnp.int32), 0, per_layer_values.shape[-1] - 1)
    return jnp.take(per_layer_values, idx, axis=-1)


def fpga_op_costs(ops: VectorOps, spec, act_bits, is_overlay, sram_pj_per_byte) -> dict:
    """Per-group cycles, energy split and DRAM bytes on an FPGA, for the groups' counts
    (the workload's whole batch: ``hw_models.fpga`` divides by the batch).

    Args:
        ops: the op groups.
        spec: an ``FpgaSpec``.
        act_bits: activation width per group.
        is_overlay: whether the design is an overlay (bool, may be batched).
        sram_pj_per_byte: on-chip (BRAM) access energy.

    Returns:
        dict of per-group arrays: ``cycles`` (0 for epilogues), ``compute_j``,
        ``sram_j``, ``dram_j``, ``dram_bytes``.
    """
    read_b, write_b = op_bytes(ops, act_bits)
    moved = read_b + write_b
    lanes = jnp.maximum(spec.io_bits_per_cycle / act_bits, 1.0)
    fmap_dram = jnp.asarray(is_overlay) & (jnp.asarray(spec.overlay_fmap_dram) > 0.5)
    dram_bytes = jnp.where(fmap_dram[..., None], moved, 0.0)
    work = op_work(ops)
    cycles = roofline_s(work, dram_bytes, lanes, spec.dram_bandwidth_bytes_per_s / spec.freq_hz)
    cycles = jnp.where(ops.fused > 0.5, 0.0, cycles)
    e_op_pj = (C.E_INT8_ADD_PJ_45 * act_bits / 8.0 * C.PE_OVERHEAD_FACTOR
               * C.node_energy_scale(spec.node_nm) * spec.lut_energy_gap)
    return {"cycles": cycles, "compute_j": work * e_op_pj * 1e-12,
            "sram_j": moved * sram_pj_per_byte * 1e-12,
            "dram_j": dram_bytes * spec.dram_energy_pj_per_byte * 1e-12,
            "dram_bytes": dram_bytes}


def gpu_op_costs(ops: VectorOps, spec, act_bits) -> dict:
    """Per-group time and bytes of ``ops`` as GPU kernels (see module docstring).

    Returns:
        dict of per-group arrays: ``time_s`` (steady-state kernel time), ``bytes``.
    """
    read_b, write_b = op_bytes(ops, act_bits)
    moved = read_b + write_b
    # No CUDA-core peak given: a tensor-core bf16 peak is ~16x the FP32 FMA peak on
    # Hopper (989 vs 67 TFLOP/s, H100 SXM datasheet [C]): ops at bf16 peak / 32 [D].
    op_rate = jnp.where(spec.peak_fp32_flops > 0, spec.peak_fp32_flops / 2.0,
                        spec.peak_bf16_flops / 32.0)
    bw = spec.mem_bandwidth_bytes_per_s * spec.bandwidth_efficiency
    launch = jnp.where(ops.fused > 0.5, 0.0, spec.kernel_launch_s)
    return {"time_s": roofline_s(op_work(ops), moved, op_rate, bw, launch), "bytes": moved}


def asic_op_costs(ops: VectorOps, spec, act_bits, lanes, gemm_latency_s) -> dict:
    """Per-group latency, energy split and DRAM bytes of ``ops`` on an ASIC.

    Args:
        ops: the op groups.
        spec: an ``AsicSpec`` (clock, buffers, DRAM, node).
        act_bits: activation width (scalar or per group).
        lanes: simple ops per cycle of the post-processing unit.
        gemm_latency_s: per-layer GEMM latency (epilogues overlap it).

    Returns:
        dict of per-group arrays: ``latency_s``, ``compute_j``, ``sram_j``, ``dram_j``,
        ``dram_bytes``.
    """
    read_b, write_b = op_bytes(ops, act_bits)
    moved = read_b + write_b
    # A group runs on chip when what it touches fits the output and input buffers.
    on_chip_cap = spec.ofmap_sram_bytes + spec.ifmap_sram_bytes
    dram_bytes = jnp.where(moved <= on_chip_cap, 0.0, moved)
    work = op_work(ops)
    busy_s = roofline_s(work, dram_bytes, lanes * spec.freq_hz,
                        spec.dram_bandwidth_bytes_per_s)
    latency_s = overlap_epilogue(ops, busy_s, gemm_latency_s)
    # An adder at the activation width: 0.03 pJ at 8 bit, linear in width [D Horowitz
    # 2014], with the same register/control overhead as a PE.
    e_op_pj = (C.E_INT8_ADD_PJ_45 * act_bits / 8.0 * C.PE_OVERHEAD_FACTOR
               * C.node_energy_scale(spec.node_nm))
    compute_j = work * e_op_pj * 1e-12
    sram_j = moved * C.sram_energy_pj_per_byte(spec.ofmap_sram_bytes, spec.node_nm) * 1e-12
    dram_j = dram_bytes * spec.dram_energy_pj_per_byte * 1e-12
    return {"latency_s": latency_s, "compute_j": compute_j, "sram_j": sram_j,
            "dram_j": dram_j, "dram_bytes": dram_bytes}
