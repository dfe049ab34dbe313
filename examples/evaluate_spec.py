"""Evaluate a hypothetical accelerator written as YAML on a built-in model.

    python examples/evaluate_spec.py [--spec examples/my_accelerator.yaml] [--model resnet18]

Prints the per-layer table and totals, dense 8-bit vs 2:4-sparse 4-bit weights.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lepton_codesign import build_model, extract_workload
from lepton_codesign import hw_models as hw
from lepton_codesign.tables import format_rows, layer_rows, total_row

HERE = Path(__file__).parent


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default=str(HERE / "my_accelerator.yaml"))
    ap.add_argument("--model", default="resnet18")
    args = ap.parse_args(argv)
    spec = hw.load_spec(args.spec)
    model, x = build_model(args.model)
    wl = extract_workload(model, x)
    totals = []
    for label, comp in (
        ("dense int8", hw.dense_compression(wl.num_layers)),
        ("2:4 sparse, 4-bit weights", hw.make_compression(
            wl.num_layers, weight_density=0.5, structure="nm", nm_m=4, weight_bits=4)),
    ):
        costs = hw.evaluate(wl, spec, comp)
        print(f"\n{args.model} on {spec.name}: {label}\n")
        print(format_rows(layer_rows(wl, costs)))
        totals.append({"compression": label, **total_row(wl, costs)})
    print()
    print(format_rows(totals))
    return totals


if __name__ == "__main__":
    main()
