"""Hardware families of a co-design run: how each one is searched and scored.

* ``asic``: a joint space of ASIC knobs x compression operating point, searched with
  NSGA-II; a whole population is one ``jit(vmap(evaluate))`` call.
  ``[asic] seeds`` (presets or spec files) are scored exactly as given and, where they
  fit the search bounds, start in NSGA-II's first population.
* ``fpga`` / ``gpu``: every (device, operating point) pair is evaluated (devices are
  presets or spec files): a handful of discrete choices, enumerated exactly.

All numbers are exact (``smooth=False``) and every point is a ``records.ScoredDesign``
whose ``HardwareDesign`` (``AsicSpec`` field names) reproduces it with the operating-point
name (``hardware_label`` names it). Decoded ASIC designs are keyed by ``AsicSpec`` field
names too, except ``sram_bytes`` (each of the three buffers, ``records.SRAM_FIELDS``) and
``point`` (the operating point's index).

Example:
    >>> objective_vector({"error": 0.1, "latency_s": 2.0}, ["error", "latency_s"])
    [0.1, 2.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from lepton_codesign import hw_models, search
from lepton_codesign.codesign.devices import hardware_label as hardware_label  # re-export
from lepton_codesign.codesign.devices import hardware_record
from lepton_codesign.codesign.records import (
    GB,
    KIB,
    SRAM_FIELDS,
    AsicBounds,
    HardwareDesign,
    ScoredDesign,
)
from lepton_codesign.hw_models.compression import Compression
from lepton_codesign.search.hardware import asic_scorer as asic_scorer_of
from lepton_codesign.search.hardware import code_tables, design_spec


def objective_vector(values: dict, names: Sequence[str]) -> list[float]:
    """Pick objective values by name, in order."""
    return [float(values[n]) for n in names]


def _metrics(costs, accuracy) -> dict:
    return {"error": 1.0 - accuracy, "latency_s": costs.total_latency_s,
            "energy_j": costs.total_energy_j, "usd_per_1m_inferences": costs.usd_per_1m_inferences,
            "cost_usd": costs.cost_usd, "area_mm2": costs.area_mm2}


def _violation(cfg: dict, accuracy, costs) -> jax.Array:
    con = cfg["constraints"]
    return jnp.stack([
        con["min_accuracy"] - accuracy,
        (costs.total_latency_s - con["max_latency_s"]) / con["max_latency_s"],
        (costs.area_mm2 - con["max_area_mm2"]) / con["max_area_mm2"],
        jnp.where(costs.feasible, 0.0, 1.0),
    ], axis=-1)


def asic_space(cfg: dict, point_names: Sequence[str]) -> search.Space:
    """ASIC knobs (``records.AsicBounds``) x operating point, as a ``search.Space``."""
    b = AsicBounds.from_config(cfg)
    return search.Space({
        "pe_rows": search.Integer(*b.pe_rows),
        "pe_cols": search.Integer(*b.pe_cols),
        # decoded in the config's units (KiB, GB/s): float32 precision (search.Real)
        "sram_bytes": search.Real(*b.sram_bytes, log=True, unit=KIB),
        "freq_hz": search.Real(*b.freq_hz, log=True),
        "dram_bandwidth_bytes_per_s": search.Real(*b.dram_bandwidth_bytes_per_s, log=True,
                                                  unit=GB),
        "node_nm": search.Choice(list(b.node_nm)),
        "dataflow": search.Choice(list(b.dataflows)),
        "sparsity_support": search.Choice(list(b.sparsity_support)),
        "precision_scalable": search.Choice(list(b.precision_scalable)),
        "point": search.Choice(list(point_names)),
    })


def _spec_design(d: dict) -> dict:
    """A decoded design in ``AsicSpec`` field names: ``sram_bytes`` sets the three
    buffers, ``point`` is dropped."""
    out = {k: v for k, v in d.items() if k not in ("sram_bytes", "point")}
    if "sram_bytes" in d:
        out.update({f: d["sram_bytes"] for f in SRAM_FIELDS})
    return out


def asic_spec_from_design(d: dict, tables: dict | None = None) -> hw_models.AsicSpec:
    """``AsicSpec`` of decoded ASIC design(s) (``search.hardware.design_spec``).

    Keys are ``AsicSpec`` fields (or ``sram_bytes`` for all three buffers); categorical
    fields are spec codes or names, or ``Choice`` indices mapped by ``tables``.
    """
    return design_spec(_spec_design(d), hw_models.AsicSpec(16, 16), tables)


def stack_compressions(comps: Sequence[Compression]) -> Compression:
    return jax.tree.map(lambda *xs: jnp.stack(xs), *comps)


def make_asic_objective(cfg, workload, comps: Compression, accuracy: np.ndarray,
                        scorer=None):
    """Vectorised objective over decoded ASIC designs -> (objectives, violation).

    Categorical knobs arrive as indices into the config's option lists (``search.Choice``
    decodes non-numeric options to indices); they are mapped to spec codes here.
    ``designs["point"]`` indexes the stacked compressions ``comps`` and ``accuracy``;
    ``scorer``: an ``asic_scorer`` of the same config and workload to reuse.
    """
    scored = scorer or asic_scorer(cfg, workload)
    acc = jnp.asarray(accuracy, jnp.float32)
    return lambda designs: scored(dict(designs), comps, acc)


def asic_scorer(cfg, workload):
    """``jit``-ed ``(designs, comps, accuracy) -> (objectives, violation)`` of ASIC designs.

    The one ASIC objective of a co-design run: the outer search (all operating points
    at once) and the joint search's nested evaluation (one candidate at a time) both
    call it, so each shape compiles once per run.
    """
    names = cfg["objectives"]["names"]
    tables = code_tables({"dataflow": cfg["asic"]["dataflows"],
                          "sparsity_support": cfg["asic"]["sparsity_support"]})

    def score(costs, a):
        m = _metrics(costs, a)
        objs = jnp.stack([jnp.asarray(m[n], jnp.float32) for n in names])
        return objs, _violation(cfg, a, costs)

    scored = asic_scorer_of(workload, score, base=hw_models.AsicSpec(16, 16), tables=tables)

    @jax.jit
    def objective(designs: dict, comps: Compression, acc: jax.Array):
        idx = designs["point"]
        comp = jax.tree.map(lambda x: x[idx], comps)
        return scored(_spec_design(designs), comp, acc[idx])

    return objective


def preset_scorer(cfg, workload, spec):
    """``jit``-ed ``(comp, accuracy) -> (objectives, violation, feasible)`` of one device.

    Compiled once per device and run; the joint search's nested pricing and the final
    enumeration (``enumerate_presets``) share it (``NestedHardware.preset_scorers``).
    """
    names = cfg["objectives"]["names"]

    @jax.jit
    def score(comp: Compression, acc: jax.Array):
        costs = hw_models.evaluate(workload, spec, comp)
        m = _metrics(costs, acc)
        objs = jnp.stack([jnp.asarray(m[n], jnp.float32) for n in names])
        return objs, _violation(cfg, acc, costs), costs.feasible

    return score


def asic_design(cfg, design: dict) -> HardwareDesign:
    """The record of one decoded ASIC design (categorical knobs as option indices)."""
    a = cfg["asic"]
    values = {**_spec_design(design), "dataflow": a["dataflows"][int(design["dataflow"])],
              "sparsity_support": a["sparsity_support"][int(design["sparsity_support"])]}
    return HardwareDesign.asic(values)


def describe_asic(cfg, design: dict) -> dict:
    """Plain settings of one decoded ASIC design (``asic_design(...).to_json()``)."""
    return asic_design(cfg, design).to_json()


def _score_spec(cfg, hardware: HardwareDesign, spec, workload, comps, accuracy,
                point_names, scorer=None) -> list[ScoredDesign]:
    score = scorer or preset_scorer(cfg, workload, spec)
    out = []
    for comp, acc, pname in zip(comps, accuracy, point_names, strict=True):
        objs, viol, feasible = score(comp, jnp.float32(acc))
        out.append(ScoredDesign(hardware, pname, tuple(float(v) for v in np.asarray(objs)),
                                float(np.maximum(np.asarray(viol), 0).sum()),
                                bool(np.asarray(feasible))))
    return out


def enumerate_presets(cfg, family: str, workload, comps: Sequence[Compression],
                      accuracy: Sequence[float], point_names: Sequence[str],
                      scorers: dict | None = None) -> list[ScoredDesign]:
    """Evaluate every (device, operating point) pair of an FPGA or GPU family.

    Devices are preset names or spec files (``cfg[family]["devices"]``, resolved by
    ``validate_config``); each point records its source (``devices.hardware_record``).
    ``scorers``: compiled ``preset_scorer``s by device entry to reuse (the joint
    search's); a device without one is compiled here.
    """
    out = []
    for dev in cfg[family]["devices"]:
        spec = hw_models.resolve_spec(dev)
        out += _score_spec(cfg, HardwareDesign.device(family, hardware_record(dev, spec)),
                           spec, workload, comps, accuracy, point_names,
                           (scorers or {}).get((family, dev)))
    return out


def evaluate_seeds(cfg, workload, comps: Sequence[Compression], accuracy: Sequence[float],
                   point_names: Sequence[str]) -> list[ScoredDesign]:
    """Every ``[asic] seeds`` design at every operating point, exactly as specified.

    The seed's own spec is evaluated (all its fields, inside the search bounds or not);
    their ``HardwareDesign`` names the device, with ``seed=True``.
    """
    out = []
    for seed in cfg["asic"]["seeds"]:
        spec = hw_models.resolve_spec(seed)
        hardware = HardwareDesign.device("asic", {**hardware_record(seed, spec), "seed": True})
        out += _score_spec(cfg, hardware, spec, workload, comps, accuracy, point_names)
    return out


def seed_design(spec: hw_models.AsicSpec) -> dict:
    """The search knobs of an ASIC spec (labels for categoricals; one-row arrays).

    The design space has one ``sram_bytes`` for all three buffers: a seed maps to their
    mean (same total on-chip SRAM). Fields that are not knobs (``pe_bits``, costs, ...)
    keep the defaults in the search, so only ``evaluate_seeds`` scores the seed exactly.
    """
    d = spec.describe()
    knobs = ("pe_rows", "pe_cols", "freq_hz", "dram_bandwidth_bytes_per_s", "node_nm",
             "dataflow", "sparsity_support")
    return {**{k: [d[k]] for k in knobs},
            "sram_bytes": [sum(d[f] for f in SRAM_FIELDS) / len(SRAM_FIELDS)],
            "precision_scalable": [int(d["precision_scalable"])]}


def seed_cube(cfg, space: search.Space, point_names: Sequence[str]) -> np.ndarray | None:
    """Cube points of the seeds that lie inside the search space, one per operating point.

    For ``search.nsga2(initial=...)``; at most ``pop_size`` rows (seeds in config order,
    then operating points); ``None`` if no seed fits the bounds and option lists.
    """
    rows = []
    for seed in cfg["asic"]["seeds"]:
        design = seed_design(hw_models.resolve_spec(seed))
        for name in point_names:
            try:
                decoded = space.validate({**design, "point": [name]})
            except (KeyError, ValueError):  # outside the ranges: scored by evaluate_seeds only
                break
            rows.append(np.asarray(space.encode(decoded))[0])
    rows = rows[: cfg["asic"]["pop_size"]]
    return np.stack(rows).astype(np.float32) if rows else None
