"""Held-out calibration checks (``hw_models.gpu_checks``): convolutions and elementwise
kernels are predicted, never fitted; bad rows are refused by name."""

from __future__ import annotations

import numpy as np
import pytest

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models import gpu_checks as gck
from lepton_codesign.hw_models.gpu_calibrate import load_measurements
from lepton_codesign.hw_models.gpu_specfile import calibrate

H200 = hw.preset("h200")
CONV = {"N": 1, "H": 28, "W": 28, "Cin": 64, "Cout": 64, "kh": 3, "kw": 3, "stride": 1,
        "padding": 1, "groups": 1, "dtype": "bfloat16", "latency_s": 1e-4, "per_call_s": 5e-5}
EW = {"op": "softmax", "elems": 2**20, "row_len": 1024, "dtype": "float32",
      "latency_s": 1e-4, "per_call_s": 5e-5}


def test_conv_prediction_is_the_model_on_the_conv_layer():
    lat, pc = gck.predict_conv(H200, [CONV])
    layer = hw.conv_layer("c", (28, 28), 64, 64, (3, 3), 1, 1)
    c = hw.evaluate(hw.make_workload([layer]), H200, hw.dense_compression(1, bits=16))
    assert lat[0] == pytest.approx(float(c.total_latency_s), rel=1e-6)
    assert pc[0] == pytest.approx(float(c.extras["interval_s"]), rel=1e-6)


def test_depthwise_conv_costs_more_per_mac_than_dense():
    dw = dict(CONV, groups=64)
    lat_dense, _ = gck.predict_conv(H200, [CONV])
    lat_dw, _ = gck.predict_conv(H200.replace(dispatch_overhead_s=0.0, warmup_s=0.0), [dw])
    macs_dense, macs_dw = 28 * 28 * 64 * 64 * 9, 28 * 28 * 64 * 9
    assert lat_dw[0] / macs_dw > lat_dense[0] / macs_dense


def test_elementwise_grows_with_size_and_never_beats_the_call_floor():
    rows = [dict(EW, elems=n) for n in (2**16, 2**20, 2**24)]
    lat, pc = gck.predict_elementwise(H200, rows)
    assert np.all(np.diff(lat) > 0) and np.all(np.diff(pc) >= 0)
    assert np.all(lat >= float(H200.dispatch_overhead_s))
    assert np.all(pc >= float(H200.min_call_interval_s))
    # a 64 MiB fp32 softmax is memory bound: at least read + write at full bandwidth
    floor = 2 * 4 * 2**24 / float(H200.mem_bandwidth_bytes_per_s)
    assert pc[-1] >= floor


def test_held_out_report_errors_and_leaves_the_fit_alone():
    data = {"gemm": [{"M": 256, "N": 256, "K": 256, "dtype": "float32", "latency_s": 1e-4,
                      "per_call_s": 5e-5}], "conv": [CONV], "elementwise": [EW, dict(EW)]}
    rep = gck.held_out_report(H200, data)
    assert set(rep) == {"conv", "elementwise"} and rep["elementwise"]["n"] == 2
    pred = rep["conv"]["rows"][0]["latency_pred_s"]
    assert rep["conv"]["latency_median_abs"] == pytest.approx(abs(pred / 1e-4 - 1), rel=1e-6)
    assert gck.held_out_report(H200, {"gemm": data["gemm"]}) == {}


def test_calibrate_reports_held_out_kernels_without_fitting_them():
    gemm = [{"M": m, "N": m, "K": m, "dtype": "float32", "latency_s": 1e-4 + m**3 * 1e-11,
             "per_call_s": 5e-5 + m**3 * 1e-11} for m in (64, 128, 256, 512)]
    meta = {"platform": "cpu", "device_kind": "cpu"}
    bw = [{"MiB": 16, "latency_s": 4e-3, "per_call_s": 3e-3}]
    plain, _, _ = calibrate({"meta": meta, "gemm": gemm, "bandwidth": bw})
    spec, report, text = calibrate({"meta": meta, "gemm": gemm, "bandwidth": bw,
                                    "conv": [dict(CONV, dtype="float32")],
                                    "elementwise": [EW]})
    assert spec.describe() == plain.describe()  # the held-out rows change nothing
    assert set(report["held_out"]) == {"conv", "elementwise"}
    assert "# held-out conv: median |error|" in text


@pytest.mark.parametrize("what, row, key", [
    ("conv", dict(CONV, Cin=-3), "conv[0].Cin"),
    ("conv", dict(CONV, padding=float("nan")), "conv[0].padding"),
    ("conv", dict(CONV, dtype="int8"), "conv[0].dtype"),
    ("elementwise", dict(EW, op="gelu"), "elementwise[0].op"),
    ("elementwise", dict(EW, per_call_s=0.0), "elementwise[0].per_call_s"),
])
def test_bad_rows_are_refused_with_file_row_and_key(tmp_path, what, row, key):
    import json

    path = tmp_path / "m.json"
    path.write_text(json.dumps({"gemm": [{"M": 8, "N": 8, "K": 8, "dtype": "float32",
                                          "latency_s": 1e-4, "per_call_s": 1e-4}],
                                what: [row]}))
    import re

    with pytest.raises(hw.SpecError, match=re.escape(f"m.json: {key}:")):
        load_measurements(path)
