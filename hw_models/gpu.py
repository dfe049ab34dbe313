"""Analytic kernel-level cost model of a GPU (``GpuSpec``): single-call latency and
steady-state throughput.

Each layer is one kernel (an implicit GEMM for convolutions; attention matmuls too); the
terms live in ``hw_models.gpu_kernel`` (each documented and tested on its own):

1. **dtype.** The candidates are the supported dtypes at least as wide as
   ``max(w_bits, a_bits)`` (``gpu_kernel.wide_enough``; TF32 only when ``allow_tf32``,
   no integer formats when ``prefer_fp8``, else integer operands in fp8 only up to 5
   bits, all e4m3 holds exactly). Steps 3-5 are computed for every candidate
   and the layer runs at the one with the shortest kernel time (``gpu_kernel.
   fastest_dtype``), as a kernel library or compiler picking among its kernels would, so
   fewer bits (more candidates) are never slower. ``dtype=`` prices given codes instead
   (calibration prices a measured kernel at its measured dtype, ``select_dtype``).
   Outputs are written at ``output_bits`` (int8 -> int32, fp8 -> bf16).
2. **Sparsity.** Only N:M patterns that are also 2:4 (``M`` a multiple of 4, ``N <= 2``)
   speed up, by ``sparse_speedup`` (2x on Ampere and later [C]); their weights move as
   values plus 2-bit indices. Unstructured sparsity changes nothing; channel pruning
   makes the GEMM narrower.
3. **Compute time**: tile, wave and split-K quantisation over ``num_sms`` at ``peak x
   efficiency_<dtype>``, with ``k`` padded to the MMA step; GEMMs with fewer than 8
   outputs per group (depthwise convs) run on the CUDA cores.
4. **Memory time**: weights and inputs at their stored width, outputs at the GEMM's
   output width, at ``bandwidth x bandwidth_efficiency``.
5. **Kernel time** = max(compute, memory) + ``kernel_launch_s`` (+ the 8-bit weight
   layout pass, ``layout_pass_s``), at the chosen dtype (step 1).
6. **Non-GEMM op groups** (``workload.ops``): one memory-bound kernel each, epilogues
   only their extra operands (``op_costs.gpu_op_costs``); their time counts on the layer
   they follow (``extras["op_latency_s"]`` / ``["op_energy_j"]`` per group).

**Latency vs throughput.** ``total_latency_s`` (and the per-layer ``latency_s``, which
sum to it) is one synchronous call of the batch: ``dispatch_overhead_s`` + kernels +
the single-call warm-up term (``call_times``). ``extras["interval_s"]`` is the steady
state, calls queued back to back: ``max(min_call_interval_s, kernels)`` with each kernel's
compute stretched by the power-cap clock throttle (``sustained_power``);
``extras["throughput_per_s"] = batch / interval_s``. **Energy, power and
``usd_per_1m_inferences`` use the throughput time base** (``interval_s``): energy per
layer is sustained board power (capped at ``tdp_w``) x its steady-state time, plus idle
power over any host-bound gap. Dollars: purchase price amortised (``pricing="own"``) or
``usd_per_hour`` (``pricing="rent"``, electricity included in the price).

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
    >>> bool(c.extras["interval_s"] <= c.total_latency_s)
    True
"""

from __future__ import annotations

import jax.numpy as jnp

from lepton_codesign.hw_models import _smooth, dollars, op_costs
from lepton_codesign.hw_models import gpu_kernel as gk
from lepton_codesign.hw_models.compression import CHANNEL, NM, Compression
from lepton_codesign.hw_models.costs import Costs, total
from lepton_codesign.hw_models.evaluate import register_evaluator
from lepton_codesign.hw_models.fpga_resources import st_scale
from lepton_codesign.hw_models.gpu_spec import DTYPES, RENT, GpuSpec
from lepton_codesign.hw_models.workload import Workload

NM_INDEX_BITS = 2.0  # [C] 2-bit position index per kept value in 2:4 (NVIDIA Ampere)
select_dtype = gk.select_dtype  # kept here for callers of ``gpu.select_dtype``


def evaluate_gpu(workload: Workload, spec: GpuSpec, compression: Compression,
                 deployment: dollars.Deployment | None = None, *,
                 smooth: bool = False, dtype=None) -> Costs:
    """Latency, energy and dollars of ``workload`` on ``spec`` (see module doc).

    Args:
        workload, spec, compression, deployment, smooth: as ``hw_models.evaluate``.
        dtype: ``None`` (default): each layer runs at its fastest candidate dtype (step
            1). Else dtype codes (``gpu_spec.DTYPES`` order, per layer or one for all)
            to price instead, as given (an unsupported one at a peak of 1 op/s): the
            calibration's measured dtype (``gpu_calibrate``, ``gpu_checks``).
    """
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

    # 1-5. per-layer kernel terms at dtype ``code`` (``e`` adds the dtype axis, if any)
    bits = jnp.maximum(wb, ab)
    flops = 2.0 * wl.m * wl.k * n_eff * wl.groups
    w_elems = wl.k * n_eff * wl.groups
    w_bits = jnp.where(two_four, d_in * (wb + NM_INDEX_BITS), wb)
    w_bytes = jnp.where(has_w, w_elems * w_bits, w_elems * ab) / 8.0

    def kernel(code, e, peak, efficiency):
        # 3. tiles, waves, compute time (an unsupported dtype at a peak of 1 op/s)
        peak = st_scale(peak, e(1.0 / bits), smooth) * e(speed)
        rate = peak * efficiency
        k_mma = gk.mma_k_padded(e(wl.k), code, smooth)
        t_mma, waves = gk.compute_time_s(spec, e(wl.m), e(n_eff), k_mma, e(wl.groups), rate,
                                         smooth)
        # no MMA shape (depthwise): CUDA cores, no tile padding (gpu_kernel.uses_tensor_cores)
        t_compute = jnp.where(e(gk.uses_tensor_cores(n_eff)), t_mma,
                              e(flops / gk.cuda_core_rate(spec)))
        # 4. memory time (stored widths in, GEMM output width out)
        a_bytes = (e(wl.input_elems * ab)
                   + e(wl.output_elems * n_eff / wl.n) * gk.output_bits(code)) / 8.0
        bytes_moved = e(w_bytes) + a_bytes
        t_mem = bytes_moved / (spec.mem_bandwidth_bytes_per_s * spec.bandwidth_efficiency)
        # 5. kernel time
        t_pass = gk.layout_pass_s(spec, code, e(wl.m), e(jnp.where(has_w, w_bytes, 0.0)))
        t_kernel = _smooth.maximum(t_compute, t_mem, smooth) + spec.kernel_launch_s + t_pass
        return (peak, waves, t_compute, a_bytes, bytes_moved, t_mem, t_pass, t_kernel)

    if dtype is None:  # 1. kernel time of every dtype (trailing axis): the fastest candidate
        every = kernel(jnp.arange(len(DTYPES)), lambda x: jnp.asarray(x)[..., None],
                       jnp.maximum(gk.peaks(spec), 1.0), gk.efficiencies(spec))
        code = gk.fastest_dtype(every[-1], gk.wide_enough(spec, bits))
        terms = tuple(gk.take_dtype(x, code) for x in every)
    else:  # the given dtype (calibration: the measured one)
        code = jnp.broadcast_to(jnp.asarray(dtype, jnp.int32), jnp.shape(bits))
        terms = kernel(code, lambda x: x, gk.dtype_peak(spec, code),
                       gk.dtype_efficiency(spec, code))
    peak, waves, t_compute, a_bytes, bytes_moved, t_mem, t_pass, t_kernel = terms

    # one synchronous call (latency) and back to back (interval)
    t_ops = jnp.zeros_like(t_kernel)
    op_extras = {}
    if wl.ops is not None:  # non-GEMM op groups: memory-bound kernels (op_costs)
        op = op_costs.gpu_op_costs(wl.ops, spec, op_costs.layer_value(wl.ops, ab))
        t_ops = wl.ops.per_layer(op["time_s"], wl.num_layers)
        t_kernel = t_kernel + t_ops
        bytes_moved = bytes_moved + wl.ops.per_layer(op["bytes"], wl.num_layers)
        op_extras = {"op_latency_s": op["time_s"]}
    busy = total(t_kernel)
    total_latency_s, _ = gk.call_times(spec, busy)
    first = jnp.zeros(wl.num_layers).at[0].set(1.0)
    share = t_kernel / jnp.maximum(busy, 1e-30)[..., None]
    latency_s = (t_kernel + first * spec.dispatch_overhead_s
                 + share * gk.warmup_s(spec, busy)[..., None])
    bound = (t_mem > t_compute).astype(jnp.int32)

    # 6. sustained power (capped, throttled) x steady-state time
    u_c = flops / jnp.maximum(t_kernel * peak, 1e-30)
    u_m = bytes_moved / jnp.maximum(t_kernel * spec.mem_bandwidth_bytes_per_s, 1e-30)
    activity = jnp.clip(_smooth.maximum(u_c, u_m, smooth), 0.0, 1.0)
    power, clock = gk.sustained_power(spec, activity)
    t_ss = (_smooth.maximum(t_compute / clock, t_mem, smooth) + spec.kernel_launch_s + t_pass
            + t_ops)
    interval_s = jnp.maximum(spec.min_call_interval_s, total(t_ss))
    gap = interval_s - total(t_ss)  # host-bound idle time per call
    dyn_j = (power - spec.idle_w) * t_ss
    split = u_c / jnp.maximum(u_c + u_m, 1e-30)
    e_mac, e_dram = dyn_j * split, dyn_j * (1.0 - split)
    e_leak = spec.idle_w * (t_ss + first * gap[..., None])
    energy_j = e_mac + e_dram + e_leak
    if wl.ops is not None:  # each group's share of its layer's steady-state energy
        layer_e = op_costs.layer_value(wl.ops, energy_j / jnp.maximum(t_ss, 1e-30))
        op_extras["op_energy_j"] = layer_e * op["time_s"]

    total_energy_j = total(energy_j)
    resident = total(jnp.where(has_w, w_bytes, 0.0)) + jnp.max(a_bytes, axis=-1)
    fits = resident <= spec.mem_capacity_bytes
    t_inf = interval_s / B
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
        power_w=total_energy_j / jnp.maximum(interval_s, 1e-30), feasible=fits,
        extras={"dtype": code, "sparse_speedup": speed, "waves": waves,
                "compute_utilization": u_c, "memory_utilization": u_m,
                "throughput_per_s": B / jnp.maximum(interval_s, 1e-30),
                "interval_s": interval_s, "clock_factor": clock,
                "infeasible_resource": jnp.where(fits, 0, 1).astype(jnp.int32),
                "resident_bytes": resident, **op_extras},
    )


register_evaluator(GpuSpec, evaluate_gpu)
