"""Search strategies vs optuna and pymoo: hypervolume per evaluation and per second.

Problems: ZDT1-3 (30 variables), DTLZ2 (3 objectives, 12 variables) and the hardware
problem ``search.problems.asic_resnet18`` (ResNet-18, ImageNet 224x224, batch 1, built
with ``hw_models.conv_layer`` / ``make_workload``; AsicSpec space of PE rows/cols, three
log-scale SRAM sizes, clock, dataflow and DRAM bandwidth; objectives total latency,
total energy, area; one ``jit(vmap(hw_models.evaluate))`` call per batch).

Methods, all at the same evaluation budget and in one process: our ``random_search``,
``nsga2`` and ``gradient``; optuna's ``NSGAIISampler`` (batched ask/tell, one
generation per batch) and pymoo's ``NSGA2`` (vectorised problem). Every method calls the
same jitted objective on the same kind of batch; optuna sees the native parameter types
(int/log/categorical), pymoo the unit cube that our strategies see. Each method runs
once untimed first (warm-up: imports and JIT compilation), then for each seed.

Hypervolume is recomputed after each batch from *all* designs a method has evaluated so
far, identically for every method (``search.hypervolume``, checked against moocore in
the tests): raw objectives with reference point 1.1 for the test problems; for the
ASIC problem, log10 objectives normalised by the ideal and nadir points of the union
front of every run, reference point 1.1.

Usage::

    nice python benchmarks/search.py                         # full run, ~5 min on 2 cores
    nice python benchmarks/search.py --quick                 # smoke run, 1 seed, small budget
    nice python benchmarks/search.py --out benchmarks/results/search.md
    nice python benchmarks/search.py --problems zdt1,asic_resnet18 --seeds 20 \
        --methods "nsga2,pymoo NSGA2" --out benchmarks/results/search.md --append
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
HERE = Path(__file__).resolve().parent
# This file is named like the package it benchmarks: keep its folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]


# benchmarks/compression.py shadows the ``compression`` package that jax imports
# (``from compression import zstd``): keep this folder off the import path.
sys.path[:] = [p for p in sys.path
               if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from lepton_codesign import search  # noqa: E402
from lepton_codesign.search.space import Choice, Integer, Real, stack_designs  # noqa: E402

POP = 100


@dataclasses.dataclass
class Trace:
    """What one run evaluated: batch boundaries, times, objectives, feasibility."""

    evals: list[int]
    times: list[float]
    objs: np.ndarray
    feasible: np.ndarray
    extra: dict = dataclasses.field(default_factory=dict)


def _split(out, n):
    if isinstance(out, tuple):
        objs, viol = out
        return np.asarray(objs, np.float64), np.asarray(viol, np.float64).reshape(n)
    return np.asarray(out, np.float64), np.zeros(n)


# ---------------------------------------------------------------- our strategies
def run_ours(make: Callable, prob, seed: int, budget: int) -> Trace:
    r = search.run(make(), prob.objective, prob.space, key=jax.random.key(seed),
                   budget=budget, ref_point=prob.ref_point, progress=False)
    extra = {"smooth_evals": r.meta.get("smooth_evals", 0)}
    return Trace(r.evals_history.tolist(), r.time_history.tolist(),
                 r.objectives.astype(np.float64), r.feasible, extra)


# ---------------------------------------------------------------- pymoo
def run_pymoo(prob, seed: int, budget: int) -> Trace:
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.problem import Problem
    from pymoo.optimize import minimize

    space, rec, t0 = prob.space, {"evals": [], "times": [], "objs": [], "cv": []}, [0.0]

    class Wrapped(Problem):
        def __init__(self):
            super().__init__(n_var=space.dim, n_obj=len(prob.ref_point), n_ieq_constr=1,
                             xl=0.0, xu=1.0)

        def _evaluate(self, x, out, *args, **kwargs):
            objs, cv = _split(prob.objective(space.decode(jnp.asarray(x, jnp.float32))),
                              len(x))
            out["F"], out["G"] = objs, cv[:, None]
            rec["objs"].append(objs)
            rec["cv"].append(cv)
            rec["evals"].append(sum(len(o) for o in rec["objs"]))
            rec["times"].append(time.perf_counter() - t0[0])

    t0[0] = time.perf_counter()
    minimize(Wrapped(), NSGA2(pop_size=POP), ("n_eval", budget), seed=seed, verbose=False)
    objs, cv = np.concatenate(rec["objs"]), np.concatenate(rec["cv"])
    return _truncate(Trace(rec["evals"], rec["times"], objs, cv <= 0), budget)


# ---------------------------------------------------------------- optuna
def _optuna_dists(space):
    import optuna.distributions as d

    dists = {}
    for name, p in space.params.items():
        for i in range(p.size):
            key = name if p.size == 1 else f"{name}[{i}]"
            if isinstance(p, Real):
                dists[key] = d.FloatDistribution(p.lo, p.hi, log=p.log)
            elif isinstance(p, Integer):
                dists[key] = d.IntDistribution(p.lo, p.hi, log=p.log)
            elif isinstance(p, Choice):
                dists[key] = d.CategoricalDistribution(list(p.options))
    return dists


def run_optuna(prob, seed: int, budget: int) -> Trace:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space, dists = prob.space, _optuna_dists(prob.space)

    new_api = hasattr(optuna.trial.Trial, "set_constraint")  # optuna >= 5
    sampler = optuna.samplers.NSGAIISampler(
        population_size=POP, seed=seed,
        constraints_func=None if new_api else (lambda t: [t.user_attrs["violation"]]))
    study = optuna.create_study(directions=["minimize"] * len(prob.ref_point), sampler=sampler)
    evals, times, all_objs, all_cv = [], [], [], []
    t0 = time.perf_counter()
    while sum(len(o) for o in all_objs) < budget:
        n = min(POP, budget - sum(len(o) for o in all_objs))
        trials = [study.ask(dists) for _ in range(n)]
        rows = []
        for t in trials:
            row = {}
            for name, p in space.params.items():
                vals = [t.params[name if p.size == 1 else f"{name}[{i}]"]
                        for i in range(p.size)]
                row[name] = vals[0] if p.size == 1 else vals
            rows.append(row)
        designs = {k: jnp.asarray(v) for k, v in space.validate(stack_designs(rows)).items()}
        objs, cv = _split(prob.objective(designs), n)
        for t, f, c in zip(trials, objs, cv, strict=True):
            if new_api:  # <= 0 is feasible
                t.set_constraint("violation", float(c))
            else:
                t.set_user_attr("violation", float(c))
            study.tell(t, f.tolist())
        all_objs.append(objs)
        all_cv.append(cv)
        evals.append(sum(len(o) for o in all_objs))
        times.append(time.perf_counter() - t0)
    return Trace(evals, times, np.concatenate(all_objs), np.concatenate(all_cv) <= 0)


def _truncate(tr: Trace, budget: int) -> Trace:
    keep = [i for i, e in enumerate(tr.evals) if e <= budget]
    return Trace([tr.evals[i] for i in keep], [tr.times[i] for i in keep],
                 tr.objs[:budget], tr.feasible[:budget], tr.extra)


# ---------------------------------------------------------------- hypervolume curves
_HV = jax.jit(search.hypervolume)
_ND = jax.jit(search.nondominated)


def _front(points: np.ndarray) -> np.ndarray:
    if len(points) == 0:
        return points
    size = max(64, 1 << (len(points) - 1).bit_length())
    pad = np.full((size, points.shape[1]), np.inf, np.float32)
    pad[: len(points)] = points
    return points[np.asarray(_ND(pad))[: len(points)]]


def _hv(points: np.ndarray, ref: np.ndarray) -> float:
    if len(points) == 0:
        return 0.0
    size = max(64, 1 << (len(points) - 1).bit_length())
    pad = np.tile(ref.astype(np.float32), (size, 1))
    pad[: len(points)] = points
    return float(_HV(pad, ref.astype(np.float32)))


def trace_front(tr: Trace) -> np.ndarray:
    """Feasible front of everything a run evaluated (merged batch by batch)."""
    front, start = np.zeros((0, tr.objs.shape[1]), np.float32), 0
    for end in tr.evals:
        rows = tr.objs[start:end][tr.feasible[start:end]].astype(np.float32)
        front, start = _front(np.concatenate([front, rows])), end
    return front


def hv_curve(tr: Trace, transform: Callable, ref: np.ndarray) -> np.ndarray:
    """HV of the feasible front of everything evaluated, after each batch."""
    out, front, start = [], np.zeros((0, len(ref)), np.float32), 0
    z = transform(tr.objs).astype(np.float32)
    for end in tr.evals:
        batch = z[start:end][tr.feasible[start:end]]
        front = _front(np.concatenate([front, batch]))
        out.append(_hv(front, ref))
        start = end
    return np.asarray(out)


def _at(tr: Trace, curve: np.ndarray, evals: int) -> float:
    idx = [i for i, e in enumerate(tr.evals) if e <= evals]
    return float(curve[idx[-1]]) if idx else 0.0


def _time_to(tr: Trace, curve: np.ndarray, target: float) -> float:
    if not np.isfinite(target):
        return float("nan")
    hit = np.flatnonzero(curve >= target)
    return float(tr.times[hit[0]]) if hit.size else float("nan")


# ---------------------------------------------------------------- driver
def methods():
    grad_lin = dict(steps=30, learning_rate=0.02)
    return {
        "random": ("ours", lambda p: (lambda: search.random_search(POP))),
        "nsga2": ("ours", lambda p: (lambda: search.nsga2(POP))),
        "gradient": ("ours", lambda p: (lambda: search.gradient(
            50, transform="log" if p.name == "asic_resnet18" else "linear", **grad_lin))),
        "pymoo NSGA2": ("pymoo", None),
        "optuna NSGAII": ("optuna", None),
    }


def run_method(kind, factory, prob, seed, budget) -> Trace:
    if kind == "ours":
        return run_ours(factory(prob), prob, seed, budget)
    return {"pymoo": run_pymoo, "optuna": run_optuna}[kind](prob, seed, budget)


def problems(quick: bool):
    zdt_n = 10 if quick else 30
    return [search.problems.zdt1(zdt_n), search.problems.zdt2(zdt_n),
            search.problems.zdt3(zdt_n), search.problems.dtlz2(3, 12),
            search.problems.asic_resnet18()]


def bench_problem(prob, seeds, budget, log, only=()) -> dict:
    traces: dict[str, list[Trace]] = {}
    for name, (kind, factory) in methods().items():
        if only and name not in only:
            continue
        if kind != "ours" and not _have(kind):
            log(f"  {name}: not installed, skipped (pip install -e .[bench])")
            continue
        # warm-up, untimed: ours over the full budget (compiles every front-size bucket of
        # the runner's hypervolume), the peers over 3 generations (imports, first calls)
        run_method(kind, factory, prob, 10_000, budget if kind == "ours" else 3 * POP)
        traces[name] = []
        for seed in seeds:
            tr = run_method(kind, factory, prob, seed, budget)
            traces[name].append(tr)
            log(f"  {name:14s} seed {seed}: {tr.evals[-1]} evals in {tr.times[-1]:.2f} s")

    if prob.name == "asic_resnet18":  # log10, normalised by the union front of all runs
        union = np.zeros((0, len(prob.ref_point)), np.float32)
        for tr in (t for ts in traces.values() for t in ts):
            union = _front(np.concatenate([union, trace_front(tr)]))
        union = np.log10(union.astype(np.float64))
        lo, hi = union.min(0), union.max(0)
        scale = np.where(hi > lo, hi - lo, 1.0)

        def transform(f):
            return (np.log10(f) - lo) / scale

        ref = np.full(3, 1.1)
        best_hv = _hv(((union - lo) / scale).astype(np.float32), ref)
        best_label = "union front of all runs"
    else:
        def transform(f):
            return f

        ref = np.asarray(prob.ref_point, np.float64)
        best_hv = _hv(prob.pareto_front(4000 if len(ref) == 2 else 2000).astype(np.float32),
                      ref)
        best_label = "true front, sampled"

    curves = {m: [hv_curve(t, transform, ref) for t in ts] for m, ts in traces.items()}
    out = {"problem": prob.name, "budget": budget, "seeds": list(seeds),
           "best_hv": best_hv, "best_label": best_label, "methods": {}}
    opt_final = (np.median([c[-1] for c in curves["optuna NSGAII"]])
                 if "optuna NSGAII" in curves else float("nan"))
    if not opt_final > 0:  # optuna found nothing inside the reference box: no target
        opt_final = float("nan")
    for m, ts in traces.items():
        cs = curves[m]
        out["methods"][m] = {
            "hv_at": {str(f): [_at(t, c, int(f * budget)) for t, c in zip(ts, cs, strict=True)]
                      for f in (0.1, 0.25, 0.5, 1.0)},
            "auc": [float(np.mean([_at(t, c, e) for e in range(POP, budget + 1, POP)]))
                    for t, c in zip(ts, cs, strict=True)],
            "wall_s": [t.times[-1] for t in ts],
            "t95_best": [_time_to(t, c, 0.95 * best_hv) for t, c in zip(ts, cs, strict=True)],
            "t95_optuna": [_time_to(t, c, 0.95 * opt_final) for t, c in zip(ts, cs, strict=True)],
            "smooth_evals": [t.extra.get("smooth_evals", 0) for t in ts],
            "curves": [{"evals": t.evals, "times": t.times, "hv": c.tolist()}
                       for t, c in zip(ts, cs, strict=True)],
        }
    out["optuna_final_median"] = float(opt_final)
    return out


def _have(kind: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(kind) is not None


# ---------------------------------------------------------------- report
def _ms(xs, fmt="{:.4f}"):
    xs = np.asarray(xs, float)
    return (fmt + " ± " + fmt).format(xs.mean(), xs.std())


def _t(xs):
    xs = np.asarray(xs, float)
    ok = np.isfinite(xs)
    if not ok.any():
        return f"not reached (0/{len(xs)})"
    return f"{np.median(xs[ok]):.2f} ({ok.sum()}/{len(xs)})"


def markdown(results: list[dict], header: dict) -> str:
    lines = [
        "# Search: our strategies vs optuna and pymoo (hypervolume per evaluation and per "
        "second)", "",
        "| machine | date | command |", "|---|---|---|",
        f"| {header['machine']} | {header['date']} | `{header['command']}` |", "",
        f"Versions: {header['versions']}. Population / batch 100 for every NSGA-II "
        "(ours, pymoo, optuna) and random search, 50 starts for the gradient strategy; "
        f"budget = exact evaluations; {header['seeds']} seeds; each method warmed up once "
        "(untimed) before its seeds, so times exclude JIT compilation "
        f"(cold first run of our NSGA-II incl. compilation: {header['cold']}). "
        "HV: mean ± std over seeds of the hypervolume of the feasible front of everything "
        "evaluated so far. \"mean HV\" averages the HV after every 100 evaluations (area "
        "under the HV-vs-evaluations curve / budget). Times: median over the seeds that "
        "reached the target (seeds reaching it in brackets), wall seconds from the start "
        "of the run. \"95% optuna\" = 95% of optuna's median final HV; \"speed-up\" = "
        "optuna's median time to that target / the method's (n/a where optuna's final HV "
        "is 0).", ""]
    for r in results:
        b = r["budget"]
        lines += [f"## {r['problem']} (budget {b}; best-known HV {r['best_hv']:.4f}, "
                  f"{r['best_label']})", "",
                  "| method | HV @10% | HV @25% | HV @50% | HV @100% | mean HV | wall s "
                  "| s to 95% best-known | s to 95% optuna | speed-up vs optuna |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        opt = r["methods"].get("optuna NSGAII")
        opt_ts = np.asarray(opt["t95_optuna"], float) if opt else np.zeros(0)
        opt_t = np.median(opt_ts[np.isfinite(opt_ts)]) if np.isfinite(opt_ts).any() else np.nan
        for m, d in r["methods"].items():
            ts = np.asarray(d["t95_optuna"], float)
            sp = opt_t / np.median(ts[np.isfinite(ts)]) if np.isfinite(ts).any() else np.nan
            hv = [_ms(d["hv_at"][f]) for f in ("0.1", "0.25", "0.5", "1.0")]
            lines.append(f"| {m} | {' | '.join(hv)} | {_ms(d['auc'])} | "
                         f"{np.median(d['wall_s']):.2f} | {_t(d['t95_best'])} | "
                         f"{_t(d['t95_optuna'])} | "
                         f"{'—' if not np.isfinite(sp) else f'{sp:.0f}x'} |")
        grad = r["methods"].get("gradient")
        if grad:
            lines.append("")
            lines.append(f"Gradient strategy: {int(np.mean(grad['smooth_evals']))} smooth "
                         "(relaxed, differentiated) evaluations per run besides the "
                         f"{b} exact ones.")
        lines.append("")
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(results), figsize=(4 * len(results), 7), squeeze=False)
    for col, r in enumerate(results):
        for m, d in r["methods"].items():
            hv = np.mean([c["hv"] for c in d["curves"]], axis=0)
            ev = d["curves"][0]["evals"]
            t = np.median([c["times"] for c in d["curves"]], axis=0)
            axes[0, col].plot(ev, hv, label=m)
            axes[1, col].plot(t, hv, label=m)
        for row in (0, 1):
            ax = axes[row, col]
            ax.axhline(0.95 * r["best_hv"], color="grey", lw=0.8, ls=":")
            ax.set_ylabel("hypervolume")
            ax.grid(alpha=0.3)
        axes[0, col].set_title(r["problem"])
        axes[0, col].set_xlabel("exact evaluations")
        axes[1, col].set_xlabel("wall time (s, log scale)")
        axes[1, col].set_xscale("log")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Hypervolume vs evaluations (top) and vs wall time (bottom); "
                 "mean of seeds; dotted: 95% of best-known HV")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _versions() -> str:
    import importlib.metadata as md

    out = []
    for pkg in ("jax", "optax", "optuna", "pymoo", "moocore"):
        try:
            out.append(f"{pkg} {md.version(pkg)}")
        except md.PackageNotFoundError:
            out.append(f"{pkg} missing")
    return ", ".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 seed, budget 600, smaller ZDT")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=int, default=3000, help="exact evaluations per run")
    ap.add_argument("--problems", default="", help="comma-separated subset of problem names")
    ap.add_argument("--methods", default="",
                    help="comma-separated subset of: " + ", ".join(methods()))
    ap.add_argument("--out", type=Path, default=None, help="markdown fragment to write")
    ap.add_argument("--append", action="store_true",
                    help="append to --out (raw data goes to <out>_<n>.json, no plot)")
    args = ap.parse_args(argv)
    seeds = range(1 if args.quick else args.seeds)
    budget = 600 if args.quick else args.budget
    probs = [p for p in problems(args.quick)
             if not args.problems or p.name in args.problems.split(",")]

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    cold_prob = probs[0]
    tc = time.perf_counter()
    run_ours(lambda: search.nsga2(POP), cold_prob, 12345, budget)
    cold = f"{time.perf_counter() - tc:.1f} s on {cold_prob.name}"
    results = []
    for prob in probs:
        log(f"{prob.name}:")
        only = tuple(m.strip() for m in args.methods.split(",") if m.strip())
        results.append(bench_problem(prob, seeds, budget, log, only))
    header = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared, load avg "
                   f"{os.getloadavg()[0]:.1f} at the end), Python {platform.python_version()}",
        "date": datetime.date.today().isoformat(),
        "command": "nice python benchmarks/search.py" + (" " + " ".join(argv or sys.argv[1:])
                                                          if (argv or sys.argv[1:]) else ""),
        "versions": _versions(), "seeds": len(seeds), "cold": cold,
    }
    text = markdown(results, header)
    text += f"\nTotal benchmark wall time: {time.perf_counter() - t0:.0f} s.\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        stem = str(args.out.with_suffix(""))
        if args.append and args.out.exists():
            n = 2
            while Path(f"{stem}_{n}.json").exists():
                n += 1
            text = text.replace("# Search:", "# Supplementary run:", 1)
            args.out.write_text(args.out.read_text() + "\n" + text)
            stem = f"{stem}_{n}"
        else:
            args.out.write_text(text)
        with open(f"{stem}.json", "w") as fh:
            json.dump({"header": header, "results": results}, fh)
        if args.append:
            log(f"appended to {args.out}, wrote {stem}.json")
        else:
            plot(results, Path(f"{stem}_hv.png"))
            log(f"wrote {args.out}, {stem}.json, {stem}_hv.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
