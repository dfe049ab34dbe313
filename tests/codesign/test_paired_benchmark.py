"""``benchmarks/paired.py`` and the paired table of ``benchmarks/codesign_joint.py``:
exact Wilcoxon p-values worked by hand, the verdict, and bad scores (no training)."""

import math

import pytest


@pytest.fixture(scope="module")
def paired(load_script):
    return load_script("benchmarks/paired.py", "paired")


@pytest.fixture(scope="module")
def cj(load_script):
    return load_script("benchmarks/codesign_joint.py", "codesign_joint")


def test_every_seed_above_gives_two_to_the_minus_n(paired):
    for n in (3, 5, 10):
        s = paired.paired_comparison({i: 1.0 + 0.01 * (i + 1) for i in range(n)},
                                     {i: 1.0 for i in range(n)})
        assert s["wins"] == n and s["losses"] == 0
        assert s["p_greater"] == pytest.approx(2.0 ** -n)
        assert s["p_less"] == pytest.approx(1.0)
        assert s["verdict"] == ("not separable" if n < 5 else "above")


def test_one_loss_of_the_smallest_size_by_hand(paired):
    # d = -1, 2, 3, 4, 5: W+ = 14 of 15; of the 32 sign patterns only W+ = 15 (all
    # positive) and 14 (only rank 1 negative) reach it, so p = 2 / 32
    s = paired.paired_comparison({i: d for i, d in enumerate([-1, 2, 3, 4, 5])},
                                 dict.fromkeys(range(5), 0.0))
    assert s["p_greater"] == pytest.approx(2 / 32)
    assert s["verdict"] == "not separable"
    assert (s["wins"], s["losses"]) == (4, 1)
    assert s["mean"] == pytest.approx(2.6)
    lo, hi = s["ci95"]
    assert lo < 2.6 < hi and hi - 2.6 == pytest.approx(2.6 - lo)


def test_every_seed_below_is_below_and_only_shared_seeds_count(paired):
    s = paired.paired_comparison({i: -0.1 * (i + 1) for i in range(6)} | {99: 5.0},
                                 dict.fromkeys(range(8), 0.0))
    assert s["seeds"] == list(range(6)) and s["n"] == 6
    assert s["verdict"] == "below"
    assert s["p_less"] == pytest.approx(2.0 ** -6)


def test_zero_differences_are_dropped_and_all_zero_has_no_p(paired):
    s = paired.paired_comparison({0: 1.0, 1: 1.0}, {0: 1.0, 1: 1.0})
    assert s["p_greater"] is None and s["verdict"] == "not separable"
    assert s["mean"] == 0.0 and s["wins"] == s["losses"] == 0
    s = paired.paired_comparison({0: 1.0, 1: 2.0, 2: 3.0, 3: 4.0},
                                 {0: 1.0, 1: 1.0, 2: 1.0, 3: 1.0})
    assert s["p_greater"] == pytest.approx(1 / 8)  # the zero is dropped: n = 3


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_score_is_refused_with_its_seed(paired, bad):
    with pytest.raises(ValueError, match=r"seeds \[1\]"):
        paired.paired_comparison({0: 1.0, 1: bad}, {0: 0.5, 1: 0.5})


def test_codesign_joint_renders_the_paired_table_only_with_two_seeds(cj):
    runs = [{"task": "t", "method": m, "seed": s, "hv": hv}
            for s, (g, j) in enumerate([(1.0, 1.2), (1.1, 1.0), (0.9, 1.3)])
            for m, hv in (("grid", g), ("joint", j))]
    header = {}
    lines = cj.paired_lines(runs, ["t"], ["grid", "joint"], header)
    rows = [ln for ln in lines if ln.startswith("| t |")]
    assert len(rows) == 1 and "| 3 | +0.167" in rows[0] and "| 2-1 |" in rows[0]
    assert rows[0].endswith("| not separable |")
    assert header["paired"]["t"]["joint"]["n"] == 3
    assert cj.paired_lines(runs[:2], ["t"], ["grid", "joint"], {}) == []


def test_descriptive_table_orients_the_error_so_a_win_is_lower(cj):
    runs = [{"task": "t", "method": m, "seed": s, "hv": 1.0, "hv_without_best": w,
             "front_errors": e}
            for s, (gw, ge, jw, je) in enumerate([(0.5, [0.30, 0.4], 0.7, [0.32]),
                                                   (0.6, [0.31], 0.8, [0.29, 0.5])])
            for m, w, e in (("grid", gw, ge), ("joint", jw, je))]
    rows = {ln.split(" | ")[0][2:]: ln for ln in cj.descriptive_lines(runs, ["t"],
                                                                      ["grid", "joint"])
            if ln.startswith("| ") and " | t | " in ln}
    assert rows["HV without the most accurate level"].endswith(
        "| 2 | 0.750 | 0.550 | +0.200 | 2-0 |")
    assert rows["lowest front error"].endswith("| 2 | 0.305 | 0.305 | +0.000 | 1-1 |")
    assert cj.descriptive_lines(runs[:2], ["t"], ["grid", "joint"]) == []
