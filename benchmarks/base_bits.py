"""Which dense model should the joint search's candidates start from: float or 8-bit QAT?

For each task and seed, the dense model is trained on the fit split as the joint search
trains it (``finetune.train_dense``) twice: in float (``[compression] base_bits = 32``)
and quantisation-aware at 8 bits (``base_bits = 8``, float weights kept). Five fixed
candidates are then fine-tuned from each, as the search fine-tunes a promoted candidate
(``finetune.run_rung``: 12 epochs, continued to 36): dense w8 a8, dense w4 a8, N:M 2:4
w4 a8, 80% and 90% unstructured sparsity w4 a8. The table gives their validation and
test accuracy, and each base model's own (the float model of the QAT base: its float
weights).

The default seeds (3, 4, 5) are not those of ``codesign_joint.py`` (0, 1, 2): the
choice of a base is made on runs the acceptance benchmark does not contain.

Usage::

    nice python benchmarks/base_bits.py                       # 2 tasks x seeds 3,4,5
    nice python benchmarks/base_bits.py --tasks cnn1d-mnist1d --seeds 0,1,2

Writes ``benchmarks/results/base_bits.md``.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import codesign_joint as cj  # noqa: E402  (takes benchmarks/ off the path again)
import numpy as np  # noqa: E402

from lepton_codesign.codesign import finetune  # noqa: E402
from lepton_codesign.codesign.candidate import Candidate  # noqa: E402

MODELS = {"quickstart": "mlp", "cnn1d-mnist1d": "cnn1d"}
CANDIDATES = [Candidate(structure="none", weight_bits=(8,), act_bits=8),
              Candidate(structure="none", weight_bits=(4,), act_bits=8),
              Candidate(structure="nm", nm=(2, 4), weight_bits=(4,), act_bits=8),
              Candidate(structure="unstructured", sparsity=0.8, weight_bits=(4,), act_bits=8),
              Candidate(structure="unstructured", sparsity=0.9, weight_bits=(4,), act_bits=8)]
BASES = (32, 8)


def measure(task: str, seed: int, folder: Path) -> dict:
    """``{base: {"base": (val, test), label: (val, test)}}`` for one task and seed."""
    cfg = cj.task_config(task, seed, False)
    cc = cfg["compression"]
    out = {}
    for bits in BASES:
        base = {"model": MODELS[task], "data": cfg["data"], "train": cfg["train"],
                "seed": seed, "arrays": None, "val_fraction": cc["validation_fraction"],
                "dense_path": str(folder / f"{task}_{seed}_{bits}.npz"), "base_bits": bits,
                "learning_rate": cc["learning_rate"], "checkpoint_dir": None,
                "hw_spec": "gemmini-like", "hw_metric": "energy", "refit": False}
        dense = finetune.train_dense(base)
        row = {"base": (dense["val_accuracy"], dense["accuracy"])}
        for i, cand in enumerate(CANDIDATES):
            rec = finetune.run_rung({**base, "layers": dense["layers"],
                                     "features": dense["features"], "index": i + 1,
                                     "candidate": cand.to_dict(), "rung": 1,
                                     "epochs": cc["max_epochs"],
                                     "rungs_below": [cc["min_epochs"]], "final": True})
            row[cand.label()] = (rec["val_accuracy"], rec["accuracy"])
        out[bits] = row
        print(task, seed, bits, {k: f"{v[1]:.3f}" for k, v in row.items()}, flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", default=",".join(MODELS))
    ap.add_argument("--seeds", default="3,4,5")
    ap.add_argument("--out", default=str(HERE / "results" / "base_bits.md"))
    args = ap.parse_args(argv)
    tasks = [t for t in args.tasks.split(",") if t]
    if bad := [t for t in tasks if t not in MODELS]:
        ap.error(f"unknown tasks {bad}; allowed {list(MODELS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    labels = ["base"] + [c.label() for c in CANDIDATES]
    lines = ["# The dense model to start from: float vs 8-bit quantisation-aware", "",
             f"- machine: {cj.machine()}",
             f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}; "
             f"code: {cj.git_commit()}",
             "- command: `python benchmarks/base_bits.py"
             + ("" if argv is None and len(sys.argv) == 1 else " " + " ".join(
                 argv if argv is not None else sys.argv[1:])) + "`",
             "- validation / test accuracy; *base*: the dense model itself (for the 8-bit "
             "base, its float weights evaluated in float); candidates fine-tuned 12 + 24 "
             "epochs from each base on the fit split", "",
             "| task | seed | start | " + " | ".join(labels) + " |",
             "|---|---|---|" + "---|" * len(labels)]
    gains: dict[str, list] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for task in tasks:
            for seed in seeds:
                res = measure(task, seed, Path(tmp))
                for bits in BASES:
                    lines.append(f"| {task} | {seed} | {'float' if bits == 32 else '8-bit'} | "
                                 + " | ".join(f"{res[bits][k][0]:.3f} / {res[bits][k][1]:.3f}"
                                              for k in labels) + " |")
                gains.setdefault(task, []).extend(
                    res[8][k][1] - res[32][k][1] for k in labels[1:])
    lines.append("")
    for task, g in gains.items():
        up = sum(x > 0 for x in g)
        lines.append(f"- {task}: the candidates' test accuracy from the 8-bit base minus "
                     f"from the float one: mean {np.mean(g):+.4f}, higher in {up} of "
                     f"{len(g)} cells")
    cj.write_lines(args.out, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
