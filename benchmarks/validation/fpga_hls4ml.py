"""Dataflow FPGA latency (cycles) and interval vs published hls4ml / FINN syntheses.

Run:  python benchmarks/validation/fpga_hls4ml.py  [--out DIR] [--calibrate]
Writes ``results/fpga_hls4ml.md`` (and prints it); ``--calibrate`` also prints the grid
search that chose ``fpga_pipeline.PIPELINE_STYLES["hls4ml"]``. About a minute on a CPU.

Rows, split by source (calibration rows choose the hls4ml stage counts; validation rows
are reported untouched):

* **calibration**: the jet-tagging MLP (16-64-32-32-5 + softmax, Duarte et al. 2018) of
  the hls4ml tutorial, C-synthesised with Vivado HLS 2019.2 for an xczu3eg at 5 ns; the
  reports are the executed outputs of ``fastmachinelearning/hls4ml-tutorial`` notebooks at
  commit ``f758e558`` [C]: part 1 (``ap_fixed<16,6>``, ReuseFactor 1: 13 cycles, II 1),
  part 2 (ReuseFactor 2: 18 cycles, II 2), part 4 (QKeras 6-bit, 75% pruned: 15, II 1).
* **validation**: (a) the same tutorial rebuilt with Vitis HLS 2024.1 for an xcu250
  (commit ``c6b63d37``) [C]: parts 1-4 (14/1, 13/2, pruned 12/1, QKeras 12/1); (b) the
  SVHN CNN of the tutorial part 6 (Aarrestad et al. 2021, arXiv 2101.05108; ``io_stream``,
  50% pruned, ``ap_fixed<16,6>`` and QKeras 6-bit), csynth reports committed in the
  tutorial (``pruned_cnn_reference/`` at ``2922f295``, ``quantized_pruned_cnn/`` at
  ``5a2b7c8``) [C]; (c) hls4ml C-synthesis unit-test baselines
  (``fastmachinelearning/hls4ml`` ``test/pytest/baselines``, toy layers from
  ``test_keras_api.py``) [C]; (d) FINN SFC-max / CNV-max on a ZC706 (Umuroglu et al.,
  FPGA'17, arXiv 1612.07119, abstract) [C], modelled in the default ``"rtl"`` style
  (no FINN row was used to calibrate).

C synthesis does not enforce the device's capacity (the part-1 report uses 3,915 DSPs of
the xczu3eg's 360), so every hls4ml row uses the xcu250 / xcvu13p totals (same die) and
sets the design's interval from its ReuseFactor (``target_interval_cycles``). The model
has no softmax layer: rows whose network ends in one add ``SOFTMAX_CYCLES``.
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

import jax

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models import fpga_pipeline as fp
from lepton_codesign.hw_models.fpga_spec import FpgaSpec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fpga_published import ZC706, finn_cnv, finn_sfc  # noqa: E402

HERE = Path(__file__).resolve().parent
SOFTMAX_CYCLES = 4.0  # [C] hls4ml tutorial part 4.1: the softmax "takes 3~5 cycles" (mid)
TUT = "fastmachinelearning/hls4ml-tutorial"
CAL = f"{TUT}@f758e558 (Vivado HLS 2019.2, xczu3eg)"
VAL = f"{TUT}@c6b63d37 (Vitis HLS 2024.1, xcu250)"
BASE = "fastmachinelearning/hls4ml test/pytest/baselines"
# xcu250 / xcvu13p totals as the csynth reports print them ("Available") [C]; a C-synthesised
# hls4ml IP has no DRAM (its ports are the I/O): DRAM bandwidth is set out of the way.
U250 = FpgaSpec(lut=1728000.0, ff=3456000.0, dsp=12288.0, bram18=5376.0, uram=1280.0,
                freq_hz=200e6, node_nm=16.0, dram_bandwidth_bytes_per_s=1e15, name="xcu250")
EVAL = jax.jit(hw.evaluate, static_argnames=("smooth",))


@dataclass
class Row:
    name: str
    wl: hw.Workload
    bits: tuple  # (weight bits, act bits), scalars or per-layer lists
    latency: float  # published, cycles (mean of best/worst)
    interval: float  # published, cycles
    role: str  # "calibration" | "validation"
    source: str
    style: str = "hls4ml"
    spec: FpgaSpec = U250
    over: dict = field(default_factory=dict)  # spec fields that are design inputs
    density: float = 1.0
    softmax: bool = False


def jet_mlp():
    return hw.gemm_workload([(1, 16, 64), (1, 64, 32), (1, 32, 32), (1, 32, 5)])


def svhn_cnn():
    c = hw.conv_layer
    return hw.make_workload([
        c("conv0", (32, 32), 3, 16, (3, 3), 1, 0), c("conv1", (15, 15), 16, 16, (3, 3), 1, 0),
        c("conv2", (6, 6), 16, 24, (3, 3), 1, 0),
        {"name": "d0", "m": 1, "k": 96, "n": 42}, {"name": "d1", "m": 1, "k": 42, "n": 64},
        {"name": "out", "m": 1, "k": 64, "n": 10}])


def table_rows() -> list[Row]:
    jet, cnn = jet_mlp(), svhn_cnn()
    par = {"io_bits_per_cycle": 16.0 * 16}  # io_parallel: the whole 16 x 16-bit input
    rf2 = {**par, "target_interval_cycles": 2.0}
    stream = {"io_bits_per_cycle": 3.0 * 16}  # io_stream: one RGB pixel per cycle
    rows = [
        Row("jet MLP, <16,6>, RF 1", jet, (16, 16), 13, 1, "calibration",
            f"{CAL} part1 report", over=par, softmax=True),
        Row("jet MLP, <16,6>, RF 2", jet, (16, 16), 18, 2, "calibration",
            f"{CAL} part2 report", over=rf2, softmax=True),
        Row("jet MLP, QKeras 6b, 75% pruned", jet, (6, 6), 15, 1, "calibration",
            f"{CAL} part4 report", over=par, density=0.25, softmax=True),
        Row("jet MLP, <16,6>, RF 1", jet, (16, 16), 14, 1, "validation",
            f"{VAL} part1 report", over=par, softmax=True),
        Row("jet MLP, <16,6>, RF 2", jet, (16, 16), 13, 2, "validation",
            f"{VAL} part2 report", over=rf2, softmax=True),
        Row("jet MLP, <16,6>, 75% pruned", jet, (16, 16), 12, 1, "validation",
            f"{VAL} part3 report", over=par, density=0.25, softmax=True),
        Row("jet MLP, QKeras 6b, 75% pruned", jet, (6, 6), 12, 1, "validation",
            f"{VAL} part4 report", over=par, density=0.25, softmax=True),
        Row("SVHN CNN, <16,6>, 50% pruned, io_stream", cnn, (16, 16), 1055, 1029,
            "validation", f"{TUT}@2922f295 pruned_cnn_reference/.../myproject_csynth.rpt "
            "(Vivado HLS 2020.1)", over=stream, density=0.5, softmax=True),
        Row("SVHN CNN, QKeras 6b, 50% pruned, io_stream", cnn, (6, 16), 1044, 1028,
            "validation", f"{TUT}@5a2b7c8 quantized_pruned_cnn/.../myproject_csynth.rpt "
            "(Vivado HLS 2020.1)", over=stream, density=0.5, softmax=True),
    ]
    dense, act = hw.gemm_workload([(1, 1, 2)]), hw.gemm_workload([(1, 1, 64)])
    conv = hw.make_workload([hw.conv_layer("conv", (28, 28), 3, 32, (4, 4), 4, 0)])
    one = {"io_bits_per_cycle": 16.0}
    for name, wl, lat, ii, path, over in [
        ("Dense 1-2 + ELU, io_parallel", dense, 2, 1,
         "Vivado/2020.1/test_dense-Vivado-io_parallel.json", one),
        ("Dense 1-2 + ELU, io_parallel", dense, 2, 1,
         "Vitis/2023.1/test_keras_api_test_dense_io_parallel-Vitis.json", one),
        ("Dense 1-2 + ELU, io_stream", dense, 4, 4,
         "Vitis/2024.1/test_keras_api_test_dense_io_stream-Vitis.json", one),
        ("Dense 1-64 + ReLU, io_parallel", act, 0, 1,
         "Vitis/2024.1/test_keras_api_test_activations_io_parallel-Vitis-relu.json", one),
        ("Dense 1-64 + ReLU, io_stream", act, 2, 2,
         "Vitis/2024.1/test_keras_api_test_activations_io_stream-Vitis-relu.json", one),
        ("Conv2D 28x28x3 -> 32, 4x4/4, Resource", conv, 51.5, 49,
         "Vivado/2020.1/test_keras_api_test_conv2d_io_parallel-Vivado-Resource-same-"
         "channels_last.json", {"io_bits_per_cycle": 28 * 28 * 3 * 16.0})]:
        rows.append(Row(name, wl, (16, 16), lat, ii, "validation", f"{BASE}/{path}",
                        over=over))
    cnv = finn_cnv()
    for name, wl, bits, fps, lat_s in [
            ("FINN SFC-max (W1A1)", finn_sfc(), (1, 1), 12.3e6, 0.31e-6),
            ("FINN CNV-max (W1A1)", cnv, (1, [8] + [1] * (cnv.num_layers - 1)), 21906, 283e-6)]:
        rows.append(Row(name, wl, bits, lat_s * 200e6, 200e6 / fps, "validation",
                        "Umuroglu et al. FPGA'17 (arXiv 1612.07119) abstract", style="rtl",
                        spec=ZC706))
    return rows


def model(row: Row, style: dict | None = None) -> tuple[float, float]:
    """(latency, interval) in cycles of one row, in its style (or ``style`` overrides)."""
    st = fp.pipeline_style(row.style) if style is None else style
    spec = row.spec.replace(**st, **row.over)
    wb, ab = row.bits
    cp = hw.make_compression(row.wl.num_layers, weight_density=row.density,
                             weight_bits=wb, act_bits=ab)
    c = EVAL(row.wl, spec, cp)
    f = float(spec.freq_hz)
    lat = float(c.total_latency_s) * f + (SOFTMAX_CYCLES if row.softmax else 0.0)
    return lat, float(c.extras["interval_s"]) * f


def _logerr(m, p):
    return abs(math.log(max(m, 1e-9) / p))


def calibrate(rows: list[Row]) -> tuple[dict, list]:
    """Grid over physical stage counts; min median |log error| of latency on calibration
    rows (ties: the slower, more conservative setting)."""
    cal = [r for r in rows if r.role == "calibration"]
    grid = []
    for mul, lv, act, fifo in itertools.product((1.0, 2.0, 3.0), (1.0, 2.0, 3.0, 4.0, 6.0, 8.0),
                                                (0.0, 1.0), (0.0, 1.0)):
        st = {"dsp_mul_stages": mul, "adder_levels_per_cycle": lv, "act_stages": act,
              "fifo_stages": fifo, "fold_balanced": 0.0}
        lats = [model(r, st)[0] for r in cal]
        err = statistics.median(_logerr(m, r.latency) for m, r in zip(lats, cal, strict=True))
        grid.append((round(err, 6), -sum(lats), st))
    grid.sort(key=lambda g: (g[0], g[1]))
    return grid[0][2], grid


def evaluate_rows(rows: list[Row]) -> list[dict]:
    out = []
    for r in rows:
        lat, ival = model(r)
        out.append({"row": r, "lat": lat, "ival": ival,
                    "lat_err": (lat - r.latency) / r.latency if r.latency else None,
                    "ival_err": (ival - r.interval) / r.interval})
    return out


def _fmt(e, m, p):
    return f"{e:+.0%}" if e is not None else f"{m - p:+.0f} cyc (published 0)"


def summary(res: list[dict], role: str) -> str:
    sel = [x for x in res if x["row"].role == role]
    lines = []
    for key, label in (("lat_err", "latency"), ("ival_err", "interval")):
        errs = [abs(x[key]) for x in sel if x[key] is not None]
        over = sum(x[key] is not None and x[key] > 0 for x in sel)
        lines.append(f"- {role}, {label}: median |error| {statistics.median(errs):.0%} over "
                     f"{len(errs)} rows with a nonzero published value (max {max(errs):.0%}); "
                     f"model above published on {over}\n")
    hard = [abs(x["ival_err"]) for x in sel if x["row"].interval > 1
            and "target_interval_cycles" not in x["row"].over]
    if hard:
        lines.append(f"- {role}, interval where it is neither 1 nor set by the ReuseFactor: "
                     f"median |error| {statistics.median(hard):.0%} over {len(hard)} rows\n")
    return "".join(lines)


def to_markdown(res: list[dict]) -> str:
    head = ("| design | role | style | latency model (cyc) | published | error | interval "
            "model (cyc) | published | error | source |\n|---|---|---|---|---|---|---|---|---|"
            "---|\n")
    return head + "".join(
        f"| {x['row'].name} | {x['row'].role} | {x['row'].style} | {x['lat']:.4g} | "
        f"{x['row'].latency:.4g} | {_fmt(x['lat_err'], x['lat'], x['row'].latency)} | "
        f"{x['ival']:.4g} | {x['row'].interval:.4g} | {x['ival_err']:+.0%} | "
        f"{x['row'].source} [C] |\n" for x in res)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--calibrate", action="store_true",
                    help="rerun the grid search for the hls4ml style (calibration rows)")
    args = ap.parse_args(argv)
    rows = table_rows()
    if args.calibrate:
        best, grid = calibrate(rows)
        print("best hls4ml stages on the calibration rows:", best)
        for err, neg, st in grid[:8]:
            print(f"  median |log err| {err:.3f}  sum latency {-neg:.1f}  {st}")
        if best != fp.PIPELINE_STYLES["hls4ml"]:
            print("NOTE: differs from fpga_pipeline.PIPELINE_STYLES['hls4ml']")
    res = evaluate_rows(rows)
    st = fp.PIPELINE_STYLES["hls4ml"]
    text = ("# Dataflow FPGA pipeline latency vs published syntheses\n\nGenerated by "
            "`python benchmarks/validation/fpga_hls4ml.py`. Error = (model - published) / "
            "published; latency is one inference (batch 1), in clock cycles at 5 ns. Style "
            f"`hls4ml` = {st} (`fpga_pipeline.PIPELINE_STYLES`, chosen on the calibration "
            "rows only by `--calibrate`); style `rtl` = the library defaults (every stage "
            f"registered). Rows ending in a softmax add {SOFTMAX_CYCLES:g} cycles (not "
            "modelled). The interval of the RF 2 rows is a design input (ReuseFactor).\n\n"
            + to_markdown(res) + "\n" + summary(res, "calibration")
            + summary(res, "validation"))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "fpga_hls4ml.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
