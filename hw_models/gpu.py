"""Analytic kernel-level cost model of a GPU (``GpuSpec``).

Each layer is one kernel (an implicit GEMM for convolutions; attention matmuls too):

1. **dtype.** Operands of ``b = max(w_bits, a_bits)`` bits run at the first dtype in
   ``int4, int8, fp8, bf16, tf32, fp32`` that the GPU supports and is at least ``b`` bits
   wide (``tf32`` only if ``allow_tf32``): a 5-bit model runs at int8, a 4-bit one on an
   H100 (no int4) at int8 too.
2. **Sparsity.** Only N:M patterns that are also 2:4 (``M`` a multiple of 4, ``N <= 2``)
   speed up, by ``sparse_speedup`` (2x on Ampere and later [C]); their weights move as
   values plus 2-bit indices. Unstructured sparsity changes nothing; channel pruning
   makes the GEMM narrower.
3. **Compute time** with tile and wave quantisation: output tiles of ``tm x tn`` (at most
   ``tile_m x tile_n``, small dims rounded up to multiples of 16) are spread over
   ``num_sms``; ``waves = ceil(tiles / num_sms)`` and each wave takes one tile's work at
   one SM's share of ``peak x compute_efficiency``.
4. **Memory time**: weights and activations move once, at their stored width (the
   compression's bits), at ``bandwidth x bandwidth_efficiency``.
5. **Kernel time** = max(compute, memory) + ``kernel_launch_s``; a call adds
   ``dispatch_overhead_s`` once (charged to the first layer).
6. **Energy** = power(utilisation) x time with ``P = idle + (TDP - idle) x max(u_compute,
   u_memory)``; the dynamic part is split between compute and memory by their
   utilisation. Dollars: purchase price amortised (``pricing="own"``) or ``usd_per_hour``
   (``pricing="rent"``, electricity included in the price).

A workload whose weights plus largest layer activations exceed the memory capacity is
infeasible (``extras["infeasible_resource"] == 1``, ``gpu_spec.resource_name``).

Example:
    >>> import hw_models as hw
    >>> spec = GpuSpec(peak_bf16_flops=312e12, mem_bandwidth_bytes_per_s=1.555e12,
    ...                peak_int8_ops=624e12)
    >>> c = evaluate_gpu(hw.gemm_workload([(4096, 4096, 4096)]), spec,
    ...                  hw.dense_compression(1, bits=8))
    >>> gpu_dtype = int(c.extras["dtype"][0]); gpu_dtype
    1
"""

from __future__ import annotations

import jax.numpy as jnp

from lepton_codesign.hw_models import _smooth, dollars
from lepton_codesign.hw_models.compression import CHANNEL, NM, Compression
from lepton_codesign.hw_models.costs import Costs, total
from lepton_codesign.hw_models.evaluate import register_evaluator
from lepton_codesign.hw_models.fpga_resources import st_scale
from lepton_codesign.hw_models.gpu_spec import DTYPE_BITS, RENT, GpuSpec
from lepton_codesign.hw_models.workload import Workload

NM_INDEX_BITS = 2.0  # [C] 2-bit position index per kept value in 2:4 (NVIDIA Ampere)
MIN_TILE = 16.0  # [A] smallest tile edge (tensor-core MMA granularity)


def _peaks(spec: GpuSpec) -> jnp.ndarray:
    return jnp.stack([jnp.asarray(x, jnp.float32) for x in (
        spec.peak_int4_ops, spec.peak_int8_ops, spec.peak_fp8_flops, spec.peak_bf16_flops,
        spec.peak_tf32_flops * spec.allow_tf32, spec.peak_fp32_flops)], axis=-1)


def select_dtype(spec: GpuSpec, bits):
    """Per-layer dtype code and dense peak for operands of ``bits`` bits."""
    peaks = _peaks(spec)  # (..., 6)
    widths = jnp.asarray(DTYPE_BITS)
    b = jnp.minimum(jnp.ceil(bits - 1e-6), 32.0)
    ok = (widths >= b[..., None]) & (peaks[..., None, :] > 0)
    code = jnp.argmax(ok, axis=-1)  # first supported dtype wide enough
    code = jnp.where(jnp.any(ok, axis=-1), code, len(DTYPE_BITS) - 1)
    peak = jnp.take_along_axis(jnp.broadcast_to(peaks[..., None, :], ok.shape),
                               code[..., None], axis=-1)[..., 0]
    return code, jnp.maximum(peak, 1.0)


def evaluate_gpu(workload: Workload, spec: GpuSpec, compression: Compression,
                 deployment: dollars.Deployment | None = None, *,
                 smooth: bool = False) -> Costs:
    """Latency, energy and dollars of ``workload`` on ``spec`` (see module doc)."""
    deployment = deployment or dollars.Deployment()
    wl, cp = workload, compression
    B = float(max(wl.batch, 1))
    has_w = jnp.asarray(wl.has_weights)
    wb, ab = cp.weight_bits, cp.act_bits
    d = jnp.where(has_w, cp.weight_density, 1.0)
    is_channel = (cp.structure == CHANNEL) & has_w
    n_eff = jnp.where(is_channel, jnp.maximum(_smooth.ceil(wl.n * d, smooth), 1.0), wl.n)
    d_in = jnp.where(is_channel, 1.0, d)
    is_nm = (cp.structure == NM) & has_w
    two_four = (is_nm & (d_in * cp.nm_m <= 2.0 + 1e-6)
                & (jnp.mod(cp.nm_m, 4.0) == 0) & (spec.sparse_speedup > 1.0))
    speed = jnp.where(two_four, spec.sparse_speedup, 1.0)
    speed = jnp.where(is_nm, st_scale(speed, jnp.clip(1.0 / d_in, 1.0, spec.sparse_speedup),
                                      smooth), speed)

    # 1-3. dtype, tiles, waves, compute time
    code, peak = select_dtype(spec, jnp.maximum(wb, ab))
    peak = st_scale(peak, 1.0 / jnp.maximum(wb, ab), smooth) * speed
    r16 = lambda x: MIN_TILE * _smooth.ceil_div(x, MIN_TILE, smooth)  # noqa: E731
    tm = jnp.minimum(spec.tile_m, r16(wl.m))
    tn = jnp.minimum(spec.tile_n, r16(n_eff))
    tiles = _smooth.ceil_div(wl.m, tm, smooth) * _smooth.ceil_div(n_eff, tn, smooth) * wl.groups
    waves = _smooth.ceil_div(tiles, spec.num_sms, smooth)
    sm_rate = peak * spec.compute_efficiency / spec.num_sms
    t_compute = waves * 2.0 * tm * tn * wl.k / sm_rate
    flops = 2.0 * wl.m * wl.k * n_eff * wl.groups

    # 4. memory time (stored widths)
    w_elems = wl.k * n_eff * wl.groups
    w_bits = jnp.where(two_four, d_in * (wb + NM_INDEX_BITS), wb)
    w_bytes = jnp.where(has_w, w_elems * w_bits, w_elems * ab) / 8.0
    a_bytes = (wl.input_elems + wl.output_elems * n_eff / wl.n) * ab / 8.0
    bytes_moved = w_bytes + a_bytes
    bw = spec.mem_bandwidth_bytes_per_s * spec.bandwidth_efficiency
    t_mem = bytes_moved / bw

    # 5. kernel and call time
    t_busy = _smooth.maximum(t_compute, t_mem, smooth)
    first = jnp.zeros(wl.num_layers).at[0].set(1.0)
    latency_s = t_busy + spec.kernel_launch_s + first * spec.dispatch_overhead_s
    bound = (t_mem > t_compute).astype(jnp.int32)

    # 6. energy = power(utilisation) x time
    u_c = flops / jnp.maximum(t_busy * peak, 1e-30)
    u_m = bytes_moved / jnp.maximum(t_busy * spec.mem_bandwidth_bytes_per_s, 1e-30)
    activity = jnp.clip(_smooth.maximum(u_c, u_m, smooth), 0.0, 1.0)
    dyn_j = (spec.tdp_w - spec.idle_w) * activity * t_busy
    split = u_c / jnp.maximum(u_c + u_m, 1e-30)
    e_mac, e_dram = dyn_j * split, dyn_j * (1.0 - split)
    e_leak = spec.idle_w * latency_s
    energy_j = e_mac + e_dram + e_leak

    total_latency_s, total_energy_j = total(latency_s), total(energy_j)
    resident = total(jnp.where(has_w, w_bytes, 0.0)) + jnp.max(a_bytes, axis=-1)
    fits = resident <= spec.mem_capacity_bytes
    t_inf = total_latency_s / B
    own = dollars.usd_per_1m_inferences(spec.purchase_usd, t_inf, total_energy_j / B,
                                        deployment)
    rent = dollars.usd_per_1m_inferences(spec.purchase_usd, t_inf, 0.0, deployment,
                                         usd_per_hour=spec.usd_per_hour)
    tco = jnp.where(jnp.asarray(spec.pricing) == RENT, rent, own)
    return Costs(
        compute_cycles=t_compute * spec.clock_hz, cycles=latency_s * spec.clock_hz,
        latency_s=latency_s, energy_j=energy_j, energy_mac_j=e_mac,
        energy_sram_j=jnp.zeros_like(energy_j), energy_dram_j=e_dram, energy_leak_j=e_leak,
        dram_bytes=bytes_moved, bound=bound, total_latency_s=total_latency_s,
        total_energy_j=total_energy_j, area_mm2=jnp.zeros_like(total_latency_s),
        cost_usd=jnp.asarray(spec.purchase_usd, jnp.float32), usd_per_1m_inferences=tco,
        power_w=total_energy_j / jnp.maximum(total_latency_s, 1e-30), feasible=fits,
        extras={"dtype": code, "sparse_speedup": speed, "waves": waves,
                "compute_utilization": u_c, "memory_utilization": u_m,
                "throughput_per_s": B / jnp.maximum(total_latency_s, 1e-30),
                "infeasible_resource": jnp.where(fits, 0, 1).astype(jnp.int32),
                "resident_bytes": resident},
    )


register_evaluator(GpuSpec, evaluate_gpu)
