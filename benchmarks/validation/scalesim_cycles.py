"""Validate ``hw_models`` compute cycles against the real SCALE-Sim v3, row for row.

Runs SCALE-Sim 3.0.0 (in its own venv: it needs ``numpy<2.4``) on 33 layer shapes
(GEMM / transformer / MLP, conv, strided conv, 1x1 conv, non-square kernels and inputs,
depthwise) x 4 PE arrays (8x8, 32x32, 16x64, 24x12) x 3 dataflows = 396 runs, and
compares its reported compute cycles
(``COMPUTE_REPORT.csv`` "Total Cycles", which must come with 0 stall cycles) with
``hw_models.evaluate(...).compute_cycles``. Writes
``benchmarks/validation/results/scalesim_agreement.{csv,md}`` and prints
``exact N / M``; exits non-zero on any mismatch.

Usage::

    python benchmarks/validation/scalesim_cycles.py               # full run (~2-4 min)
    python benchmarks/validation/scalesim_cycles.py --quick        # 6 layers
    python benchmarks/validation/scalesim_cycles.py --write-golden tests/data/scalesim_golden.json

The peer venv is created on first use under ``benchmarks/.peers/scalesim`` (or pass
``--peer-python`` / set ``SCALESIM_PYTHON``). This file only imports the standard
library at module level: the peer venv runs it with ``--worker`` to drive SCALE-Sim.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PEER_DIR = REPO / "benchmarks" / ".peers" / "scalesim"
PEER_REQUIREMENTS = ("scalesim==3.0.0", "numpy<2.4")  # scalesim fails with numpy>=2.4
RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_ARRAYS = ((8, 8), (32, 32), (16, 64), (24, 12))
DATAFLOWS = ("os", "ws", "is")
F32_EXACT = 2**24  # float32 represents every integer below this exactly


def gemm(name, m, k, n, source):
    return {"kind": "gemm", "name": name, "m": m, "k": k, "n": n, "source": source}


def conv(name, in_hw, in_ch, out_ch, kernel, stride=1, padding=0, groups=1, source=""):
    return {"kind": "conv", "name": name, "in_hw": list(in_hw), "in_ch": in_ch,
            "out_ch": out_ch, "kernel": list(kernel), "stride": stride,
            "padding": padding, "groups": groups, "source": source}


# Shapes of real networks, scaled down (spatial and/or channels) so that SCALE-Sim, a
# cycle-by-cycle Python simulator, finishes the 33 x 9 runs in minutes.
LAYERS = [
    gemm("tf_qkv", 32, 64, 192, "transformer QKV proj (32 tok, d=64)"),
    gemm("tf_scores", 32, 32, 32, "attention QK^T (1 head, d_h=32)"),
    gemm("tf_attn_v", 32, 32, 48, "attention AV"),
    gemm("tf_out_proj", 32, 64, 64, "transformer output proj"),
    gemm("tf_ffn_up", 32, 64, 256, "transformer FFN up"),
    gemm("tf_ffn_down", 32, 256, 64, "transformer FFN down"),
    gemm("mlp_fc1_b1", 1, 784, 128, "MNIST MLP fc1, batch 1"),
    gemm("r18_fc_b1", 1, 512, 10, "ResNet-18 classifier (10 classes), batch 1"),
    gemm("mlp_b16", 16, 100, 100, "MLP hidden, batch 16"),
    gemm("odd_primes", 37, 53, 29, "odd sizes"),
    gemm("tall_thin", 200, 9, 5, "tall-skinny"),
    conv("r18_conv1", (32, 32), 3, 16, (7, 7), 2, 3, source="ResNet-18 stem /4 ch, 32px"),
    conv("r18_l1_conv", (8, 8), 16, 16, (3, 3), 1, 1, source="ResNet-18 layer1 conv"),
    conv("r18_l2_down", (8, 8), 16, 32, (3, 3), 2, 1, source="ResNet-18 layer2 conv1 (s2)"),
    conv("r18_l2_conv", (4, 4), 32, 32, (3, 3), 1, 1, source="ResNet-18 layer2 conv2"),
    conv("r18_l2_short", (8, 8), 16, 32, (1, 1), 2, 0, source="ResNet-18 1x1 s2 shortcut"),
    conv("r18_l3_down", (4, 4), 32, 64, (3, 3), 2, 1, source="ResNet-18 layer3 conv1 (s2)"),
    conv("r18_l3_short", (4, 4), 32, 64, (1, 1), 2, 0, source="ResNet-18 1x1 s2 shortcut"),
    conv("r18_l4_conv", (2, 2), 64, 64, (3, 3), 1, 1, source="ResNet-18 layer4 conv2"),
    conv("mb_conv1", (32, 32), 3, 16, (3, 3), 2, 1, source="MobileNet stem (s2)"),
    conv("mb_pw1", (16, 16), 16, 32, (1, 1), source="MobileNet pointwise"),
    conv("mb_pw2", (8, 8), 32, 64, (1, 1), source="MobileNet pointwise"),
    conv("mb_pw3", (4, 4), 64, 128, (1, 1), source="MobileNet pointwise"),
    conv("mb_dw1", (16, 16), 8, 8, (3, 3), 1, 1, groups=8, source="MobileNet depthwise"),
    conv("mb_dw2_s2", (16, 16), 8, 8, (3, 3), 2, 1, groups=8, source="MobileNet dw (s2)"),
    conv("lenet_c1", (28, 28), 1, 6, (5, 5), source="LeNet-5 conv1"),
    conv("lenet_c2", (12, 12), 6, 16, (5, 5), source="LeNet-5 conv2"),
    conv("vgg_like", (16, 16), 8, 24, (3, 3), 1, 1, source="VGG-style 3x3"),
    conv("conv5x5_s2", (20, 20), 8, 16, (5, 5), 2, 2, source="5x5 stride 2"),
    conv("conv1x3_rect", (12, 20), 8, 16, (1, 3), source="1x3 kernel, non-square input"),
    conv("conv3x3_s3", (17, 17), 4, 12, (3, 3), 3, source="stride 3, odd size"),
    conv("pw_wide", (7, 7), 128, 96, (1, 1), source="1x1, 128->96 channels"),
    conv("conv_valid", (10, 10), 8, 8, (3, 3), source="3x3, no padding"),
]
QUICK = ("tf_scores", "odd_primes", "r18_l2_down", "mb_pw1", "mb_dw2_s2", "conv1x3_rect")


# --------------------------------------------------------------------------- peer side
def topology_row(layer: dict) -> tuple[bool, list]:
    """``(is_gemm, row)`` of a SCALE-Sim topology CSV for one layer spec.

    GEMM rows are ``name, M, N, K`` (SCALE-Sim's order). Conv rows are ``name, H, W,
    kh, kw, C, filters, stride``. SCALE-Sim has no padding and sizes its output in ceil
    mode, ``ceil((H - kh + s) / s)``, where frameworks (and ``hw_models.conv_layer``)
    use ``floor((H + 2p - kh) / s) + 1``; so the input given is the extent the conv
    actually reads, ``(out - 1) * s + kh``, which makes both describe the same conv.
    Depthwise layers use SCALE-Sim's ``DP`` naming: it simulates one layer per channel
    (1 channel, 1 filter each), and the script sums them.
    """
    if layer["kind"] == "gemm":
        return True, [layer["name"], layer["m"], layer["n"], layer["k"]]
    (h, w), (kh, kw), p, s = layer["in_hw"], layer["kernel"], layer["padding"], layer["stride"]
    name, cin, cout = layer["name"], layer["in_ch"], layer["out_ch"]
    out_h, out_w = (h + 2 * p - kh) // s + 1, (w + 2 * p - kw) // s + 1
    if layer["groups"] != 1:
        if not layer["groups"] == cin == cout:
            raise ValueError(f"{name}: SCALE-Sim only models depthwise grouping")
        name, cout = f"{name}_DP", 1
    return False, [name, (out_h - 1) * s + kh, (out_w - 1) * s + kw, kh, kw, cin, cout, s]


_CONFIG = """[general]
run_name = run

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: 1024
FilterSramSzkB: 1024
OfmapSramSzkB: 1024
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: 10,10,10
Dataflow: {dataflow}
MemoryBanks: 1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""


def _run_one_scalesim(job: dict, workdir: Path) -> dict:
    """Run SCALE-Sim on one topology (inside the peer venv); totals over its layers."""
    from scalesim.scale_sim import scalesim  # noqa: PLC0415 (peer venv only)

    (workdir / "c.cfg").write_text(_CONFIG.format(**job))
    rows = job["topology"]
    names = [str(r[0]) for r in rows]
    (workdir / "t.csv").write_text(
        "Layer, a, b, c,\n" + "".join(",".join(map(str, r)) + ",\n" for r in rows))
    # The layout file is parsed even when custom layouts are off; its values are unused.
    (workdir / "l.csv").write_text(
        "Layer name, a,\n" + "".join(n + "," + ",".join(["1"] * 20) + ",\n" for n in names))
    out = workdir / "out"
    t0, c0 = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):
        sim = scalesim(save_disk_space=True, verbose=False, config=str(workdir / "c.cfg"),
                       topology=str(workdir / "t.csv"), layout=str(workdir / "l.csv"),
                       input_type_gemm=job["gemm"])
        sim.run_scale(top_path=str(out))
    wall_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    with open(out / "run" / "COMPUTE_REPORT.csv") as f:
        report = [[c.strip() for c in line] for line in csv.reader(f)][1:]
    shutil.rmtree(out)
    return {"id": job["id"], "total_cycles": sum(int(r[2]) for r in report if r),
            "stall_cycles": sum(int(r[3]) for r in report if r),
            "layers_reported": sum(1 for r in report if r), "wall_s": wall_s,
            "cpu_s": cpu_s}


def worker_main(jobs_path: str, results_path: str) -> None:
    """Entry point inside the peer venv: run every job, write results JSON."""
    from importlib.metadata import version  # noqa: PLC0415

    jobs = json.loads(Path(jobs_path).read_text())
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, job in enumerate(jobs):
            results.append(_run_one_scalesim(job, Path(tmp)))
            print(f"  scalesim {i + 1}/{len(jobs)} {job['id']}: "
                  f"{results[-1]['total_cycles']} cycles, {results[-1]['wall_s']:.2f} s",
                  file=sys.stderr, flush=True)
    Path(results_path).write_text(json.dumps(
        {"scalesim_version": version("scalesim"), "numpy_version": version("numpy"),
         "results": results}))


# --------------------------------------------------------------------------- host side
def peer_python(explicit: str | None = None) -> str:
    """Python of the SCALE-Sim venv, creating ``benchmarks/.peers/scalesim`` if needed."""
    explicit = explicit or os.environ.get("SCALESIM_PYTHON")
    if explicit:
        return explicit
    py = PEER_DIR / "bin" / "python"
    if not py.exists():
        print(f"creating SCALE-Sim venv in {PEER_DIR} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(PEER_DIR)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *PEER_REQUIREMENTS],
                       check=True)
    return str(py)


def run_scalesim_jobs(jobs: list[dict], python: str, nice: int = 10) -> dict:
    """Run SCALE-Sim jobs in one niced subprocess of the peer venv; results by id."""
    with tempfile.TemporaryDirectory() as tmp:
        jobs_path, res_path = Path(tmp) / "jobs.json", Path(tmp) / "results.json"
        jobs_path.write_text(json.dumps(jobs))
        cmd = [python, __file__, "--worker", str(jobs_path), str(res_path)]
        if shutil.which("nice"):  # (not preexec_fn: that forks a multithreaded JAX process)
            cmd = ["nice", "-n", str(nice), *cmd]
        subprocess.run(cmd, check=True)
        return json.loads(res_path.read_text())


def make_job(job_id: str, layer: dict, rows: int, cols: int, dataflow: str) -> dict:
    is_gemm, row = topology_row(layer)
    return {"id": job_id, "rows": rows, "cols": cols, "dataflow": dataflow,
            "gemm": is_gemm, "topology": [row]}


def hw_layer(layer: dict) -> dict:
    """The ``hw_models`` per-layer dict of a layer spec (via ``conv_layer``)."""
    from lepton_codesign import hw_models as hw  # noqa: PLC0415

    if layer["kind"] == "gemm":
        return {"name": layer["name"], "m": layer["m"], "k": layer["k"], "n": layer["n"]}
    return hw.conv_layer(layer["name"], tuple(layer["in_hw"]), layer["in_ch"],
                         layer["out_ch"], tuple(layer["kernel"]), layer["stride"],
                         layer["padding"], layer["groups"])


def model_cycles(layers: list[dict], rows: int, cols: int, dataflow: str) -> list[int]:
    """``hw_models.evaluate(...).compute_cycles`` per layer, as exact integers."""
    import numpy as np  # noqa: PLC0415

    from lepton_codesign import hw_models as hw  # noqa: PLC0415

    wl = hw.make_workload([hw_layer(layer) for layer in layers])
    cyc = np.asarray(hw.evaluate(wl, hw.AsicSpec(rows, cols, dataflow)).compute_cycles)
    if np.any(cyc >= F32_EXACT) or np.any(cyc != np.round(cyc)):
        raise ValueError("cycle counts too large to be exact in float32; use smaller layers")
    return [int(c) for c in cyc]


def compare(layers, arrays, dataflows, python) -> tuple[list[dict], dict]:
    jobs, keys = [], []
    for rows, cols in arrays:
        for df in dataflows:
            for layer in layers:
                key = f"{layer['name']}@{rows}x{cols}/{df}"
                jobs.append(make_job(key, layer, rows, cols, df))
                keys.append((layer, rows, cols, df))
    print(f"running SCALE-Sim on {len(jobs)} (layer, array, dataflow) cases ...",
          file=sys.stderr)
    peer = run_scalesim_jobs(jobs, python)
    by_id = {r["id"]: r for r in peer["results"]}
    ours = {(r, c, df): dict(zip([la["name"] for la in layers],
                                 model_cycles(layers, r, c, df), strict=True))
            for r, c in arrays for df in dataflows}
    rows_out = []
    for job, (layer, r, c, df) in zip(jobs, keys, strict=True):
        res, hl = by_id[job["id"]], hw_layer(layer)
        mine = ours[(r, c, df)][layer["name"]]
        rows_out.append({
            "layer": layer["name"], "kind": layer["kind"] if hl.get("groups", 1) == 1
            else "depthwise", "m": hl["m"], "k": hl["k"], "n": hl["n"],
            "groups": hl.get("groups", 1), "array": f"{r}x{c}", "dataflow": df,
            "scalesim_cycles": res["total_cycles"], "scalesim_stalls": res["stall_cycles"],
            "model_cycles": mine, "diff": mine - res["total_cycles"],
            "exact": mine == res["total_cycles"] and res["stall_cycles"] == 0,
            "scalesim_wall_s": round(res["wall_s"], 3), "source": layer["source"],
            "spec": layer, "rows": r, "cols": c})
    return rows_out, peer


def write_tables(rows: list[dict], meta: dict, out_dir: Path) -> str:
    out_dir.mkdir(parents=True, exist_ok=True)
    cols = ["layer", "kind", "m", "k", "n", "groups", "array", "dataflow",
            "scalesim_cycles", "scalesim_stalls", "model_cycles", "diff", "exact",
            "scalesim_wall_s", "source"]
    with open(out_dir / "scalesim_agreement.csv", "w", newline="") as f:
        w = csv.DictWriter(f, cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    n_exact = sum(r["exact"] for r in rows)
    lines = [f"# SCALE-Sim agreement ({meta['date']})", "",
             f"`{meta['command']}` on {meta['machine']}; SCALE-Sim "
             f"{meta['scalesim_version']} (numpy {meta['numpy_version']}), "
             f"{meta['scalesim_wall_s']:.0f} s of SCALE-Sim time.", "",
             f"**exact: {n_exact} / {len(rows)}** (model == SCALE-Sim \"Total Cycles\", "
             "0 stall cycles).", "", "| array | dataflow | exact | max abs diff |",
             "|---|---|---|---|"]
    for arr in dict.fromkeys(r["array"] for r in rows):
        for df in dict.fromkeys(r["dataflow"] for r in rows):
            sel = [r for r in rows if r["array"] == arr and r["dataflow"] == df]
            lines.append(f"| {arr} | {df} | {sum(r['exact'] for r in sel)} / {len(sel)} | "
                         f"{max(abs(r['diff']) for r in sel)} |")
    lines += ["", "| " + " | ".join(cols[:-2]) + " |", "|" + "---|" * (len(cols) - 2)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols[:-2]) + " |" for r in rows]
    text = "\n".join(lines) + "\n"
    (out_dir / "scalesim_agreement.md").write_text(text)
    return text


def write_golden(rows: list[dict], meta: dict, path: Path, per_config: int = 2) -> None:
    """Pin a deterministic subset: ``per_config`` layers per (array, dataflow), rotating."""
    cases, configs = [], list(dict.fromkeys((r["array"], r["dataflow"]) for r in rows))
    names = list(dict.fromkeys(r["layer"] for r in rows))
    for i, (arr, df) in enumerate(configs):
        pick = {names[(i * per_config + j) * 5 % len(names)] for j in range(per_config)}
        for r in rows:
            if r["array"] == arr and r["dataflow"] == df and r["layer"] in pick:
                cases.append({"layer": r["spec"], "rows": r["rows"], "cols": r["cols"],
                              "dataflow": df, "scalesim_cycles": r["scalesim_cycles"],
                              "scalesim_stalls": r["scalesim_stalls"]})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "description": "SCALE-Sim v3 compute cycles (COMPUTE_REPORT.csv 'Total Cycles') "
                       "for a subset of benchmarks/validation/scalesim_cycles.py",
        "regenerate": "python benchmarks/validation/scalesim_cycles.py "
                      f"--write-golden {path.relative_to(REPO)}",
        "scalesim_version": meta["scalesim_version"], "date": meta["date"],
        "cases": cases}, indent=1) + "\n")
    print(f"wrote {len(cases)} golden cases to {path}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", nargs=2, metavar=("JOBS", "RESULTS"), help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help=f"only {len(QUICK)} layers")
    ap.add_argument("--arrays", default=",".join(f"{r}x{c}" for r, c in DEFAULT_ARRAYS))
    ap.add_argument("--dataflows", default=",".join(DATAFLOWS))
    ap.add_argument("--peer-python", help="python of an existing SCALE-Sim venv")
    ap.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    ap.add_argument("--write-golden", type=Path, help="also write a pinned subset (JSON)")
    args = ap.parse_args(argv)
    if args.worker:
        worker_main(*args.worker)
        return 0
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    layers = [la for la in LAYERS if not args.quick or la["name"] in QUICK]
    arrays = [tuple(int(v) for v in a.split("x")) for a in args.arrays.split(",")]
    dataflows = args.dataflows.split(",")
    t0 = time.perf_counter()
    rows, peer = compare(layers, arrays, dataflows, peer_python(args.peer_python))
    meta = {"date": datetime.date.today().isoformat(),
            "command": "python benchmarks/validation/scalesim_cycles.py "
                       + " ".join(argv if argv is not None else sys.argv[1:]),
            "machine": f"{platform.machine()} {os.cpu_count()} CPUs, {platform.system()}",
            "scalesim_version": peer["scalesim_version"],
            "numpy_version": peer["numpy_version"],
            "scalesim_wall_s": sum(r["scalesim_wall_s"] for r in rows)}
    text = write_tables(rows, meta, args.out_dir)
    print("\n".join(text.splitlines()[:6 + 3 + len(arrays) * len(dataflows)]))
    if args.write_golden:
        write_golden(rows, meta, args.write_golden.resolve())
    n_exact = sum(r["exact"] for r in rows)
    print(f"exact {n_exact} / {len(rows)} ({time.perf_counter() - t0:.0f} s total)")
    return 0 if n_exact == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
