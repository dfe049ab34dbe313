"""``evaluate``: one entry point for every hardware family.

Example:
    >>> from lepton_codesign import hw_models as hw
    >>> wl = hw.gemm_workload([(1, 40, 256), (1, 256, 10)])
    >>> costs = hw.evaluate(wl, hw.preset("gemmini-like"))
    >>> costs.latency_s.shape
    (2,)
"""

from __future__ import annotations

from collections.abc import Callable

import jax

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
        ``Costs`` with per-layer arrays and totals, all finite and non-negative; a
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
    costs = fn(workload, spec, compression, deployment or Deployment(), smooth=smooth)
    traced = isinstance(costs.total_latency_s, jax.core.Tracer)
    return guard(costs, layers=not traced)  # per-layer cleaning only eagerly (speed)
