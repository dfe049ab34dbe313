"""The LLM CLI commands: ``evaluate --model <llm>`` and ``serve`` (sweep, search, plots).

``lepton_codesign.cli`` parses the flags and calls ``evaluate_command`` /
``serve_command``; every bad input raises ``ValueError`` naming the flag and what is
allowed (the CLI prints it and exits with code 2). Plots use matplotlib's
object-oriented API (no pyplot state).
"""

from __future__ import annotations

from lepton_codesign.llm.serve import (
    QUANT_MODES,
    is_llm_model,
    parse_parallel,
    price_point,
    resolve_quant,
    serve_sweep,
    sweep_batches,
)

# ---------------------------------------------------------------------------------------

def _display(rows: list[dict]) -> list[dict]:
    """Rows with human units for the text table (JSON / CSV keep the raw numbers)."""
    from lepton_codesign.search.report_format import si, usd

    out = []
    for r in rows:
        d = {}
        for k, v in r.items():
            if k.endswith("_s") and k != "tokens_per_s":
                d[k[:-2]] = si(v, "s") if v is not None else "-"
            elif k == "tokens_per_s":
                d["tokens/s"] = "-" if v is None else f"{v:,.1f}"
            elif k == "usd_per_1m_tokens":
                d["$/1M tok"] = usd(v) if v is not None else "-"
            elif k == "energy_per_token_j":
                d["J/token"] = si(v, "J") if v is not None else "-"
            elif k == "memory_per_device_bytes":
                d["mem/device"] = si(v, "B") if v is not None else "-"
            elif k in ("violation", "on_front", "model", "reason", "step_energy_j",
                       "usd_per_s", "step_s"):
                continue
            else:
                d[k] = v
        out.append(d)
    return out


def _spec(text: str):
    from lepton_codesign import hw_models

    return hw_models.resolve_spec(text)


def evaluate_command(args) -> int:
    """``lepton-codesign evaluate --model <llm> ...``: one priced step, as a table."""
    from lepton_codesign.tables import format_rows

    if getattr(args, "dtype", None):
        raise ValueError("--dtype does not apply to LLM models; allowed: --quant "
                         f"{sorted(QUANT_MODES)} (and --weight-bits / --kv-bits)")
    phase = args.phase or "decode"
    devices = args.devices or 1
    split = parse_parallel(args.parallel, devices)
    quant = resolve_quant(args.quant, args.weight_bits, args.kv_bits)
    row = price_point(args.model, phase, args.batch, spec=_spec(args.spec),
                      prompt=args.prompt or 512, context=args.context, devices=devices,
                      split=split, quant=quant, interconnect=args.interconnect)
    drop = ("step_s", "step_energy_j", "usd_per_s", "prompt" if phase == "decode" else "context")
    row = {k: v for k, v in row.items() if k not in drop}
    if args.format != "table":
        print(format_rows([row], args.format), end="" if args.format == "csv" else "\n")
        return 0
    print(f"{args.model} {phase} step on {devices} x {row['spec']} ({row['split']}, "
          f"{row['quant']}), batch {args.batch}\n")
    print(format_rows(_display([row]), "table"))
    if not row["feasible"]:
        print(f"\nINFEASIBLE design: {row['reason']}")
    return 0


def serve_command(args) -> int:
    """``lepton-codesign serve``: a batch sweep (or ``--search``), table and optional plot."""
    from lepton_codesign.tables import format_rows

    if args.plot:
        from lepton_codesign.cli import _check_plot_path

        _check_plot_path(args.plot)
    if not is_llm_model(args.model):
        from lepton_codesign.llm.configs import llm_config

        llm_config(args.model)  # raises with the allowed names and a did-you-mean
    specs = [_spec(s) for s in args.spec]
    if args.search:
        return _search_command(args, specs)
    if len(specs) > 1:
        raise ValueError("--spec given more than once; allowed: one spec (several only "
                         "with --search)")
    from lepton_codesign.llm.search import int_list

    devices = int_list("--devices", args.devices)
    if len(devices) > 1:
        raise ValueError(f"--devices {args.devices!r}: a list needs --search; allowed: one "
                         "integer >= 1")
    n = devices[0]
    split = parse_parallel(args.parallel, n)
    kv = int_list("--kv-bits", args.kv_bits)[0] if args.kv_bits else None
    quant = resolve_quant(args.quant, kv_bits=kv)
    rows = serve_sweep(args.model, spec=specs[0], devices=n, split=split, quant=quant,
                       batches=sweep_batches(args.batches), prompt=args.prompt,
                       output=args.output, interconnect=args.interconnect)
    if args.format != "table":
        print(format_rows(rows, args.format), end="" if args.format == "csv" else "\n")
    else:
        print(f"{args.model} on {n} x {specs[0].name} ({rows[0]['split']}, {quant['name']}), "
              f"{args.prompt} prompt / {args.output} output tokens\n")
        print(format_rows(_display(rows), "table"))
    if args.plot:
        plot_sweep(rows, args.plot)
        print(f"\nplot written to {args.plot}")
    return 0


def _search_command(args, specs) -> int:
    from lepton_codesign.llm.search import int_list, llm_search, parse_objectives
    from lepton_codesign.tables import format_rows

    if args.parallel:
        raise ValueError("--parallel with --search: the search enumerates the splits; "
                         "allowed: leave --parallel out")
    quants = tuple(q.strip() for q in args.quant.split(",") if q.strip())
    for q in quants:
        resolve_quant(q)
    res = llm_search(args.model, specs, devices=int_list("--devices", args.devices),
                     batches=sweep_batches(args.batches), quants=quants,
                     kv_bits=int_list("--kv-bits", args.kv_bits) if args.kv_bits else (16,),
                     prompt=args.prompt, output=args.output, tpot_slo_s=args.tpot_slo,
                     ttft_slo_s=args.ttft_slo, objectives=parse_objectives(args.objectives),
                     interconnect=args.interconnect)
    front = res["front"]
    if args.format != "table":
        print(format_rows(front, args.format), end="" if args.format == "csv" else "\n")
    else:
        ok = sum(r["violation"] == 0 for r in res["rows"])
        print(f"{len(res['rows'])} designs priced, {ok} feasible within the SLOs, "
              f"{len(front)} on the Pareto front of {', '.join(res['objectives'])}\n")
        print(format_rows(_display(front), "table") if front else
              "no design fits memory and meets the SLOs")
    if args.plot and front:
        plot_front(res, args.plot)
        print(f"\nplot written to {args.plot}")
    return 0


def plot_sweep(rows: list[dict], path: str) -> None:
    """TPOT and tokens/s against batch (matplotlib object-oriented API, no pyplot)."""
    from matplotlib.figure import Figure

    ok = [r for r in rows if r["feasible"]]
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([r["batch"] for r in ok], [1e3 * r["tpot_s"] for r in ok], "o-", color="C0")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch (sequences in flight per replica)")
    ax.set_ylabel("time per output token (ms)", color="C0")
    ax2 = ax.twinx()
    ax2.plot([r["batch"] for r in ok], [r["tokens_per_s"] for r in ok], "s--", color="C1")
    ax2.set_ylabel("output tokens/s (all replicas)", color="C1")
    if rows:
        ax.set_title(f"{rows[0]['model']} on {rows[0]['devices']} x {rows[0]['spec']} "
                     f"({rows[0]['split']}, {rows[0]['quant']})")
    fig.savefig(path, dpi=120)


def plot_front(res: dict, path: str) -> None:
    """The first two objectives of every feasible design, the front highlighted."""
    from matplotlib.figure import Figure

    from lepton_codesign.llm.search import OBJECTIVES

    kx, ky = (OBJECTIVES[o] for o in res["objectives"][:2])
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.add_subplot()
    ok = [r for r in res["rows"] if r["violation"] == 0]
    ax.scatter([r[kx] for r in ok], [r[ky] for r in ok], s=10, color="0.6", label="feasible")
    ax.scatter([r[kx] for r in res["front"]], [r[ky] for r in res["front"]], s=24,
               color="C3", label="Pareto front")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(kx)
    ax.set_ylabel(ky)
    ax.set_title(f"front of {', '.join(res['objectives'])} (first two shown)")
    ax.legend()
    fig.savefig(path, dpi=120)
