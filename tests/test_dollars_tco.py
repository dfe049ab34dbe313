"""One dollar convention across ASIC, FPGA and GPU, and the ``compare`` table built on it.

``cost_usd`` is unit capex; ``usd_per_1m_inferences`` = 1e6 x (capex x time per
inference / (lifetime x utilisation) + energy per inference x $/J), or $/hour x time for a
rented GPU (see ``hw_models/dollars.py``).
"""

from __future__ import annotations

import csv
import io
import json

import jax
import numpy as np
import pytest

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models import dollars

EVAL = jax.jit(hw.evaluate, static_argnames=("smooth",))
PRESETS = ["gemmini-like", "kv260", "zcu104", "l4", "h100-sxm"]


@pytest.fixture(scope="module")
def workload():
    layers = [hw.conv_layer("c1", (16, 16), 3, 16, (3, 3), padding=1, batch=4),
              hw.conv_layer("c2", (16, 16), 16, 32, (3, 3), stride=2, padding=1, batch=4),
              {"name": "fc", "m": 4, "k": 32 * 8 * 8, "n": 10}]
    return hw.make_workload(layers, batch=4)


def time_per_inference(costs, spec, batch):
    if isinstance(spec, (hw.FpgaSpec, hw.GpuSpec)):
        return 1.0 / float(costs.extras["throughput_per_s"])
    return float(costs.total_latency_s) / batch


@pytest.mark.parametrize("name", PRESETS)
def test_usd_per_million_follows_the_formula(workload, name):
    spec = hw.preset(name).replace(name="x")  # one static name per family: fewer compiles
    dep = dollars.Deployment(lifetime_years=4.0, utilization=0.3, electricity_usd_per_kwh=0.2)
    c = EVAL(workload, spec, deployment=dep)
    t, e = time_per_inference(c, spec, 4), float(c.total_energy_j) / 4
    capex = float(c.cost_usd)
    life_s = 4.0 * dollars.SECONDS_PER_YEAR * 0.3
    expect = 1e6 * (capex * t / life_s + e * 0.2 / dollars.J_PER_KWH)
    assert float(c.usd_per_1m_inferences) == pytest.approx(expect, rel=1e-4)
    assert capex > 0


def test_capex_is_the_unit_price_of_each_family(workload):
    assert float(EVAL(workload, hw.preset("kv260").replace(name="x")).cost_usd) == 249.0
    assert float(EVAL(workload, hw.preset("h100-sxm").replace(name="x")).cost_usd) == 27500.0
    asic = hw.preset("gemmini-like").replace(name="x")
    c = EVAL(workload, asic)
    die = float(c.extras["die_cost_usd"])
    nre = float(hw.constants.mask_set_usd(16.0)) / float(asic.volume_units)
    # The deployable part: die + package + DRAM devices + board + NRE share.
    part = float(asic.packaging_usd) + float(c.extras["dram_usd"]) + float(asic.board_usd)
    assert float(c.extras["dram_usd"]) == 3 * 3.5  # ceil(16 / 6.4 GB/s) DDR4 devices
    assert float(c.cost_usd) == pytest.approx(die + part + nre, rel=1e-4)


@pytest.mark.parametrize("name", ["kv260", "l4"])
def test_deployment_terms_move_the_price_the_right_way(workload, name):
    spec = hw.preset(name).replace(name="x")
    tco = lambda **kw: float(EVAL(workload, spec,  # noqa: E731
                                  deployment=dollars.Deployment(**kw)).usd_per_1m_inferences)
    base = tco()
    assert tco(lifetime_years=6.0) < base and tco(utilization=1.0) < base
    assert tco(electricity_usd_per_kwh=0.5) > base
    free_power = tco(electricity_usd_per_kwh=0.0)
    assert tco(lifetime_years=6.0, electricity_usd_per_kwh=0.0) == pytest.approx(free_power / 2)


def test_rented_gpu_pays_by_the_hour_only(workload):
    spec = hw.preset("h100-sxm").replace(pricing="rent", name="x")
    a = EVAL(workload, spec, deployment=dollars.Deployment(lifetime_years=1.0))
    b = EVAL(workload, spec, deployment=dollars.Deployment(electricity_usd_per_kwh=1.0))
    t = float(a.extras["interval_s"]) / 4  # $/1M use the throughput time base
    assert float(a.usd_per_1m_inferences) == pytest.approx(1e6 * 4.916 * t / 3600, rel=1e-5)
    assert float(b.usd_per_1m_inferences) == pytest.approx(float(a.usd_per_1m_inferences))


# --------------------------------------------------------------------- compare
def test_compare_rows_table_json_csv_and_plot(workload, tmp_path):
    from lepton_codesign.compare import compare, format_table, plot_compare

    rows = compare(workload, ["gemmini-like", hw.preset("kv260"), "h100-sxm"])
    assert [r["spec"] for r in rows] == ["gemmini-like", "kv260", "h100-sxm"]
    assert [r["kind"] for r in rows] == ["asic", "fpga", "gpu"]
    for r in rows:
        for key in ("latency_s", "throughput_per_s", "energy_per_inference_j",
                    "usd_per_1m_inferences", "cost_usd"):
            assert np.isfinite(r[key]) and r[key] > 0, (r["spec"], key)
        assert r["bound"] in ("compute", "memory", "mixed") and r["feasible"]
    assert rows[0]["area_mm2"] > 0 and "lut" in rows[1]["utilization"]
    kv = EVAL(workload, hw.preset("kv260"))
    assert rows[1]["usd_per_1m_inferences"] == pytest.approx(float(kv.usd_per_1m_inferences))
    table = format_table(rows, "table")
    assert "kv260" in table and "$/1M" in table
    assert json.loads(format_table(rows, "json"))[2]["spec"] == "h100-sxm"
    parsed = list(csv.DictReader(io.StringIO(format_table(rows, "csv"))))
    assert parsed[0]["spec"] == "gemmini-like"
    out = tmp_path / "cmp.png"
    plot_compare(rows, out)
    assert out.stat().st_size > 1000
    with pytest.raises(ValueError, match="format"):
        format_table(rows, "xml")


def test_compare_reports_infeasible_designs(workload):
    from lepton_codesign.compare import compare

    tiny = hw.FpgaSpec(lut=500.0, dsp=0.0, bram18=0.0, name="tiny")
    (row,) = compare(workload, [tiny])
    assert row["feasible"] is False and row["infeasible"] == "lut"
