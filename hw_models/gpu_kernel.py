"""Per-kernel and per-call terms of the GPU model (``GpuSpec``), as pure functions.

``hw_models.gpu`` composes them into ``Costs``; ``hw_models.gpu_calibrate`` fits their
spec fields to measured kernels. Each term:

* **dtype** (``wide_enough``, ``fastest_dtype``, ``select_dtype``): operands of ``b``
  bits can run at any dtype in ``int4, int8, fp8, bf16, tf32, fp32`` the GPU supports
  that is at least ``b`` bits wide (``wide_enough``); ``tf32`` only with ``allow_tf32``
  (JAX's default fp32 matmul precision on Ampere and later); with ``prefer_fp8`` the
  integer formats are skipped, so 8-bit (and 4-bit) operands run as fp8 or wider;
  without it integer operands run as fp8 only up to 5 bits (``INT_OPERAND_BITS``).
  ``hw_models.gpu`` prices every candidate and runs the layer at the one with the
  shortest kernel time (``fastest_dtype``), as a kernel library or compiler choosing
  among its kernels would [A]; so fewer bits, which only add candidates, are never
  slower. ``select_dtype`` is the narrowest candidate: the dtype a kernel whose operands
  are stored in that dtype runs at (a measured kernel's dtype; ``hw_models.gpu_calibrate``
  prices the measured rows at it).
* **output width** (``output_bits``): XLA's integer GEMMs write int32, fp8 GEMMs
  bfloat16, float GEMMs their operand width (``tf32`` stores fp32) [M] (the H200 file's
  ``about``: "int8 GEMMs accumulate to int32; float8_e4m3fn GEMMs write bfloat16").
* **efficiency** (``dtype_efficiency``): one achieved fraction of peak per dtype.
* **compute time** (``compute_time_s``): output tiles of ``tm x tn`` (at most
  ``tile_m x tile_n``, small edges rounded up to 16) over ``num_sms``; when there are
  fewer tiles than SMs the reduction is split (split-K) into ``floor(num_sms / tiles)``
  slices of at least ``SPLIT_K_MIN`` deep; each wave is one tile (or slice) at one SM's
  share of ``peak x efficiency``.
* **MMA shapes** (``mma_k_padded``, ``uses_tensor_cores``): a tensor-core MMA consumes
  the reduction in steps of ``MMA_K`` elements (16 for 16-bit, 32 for 8-bit, 64 for
  4-bit, 8 for tf32), so ``k`` is padded up to a multiple; a GEMM narrower than
  ``MMA_MIN_N = 8`` outputs per group (a depthwise convolution: ``n = 1``) has no MMA
  shape and runs on the CUDA cores at ``peak_fp32_flops x efficiency_fp32``, without
  tile padding [C] (PTX ISA, ``mma.sync`` shapes m16n8k16 / m16n8k32 / m16n8k64 /
  m16n8k8).
* **8-bit layout pass** (``layout_pass_s``): int8/fp8 GEMMs with at least
  ``layout_pass_min_m`` rows add one pass over the weight bytes at
  ``layout_pass_bytes_per_s`` (measured on the H200: a per-weight-byte cost independent
  of M, which with the 8-bit efficiencies near the bf16 one explains XLA's low 8-bit
  throughput on large GEMMs).
* **call times** (``call_times``): a single synchronous call costs ``dispatch_overhead_s
  + t + warmup_s (1 - exp(-t / warmup_tau_s))`` for ``t`` of device work; back to back
  a call takes ``max(min_call_interval_s, t)``.
* **power** (``sustained_power``): demand ``idle + dynamic_w x activity``; above
  ``tdp_w`` the clock drops by ``((tdp - idle) / (dynamic_w x activity)) ** (1 /
  throttle_exponent)`` and the board sits at ``tdp_w``.

Example:
    >>> import jax.numpy as jnp
    >>> from lepton_codesign.hw_models.gpu_spec import GpuSpec
    >>> spec = GpuSpec(peak_bf16_flops=1e15, mem_bandwidth_bytes_per_s=4e12,
    ...                dispatch_overhead_s=80e-6, min_call_interval_s=50e-6)
    >>> lat, interval = call_times(spec, jnp.asarray(10e-6))
    >>> round(float(lat) * 1e6), round(float(interval) * 1e6)
    (90, 50)
"""

from __future__ import annotations

import jax.numpy as jnp

from lepton_codesign.hw_models import _smooth
from lepton_codesign.hw_models.gpu_spec import DTYPE_BITS, DTYPES, EFFICIENCY_FIELDS, GpuSpec

MIN_TILE = 16.0  # [A] smallest tile edge (tensor-core MMA granularity, 16x8x16 on Ampere+)
SPLIT_K_MIN = 256.0  # [A] shallowest split-K slice (CUTLASS split-K keeps k-slices deep)
# Output width per dtype code, bits [M] (see module doc): int4/int8 -> int32,
# fp8 -> bf16, bf16 -> 16, tf32 -> fp32 storage, fp32 -> 32.
OUTPUT_BITS = (32.0, 32.0, 16.0, 16.0, 32.0, 32.0)
INT_CODES = (DTYPES.index("int4"), DTYPES.index("int8"))
# Widest integer operands (bits, signed) each dtype code holds exactly, for integer
# quantisation (``prefer_fp8`` = 0): fp8 (e4m3: 3 mantissa bits and the implicit one)
# represents every integer of magnitude <= 16 [C] (OCP 8-bit Floating Point
# Specification rev. 1.0, E4M3), i.e. the signed 5-bit range, so int8 operands cannot
# run as fp8; the others at their width (``DTYPE_BITS``).
INT_OPERAND_BITS = (4.0, 8.0, 5.0, 16.0, 32.0, 32.0)


def peaks(spec: GpuSpec) -> jnp.ndarray:
    """Dense peak per dtype code (``(..., 6)``); 0 where unsupported or disallowed."""
    return jnp.stack([jnp.asarray(x, jnp.float32) for x in (
        spec.peak_int4_ops, spec.peak_int8_ops, spec.peak_fp8_flops, spec.peak_bf16_flops,
        spec.peak_tf32_flops * spec.allow_tf32, spec.peak_fp32_flops)], axis=-1)


def efficiencies(spec: GpuSpec) -> jnp.ndarray:
    """Achieved fraction of peak per dtype code (``(..., 6)``)."""
    return jnp.stack([jnp.asarray(getattr(spec, f), jnp.float32) for f in EFFICIENCY_FIELDS],
                     axis=-1)


def _take(table: jnp.ndarray, code: jnp.ndarray) -> jnp.ndarray:
    """``table[..., code]`` with ``table`` (..., 6) broadcast against ``code`` (..., L)."""
    shape = jnp.broadcast_shapes(table.shape[:-1] + (1,), code.shape)
    t = jnp.broadcast_to(table[..., None, :], shape + (table.shape[-1],))
    return jnp.take_along_axis(t, jnp.broadcast_to(code, shape)[..., None], axis=-1)[..., 0]


def usable(spec: GpuSpec) -> jnp.ndarray:
    """Whether each dtype code can run (``(..., 6)``): a peak > 0, and not an integer
    format under ``prefer_fp8``."""
    is_int = jnp.zeros(len(DTYPES), bool).at[jnp.asarray(INT_CODES)].set(True)
    return (peaks(spec) > 0) & ~(is_int & (jnp.asarray(spec.prefer_fp8)[..., None] > 0.5))


def wide_enough(spec: GpuSpec, bits) -> jnp.ndarray:
    """Candidate dtypes per layer (``(..., L, 6)``, ``DTYPES`` order): usable and holding
    ``bits``-bit operands (``bits`` rounded up, at most 32): at least ``bits`` wide, and
    for integer operands (``prefer_fp8`` = 0) fp8 only up to 5 bits
    (``INT_OPERAND_BITS``).

    Example:
        >>> spec = GpuSpec(1e15, 4e12, peak_int8_ops=2e15, peak_fp8_flops=2e15)
        >>> wide_enough(spec, jnp.asarray([4.0, 8.0, 12.0])).astype(int).tolist()
        [[0, 1, 1, 1, 0, 0], [0, 1, 0, 1, 0, 0], [0, 0, 0, 1, 0, 0]]
    """
    b = jnp.minimum(jnp.ceil(jnp.asarray(bits) - 1e-6), 32.0)
    fp = jnp.asarray(spec.prefer_fp8)[..., None] > 0.5
    widths = jnp.where(fp, jnp.asarray(DTYPE_BITS), jnp.asarray(INT_OPERAND_BITS))  # (..., 6)
    return (widths[..., None, :] >= b[..., None]) & usable(spec)[..., None, :]


def fastest_dtype(time_s, ok) -> jnp.ndarray:
    """Per-layer code of the candidate (``ok``) with the shortest ``time_s`` (both
    ``(..., L, 6)``); ties go to the narrower dtype; ``fp32`` where there is no candidate
    (as ``select_dtype``). No gradient flows through the choice itself.

    Example:
        >>> t = jnp.asarray([[3.0, 2.0, 9.0, 1.0, 5.0, 5.0]])
        >>> fastest_dtype(t, jnp.asarray([[True, True, False, False, True, True]])).tolist()
        [1]
    """
    code = jnp.argmin(jnp.where(ok, time_s, jnp.inf), axis=-1)
    return jnp.where(jnp.any(ok, axis=-1), code, len(DTYPES) - 1)


def take_dtype(values, code) -> jnp.ndarray:
    """``values[..., code]``: per-dtype ``values`` (``(..., 6)``, trailing dtype axis)
    at the per-layer ``code`` (``(..., L)``), by a mask, so gradients reach only the
    chosen entry.

    Example:
        >>> float(take_dtype(jnp.arange(6.0) * 10, jnp.asarray(3)))
        30.0
    """
    pick = jnp.asarray(code)[..., None] == jnp.arange(len(DTYPES))
    return jnp.sum(jnp.where(pick, values, 0.0), axis=-1)


def select_dtype(spec: GpuSpec, bits):
    """Per-layer code and dense peak of the narrowest usable dtype at least ``bits`` wide.

    That is the dtype a kernel whose operands are stored in that dtype runs at (fp32 as
    TF32 when allowed): what a measured kernel ran at. ``evaluate_gpu`` picks the fastest
    candidate instead (``fastest_dtype``) unless given ``dtype``.

    Example:
        >>> from lepton_codesign.hw_models.gpu_spec import GpuSpec, dtype_name
        >>> spec = GpuSpec(1e15, 4e12, peak_int8_ops=2e15, peak_fp8_flops=2e15)
        >>> code, peak = select_dtype(spec, jnp.asarray([8.0]))  # one layer of 8 bits
        >>> dtype_name(int(code[0])), round(float(peak[0]) / 1e15, 3)
        ('int8', 2.0)
        >>> dtype_name(int(select_dtype(spec.replace(prefer_fp8=1.0), jnp.asarray([8.0]))[0][0]))
        'fp8'
    """
    ok = wide_enough(spec, bits)
    code = jnp.argmax(ok, axis=-1)  # first supported dtype wide enough
    code = jnp.where(jnp.any(ok, axis=-1), code, len(DTYPES) - 1)
    return code, dtype_peak(spec, code)


def dtype_peak(spec: GpuSpec, code) -> jnp.ndarray:
    """Dense peak of dtype ``code`` (per layer), at least 1 op/s (an unsupported dtype's
    peak is 0: priced at 1 op/s it stays finite and is never the fastest)."""
    return jnp.maximum(_take(peaks(spec), jnp.asarray(code)), 1.0)


def dtype_efficiency(spec: GpuSpec, code) -> jnp.ndarray:
    """Achieved fraction of peak for dtype ``code`` (per layer)."""
    return _take(efficiencies(spec), jnp.asarray(code))


def output_bits(code) -> jnp.ndarray:
    """Bits per output element a GEMM of dtype ``code`` writes (see ``OUTPUT_BITS``).

    Example:
        >>> [float(output_bits(c)) for c in (1, 2, 3)]  # int8, fp8, bf16
        [32.0, 16.0, 16.0]
    """
    return jnp.asarray(OUTPUT_BITS)[jnp.asarray(code)]


MMA_MIN_N = 8.0  # [C] smallest n of any mma.sync shape (PTX ISA)
# Reduction step of one MMA per dtype code (int4, int8, fp8, bf16, tf32, fp32) [C] PTX
# ISA mma.sync shapes; fp32 has no MMA (CUDA cores, no padding: step 1).
MMA_K = (64.0, 32.0, 32.0, 16.0, 8.0, 1.0)


def mma_k_padded(k, code, smooth: bool = False) -> jnp.ndarray:
    """``k`` rounded up to the dtype's MMA reduction step.

    Example:
        >>> float(mma_k_padded(147.0, 3))  # a 7x7x3 stem conv in bf16: 10 steps of 16
        160.0
    """
    step = jnp.asarray(MMA_K)[jnp.asarray(code)]
    return step * _smooth.ceil_div(k, step, smooth)


def uses_tensor_cores(n) -> jnp.ndarray:
    """Whether a GEMM with ``n`` outputs per group has an MMA shape (``n >= 8``)."""
    return jnp.asarray(n) >= MMA_MIN_N


def cuda_core_rate(spec: GpuSpec) -> jnp.ndarray:
    """Achieved CUDA-core rate (flops/s): FP32 peak x fp32 efficiency.

    Without a given FP32 peak, bf16 tensor peak / 16 (H100 SXM: 989 vs 67 TFLOP/s [C]).
    """
    peak = jnp.where(spec.peak_fp32_flops > 0, spec.peak_fp32_flops, spec.peak_bf16_flops / 16.0)
    return peak * dtype_efficiency(spec, DTYPES.index("fp32"))


def compute_time_s(spec: GpuSpec, m, n, k, groups, rate, smooth: bool = False):
    """Tile-, wave- and split-K-quantised compute time of a GEMM at ``rate`` ops/s.

    Returns ``(time_s, waves)``; ``rate`` is the whole GPU's achieved rate (peak x
    efficiency), shared evenly by ``num_sms``.
    """
    r16 = lambda x: MIN_TILE * _smooth.ceil_div(x, MIN_TILE, smooth)  # noqa: E731
    tm = jnp.minimum(spec.tile_m, r16(m))
    tn = jnp.minimum(spec.tile_n, r16(n))
    tiles = _smooth.ceil_div(m, tm, smooth) * _smooth.ceil_div(n, tn, smooth) * groups
    max_split = jnp.maximum(_smooth.floor(k / SPLIT_K_MIN, smooth), 1.0)
    split = jnp.clip(_smooth.floor(spec.num_sms / jnp.maximum(tiles, 1.0), smooth), 1.0,
                     max_split)
    waves = _smooth.ceil_div(tiles * split, spec.num_sms, smooth)
    return waves * 2.0 * tm * tn * (k / split) / (rate / spec.num_sms), waves


def layout_pass_s(spec: GpuSpec, code, m, weight_bytes) -> jnp.ndarray:
    """Extra time of the 8-bit weight-operand pass (0 for other dtypes or small ``m``).

    Example:
        >>> spec = GpuSpec(1e15, 4e12, layout_pass_bytes_per_s=1e11)
        >>> [round(float(layout_pass_s(spec, c, 4096.0, 1e6)) * 1e6) for c in (1, 2, 3)]
        [10, 10, 0]
    """
    code = jnp.asarray(code)
    eight = (code == DTYPES.index("int8")) | (code == DTYPES.index("fp8"))
    on = eight & (m >= spec.layout_pass_min_m) & (spec.layout_pass_bytes_per_s > 0)
    return jnp.where(on, weight_bytes / jnp.maximum(spec.layout_pass_bytes_per_s, 1e-30), 0.0)


def warmup_s(spec: GpuSpec, busy_s) -> jnp.ndarray:
    """Extra time of a single synchronous call over ``busy_s`` of back-to-back work."""
    tau = jnp.maximum(spec.warmup_tau_s, 1e-12)
    return spec.warmup_s * (1.0 - jnp.exp(-busy_s / tau))


def call_times(spec: GpuSpec, busy_s):
    """``(latency_s, interval_s)`` of one call with ``busy_s`` of device work.

    ``latency_s`` is one synchronous call (dispatch to result); ``interval_s`` the time
    per call when calls are queued back to back.
    """
    latency = spec.dispatch_overhead_s + busy_s + warmup_s(spec, busy_s)
    return latency, jnp.maximum(spec.min_call_interval_s, busy_s)


def sustained_power(spec: GpuSpec, activity):
    """``(power_w, clock_factor)`` at ``activity`` (fraction of peak, 0-1) sustained.

    Example:
        >>> spec = GpuSpec(1e15, 4e12, tdp_w=700.0, idle_w=150.0, dynamic_w=900.0)
        >>> p, f = sustained_power(spec, jnp.asarray(0.8))
        >>> round(float(p)), round(float(f), 3)
        (700, 0.914)
    """
    demand = jnp.maximum(spec.dynamic_w * activity, 1e-30)
    headroom = jnp.maximum(spec.tdp_w - spec.idle_w, 0.0)
    clock = jnp.minimum(1.0, (headroom / demand) ** (1.0 / spec.throttle_exponent))
    power = spec.idle_w + jnp.minimum(demand, headroom)
    return power, clock
