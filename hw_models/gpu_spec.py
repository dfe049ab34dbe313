"""``GpuSpec``: a GPU described by its datasheet, as a frozen pytree.

Per-dtype dense peaks (0 = the GPU lacks that dtype), the 2:4-sparse speed-up, memory
bandwidth and capacity, SM count and clock, TDP and idle power, per-kernel launch and
per-call dispatch overheads, and prices (purchase and rental). Numeric fields are pytree
leaves, so a batch of GPUs is one ``GpuSpec`` with a leading batch axis. ``pricing`` is
stored as an integer code (the constructor accepts ``"own"`` or ``"rent"``).

Datasheet numbers live in the presets (``hw_models/presets/*.yaml``) with their sources
(``shared/reference/anchors.md`` section 3.5). Defaults below are modelling assumptions.

Example:
    >>> spec = GpuSpec(peak_bf16_flops=312e12, mem_bandwidth_bytes_per_s=1.555e12)
    >>> dtype_name(3)
    'bf16'
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from lepton_codesign.hw_models.schema import (
    Rule,
    SpecError,
    categorical_code,
    check_fields,
    code_name,
    is_abstract,
    spec_pytree,
)
from lepton_codesign.hw_models.specio import describe_spec, register_spec_kind

# dtype codes, narrowest first (``gpu_kernel.select_dtype`` takes the first supported one
# wide enough; ``hw_models.gpu`` runs a layer at the fastest). Storage widths in bits.
DTYPES = ("int4", "int8", "fp8", "bf16", "tf32", "fp32")
DTYPE_BITS = (4.0, 8.0, 8.0, 16.0, 32.0, 32.0)
PRICING = ("own", "rent")
OWN, RENT = 0, 1
# Default idle power as a fraction of TDP [A]: the shipped presets' idle/TDP ratios span
# 10-22% (A100 50/400, H100 70/700, L4 16/72, T4 10/70 W; presets/*.yaml).
IDLE_FRACTION_OF_TDP = 0.15
# Infeasibility codes in ``Costs.extras["infeasible_resource"]``.
RESOURCES = ("none", "memory")


def dtype_name(code) -> str:
    """Name of a dtype code from ``Costs.extras["dtype"]``.

    Example:
        >>> dtype_name(1)
        'int8'
    """
    return code_name(code, DTYPES, "dtype")


def resource_name(code) -> str:
    """Name of an infeasibility code (``0`` -> ``"none"``, ``1`` -> ``"memory"``)."""
    return code_name(code, RESOURCES, "resource")


@spec_pytree
@dataclasses.dataclass(frozen=True)
class GpuSpec:
    """A GPU for the analytic kernel model in ``hw_models.gpu``.

    Attributes:
        peak_fp32_flops, peak_tf32_flops, peak_bf16_flops, peak_fp8_flops,
        peak_int8_ops, peak_int4_ops: dense peaks per dtype (ops/s, one MAC = 2 ops);
            0 where the GPU lacks the dtype. ``bf16`` stands for the 16-bit float class
            (bf16 or fp16, whichever the GPU runs faster).
        sparse_speedup: 2:4-sparse peak / dense peak. Default 2 [C] (NVIDIA: "2x for
            TF32, FP16, INT8"); 1 where unsupported (T4).
        mem_bandwidth_bytes_per_s, mem_capacity_bytes: device memory (HBM/GDDR).
        num_sms: streaming multiprocessors (tile-wave quantisation).
        clock_hz: boost clock, for the cycle counts in ``Costs``.
        tdp_w, idle_w: board power at full load and at idle.
            Defaults of ``mem_capacity_bytes``, ``num_sms``, ``clock_hz``, ``tdp_w`` are
            A100-like placeholders [A] (80 GB, 108 SMs, 1.41 GHz, 400 W). ``idle_w``
            ``None`` (the default) means ``IDLE_FRACTION_OF_TDP`` (15%) of ``tdp_w``
            [A]. Presets carry datasheet values.
        kernel_launch_s: fixed cost per kernel. Default 3 us [A] (CUDA launch latency is
            2-5 us; pre-compiled launches measured at 2.2 us, meta-pytorch/tritonbench
            PR #1002 [S]).
        dispatch_overhead_s: fixed cost of one synchronous jitted call (dispatch to
            ``block_until_ready``). Default 20 us [A] (jax-ml/jax PR #4128 measured 29 us
            for a trivial jit dispatch in 2020 [S]); the ``h200`` preset's fitted value
            is 84 us [M] (single-call floor of the measured GEMMs).
        compute_efficiency: fraction of a peak a well-tiled kernel sustains. Default 0.75
            [A] (large cuBLAS GEMMs reach ~70-80% of tensor-core peak).
        bandwidth_efficiency: fraction of peak bandwidth sustained. Default 0.85 [A]
            (STREAM-like copies reach ~85-90% of HBM peak).
        tile_m, tile_n: largest output tile per thread block. Default 128 x 128 [A]
            (CUTLASS's default tensor-op threadblock tile); small GEMMs use tiles rounded
            up to multiples of 16.
        efficiency_fp32, efficiency_tf32, efficiency_bf16, efficiency_fp8,
            efficiency_int8, efficiency_int4: achieved fraction of that dtype's peak on a
            large, well-tiled GEMM (XLA's kernels). ``None`` (default) means
            ``compute_efficiency``. The ``h200`` preset carries values fitted to measured
            kernels (``lepton-codesign calibrate``); XLA reaches far less of the 8-bit
            peaks than of the 16-bit one there.
        allow_tf32: 1 if fp32 matmuls may run as TF32 (JAX's default matmul precision on
            Ampere and later GPUs [S]), else 0.
        prefer_fp8: 1 if 8-bit (and 4-bit) operands are floating point (fp8, e4m3) rather
            than integers (int8/int4); default 0.
        min_call_interval_s: shortest time between back-to-back calls (the host-side
            dispatch rate bounds small kernels). Default 20 us [A] (= the default
            ``dispatch_overhead_s``: one host dispatch per call).
        warmup_s, warmup_tau_s: extra time a single synchronous call pays over the same
            work back to back, ``warmup_s x (1 - exp(-t / warmup_tau_s))`` for ``t`` of
            device work. Defaults 0 and 100 us [A] (no extra); the ``h200`` preset
            carries fitted values.
        layout_pass_bytes_per_s, layout_pass_min_m: 8-bit GEMMs (int8, fp8) with at
            least ``layout_pass_min_m`` rows pay one extra pass over their weight
            operand at this rate (XLA's 8-bit tensor-core path; on the measured H200 it is
            a per-weight-byte cost, ~6 ps each, independent of M). Default 0 = no pass
            [A]; the ``h200`` preset carries the fitted rate. ``layout_pass_min_m``
            default 512 [M]: on the H200, int8 GEMMs with M <= 128 show no such cost and
            those with M >= 2048 do; 512 is the geometric middle of that bracket.
        dynamic_w: board power above idle at full activity and boost clock. ``None``
            (default) means ``tdp_w - idle_w`` (never throttles). Where it exceeds
            ``tdp_w - idle_w`` the sustained (back-to-back) clock drops until power
            meets ``tdp_w``.
        throttle_exponent: dynamic power ~ clock ** this while throttled. Default 3 [A]
            (P ~ f V^2 with voltage roughly proportional to clock in the DVFS range).
        purchase_usd: unit capex. Default $10,000 [A]; presets state theirs.
        usd_per_hour: rental price per GPU-hour (used when ``pricing == "rent"``).
        pricing: ``"own"`` (capex amortised + electricity) or ``"rent"`` ($/hour, power
            included in the price).
        name: display name (static).
    """

    peak_bf16_flops: jax.Array | float
    mem_bandwidth_bytes_per_s: jax.Array | float
    peak_fp32_flops: jax.Array | float = 0.0
    peak_tf32_flops: jax.Array | float = 0.0
    peak_fp8_flops: jax.Array | float = 0.0
    peak_int8_ops: jax.Array | float = 0.0
    peak_int4_ops: jax.Array | float = 0.0
    sparse_speedup: jax.Array | float = 2.0
    mem_capacity_bytes: jax.Array | float = 80e9
    num_sms: jax.Array | float = 108.0
    clock_hz: jax.Array | float = 1.41e9
    tdp_w: jax.Array | float = 400.0
    idle_w: jax.Array | float | None = None
    kernel_launch_s: jax.Array | float = 3e-6
    dispatch_overhead_s: jax.Array | float = 20e-6
    compute_efficiency: jax.Array | float = 0.75
    bandwidth_efficiency: jax.Array | float = 0.85
    tile_m: jax.Array | float = 128.0
    tile_n: jax.Array | float = 128.0
    allow_tf32: jax.Array | float = 1.0
    efficiency_fp32: jax.Array | float | None = None
    efficiency_tf32: jax.Array | float | None = None
    efficiency_bf16: jax.Array | float | None = None
    efficiency_fp8: jax.Array | float | None = None
    efficiency_int8: jax.Array | float | None = None
    efficiency_int4: jax.Array | float | None = None
    prefer_fp8: jax.Array | float = 0.0
    min_call_interval_s: jax.Array | float = 20e-6
    warmup_s: jax.Array | float = 0.0
    warmup_tau_s: jax.Array | float = 100e-6
    layout_pass_bytes_per_s: jax.Array | float = 0.0
    layout_pass_min_m: jax.Array | float = 512.0
    dynamic_w: jax.Array | float | None = None
    throttle_exponent: jax.Array | float = 3.0
    purchase_usd: jax.Array | float = 10000.0
    usd_per_hour: jax.Array | float = 0.0
    pricing: jax.Array | int | str = "own"
    name: str = dataclasses.field(default="gpu", metadata={"static": True})

    def __post_init__(self):
        object.__setattr__(self, "pricing",
                           categorical_code(self.pricing, PRICING, "GpuSpec.pricing"))
        check_fields(self, _RULES, optional=_OPTIONAL)  # the file schema, concrete values
        if self.idle_w is None:
            object.__setattr__(self, "idle_w", IDLE_FRACTION_OF_TDP * self.tdp_w)
        elif not (is_abstract(self.idle_w) or is_abstract(self.tdp_w)):
            idle, tdp = np.asarray(self.idle_w), np.asarray(self.tdp_w)
            over = np.broadcast_to(idle > tdp, np.broadcast_shapes(idle.shape, tdp.shape))
            if np.any(over):
                i = tuple(np.argwhere(over)[0])
                raise SpecError(
                    f"GpuSpec.idle_w: {np.broadcast_to(idle, over.shape)[i].item()!r} is not "
                    f"allowed with tdp_w {np.broadcast_to(tdp, over.shape)[i].item()!r}; "
                    "allowed: a number >= 0 and <= tdp_w (leave idle_w out for "
                    f"{IDLE_FRACTION_OF_TDP:g} x tdp_w)")
        for f in EFFICIENCY_FIELDS:
            if getattr(self, f) is None:
                object.__setattr__(self, f, self.compute_efficiency)
        if self.dynamic_w is None:
            object.__setattr__(self, "dynamic_w", self.tdp_w - self.idle_w)

    def replace(self, **changes) -> GpuSpec:
        """A copy with some fields changed (``pricing`` accepts its names).

        Derived defaults follow their source unless given: ``idle_w`` (15% of
        ``tdp_w``) a new ``tdp_w``; the ``efficiency_*`` still equal to
        ``compute_efficiency`` a new ``compute_efficiency``; a ``dynamic_w`` still equal
        to ``tdp_w - idle_w`` a new ``tdp_w`` or ``idle_w``."""
        def same(a, b) -> bool:
            return not (is_abstract(a) or is_abstract(b)) and bool(np.allclose(a, b))

        if ("tdp_w" in changes and "idle_w" not in changes
                and same(self.idle_w, IDLE_FRACTION_OF_TDP * np.asarray(self.tdp_w))):
            changes["idle_w"] = None
        if "compute_efficiency" in changes:
            for f in EFFICIENCY_FIELDS:
                if f not in changes and same(getattr(self, f), self.compute_efficiency):
                    changes[f] = None
        if (("tdp_w" in changes or "idle_w" in changes) and "dynamic_w" not in changes
                and same(self.dynamic_w, np.asarray(self.tdp_w) - self.idle_w)):
            changes["dynamic_w"] = None
        return dataclasses.replace(self, **changes)

    def describe(self) -> dict:
        """Plain-Python view of an unbatched spec (``pricing`` as a name)."""
        return describe_spec(self, {"pricing": PRICING})


# Per-dtype efficiency fields, in ``DTYPES`` order.
EFFICIENCY_FIELDS = tuple(f"efficiency_{d}" for d in DTYPES)
_OPTIONAL = ("idle_w", "dynamic_w", *EFFICIENCY_FIELDS)
_PEAK = Rule(exclusive=False)
_FRACTION = Rule(min=0.0, max=1.0)
_RULES = {
    "peak_fp32_flops": _PEAK, "peak_tf32_flops": _PEAK, "peak_bf16_flops": Rule(),
    "peak_fp8_flops": _PEAK, "peak_int8_ops": _PEAK, "peak_int4_ops": _PEAK,
    "sparse_speedup": Rule(min=1.0, max=4.0, exclusive=False),
    # [A] envelope as for AsicSpec.dram_bandwidth_bytes_per_s: 1 kB/s .. 10 PB/s.
    "mem_bandwidth_bytes_per_s": Rule(min=1e3, exclusive=False, max=1e16),
    "mem_capacity_bytes": Rule(),
    "num_sms": Rule("int"), "clock_hz": Rule(), "tdp_w": Rule(),
    "idle_w": Rule(exclusive=False), "kernel_launch_s": Rule(exclusive=False),
    "dispatch_overhead_s": Rule(exclusive=False), "compute_efficiency": _FRACTION,
    "bandwidth_efficiency": _FRACTION, "tile_m": Rule("int"), "tile_n": Rule("int"),
    "allow_tf32": Rule("bool"), "prefer_fp8": Rule("bool"),
    **{f: _FRACTION for f in EFFICIENCY_FIELDS},
    "min_call_interval_s": Rule(exclusive=False), "warmup_s": Rule(exclusive=False),
    "warmup_tau_s": Rule(), "dynamic_w": Rule(exclusive=False),
    "layout_pass_bytes_per_s": Rule(exclusive=False, max=1e16),
    "layout_pass_min_m": Rule(exclusive=False),
    "throttle_exponent": Rule(min=1.0, max=4.0, exclusive=False),
    "purchase_usd": Rule(exclusive=False),
    "usd_per_hour": Rule(exclusive=False), "pricing": Rule("choice", choices=PRICING),
}
register_spec_kind("gpu", GpuSpec, _RULES,
                   ("peak_fp32_flops", "peak_bf16_flops", "peak_int8_ops",
                    "mem_bandwidth_bytes_per_s", "mem_capacity_bytes", "num_sms", "tdp_w",
                    "purchase_usd"))
