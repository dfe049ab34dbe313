"""Validate the FPGA cost model against published FPGA datapoints; write the error table.

Run:  python benchmarks/validation/fpga_published.py  [--out DIR]
Writes ``results/fpga_published.md`` (and prints it). Takes a few seconds.

Datapoints (every model constant is the library default or a board fact named next to it;
one default, ``FpgaSpec.overlay_layer_overhead_cycles``, is calibrated on the ZCU102 rows by
``dpu_calibrate.py``: those rows are marked ``calibration``, the held-out ZCU104 and KV260
rows ``validation``; nothing is fitted to the FINN rows):

* FINN (Umuroglu et al., FPGA 2017, arXiv 1612.07119, abstract) on a ZC706 [C]: SFC-max
  (MNIST, W1A1) 12.3 M images/s at 0.31 us; CNV-max (CIFAR-10, W1A1) 21,906 images/s at
  283 us; "less than 25 W total system power".
* Vitis AI DPU (DPUCZDX8G B4096), Vitis AI 1.3 Model Zoo README (Xilinx/Vitis-AI
  ``models/AI-Model-Zoo/README.md``, tables "Performance on ZCU102 (0432055-05)" and
  "Performance on ZCU104") [C]: end-to-end latency with one thread and throughput with
  several threads, for ResNet-50 / ResNet-18 / MobileNet-V2 (Caffe) and VGG-16 (TF).
* DPU B4096 on KV260 at 300 MHz, Vitis AI model zoo "Performance on Kria KV260 SOM"
  fps [S] (third-party transcription; primary table not retrieved here).

The network builders below are also used by ``gpu_published.py``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models.fpga_spec import FpgaSpec

HERE = Path(__file__).resolve().parent


# --------------------------------------------------------------------- networks
def _conv(layers, name, hw_in, cin, cout, k, stride=1, pad=None, groups=1, batch=1):
    pad = k // 2 if pad is None else pad
    layers.append(hw.conv_layer(name, hw_in, cin, cout, (k, k), stride, pad, groups, batch))
    out = (hw_in[0] + 2 * pad - k) // stride + 1
    return (out, out)


def resnet(depth: int = 50, batch: int = 1, v15: bool = True) -> hw.Workload:
    """ResNet-18/50 at 224x224. ``v15``: stride on the 3x3 (torchvision, MLPerf v1.5);
    else on the first 1x1 (original Caffe ResNet-50 v1, 7.7 GOPs)."""
    L: list = []
    s = _conv(L, "conv1", (224, 224), 3, 64, 7, 2, 3, batch=batch)
    s = (s[0] // 2, s[1] // 2)  # 3x3/2 max pool
    cin = 64
    stages = [(64, 2), (128, 2), (256, 2), (512, 2)] if depth == 18 else \
        [(64, 3), (128, 4), (256, 6), (512, 3)]
    for si, (width, blocks) in enumerate(stages):
        for b in range(blocks):
            st = 2 if (b == 0 and si > 0) else 1
            p = f"s{si}b{b}"
            cout = width if depth == 18 else width * 4
            if depth == 18:
                o = _conv(L, p + "c1", s, cin, width, 3, st, batch=batch)
                _conv(L, p + "c2", o, width, width, 3, 1, batch=batch)
            else:
                o = _conv(L, p + "c1", s, cin, width, 1, 1 if v15 else st, 0, batch=batch)
                o = _conv(L, p + "c2", o, width, width, 3, st if v15 else 1, batch=batch)
                _conv(L, p + "c3", o, width, cout, 1, 1, 0, batch=batch)
            if st != 1 or cin != cout:
                _conv(L, p + "down", s, cin, cout, 1, st, 0, batch=batch)
            s = (s[0] // st, s[1] // st)
            cin = cout
    L.append({"name": "fc", "m": batch, "k": cin, "n": 1000})
    return hw.make_workload(L, batch=batch)


def mobilenet_v2(batch: int = 1) -> hw.Workload:
    """MobileNet-V2 1.0 at 224x224 (~300 M MACs)."""
    L: list = []
    s = _conv(L, "conv1", (224, 224), 3, 32, 3, 2, batch=batch)
    cin = 32
    cfg = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
           (6, 160, 3, 2), (6, 320, 1, 1)]
    for bi, (t, c, n, st0) in enumerate(cfg):
        for i in range(n):
            st, p, hid = (st0 if i == 0 else 1), f"b{bi}_{i}", cin * t
            o = s
            if t != 1:
                o = _conv(L, p + "exp", s, cin, hid, 1, 1, 0, batch=batch)
            o = _conv(L, p + "dw", o, hid, hid, 3, st, groups=hid, batch=batch)
            s = _conv(L, p + "proj", o, hid, c, 1, 1, 0, batch=batch)
            cin = c
    s = _conv(L, "conv_last", s, cin, 1280, 1, 1, 0, batch=batch)
    L.append({"name": "fc", "m": batch, "k": 1280, "n": 1000})
    return hw.make_workload(L, batch=batch)


def vgg16(batch: int = 1) -> hw.Workload:
    L: list = []
    s, cin = (224, 224), 3
    for si, (c, n) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]):
        for i in range(n):
            s = _conv(L, f"c{si}_{i}", s, cin, c, 3, batch=batch)
            cin = c
        s = (s[0] // 2, s[1] // 2)
    for i, (k, n) in enumerate([(512 * 7 * 7, 4096), (4096, 4096), (4096, 1000)]):
        L.append({"name": f"fc{i}", "m": batch, "k": k, "n": n})
    return hw.make_workload(L, batch=batch)


def finn_sfc(batch: int = 1) -> hw.Workload:
    dims = [(784, 256), (256, 256), (256, 256), (256, 10)]
    return hw.gemm_workload([(batch, k, n) for k, n in dims], batch=batch)


def finn_cnv(batch: int = 1) -> hw.Workload:
    """FINN CNV: (2x64C3)-MP2-(2x128C3)-MP2-(2x256C3)-(2x512FC)-10, unpadded 3x3 convs."""
    L: list = []
    s, cin = (32, 32), 3
    for i, c in enumerate([64, 64, 128, 128, 256, 256]):
        s = _conv(L, f"conv{i}", s, cin, c, 3, 1, 0, batch=batch)
        cin = c
        if i in (1, 3):
            s = (s[0] // 2, s[1] // 2)
    for i, (k, n) in enumerate([(256, 512), (512, 512), (512, 10)]):
        L.append({"name": f"fc{i}", "m": batch, "k": k, "n": n})
    return hw.make_workload(L, batch=batch)


# --------------------------------------------------------------------- boards
# XC7Z045 on the ZC706: 218,600 LUT, 437,200 FF, 900 DSP, 545 BRAM36 [U] (AMD DS190,
# from memory); 28 nm [C]; FINN's designs run at 200 MHz [U]; PS DDR3-1066 32-bit [U].
ZC706 = FpgaSpec(lut=218600.0, ff=437200.0, dsp=900.0, bram18=1090.0, freq_hz=200e6,
                 node_nm=28.0, dram_bandwidth_bytes_per_s=4.26e9, static_power_w=5.0,
                 board_price_usd=2495.0, name="zc706")


def dpu(board: str, freq_hz: float, cores: int, macs: float = 2048.0) -> FpgaSpec:
    """One of ``cores`` Vitis AI DPU cores on a board preset: B4096 = 2048 INT8 MACs per
    cycle, ICP = OCP = 16, DSPs at 2x the fabric clock (AMD PG338 [C/S]). Each core gets
    1/cores of the board's resources (on-chip buffers)."""
    base = hw.preset(board)
    return base.replace(
        architecture="overlay", freq_hz=freq_hz, overlay_macs=macs, overlay_tile_k=16.0,
        overlay_tile_n=16.0, dsp_clock_ratio=2.0, lut=base.lut / cores, ff=base.ff / cores,
        dsp=base.dsp / cores, bram18=base.bram18 / cores, uram=base.uram / cores,
        name=f"{board}-dpu")


# Vitis AI 1.3 model zoo: board -> (DPU clock, cores, {net: (latency_s, multi-thread fps)})
DPU_PUBLISHED = {
    "zcu102": (281e6, 3, {"ResNet-50 (cf, 7.7 GOPs)": (14.1e-3, 164.7),
                          "ResNet-18 (cf)": (5.55e-3, 469.1),
                          "MobileNet-V2 (cf)": (4.08e-3, 712.0),
                          "VGG-16 (tf)": (50.06e-3, 40.5)}),
    "zcu104": (300e6, 2, {"ResNet-50 (cf, 7.7 GOPs)": (13.29e-3, 144.7),
                          "ResNet-18 (cf)": (5.27e-3, 409.7),
                          "MobileNet-V2 (cf)": (3.92e-3, 589.3)}),
}
# overlay_layer_overhead_cycles is calibrated on these rows only (dpu_calibrate.py); the
# ZCU104 and KV260 rows are held out.
CALIBRATION_BOARDS = ("zcu102",)


def dpu_nets() -> dict[str, hw.Workload]:
    return {"ResNet-50 (cf, 7.7 GOPs)": resnet(50, v15=False), "ResNet-18 (cf)": resnet(18),
            "MobileNet-V2 (cf)": mobilenet_v2(), "VGG-16 (tf)": vgg16()}


def dpu_model(wl: hw.Workload, board: str, freq_hz: float, cores: int,
              overhead: float | None = None) -> tuple[float, float]:
    """(1-thread latency, multi-thread throughput) of ``wl`` on ``cores`` DPU cores: the
    latency on one core with the board's full DRAM bandwidth, the throughput of all cores
    sharing it. ``overhead`` overrides ``overlay_layer_overhead_cycles`` (None: default)."""
    spec = dpu(board, freq_hz, cores)
    if overhead is not None:
        spec = spec.replace(overlay_layer_overhead_cycles=overhead)
    shared = spec.replace(dram_bandwidth_bytes_per_s=spec.dram_bandwidth_bytes_per_s / cores)
    lat = float(hw.evaluate(wl, spec).total_latency_s)
    fps = cores * float(hw.evaluate(wl, shared).extras["throughput_per_s"])
    return lat, fps


def rows(overhead: float | None = None) -> list[dict]:
    """Model vs published, one dict per datapoint (``overhead``: see ``dpu_model``)."""
    out = []
    w1a1 = lambda n: hw.make_compression(n, weight_bits=1, act_bits=1)  # noqa: E731
    sfc, cnv = finn_sfc(), finn_cnv()
    cnv_bits = hw.make_compression(cnv.num_layers, weight_bits=1,
                                   act_bits=[8] + [1] * (cnv.num_layers - 1))
    for name, wl, cp, fps, lat in [("FINN SFC-max (MNIST)", sfc, w1a1(4), 12.3e6, 0.31e-6),
                                   ("FINN CNV-max (CIFAR-10)", cnv, cnv_bits, 21906, 283e-6)]:
        c = hw.evaluate(wl, ZC706, cp)
        src = "FINN FPGA'17 abstract [C]"
        out.append(_row(name, "ZC706 dataflow", "throughput (img/s)",
                        float(c.extras["throughput_per_s"]), fps, src))
        out.append(_row(name, "ZC706 dataflow", "latency (s)", float(c.total_latency_s), lat,
                        src))
        out.append(_row(name, "ZC706 dataflow", "power (W), published < 25 W system",
                        float(c.power_w), 25.0, src, bound_only=True))
    zoo = "Vitis AI 1.3 Model Zoo README [C]"
    nets = dpu_nets()
    for board, (f, cores, table) in DPU_PUBLISHED.items():
        role = "calibration" if board in CALIBRATION_BOARDS else "validation"
        for net, (lat, fps) in table.items():
            lat_m, fps_m = dpu_model(nets[net], board, f, cores, overhead)
            where = f"{board.upper()} {cores}xB4096 @{f / 1e6:.0f} MHz"
            out.append(_row(net, where, "latency, 1 thread (s)", lat_m, lat, zoo, role=role))
            out.append(_row(net, where, "throughput, multi-thread (img/s)", fps_m, fps, zoo,
                            role=role))
    kv_src = "Vitis AI model zoo, KV260 table, via third-party transcription [S]"
    for net, wl, fps in [("ResNet-50 (tf, 6.97 GOPs)", resnet(50, v15=False), 94.21),
                         ("MobileNet-V2 (tf)", mobilenet_v2(), 290.62)]:
        _, fps_m = dpu_model(wl, "kv260", 300e6, 1, overhead)
        out.append(_row(net, "KV260 1xB4096 @300 MHz", "throughput (img/s)", fps_m, fps,
                        kv_src, role="validation"))
    return out


def _row(net, where, metric, model, published, source, bound_only=False, role="-"):
    err = "model <= bound" if bound_only and model <= published else \
        f"{(model - published) / published:+.0%}"
    return {"network": net, "hardware": where, "metric": metric, "model": model,
            "published": published, "error": err, "role": role, "source": source}


def summary(table: list[dict]) -> str:
    """Median and max |error| per metric kind (rows with a numeric error only)."""
    groups: dict[str, list[float]] = {}
    for r in table:
        if r["error"].endswith("%"):
            family = "FINN dataflow" if r["network"].startswith("FINN") else \
                f"DPU overlay ({r['role']} rows)"
            kind = family + " " + r["metric"].split(" (")[0].split(",")[0]
            groups.setdefault(kind, []).append(abs(r["model"] / r["published"] - 1))
    return "".join(f"- {k}: median |error| {statistics.median(v):.0%}, max {max(v):.0%} "
                   f"over {len(v)} rows\n" for k, v in groups.items())


def to_markdown(table: list[dict]) -> str:
    head = "| network | hardware | metric | model | published | error | role | source |\n" \
           "|---|---|---|---|---|---|---|---|\n"
    body = "".join(f"| {r['network']} | {r['hardware']} | {r['metric']} | {r['model']:.4g} | "
                   f"{r['published']:.4g} | {r['error']} | {r['role']} | {r['source']} |\n"
                   for r in table)
    return head + body


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args(argv)
    table = rows(args.batch) if hasattr(args, "batch") else rows()
    text = ("# FPGA model vs published datapoints\n\nGenerated by "
            "`python benchmarks/validation/fpga_published.py`. Error = (model - published) / "
            "published. One constant (the DPU per-layer overhead) is calibrated on the rows "
            "marked calibration (dpu_calibrate.py); rows marked validation are held out.\n\n"
            + to_markdown(table) + "\n" + summary(table))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "fpga_published.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
