"""[asic] seeds: scored exactly at every operating point, injected into NSGA-II when in bounds."""

import json
from pathlib import Path

import numpy as np
import pytest

from lepton_codesign import hw_models
from lepton_codesign.codesign import families as fam
from lepton_codesign.codesign import pipeline
from lepton_codesign.codesign.config import validate_config

NAMES = ["dense", "sparse"]


@pytest.fixture(scope="module")
def workload():
    from lepton_codesign.extract import extract_workload
    from lepton_codesign.models import build_model

    model, x = build_model("mlp")
    return extract_workload(model, x)


def _comps(wl):
    n = len(wl.names)
    return [hw_models.compression.make_compression(n, weight_bits=8, act_bits=8),
            hw_models.compression.make_compression(n, weight_density=0.25, weight_bits=4,
                                                   act_bits=8)]


def test_seeds_are_scored_exactly_at_every_point(workload):
    cfg = validate_config({"asic": {"seeds": ["gemmini-like", "eyeriss-like"]}})
    comps, acc = _comps(workload), [0.9, 0.8]
    pts = fam.evaluate_seeds(cfg, workload, comps, acc, NAMES)
    assert [(p.hardware.preset, p.point) for p in pts] == [
        ("gemmini-like", "dense"), ("gemmini-like", "sparse"),
        ("eyeriss-like", "dense"), ("eyeriss-like", "sparse")]
    for p in pts:
        assert p.family == "asic" and p.hardware.seed is True
        assert p.to_json()["hardware"] == {"preset": p.hardware.preset, "seed": True}
        spec = pipeline._spec_of(p.to_json())
        assert spec == hw_models.preset(p.hardware.preset)
        costs = hw_models.evaluate(workload, spec, comps[NAMES.index(p.point)])
        assert p.objectives[1] == pytest.approx(float(costs.total_latency_s), rel=1e-6)
        assert all(np.isfinite(p.objectives))


def test_only_seeds_inside_the_bounds_are_injected(workload):
    # eyeriss-like: 65 nm and 1.6 GB/s lie outside the default node list / DRAM range
    cfg = validate_config({"asic": {"seeds": ["eyeriss-like", "gemmini-like"]}})
    space = fam.asic_space(cfg, NAMES)
    u = fam.seed_cube(cfg, space, NAMES)
    assert u.shape == (2, space.dim)
    d = space.decode(u)
    assert np.asarray(d["pe_rows"]).tolist() == [16, 16]
    assert np.asarray(d["point"]).tolist() == [0, 1]
    assert [cfg["asic"]["dataflows"][i] for i in np.asarray(d["dataflow"])] == ["ws", "ws"]
    np.testing.assert_allclose(np.asarray(d["sram_bytes"]), (64 + 64 + 128) / 3 * 1024,
                               rtol=1e-4)
    narrow = validate_config({"asic": {"seeds": ["gemmini-like"], "pe_rows": [32, 64]}})
    assert fam.seed_cube(narrow, fam.asic_space(narrow, NAMES), NAMES) is None


def test_injection_is_capped_at_pop_size():
    cfg = validate_config({"asic": {"seeds": ["gemmini-like", "nvdla-like"], "pop_size": 4,
                                    "pe_rows": [4, 128], "pe_cols": [4, 128]}})
    names = ["a", "b", "c"]
    u = fam.seed_cube(cfg, fam.asic_space(cfg, names), names)
    assert u.shape[0] == 4


@pytest.mark.slow
def test_pipeline_with_seeds_and_a_spec_file_device(tmp_path):
    from tests.codesign.conftest import TINY

    gpu = Path(__file__).parents[2] / "hw_models" / "presets" / "t4.yaml"
    spec_file = tmp_path / "my_gpu.yaml"
    spec_file.write_text(gpu.read_text().replace("name: t4", "name: my-t4"))
    cfg = json.loads(json.dumps(TINY))
    cfg.update(points=cfg["points"][1:], hardware={"families": ["asic", "gpu"]},
               train={"epochs": 1, "batch_size": 64})
    cfg["asic"].update(seeds=["gemmini-like", "eyeriss-like"], generations=1)
    cfg["gpu"]["devices"] = ["t4", str(spec_file)]
    res = pipeline.codesign(config=cfg, out_dir=tmp_path / "run", progress=False)
    labels = [p["label"] for p in res.points]
    for want in ("s75-int4 @ gemmini-like", "s75-int4 @ eyeriss-like", "s75-int4 @ my-t4",
                 "s75-int4 @ t4"):
        assert labels.count(want) == 1, want
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    by_label = {p["label"]: p for p in saved["points"]}
    assert by_label["s75-int4 @ my-t4"]["hardware"] == {"spec_file": str(spec_file.resolve()),
                                                         "name": "my-t4"}
    # the injected gemmini-like row is part of the first generation's designs
    searched = [p["hardware"] for p in saved["points"] if p["family"] == "asic"
                and "seed" not in p["hardware"]]
    assert any(h["pe_rows"] == 16 and h["pe_cols"] == 16 and h["dataflow"] == "ws"
               and h["node_nm"] == 16 for h in searched)
    comp = pipeline.compression_from_dict(saved["trials"][0]["compression"])
    from lepton_codesign.extract import extract_workload
    from lepton_codesign.models import build_model

    wl = extract_workload(*build_model("mlp", features=saved["trials"][0]["features"]))
    for label in ("s75-int4 @ gemmini-like", "s75-int4 @ my-t4"):
        p = by_label[label]
        costs = hw_models.evaluate(wl, pipeline._spec_of(p), comp)
        i = saved["run"]["settings"]["objectives"]["names"].index("latency_s")
        assert p["objectives"][i] == pytest.approx(float(costs.total_latency_s), rel=1e-5)
