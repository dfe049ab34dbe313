"""A multi-task model: one shared trunk, two heads, compressed and costed as a whole.

Task 1 classifies the MNIST-1D digit, task 2 its parity. The trunk is pruned to 80%
with 8-bit weights; the heads stay dense. The workload of the whole multi-head model
(trunk + both heads) is what gets priced.

    python examples/multitask.py [--quick]
"""

from __future__ import annotations

import argparse

import jax
import numpy as np
from flax import nnx

from lepton_codesign import (
    CompressionPolicy,
    MultiTaskModel,
    TrainConfig,
    compress,
    extract_workload,
    load_mnist1d,
    train,
)
from lepton_codesign import hw_models as hw
from lepton_codesign.models import MLP


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    data = load_mnist1d()
    (x, y), (xt, yt) = data.train, data.test
    if args.quick:
        x, y, xt, yt = x[:512], y[:512], xt[:256], yt[:256]
    targets = lambda labels: {"digit": labels, "parity": (labels % 2).astype(np.int32)}
    rngs = nnx.Rngs(0)
    model = MultiTaskModel(MLP((40, 256, 256), rngs=rngs),
                           {"digit": nnx.Linear(256, 10, rngs=rngs),
                            "parity": nnx.Linear(256, 2, rngs=rngs)})
    model = compress(model, CompressionPolicy(sparsity=0.8, weight_bits=8, act_bits=8,
                                              include=("trunk/*",)))
    cfg = TrainConfig(epochs=2 if args.quick else 40, progress=not args.quick)
    res = train(model, (x, targets(y)), (xt, targets(yt)), cfg, key=jax.random.key(0))
    wl = extract_workload(res.model, xt[:1])
    costs = hw.evaluate(wl, hw.preset("gemmini-like"), res.compression)
    metrics = {k: float(v) for k, v in res.metrics.items() if "accuracy" in k}
    print("layers costed:", ", ".join(wl.names))
    print("metrics:", metrics)
    print(f"latency {float(costs.total_latency_s):.3e} s, "
          f"energy {float(costs.total_energy_j):.3e} J on gemmini-like")
    return {"metrics": metrics, "layers": wl.names}


if __name__ == "__main__":
    main()
