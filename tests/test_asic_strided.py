"""DRAM input traffic of strided 1x1 convs counts only the pixels the kernel reads."""

import numpy as np

from lepton_codesign import hw_models as hw


def test_strided_1x1_reads_a_quarter_of_the_input():
    spec = hw.AsicSpec(pe_rows=16, pe_cols=16, dataflow="ws", node_nm=45.0)
    s1 = hw.make_workload([hw.conv_layer("c", (16, 16), 64, 64, (1, 1), stride=1)])
    s2 = hw.make_workload([hw.conv_layer("c", (16, 16), 64, 64, (1, 1), stride=2)])
    d1 = float(np.asarray(hw.evaluate(s1, spec).dram_bytes)[0])
    d2 = float(np.asarray(hw.evaluate(s2, spec).dram_bytes)[0])
    w, out1, out2 = 64 * 64, 16 * 16 * 64, 8 * 8 * 64
    assert d1 == w + 16 * 16 * 64 + out1  # everything fits: each tensor once, 8-bit
    assert d2 == w + 8 * 8 * 64 + out2  # only the strided pixels are read


def test_3x3_conv_reads_each_input_once():
    spec = hw.AsicSpec(pe_rows=16, pe_cols=16, dataflow="ws", node_nm=45.0)
    wl = hw.make_workload([hw.conv_layer("c", (16, 16), 8, 8, (3, 3), stride=1, padding=1)])
    d = float(np.asarray(hw.evaluate(wl, spec).dram_bytes)[0])
    assert d == 8 * 8 * 9 + 16 * 16 * 8 + 16 * 16 * 8
