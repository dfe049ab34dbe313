"""``benchmarks/joint_settings.py``: variants, the selection rule, and the budget logic
it shares with ``benchmarks/codesign_joint.py`` (no training here)."""

import pytest


@pytest.fixture(scope="module")
def js(load_script):
    return load_script("benchmarks/joint_settings.py", "joint_settings")


def test_variants_set_the_compression_keys_and_leave_the_config_alone(js):
    cfg = {"compression": {"validation_fraction": 0.1, "base_bits": 32, "retrain": 0,
                           "refit": False}, "run": {"seed": 3}}
    out = js.apply_variant(cfg, "vf0.05+bb8+rt2+refit")
    assert out["compression"] == {"validation_fraction": 0.05, "base_bits": 8,
                                  "retrain": 2, "refit": True}
    assert out["run"] == {"seed": 3}
    assert cfg["compression"]["base_bits"] == 32  # the task's config is not changed
    assert js.apply_variant(cfg, "default")["compression"] == cfg["compression"]
    assert js.method_name("default") == "joint"
    assert js.method_name("bb8") == "joint+bb8"


@pytest.mark.parametrize("token", ["xx8", "vf", "bb", "lr0.1", "", "bbx", "vf0.1.2"])
def test_a_bad_variant_token_is_refused(js, token):
    with pytest.raises(ValueError, match="variant token"):
        js.apply_variant({"compression": {}}, f"bb8+{token}" if token else "bb8+")


def _runs(hvs):
    """``{(task, method): [hv per seed]}`` -> run records."""
    return [{"task": t, "method": m, "seed": s, "hv": hv}
            for (t, m), values in hvs.items() for s, hv in enumerate(values)]


def test_the_rule_takes_the_best_worst_task_mean(js):
    runs = _runs({("a", "grid"): [1.0, 1.0], ("b", "grid"): [2.0, 2.0],
                  ("a", "joint"): [1.5, 1.5], ("b", "joint"): [1.8, 1.8],   # -0.2 on b
                  ("a", "joint+bb8"): [1.1, 1.1], ("b", "joint+bb8"): [2.1, 1.9],  # 0 / +0.1
                  ("a", "joint+vf0.05"): [3.0, 3.0]})  # no run on b: not eligible
    chosen, worst = js.choose(runs, ["a", "b"], ["default", "bb8", "vf0.05"])
    assert chosen == "bb8"
    assert worst == pytest.approx({"default": -0.2, "bb8": 0.0})
    assert js.margins(runs, "b", "joint+bb8") == pytest.approx([0.1, -0.1])


def test_a_tie_goes_to_the_default(js):
    runs = _runs({("a", "grid"): [1.0], ("a", "joint"): [1.2], ("a", "joint+bb8"): [1.2]})
    assert js.choose(runs, ["a"], ["bb8", "default"])[0] == "default"


def test_the_budget_takes_off_the_measured_overhead(js):
    cj = js.cj
    grid = {"wall_s": 40.0, "training_s": 28.0}
    assert cj.joint_budget([], "a", "joint", grid) == pytest.approx(28.0)  # grid's own
    runs = [{"task": "a", "method": "joint", "wall_s": 41.0, "budget_s": 26.0},
            {"task": "a", "method": "joint", "wall_s": 40.0, "budget_s": 28.0},
            {"task": "a", "method": "joint+bb8", "wall_s": 40.0, "budget_s": 10.0},
            {"task": "b", "method": "joint", "wall_s": 40.0, "budget_s": 10.0}]
    # the median of this task's and method's overheads (15 and 12)
    assert cj.joint_budget(runs, "a", "joint", grid) == pytest.approx(40.0 - 13.5)
    assert cj.joint_budget(runs, "a", "joint+bb8", grid) == pytest.approx(12.0)  # 0.3 x
