"""Compare one model on ASIC, FPGA and GPU presets side by side, with a bar chart.

    python examples/compare_presets.py [--model resnet18] [--plot compare.png]
"""

from __future__ import annotations

import argparse

from lepton_codesign import build_model, compare, extract_workload
from lepton_codesign import hw_models as hw
from lepton_codesign.compare import format_table, plot_compare

SPECS = ("tpuv1-like", "gemmini-like", "eyeriss-like", "kv260", "zcu104", "t4", "l4",
         "h100-sxm")


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--plot", default="compare.png")
    args = ap.parse_args(argv)
    model, x = build_model(args.model, batch=args.batch)
    rows = compare(extract_workload(model, x), [hw.preset(s) for s in SPECS])
    print(format_table(rows, "table"))
    if args.plot:
        plot_compare(rows, args.plot)
        print(f"\nplot: {args.plot}")
    return rows


if __name__ == "__main__":
    main()
