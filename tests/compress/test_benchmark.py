"""The compression benchmark's --quick smoke run (tiny models, one seed)."""

import pytest


@pytest.fixture(scope="module")
def bench(load_script):
    return load_script("benchmarks/compression.py", "compression_benchmark")


def test_maximal_allocations_brute_force(bench):
    """Every allocation within the budget is dominated layer-wise by a listed one, and
    no listed one can take one more bit anywhere (checked by brute force)."""
    import itertools

    weights = [10240, 65536, 2560]  # the MNIST-1D MLP
    assert bench.maximal_allocations(weights, 4) == [(3, 4, 8), (4, 4, 4), (8, 3, 8)]
    for budget in (2.5, 3, 4, 6):
        found = bench.maximal_allocations(weights, budget)

        def avg(b):
            return sum(w * x for w, x in zip(weights, b, strict=True)) / sum(weights)

        assert found and all(avg(b) <= budget + 1e-9 for b in found)
        for b in found:  # maximal: one more bit in any layer exceeds the budget
            assert all(x == 8 or avg(b[:i] + (x + 1,) + b[i + 1:]) > budget + 1e-9
                       for i, x in enumerate(b))
        for bits in itertools.product(range(2, 9), repeat=3):
            if avg(bits) <= budget + 1e-9:
                assert any(all(x <= y for x, y in zip(bits, m, strict=True)) for m in found)
    assert bench.maximal_allocations([1, 1], 8) == [(8, 8)]
    assert bench.maximal_allocations([1, 1], 1) == []  # below the lowest bit-width


@pytest.mark.slow
def test_quick_benchmark(tmp_path, bench):
    out_json, out_md = tmp_path / "runs.json", tmp_path / "table.md"
    args = ["--quick", "--models", "mnist1d-mlp", "--sections", "main,hw", "--seeds", "0",
            "--json", str(out_json), "--md", str(out_md)]
    results = bench.main(args)
    assert len(results) == 6  # dense, 2 magnitude, learned, 2 lambdas
    for row in results.values():
        assert 0.0 <= row["test_accuracy"] <= 1.0
    learned = results["mnist1d-mlp|main|learned-90|0"]
    assert learned["density"] == pytest.approx(0.1, abs=0.002)
    assert learned["storage_reduction"] > 1.0
    text = out_md.read_text()
    assert "learned-90" in text and "Hardware-cost term" in text and "Targets" in text
    assert bench.main(args) == results  # finished runs are skipped on a rerun
