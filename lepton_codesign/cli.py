"""The ``lepton-codesign`` command: thin wrappers over the library.

Subcommands::

    lepton-codesign evaluate --spec FILE|PRESET --model NAME|module:factory [--batch N]
                             [--format table|json|csv]
    lepton-codesign presets            # list shipped specs
    lepton-codesign models             # list built-in models

Exit status is 0 on success, 2 on bad input (the message names what was wrong).
"""

from __future__ import annotations

import argparse
import json
import sys

import hw_models
from lepton_codesign.tables import FORMATS, format_rows, layer_rows, total_row


def _evaluate(args) -> int:
    from lepton_codesign.extract import extract_workload
    from lepton_codesign.models import build_model

    spec = hw_models.resolve_spec(args.spec)
    model, x = build_model(args.model, batch=args.batch)
    workload = extract_workload(model, x)
    costs = hw_models.evaluate(workload, spec)
    layers, totals = layer_rows(workload, costs), total_row(workload, costs)
    totals = {"spec": spec.name, "model": args.model, "batch": args.batch, **totals}
    if args.format == "json":
        print(json.dumps({"totals": totals, "layers": layers}, indent=2))
    elif args.format == "csv":
        print(format_rows(layers, "csv"), end="")
    else:
        print(f"{args.model} on {spec.name} (batch {args.batch})\n")
        print(format_rows(layers, "table"))
        print()
        print(format_rows([totals], "table"))
        if not totals["feasible"]:
            print("\nINFEASIBLE design (see extras for the reason)")
    return 0


def _presets(_args) -> int:
    print("\n".join(hw_models.preset_names()))
    return 0


def _models(_args) -> int:
    from lepton_codesign.models import model_names

    print("\n".join(model_names()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lepton-codesign",
        description="Hardware/model co-design: evaluate, compare, search, report.")
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("evaluate", help="cost of a model on one accelerator spec")
    ev.add_argument("--spec", required=True, help="preset name or .yaml/.toml spec file")
    ev.add_argument("--model", required=True, help="built-in model name or module:factory")
    ev.add_argument("--batch", type=int, default=1)
    ev.add_argument("--format", choices=FORMATS, default="table")
    ev.set_defaults(func=_evaluate)
    sub.add_parser("presets", help="list shipped hardware specs").set_defaults(func=_presets)
    sub.add_parser("models", help="list built-in models").set_defaults(func=_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lepton-codesign`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (hw_models.SpecError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
