"""Dataflow FPGA latency (cycles), interval and DSPs vs published hls4ml / FINN syntheses.

Run:  python benchmarks/validation/fpga_hls4ml.py  [--out DIR]
Writes ``results/fpga_hls4ml.md`` (and prints it). Takes a few seconds.

Datapoints. Nothing is fitted to them: the pipeline-stage constants come from
``hw_models/fpga_pipeline.py`` (UG579 and stated assumptions), the rest are library defaults
or the published part / clock / precision.

* hls4ml C-synthesis baselines committed to ``fastmachinelearning/hls4ml``
  (``test/pytest/baselines/<backend>/<version>/*.json``, ``CSynthesisReport``: BestLatency,
  WorstLatency, IntervalMin, DSP, LUT) [C]. Models from ``test/pytest/test_keras_api.py``
  [C]: ``test_dense`` = Dense(2) on a 1-input vector + ELU; ``test_activations`` =
  Dense(64) on a 1-input vector + ReLU; ``test_conv2d`` = Conv2D 32 filters 4x4 stride 4
  ``same`` on 28x28x3 (Resource strategy). All ``ap_fixed<16,6>``, reuse factor 1, 5 ns
  clock, part with 1,728,000 LUT / 12,288 DSP / 5,376 BRAM18 / 1,280 URAM (xcvu13p).
* FINN SFC-max / CNV-max on a ZC706 at 200 MHz (Umuroglu et al., FPGA'17, arXiv
  1612.07119, abstract) [C]: latency 0.31 us / 283 us, 12.3 M / 21,906 images/s.

The hls4ml designs take their input in parallel (``io_parallel``: the whole vector on
its ports; ``io_stream``: one full vector per stream word), so ``io_bits_per_cycle`` is
set to the input width. The jet-tagging MLP rows (Duarte et al. 2018; Fahim et al. 2021)
are not included: their tables were not retrievable here, and no number is typed from
memory.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models.fpga_spec import FpgaSpec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fpga_published import ZC706, finn_cnv, finn_sfc  # noqa: E402

HERE = Path(__file__).resolve().parent
BASE = "fastmachinelearning/hls4ml test/pytest/baselines"
# xcvu13p, the hls4ml test part: resources as reported by the baselines ("Available*") [C].
# A C-synthesised hls4ml IP has no DRAM: its ports are the I/O, so DRAM bandwidth is set
# out of the way (1 PB/s) and io_bits_per_cycle per row.
VU13P = FpgaSpec(lut=1728000.0, ff=3456000.0, dsp=12288.0, bram18=5376.0, uram=1280.0,
                 freq_hz=200e6, node_nm=16.0, dram_bandwidth_bytes_per_s=1e15,
                 name="xcvu13p")


def _hls4ml_rows():
    dense = hw.gemm_workload([(1, 1, 2)])
    act = hw.gemm_workload([(1, 1, 64)])
    conv = hw.make_workload([hw.conv_layer("conv", (28, 28), 3, 32, (4, 4), 4, 0)])
    # (name, workload, input bits, published best/worst latency, interval, DSP, source)
    return [
        ("Dense 1-2 + ELU, io_parallel", dense, 16, (2, 2), 1, 2,
         f"{BASE}/Vivado/2020.1/test_dense-Vivado-io_parallel.json"),
        ("Dense 1-2 + ELU, io_parallel (Vitis)", dense, 16, (2, 2), 1, 2,
         f"{BASE}/Vitis/2023.1/test_keras_api_test_dense_io_parallel-Vitis.json"),
        ("Dense 1-2 + ELU, io_stream", dense, 16, (4, 4), 4, 2,
         f"{BASE}/Vitis/2024.1/test_keras_api_test_dense_io_stream-Vitis.json"),
        ("Dense 1-64 + ReLU, io_parallel", act, 16, (0, 0), 1, 58,
         f"{BASE}/Vitis/2024.1/test_keras_api_test_activations_io_parallel-Vitis-relu.json"),
        ("Dense 1-64 + ReLU, io_stream", act, 16, (2, 2), 2, 59,
         f"{BASE}/Vitis/2024.1/test_keras_api_test_activations_io_stream-Vitis-relu.json"),
        ("Conv2D 28x28x3 -> 32, 4x4/4, Resource", conv, 28 * 28 * 3 * 16, (51, 52), 49, 740,
         f"{BASE}/Vivado/2020.1/test_keras_api_test_conv2d_io_parallel-Vivado-Resource-same-"
         "channels_last.json"),
    ]


def _err(model, published):
    if published == 0:
        return f"{model - published:+.0f} cyc (published 0)"
    return f"{(model - published) / published:+.0%}"


def rows() -> list[dict]:
    out = []
    for name, wl, in_bits, (best, worst), ii, dsp, src in _hls4ml_rows():
        spec = VU13P.replace(io_bits_per_cycle=float(in_bits))
        c = hw.evaluate(wl, spec, hw.make_compression(wl.num_layers, weight_bits=16,
                                                      act_bits=16))
        lat = float(c.total_latency_s) * 200e6
        ival = float(c.extras["interval_s"]) * 200e6
        pub = (best + worst) / 2
        out.append({"design": name, "hardware": "xcvu13p @200 MHz, ap_fixed<16,6>, RF 1",
                    "latency_model": lat, "latency_pub": pub, "latency_err": _err(lat, pub),
                    "ival_model": ival, "ival_pub": ii, "ival_err": _err(ival, ii),
                    "dsp": f"{float(c.extras['util_dsp']) * 12288:.0f} vs {dsp}",
                    "source": src + " [C]"})
    w1a1 = lambda n: hw.make_compression(n, weight_bits=1, act_bits=1)  # noqa: E731
    cnv = finn_cnv()
    cnv_bits = hw.make_compression(cnv.num_layers, weight_bits=1,
                                   act_bits=[8] + [1] * (cnv.num_layers - 1))
    for name, wl, cp, fps, lat_s in [("FINN SFC-max (W1A1)", finn_sfc(), w1a1(4), 12.3e6, 0.31e-6),
                                     ("FINN CNV-max (W1A1)", cnv, cnv_bits, 21906, 283e-6)]:
        c = hw.evaluate(wl, ZC706, cp)
        lat = float(c.total_latency_s) * 200e6
        ival = float(c.extras["interval_s"]) * 200e6
        out.append({"design": name, "hardware": "ZC706 @200 MHz", "latency_model": lat,
                    "latency_pub": lat_s * 200e6, "latency_err": _err(lat, lat_s * 200e6),
                    "ival_model": ival, "ival_pub": 200e6 / fps,
                    "ival_err": _err(ival, 200e6 / fps), "dsp": "-",
                    "source": "Umuroglu et al. FPGA'17 (arXiv 1612.07119) abstract [C]"})
    return out


def summary(table: list[dict]) -> str:
    lines = []
    for key, label in (("latency", "latency"), ("ival", "interval")):
        errs = [abs(r[f"{key}_model"] / r[f"{key}_pub"] - 1) for r in table if r[f"{key}_pub"]]
        signed = [r[f"{key}_model"] - r[f"{key}_pub"] for r in table]
        lines.append(f"- {label}: median |error| {statistics.median(errs):.0%} over {len(errs)} "
                     f"rows with a nonzero published value (max {max(errs):.0%}); model above "
                     f"published on {sum(s > 0 for s in signed)} of {len(signed)} rows\n")
    return "".join(lines)


def to_markdown(table: list[dict]) -> str:
    head = ("| design | hardware | latency model (cyc) | published | error | interval model "
            "(cyc) | published | error | DSP model vs published | source |\n"
            "|---|---|---|---|---|---|---|---|---|---|\n")
    body = "".join(
        f"| {r['design']} | {r['hardware']} | {r['latency_model']:.4g} | "
        f"{r['latency_pub']:.4g} | {r['latency_err']} | {r['ival_model']:.4g} | "
        f"{r['ival_pub']:.4g} | {r['ival_err']} | {r['dsp']} | {r['source']} |\n"
        for r in table)
    return head + body


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args(argv)
    table = rows()
    text = ("# Dataflow FPGA pipeline latency vs published syntheses\n\nGenerated by "
            "`python benchmarks/validation/fpga_hls4ml.py`. Error = (model - published) / "
            "published; latency is one inference (batch 1), in clock cycles. No model "
            "constant is fitted to these numbers.\n\n" + to_markdown(table) + "\n"
            + summary(table))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "fpga_hls4ml.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
