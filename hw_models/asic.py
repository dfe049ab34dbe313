"""Analytic cost model of a spatial PE-array (systolic) ASIC accelerator.

Per layer (each of its ``groups`` GEMMs runs in turn):

1. **Effective shape.** Channel sparsity narrows ``n``; the reduction ``k`` shrinks by
   the weight density when the hardware skips zeros (``skipping`` for any pattern,
   ``nm`` for N:M only); precision-scalable PEs pack ``floor(pe_bits/w) *
   floor(pe_bits/a)`` MACs per PE-cycle, and operands wider than the PE take
   ``ceil(w/pe_bits) * ceil(a/pe_bits)`` passes.
2. **Compute cycles** from SCALE-Sim's closed form (``hw_models.systolic``).
3. **DRAM traffic**: every tensor once, plus refetches when the operand a loop
   re-streams does not fit its SRAM (``hw_models.asic_traffic``): per layer, the
   least-traffic fold order / temporal tile (``mapping="best"``, the code in
   ``extras["mapping"]``) or SCALE-Sim's fixed fold order (``mapping="scalesim"``).
   Sparse weights are stored compressed with index metadata when the hardware can use
   them. ``extras["fill_drain_cycles"]`` is the array-size-dependent part of compute.
4. **Cycles** = max(compute, memory) (double-buffered overlap); ``bound`` says which.
   Non-GEMM op groups of an extracted workload (``workload.ops``) run on a
   post-processing unit of ``vector_lanes`` lanes (``op_costs.asic_op_costs``):
   epilogues overlap their GEMM, other groups add their time to the layer they follow
   (``extras["op_latency_s"]`` / ``["op_energy_j"]`` per group). Each lane is one
   ``pe_bits`` multiply-add with the PE's register/control overhead [A] (a requantise
   scale-and-add per output, as a PE's datapath), counted in the area.
5. **Energy** = MACs actually performed x e_mac(w, a, node) + SRAM bytes x
   e_sram(size, node) + DRAM bytes x e_dram + leakage x area x time; per-PE register
   files when the spec has them (``asic_memory``; included in ``energy_sram_j``, split
   by ``asic_energy.onchip_split_j``). Partial sums are
   read and written in the ofmap SRAM at accumulator width (``constants.ACC_BITS``);
   every DRAM transfer also fills or drains its own operand's SRAM once.
6. **Area** = PEs x PE area(pe_bits) + vector lanes x lane area + SRAM bits x
   bit-cell area + RF bits, plus overheads; dollars from ``hw_models.dollars``: capex
   is the deployable part (die + package + DRAM devices + board + NRE / volume), broken
   down in ``extras``.

Example:
    >>> import hw_models as hw
    >>> wl = hw.gemm_workload([(256, 256, 256)])
    >>> c = evaluate_asic(wl, hw.AsicSpec(16, 16, "os"), hw.dense_compression(1))
    >>> int(c.compute_cycles[0])
    73215
"""

from __future__ import annotations

import jax.numpy as jnp

from lepton_codesign.hw_models import _smooth, dollars, op_costs
from lepton_codesign.hw_models import constants as C
from lepton_codesign.hw_models.asic_energy import onchip_energy_j
from lepton_codesign.hw_models.asic_memory import rf_area_um2
from lepton_codesign.hw_models.asic_spec import (
    SP_GATING,
    SP_NM,
    SP_NONE,
    SP_SKIPPING,
    AsicSpec,
)
from lepton_codesign.hw_models.asic_traffic import dram_traffic
from lepton_codesign.hw_models.compression import CHANNEL, NM, Compression
from lepton_codesign.hw_models.costs import Costs, total
from lepton_codesign.hw_models.systolic import folds, gemm_compute_cycles, spatial_map
from lepton_codesign.hw_models.workload import Workload

# Extra die area for sparsity support, as a fraction of PE-array area [A]:
# index decode / operand selection muxes (cf. SCNN, Sparse Tensor Core reports).
SPARSITY_AREA_OVERHEAD = (0.0, 0.02, 0.15, 0.05)  # none, zero-gating, skipping, nm


def _pe_pack(spec: AsicSpec, w_bits, a_bits, smooth: bool):
    """Cycles per MAC on one PE: passes for wide operands / packing of narrow ones."""
    pb = spec.pe_bits
    passes = _smooth.ceil_div(w_bits, pb, smooth) * _smooth.ceil_div(a_bits, pb, smooth)
    pack = jnp.maximum(_smooth.floor(pb / w_bits, smooth), 1.0) * jnp.maximum(
        _smooth.floor(pb / a_bits, smooth), 1.0
    )
    pack = jnp.where(spec.precision_scalable > 0.5, pack, 1.0)
    return passes / pack


def vector_lanes(spec: AsicSpec):
    """Lanes of the post-processing unit: ``spec.vector_lanes``, else one per PE column."""
    return spec.pe_cols if spec.vector_lanes is None else spec.vector_lanes


def asic_area_mm2(spec: AsicSpec):
    """Die area: PE array + vector unit + SRAM, with sparsity and chip-level overheads."""
    lane_um2 = (C.mac_area_um2_45(spec.pe_bits) * C.PE_OVERHEAD_FACTOR
                * C.node_area_scale(spec.node_nm))
    pe_um2 = lane_um2 * (1.0 + (C.PRECISION_SCALABLE_AREA_FACTOR - 1.0)
                         * spec.precision_scalable)
    sp_over = jnp.asarray(SPARSITY_AREA_OVERHEAD)[jnp.asarray(spec.sparsity_support, jnp.int32)]
    pe_array_um2 = spec.pe_rows * spec.pe_cols * pe_um2 * (1.0 + sp_over)
    sram_bytes = spec.ifmap_sram_bytes + spec.filter_sram_bytes + spec.ofmap_sram_bytes
    sram_um2 = sram_bytes * 8.0 * C.sram_cell_um2(spec.node_nm) / C.SRAM_ARRAY_EFFICIENCY
    vector_um2 = vector_lanes(spec) * lane_um2
    return ((pe_array_um2 + vector_um2 + sram_um2 + rf_area_um2(spec))
            * C.CHIP_OVERHEAD_FACTOR / 1e6)


def evaluate_asic(workload: Workload, spec: AsicSpec, compression: Compression,
                  deployment: dollars.Deployment | None = None, *,
                  smooth: bool = False, growth_bounds: bool = False) -> Costs:
    """Latency, energy, area and dollars of ``workload`` on ``spec`` (see module doc).

    ``growth_bounds=True`` adds ``extras["dram_bytes_if_rows_grow"]`` /
    ``["dram_bytes_if_cols_grow"]`` (``asic_traffic``): what each layer moves at most on
    an array with more rows / columns in the same buffers. They are left out by default
    (two more outputs cost ~10% of ``evaluate``'s throughput under ``vmap``).
    """
    deployment = deployment or dollars.Deployment()
    wl, cp = workload, compression
    has_w = jnp.asarray(wl.has_weights)
    ab = cp.act_bits
    # A matmul layer (attention) multiplies two activations: its second operand has the
    # activation bit-width and is dense; weight_bits / weight_density do not apply.
    wb = jnp.where(has_w, cp.weight_bits, ab)
    wd = jnp.where(has_w, cp.weight_density, 1.0)
    ad = cp.act_density
    sp = jnp.asarray(spec.sparsity_support, jnp.int32)
    dataflow = jnp.asarray(spec.dataflow, jnp.int32)
    is_channel = (cp.structure == CHANNEL) & has_w
    is_nm = (cp.structure == NM) & has_w

    # 1. effective shape
    n_eff = jnp.where(is_channel, jnp.maximum(_smooth.ceil(wl.n * wd, smooth), 1.0), wl.n)
    wd_in = jnp.where(is_channel, 1.0, wd)  # density inside the kept channels
    skips = (sp == SP_SKIPPING) | ((sp == SP_NM) & is_nm)
    k_scale = jnp.where(skips, wd_in, 1.0) * _pe_pack(spec, wb, ab, smooth)
    k_eff = jnp.maximum(_smooth.ceil(wl.k * k_scale, smooth), 1.0)

    # 2. compute cycles (SCALE-Sim closed form), groups run one after another
    rows, cols = spec.pe_rows, spec.pe_cols
    compute_cycles = wl.groups * gemm_compute_cycles(wl.m, k_eff, n_eff, rows, cols, dataflow,
                                                     smooth)
    fr, fc = folds(wl.m, k_eff, n_eff, rows, cols, dataflow, smooth)
    # The array-size-dependent part of compute: SCALE-Sim's per-fold fill / preload /
    # drain lines, folds x (fold_cycles - T) (compute cycles less the streaming of T per
    # fold and SCALE-Sim's "- 1" per group).
    t_stream = spatial_map(wl.m, k_eff, n_eff, dataflow)[2]
    fill_drain = compute_cycles + wl.groups * (1.0 - fr * fc * t_stream)

    # 3. DRAM traffic (bytes per group)
    dense_w = wl.k * n_eff * wb / 8.0
    meta_bits = jnp.where(is_nm, _smooth.safe_log2(cp.nm_m), spec.index_bits)
    sparse_w = wl.k * n_eff * wd_in * (wb + meta_bits) / 8.0
    w_bytes = jnp.where(skips, jnp.minimum(dense_w, sparse_w), dense_w)
    w_bytes = jnp.where(has_w, w_bytes, dense_w)  # matmul: dense activation operand
    # Unique inputs a layer reads: never more than its im2col matrix (m x k per group),
    # which matters for strided 1x1 convs that skip 3 of 4 input pixels.
    i_bytes = jnp.minimum(wl.input_elems / wl.groups, wl.m * wl.k) * ab / 8.0
    o_bytes = wl.output_elems / wl.groups * n_eff / wl.n * ab / 8.0
    traffic = dram_traffic(wl, spec, act_bits=ab, w_bytes=w_bytes, i_bytes=i_bytes,
                           o_bytes=o_bytes, n_eff=n_eff, k_eff=k_eff, fr=fr, fc=fc,
                           smooth=smooth)
    dram_bytes = traffic.dram_bytes

    # 4. cycles with stalls
    mem_cycles = dram_bytes / spec.dram_bandwidth_bytes_per_s * spec.freq_hz
    cycles = _smooth.maximum(compute_cycles, mem_cycles, smooth)
    bound = (mem_cycles > compute_cycles).astype(jnp.int32)
    latency_s = cycles / spec.freq_hz
    op = None
    if wl.ops is not None:  # non-GEMM op groups on the post-processing unit (op_costs)
        op = op_costs.asic_op_costs(wl.ops, spec, op_costs.layer_value(wl.ops, ab),
                                    vector_lanes(spec), latency_s)
        latency_s = latency_s + wl.ops.per_layer(op["latency_s"], wl.num_layers)
        dram_bytes = dram_bytes + wl.ops.per_layer(op["dram_bytes"], wl.num_layers)

    # 5. energy
    performed = jnp.where(sp == SP_NONE, 1.0,
                          jnp.where((sp == SP_GATING) | (sp == SP_SKIPPING), wd_in * ad,
                                    jnp.where(is_nm, wd_in, 1.0)))
    macs = wl.groups * wl.m * wl.k * n_eff * performed
    e_mac_j = macs * C.mac_energy_pj_45(wb, ab) * C.node_energy_scale(spec.node_nm) * 1e-12
    k_sk = wl.k * jnp.where(skips, wd_in, 1.0)  # reduction elements streamed per output
    onchip = onchip_energy_j(wl, spec, act_bits=ab, w_bytes=w_bytes, k_streamed=k_sk,
                             n_eff=n_eff, fr=fr, fc=fc, traffic=traffic, smooth=smooth)
    sram_j = onchip.total_j  # SRAM + per-PE RFs; split: asic_energy.onchip_split_j
    dram_j = dram_bytes * spec.dram_energy_pj_per_byte * 1e-12
    op_extras = {}
    if op is not None:
        per_layer = lambda v: wl.ops.per_layer(v, wl.num_layers)  # noqa: E731
        e_mac_j = e_mac_j + per_layer(op["compute_j"])
        sram_j = sram_j + per_layer(op["sram_j"])  # (op DRAM bytes are in dram_bytes)
    area_mm2 = asic_area_mm2(spec)
    leak_j = spec.leakage_w_per_mm2 * area_mm2 * latency_s
    energy_j = e_mac_j + sram_j + dram_j + leak_j
    if op is not None:
        op_extras = {"op_latency_s": op["latency_s"],
                     "op_energy_j": op["compute_j"] + op["sram_j"] + op["dram_j"]}

    # 6. totals and dollars
    total_latency_s, total_energy_j = total(latency_s), total(energy_j)
    # capex = the deployable part: die + package + DRAM + board + NRE share (dollars.py)
    part = dollars.asic_part_cost_usd(spec, area_mm2, smooth)
    cost_usd, fits = part.pop("cost_usd"), part.pop("fits_on_wafer")
    batch = float(max(wl.batch, 1))
    tco = dollars.usd_per_1m_inferences(cost_usd, total_latency_s / batch,
                                        total_energy_j / batch, deployment)
    return Costs(
        compute_cycles=compute_cycles, cycles=cycles, latency_s=latency_s, energy_j=energy_j,
        energy_mac_j=e_mac_j, energy_sram_j=sram_j, energy_dram_j=dram_j, energy_leak_j=leak_j,
        dram_bytes=dram_bytes, bound=bound, total_latency_s=total_latency_s,
        total_energy_j=total_energy_j, area_mm2=area_mm2, cost_usd=cost_usd,
        usd_per_1m_inferences=tco,
        power_w=total_energy_j / jnp.maximum(total_latency_s, 1e-30),
        feasible=fits,
        extras={**part, "mem_cycles": mem_cycles, "k_eff": k_eff, "n_eff": n_eff,
                "mapping": traffic.mapping, "fill_drain_cycles": fill_drain, **op_extras,
                **({"dram_bytes_if_rows_grow": traffic.bytes_if_rows_grow,
                    "dram_bytes_if_cols_grow": traffic.bytes_if_cols_grow}
                   if growth_bounds else {})},
    )


