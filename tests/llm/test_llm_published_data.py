"""benchmarks/validation/data/llm_published.json: every row is complete and maps onto the
product's inputs (the predictions themselves run in benchmarks/validation/llm_published.py)."""

import json
from pathlib import Path

import pytest

from lepton_codesign.catalog import preset_catalog
from lepton_codesign.llm.configs import llm_config, llm_config_names

ROOT = Path(__file__).resolve().parents[2] / "benchmarks" / "validation"
ROWS = json.loads((ROOT / "data" / "llm_published.json").read_text())["rows"]
FIELDS = ("id", "kind", "source_url", "source_title", "date", "software", "device", "spec",
          "n_devices", "tp", "dp", "model", "model_measured", "weight_precision",
          "kv_precision", "metric", "phase", "batch", "batch_basis", "input_len",
          "output_len", "value", "unit", "notes")


@pytest.fixture(scope="module")
def script(load_script):
    return load_script("benchmarks/validation/llm_published.py", "llm_published")


def test_enough_rows_of_each_kind_with_unique_ids():
    assert len(ROWS) >= 10
    assert len({r["id"] for r in ROWS}) == len(ROWS)
    kinds = {r["kind"] for r in ROWS}
    assert {"mlperf", "low_batch_decode", "tp_scaling"} <= kinds


@pytest.mark.parametrize("row", ROWS, ids=[r["id"] for r in ROWS])
def test_row_is_complete_and_maps_to_product_inputs(row, script):
    missing = [f for f in FIELDS if f not in row]
    assert not missing
    assert row["source_url"].startswith("https://")
    assert row["n_devices"] == row["tp"] * row.get("pp", 1) * row["dp"]
    assert row["model"] in llm_config_names()
    shape = llm_config(row["model"])
    assert shape.n_heads % row["tp"] == 0 and shape.n_kv_heads % row["tp"] == 0
    assert row["spec"] in {p["name"] for p in preset_catalog()}
    assert row["value"] > 0 and row["batch"] >= 1 and row["output_len"] >= 1
    assert row["weight_precision"] in script.PRECISION
    assert row["metric"] in ("tpot_s", "ttft_s", "system_output_tokens_per_s",
                             "per_gpu_output_tokens_per_s")


def test_script_helpers(script):
    row = {"metric": "tpot_s"}
    assert script.error(1.1, 1.0) == pytest.approx(0.1)
    assert script.optimism(row, -0.2) == "optimistic"      # predicted faster than measured
    assert script.optimism({"metric": "system_output_tokens_per_s"}, -0.2) == "pessimistic"
    mlperf = next(r for r in ROWS if r["input_len"] is None)
    assert script.lengths(mlperf) == (script.MLPERF_PROMPT, 294)
    assert script.lengths(mlperf, 1024)[0] == 1024
    a100 = next(r for r in ROWS if r.get("spec_override"))
    assert float(script.spec_of(a100).mem_bandwidth_bytes_per_s) == 2.039e12
    fp8 = next(r for r in ROWS if r["weight_precision"] == "fp8")
    assert float(script.spec_of(fp8).layout_pass_bytes_per_s) > 0  # the preset as fitted
