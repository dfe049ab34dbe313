"""Fine-tuned from the dense model vs trained from scratch, at the grid's operating points.

The joint search (``codesign.joint``) fine-tunes every candidate from one dense model for
a few epochs (its rungs); the five-point grid (``benchmarks/codesign_joint.py``) trains
each point from scratch for 60 epochs on all the training data. This measures, per task
and seed, the test accuracy of the grid's four compressed points both ways:

* **scratch**: ``trials.run_trial`` exactly as the grid runs it (60 epochs, all 4,000
  training examples);
* **fine-tune N**: ``finetune.run_rung`` from the dense model the joint search trains
  (60 epochs on its 90% fit split), for each N in ``--epochs`` (default 4, 12, 36), in
  one stretch from the dense model, at the dense model's rate;
* **12 + 24 continued**: a promoted candidate of the quickstart's rungs (12, 36): rung 0
  for 12 epochs, then rung 1 continues it to 36 (``rungs_below``, the rung checkpoint in
  a temporary folder), on the fit split only;
* **12 + 24 refit**: what the joint search does with ``[compression] refit = true``: the same, with
  the continued 24 epochs on a fit-sized set holding every validation example
  (``finetune.refit_data``).

Each point's policy is the grid's (``[[points]]`` -> ``candidate.from_point``), so both
columns compress the same way. Test accuracy on the same 1,000 test examples; one
training run per cell (MNIST-1D is small: expect +-1-2 points of seed noise).

Usage::

    python benchmarks/finetune_vs_scratch.py --tasks quickstart,cnn1d-mnist1d --seeds 0

Writes ``benchmarks/results/finetune_vs_scratch.md``.
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
from lepton_codesign.codesign.finetune import run_rung, train_dense  # noqa: E402
from lepton_codesign.codesign.trials import run_trial  # noqa: E402


def measure(task: str, seed: int, epochs: list[int]) -> list[dict]:
    """One row per compressed grid point: scratch and fine-tuned test accuracies."""
    raw = task_config(task, seed, quick=False)
    raw["points"] = copy.deepcopy(GRID_POINTS)
    cfg = validate_config({k: v for k, v in raw.items() if k != "compression"})
    cc = validate_config(raw)["compression"] if raw.get("compression") else None
    model = cfg["model"]["name"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = {"model": model, "data": cfg["data"], "train": cfg["train"], "seed": seed,
                "arrays": None, "val_fraction": cc["validation_fraction"] if cc else 0.1,
                "dense_path": str(Path(tmp) / "dense.npz"),
                "learning_rate": cc["learning_rate"] if cc else cfg["train"]["learning_rate"],
                "hw_spec": "gemmini-like", "hw_metric": "energy", "progress": False}
        dense = train_dense(base)
        base.update(layers=dense["layers"], features=dense["features"])
        for i, point in enumerate(p for p in cfg["points"] if not p["reference"]):
            row = {"task": task, "seed": seed, "point": point["name"],
                   "dense_fit_split": dense["accuracy"]}
            t = time.time()
            row["scratch"] = run_trial({"point": point, "model": model, "data": cfg["data"],
                                        "train": cfg["train"], "seed": seed})["accuracy"]
            row["scratch_s"] = time.time() - t
            cand = from_point(point, dense["layers"])
            for n in epochs:
                t = time.time()
                rec = run_rung({**base, "index": i + 1, "candidate": cand.to_dict(),
                                "rung": 0, "epochs": n, "final": True})
                row[f"ft{n}"], row[f"ft{n}_s"] = rec["accuracy"], time.time() - t
            t = time.time()  # the joint's rungs: 12, then continued to 36
            job = {**base, "index": i + 1, "candidate": cand.to_dict(), "checkpoint_dir": tmp}
            below = run_rung({**job, "rung": 0, "epochs": 12, "final": False})
            final = {**job, "rung": 1, "epochs": 36, "final": True, "rungs_below": [12]}
            rec = run_rung(final)
            row["cont"], row["cont_s"] = rec["accuracy"], time.time() - t
            t = time.time()  # the same, its last stretch on the validation examples too
            rec = run_rung({**final, "refit": True, "val_below": below["val_accuracy"]})
            row["refit"], row["refit_s"] = rec["accuracy"], time.time() - t
            rows.append(row)
            print(row, flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default="quickstart,cnn1d-mnist1d")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--epochs", default="4,12,36", help="fine-tuning epochs to compare")
    ap.add_argument("--out", default=str(HERE / "results" / "finetune_vs_scratch.md"))
    args = ap.parse_args(argv)
    epochs = [int(e) for e in args.epochs.split(",")]
    rows = [r for task in args.tasks.split(",") for seed in map(int, args.seeds.split(","))
            for r in measure(task, seed, epochs)]
    head = ["task", "seed", "point", "scratch (60 ep, all data)",
            *[f"fine-tune {n} ep" for n in epochs], "12 + 24 ep continued",
            "12 + 24 ep, refit"]
    command = " ".join(["python benchmarks/finetune_vs_scratch.py", *(argv or sys.argv[1:])])
    lines = ["# Fine-tuned from the dense model vs trained from scratch", "",
             f"- machine: {machine()}",
             f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}",
             f"- command: `{command}`",
             "- test accuracy (1,000 examples); the dense model of the fine-tunes is trained "
             "on the 90% fit split (its own test accuracy below the table); seconds per run "
             "include XLA compiles (the first of a structure compiles); *refit*: the "
             "continued 24 epochs train on a fit-sized set holding every validation "
             "example (`finetune.refit_data`), as the joint search's promoted candidates "
             "do with `[compression] refit = true`; its seconds are those 24 epochs only",
             "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["task"], str(r["seed"]), r["point"],
                 f"{r['scratch']:.3f} ({r['scratch_s']:.0f} s)"]
        cells += [f"{r[f'ft{n}']:.3f} ({r[f'ft{n}_s']:.1f} s)" for n in epochs]
        cells.append(f"{r['cont']:.3f} ({r['cont_s']:.1f} s)")
        cells.append(f"{r['refit']:.3f} ({r['refit_s']:.1f} s)")
        lines.append("| " + " | ".join(cells) + " |")
    dense = {(r["task"], r["seed"]): r["dense_fit_split"] for r in rows}
    lines += ["", "Dense model (fit split) test accuracy: " + ", ".join(
        f"{t} seed {s}: {a:.3f}" for (t, s), a in dense.items())]
    write_lines(args.out, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
