"""What the joint search's validation split costs the dense model it starts from.

The joint search (``codesign.joint``) trains the dense model on the *fit* split only:
``[compression] validation_fraction`` of the training data is held out to judge
promotions, and every candidate is fine-tuned from that dense model. The five-point grid
(``codesign_joint.GRID_POINTS``) trains on all of it. This measures, per task, seed and
validation fraction, the dense model's test accuracy (1,000 examples) after the
``[train]`` schedule (``finetune.train_dense``, as the search runs it), and for
comparison a dense model trained the same way on all the training data
(``finetune.fit_dense``: what the grid's dense-fp32 point and ``retrain`` train).

The seed sets the initialisation, the shuffling and which examples are held out.

Usage::

    python benchmarks/validation_split_cost.py --seeds 0,1,2,3

Writes ``benchmarks/results/validation_split_cost.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
HERE = Path(__file__).resolve().parent
# benchmarks/compression.py shadows the ``compression`` module jax imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.append(str(HERE))

from codesign_joint import TASKS, machine, task_config, write_lines  # noqa: E402

from lepton_codesign.codesign.config import validate_config  # noqa: E402
from lepton_codesign.codesign.finetune import fit_dense, split_data, train_dense  # noqa: E402
from lepton_codesign.codesign.retrain import all_data  # noqa: E402

ALL = "all (no split)"


def measure(task: str, seed: int, fractions: list[float]) -> dict[str, tuple[float, float]]:
    """``{fraction label: (test accuracy, seconds)}`` of the dense models of one seed."""
    cfg = validate_config(task_config(task, seed, quick=False))
    cc = cfg["compression"]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = {"model": cfg["model"]["name"], "data": cfg["data"], "train": cfg["train"],
                "seed": seed, "arrays": None, "learning_rate": cc["learning_rate"],
                "hw_spec": cc["hw_spec"], "hw_metric": cc["hw_metric"], "progress": False}
        for f in fractions:
            job = {**base, "val_fraction": f, "dense_path": str(Path(tmp) / f"d{f}.npz")}
            t = time.time()
            out[f"{f:g}"] = (train_dense(job)["accuracy"], time.time() - t)
        # all the training data: the fit and validation splits of any fraction together
        fit, val, test = split_data({**base, "val_fraction": fractions[0]})
        t = time.time()
        res = fit_dense(base, all_data(fit, val), test, Path(tmp) / "all.npz")
        out[ALL] = (float(res.metrics["test_accuracy"]), time.time() - t)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default=",".join(TASKS), help=f"subset of {list(TASKS)}")
    ap.add_argument("--seeds", default="0,1,2,3")
    ap.add_argument("--fractions", default="0.02,0.05,0.1,0.2",
                    help="validation fractions (the quickstart's is 0.1)")
    ap.add_argument("--out", default=str(HERE / "results" / "validation_split_cost.md"))
    args = ap.parse_args(argv)
    fractions = [float(f) for f in args.fractions.split(",")]
    if not fractions or any(not 0.0 < f < 1.0 for f in fractions):
        ap.error(f"--fractions must be in (0, 1), got {args.fractions}")
    tasks = [t for t in args.tasks.split(",") if t]
    if bad := [t for t in tasks if t not in TASKS]:
        ap.error(f"unknown task {bad}; allowed {list(TASKS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    cells = {}
    for task in tasks:
        for seed in seeds:
            cells[task, seed] = measure(task, seed, fractions)
            print(task, seed, {k: round(v[0], 3) for k, v in cells[task, seed].items()},
                  flush=True)
    cols = [f"{f:g}" for f in fractions] + [ALL]
    command = " ".join(["python benchmarks/validation_split_cost.py",
                        *(argv if argv is not None else sys.argv[1:])])
    lines = ["# What the validation split costs the dense model", "",
             f"- machine: {machine()}",
             f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}",
             f"- command: `{command}`",
             "- dense model's test accuracy (1,000 examples) after the `[train]` schedule, "
             "trained on the fit split left by each validation fraction, and on all the "
             "training data; seconds include XLA compiles; one run per cell", "",
             "| task | seed | " + " | ".join(f"validation {c}" if c != ALL else c
                                            for c in cols) + " |",
             "|---|---|" + "---|" * len(cols)]
    for (task, seed), row in cells.items():
        lines.append(f"| {task} | {seed} | " + " | ".join(
            f"{row[c][0]:.3f} ({row[c][1]:.1f} s)" for c in cols) + " |")
    for task in tasks:
        accs = {c: [cells[task, s][c][0] for s in seeds] for c in cols}
        lines.append(f"| {task} | mean +- sd | " + " | ".join(
            f"**{statistics.mean(a):.3f}** +- "
            f"{statistics.stdev(a) if len(a) > 1 else 0.0:.3f}" for a in accs.values())
            + " |")
    write_lines(args.out, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
