"""Typed co-design records: AsicSpec field names, the config boundary, older keys read."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from lepton_codesign import hw_models
from lepton_codesign.codesign import families as fam
from lepton_codesign.codesign import pipeline
from lepton_codesign.codesign.config import validate_config
from lepton_codesign.codesign.records import (
    ASIC_FIELDS,
    SRAM_FIELDS,
    AsicBounds,
    HardwareDesign,
    ScoredDesign,
)

from . import report_synthetic as rs

NEW = {"pe_rows": 12, "pe_cols": 20, "ifmap_sram_bytes": 54620.16015625,
       "filter_sram_bytes": 54620.16015625, "ofmap_sram_bytes": 54620.16015625,
       "freq_hz": 1.25e9, "dram_bandwidth_bytes_per_s": 6.0e9, "node_nm": 16.0,
       "dataflow": "is", "sparsity_support": "nm", "precision_scalable": 1}


def test_config_units_are_converted_once_into_spec_units():
    cfg = validate_config({"asic": {"sram_kib": [16, 512], "dram_gbps": [3.2, 25.6]}})
    b = AsicBounds.from_config(cfg)
    assert b.sram_bytes == (16 * 1024.0, 512 * 1024.0)
    assert b.dram_bandwidth_bytes_per_s == (3.2e9, 25.6e9)
    space = fam.asic_space(cfg, ["p"])
    assert "sram_bytes" in space.names and "dram_bandwidth_bytes_per_s" in space.names
    assert not {"sram_kib", "dram_gbps"} & set(space.names)
    designs = space.decode(np.linspace(0.0, 1.0, 5)[:, None].repeat(space.dim, 1))
    assert np.asarray(designs["sram_bytes"]).min() == pytest.approx(16 * 1024.0, rel=1e-6)
    assert np.asarray(designs["dram_bandwidth_bytes_per_s"]).max() == pytest.approx(
        25.6e9, rel=1e-6)


def test_asic_record_uses_spec_field_names_and_rebuilds_its_spec():
    cfg = validate_config({"asic": {"dataflows": ["ws", "is"],
                                    "sparsity_support": ["none", "nm"]}})
    # one decoded design (float32 values, categorical option indices); values in NEW
    # are exact in float32, so the record holds them unchanged
    numeric = [k for k in NEW if k not in (*SRAM_FIELDS, "dataflow", "sparsity_support")]
    decoded = {**{k: np.float32(NEW[k]) for k in numeric},
               "sram_bytes": np.float32(NEW["ifmap_sram_bytes"]), "dataflow": np.int32(1),
               "sparsity_support": np.int32(1), "point": np.int32(0)}
    rec = fam.asic_design(cfg, decoded)
    assert rec.to_json() == NEW and list(rec.to_json()) == list(ASIC_FIELDS)
    assert HardwareDesign.from_json("asic", json.loads(json.dumps(rec.to_json()))) == rec
    spec = pipeline._spec_of({"family": "asic", "hardware": rec.to_json()})
    assert spec == hw_models.AsicSpec(**NEW)


def test_an_older_versions_keys_are_still_read():
    old = {"pe_rows": 12, "pe_cols": 20, "sram_kib_each": 53.34, "freq_hz": 1.25e9,
           "dram_gbps": 6.114, "node_nm": 16.0, "dataflow": "is", "sparsity_support": "nm",
           "precision_scalable": 1}
    rec = HardwareDesign.from_json("asic", old)
    assert {rec.spec[f] for f in SRAM_FIELDS} == {53.34 * 1024}
    assert rec.spec["dram_bandwidth_bytes_per_s"] == pytest.approx(6.114e9)
    spec = pipeline._spec_of({"family": "asic", "hardware": old})
    assert spec == hw_models.AsicSpec(**{**NEW, **rec.spec})
    with pytest.raises(KeyError, match="dataflow"):
        HardwareDesign.from_json("asic", {k: v for k, v in old.items() if k != "dataflow"})


def test_device_records_keep_their_json_form():
    for hw in ({"preset": "t4"}, {"preset": "kv260", "design": "overlay"},
               {"spec_file": "/x/my.yaml", "name": "mine"},
               {"preset": "eyeriss-like", "seed": True}):
        rec = HardwareDesign.from_json("gpu", hw)
        assert rec.to_json() == hw and not rec.searched
    with pytest.raises(ValueError, match="not both"):
        HardwareDesign("asic", NEW, preset="t4")
    with pytest.raises(ValueError, match="not neither"):
        HardwareDesign("asic")
    point = ScoredDesign(HardwareDesign("gpu", preset="t4"), "dense", (0.1, 2e-3), 0.0, True)
    assert point.to_json() == {"family": "gpu", "hardware": {"preset": "t4"},
                               "point": "dense", "objectives": [0.1, 2e-3],
                               "violation": 0.0, "feasible": True}


def test_a_report_of_an_older_run_directory_still_renders(tmp_path):
    from lepton_codesign.codesign.report import write_report

    res = rs.results()
    for p in res["points"]:
        if p["family"] == "asic":
            hw = p["hardware"]
            hw["sram_kib_each"] = hw.pop("ifmap_sram_bytes") / 1024
            for f in SRAM_FIELDS[1:]:
                del hw[f]
            hw["dram_gbps"] = hw.pop("dram_bandwidth_bytes_per_s") / 1e9
    (tmp_path / "results.json").write_text(json.dumps(res))
    write_report(tmp_path)
    with open(tmp_path / "front.csv") as fh:
        header = next(csv.reader(fh))
    assert "hw.sram_kib_each" in header and "hw.dram_gbps" in header
    html = (tmp_path / "report.html").read_text()
    assert "14.1 KiB" in html and "3.40 GB/s" in html
