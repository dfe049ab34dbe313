"""Which dense model should the joint search's retraining start from?

``[compression] retrain`` (``codesign.retrain``) retrains the chosen candidates on all
the training data (fit + validation) after the search. This measures, per task, seed
and grid point (``codesign_joint.GRID_POINTS``, their policies as the joint search
builds them), the test accuracy of a candidate trained with the search's schedule
(12 epochs, continued to 36) in four ways:

* **search**: what the search reports without retraining: fine-tuned on the fit split
  from the dense model trained on the fit split (``finetune.run_rung``);
* **fit dense, all data**: fine-tuned on all the training data from that same dense
  model (``retrain.retrain_candidate`` pointed at it);
* **dense from scratch, all data**: from a dense model trained from scratch on all the
  training data (``finetune.fit_dense``, the ``[train]`` settings);
* **dense continued 12, all data**: from the search's dense model continued for 12
  epochs on all the training data (a warm restart at the ``[train]`` rate).

``retrain`` starts from the dense model trained from scratch on all the training data
(``retrain.train_dense_all``), the third column.

Usage::

    python benchmarks/retrain_variants.py --tasks cnn1d-mnist1d --seeds 0,1,2

Writes ``benchmarks/results/retrain_variants.md``.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
HERE = Path(__file__).resolve().parent
# benchmarks/compression.py shadows the ``compression`` module jax imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.append(str(HERE))

from codesign_joint import GRID_POINTS, machine, task_config, write_lines  # noqa: E402

from lepton_codesign.codesign.candidate import from_point  # noqa: E402
from lepton_codesign.codesign.config import validate_config  # noqa: E402
from lepton_codesign.codesign.finetune import (  # noqa: E402
    _save_leaves,
    _train_config,
    fit_dense,
    load_dense,
    run_rung,
    split_data,
    train_dense,
)
from lepton_codesign.codesign.retrain import all_data, retrain_candidate  # noqa: E402
from lepton_codesign.train import train  # noqa: E402

VARIANTS = {"search": "search (fit split)", "fit_dense": "fit dense, all data",
            "scratch_dense": "dense from scratch, all data",
            "continued_dense": "dense continued 12, all data"}


def measure(task: str, seed: int) -> tuple[list[dict], dict]:
    """Rows (one per compressed grid point) and the dense models' test accuracies."""
    import jax  # here, not at the top: importing codesign_joint first takes this
    from flax import nnx  # folder (whose compression.py shadows jax's) off the path

    raw = task_config(task, seed, quick=False)
    raw["points"] = copy.deepcopy(GRID_POINTS)
    cfg = validate_config(raw)
    cc = cfg["compression"]
    rows, dense_acc = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        base = {"model": cfg["model"]["name"], "data": cfg["data"], "train": cfg["train"],
                "seed": seed, "arrays": None, "val_fraction": cc["validation_fraction"],
                "dense_path": str(Path(tmp) / "dense.npz"),
                "learning_rate": cc["learning_rate"], "hw_spec": "gemmini-like",
                "hw_metric": "energy", "progress": False}
        dense = train_dense(base)  # the search's dense model (fit split)
        base.update(layers=dense["layers"], features=dense["features"])
        dense_acc["fit split"] = dense["accuracy"]
        fit, val, test = split_data(base)
        res = fit_dense(base, all_data(fit, val), test, Path(tmp) / "scratch.npz")
        dense_acc["from scratch, all data"] = float(res.metrics["test_accuracy"])
        res = train(load_dense(base), all_data(fit, val), test,
                    _train_config(base, 12, cfg["train"]["learning_rate"]),
                    key=jax.random.key(seed + 3))
        _save_leaves(Path(tmp) / "continued.npz", jax.tree.leaves(nnx.state(res.model)))
        dense_acc["continued 12, all data"] = float(res.metrics["test_accuracy"])
        starts = {"fit_dense": base["dense_path"], "scratch_dense": str(Path(tmp) /
                  "scratch.npz"), "continued_dense": str(Path(tmp) / "continued.npz")}
        for i, p in enumerate(p for p in cfg["points"] if not p["reference"]):
            cand = from_point(p, dense["layers"])
            row = {"task": task, "seed": seed, "point": p["name"]}
            job = {**base, "index": i + 1, "candidate": cand.to_dict(), "checkpoint_dir": tmp}
            t = time.time()
            run_rung({**job, "rung": 0, "epochs": 12, "final": False})
            rec = run_rung({**job, "rung": 1, "epochs": 36, "final": True,
                            "rungs_below": [12]})
            row["search"], row["search_s"] = rec["accuracy"], time.time() - t
            for name, path in starts.items():
                t = time.time()
                rec = retrain_candidate({**base, "dense_all_path": path, "index": i + 1,
                                         "candidate": cand.to_dict(), "epochs": 36,
                                         "rungs_below": [12]})
                row[name], row[f"{name}_s"] = rec["accuracy"], time.time() - t
            rows.append(row)
            print(row, flush=True)
    return rows, dense_acc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default="cnn1d-mnist1d")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", default=str(HERE / "results" / "retrain_variants.md"))
    args = ap.parse_args(argv)
    rows, dense = [], {}
    for task in args.tasks.split(","):
        for seed in map(int, args.seeds.split(",")):
            r, d = measure(task, seed)
            rows += r
            dense[task, seed] = d
    command = " ".join(["python benchmarks/retrain_variants.py", *(argv or sys.argv[1:])])
    head = ["task", "seed", "point", *VARIANTS.values()]
    lines = ["# Retraining on all the training data: which dense model to start from", "",
             f"- machine: {machine()}",
             f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}",
             f"- command: `{command}`",
             "- test accuracy (1,000 examples) after 12 + 24 epochs with the grid point's "
             "policy; seconds per cell include XLA compiles; one run per cell", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join([r["task"], str(r["seed"]), r["point"]] + [
            f"{r[k]:.3f} ({r[f'{k}_s']:.1f} s)" for k in VARIANTS]) + " |")
    lines.append("")
    for task in dict.fromkeys(r["task"] for r in rows):
        mine = [r for r in rows if r["task"] == task]
        lines.append(f"Mean over {task}'s {len(mine)} cells: " + ", ".join(
            f"{VARIANTS[k]} {sum(r[k] for r in mine) / len(mine):.3f}" for k in VARIANTS)
            + ".")
    lines.append("")
    lines.append("Dense models' test accuracy: " + "; ".join(
        f"{t} seed {s}: " + ", ".join(f"{k} {v:.3f}" for k, v in d.items())
        for (t, s), d in dense.items()))
    write_lines(args.out, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
