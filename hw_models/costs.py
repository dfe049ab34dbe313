"""``Costs``: what every cost model returns (ASIC, FPGA, GPU alike).

Per-layer arrays have shape ``(..., num_layers)``; totals are scalars (or a batch).
Units are in the names. ``bound`` is 1 where a layer is memory-bound, else 0.
``feasible`` is False when the design cannot run the workload at all (does not fit,
die larger than a wafer) or its numbers are not finite (an extreme but valid input such
as 1e-50 B/s of bandwidth overflows float32); ``extras["infeasible_reason"]`` says which
(``REASONS``; ``reason_name``), and the family's ``extras["infeasible_resource"]`` names
the resource where it knows. ``guard`` (applied by ``evaluate``) replaces NaN / inf by
the largest float32 and negatives by 0: totals always, per-layer arrays in eager calls
(under ``jit`` they are finite whenever ``infeasible_reason`` is not ``non-finite``).

Example:
    >>> from lepton_codesign import hw_models as hw
    >>> c = hw.evaluate(hw.gemm_workload([(64, 64, 64)]), hw.AsicSpec(16, 16))
    >>> bool(c.feasible), reason_name(c.extras["infeasible_reason"])
    (True, 'none')
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Costs:
    """Per-layer and total costs of a workload on one design.

    Attributes:
        compute_cycles: cycles of the compute alone (no memory stalls), per layer.
        cycles: cycles with memory stalls, per layer.
        latency_s: per-layer latency.
        energy_j: per-layer energy (sum of the four terms below).
        energy_mac_j, energy_sram_j, energy_dram_j, energy_leak_j: breakdown.
        dram_bytes: off-chip traffic per layer.
        bound: 1 = memory-bound, 0 = compute-bound, per layer.
        total_latency_s, total_energy_j: sums over layers (one batch).
        area_mm2: die area (ASIC), or 0 where not applicable.
        cost_usd: unit capex, the part you plug in without a host server
            (``dollars.CAPEX_CONVENTION``): die + package + DRAM + board + NRE share
            for an ASIC (breakdown in ``extras``), board price for an FPGA, card /
            module price for a GPU.
        usd_per_1m_inferences: total cost of ownership per million inferences
            (capex amortised over lifetime x utilisation + electricity).
        power_w: average power while running the workload.
        feasible: whether the design can run the workload.
        extras: model-specific arrays (FPGA utilisation, GPU dtype, ...).
    """

    compute_cycles: jax.Array
    cycles: jax.Array
    latency_s: jax.Array
    energy_j: jax.Array
    energy_mac_j: jax.Array
    energy_sram_j: jax.Array
    energy_dram_j: jax.Array
    energy_leak_j: jax.Array
    dram_bytes: jax.Array
    bound: jax.Array
    total_latency_s: jax.Array
    total_energy_j: jax.Array
    area_mm2: jax.Array
    cost_usd: jax.Array
    usd_per_1m_inferences: jax.Array
    power_w: jax.Array
    feasible: jax.Array
    extras: dict = dataclasses.field(default_factory=dict)

    def summary(self) -> dict:
        """Totals of an unbatched result as plain floats."""
        keys = ("total_latency_s", "total_energy_j", "area_mm2", "cost_usd",
                "usd_per_1m_inferences", "power_w")
        out = {k: float(np.asarray(getattr(self, k))) for k in keys}
        if "throughput_per_s" in self.extras:  # steady state (set by ``evaluate``)
            out["throughput_per_s"] = float(np.asarray(self.extras["throughput_per_s"]))
        out["feasible"] = bool(np.asarray(self.feasible))
        return out


# Codes of ``Costs.extras["infeasible_reason"]``.
REASONS = ("none", "does-not-fit", "non-finite", "zero-latency", "memory-capacity")
_REASON_TEXT = {
    "none": "feasible",
    "does-not-fit": "the design cannot hold or run the workload (see infeasible_resource; "
                    "for an ASIC, a die larger than a wafer)",
    "non-finite": "a cost overflowed or is undefined (NaN/inf in float32): extreme spec "
                  "or workload values",
    "zero-latency": "the workload takes no time (no layers?), so throughput is undefined",
    "memory-capacity": "weights + KV cache + activations per device exceed the device "
                       "memory (hw_models.llm_costs: split it over more devices or "
                       "compress it)",
}
# Stand-in for NaN / inf in reported numbers: the largest float32 [C] (IEEE 754).
_BIG = float(np.finfo(np.float32).max)


def reason_name(code) -> str:
    """Name of an ``infeasible_reason`` code.

    Example:
        >>> reason_name(2)
        'non-finite'
    """
    code = int(np.asarray(code))
    if not 0 <= code < len(REASONS):
        raise ValueError(f"unknown infeasible_reason code {code}; allowed 0..{len(REASONS) - 1}")
    return REASONS[code]


def reason_text(code) -> str:
    """A sentence for an ``infeasible_reason`` code (for reports and CLI output)."""
    return _REASON_TEXT[reason_name(code)]


def _finite(x, floor: float = -_BIG):
    """NaN and +inf -> the largest float32; values below ``floor`` -> ``floor``.

    ``fmin`` / ``fmax`` ignore NaN, so two ops suffice (``nan_to_num`` + ``maximum``
    cost ~50% of full-``Costs`` throughput under vmap; this costs little).
    """
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        return x
    return jnp.fmax(jnp.fmin(x, _BIG), floor)


_TOTALS = ("total_latency_s", "total_energy_j", "area_mm2", "cost_usd",
           "usd_per_1m_inferences", "power_w")


def guard(costs: Costs, layers: bool = True) -> Costs:
    """Mark results with NaN / inf / negative totals or zero latency infeasible (with
    ``extras["infeasible_reason"]``) and make the numbers finite and non-negative.

    Totals are sums of the per-layer latency and energy, so a NaN or inf in any layer
    shows in them; a design with finite totals has finite per-layer numbers. Pure,
    jittable and the identity on finite, non-negative results.

    Args:
        costs: a cost model's raw result.
        layers: also clean the per-layer arrays and ``extras`` (each a pass over
            ``designs x layers`` elements: ~35% of full-``Costs`` throughput under
            ``jit(vmap)``, measured with ``benchmarks/cost_model_throughput.py``);
            ``evaluate`` does so in eager calls, not under tracing, where only the
            totals, scalars and ``feasible`` are cleaned.

    Example:
        >>> c = guard(Costs(*([jnp.float32(1.0)] * 16), feasible=jnp.bool_(True)))
        >>> reason_name(c.extras["infeasible_reason"])
        'none'
    """
    totals = [jnp.asarray(getattr(costs, k)) for k in _TOTALS]
    finite = jnp.all(jnp.stack([jnp.isfinite(t) & (t >= 0) for t in totals]), axis=0)
    model_ok = jnp.asarray(costs.feasible, bool)
    timed = costs.total_latency_s > 0
    reason = jnp.where(~model_ok, 1, jnp.where(~finite, 2, jnp.where(~timed, 3, 0)))
    fields = {f.name: getattr(costs, f.name) for f in dataclasses.fields(costs)
              if f.name not in ("feasible", "extras")}
    for k in fields:
        if layers or k in _TOTALS:
            fields[k] = _finite(fields[k], 0.0)
    extras = {k: _finite(v) for k, v in costs.extras.items()} if layers else dict(costs.extras)
    extras["infeasible_reason"] = reason.astype(jnp.int32)
    return Costs(**fields, feasible=model_ok & finite & timed, extras=extras)


def total(x: jax.Array) -> jax.Array:
    """Sum over the layer axis (the last one).

    The optimisation barrier keeps XLA from fusing the per-layer producers into the
    reduction, which was ~25% faster under ``vmap`` over 1e5 designs (measured with
    ``benchmarks/cost_model_throughput.py``).
    """
    return jnp.sum(jax.lax.optimization_barrier(x), axis=-1)
