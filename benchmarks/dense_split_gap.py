"""Dense-model test error on all training examples vs the joint search's fit split.

The joint search (``codesign.joint``) trains its dense model on the fit part of the
training data (``[compression] validation_fraction`` is carved off for promotions); the
five-point grid trains on all of it. This trains the same dense model both ways, with the
settings of ``benchmarks/codesign_joint.py`` (MNIST-1D, 4,000 train / 1,000 test, 60
epochs, batch 128, learning rate 0.003) and prints the test error of each, per seed.

Usage::

    python benchmarks/dense_split_gap.py --model cnn1d --seeds 0,1
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# benchmarks/compression.py shadows the ``compression`` module jax imports.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import numpy as np  # noqa: E402

from lepton_codesign.data import load_dataset, validation_split  # noqa: E402
from lepton_codesign.models import build_model  # noqa: E402
from lepton_codesign.train import TrainConfig, evaluate_model, train  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="cnn1d")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--validation-fraction", type=float, default=0.1)
    args = ap.parse_args(argv)
    ds = load_dataset("mnist1d")
    xtr, ytr = np.asarray(ds.train[0], np.float32)[:4000], np.asarray(ds.train[1], np.int32)[:4000]
    xte, yte = np.asarray(ds.test[0], np.float32)[:1000], np.asarray(ds.test[1], np.int32)[:1000]
    cfg = TrainConfig(epochs=60, batch_size=128, learning_rate=0.003, progress=False)
    print("| model | seed | training examples | test error |\n|---|---|---|---|")
    for seed in (int(s) for s in args.seeds.split(",")):
        fit, _ = validation_split(xtr, ytr, args.validation_fraction, seed=seed)
        for x, y in ((xtr, ytr), fit):
            model, _ = build_model(args.model, seed=seed, features=x.shape[1])
            res = train(model, (x, y), (xte, yte), cfg, key=jax.random.key(seed))
            err = 1.0 - evaluate_model(res.model, (xte, yte))["accuracy"]
            print(f"| {args.model} | {seed} | {len(x)} | {err:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
