"""The ``lepton-codesign`` command: thin wrappers over the library.

Subcommands::

    lepton-codesign evaluate --spec FILE|PRESET --model NAME|module:factory [--batch N]
                             [--format table|json|csv] [--dtype fp32|tf32|bf16|fp16|fp8|int8|int4]
    lepton-codesign evaluate --model LLM --spec PRESET --phase prefill|decode [--batch N]
                             [--prompt P] [--context L] [--devices N] [--parallel tp=N,pp=N,dp=N]
                             [--quant fp16|w8a16|w4a16|w8a8|fp8[+2:4]] [--weight-bits B]
                             [--kv-bits B] [--interconnect NAME]
    lepton-codesign serve --model LLM --spec PRESET --devices N [--batches 1,8,64] [--plot PNG]
    lepton-codesign serve --search --model LLM --spec A --spec B --devices 1,2,4,8
                          [--quant fp16,w4a16,fp8] [--tpot-slo S] [--objectives ...]
    lepton-codesign compare --model NAME --spec A --spec B ... [--plot out.png]
                            [--sort KEY] [--format table|json|csv]
    lepton-codesign search [--config FILE.toml] [--out RUN_DIR [--fresh]]
                           [--executor local|ray] [--address ADDR]
    lepton-codesign report RUN_DIR     # re-render plots and report.md
    lepton-codesign calibrate [--from FILE] [--out spec.yaml] [--quick] [--base PRESET]
    lepton-codesign show-config        # print the embedded quickstart config
    lepton-codesign presets            # list shipped specs
    lepton-codesign models             # list built-in models

Exit status is 0 on success, 2 on bad input (the message names what was wrong).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys

from lepton_codesign import __version__

# JAX and flax load inside the commands that need them, so that ``--help``,
# ``--version``, ``presets`` and ``models`` answer in well under a second.
FORMATS = ("table", "json", "csv")
# ``compare --sort`` keys: a copy of ``compare.SORT_KEYS`` (that module loads JAX;
# tests/test_dollars_parts.py checks the two agree).
SORT_KEYS = ("latency_s", "energy_per_inference_j", "power_w", "usd_per_1m_inferences",
             "capex_usd", "cost_usd", "area_mm2", "throughput_per_s", "utilization_max")
# --dtype choices (kept here so --help needs no JAX; compare.DTYPE_FORMATS maps them).
DTYPES = ("fp32", "tf32", "bf16", "fp16", "fp8", "int8", "int4")
DTYPE_HELP = ("numeric format to price (weights and activations); fp32 vs tf32 and int8 "
              "vs fp8 matter on GPUs (default: dense 8-bit; a GPU runs it in its fastest "
              "format wide enough for 8-bit integers)")


def _batch(text: str) -> int:
    """argparse type of ``--batch``: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 1 <= value <= 2**31 - 1:  # as [model] batch in a search config
        raise argparse.ArgumentTypeError(f"{value} is not allowed; allowed: an integer "
                                         f"1..{2**31 - 1}")
    return value


# LLM flags of ``evaluate`` / ``serve`` (choices copied from lepton_codesign.llm.serve so that
# --help needs no JAX; tests/llm/test_llm_cli.py checks they agree).
LLM_PHASES = ("prefill", "decode")
LLM_QUANTS = ("fp16", "w8a16", "w4a16", "w8a8", "fp8")
LLM_FLAGS = ("phase", "prompt", "context", "devices", "parallel", "quant", "weight_bits",
             "kv_bits", "interconnect")


def _llm_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--phase", choices=LLM_PHASES, help="LLM models: prefill (TTFT) or decode "
                   "(TPOT) step")
    p.add_argument("--prompt", type=_batch, help="LLM models: prompt tokens (default 512)")
    p.add_argument("--context", type=_batch, help="LLM decode: KV-cache length per sequence "
                   "(default: --prompt)")
    p.add_argument("--devices", type=_batch, help="LLM models: number of devices (default 1)")
    p.add_argument("--parallel", help="LLM models: split, e.g. tp=8 or tp=2,pp=2,dp=2 "
                   "(default: tp over all devices)")
    p.add_argument("--quant", help=f"LLM models: one of {', '.join(LLM_QUANTS)}, optionally "
                   "+2:4 for 2:4 sparse weights (default fp16)")
    p.add_argument("--weight-bits", type=int, help="LLM models: override weight bits (4, 8, 16)")
    p.add_argument("--kv-bits", type=int, help="LLM models: KV-cache bits (8 or 16)")
    p.add_argument("--interconnect", help="LLM models: interconnect preset between devices")


def _evaluate(args) -> int:
    from lepton_codesign.llm.serve import is_llm_model
    from lepton_codesign.llm.serve_cli import evaluate_command

    if is_llm_model(args.model):
        return evaluate_command(args)
    given = [f for f in LLM_FLAGS if getattr(args, f, None) is not None]
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise ValueError(f"{flag} applies to LLM models only; {args.model!r} is not one "
                         "(allowed LLM models: lepton-codesign models)")
    try:
        return _evaluate_network(args)
    except ValueError as err:
        if not str(err).startswith("unknown model"):
            raise
        from lepton_codesign.hw_models.schema import closest
        from lepton_codesign.llm.configs import llm_config_names

        names = llm_config_names()
        raise ValueError(f"{err}; or an LLM config{closest(args.model, names)}: "
                         f"{names}") from None


def _serve(args) -> int:
    from lepton_codesign.jax_cache import enable_compilation_cache
    from lepton_codesign.llm.serve_cli import serve_command

    enable_compilation_cache()
    return serve_command(args)


def _evaluate_network(args) -> int:
    from lepton_codesign import hw_models
    from lepton_codesign.extract import extract_workload
    from lepton_codesign.models import build_model
    from lepton_codesign.tables import format_rows, layer_rows, total_row, with_total_row

    spec = hw_models.resolve_spec(args.spec)
    model, x = build_model(args.model, batch=args.batch, abstract=True)
    workload = extract_workload(model, x, batch=args.batch)
    from lepton_codesign.compare import priced_as, with_dtype

    compression = None
    if args.dtype:
        spec, compression = with_dtype(spec, workload, args.dtype)
    costs = hw_models.evaluate(workload, spec, compression)
    layers, totals = layer_rows(workload, costs), total_row(workload, costs)
    priced = priced_as(spec, costs, compression)
    totals = {"spec": spec.name, "model": args.model, "batch": args.batch,
              "priced_as": priced, **totals}
    if args.format == "json":
        print(json.dumps({"totals": totals, "layers": layers}, indent=2))
    elif args.format == "csv":
        print(format_rows(with_total_row(layers, totals), "csv"), end="")
    else:
        print(f"{args.model} on {spec.name} (batch {args.batch}), priced as {priced}"
              f"{'' if args.dtype else ' (default; --dtype to choose)'}\n")
        print(format_rows(layers, "table"))
        print()
        print(format_rows([totals], "table"))
        if not totals["feasible"]:
            from lepton_codesign.hw_models.costs import reason_text

            code = costs.extras.get("infeasible_reason", 1)
            print(f"\nINFEASIBLE design: {reason_text(code)}")
    return 0


def _check_plot_path(path: str) -> None:
    """``--plot`` must name a file matplotlib can write, in an existing folder."""
    from pathlib import Path

    allowed = (".png", ".pdf", ".svg", ".jpg", ".jpeg")
    p = Path(path)
    if p.suffix.lower() not in allowed:
        raise ValueError(f"--plot {path!r}: unknown image format {p.suffix or '(none)'!r}; "
                         f"allowed: a file name ending in one of {list(allowed)}")
    if p.is_dir():
        raise ValueError(f"--plot {path!r}: is a directory; allowed: a file name")
    if not p.parent.is_dir():
        raise ValueError(f"--plot {path!r}: folder {str(p.parent)!r} does not exist")


def _compare(args) -> int:
    from lepton_codesign import hw_models
    from lepton_codesign.compare import compare, format_table, plot_compare
    from lepton_codesign.extract import extract_workload
    from lepton_codesign.models import build_model

    if args.plot:
        _check_plot_path(args.plot)
    specs = [hw_models.resolve_spec(s) for s in args.spec]
    model, x = build_model(args.model, batch=args.batch, abstract=True)
    rows = compare(extract_workload(model, x, batch=args.batch), specs, sort_by=args.sort,
                   dtype=args.dtype)
    print(format_table(rows, args.format, sort_by=args.sort))
    if args.format == "table":
        note = "" if args.dtype else " (default; --dtype to choose)"
        print("\npriced as" + note + ": "
              + "; ".join(f"{r['spec']} {r['priced_as']}" for r in rows))
    if args.plot:
        plot_compare(rows, args.plot)
        print(f"\nplot written to {args.plot}")
    return 0


def _calibrate(args) -> int:
    import shlex
    from pathlib import Path

    from lepton_codesign.hw_models import gpu_calibrate, gpu_specfile

    if args.from_file:
        data = gpu_calibrate.load_measurements(args.from_file)
    else:
        from lepton_codesign.microbench import run_suite

        print("measuring on the local JAX device ...", file=sys.stderr, flush=True)
        data = run_suite(quick=args.quick)
        if args.save_measurements:
            Path(args.save_measurements).write_text(json.dumps(data, indent=1) + "\n")
    command = ["lepton-codesign", "calibrate"]
    command += ["--from", args.from_file] if args.from_file else (
        ["--quick"] if args.quick else [])
    command += (["--base", args.base] if args.base else []) + (
        ["--out", args.out] if args.out else [])
    spec, report, text = gpu_specfile.calibrate(data, args.base, shlex.join(command))
    for dtype, r in report["residuals"].items():
        print(f"{dtype:>14}: median |error| latency {100 * r['latency_median_abs']:5.1f}%, "
              f"per call {100 * r['per_call_median_abs']:5.1f}% ({r['n']} GEMMs, in sample)",
              file=sys.stderr)
    for what, r in report.get("held_out", {}).items():
        print(f"{what:>14}: median |error| latency {100 * r['latency_median_abs']:5.1f}%, "
              f"per call {100 * r['per_call_median_abs']:5.1f}% ({r['n']} kernels, held out:"
              " not fitted)", file=sys.stderr)
    if args.out:
        Path(args.out).write_text(text)
        print(f"spec written to {args.out} (kind gpu, name {spec.name})", file=sys.stderr)
    else:
        print(text, end="")
    return 0


def _search(args) -> int:
    import shlex

    from lepton_codesign.codesign.config import default_config, load_config
    from lepton_codesign.codesign.pipeline import codesign
    from lepton_codesign.codesign.rundir import default_run_dir, saved_progress

    if args.out is not None and not args.out.strip():
        raise ValueError("--out '': allowed: a directory path (leave --out out for a new "
                         "run directory under lepton-runs/)")
    cfg = load_config(args.config) if args.config else default_config()
    from lepton_codesign.jax_cache import enable_compilation_cache

    enable_compilation_cache()
    out = args.out or str(default_run_dir(cfg["run"]["name"]))
    again = ["lepton-codesign", "search"] + (["--config", args.config] if args.config else [])
    again += ["--out", out] + (["--executor", "ray"] if args.executor == "ray" else [])
    again += ["--address", args.address] if args.address else []
    again = shlex.join(again)
    print(f"run directory: {out}", file=sys.stderr, flush=True)
    try:
        res = codesign(config=cfg, out_dir=out, executor=args.executor, address=args.address,
                       fresh=args.fresh)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this
        print(f"\ninterrupted: {saved_progress(out, cfg)} saved in {out}\n"
              f"resume with: {again}", file=sys.stderr, flush=True)
        raise
    front = res.front()
    print(f"\n{len(res.points)} designs evaluated, {len(front)} on the Pareto front")
    print(f"report: {out}/report.md (interactive: {out}/report.html)")
    print(f"run again on the saved work (nothing is recomputed): {again}")
    return 0


def _report(args) -> int:
    from lepton_codesign.codesign.report import write_report

    for path in write_report(args.run_dir):
        print(path)
    return 0


def _show_config(_args) -> int:
    from lepton_codesign.codesign.config import default_config_text

    print(default_config_text(), end="")
    return 0


def _presets(_args) -> int:
    from lepton_codesign.catalog import preset_catalog

    rows = preset_catalog()
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        kind = f"{r['kind']} ({r['design']})" if r["design"] else r["kind"]
        print(f"{r['name']:<{width}}  {kind:<15}  {r['source']}")
    return 0


def _models(_args) -> int:
    from lepton_codesign.catalog import BUILTIN_MODELS

    width = max(map(len, BUILTIN_MODELS))
    for name, about in BUILTIN_MODELS.items():
        print(f"{name:<{width}}  {about}")
    print("\nor package.module:function, a factory returning (nnx.Module, example_input); "
          "naming one imports and runs that code")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lepton-codesign",
        description="Hardware/model co-design: evaluate, compare, search, report.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("evaluate", help="cost of a model on one accelerator spec")
    ev.add_argument("--spec", required=True, help="preset name or .yaml/.toml spec file")
    ev.add_argument("--model", required=True, help="built-in model name, LLM config name "
                    "(llama2-7b, llama2-70b, llama3-8b, mistral-7b, ...) or module:factory")
    ev.add_argument("--batch", type=_batch, default=1,
                    help="inference batch the costs are for (default 1)")
    ev.add_argument("--format", choices=FORMATS, default="table")
    ev.add_argument("--dtype", choices=DTYPES, help=DTYPE_HELP)
    _llm_flags(ev)

    sv = sub.add_parser("serve", help="LLM serving report: TTFT, TPOT, tokens/s, $/1M tokens "
                        "over a batch sweep, or (--search) a co-design search")
    sv.add_argument("--model", required=True, help="LLM config name (lepton-codesign models)")
    sv.add_argument("--spec", required=True, action="append",
                    help="preset or spec file (repeat to search several)")
    sv.add_argument("--devices", default="1", help="number of devices (a list like 1,2,4,8 "
                    "with --search)")
    sv.add_argument("--parallel", help="split, e.g. tp=2,dp=4 (default: tp over all devices)")
    sv.add_argument("--quant", default="fp16", help="fp16, w8a16, w4a16 or fp8 (a list with "
                    "--search)")
    sv.add_argument("--kv-bits", default=None, help="KV-cache bits, 8 or 16 (a list with --search)")
    sv.add_argument("--prompt", type=_batch, default=512, help="prompt tokens (default 512)")
    sv.add_argument("--output", type=_batch, default=256, help="generated tokens (default 256)")
    sv.add_argument("--batches", help="batch sizes, e.g. 1,8,64 (default powers of 2 to 256)")
    sv.add_argument("--interconnect", help="interconnect preset between devices")
    sv.add_argument("--format", choices=FORMATS, default="table")
    sv.add_argument("--plot", help="write a TPOT / tokens-per-s plot here (PNG, PDF, SVG)")
    sv.add_argument("--search", action="store_true", help="co-design search over specs x "
                    "devices x split x batch x compression; prints the constrained Pareto front")
    sv.add_argument("--tpot-slo", type=float, help="--search: max time per output token (s)")
    sv.add_argument("--ttft-slo", type=float, help="--search: max time to first token (s)")
    sv.add_argument("--objectives", default="usd,tpot,ttft", help="--search: comma-separated "
                    "from usd, tpot, ttft, energy (default usd,tpot,ttft)")
    sv.set_defaults(func=_serve)
    ev.set_defaults(func=_evaluate)
    cp = sub.add_parser("compare", help="one model on several specs, side by side")
    cp.add_argument("--model", required=True, help="built-in model name or module:factory")
    cp.add_argument("--spec", required=True, action="append",
                    help="preset name or spec file (repeat)")
    cp.add_argument("--batch", type=_batch, default=1,
                    help="inference batch the costs are for (default 1)")
    cp.add_argument("--format", choices=FORMATS, default="table")
    cp.add_argument("--plot", help="write a bar chart PNG here")
    cp.add_argument("--sort", choices=SORT_KEYS, metavar="KEY",
                    help="order rows by this column, best first (throughput and "
                    "utilization descending, the rest ascending); one of: "
                    + ", ".join(SORT_KEYS))
    cp.add_argument("--dtype", choices=DTYPES, help=DTYPE_HELP)
    cp.set_defaults(func=_compare)
    ca = sub.add_parser("calibrate", help="fit a GPU-kind spec to measured kernels")
    ca.add_argument("--from", dest="from_file", metavar="FILE",
                    help="fit saved measurements (JSON, the h200_kernels.json schema) "
                    "instead of measuring the local JAX device")
    ca.add_argument("--out", help="write the spec YAML here (default: print it)")
    ca.add_argument("--quick", action="store_true",
                    help="small microbenchmark suite (under a minute on a CPU)")
    ca.add_argument("--base", help="preset or .yaml with the device's datasheet numbers "
                    "(default: from the measured device kind; a CPU needs none)")
    ca.add_argument("--save-measurements", metavar="FILE",
                    help="also write the measurements as JSON")
    ca.set_defaults(func=_calibrate)
    se = sub.add_parser("search", help="co-design search (embedded quickstart by default)")
    se.add_argument("--config", help="TOML config (default: embedded quickstart)")
    se.add_argument("--out", help="run directory; an existing one resumes a run of the same "
                    "config and code (default: a new lepton-runs/<run name>-<date>-<time>)")
    se.add_argument("--fresh", action="store_true",
                    help="discard the saved work in --out and start over")
    se.add_argument("--executor", choices=("local", "ray"), default="local")
    se.add_argument("--address", help="Ray cluster address (default: start a local one)")
    se.set_defaults(func=_search)
    rp = sub.add_parser("report", help="re-render the report of a run directory")
    rp.add_argument("run_dir")
    rp.set_defaults(func=_report)
    sub.add_parser("show-config", help="print the embedded quickstart config").set_defaults(
        func=_show_config)
    sub.add_parser("presets", help="list shipped hardware specs").set_defaults(func=_presets)
    sub.add_parser("models", help="list built-in models").set_defaults(func=_models)
    return parser


def _raise_interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _exit_interrupted() -> None:
    """Ctrl-C / SIGTERM: saved work is already on disk; exit 130 without a traceback.

    ``os._exit`` skips interpreter teardown: an interrupt that lands while XLA compiles
    leaves its compile threads running, and tearing the interpreter down under them
    segfaulted (exit 139, no Python frame, in about 1 of 4 interrupts). A Ray cluster
    this process started is stopped first.
    """
    import logging
    import os

    from lepton_codesign.codesign.executor import shutdown

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    shutdown()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lepton-codesign`` console script."""
    args = build_parser().parse_args(argv)
    try:  # SIGTERM takes the same path as Ctrl-C (only the main thread may set handlers)
        old_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    except ValueError:
        old_term = None
    try:
        return args.func(args)
    except KeyboardInterrupt:
        if args.command != "search":  # search prints what it saved and how to resume
            print("interrupted", file=sys.stderr)
        _exit_interrupted()
    except ValueError as err:  # SpecError, ConfigError and every input check
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # unreadable / missing / directory-instead-of-file paths
        where = f" {err.filename!r}" if getattr(err, "filename", None) else ""
        print(f"error:{where} {err.strerror or err}", file=sys.stderr)
        return 2
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


if __name__ == "__main__":
    sys.exit(main())
