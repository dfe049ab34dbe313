"""The compression benchmark's --quick smoke run (tiny models, one seed)."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_benchmark(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "compression_benchmark", ROOT / "benchmarks" / "compression.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    out_json, out_md = tmp_path / "runs.json", tmp_path / "table.md"
    args = ["--quick", "--models", "mnist1d-mlp", "--sections", "main,hw", "--seeds", "0",
            "--json", str(out_json), "--md", str(out_md)]
    results = mod.main(args)
    assert len(results) == 6  # dense, 2 magnitude, learned, 2 lambdas
    for row in results.values():
        assert 0.0 <= row["test_accuracy"] <= 1.0
    learned = results["mnist1d-mlp|main|learned-90|0"]
    assert learned["density"] == pytest.approx(0.1, abs=0.002)
    assert learned["storage_reduction"] > 1.0
    text = out_md.read_text()
    assert "learned-90" in text and "Hardware-cost term" in text and "Targets" in text
    assert mod.main(args) == results  # finished runs are skipped on a rerun
