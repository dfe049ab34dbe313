"""Exact re-scoring of the differentiable mode's hardened points, and their front.

Every hardened (model, knobs) pair is evaluated with ``evaluate(smooth=False)``: the
numbers reports show. With several categorical choices, the designs of one model are
one ``jit(vmap)`` call (the spec's categorical fields are integer codes, batchable).
Objectives, violation and feasibility follow ``codesign``: violation is the sum of the
positive parts of (min accuracy - accuracy, relative latency excess, relative area
excess, infeasible); ``on_front`` is the constrained non-dominated set.

Example:
    >>> points = make_asic_scorer(cfg, workload, cats, cat)(trial)  # doctest: +SKIP
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lepton_codesign import hw_models, search
from lepton_codesign.codesign import differentiable_knobs as K
from lepton_codesign.codesign import families as fam
from lepton_codesign.codesign.devices import hardware_record
from lepton_codesign.codesign.report_io import unique_labels
from lepton_codesign.codesign.trials import compression_from_dict


def _metrics_and_violation(cfg: dict, names: list[str], costs, acc):
    con = cfg["constraints"]
    m = {"error": 1.0 - acc, **K.metric_values(costs)}
    objs = jnp.stack([jnp.asarray(m[n], jnp.float32) for n in names])
    viol = jnp.stack([con["min_accuracy"] - acc,
                      (costs.total_latency_s - con["max_latency_s"]) / con["max_latency_s"],
                      (costs.area_mm2 - con["max_area_mm2"]) / con["max_area_mm2"],
                      jnp.where(costs.feasible, 0.0, 1.0)])
    return objs, jnp.sum(jnp.maximum(viol, 0.0)), costs.feasible


def _scorer(cfg: dict, workload, names: list[str]):
    def one(design, comp, acc):
        costs = hw_models.evaluate(workload, fam.asic_spec_from_design(design), comp)
        return _metrics_and_violation(cfg, names, costs, acc)

    return jax.jit(jax.vmap(one, in_axes=(0, None, None)))


def make_device_scorer(cfg: dict, workload):
    """``score(trial) -> list of points`` on every FPGA / GPU device of the config
    (exact; one compiled function per device, reused by every trial), recorded as
    ``codesign`` records them (``devices.hardware_record``)."""
    names = list(cfg["objectives"]["names"])
    devices = []
    for family in ("fpga", "gpu"):
        if family not in cfg["hardware"]["families"]:
            continue
        for dev in cfg[family]["devices"]:
            spec = hw_models.resolve_spec(dev)

            def one(comp, acc, spec=spec):
                costs = hw_models.evaluate(workload, spec, comp)
                return _metrics_and_violation(cfg, names, costs, acc)

            devices.append((family, hardware_record(dev, spec), jax.jit(one)))

    def score(t: dict) -> list[dict]:
        comp = compression_from_dict(t["compression"])
        out = []
        for family, record, fn in devices:
            objs, viol, ok = fn(comp, jnp.float32(t["accuracy"]))
            out.append({"family": family, "hardware": dict(record), "point": t["name"],
                        "objectives": [float(v) for v in np.asarray(objs)],
                        "violation": float(viol), "feasible": bool(ok)})
        return out

    return score


def make_asic_scorer(cfg: dict, workload, cats: list, trained):
    """``score(trial) -> list of points``: exact ASIC points of a trial's hardened knobs
    with every categorical choice in ``cats`` (compiled once, one ``vmap`` call each).

    Args:
        cfg: the validated config.
        workload: the model's workload.
        cats: ``Categorical`` choices to score.
        trained: the categorical choice the knobs were trained with (recorded per point
            as ``hardware["trained_categorical"]``).

    The trial record needs ``name``, ``knobs`` (hardened), ``compression``, ``accuracy``.
    """
    names = list(cfg["objectives"]["names"])
    vscore = _scorer(cfg, workload, names)

    def score(t: dict) -> list[dict]:
        designs = [{**t["knobs"], **c.design(cfg)} for c in cats]
        stacked = {k: jnp.asarray([d[k] for d in designs], jnp.float32) for k in designs[0]}
        for k in ("dataflow", "sparsity_support"):
            stacked[k] = stacked[k].astype(jnp.int32)
        objs, viol, ok = vscore(stacked, compression_from_dict(t["compression"]),
                                jnp.float32(t["accuracy"]))
        objs, viol, ok = np.asarray(objs), np.asarray(viol), np.asarray(ok)
        out = []
        for j, c in enumerate(cats):
            d = {**t["knobs"], **c.describe(cfg)}
            d["dataflow"] = cfg["asic"]["dataflows"].index(d["dataflow"])
            d["sparsity_support"] = cfg["asic"]["sparsity_support"].index(
                d["sparsity_support"])
            hw = fam.describe_asic(cfg, d)
            hw["trained_categorical"] = c == trained
            out.append({"family": "asic", "hardware": hw, "point": t["name"],
                        "objectives": [float(v) for v in objs[j]],
                        "violation": float(viol[j]), "feasible": bool(ok[j])})
        return out

    return score


def finish_points(points: list[dict], trials: list[dict]) -> None:
    """Add ``id``, ``label``, ``on_front``, ``compression``, ``reference`` (in place),
    as ``codesign`` does; ``compression`` holds the trial's lambda and per-layer
    densities and bits."""
    objs = np.array([p["objectives"] for p in points], float)
    viol = np.array([p["violation"] + (0.0 if p["feasible"] else 1.0) for p in points])
    ok = np.all(np.isfinite(objs), axis=1)
    front = np.asarray(search.nondominated(jnp.asarray(np.where(ok[:, None], objs, 1e30)),
                                           jnp.asarray(np.where(ok, viol, 1e30)))) & (viol <= 0)
    by_name = {t["name"]: t for t in trials}
    for i, p in enumerate(points):
        t = by_name[p["point"]]
        p["id"] = f"{p['family']}{i}"
        p["label"] = f"{p['point']} @ {fam.hardware_label(p['hardware'])}"
        p["on_front"] = bool(front[i])
        p["feasible"] = bool(p["feasible"] and viol[i] <= 0)
        c = t["compression"]
        p["compression"] = {"point": p["point"], "lambda": t["lambda"],
                            "weight_density": c["weight_density"],
                            "weight_bits": c["weight_bits"], "act_bits": c["act_bits"],
                            "structure": c["structure"]}
        p["reference"] = False
    labels = unique_labels(points)
    for p in points:
        p["label"] = labels[p["id"]]
