"""Five-point grid vs joint search vs differentiable co-design, at equal wall time.

Issue 18's must-show: on the quickstart task (MLP 40-256-256-10 on MNIST-1D) and on a
second model (``cnn1d`` on MNIST-1D), for each seed, side by side in one run, each
method's run in a fresh process of its own (``run_isolated``; ``--same-process`` to
turn that off):

* **grid** (baseline): ``codesign`` with the five ``[[points]]`` the quickstart had
  before issue 18 (``GRID_POINTS``; no ``[compression]`` table; each point trained
  once; NSGA-II over ASIC knobs x point; FPGA / GPU presets).
* **joint**: ``codesign`` with the quickstart's ``[compression]`` table
  (``codesign.joint``), its ``time_budget_s`` (which bounds the search: dense model,
  fine-tunes, nested pricing) set to the grid's measured wall time less the joint run's
  overhead (wall - budget: the final hardware search and report) measured on the
  task's earlier seeds (first seed: the grid's own overhead, its wall less its
  training time). A joint run whose wall is outside 0.9-1.1x the grid's is rerun once
  with the overhead it measured (listed under the tables; only the rerun counts);
  ``max_candidates`` unbounded. Its only ``[[points]]`` seed is the quickstart's
  dense-fp32, i.e. the dense model the search trains anyway (evaluated, not
  re-trained); none of the grid's other four points is given to it. The first NSGA-II
  generation starts from the space's corners (``CompressionSpace.corners``), which is
  the search's own doing, not a seed. Shown as *pending* when the installed code has
  no joint search.
* **differentiable**: ``codesign.differentiable.differentiable_codesign`` with
  ``lambdas="auto"`` and ``time_budget_s`` = the grid's measured wall time (it stops
  starting runs that would end after it; re-scoring is inside the budget), four metric
  weightings (equal, latency, energy, $ per 1M inferences).

The grid runs first in each seed; its measured wall time (of ``codesign`` itself, the
fresh process's imports excluded) sets the others' budgets.
Every wall time is measured and printed with its ratio to the grid's (target 0.9-1.1).

**Metric**: exact hypervolume (``search.hypervolume``: moocore for 4 objectives) of the
feasible points (constraints of the config) on (error, latency_s, energy_j,
usd_per_1m_inferences). Normalisation, per task: error linear, the three costs log10;
each objective mapped to [0, 1] by the min and max over the feasible points of *all*
methods and seeds of that task; reference point 1.1 in every objective (so the largest
possible value is 1.1^4 = 1.4641). Adding a method's points can move the bounds: HV
values are comparable within one results file only.

Usage::

    nice python benchmarks/codesign_joint.py                 # full: 2 tasks x 3 seeds
    nice python benchmarks/codesign_joint.py --quick         # smoke: tiny data, 1 seed
    nice python benchmarks/codesign_joint.py --methods grid,differentiable --seeds 0,1,2
    nice python benchmarks/codesign_joint.py --tasks cnn1d-mnist1d --methods grid,joint \
        --validation-fraction 0.05           # the joint with a smaller validation split
    nice python benchmarks/codesign_joint.py --methods grid,joint --base-bits 32
                                             # the joint from a float dense model (the
                                             # quickstart's is 8-bit, since session 18)

Writes ``benchmarks/results/codesign_joint.{md,json}`` (``--quick``:
``codesign_joint_quick.*``).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
HERE = Path(__file__).resolve().parent
# benchmarks/compression.py shadows the ``compression`` module jax imports: keep this
# folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from lepton_codesign import search  # noqa: E402
from lepton_codesign.codesign.config import default_config, validate_config  # noqa: E402


def _load_sibling(name: str):
    """A module of this folder, loaded by path (the folder stays off ``sys.path``)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


paired = _load_sibling("paired")

OBJECTIVES = ["error", "latency_s", "energy_j", "usd_per_1m_inferences"]
LOG_OBJECTIVES = {"latency_s", "energy_j", "usd_per_1m_inferences"}
REF = 1.1
JOINT_TRAIN_FRACTION = 0.6  # first seed's budget share where the grid reports no training time [A]
METRIC_WEIGHTS = [None, {"latency_s": 1.0}, {"energy_j": 1.0},
                  {"usd_per_1m_inferences": 1.0}]
TASKS = {"quickstart": {}, "cnn1d-mnist1d": {"model": {"name": "cnn1d", "batch": 1}}}
# The five operating points of the quickstart before issue 18 (the baseline grid).
GRID_POINTS = [
    {"name": "dense-fp32", "weight_bits": 32, "act_bits": 32, "reference": True},
    {"name": "dense-int8", "weight_bits": 8, "act_bits": 8},
    {"name": "s80-int8", "sparsity": 0.8, "weight_bits": 8, "act_bits": 8},
    {"name": "s90-int4", "sparsity": 0.9, "weight_bits": 4, "act_bits": 8},
    {"name": "nm24-int4", "sparsity": 0.5, "structure": "nm", "nm": [2, 4], "weight_bits": 4,
     "act_bits": 8},
]


def task_config(task: str, seed: int, quick: bool) -> dict:
    """The task's config as a raw dict: the embedded quickstart (with its
    ``[compression]`` table where the installed code has one), model / seed / budgets
    set; ``grid_config`` / ``joint_config`` derive the two ``codesign`` modes."""
    cfg = copy.deepcopy(default_config())
    for section, values in TASKS[task].items():
        cfg[section].update(values)
    cfg["run"]["seed"] = seed
    cfg["run"]["name"] = f"bench-{task}"
    if quick:
        cfg["data"].update(max_train=600, max_test=300)
        cfg["train"]["epochs"] = 3
        cfg["asic"].update(pop_size=8, generations=2)
        cfg["fpga"]["devices"] = cfg["fpga"]["devices"][:1]
        cfg["gpu"]["devices"] = cfg["gpu"]["devices"][:1]
        cfg["constraints"]["min_accuracy"] = 0.0  # 3 epochs on 600 examples
        if cfg.get("compression"):
            cfg["compression"].update(pop_size=4, min_epochs=1, max_epochs=3)
    return cfg


def grid_config(cfg: dict) -> dict:
    raw = {k: copy.deepcopy(v) for k, v in cfg.items() if k != "compression"}
    raw["points"] = copy.deepcopy(GRID_POINTS)
    return validate_config(raw)


def joint_config(cfg: dict, budget_s: float) -> dict:
    raw = copy.deepcopy(cfg)
    raw["compression"].update(time_budget_s=float(budget_s), max_candidates=100000)
    return validate_config(raw)


def joint_available() -> bool:
    try:
        import lepton_codesign.codesign.joint  # noqa: F401
    except ImportError:
        return False
    return default_config().get("compression") is not None


def run_grid(cfg: dict):
    from lepton_codesign.codesign.pipeline import codesign

    return codesign(config=grid_config(cfg), progress=False)


def run_joint(cfg: dict, budget_s: float):
    from lepton_codesign.codesign.pipeline import codesign

    return codesign(config=joint_config(cfg, budget_s), progress=False)


def run_differentiable(cfg: dict, budget_s: float):
    from lepton_codesign.codesign.differentiable import differentiable_codesign

    cfg = {k: v for k, v in cfg.items() if k != "compression"}  # ignored by this mode
    return differentiable_codesign(cfg, lambdas="auto", time_budget_s=budget_s,
                                   metric_weights=[w or {m: 1.0 for m in OBJECTIVES[1:]}
                                                   for w in METRIC_WEIGHTS])


def run_method(method: str, cfg: dict, budget_s: float) -> dict:
    """One run of ``method`` and what the tables need of it; ``wall_s`` is the time of
    the run itself (the process's imports excluded)."""
    fn = {"grid": lambda: run_grid(cfg), "joint": lambda: run_joint(cfg, budget_s),
          "differentiable": lambda: run_differentiable(cfg, budget_s)}[method]
    t = time.time()
    res = fn()
    wall = time.time() - t
    return {"wall_s": wall, "objs": feasible_objectives(res), **front_summary(res),
            "training_s": float(sum(t.get("train_time_s", 0.0) for t in res.trials))}


def run_isolated(method: str, cfg: dict, budget_s: float, isolate: bool) -> dict:
    """``run_method`` in a fresh process (``isolate``): every run pays its own XLA
    compiles, as a user's ``lepton-codesign search`` does. In one process the later runs
    reuse the earlier runs' compiled functions, unevenly across methods (the grid's
    few trainings compile the same steps every seed; the joint search also prices many
    candidates), which made the walls of different seeds incomparable."""
    if not isolate:
        return run_method(method, cfg, budget_s)
    import concurrent.futures
    import multiprocessing

    with concurrent.futures.ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(run_method, method, cfg, budget_s).result()


def joint_budget(runs: list, task: str, method: str, grid: dict) -> float:
    """The search budget of a joint run beside ``grid`` (a grid run's result): its
    budget bounds the search (dense model, fine-tunes, nested pricing), not the final
    hardware search and report, so take off the overhead (wall - budget) measured on
    the task's earlier runs of ``method``; on the first, the grid's own overhead (its
    wall less its training time)."""
    wall = grid["wall_s"]
    over = [r["wall_s"] - r["budget_s"] for r in runs
            if r["task"] == task and r["method"] == method]
    grid_over = wall - grid["training_s"] if grid["training_s"] > 0 else (
        1 - JOINT_TRAIN_FRACTION) * wall
    return max(wall - (float(np.median(over)) if over else grid_over), 0.3 * wall)


def run_to_wall(name: str, cfg: dict, wall: float, budget_s: float, isolate: bool,
                header: dict, tag: str) -> tuple[dict, float]:
    """Run ``name`` (``run_isolated``) at ``budget_s``; a joint run (any name starting
    with ``joint``) whose wall is outside 0.9-1.1x the grid's ``wall`` is rerun once with
    the overhead (wall - budget) it measured (noted in ``header["reruns"]``; only the
    rerun counts). Returns the result and the budget it ran at."""
    method = "joint" if name.startswith("joint") else name
    res = run_isolated(method, cfg, budget_s, isolate)
    ratio = res["wall_s"] / wall
    if method == "joint" and not 0.9 <= ratio <= 1.1:
        print(f"{tag}: {ratio:.2f} x grid, rerun with its measured overhead", flush=True)
        header.setdefault("reruns", []).append(
            f"{tag}: {ratio:.2f} x grid at budget {budget_s:.1f} s; rerun")
        first_try = (res, budget_s)
        budget_s = max(wall - (res["wall_s"] - budget_s), 0.3 * wall)
        try:
            res = run_isolated(method, cfg, budget_s, isolate)
        except Exception as err:  # noqa: BLE001 - keep the first run
            header["reruns"][-1] += f" (rerun failed: {err!r}; kept)"
            res, budget_s = first_try
        ratio = res["wall_s"] / wall
        if not 0.9 <= ratio <= 1.1:
            header["reruns"][-1] += f" (still {ratio:.2f} x grid)"
    return res, budget_s


def compact(objs) -> dict:
    """What the metric needs of a run's feasible objectives: the non-dominated rows (the
    hypervolume) and the per-objective min / max over all rows (the bounds)."""
    objs = np.asarray(objs, float).reshape(-1, len(OBJECTIVES))
    if not len(objs):
        return {"n": 0, "front": [], "min": None, "max": None}
    mask = np.asarray(search.nondominated(jnp.asarray(objs, jnp.float32)))
    return {"n": int(len(objs)), "front": objs[mask].tolist(), "min": objs.min(0).tolist(),
            "max": objs.max(0).tolist()}


def feasible_objectives(result) -> dict:
    rows = [p["objectives"] for p in result.points
            if p["feasible"] and np.all(np.isfinite(p["objectives"]))]
    return compact(rows)


def front_summary(result) -> dict:
    names = list(result.objective_names)
    if names != OBJECTIVES:
        raise ValueError(f"objectives {names} != {OBJECTIVES}")
    front = [p for p in result.points if p["on_front"]]
    return {"points": len(result.points), "front": len(front),
            "front_accuracy_levels": len({round(1 - p["objectives"][0], 6) for p in front}),
            "candidates": len(result.trials)}


def transform(objs: np.ndarray) -> np.ndarray:
    out = objs.copy()
    for j, name in enumerate(OBJECTIVES):
        if name in LOG_OBJECTIVES:
            out[:, j] = np.log10(np.maximum(out[:, j], 1e-300))
    return out


def hypervolume(objs: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    if len(objs) == 0:
        return 0.0
    z = (transform(objs) - lo) / np.maximum(hi - lo, 1e-12)
    return float(search.hypervolume(jnp.asarray(z, jnp.float32),
                                    jnp.full(len(OBJECTIVES), REF, jnp.float32)))


def bounds(runs: list, task: str) -> tuple[np.ndarray, np.ndarray]:
    """A task's normalisation: the transformed per-objective min / max over the feasible
    points of ``runs`` (all its methods and seeds)."""
    have = [r["objs"] for r in runs if r["objs"]["n"]]
    if not have:
        raise SystemExit(f"task {task}: no method found a feasible point")
    return (transform(np.array([o["min"] for o in have])).min(0),
            transform(np.array([o["max"] for o in have])).max(0))


def front_scores(front, lo: np.ndarray, hi: np.ndarray) -> tuple[float, float, list[float]]:
    """``(HV, HV without the most accurate level, error levels)`` of a run's front: what
    the most accurate level holds up is the HV of the rest of the front."""
    front = np.asarray(front, float).reshape(-1, len(OBJECTIVES))
    rest = front[front[:, 0] > front[:, 0].min()] if len(front) else front
    return (hypervolume(front, lo, hi), hypervolume(rest, lo, hi),
            sorted({round(float(e), 3) for e in front[:, 0]}))


def score_runs(mine: list, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Add ``hv``, ``hv_without_best``, ``front_errors`` and ``wall_ratio`` (to the grid
    of the same seed) to a task's runs ``mine``, against their own normalisation
    (``bounds``), which is returned."""
    lo, hi = bounds(mine, task)
    grid_wall = {r["seed"]: r["wall_s"] for r in mine if r["method"] == "grid"}
    for r in mine:
        r["hv"], r["hv_without_best"], r["front_errors"] = front_scores(
            r["objs"]["front"], lo, hi)
        r["wall_ratio"] = r["wall_s"] / grid_wall[r["seed"]]
    return lo, hi


def write_lines(path, lines: list[str]) -> None:
    """Write a results file (``lines`` joined, one trailing newline) and print it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def machine() -> str:
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    return (f"{platform.machine()}, {os.cpu_count()} CPUs (shared; load avg at start "
            f"{load:.1f}), {platform.system()} {platform.release()}, "
            f"python {platform.python_version()}")


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=HERE, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "n/a"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny data and budgets, 1 seed")
    ap.add_argument("--seeds", default=None, help="comma-separated seeds (default 0,1,2)")
    ap.add_argument("--tasks", default=",".join(TASKS), help=f"subset of {list(TASKS)}")
    ap.add_argument("--methods", default="grid,joint,differentiable")
    ap.add_argument("--out", default=None, help="output stem (default benchmarks/results/"
                    "codesign_joint[_quick])")
    ap.add_argument("--retrain", type=int, default=None, help="the joint's [compression] "
                    "retrain (default: the quickstart's); results go to "
                    "codesign_joint_retrain<K>.* unless --out")
    ap.add_argument("--validation-fraction", type=float, default=None, help="the joint's "
                    "[compression] validation_fraction (default: the quickstart's); "
                    "results go to codesign_joint_vf<F>.* unless --out")
    ap.add_argument("--base-bits", type=int, default=None, help="the joint's "
                    "[compression] base_bits (default: the quickstart's); results go to "
                    "codesign_joint_bb<B>.* unless --out")
    ap.add_argument("--same-process", action="store_true", help="run every method in this "
                    "process (later runs reuse compiled functions; default: a fresh "
                    "process per run)")
    ap.add_argument("--render", action="store_true", help="only re-render the tables from "
                    "<stem>_raw.json (written after every run)")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in (args.seeds or ("0" if args.quick else "0,1,2")).split(",")]
    tasks = [t for t in args.tasks.split(",") if t]
    methods = [m for m in args.methods.split(",") if m]
    if bad := [t for t in tasks if t not in TASKS] + [
            m for m in methods if m not in ("grid", "joint", "differentiable")]:
        ap.error(f"unknown task / method {bad}; allowed tasks {list(TASKS)}, methods "
                 "grid, joint, differentiable")
    if "grid" not in methods:
        ap.error("--methods must include grid (its wall time sets the others' budgets)")
    stem = Path(args.out) if args.out else HERE / "results" / (
        ("codesign_joint_quick" if args.quick else "codesign_joint")
        + ("" if args.retrain is None else f"_retrain{args.retrain}")
        + ("" if args.validation_fraction is None else f"_vf{args.validation_fraction:g}")
        + ("" if args.base_bits is None else f"_bb{args.base_bits}"))
    raw_path = stem.parent / (stem.name + "_raw.json")
    if args.render:
        raw = json.loads(raw_path.read_text())
        for r in raw["runs"]:
            if isinstance(r["objs"], list):  # the first raw format: every feasible row
                r["objs"] = compact(r["objs"])
        save_raw(raw_path, raw["header"], raw["runs"], raw["tasks"], raw["methods"])
        write(stem, raw["header"], raw["runs"], raw["tasks"], raw["methods"],
              raw["header"]["joint"] == "run")
        return 0
    has_joint = "joint" in methods and joint_available()
    header = {"machine": machine(), "date": datetime.datetime.now(datetime.UTC)
              .strftime("%Y-%m-%d %H:%M UTC"), "command": "python " + " ".join(
                  ["benchmarks/codesign_joint.py", *(argv if argv is not None
                                                    else sys.argv[1:])]),
              "commit": git_commit(), "joint": "run" if has_joint else "pending"}
    runs = []
    for seed in seeds:  # seeds outer: a cut-short run still has every task
        for task in tasks:
            cfg = task_config(task, seed, args.quick)
            if args.retrain is not None and cfg.get("compression") is not None:
                cfg["compression"]["retrain"] = args.retrain
            if args.validation_fraction is not None and cfg.get("compression") is not None:
                cfg["compression"]["validation_fraction"] = args.validation_fraction
            if args.base_bits is not None and cfg.get("compression") is not None:
                cfg["compression"]["base_bits"] = args.base_bits
            grid = run_isolated("grid", cfg, 0.0, not args.same_process)
            wall = grid["wall_s"]
            runs.append({"task": task, "seed": seed, "method": "grid", **grid})
            save_raw(raw_path, header, runs, tasks, methods)
            print(f"{task} seed {seed} grid: {wall:.1f} s", flush=True)
            todo = []
            if has_joint:
                todo.append(("joint", joint_budget(runs, task, "joint", grid)))
            if "differentiable" in methods:
                todo.append(("differentiable", wall))
            for name, budget_s in todo:
                try:
                    res, budget_s = run_to_wall(name, cfg, wall, budget_s,
                                                not args.same_process, header,
                                                f"{task} seed {seed} {name}")
                except Exception as err:  # noqa: BLE001 - recorded, the others still run
                    print(f"{task} seed {seed} {name}: FAILED {err!r}", flush=True)
                    header.setdefault("failures", []).append(
                        f"{task} seed {seed} {name}: {err!r}")
                    continue
                runs.append({"task": task, "seed": seed, "method": name,
                             "budget_s": budget_s, **res})
                save_raw(raw_path, header, runs, tasks, methods)
                w = res["wall_s"]
                print(f"{task} seed {seed} {name}: {w:.1f} s ({w / wall:.2f} x grid)",
                      flush=True)
    write(stem, header, runs, tasks, methods, has_joint)
    return 0


def save_raw(path: Path, header: dict, runs: list, tasks, methods) -> None:
    """Every run's feasible objectives so far (``--render`` re-renders from it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    out = list(runs)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"header": header, "tasks": tasks, "methods": methods,
                               "runs": out}))
    tmp.replace(path)


def paired_lines(runs: list, tasks, methods, header: dict) -> list[str]:
    """Each method against the grid, paired by seed (``paired.paired_comparison``)."""
    out = []
    for task in tasks:
        grid = {r["seed"]: r["hv"] for r in runs
                if r["task"] == task and r["method"] == "grid" and "hv" in r}
        for method in methods:
            mine = {r["seed"]: r["hv"] for r in runs
                    if r["task"] == task and r["method"] == method and "hv" in r}
            if method == "grid" or len(set(mine) & set(grid)) < 2:
                continue
            s = paired.paired_comparison(mine, grid)
            header.setdefault("paired", {}).setdefault(task, {})[method] = s
            out.append(f"| {task} | {method} | " + paired.paired_row(s) + " |")
    if not out:
        return []
    return ["", "Paired by seed against the grid (d = HV - grid HV of the same seed; "
            "t-interval of the mean; exact one-sided Wilcoxon signed-rank p; verdict "
            f"at {paired.ALPHA}: `above` if p(d > 0) < {paired.ALPHA}, `below` if "
            f"p(d < 0) < {paired.ALPHA}; with n seeds the smallest p is 2^-n, so 3 "
            "seeds are never separable):", "",
            "| task | method | seeds | d mean +- sd | 95% CI of the mean | wins-losses | "
            "p(d > 0) / p(d < 0) | verdict |", "|---|---|---|---|---|---|---|---|"] + out


# Descriptive paired scores (not the verdict): ``score_runs``' fields, with the sign
# that makes d = sign * (method - grid) larger when the method is better.
DESCRIPTIVE_SCORES = {
    "HV without the most accurate level": (lambda r: r["hv_without_best"], 1),
    "lowest front error": (lambda r: r["front_errors"][0] if r["front_errors"] else None,
                           -1),
}


def descriptive_lines(runs: list, tasks, methods) -> list[str]:
    """``DESCRIPTIVE_SCORES`` of each method against the grid, paired by seed (what the
    HV hangs on: its most accurate point, and the front without it). No verdict."""
    out = []
    for label, (score, sign) in DESCRIPTIVE_SCORES.items():
        for task in tasks:
            by = {m: {r["seed"]: v for r in runs if r["task"] == task
                      and r["method"] == m and "hv" in r and (v := score(r)) is not None}
                  for m in methods}
            for method in methods:
                if method == "grid" or len(set(by[method]) & set(by.get("grid", {}))) < 2:
                    continue
                s = paired.paired_comparison(
                    {k: sign * v for k, v in by[method].items()},
                    {k: sign * v for k, v in by["grid"].items()})
                out.append(f"| {label} | {task} | {method} | {s['n']} | "
                           f"{np.mean(list(by[method].values())):.3f} | "
                           f"{np.mean(list(by['grid'].values())):.3f} | "
                           f"{s['mean']:+.3f} | {s['wins']}-{s['losses']} |")
    if not out:
        return []
    return ["", "Descriptive, paired by seed (not part of the verdict): what the HV hangs "
            "on. d > 0 and a win mean the method is better than the grid of the same seed "
            "(for the error: lower):", "",
            "| score | task | method | seeds | method mean | grid mean | d mean | "
            "wins-losses |", "|---|---|---|---|---|---|---|---|"] + out


def write(stem: Path, header: dict, runs: list, tasks, methods, has_joint) -> None:
    rows, out_runs = [], []
    for task in tasks:
        mine = [r for r in runs if r["task"] == task]
        lo, hi = score_runs(mine, task)
        for r in mine:
            out_runs.append({k: v for k, v in r.items() if k != "objs"}
                            | {"feasible_points": r["objs"]["n"]})
        for method in methods:
            rs = [r for r in mine if r["method"] == method]
            if not rs:
                rows.append((task, method, "pending", "", "", "", ""))
                continue
            hv = np.array([r["hv"] for r in rs])
            wall = np.array([r["wall_s"] for r in rs])
            ratio = np.array([r["wall_ratio"] for r in rs])
            sd = hv.std(ddof=1) if len(hv) > 1 else 0.0
            rows.append((task, method, f"{hv.mean():.4f} +- {sd:.4f}",
                         f"{wall.mean():.0f}", f"{ratio.min():.2f}-{ratio.max():.2f}",
                         f"{np.mean([r['candidates'] for r in rs]):.1f}",
                         f"{np.mean([r['front_accuracy_levels'] for r in rs]):.1f}"))
        header.setdefault("bounds", {})[task] = {
            "objectives": OBJECTIVES, "transform": ["linear", "log10", "log10", "log10"],
            "lo": lo.tolist(), "hi": hi.tolist(), "ref": [REF] * len(OBJECTIVES)}
    lines = [
        "# Co-design modes at equal wall time: five-point grid vs joint vs differentiable",
        "",
        f"- machine: {header['machine']}",
        f"- date: {header['date']}; code: {header['commit']}",
        f"- command: `{header['command']}`",
        f"- joint search: {header['joint']}",
        "- metric: exact hypervolume of the feasible points on (error, latency_s, "
        "energy_j, usd_per_1m_inferences); error linear, costs log10; per task each "
        "objective min-max normalised over all methods' and seeds' feasible points; "
        f"reference point {REF} in every objective (maximum {REF ** 4:.4f}).",
        "- wall: measured per run; the grid's sets the others' budgets (ratio = method "
        "wall / grid wall of the same seed; target 0.9-1.1). Timings on a shared 2-core "
        "machine under load from other users.",
        "- trained models reported: `len(result.trials)` (grid: the five points; joint: "
        "its full-budget candidates and its one seed, dense-fp32 = the dense model; "
        "differentiable: the dense model and one per (lambda, metric weights) run).",
        "- joint seeds: only the quickstart's dense-fp32 point (the dense model the "
        "search trains anyway); none of the grid's other points. Its first generation "
        "starts from the compression space's corners (the search's own, not a seed).",
        "",
        "| task | method | HV mean +- sd | wall s (mean) | wall / grid (min-max) | "
        "trained models reported (mean) | accuracy levels on front (mean) |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += paired_lines(runs, tasks, methods, header)
    lines += descriptive_lines(runs, tasks, methods)
    lines += ["", "Best value per objective over the seeds (feasible points):", "",
              "| task | method | min error | min latency s | min energy J | min $ / 1M |",
              "|---|---|---|---|---|---|"]
    for task in tasks:
        for method in methods:
            mins = [r["objs"]["min"] for r in runs if r["task"] == task
                    and r["method"] == method and r["objs"]["n"]]
            if mins:
                best = np.min(np.asarray(mins, float), axis=0)
                lines.append(f"| {task} | {method} | {best[0]:.3f} | " + " | ".join(
                    f"{v:.3g}" for v in best[1:]) + " |")
    lines += ["", "Per seed: the HV, the HV of the front without its most accurate level "
              "(what that level holds up), and the front's error levels:", "",
              "| task | seed | method | HV | HV without the most accurate level | "
              "front error levels |", "|---|---|---|---|---|---|"]
    for r in sorted(runs, key=lambda r: (tasks.index(r["task"]), r["seed"],
                                         methods.index(r["method"]))):
        if "hv" in r:
            lines.append(f"| {r['task']} | {r['seed']} | {r['method']} | {r['hv']:.3f} | "
                         f"{r['hv_without_best']:.3f} | "
                         + ", ".join(f"{e:.3f}" for e in r["front_errors"]) + " |")
    for f in header.get("failures", []):
        lines.append(f"- FAILED: {f}")
    for f in header.get("reruns", []):
        lines.append(f"- rerun (wall outside 0.9-1.1 x grid; only the rerun counts): {f}")
    if not has_joint and "joint" in methods:
        lines += ["", "The joint column is pending: the installed code has no joint "
                  "search (`[compression]` table); rerun after merging branch `joint`."]
    # (not ``with_suffix``: a stem such as codesign_joint_vf0.05 has a dot)
    write_lines(stem.parent / f"{stem.name}.md", lines)
    (stem.parent / f"{stem.name}.json").write_text(json.dumps(
        {"header": header, "runs": out_runs}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
