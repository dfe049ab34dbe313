"""Continuous ASIC knobs for the differentiable co-design mode, and the cost it descends.

The five continuous knobs of the ASIC search space (``families.asic_space``):
``pe_rows``, ``pe_cols``, ``sram_bytes`` (each of the three buffers), ``freq_hz`` and
``dram_bandwidth_bytes_per_s`` are relaxed to reals and parametrised in log space,
bounded by the config's ranges (``records.AsicBounds``, in ``AsicSpec`` units):
``value = exp(log lo + (log hi - log lo) * sigmoid(u))`` with ``u``
unconstrained (``u = 0`` is the geometric middle of the range). The categorical knobs
(``node_nm``, ``dataflow``, ``sparsity_support``, ``precision_scalable``) are not
differentiated; a ``Categorical`` choice is held fixed while training.

``harden_knobs`` rounds the trained values to valid designs: integer array sides,
whole KiB of SRAM, whole MHz of clock, 0.1 GB/s of DRAM bandwidth (resolutions [A]:
finer than any step a designer would take), each clipped into its range.

``hardware_term`` is the differentiable hardware cost of the loss: the weighted mean
of ``log(metric / reference)`` over the non-error objectives (latency, energy, $ per
1M inferences, ...), where the reference is the exact cost of the dense 8-bit model
on the starting knobs; logs make the term unitless and equally sensitive to a 10%
change of any metric. Constraint violations (latency, area over their limits) add
``PENALTY * log(value / limit)`` where positive.

Example:
    >>> from lepton_codesign.codesign.config import default_config
    >>> kb = KnobBounds.from_config(default_config())
    >>> d = harden_knobs(kb, kb.values(jnp.zeros(5)))
    >>> d["pe_rows"], d["sram_bytes"] / 1024
    (11, 64.0)
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

from lepton_codesign import hw_models
from lepton_codesign.codesign import families as fam
from lepton_codesign.codesign.records import GB, KIB, AsicBounds

KNOBS = ("pe_rows", "pe_cols", "sram_bytes", "freq_hz", "dram_bandwidth_bytes_per_s")
# Rounding resolution of each knob when hardened (design choices [A]): whole PEs, 1 KiB,
# 1 MHz, 0.1 GB/s.
RESOLUTION = {"pe_rows": 1.0, "pe_cols": 1.0, "sram_bytes": KIB, "freq_hz": 1e6,
              "dram_bandwidth_bytes_per_s": 0.1 * GB}
PENALTY = 10.0  # weight of a constraint violation (in log units) in the loss [A]
COST_METRICS = ("latency_s", "energy_j", "usd_per_1m_inferences", "cost_usd", "area_mm2")


@dataclasses.dataclass(frozen=True)
class KnobBounds:
    """Log-space bounds of the continuous knobs (order ``KNOBS``)."""

    lo: tuple[float, ...]
    hi: tuple[float, ...]

    @classmethod
    def from_config(cls, cfg: dict) -> KnobBounds:
        b = AsicBounds.from_config(cfg)
        pairs = [getattr(b, k) for k in KNOBS]
        return cls(tuple(float(p[0]) for p in pairs), tuple(float(p[1]) for p in pairs))

    @property
    def log_lo(self) -> tuple[float, ...]:
        return tuple(math.log(v) for v in self.lo)

    @property
    def log_hi(self) -> tuple[float, ...]:
        return tuple(math.log(v) for v in self.hi)

    def values(self, u: jax.Array) -> jax.Array:
        """Knob values (natural units) of the unconstrained parameters ``u`` (5,)."""
        lo, hi = jnp.asarray(self.log_lo), jnp.asarray(self.log_hi)
        return jnp.exp(lo + (hi - lo) * jax.nn.sigmoid(u))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The config's ranges, exactly (natural units)."""
        return np.asarray(self.lo), np.asarray(self.hi)


@dataclasses.dataclass(frozen=True)
class Categorical:
    """A choice of the categorical ASIC knobs: ``node_nm`` value, and the *indices* of
    ``dataflow`` / ``sparsity_support`` in the config's option lists, and
    ``precision_scalable`` (0/1); the form ``families.describe_asic`` reads."""

    node_nm: float
    dataflow: int
    sparsity_support: int
    precision_scalable: int

    def design(self, cfg: dict) -> dict:
        """Design entries with spec codes (for ``families.asic_spec_from_design``)."""
        a = cfg["asic"]
        return {"node_nm": float(self.node_nm),
                "dataflow": hw_models.asic_spec.DATAFLOWS.index(a["dataflows"][self.dataflow]),
                "sparsity_support": hw_models.asic_spec.SPARSITY_SUPPORT.index(
                    a["sparsity_support"][self.sparsity_support]),
                "precision_scalable": float(self.precision_scalable)}

    def describe(self, cfg: dict) -> dict:
        a = cfg["asic"]
        return {"node_nm": float(self.node_nm), "dataflow": a["dataflows"][self.dataflow],
                "sparsity_support": a["sparsity_support"][self.sparsity_support],
                "precision_scalable": int(self.precision_scalable)}


def all_categoricals(cfg: dict) -> list[Categorical]:
    """Every combination of the config's categorical options."""
    a = cfg["asic"]
    return [Categorical(float(n), d, s, int(p)) for n, d, s, p in itertools.product(
        a["node_nm"], range(len(a["dataflows"])), range(len(a["sparsity_support"])),
        a["precision_scalable"])]


def categorical_from_labels(cfg: dict, labels: dict) -> Categorical:
    """A ``Categorical`` from option labels, e.g. ``{"dataflow": "ws", ...}``.

    Raises:
        ValueError: an unknown key or a value not in the config's option list.
    """
    a = cfg["asic"]
    options = {"node_nm": list(a["node_nm"]), "dataflow": list(a["dataflows"]),
               "sparsity_support": list(a["sparsity_support"]),
               "precision_scalable": list(a["precision_scalable"])}
    if bad := sorted(set(labels) - set(options)):
        raise ValueError(f"categorical: unknown key {bad[0]!r}; allowed: {sorted(options)}")
    missing = sorted(set(options) - set(labels))
    if missing:
        raise ValueError(f"categorical: key {missing[0]!r} missing; allowed: all of "
                         f"{sorted(options)}")
    for k, v in labels.items():
        if v not in options[k]:
            raise ValueError(f"categorical.{k}: {v!r} not in the config's options "
                             f"{options[k]}")
    return Categorical(float(labels["node_nm"]), options["dataflow"].index(labels["dataflow"]),
                       options["sparsity_support"].index(labels["sparsity_support"]),
                       int(labels["precision_scalable"]))


def design_of(values, cat: Categorical, cfg: dict) -> dict:
    """A design dict (``families.asic_spec_from_design``) of knob values + categoricals."""
    return {**dict(zip(KNOBS, [values[i] for i in range(len(KNOBS))], strict=True)),
            **cat.design(cfg)}


def spec_of(values, cat: Categorical, cfg: dict) -> hw_models.AsicSpec:
    return fam.asic_spec_from_design(design_of(values, cat, cfg))


def harden_knobs(bounds: KnobBounds, values) -> dict:
    """Trained knob values rounded to valid ones (``RESOLUTION``), inside the bounds."""
    lo, hi = bounds.bounds()
    out = {}
    for i, k in enumerate(KNOBS):
        r = RESOLUTION[k]
        v = round(float(np.clip(round(float(values[i]) / r) * r, lo[i], hi[i])), 6)
        if k in ("pe_rows", "pe_cols"):
            v = int(np.clip(round(v), math.ceil(lo[i] - 1e-6), math.floor(hi[i] + 1e-6)))
        out[k] = v
    return out


def metric_values(costs) -> dict:
    """The cost metrics of an ``evaluate`` result, by objective name."""
    return {"latency_s": costs.total_latency_s, "energy_j": costs.total_energy_j,
            "usd_per_1m_inferences": costs.usd_per_1m_inferences,
            "cost_usd": costs.cost_usd, "area_mm2": costs.area_mm2}


def reference_costs(workload, values, cat: Categorical, cfg: dict,
                    metrics: tuple[str, ...]) -> np.ndarray:
    """Exact metrics of the dense 8-bit model on ``values`` / ``cat`` (the normaliser).

    Raises:
        ValueError: a reference metric that is not positive and finite (the design is
            then no usable normaliser; the message names it).
    """
    costs = hw_models.evaluate(workload, spec_of(jnp.asarray(values), cat, cfg),
                               hw_models.dense_compression(workload.num_layers))
    m = metric_values(costs)
    ref = np.array([float(np.asarray(m[k])) for k in metrics])
    if not np.all(np.isfinite(ref) & (ref > 0)):
        raise ValueError(f"the reference design's {dict(zip(metrics, ref, strict=True))} "
                         f"are not all positive and finite ({costs.reason_name})")
    return ref


def hardware_term(workload, comp, values, cat: Categorical, cfg: dict,
                  metrics: tuple[str, ...], ref: np.ndarray, weights: jax.Array) -> jax.Array:
    """Differentiable ``sum_m w_m log(metric_m / ref_m)`` plus constraint penalties.

    ``comp`` is a soft ``hw_models.Compression`` (``compression_state(soft=True)``),
    ``values`` the relaxed knobs; ``evaluate(smooth=True)``.
    """
    costs = hw_models.evaluate(workload, spec_of(values, cat, cfg), comp, smooth=True)
    m = metric_values(costs)
    logs = jnp.stack([jnp.log(jnp.maximum(m[k], 1e-30)) for k in metrics]) - jnp.log(ref)
    con = cfg["constraints"]
    over = (jax.nn.relu(jnp.log(jnp.maximum(costs.total_latency_s, 1e-30)
                                / con["max_latency_s"]))
            + jax.nn.relu(jnp.log(jnp.maximum(costs.area_mm2, 1e-30) / con["max_area_mm2"])))
    return jnp.sum(weights * logs) + PENALTY * over


def pick_categorical(workload, cfg: dict, values, metrics: tuple[str, ...]) -> Categorical:
    """The categorical choice that is cheapest on the starting knobs (exactly scored).

    Cost: the mean log of the metrics over two reference compressions, dense 8-bit and
    25% density with 4-bit weights (a typical compressed operating point [A]), so that
    sparsity and precision support are not judged on a dense model alone.
    """
    n = workload.num_layers
    dense = hw_models.dense_compression(n)
    sparse = dataclasses.replace(dense, weight_density=jnp.full((n,), 0.25),
                                 weight_bits=jnp.full((n,), 4.0))
    cats = all_categoricals(cfg)
    designs = [design_of(jnp.asarray(values), c, cfg) for c in cats]
    stacked = {k: jnp.stack([jnp.asarray(d[k]) for d in designs]) for k in designs[0]}

    def score(design):
        spec = fam.asic_spec_from_design(design)
        total, ok = 0.0, True
        for comp in (dense, sparse):
            costs = hw_models.evaluate(workload, spec, comp)
            mv = metric_values(costs)
            total = total + sum(jnp.log(jnp.maximum(mv[k], 1e-30)) for k in metrics)
            ok = ok & costs.feasible
        return jnp.where(ok, total, jnp.inf)

    totals = np.asarray(jax.jit(jax.vmap(score))(stacked))
    if not np.isfinite(totals).any():
        raise ValueError("no categorical ASIC choice of the config is feasible on the "
                         "starting knobs; pass categorical= explicitly")
    return cats[int(np.argmin(totals))]
