"""Like-for-like dollars: an ASIC's capex is the deployable part, and ``compare`` says so.

``cost_usd`` of an ASIC = die + package + DRAM devices + board / module + NRE / volume
(``dollars.asic_part_cost_usd``), each term an ``AsicSpec`` field with a sourced default
(``docs/dollars.md``), so that it counts what an FPGA board price or a GPU card / module
price counts: the part you plug in, without a host server.
"""

from __future__ import annotations

import csv
import io
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models import constants as C
from lepton_codesign.hw_models import dollars

EVAL = jax.jit(hw.evaluate, static_argnames=("smooth",))
WL = hw.gemm_workload([(64, 256, 128)])
# One static name: every call below shares one compilation.
SPEC = hw.AsicSpec(16, 16, "ws", node_nm=16.0, dram_bandwidth_bytes_per_s=16e9, name="p")
TERMS = ("die_cost_usd", "package_usd", "dram_usd", "board_usd", "nre_share_usd")


def parts(spec=SPEC, smooth=False):
    c = EVAL(WL, spec, smooth=smooth)
    return float(c.cost_usd), {k: float(c.extras[k]) for k in TERMS + ("dram_devices",)}


def test_capex_is_the_sum_of_its_parts():
    total, p = parts()
    assert total == pytest.approx(sum(p[k] for k in TERMS), rel=1e-6)
    # The bare die is its own field and is what wafer economics alone give.
    _, die, _ = dollars.asic_unit_cost_usd(float(EVAL(WL, SPEC).area_mm2), 16.0, 0.1, 0.0, 1.0,
                                           None, 0.0)
    assert p["die_cost_usd"] == pytest.approx(float(die), rel=1e-6)


# Zeroing one field removes exactly its own term from the total.
@pytest.mark.parametrize(("field", "zero", "term"), [
    ("packaging_usd", 0.0, "package_usd"),
    ("dram_device_usd", 0.0, "dram_usd"),
    ("dram_devices", 0.0, "dram_usd"),
    ("board_usd", 0.0, "board_usd"),
    ("nre_usd", 0.0, "nre_share_usd"),
])
def test_each_term_alone(field, zero, term):
    total, p = parts()
    assert p[term] > 0
    total0, p0 = parts(SPEC.replace(**{field: zero}))
    assert p0[term] == 0.0
    assert total - total0 == pytest.approx(p[term], rel=1e-5)
    for other in set(TERMS) - {term}:
        assert p0[other] == pytest.approx(p[other], rel=1e-6), other


def test_dram_devices_follow_the_bandwidth():
    # 16 GB/s over 6.4 GB/s DDR4-3200 x16 devices -> ceil(2.5) = 3 devices x $3.5.
    _, p = parts()
    assert p["dram_devices"] == 3.0 and p["dram_usd"] == pytest.approx(3 * 3.5)
    # An HBM3 stack (819 GB/s, $160) covers 800 GB/s alone.
    hbm = SPEC.replace(dram_bandwidth_bytes_per_s=800e9, dram_device_usd=C.HBM3_STACK_USD,
                       dram_device_bandwidth_bytes_per_s=C.HBM3_STACK_BYTES_PER_S)
    _, p = parts(hbm)
    assert p["dram_devices"] == 1.0 and p["dram_usd"] == pytest.approx(160.0)
    # A stated count wins over the derived one.
    _, p = parts(SPEC.replace(dram_devices=8.0))
    assert p["dram_devices"] == 8.0 and p["dram_usd"] == pytest.approx(28.0)


@settings(max_examples=60, deadline=None)
@given(bw=st.floats(1e3, 1e16), factor=st.floats(1.0, 1e3),
       dev_bw=st.floats(1e8, 1e12), area=st.floats(0.01, 800.0))
def test_more_dram_bandwidth_never_makes_the_part_cheaper(bw, factor, dev_bw, area):
    spec = SPEC.replace(dram_device_bandwidth_bytes_per_s=dev_bw)
    lo = dollars.asic_part_cost_usd(spec.replace(dram_bandwidth_bytes_per_s=bw), area)
    hi = dollars.asic_part_cost_usd(spec.replace(dram_bandwidth_bytes_per_s=min(bw * factor,
                                                                                1e16)), area)
    assert float(hi["cost_usd"]) >= float(lo["cost_usd"])
    assert float(hi["dram_devices"]) >= float(lo["dram_devices"]) >= 1.0
    assert math.isfinite(float(hi["cost_usd"]))


def test_defaults_are_finite_positive_and_sourced():
    spec = hw.AsicSpec(16, 16)
    assert spec.dram_devices is None  # derived from the bandwidth
    assert spec.dram_device_bandwidth_bytes_per_s == 3200e6 * 2  # DDR4-3200 x16 [D]
    for value in (spec.dram_device_usd, spec.board_usd, spec.packaging_usd):
        assert math.isfinite(value) and value > 0
    p = dollars.asic_part_cost_usd(spec, 10.0)
    for key in TERMS + ("cost_usd",):
        assert np.isfinite(float(p[key])) and float(p[key]) > 0, key


def test_jit_vmap_grad():
    batch = jax.tree.map(lambda v: jnp.stack([jnp.asarray(v, jnp.float32)] * 3),
                         SPEC.replace(name="p"))
    batch = batch.replace(board_usd=jnp.array([0.0, 10.0, 80.0]))
    c = jax.vmap(lambda s: EVAL(WL, s))(batch)
    np.testing.assert_allclose(np.diff(np.asarray(c.cost_usd)), [10.0, 70.0], rtol=1e-5)
    def cost(board_usd, bw_gbps):
        spec = SPEC.replace(board_usd=board_usd, dram_bandwidth_bytes_per_s=bw_gbps * 1e9)
        return EVAL(WL, spec, smooth=True).cost_usd

    d_board, d_bw = jax.grad(cost, argnums=(0, 1))(10.0, 16.0)
    assert float(d_board) == pytest.approx(1.0)
    # Straight-through device count: d cost / d (GB/s) = $3.5 per 6.4 GB/s device.
    assert float(d_bw) == pytest.approx(3.5 / 6.4, rel=1e-4)


PART_YAML = """\
version: 1
kind: asic
pe_rows: 16
pe_cols: 16
dataflow: ws
freq_hz: 1e9
dram_bandwidth_bytes_per_s: 1.6e12
dram_devices: 2
dram_device_bandwidth_bytes_per_s: 819e9
dram_device_usd: 160
board_usd: 80
"""


def test_yaml_overrides_every_part_term(tmp_path):
    path = tmp_path / "card.yaml"
    path.write_text(PART_YAML)
    spec = hw.load_spec(path)
    assert (spec.dram_devices, spec.dram_device_usd, spec.board_usd) == (2.0, 160.0, 80.0)
    c = hw.evaluate(WL, spec)
    assert float(c.extras["dram_usd"]) == pytest.approx(320.0)
    assert float(c.extras["board_usd"]) == pytest.approx(80.0)


def _with(field: str, raw: str) -> str:
    """PART_YAML with ``field`` set to the raw YAML value ``raw``."""
    return "".join(f"{field}: {raw}\n" if ln.startswith(f"{field}:") else ln
                   for ln in PART_YAML.splitlines(keepends=True))


@pytest.mark.parametrize("field", ["dram_devices", "dram_device_bandwidth_bytes_per_s",
                                   "dram_device_usd", "board_usd"])
@pytest.mark.parametrize(("bad", "raw"), [(-1.0, "-1"), (float("nan"), ".nan"),
                                          (float("inf"), ".inf")])
def test_bad_part_values_are_refused_naming_the_field(field, bad, raw, tmp_path):
    with pytest.raises(hw.SpecError, match=f"AsicSpec.{field}"):
        hw.AsicSpec(16, 16, **{field: bad})
    path = tmp_path / "bad.yaml"
    path.write_text(_with(field, raw))
    with pytest.raises(hw.SpecError, match=f"key '{field}'"):
        hw.load_spec(path)


def test_fractional_device_count_refused_in_files(tmp_path):
    path = tmp_path / "frac.yaml"
    path.write_text(_with("dram_devices", "2.5"))
    with pytest.raises(hw.SpecError, match="dram_devices.*integer"):
        hw.load_spec(path)


# --------------------------------------------------------------------- compare
def test_compare_counts_the_same_thing_for_every_family_and_sorts():
    from lepton_codesign.compare import SORT_KEYS, compare, format_table, sort_rows

    rows = compare(WL, ["gemmini-like", "tpuv1-like", "kv260", "l4"], sort_by="capex_usd")
    capex = [r["capex_usd"] for r in rows]
    assert capex == sorted(capex)
    assert [r["spec"] for r in rows] == ["gemmini-like", "tpuv1-like", "kv260", "l4"]
    for r in rows:
        assert r["capex_convention"] == dollars.CAPEX_CONVENTION
        assert r["capex_usd"] == r["cost_usd"] > 0
    # The ASIC's capex is more than its bare die: it is the plugged-in part.
    gem = rows[0]
    assert "board" in gem["capex_breakdown"] and "DRAM" in gem["capex_breakdown"]
    table = format_table(rows, "table", sort_by="capex_usd")
    assert dollars.CAPEX_CONVENTION in table and "sorted by capex_usd" in table
    assert "gemmini-like capex: die $" in table
    assert json.loads(format_table(rows, "json"))[0]["capex_convention"].startswith("capex")
    parsed = list(csv.DictReader(io.StringIO(format_table(rows, "csv"))))
    assert [r["spec"] for r in parsed] == [r["spec"] for r in rows]
    assert float(parsed[2]["capex_usd"]) == 249.0
    # Higher-is-better keys sort descending; designs that do not fit go last.
    fast = sort_rows(rows + [dict(rows[0], spec="broken", feasible=False,
                                  throughput_per_s=1e30)], "throughput_per_s")
    thr = [r["throughput_per_s"] for r in fast[:-1]]
    assert thr == sorted(thr, reverse=True) and fast[-1]["spec"] == "broken"
    for key in SORT_KEYS:
        assert isinstance(rows[0][key], float), key


def test_compare_refuses_an_unknown_sort_key_listing_the_allowed_ones():
    from lepton_codesign.compare import compare

    with pytest.raises(ValueError, match=r"sort_by 'spec'.*usd_per_1m_inferences"):
        compare(WL, ["kv260"], sort_by="spec")


def test_cli_sort_choices_match_the_library(capsys):
    from lepton_codesign import cli
    from lepton_codesign.compare import SORT_KEYS

    assert cli.SORT_KEYS == SORT_KEYS
    with pytest.raises(SystemExit):
        cli.main(["compare", "--model", "mlp", "--spec", "kv260", "--sort", "bogus"])
    assert "invalid choice" in capsys.readouterr().err


def test_cli_compare_sorts_and_states_the_convention(capsys):
    from lepton_codesign.cli import main

    assert main(["compare", "--model", "mlp", "--spec", "l4", "--spec", "kv260", "--spec",
                 "gemmini-like", "--sort", "usd_per_1m_inferences"]) == 0
    out = capsys.readouterr().out
    assert dollars.CAPEX_CONVENTION in out
    assert "sorted by usd_per_1m_inferences" in out
