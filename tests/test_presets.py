"""Shipped ASIC presets: sourced values, and pinned end-to-end golden numbers.

The golden numbers were derived by hand (plain arithmetic, written out below) from the
model's documented equations and the sourced constants in ``hw_models/constants.py``
(anchors.md tags in brackets), then checked against ``hw.evaluate``; they were not
copied from the model's output. Constants used:

* MAC energy (Horowitz 45 nm [C]): 0.2 pJ * w*a/64 + 0.03 pJ * (w+a)/16 = 0.23 pJ at 8b.
* SRAM access (Horowitz [C], power law [D]): 10 pJ per 64 bits at 8 KiB, x
  (size / 8 KiB)^0.475, i.e. ``e_sram(size) = 10/8 * (size/8192)**0.475`` pJ/B at 45 nm.
* DRAM 162.5 pJ/B [D]. Node factors (Stillmaker & Baas [C]/[D]): energy 0.513 (28 nm),
  0.174 (16 nm), 1.6 (65 nm [U]); area 0.377 / 0.19 / 2.09.
* Area: PE = (282 + 36 um^2 at 8b; 282*4 + 36*2 at 16b) [U] x 2 (PE overhead [A]);
  SRAM = bits x bit-cell (0.127 um^2 at 28 nm, 0.07 at 16 nm, 0.525 at 65 nm [U])
  / 0.65 array efficiency [U]; chip = 1.3 x (PEs + SRAM) [A].
* Die cost: dies per wafer pi*150^2/A - pi*300/sqrt(2A); yield (1 + 0.1 A/100/2)^-2;
  wafer $2,891 (28 nm), $3,984 (16 nm), $1,937 (65 nm) [S/U]; packaging $5 [A];
  NRE = mask set / 1e5 units: $1M at 28 nm, $0.3M at 65 nm, and at 16 nm the log-log
  interpolation between $10M (7 nm) and $1M (28 nm): 10e6 * (16/7)^(ln 0.1 / ln 4)
  = $2.533M [D].
* Compute cycles (SCALE-Sim v3 convention, see ``hw_models/systolic.py``, validated
  against SCALE-Sim by ``benchmarks/validation/``): WS takes
  ``ceil(k/R) * ceil(n/C) * (2R + C + m - 2) - 1``.
"""

from __future__ import annotations

import math
import re
from importlib import resources

import numpy as np
import pytest

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models.asic_traffic import MAPPING_NAMES

ASIC_PRESETS = ("tpuv1-like", "eyeriss-like", "gemmini-like", "nvdla-like")
SOURCE_TAG = re.compile(r"#.*\[(C|S|U|D|A)\]")


def e_sram_pj_per_byte(size_bytes: float, energy_scale: float) -> float:
    bank = min(size_bytes, 32 * 1024)  # banked SRAM: the size law stops at 32 KiB banks
    return 10.0 / 8.0 * (bank / 8192.0) ** 0.475 * energy_scale


def unit_cost_usd(area_mm2: float, wafer_usd: float, nre_usd: float) -> float:
    dpw = math.pi * 150**2 / area_mm2 - math.pi * 300 / math.sqrt(2 * area_mm2)
    yield_ = (1 + 0.1 * area_mm2 / 100 / 2) ** -2
    return wafer_usd / (dpw * yield_) + 5.0 + nre_usd / 1e5


def check(costs: hw.Costs, expected: dict, rtol: float = 2e-5):
    for key, value in expected.items():
        actual = costs.extras[key] if key in costs.extras else getattr(costs, key)
        np.testing.assert_allclose(np.asarray(actual, np.float64).sum(), value, rtol=rtol,
                                   err_msg=key)


# --------------------------------------------------------------------- presets as data
@pytest.mark.parametrize("name", ASIC_PRESETS)
def test_every_number_in_an_asic_preset_names_its_source(name):
    text = (resources.files("lepton_codesign.hw_models") / "presets" / f"{name}.yaml").read_text()
    for line in text.splitlines():
        key = line.split(":", 1)[0].strip()
        if line and not line.startswith("#") and key not in ("version", "kind", "name"):
            assert SOURCE_TAG.search(line), f"{name}: no source tag on {line!r}"


def test_presets_match_the_published_designs():
    tpu = hw.preset("tpuv1-like")
    assert (tpu.pe_rows, tpu.pe_cols, tpu.freq_hz) == (256, 256, 700e6)
    assert tpu.ifmap_sram_bytes == 24 * 2**20 and tpu.dram_bandwidth_bytes_per_s == 34e9
    assert tpu.node_nm == 28 and tpu.pe_bits == 8
    # 65,536 MACs x 2 ops x 700 MHz = 91.75 TOPS: the paper's "92 TOPS" peak [C].
    assert round(2 * tpu.pe_rows * tpu.pe_cols * tpu.freq_hz / 1e12) == 92
    eye = hw.preset("eyeriss-like")
    assert eye.pe_rows * eye.pe_cols == 168 and eye.node_nm == 65
    gem = hw.preset("gemmini-like")
    assert (gem.pe_rows, gem.pe_cols, gem.pe_bits, int(gem.dataflow)) == (16, 16, 8, 1)
    nvdla = hw.preset("nvdla-like")
    assert nvdla.pe_rows * nvdla.pe_cols == 2048 and nvdla.pe_bits == 8


@pytest.mark.parametrize("name", ASIC_PRESETS)
def test_presets_evaluate_to_plausible_numbers(name, mixed_workload):
    c = hw.evaluate(mixed_workload, hw.preset(name))
    assert bool(c.feasible)
    for v in c.summary().values():
        assert np.isfinite(v) and v > 0
    # The model counts PEs + vector unit + SRAM + 30 %: less than a real die (TPUv1 <= 331 mm^2 [S],
    # Eyeriss 4 x 4 mm [C]), and more than nothing.
    assert 0.01 < float(c.area_mm2) < {"tpuv1-like": 331.0, "eyeriss-like": 16.0}.get(
        name, 100.0)


# --------------------------------------------------------------------- golden numbers
def test_golden_tpuv1_batch1_fc_is_memory_bound():
    # FC 4096 -> 4096 at batch 1 (m=1, k=n=4096), dense int8, WS 256x256 at 700 MHz.
    # Traffic: 16 MiB weights + 4 KiB in + 4 KiB out, all once (WS loads each weight
    # once; inputs/outputs fit the 24 MiB UB / 4 MiB accumulators):
    dram = 4096 * 4096 + 4096 + 4096  # = 16,785,408 B
    latency = dram / 34e9  # = 493.69 us; compute 16*16*(512+256+1-2)-1 = 196,351 cycles
    #                        = 280.5 us at 700 MHz, so memory-bound.
    es = 0.513
    sram_j = 1e-12 * (
        4096 * 16 * e_sram_pj_per_byte(24 * 2**20, es)  # inputs, once per column fold (16)
        + 4096 * 4096 * e_sram_pj_per_byte(256 * 1024, es)  # weights, once
        # final outputs once (8-bit) + 2 * (16 - 1) psum read/writes at 32 bits
        + (4096 + 30 * 4096 * 4) * e_sram_pj_per_byte(4 * 2**20, es)
        # DRAM fills / drains, each charged to its operand's SRAM
        + 4096 * 4096 * e_sram_pj_per_byte(256 * 1024, es)
        + 4096 * e_sram_pj_per_byte(24 * 2**20, es) + 4096 * e_sram_pj_per_byte(4 * 2**20, es))
    # 65,536 PEs + 256 vector lanes (one per column), each 636 um^2 at 45 nm x 0.377
    area = ((65536 + 256) * 636 * 0.377
            + (24 * 2**20 + 256 * 1024 + 4 * 2**20) * 8 * 0.127 / 0.65) * 1.3 / 1e6
    mac_j = 4096 * 4096 * 0.23e-12 * es
    dram_j = dram * 162.5e-12
    leak_j = 0.005 * area * latency
    expected = {"dram_bytes": dram, "latency_s": latency, "energy_mac_j": mac_j,
                "energy_sram_j": sram_j, "energy_dram_j": dram_j, "energy_leak_j": leak_j,
                "total_energy_j": mac_j + sram_j + dram_j + leak_j, "area_mm2": area,
                # packaged die + the preset's part terms: 16 DDR3 devices x $1.75 + $80 card
                "cost_usd": unit_cost_usd(area, 2891.0, 1e6) + 16 * 1.75 + 80.0}
    c = hw.evaluate(hw.gemm_workload([(1, 4096, 4096)]), hw.preset("tpuv1-like"))
    check(c, expected)
    assert int(c.bound[0]) == 1
    # Pinned values (the arithmetic above, rounded).
    check(c, {"latency_s": 4.9369e-4, "total_energy_j": 2.9711e-3, "area_mm2": 80.700,
              "cost_usd": 18.903 + 108.0}, rtol=1e-4)


def test_golden_gemmini_resnet_conv_is_compute_bound():
    # ResNet-18 conv2_x: 3x3, 64 -> 64 channels, 56x56, pad 1, batch 1, dense int8:
    # m = 3136, k = 576, n = 64 on a 16x16 WS array at 1 GHz.
    cycles = 36 * 4 * (2 * 16 + 16 + 3136 - 2) - 1  # = 458,207
    # Traffic: weights 36,864 B fit the 64 KiB filter half; the 200,704 B input does not
    # fit the 64 KiB input half, so it is re-streamed per column fold (4x); psums of one
    # column fold (3136 x 16 = 50,176 B) fit the 128 KiB accumulator: no spill.
    dram = 36864 + 4 * 200704 + 200704  # = 1,040,384 B -> 65,024 cycles at 16 GB/s
    es = 0.174
    sram_j = 1e-12 * (
        3136 * 576 * 4 * e_sram_pj_per_byte(65536, es)  # inputs per column fold
        + 36864 * e_sram_pj_per_byte(65536, es)  # weights once
        # final outputs (8-bit) + 2 * (36 - 1) psum read/writes at 32 bits
        + 3136 * 64 * (1 + 70 * 4) * e_sram_pj_per_byte(131072, es)
        # DRAM fills / drains, each charged to its operand's SRAM
        + 36864 * e_sram_pj_per_byte(65536, es) + 4 * 200704 * e_sram_pj_per_byte(65536, es)
        + 200704 * e_sram_pj_per_byte(131072, es))
    # 256 PEs + 16 vector lanes (one per column)
    area = ((256 + 16) * 636 * 0.19 + 262144 * 8 * 0.07 / 0.65) * 1.3 / 1e6
    mac_j = 3136 * 576 * 64 * 0.23e-12 * es
    dram_j = dram * 162.5e-12
    leak_j = 0.005 * area * cycles / 1e9
    nre = 10e6 * (16 / 7) ** (math.log(0.1) / math.log(4))
    expected = {"compute_cycles": cycles, "mem_cycles": dram / 16e9 * 1e9,
                "latency_s": cycles / 1e9, "dram_bytes": dram, "energy_mac_j": mac_j,
                "energy_sram_j": sram_j, "energy_dram_j": dram_j, "energy_leak_j": leak_j,
                "total_energy_j": mac_j + sram_j + dram_j + leak_j, "area_mm2": area,
                # + the part: 3 DDR4 devices (ceil(16 / 6.4 GB/s)) x $3.5 + $10 module
                "cost_usd": unit_cost_usd(area, 3984.0, nre) + 3 * 3.5 + 10.0}
    wl = hw.make_workload([hw.conv_layer("conv2_1", (56, 56), 64, 64, (3, 3), padding=1)])
    # The traffic above is SCALE-Sim's fixed fold order: pinned with mapping="scalesim".
    c = hw.evaluate(wl, hw.preset("gemmini-like").replace(mapping="scalesim"))
    check(c, expected)
    assert int(c.bound[0]) == 0
    check(c, {"latency_s": 4.5821e-4, "total_energy_j": 2.0164e-4, "area_mm2": 0.33633,
              "cost_usd": 30.351 + 20.5}, rtol=1e-4)
    # mapping="best" (the default) tiles m outermost into 28 tiles of 113 rows, whose
    # 113 x 576 = 65,088 B of inputs fit the 64 KiB input half, so the input is read
    # once; the weights re-streamed per tile fit their half (no DRAM refetch) and a
    # tile's 32-bit psums (113 x 16 x 4 B) fit the accumulator. Compute is unchanged.
    best = hw.evaluate(wl, hw.preset("gemmini-like"))
    check(best, {"compute_cycles": cycles, "dram_bytes": 36864 + 200704 + 200704})
    assert MAPPING_NAMES[int(best.extras["mapping"][0])] == "t>c>r:x"


def test_golden_eyeriss_conv_with_zero_gating():
    # 3x3 conv, 16 -> 32 channels, 14x14, pad 1, batch 1, int8 with 50 % zero
    # activations (ReLU) on the 12x14 zero-gating array at 200 MHz, 65 nm:
    # m = 196, k = 144, n = 32; folds ceil(144/12) = 12 x ceil(32/14) = 3.
    cycles = 12 * 3 * (2 * 12 + 14 + 196 - 2) - 1  # = 8,351 -> 41.755 us
    dram = 4608 + 3136 + 6272  # all fit: = 14,016 B -> 1,752 cycles at 1.6 GB/s
    es = 1.6
    sram_j = 1e-12 * (
        196 * 144 * 3 * e_sram_pj_per_byte(110592, es)
        + 4608 * e_sram_pj_per_byte(75264, es)
        + 196 * 32 * (1 + 22 * 4) * e_sram_pj_per_byte(8064, es)  # outputs + 32-bit psums
        + 4608 * e_sram_pj_per_byte(75264, es) + 3136 * e_sram_pj_per_byte(110592, es)
        + 6272 * e_sram_pj_per_byte(8064, es))  # fills / drains per operand SRAM
    mac_j = 196 * 144 * 32 * 0.5 * 0.23e-12 * es  # gating: half the MACs fire
    # 16-bit PEs: (282*4 + 36*2) * 2 um^2 at 45 nm, x 2.09 at 65 nm, +2 % gating logic.
    # 168 PEs (+2 % zero-gating) + 14 vector lanes (one per column, no gating logic)
    area = ((168 * 1.02 + 14) * 2400 * 2.09 + 193920 * 8 * 0.525 / 0.65) * 1.3 / 1e6
    leak_j = 0.005 * area * cycles / 200e6
    expected = {"compute_cycles": cycles, "dram_bytes": dram, "latency_s": cycles / 200e6,
                "energy_mac_j": mac_j, "energy_sram_j": sram_j,
                "energy_dram_j": dram * 162.5e-12, "energy_leak_j": leak_j,
                # + the part: 1 DDR4 device x $3.5 + $10 module (the preset's terms)
                "area_mm2": area, "cost_usd": unit_cost_usd(area, 1937.0, 0.3e6) + 13.5}
    wl = hw.make_workload([hw.conv_layer("conv", (14, 14), 16, 32, (3, 3), padding=1)])
    c = hw.evaluate(wl, hw.preset("eyeriss-like"), hw.make_compression(1, act_density=0.5))
    check(c, expected)
    check(c, {"latency_s": 4.1755e-5, "total_energy_j": 4.5316e-6, "area_mm2": 2.8376,
              "cost_usd": 8.0792 + 13.5}, rtol=1e-4)
