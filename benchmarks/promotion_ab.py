"""The joint search with and without the rung-front promotion, at the same budgets.

Since session 17 a candidate on its rung's (validation error, bit-operations) Pareto
front is promoted whatever ASHA in its cost stratum says (``joint.on_rung_front``).
This script reruns the joint search of a ``codesign_joint.py`` results file with that
rule switched off (ASHA per cost stratum alone, the search before session 17), for
each task and seed at the budget the file's joint run had (``budget_s`` of its raw
file), each run in a fresh process as ``codesign_joint.py`` runs them. It scores both
against the file's own normalisation (its bounds over all methods and seeds):

the front's exact hypervolume, the HV without its most accurate level, and its error
levels (``codesign_joint.front_scores``).

Usage::

    nice python benchmarks/promotion_ab.py \
        --raw benchmarks/results/codesign_joint_front_rule_raw.json

Writes ``benchmarks/results/promotion_ab.md``. Budgets are seconds of this machine:
rerun ``codesign_joint.py`` first on another machine (``--out``) and pass its raw file,
with ``--base-bits`` set to the ``[compression] base_bits`` its joint runs had (default
32: the default raw file predates the quickstart's 8-bit base).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import multiprocessing
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import codesign_joint as cj  # noqa: E402  (takes benchmarks/ off the path again)
import numpy as np  # noqa: E402

DEFAULT_RAW = HERE / "results" / "codesign_joint_front_rule_raw.json"


def run_without_rule(task: str, seed: int, budget_s: float, base_bits: int) -> dict:
    """One joint run with the rung-front rule off; its feasible objectives."""
    from lepton_codesign.codesign import joint
    from lepton_codesign.codesign.pipeline import codesign

    joint.on_rung_front = lambda *a: False  # this process only
    t = time.time()
    cfg = cj.task_config(task, seed, False)
    cfg["compression"]["base_bits"] = base_bits  # as the raw file's joint runs had it
    res = codesign(config=cj.joint_config(cfg, budget_s), progress=False)
    return {"wall_s": time.time() - t, "objs": cj.feasible_objectives(res),
            "candidates": len(res.trials)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--raw", default=str(DEFAULT_RAW))
    ap.add_argument("--out", default=str(HERE / "results" / "promotion_ab.md"))
    ap.add_argument("--base-bits", type=int, default=32, help="the [compression] base_bits "
                    "the raw file's joint runs had (32 for the default file, run before "
                    "the quickstart's became 8 in session 18)")
    args = ap.parse_args(argv)
    raw = json.loads(Path(args.raw).read_text())
    rows = []
    for task in raw["tasks"]:
        mine = [r for r in raw["runs"] if r["task"] == task]
        lo, hi = cj.bounds(mine, task)
        for on in [r for r in mine if r["method"] == "joint"]:
            with concurrent.futures.ProcessPoolExecutor(
                    1, mp_context=multiprocessing.get_context("spawn")) as pool:
                off = pool.submit(run_without_rule, task, on["seed"], on["budget_s"],
                                  args.base_bits).result()
            a, b = (cj.front_scores(r["objs"]["front"], lo, hi) for r in (on, off))
            rows.append((task, on["seed"], on["budget_s"], a, b, off["wall_s"], on["wall_s"]))
            print(rows[-1], flush=True)
    lines = ["# Joint search: rung-front promotion on vs off, at the same budgets", "",
             f"- machine: {cj.machine()}",
             f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}; "
             f"code: {cj.git_commit()}",
             "- command: `python benchmarks/promotion_ab.py" + (
                 "" if Path(args.raw).resolve() == DEFAULT_RAW else f" --raw {args.raw}")
             + ("" if args.base_bits == 32 else f" --base-bits {args.base_bits}") + "`",
             "- *on*: the joint runs of the raw file (the rule on); *off*: rerun here with "
             "`joint.on_rung_front` off (ASHA per cost stratum alone), at each run's budget; "
             "HV against the raw file's normalisation", "",
             "| task | seed | budget s | HV on | HV off | HV without best, on | "
             "without best, off | front error levels, on | off |",
             "|---|---|---|---|---|---|---|---|---|"]
    for task, seed, budget, a, b, _, _ in rows:
        lines.append(f"| {task} | {seed} | {budget:.1f} | {a[0]:.3f} | {b[0]:.3f} | "
                     f"{a[1]:.3f} | {b[1]:.3f} | {', '.join(f'{e:.3f}' for e in a[2])} | "
                     f"{', '.join(f'{e:.3f}' for e in b[2])} |")
    for task in raw["tasks"]:
        mine = [r for r in rows if r[0] == task]
        if mine:
            lines.append(f"\n{task}: mean HV on {np.mean([r[3][0] for r in mine]):.3f}, "
                         f"off {np.mean([r[4][0] for r in mine]):.3f}; without the most "
                         f"accurate level on {np.mean([r[3][1] for r in mine]):.3f}, off "
                         f"{np.mean([r[4][1] for r in mine]):.3f}")
    cj.write_lines(args.out, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
