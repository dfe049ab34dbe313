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
from collections.abc import Callable, Mapping, Sequence
from typing import Any

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


def code_tables(options: Mapping[str, Sequence[str]]) -> dict[str, jax.Array]:
    """``{field: int32 array}`` mapping a ``Choice`` index to ``AsicSpec``'s code.

    ``options``: the option names a space offers per categorical field (``dataflow``,
    ``sparsity_support``), in the space's order.

    Example:
        >>> code_tables({"dataflow": ["is", "os"]})["dataflow"].tolist()
        [2, 0]
    """
    tables = {}
    for name, opts in options.items():
        if name not in _CATEGORICAL:
            raise ValueError(f"{name}: not a categorical AsicSpec field; "
                             f"choose from {list(_CATEGORICAL)}")
        names = _CATEGORICAL[name]
        bad = [o for o in opts if o not in names]
        if bad:
            raise ValueError(f"{name}: options {bad} not in {list(names)}")
        tables[name] = jnp.asarray([names.index(o) for o in opts], jnp.int32)
    return tables


def _code_tables(space: Space | None) -> dict[str, jax.Array]:
    """Code tables of a space's categorical ``Choice`` parameters given by name."""
    if space is None:
        return {}
    return code_tables({name: p.options for name, p in space.params.items()
                        if name in _CATEGORICAL and isinstance(p, Choice) and not p.numeric})


def design_spec(design: Mapping[str, Any], base: AsicSpec | None = None,
                tables: Mapping[str, jax.Array] | None = None) -> AsicSpec:
    """``AsicSpec`` of (a batch of) designs keyed by ``AsicSpec`` field names.

    Numeric values become float32; a categorical field in ``tables`` is a ``Choice``
    index mapped to its spec code, otherwise it is already a code (or a name). Fields
    the design does not set come from ``base`` (default ``AsicSpec(16, 16)``).

    Example:
        >>> spec = design_spec({"pe_rows": [8, 32], "dataflow": [0, 1]},
        ...                    tables=code_tables({"dataflow": ["is", "os"]}))
        >>> spec.pe_rows.tolist(), spec.dataflow.tolist()
        ([8.0, 32.0], [2, 0])
    """
    tables = tables or {}
    kw = {}
    for k, v in design.items():
        if k in tables:
            v = tables[k][jnp.asarray(v)]
        elif k not in _CATEGORICAL:
            v = jnp.asarray(v, jnp.float32)
        kw[k] = v
    return (base or AsicSpec(16, 16)).replace(**kw)


def asic_scorer(workload: Workload, score: Callable, *, base: AsicSpec | None = None,
                tables: Mapping[str, jax.Array] | None = None):
    """The one ASIC design -> objectives builder (``asic_objective`` and co-design use it).

    Returns ``scored(designs, compression, aux, smooth=False)``, not jitted (callers jit
    it with their own pre-processing): the designs' specs (``design_spec``) evaluated in
    one ``vmap`` over the batch, each ``Costs`` passed to ``score(costs, aux_i)`` ->
    ``(objectives (k,), violation)``. ``compression`` and every leaf of ``aux`` either
    have the designs' leading axis (one per design) or none (shared), told apart by
    rank: a batched ``Compression`` has 2-D per-layer leaves.
    """
    def scored(designs, compression, aux, smooth: bool = False):
        spec = design_spec(designs, base, tables)
        spec_axes = jax.tree.map(lambda x: 0 if jnp.ndim(x) > 0 else None, spec)
        comp_axes = (None if compression is None
                     else jax.tree.map(lambda x: 0 if jnp.ndim(x) > 1 else None, compression))
        aux_axes = jax.tree.map(lambda x: 0 if jnp.ndim(x) > 0 else None, aux)

        def one(s, c, a):
            return score(evaluate(workload, s, c, smooth=smooth), a)

        return jax.vmap(one, in_axes=(spec_axes, comp_axes, aux_axes))(spec, compression, aux)

    return scored


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
    lim_names = tuple(limits or {})
    lim_vals = jnp.asarray([float(limits[k]) for k in lim_names], jnp.float32)

    def score(c, _aux):
        objs = jnp.stack([getattr(c, o) for o in objectives])
        viol = 1.0 - jnp.asarray(c.feasible, jnp.float32)
        if lim_names:
            vals = jnp.stack([getattr(c, o) for o in lim_names])
            viol = viol + jnp.sum(jnp.maximum(vals / lim_vals - 1.0, 0.0))
        return objs, viol

    scored = asic_scorer(workload, score, base=base, tables=_code_tables(space or asic_space()))
    batched = jax.jit(scored, static_argnums=3)

    def objective(designs, smooth: bool = False):
        unknown = set(designs) - fields
        if unknown:
            raise KeyError(f"designs set unknown AsicSpec fields {sorted(unknown)}")
        return batched(dict(designs), compression, None, bool(smooth))

    objective.objective_names = tuple(objectives)
    return objective
