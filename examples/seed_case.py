"""The seed case: a ~1M-parameter model pruned 90%, priced on an ASIC, an FPGA and a GPU.

Trains a dense MLP 40-1024-1024-10 (1.1M parameters) on MNIST-1D, then the same model
with learned unstructured masks at 90% sparsity and 8-bit weights / activations,
exports it, and reports accuracy, storage (bits x non-zeros + index overhead, measured
from the export) and latency / energy / $ on three hardware families, dense vs pruned.

    python examples/seed_case.py            # full run (~1-2 min on 2 cores)
    python examples/seed_case.py --quick    # smoke run used by the test suite
"""

from __future__ import annotations

import argparse

import jax
import numpy as np
from flax import nnx

from lepton_codesign import (
    CompressionPolicy,
    TrainConfig,
    compress,
    export_compressed,
    extract_workload,
    load_mnist1d,
    storage_report,
    train,
)
from lepton_codesign import hw_models as hw
from lepton_codesign.models import MLP
from lepton_codesign.tables import format_rows

SPECS = ("gemmini-like", "zcu104", "t4")  # ASIC, FPGA, GPU presets


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny data and epochs")
    ap.add_argument("--epochs", type=int, default=40)
    args = ap.parse_args(argv)
    data = load_mnist1d()
    epochs = 2 if args.quick else args.epochs
    if args.quick:
        data = data._replace(train=(data.train[0][:512], data.train[1][:512]),
                             test=(data.test[0][:256], data.test[1][:256]))
    cfg = TrainConfig(epochs=epochs, learning_rate=1e-3, progress=not args.quick)
    sizes = (40, 1024, 1024, 10)
    dense = train(MLP(sizes, rngs=nnx.Rngs(0)), data.train, data.test, cfg,
                  key=jax.random.key(0))
    policy = CompressionPolicy(sparsity=0.9, weight_bits=8, act_bits=8)
    pruned = train(compress(MLP(sizes, rngs=nnx.Rngs(0)), policy), data.train, data.test,
                   cfg, key=jax.random.key(0))
    storage = storage_report(export_compressed(pruned.model))
    workload = extract_workload(dense.model, data.test[0][:1])
    rows = []
    for name in SPECS:
        spec = hw.preset(name)
        for label, res in (("dense fp32", dense), ("pruned 90% int8", pruned)):
            c = hw.evaluate(workload, spec, res.compression)
            rows.append({"hardware": name, "model": label,
                         "accuracy": float(res.metrics["test_accuracy"]),
                         "latency_s": float(c.total_latency_s),
                         "energy_j": float(c.total_energy_j),
                         "usd_per_1m_inf": float(c.usd_per_1m_inferences),
                         "feasible": bool(np.asarray(c.feasible))})
    print(f"parameters {storage['params']:,}, non-zeros after pruning {storage['nonzeros']:,}")
    print(f"storage: dense {storage['dense_bits'] / 8e6:.3f} MB -> compressed "
          f"{storage['compressed_bits'] / 8e6:.3f} MB ({storage['reduction']:.1f}x smaller)")
    print(f"accuracy: dense {dense.metrics['test_accuracy']:.4f}, "
          f"pruned {pruned.metrics['test_accuracy']:.4f}\n")
    print(format_rows(rows))
    return {"storage": storage, "rows": rows}


if __name__ == "__main__":
    main()
