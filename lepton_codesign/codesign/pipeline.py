"""``codesign``: compress at several operating points, search hardware, report the front.

Data flow of one run (``out_dir`` makes it resumable: ``rundir.RunDir`` locks the
directory and resumes only a run of the same config, code and data):

1. **Trials** (one per compression operating point) train the model with that policy
   and return its test accuracy and hard ``hw_models.Compression``. They run on an
   executor (local or Ray); each result is appended to ``trials.jsonl`` the moment
   it arrives, and a rerun skips the points already there. User arrays are checked
   against the model first (``userdata.check_user_data``).
2. The **workload** is extracted once from the model (compression does not change
   the layer list, only densities and bits).
3. **Hardware** per family (``families.py``): NSGA-II over ASIC knobs x operating
   point (checkpointed every generation by ``search.run``), exhaustive FPGA / GPU
   presets x operating points. All numbers are exact.
4. **Front**: all points together, constrained non-dominated sort; the knee of the
   front is the chosen design, re-scored with its per-layer breakdown.
5. ``results.json`` + ``codesign.report.write_report`` (plots, ``front.csv``, ``report.md``).

Example:
    >>> res = codesign(config=default_config())  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import logging
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from lepton_codesign import hw_models, search
from lepton_codesign.codesign import families as fam
from lepton_codesign.codesign.config import OBJECTIVES, default_config, validate_config
from lepton_codesign.codesign.devices import spec_of_record
from lepton_codesign.codesign.executor import make_executor
from lepton_codesign.codesign.records import HardwareDesign, ScoredDesign
from lepton_codesign.codesign.report import write_report
from lepton_codesign.codesign.report_io import unique_labels
from lepton_codesign.codesign.rundir import RunDir, RunDirError, code_fingerprint
from lepton_codesign.codesign.trials import compression_from_dict, run_trial
from lepton_codesign.codesign.userdata import check_user_data, dataset_provenance
from lepton_codesign.search.checkpoint import CheckpointError
from lepton_codesign.search.pareto import knee_index
from lepton_codesign.tables import layer_rows

log = logging.getLogger(__name__)


@dataclasses.dataclass
class CodesignResult:
    """Outcome of a co-design run.

    Attributes:
        points: every evaluated design (family, hardware settings, operating point,
            objectives, feasible, on_front, reference).
        objective_names: names of the objective columns.
        trials: per operating point: name, accuracy, compression settings.
        chosen: id of the knee design of the front.
        run_dir: where results and the report were written (or ``None``).
        data: provenance of the training data (``{"source": ...}``).
    """

    points: list[dict]
    objective_names: list[str]
    trials: list[dict]
    chosen: str | None
    run_dir: Path | None
    data: dict | None = None

    @property
    def objectives(self) -> np.ndarray:
        return np.array([p["objectives"] for p in self.points], float)

    @property
    def front_mask(self) -> np.ndarray:
        return np.array([p["on_front"] for p in self.points])

    def front(self) -> list[dict]:
        return [p for p in self.points if p["on_front"]]


def _run_trials(cfg, model, executor, rd: RunDir | None, progress: bool,
                arrays=None, source: str | None = None) -> list[dict]:
    done = rd.trials() if rd else {}
    todo = [p for p in cfg["points"] if p["name"] not in done]
    if done:
        log.info("resuming: %d of %d trials already in %s", len(done), len(cfg["points"]),
                 rd.path)
    tasks = [{"point": p, "model": model, "data": cfg["data"], "train": cfg["train"],
              "seed": cfg["run"]["seed"], "progress": progress, "arrays": arrays,
              "source": source}
             for p in todo]

    def on_result(i, rec):
        done[rec["name"]] = rec
        if rd:
            rd.append_trial(rec)
        log.info("trial %s: accuracy %.4f", rec["name"], rec["accuracy"])

    if tasks:
        executor.map(run_trial, tasks, on_result)
    return [done[p["name"]] for p in cfg["points"]]


def _asic_points(cfg, workload, comps, acc, names, run_dir, key, progress,
                 scorer=None) -> tuple[list[ScoredDesign], list]:
    space = fam.asic_space(cfg, names)
    objective = fam.make_asic_objective(cfg, workload, fam.stack_compressions(comps), acc,
                                        scorer)
    budget = cfg["asic"]["pop_size"] * cfg["asic"]["generations"]
    ckpt = str(run_dir / "asic_search.npz") if run_dir else None
    initial = fam.seed_cube(cfg, space, names)  # [asic] seeds inside the bounds
    res = search.run(search.nsga2(cfg["asic"]["pop_size"], initial=initial), objective, space,
                     key=key, budget=budget, checkpoint=ckpt, progress=progress,
                     objective_names=cfg["objectives"]["names"])
    designs = {k: np.asarray(v) for k, v in res.designs.items()}
    viol = np.asarray(res.violation)
    points = []
    for i in range(len(res.objectives)):
        d = {k: v[i] for k, v in designs.items()}
        points.append(ScoredDesign(fam.asic_design(cfg, d), names[int(d["point"])],
                                   tuple(float(x) for x in np.asarray(res.objectives[i])),
                                   float(max(viol[i], 0.0)),
                                   bool(np.asarray(res.feasible)[i])))
    # hypervolume in raw units is a product of tiny numbers (s x J x $): report it as a
    # fraction of the final value, which is what the convergence plot needs.
    final = float(res.hv_history[-1]) if len(res.hv_history) else 0.0
    hv = [[float(e), float(h) / final if final > 0 else 0.0]
          for e, h in zip(res.evals_history, res.hv_history, strict=False)]
    points += fam.evaluate_seeds(cfg, workload, comps, acc, names)  # exact, any bounds
    return points, hv


def compression_summary(trial: dict, workload) -> dict:
    """What a front point's model is: name, label, density, structure and bits per layer.

    ``density`` is the MAC-weighted weight density (the share of the dense MACs left).
    """
    comp = trial["compression"]
    macs = np.asarray(workload.macs, np.float64)
    dens = np.asarray(comp["weight_density"], np.float64)
    structs = sorted({("dense", "unstructured", "nm", "channel")[int(c) + 1]
                      if d < 1.0 else "dense"
                      for c, d in zip(comp["structure"], dens, strict=True)} - {"dense"})
    bits = [int(b) for b in comp["weight_bits"]]
    return {"point": trial["name"], "label": trial.get("label", trial["name"]),
            "density": round(float(np.sum(macs * dens) / max(np.sum(macs), 1.0)), 4),
            "structure": "+".join(structs) or "dense",
            "weight_bits": "/".join(map(str, bits)),
            "act_bits": "/".join(str(int(b)) for b in comp["act_bits"])}


def _spec_of(point: dict):
    """The spec a result point was scored with, rebuilt from its ``hardware`` record.

    Presets and spec files (devices, ASIC seeds) are resolved from the recorded source
    (``devices.spec_of_record``); searched ASIC designs from their ``AsicSpec`` fields
    (``records.HardwareDesign``, which also reads an older version's keys).
    """
    spec = spec_of_record(point["hardware"])
    if spec is not None:
        return spec
    if point["family"] == "asic":
        return fam.asic_spec_from_design(
            dict(HardwareDesign.from_json("asic", point["hardware"]).spec))
    raise ValueError(f"point {point.get('id', '?')}: hardware {point['hardware']} names no spec")


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in ("lepton-codesign", "jax", "flax", "optax", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "n/a"
    return out


def codesign(model_factory: str | None = None, data=None, config: dict | None = None, *,
             out_dir: str | Path | None = None, executor: str = "local",
             address: str | None = None, progress: bool = True,
             fresh: bool = False) -> CodesignResult:
    """Run a co-design search (see the module docstring).

    Args:
        model_factory: a built-in model name or ``"module:factory"`` (overrides
            ``config["model"]["name"]``; names travel to Ray workers).
        data: user arrays ``((x_train, y_train), (x_test, y_test))`` (integer labels
            in the model's classes, inputs matching the model; checked before any
            training); ``None`` uses ``config["data"]`` (mnist1d | digits, generated
            or bundled offline).
        config: a validated config (``load_config`` / ``default_config``) or a raw
            dict (validated here); ``None`` = the embedded quickstart.
        out_dir: run directory for resumable state, results and the report. An
            existing one resumes only a run of the same config, code and data
            (otherwise ``RunDirError`` says what differs); one run at a time.
        executor: ``"local"`` or ``"ray"`` (training trials).
        address: Ray cluster address (``None`` starts a local one).
        progress: show progress bars.
        fresh: discard the saved state of a previous run in ``out_dir`` (only a run
            directory lepton-codesign wrote) instead of resuming it.

    Returns:
        ``CodesignResult``.

    Raises:
        ValueError: bad config or data (``ConfigError``), an incompatible or busy run
            directory, or a damaged one (``RunDirError``), naming the file.
    """
    t0 = time.time()
    cfg = default_config() if config is None else validate_config(config)
    if model_factory is not None:  # checked like a config value, before anything runs
        cfg["model"]["name"] = model_factory
        cfg = validate_config(cfg)
    if executor not in ("local", "ray"):
        raise ValueError(f"executor {executor!r} not in ['local', 'ray']")
    prov = (dataset_provenance(cfg["data"]) if data is None
            else check_user_data(data, cfg["model"]["name"], cfg["data"]))
    log.info("data: %s", prov["source"])
    if not out_dir:
        return _codesign(cfg, data, prov, None, executor, address, progress, t0)
    with RunDir(out_dir, cfg, prov, fresh=fresh) as rd:
        return _codesign(cfg, data, prov, rd, executor, address, progress, t0)


def _codesign(cfg, data, prov, rd: RunDir | None, executor, address, progress,
              t0: float) -> CodesignResult:
    run_dir = rd.path if rd else None
    joint_info, shared = None, {}
    if cfg.get("compression") is not None:  # the joint compression x hardware search
        from lepton_codesign.codesign.joint import run_joint

        trials, joint_info = run_joint(cfg, cfg["model"]["name"],
                                       make_executor(executor, address), rd, progress,
                                       arrays=data, source=prov["source"], shared=shared)
    else:
        trials = _run_trials(cfg, cfg["model"]["name"], make_executor(executor, address), rd,
                             progress, arrays=data, source=prov["source"])
    names = [t["name"] for t in trials]
    acc = np.array([t["accuracy"] for t in trials], np.float32)
    comps = [compression_from_dict(t["compression"]) for t in trials]

    from lepton_codesign.extract import extract_workload
    from lepton_codesign.models import build_model

    model, x = build_model(cfg["model"]["name"], batch=cfg["model"]["batch"],
                           features=trials[0]["features"], abstract=True)
    workload = extract_workload(model, x, batch=cfg["model"]["batch"])
    for t in trials:
        if tuple(t["layers"]) != workload.names:
            raise RuntimeError(f"trial {t['name']}: layers {t['layers']} do not match the "
                               f"workload {workload.names}")
    key = jax.random.key(cfg["run"]["seed"])
    scored: list[ScoredDesign] = []
    hv_history = {}
    families = cfg["hardware"]["families"]
    if "asic" in families:
        try:
            asic, hv_history["asic"] = _asic_points(cfg, workload, comps, acc, names, run_dir,
                                                    key, progress, shared.get("asic_scorer"))
        except CheckpointError as err:
            raise RunDirError(f"{err}; the finished trials in trials.jsonl are kept") from None
        scored += asic
    for family in ("fpga", "gpu"):
        if family in families:
            scored += fam.enumerate_presets(cfg, family, workload, comps, acc, names,
                                            shared.get("preset_scorers"))
    points = [s.to_json() for s in scored]  # result points: ids, labels, flags added below
    objs = np.array([p["objectives"] for p in points], float)
    viol = np.array([p["violation"] + (0.0 if p["feasible"] else 1.0) for p in points])
    ok = np.all(np.isfinite(objs), axis=1)
    front = np.asarray(search.nondominated(jnp.asarray(np.where(ok[:, None], objs, 1e30)),
                                           jnp.asarray(np.where(ok, viol, 1e30)))) & (viol <= 0)
    ref_names = {p["name"] for p in cfg["points"] if p["reference"]}
    summaries = {t["name"]: compression_summary(t, workload) for t in trials}
    for i, p in enumerate(points):
        p["id"] = f"{p['family']}{i}"
        h = p["hardware"]
        p["label"] = f"{p['point']} @ {fam.hardware_label(h)}"
        p["on_front"] = bool(front[i])
        p["feasible"] = bool(p["feasible"] and viol[i] <= 0)
        p["compression"] = summaries[p["point"]]
        p["reference"] = p["point"] in ref_names and p["family"] != "asic"
    labels = unique_labels(points)  # searched ASIC designs may differ only in SRAM/DRAM/clock
    for p in points:
        p["label"] = labels[p["id"]]
    chosen = []
    k = knee_index(objs, front)
    if k >= 0:
        c = points[k]
        comp = comps[names.index(c["point"])]
        costs = hw_models.evaluate(workload, _spec_of(c), comp)
        layers = layer_rows(workload, costs, ops=False)  # one row per layer, as below
        for key in ("energy_mac_j", "energy_sram_j", "energy_dram_j", "energy_leak_j"):
            for row, v in zip(layers, np.asarray(getattr(costs, key)).reshape(-1), strict=False):
                row[key] = float(v)
        chosen.append({"id": c["id"], "why": "knee of the front (closest to the ideal point "
                       "after per-objective normalisation)",
                       "layers": layers})
    result = CodesignResult(points, list(cfg["objectives"]["names"]), trials,
                            chosen[0]["id"] if chosen else None, run_dir, prov)
    if run_dir:
        results = {
            "run": {"name": cfg["run"]["name"], "seed": cfg["run"]["seed"],
                    "command": " ".join(["lepton-codesign"] + sys.argv[1:])
                    if sys.argv and "lepton-codesign" in sys.argv[0] else "python API",
                    "settings": cfg, "versions": _versions(), "data": prov["source"],
                    "code": code_fingerprint(),
                    "wall_time_s": time.time() - t0,
                    "workload": {"layers": list(workload.names),
                                 "macs": int(np.asarray(workload.total_macs))}},
            "objectives": [{"name": n, "label": OBJECTIVES[n]} for n in cfg["objectives"]["names"]],
            "trials": trials, "points": points, "hv_history": hv_history, "chosen": chosen,
        }
        if joint_info is not None:
            results["joint"] = joint_info
        (run_dir / "results.json").write_text(json.dumps(results, indent=1))
        write_report(run_dir)
    return result
