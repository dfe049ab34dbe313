"""Throughput of the ASIC cost model vs SCALE-Sim, in one run.

Evaluates a ResNet-18 workload (ImageNet 224x224, batch 1, 21 conv/fc layers built with
``hw_models.conv_layer``) on a batch of random ``AsicSpec`` designs (one stacked pytree,
leading batch axis: PE rows/cols, the three SRAM sizes, DRAM bandwidth, clock, node and
dataflow codes all vary) with ``jax.jit(jax.vmap(evaluate))``, and reports
layer x design evaluations per second after compilation, twice: returning the full
per-layer ``Costs`` and returning only the search objectives (totals, area, dollars); and
the full ``Costs`` per CPU second of this process (what a loaded, shared machine still
measures fairly: a quiet one runs about that many per wall second per core used).
In the same run it times the real SCALE-Sim (peer venv, see
``benchmarks/validation/scalesim_cycles.py``) on a few of the same layers, checks that its
compute cycles equal ours, and prints the speed ratio per layer evaluation.

Usage::

    python benchmarks/cost_model_throughput.py                      # 1e5 designs
    python benchmarks/cost_model_throughput.py --designs 20000 --scalesim-layers l4_down,fc
    python benchmarks/cost_model_throughput.py --out benchmarks/results/throughput.md
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")


# benchmarks/compression.py shadows the ``compression`` package that jax imports
# (``from compression import zstd``): keep this folder off the import path.
sys.path[:] = [p for p in sys.path
               if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from lepton_codesign import hw_models as hw  # noqa: E402

HERE = Path(__file__).resolve().parent
NODES_NM = (7.0, 16.0, 28.0, 45.0, 65.0)
DEFAULT_SCALESIM_LAYERS = ("l3_down", "l4_down", "l4_conv1", "fc")
SCALESIM_ARRAY = (32, 32, "ws")


def _scalesim_module():
    """``benchmarks/validation/scalesim_cycles.py`` (peer-venv runner), by path."""
    spec = importlib.util.spec_from_file_location(
        "scalesim_cycles", HERE / "validation" / "scalesim_cycles.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def resnet18_layers() -> list[dict]:
    """Layer specs of torchvision's ResNet-18 at 224x224 (convs + fc; no pool/BN/ReLU)."""
    def cv(name, hw_in, cin, cout, k, s, p):
        return {"kind": "conv", "name": name, "in_hw": [hw_in, hw_in], "in_ch": cin,
                "out_ch": cout, "kernel": [k, k], "stride": s, "padding": p, "groups": 1,
                "source": "ResNet-18 (He et al. 2016), ImageNet 224x224"}

    layers = [cv("conv1", 224, 3, 64, 7, 2, 3)]
    layers += [cv(f"l1_conv{i}", 56, 64, 64, 3, 1, 1) for i in range(4)]
    size, cin = 56, 64
    for stage, cout in ((2, 128), (3, 256), (4, 512)):
        layers.append(cv(f"l{stage}_conv0", size, cin, cout, 3, 2, 1))
        layers.append(cv(f"l{stage}_down", size, cin, cout, 1, 2, 0))
        size //= 2
        layers += [cv(f"l{stage}_conv{i}", size, cout, cout, 3, 1, 1) for i in (1, 2, 3)]
        cin = cout
    layers.append({"kind": "gemm", "name": "fc", "m": 1, "k": 512, "n": 1000,
                   "source": "ResNet-18 classifier"})
    return layers


def workload(layers: list[dict]) -> hw.Workload:
    mod = _scalesim_module()
    return hw.make_workload([mod.hw_layer(layer) for layer in layers])


def random_designs(n: int, seed: int = 0, mapping: str = "best") -> hw.AsicSpec:
    """``n`` random designs as one ``AsicSpec`` whose every leaf has a leading axis ``n``."""
    rng = np.random.default_rng(seed)

    def log_uniform(lo, hi):
        return np.exp(rng.uniform(np.log(lo), np.log(hi), n)).astype(np.float32)

    f32 = lambda a: jnp.asarray(a, jnp.float32)
    spec = hw.AsicSpec(
        pe_rows=f32(rng.integers(4, 257, n)), pe_cols=f32(rng.integers(4, 257, n)),
        dataflow=jnp.asarray(rng.integers(0, 3, n), jnp.int32),
        freq_hz=f32(rng.uniform(0.2e9, 2.0e9, n)),
        ifmap_sram_bytes=f32(log_uniform(16 * 1024, 8 * 2**20)),
        filter_sram_bytes=f32(log_uniform(16 * 1024, 8 * 2**20)),
        ofmap_sram_bytes=f32(log_uniform(16 * 1024, 8 * 2**20)),
        dram_bandwidth_bytes_per_s=f32(log_uniform(4e9, 400e9)),
        node_nm=f32(rng.choice(NODES_NM, n)), mapping=mapping,
    )
    # Broadcast the remaining (default, scalar) fields so every leaf is batched.
    return jax.tree.map(lambda x: jnp.broadcast_to(jnp.asarray(x), (n,) + jnp.shape(x)[1:])
                        if jnp.ndim(x) == 0 else x, spec)


def time_fn(fn, *args, repeats: int) -> tuple[float, float, float]:
    """(compile + first run seconds, median wall seconds and median CPU seconds of this
    process over ``repeats`` later runs).

    CPU seconds (all threads) are what the evaluation costs whatever else runs on a
    shared machine; the wall time of a quiet machine is about CPU seconds / cores used.
    """
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    times, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return first, statistics.median(times), statistics.median(cpu)


def bench_model(wl: hw.Workload, designs: hw.AsicSpec, repeats: int) -> dict:
    n, n_layers = int(designs.pe_rows.shape[0]), wl.num_layers
    full = jax.jit(jax.vmap(lambda s: hw.evaluate(wl, s)))

    def objectives(s):
        c = hw.evaluate(wl, s)
        return (c.total_latency_s, c.total_energy_j, c.area_mm2, c.cost_usd, c.feasible)

    obj = jax.jit(jax.vmap(objectives))
    load = os.getloadavg()[0]  # other jobs on a shared machine slow the timings down
    compile_full, t_full, cpu_full = time_fn(full, designs, repeats=repeats)
    compile_obj, t_obj, _ = time_fn(obj, designs, repeats=repeats)
    # Sanity: the batched result for design 0 equals the unbatched evaluation.
    one = jax.tree.map(lambda x: x[0], designs)
    ref = hw.evaluate(wl, one)
    got = full(designs)
    np.testing.assert_allclose(np.asarray(got.compute_cycles[0]),
                               np.asarray(ref.compute_cycles), rtol=0)
    np.testing.assert_allclose(float(got.total_latency_s[0]), float(ref.total_latency_s),
                               rtol=1e-5)
    return {"designs": n, "layers": n_layers, "load": load, "compile_full_s": compile_full,
            "t_full_s": t_full, "evals_per_s_full": n * n_layers / t_full,
            "cpu_full_s": cpu_full, "evals_per_cpu_s_full": n * n_layers / cpu_full,
            "compile_obj_s": compile_obj, "t_obj_s": t_obj,
            "evals_per_s_obj": n * n_layers / t_obj}


def bench_scalesim(layers: list[dict], names: list[str], peer_python: str | None) -> list[dict]:
    mod = _scalesim_module()
    rows, cols, df = SCALESIM_ARRAY
    by_name = {la["name"]: la for la in layers}
    jobs = [mod.make_job(name, by_name[name], rows, cols, df) for name in names]
    res = mod.run_scalesim_jobs(jobs, mod.peer_python(peer_python))["results"]
    ours = dict(zip(names, mod.model_cycles([by_name[nm] for nm in names], rows, cols, df),
                    strict=True))
    # CPU time of the simulation (process_time): unaffected by `nice` and by other jobs.
    return [{"layer": r["id"], "scalesim_s": r["cpu_s"], "scalesim_wall_s": r["wall_s"],
             "scalesim_cycles": r["total_cycles"],
             "model_cycles": ours[r["id"]], "exact": ours[r["id"]] == r["total_cycles"]}
            for r in res]


def report(model: dict, peer: list[dict], command: str) -> str:
    date = datetime.date.today().isoformat()
    machine = (f"{platform.machine()}, {os.cpu_count()} CPUs (shared, load avg "
               f"{model['load']:.1f}), jax {jax.__version__}")
    per_eval_s = 1.0 / model["evals_per_s_full"]
    ss_mean = statistics.mean(p["scalesim_s"] for p in peer) if peer else float("nan")
    lines = [
        "| machine | date | command | designs x layers | compile s | evals/s (full Costs) "
        "| evals/s (objectives) | evals per CPU s (full Costs) | SCALE-Sim s / layer "
        "| speed ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {machine} | {date} | `{command}` | {model['designs']} x {model['layers']} | "
        f"{model['compile_full_s']:.1f} | {model['evals_per_s_full']:.3g} | "
        f"{model['evals_per_s_obj']:.3g} | {model['evals_per_cpu_s_full']:.3g} | "
        f"{ss_mean:.3g} | {ss_mean / per_eval_s:.3g}x |",
        "",
        f"SCALE-Sim 3.0.0 per layer ({SCALESIM_ARRAY[0]}x{SCALESIM_ARRAY[1]} "
        f"{SCALESIM_ARRAY[2].upper()}; CPU seconds of the simulation alone, excluding "
        "start-up and file I/O), vs one vmapped layer "
        f"evaluation ({per_eval_s:.3g} s):",
        "",
        "| layer | SCALE-Sim CPU s (wall s) | SCALE-Sim cycles | model cycles | exact "
        "| speed ratio |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {p['layer']} | {p['scalesim_s']:.2f} ({p['scalesim_wall_s']:.2f}) | "
              f"{p['scalesim_cycles']} | "
              f"{p['model_cycles']} | {p['exact']} | {p['scalesim_s'] / per_eval_s:.3g}x |"
              for p in peer]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--designs", type=int, default=100_000)
    ap.add_argument("--mapping", choices=("best", "scalesim"), default="best",
                    help="AsicSpec.mapping of every design (static; default best)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--scalesim-layers", default=",".join(DEFAULT_SCALESIM_LAYERS),
                    help="comma-separated ResNet-18 layer names ('' to skip SCALE-Sim)")
    ap.add_argument("--peer-python", help="python of an existing SCALE-Sim venv")
    ap.add_argument("--out", type=Path, help="also write the markdown table here")
    args = ap.parse_args(argv)
    command = "python benchmarks/cost_model_throughput.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    layers = resnet18_layers()
    wl = workload(layers)
    model = bench_model(wl, random_designs(args.designs, mapping=args.mapping), args.repeats)
    print(f"model: {model['designs']} designs x {model['layers']} layers; "
          f"compile {model['compile_full_s']:.1f} s; full Costs {model['t_full_s']:.3f} s "
          f"-> {model['evals_per_s_full']:.3g} evals/s; objectives only "
          f"{model['t_obj_s']:.3f} s -> {model['evals_per_s_obj']:.3g} evals/s; "
          f"{model['cpu_full_s']:.3f} CPU s (full) -> {model['evals_per_cpu_s_full']:.3g} "
          f"evals per CPU s; load avg {model['load']:.1f}")
    names = [s for s in args.scalesim_layers.split(",") if s]
    peer = bench_scalesim(layers, names, args.peer_python) if names else []
    text = report(model, peer, command.strip())
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("# Cost-model throughput\n\n" + text)
    return 0 if all(p["exact"] for p in peer) else 1


if __name__ == "__main__":
    sys.exit(main())
