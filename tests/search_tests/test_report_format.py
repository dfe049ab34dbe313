"""Human-unit formatting of report numbers."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lepton_codesign.search import report_format as fmt

_PREFIX = {"f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3,
           "M": 1e6, "G": 1e9, "T": 1e12}


@pytest.mark.parametrize(("value", "unit", "text"), [
    (2.99e-5, "s", "29.9 us"), (4.0e-6, "J", "4.00 uJ"), (1.5e-9, "s", "1.50 ns"),
    (0.0, "J", "0.00 J"), (999.96e-6, "s", "1.00 ms"), (2.43e8, "Hz", "243 MHz"),
    (-3.2e-3, "W", "-3.20 mW"), (1.0, "s", "1.00 s"),
])
def test_si_examples(value, unit, text):
    assert fmt.si(value, unit) == text


@pytest.mark.parametrize("bad", [None, float("nan"), float("inf"), -float("inf"), True])
def test_non_finite_and_missing_read_n_a(bad):
    assert fmt.si(bad, "s") == fmt.usd(bad) == fmt.percent(bad) == fmt.MISSING
    assert fmt.objective("latency_s", bad) == fmt.MISSING


@given(st.floats(1e-14, 1e14))
def test_si_round_trips_to_three_significant_digits(x):
    m = re.fullmatch(r"(-?[0-9.]+) ([fpnumkMGT]?)s", fmt.si(x, "s"))
    assert m, fmt.si(x, "s")
    mantissa = float(m.group(1))
    assert 1.0 <= abs(mantissa) < 1000.0
    assert math.isclose(mantissa * _PREFIX[m.group(2)], x, rel_tol=5e-3)


def test_dollars_and_objectives_by_unit_in_name():
    assert fmt.usd(0.7712, "per 1M") == "$0.77 per 1M"
    assert fmt.usd(1234.5) == "$1,234.50"
    assert fmt.usd(5.712e-4) == "$0.000571"
    assert fmt.usd(7.7e-7) == "$7.70e-07"
    assert fmt.objective("usd_per_1m_inferences", 0.77) == "$0.77 per 1M"
    assert fmt.objective("error", 0.317) == "31.7 %"
    assert fmt.objective("latency_s", 2.99e-5) == "29.9 us"
    assert fmt.objective("energy_j", 4e-6) == "4.00 uJ"
    assert fmt.objective("area_mm2", 12.345) == "12.3 mm2"
    assert fmt.objective("macs", 10240) == "10,240"


def test_hardware_settings_by_unit_in_key():
    assert fmt.hardware("freq_hz", 2.43e8) == "243 MHz"
    assert fmt.hardware("dram_bandwidth_bytes_per_s", 3.404e9) == "3.40 GB/s"
    assert fmt.hardware("ifmap_sram_bytes", 14.1 * 1024) == "14.1 KiB"
    assert fmt.hardware("rf_psum_bytes", 48) == "48 B"
    assert fmt.hardware("dram_capacity_bytes", 2 * 2**30) == "2.00 GiB"
    assert fmt.hardware("dram_gbps", 3.404) == "3.40 GB/s"  # keys of older results
    assert fmt.hardware("sram_kib_each", 14.1) == "14.1 KiB"
    assert fmt.hardware("node_nm", 28.0) == "28 nm"
    assert fmt.hardware("dataflow", "ws") == "ws"
    assert fmt.hardware("pe_rows", 55) == "55"
