"""Hardware search spaces and cost-only objectives on ``hw_models`` (no flax).

``asic_space()`` covers the ``AsicSpec`` knobs a designer sweeps (PE array shape,
SRAM sizes on a log scale, clock, dataflow, DRAM bandwidth). ``asic_objective``
turns a fixed workload (+ compression) into an objective that prices a whole
population in **one** ``jit(vmap(hw_models.evaluate))`` call, with ``smooth=True``
support for the gradient strategy.

Example:
    >>> import hw_models as hw, jax
    >>> wl = hw.gemm_workload([(64, 256, 256)])
    >>> space = asic_space()
    >>> f = asic_objective(wl)
    >>> objs, violation = f(space.decode(space.sample(jax.random.key(0), 8)))
    >>> objs.shape, violation.shape
    ((8, 3), (8,))
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp

from lepton_codesign.hw_models import AsicSpec, Compression, Workload, evaluate
from lepton_codesign.hw_models.asic_spec import DATAFLOWS, SPARSITY_SUPPORT
from lepton_codesign.search.space import Choice, Integer, Real, Space

KIB = 1024.0
DEFAULT_OBJECTIVES = ("total_latency_s", "total_energy_j", "area_mm2")
_COSTS_SCALARS = ("total_latency_s", "total_energy_j", "area_mm2", "cost_usd",
                  "usd_per_1m_inferences", "power_w")
_CATEGORICAL = {"dataflow": DATAFLOWS, "sparsity_support": SPARSITY_SUPPORT}


def asic_space(*, pe: tuple[int, int] = (4, 256),
               sram_bytes: tuple[float, float] = (16 * KIB, 16 * KIB * KIB),
               freq_hz: tuple[float, float] = (2e8, 1.5e9),
               dram_bandwidth_bytes_per_s: tuple[float, float] = (6.4e9, 4.096e11),
               dataflows: Sequence[str] = DATAFLOWS,
               node_nm: Sequence[float] | None = None,
               pe_bits: Sequence[int] | None = None) -> Space:
    """An ``AsicSpec`` search space (keys are ``AsicSpec`` field names).

    Defaults [A]: 4-256 PE rows/columns (Eyeriss 12x14 to TPUv1 256x256), 16 KiB-16 MiB
    per SRAM, 0.2-1.5 GHz, 6.4-409.6 GB/s (one LPDDR4 x16 channel to HBM2-class).
    ``node_nm`` / ``pe_bits``: optional choices of process node and PE operand width
    (left at the base spec's values when ``None``).
    """
    extra = {}
    if node_nm is not None:
        extra["node_nm"] = Choice(tuple(float(n) for n in node_nm))
    if pe_bits is not None:
        extra["pe_bits"] = Choice(tuple(int(b) for b in pe_bits))
    return Space({
        "pe_rows": Integer(*pe, log=True),
        "pe_cols": Integer(*pe, log=True),
        "ifmap_sram_bytes": Real(*sram_bytes, log=True),
        "filter_sram_bytes": Real(*sram_bytes, log=True),
        "ofmap_sram_bytes": Real(*sram_bytes, log=True),
        "freq_hz": Real(*freq_hz),
        "dataflow": Choice(tuple(dataflows)),
        "dram_bandwidth_bytes_per_s": Real(*dram_bandwidth_bytes_per_s, log=True),
        **extra,
    })


def _code_tables(space: Space | None) -> dict[str, jax.Array]:
    """Map a ``Choice`` index to ``AsicSpec``'s code when the options are names."""
    tables = {}
    if space is None:
        return tables
    for name, p in space.params.items():
        if name in _CATEGORICAL and isinstance(p, Choice) and not p.numeric:
            names = _CATEGORICAL[name]
            bad = [o for o in p.options if o not in names]
            if bad:
                raise ValueError(f"{name}: options {bad} not in {list(names)}")
            tables[name] = jnp.asarray([names.index(o) for o in p.options], jnp.int32)
    return tables


def asic_objective(workload: Workload, compression: Compression | None = None, *,
                   base: AsicSpec | None = None,
                   objectives: Sequence[str] = DEFAULT_OBJECTIVES,
                   limits: Mapping[str, float] | None = None,
                   space: Space | None = None):
    """Objective ``designs -> (objs (n, k), violation (n,))`` for ASIC designs.

    Args:
        workload: the network to run.
        compression: its compression (default dense 8-bit).
        base: spec supplying every field the design does not set (default ``AsicSpec``
            defaults with a 16x16 array).
        objectives: ``Costs`` scalar fields to minimise.
        limits: upper bounds on ``Costs`` scalars (e.g. ``{"area_mm2": 100}``); the
            relative excess is the violation. Designs the model marks infeasible get
            violation >= 1.
        space: the space the designs come from, to translate ``Choice`` indices of
            ``dataflow`` / ``sparsity_support`` into codes; default: ``asic_space()``.

    Returns:
        ``objective(designs, smooth=False)``; design keys must be ``AsicSpec`` fields.
    """
    bad = [o for o in (*objectives, *(limits or {})) if o not in _COSTS_SCALARS]
    if bad:
        raise ValueError(f"unknown cost fields {bad}; choose from {list(_COSTS_SCALARS)}")
    base = base or AsicSpec(16, 16)
    fields = {f.name for f in dataclasses.fields(AsicSpec) if f.name != "name"}
    tables = _code_tables(space or asic_space())
    lim_names = tuple(limits or {})
    lim_vals = jnp.asarray([float(limits[k]) for k in lim_names], jnp.float32)

    def one(design, smooth):
        kw = {}
        for k, v in design.items():
            if k in tables:
                v = tables[k][v]
            elif k not in _CATEGORICAL:
                v = jnp.asarray(v, jnp.float32)
            kw[k] = v
        c = evaluate(workload, base.replace(**kw), compression, smooth=smooth)
        objs = jnp.stack([getattr(c, o) for o in objectives])
        viol = 1.0 - jnp.asarray(c.feasible, jnp.float32)
        if lim_names:
            vals = jnp.stack([getattr(c, o) for o in lim_names])
            viol = viol + jnp.sum(jnp.maximum(vals / lim_vals - 1.0, 0.0))
        return objs, viol

    @functools.partial(jax.jit, static_argnums=1)
    def batched(designs, smooth: bool):
        return jax.vmap(functools.partial(one, smooth=smooth))(designs)

    def objective(designs, smooth: bool = False):
        unknown = set(designs) - fields
        if unknown:
            raise KeyError(f"designs set unknown AsicSpec fields {sorted(unknown)}")
        return batched(dict(designs), bool(smooth))

    objective.objective_names = tuple(objectives)
    return objective
