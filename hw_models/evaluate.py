"""``evaluate``: one entry point for every hardware family.

Example:
    >>> from lepton_codesign import hw_models as hw
    >>> wl = hw.gemm_workload([(1, 40, 256), (1, 256, 10)])
    >>> costs = hw.evaluate(wl, hw.preset("gemmini-like"))
    >>> costs.latency_s.shape
    (2,)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp

from lepton_codesign.hw_models.asic import evaluate_asic
from lepton_codesign.hw_models.asic_spec import AsicSpec
from lepton_codesign.hw_models.compression import Compression, dense_compression
from lepton_codesign.hw_models.costs import Costs, guard
from lepton_codesign.hw_models.dollars import Deployment
from lepton_codesign.hw_models.schema import SpecError
from lepton_codesign.hw_models.workload import Workload

_EVALUATORS: dict[type, Callable[..., Costs]] = {AsicSpec: evaluate_asic}


def register_evaluator(spec_cls: type, fn: Callable[..., Costs]) -> None:
    """Route ``evaluate`` calls with a ``spec_cls`` spec to ``fn``."""
    _EVALUATORS[spec_cls] = fn


def with_throughput(costs: Costs, batch: int) -> Costs:
    """Add steady-state ``throughput_per_s`` and ``interval_s`` where a family has none.

    A family that overlaps inferences (an FPGA dataflow pipeline, a GPU's queued calls)
    sets them itself; otherwise back-to-back batches take ``total_latency_s`` each, so
    throughput is ``batch / total_latency_s``.

    Example:
        >>> from lepton_codesign import hw_models as hw
        >>> c = hw.evaluate(hw.gemm_workload([(4, 8, 8)], batch=4), hw.AsicSpec(4, 4))
        >>> bool(abs(c.extras["throughput_per_s"] * c.total_latency_s - 4.0) < 1e-4)
        True
    """
    if "throughput_per_s" in costs.extras and "interval_s" in costs.extras:
        return costs
    extras = dict(costs.extras)
    lat = jnp.maximum(costs.total_latency_s, 1e-30)
    extras.setdefault("interval_s", lat / float(max(batch, 1)))
    extras.setdefault("throughput_per_s", float(max(batch, 1)) / lat)
    return dataclasses.replace(costs, extras=extras)


def evaluate(workload: Workload, spec, compression: Compression | None = None, *,
             smooth: bool = False, deployment: Deployment | None = None) -> Costs:
    """Cost of running ``workload`` (compressed as ``compression``) on ``spec``.

    Args:
        workload: per-layer GEMM shapes (``gemm_workload`` / ``extract_workload``).
        spec: an ``AsicSpec`` (or another registered spec type); its numeric fields
            may carry a leading batch axis under ``jax.vmap``.
        compression: per-layer densities and bits; default dense 8-bit.
        smooth: differentiable relaxation for gradients; ``False`` gives the exact
            numbers that reports show.
        deployment: lifetime / utilisation / electricity price for TCO numbers.

    Returns:
        ``Costs`` with per-layer arrays and totals, all finite and non-negative
        (``total_latency_s``: one synchronous call of the batch; ``extras
        ["throughput_per_s"]`` / ``["interval_s"]``: steady state, back to back); a
        design that cannot run, or whose costs overflow, has ``feasible`` False and
        ``extras["infeasible_reason"]`` (``costs.reason_name``) says why.

    Raises:
        SpecError: ``spec`` is not a registered spec type (a ``ValueError``).
        ValueError: ``compression`` has a different number of layers.
    """
    fn = _EVALUATORS.get(type(spec))
    if fn is None:
        hint = (f" (a name or file: use resolve_spec({spec!r}) first)"
                if isinstance(spec, str) else "")
        raise SpecError(f"evaluate: spec is a {type(spec).__name__}{hint}; allowed: one of "
                        f"{[c.__name__ for c in _EVALUATORS]}")
    if compression is None:
        compression = dense_compression(workload.num_layers)
    if compression.num_layers != workload.num_layers:
        raise ValueError(f"compression has {compression.num_layers} layers, "
                         f"workload has {workload.num_layers}")
    costs = with_throughput(fn(workload, spec, compression, deployment or Deployment(),
                               smooth=smooth), workload.batch)
    traced = isinstance(costs.total_latency_s, jax.core.Tracer)
    return guard(costs, layers=not traced)  # per-layer cleaning only eagerly (speed)
