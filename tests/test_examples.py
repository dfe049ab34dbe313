"""Every example runs in a reduced form."""

import pytest


@pytest.fixture(scope="module")
def example(load_script):
    return lambda name: load_script(f"examples/{name}.py", name)


@pytest.mark.slow
def test_seed_case_quick(example):
    out = example("seed_case").main(["--quick"])
    assert out["storage"]["params"] > 1_000_000
    assert out["storage"]["nonzeros"] <= 0.11 * out["storage"]["params"]
    assert out["storage"]["reduction"] > 4
    rows = out["rows"]
    assert {r["hardware"] for r in rows} == {"gemmini-like", "zcu104", "t4"}
    for hw_name in ("gemmini-like", "zcu104"):
        d, p = (r for r in rows if r["hardware"] == hw_name)
        assert p["energy_j"] < d["energy_j"]


def test_evaluate_spec_yaml(example):
    totals = example("evaluate_spec").main(["--model", "mlp"])
    dense, sparse = totals
    assert sparse["total_latency_s"] < dense["total_latency_s"]  # 2:4 on nm hardware
    assert sparse["total_energy_j"] < dense["total_energy_j"]


def test_compare_presets(tmp_path, example):
    rows = example("compare_presets").main(["--model", "mlp", "--plot", str(tmp_path / "c.png")])
    assert len(rows) == 8 and (tmp_path / "c.png").stat().st_size > 10_000


@pytest.mark.slow
def test_multitask_quick(example):
    out = example("multitask").main(["--quick"])
    assert out["layers"] == ("trunk/layers/0", "trunk/layers/1", "heads/digit", "heads/parity")
    assert {"test_accuracy/digit", "test_accuracy/parity"} <= set(out["metrics"])
