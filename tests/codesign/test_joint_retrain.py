"""``[compression] retrain``: the chosen candidates retrained on all the training data."""

import copy
import json

import numpy as np
import pytest

from lepton_codesign.codesign import retrain
from lepton_codesign.codesign.candidate import Candidate
from lepton_codesign.codesign.config import ConfigError, validate_config
from lepton_codesign.codesign.finetune import split_data
from lepton_codesign.codesign.joint_records import check_joint_record
from lepton_codesign.codesign.pipeline import codesign

from .test_joint_run import JOINT, _lines, _results

CFG = copy.deepcopy(JOINT)
CFG["compression"]["retrain"] = 1


@pytest.fixture(scope="module")
def retrained(tmp_path_factory):
    out = tmp_path_factory.mktemp("retrain") / "run"
    codesign(config=copy.deepcopy(CFG), out_dir=out, progress=False)
    return out


def test_the_dense_model_and_the_most_accurate_on_validation_are_retrained(retrained):
    recs = [json.loads(x) for x in _lines(retrained)]
    kinds = [r["kind"] for r in recs]
    assert kinds.count("dense_all") == 1 and kinds.count("retrain") == 1
    assert kinds.index("dense_all") > max(i for i, k in enumerate(kinds) if k == "rung")
    finals = {r["index"]: r for r in recs if r["kind"] == "rung" and "accuracy" in r}
    again = next(r for r in recs if r["kind"] == "retrain")
    searched = [r for i, r in finals.items() if i != 0]  # 0: the dense-fp32 seed
    best = max(searched, key=lambda r: (r["val_accuracy"], -r["index"]))
    assert again["index"] == best["index"] and again["epochs"] == CFG["compression"][
        "max_epochs"]
    res = _results(retrained)
    trials = {t["name"]: t for t in res["trials"]}
    dense_all = next(r for r in recs if r["kind"] == "dense_all")
    assert trials["dense-fp32"]["retrained"] and trials["dense-fp32"]["accuracy"] == \
        dense_all["accuracy"]
    t = trials[f"c{best['index']:03d}"]
    assert t["retrained"] and t["accuracy"] == again["accuracy"]
    assert t["search_accuracy"] == best["accuracy"]  # the fit-split model's, kept
    assert t["val_accuracy"] == best["val_accuracy"]  # what chose it
    assert t["compression"] == again["compression"]
    others = [x for x in res["trials"] if x["name"] not in ("dense-fp32", t["name"])]
    assert all(not x["retrained"] and "search_accuracy" not in x for x in others)
    assert res["joint"]["retrained"] == 2
    for p in res["points"]:  # the front is priced with the retrained models
        if p["compression"]["point"] == t["name"]:
            assert p["objectives"][0] == pytest.approx(1.0 - again["accuracy"])
    assert "retrained on all the training data" in (retrained / "report.md").read_text()


@pytest.mark.slow
def test_resume_in_the_retraining_loses_nothing(retrained, tmp_path):
    lines = _lines(retrained)
    kinds = [json.loads(x)["kind"] for x in lines]
    want = {t["name"]: t["accuracy"] for t in _results(retrained)["trials"]}
    for keep in (kinds.index("dense_all"), kinds.index("retrain")):  # before each step
        out = tmp_path / f"k{keep}"
        out.mkdir()
        for name in ("run.json", "config.json", "dense.npz", "dense_all.npz"):
            (out / name).write_bytes((retrained / name).read_bytes())
        (out / "joint.jsonl").write_text("\n".join(lines[:keep]) + "\n")
        codesign(config=copy.deepcopy(CFG), out_dir=out, progress=False)
        again = _lines(out)
        assert again[:keep] == lines[:keep] and len(again) == len(lines)
        assert {t["name"]: t["accuracy"] for t in _results(out)["trials"]} == want


def test_retraining_trains_on_fit_and_validation_and_never_on_test(monkeypatch):
    task = {"data": {"dataset": "digits", "max_train": 300, "max_test": 100},
            "val_fraction": 0.2, "seed": 0, "arrays": None}
    fit, val, test = split_data(task)
    x, y = retrain.all_data(fit, val)
    assert len(y) == 300 == len(fit[1]) + len(val[1])
    rows = {r.tobytes() for r in x}
    assert all(r.tobytes() in rows for r in val[0])
    assert not any(r.tobytes() in rows for r in test[0] if not any(
        np.array_equal(r, f) for f in x))  # the test examples are not in it


def test_pick_chooses_on_validation_accuracy_not_test():
    finals = [{"index": 1, "val_accuracy": 0.7, "accuracy": 0.99},
              {"index": 2, "val_accuracy": 0.8, "accuracy": 0.5},
              {"index": 3, "val_accuracy": 0.8, "accuracy": 0.6}]
    assert [r["index"] for r in retrain.pick(finals, 2)] == [2, 3]
    assert retrain.pick(finals, 0) == []


def test_estimate_scales_with_the_larger_data_set():
    dense = {"train_time_s": 9.0, "epoch_s": 0.1}
    assert retrain.estimate_s(dense, [], 0, 10, 20, 0.1) == (0.0, 0.0)
    d, one = retrain.estimate_s(dense, [], 2, 10, 20, 0.5)  # no fine-tune yet: dense rate
    assert d == pytest.approx(4.0) and one == pytest.approx(2.0)
    rec = {"kind": "rung", "epochs": 4, "from_epochs": 2, "epoch_s": 1.0, "train_time_s": 9.0}
    d, one = retrain.estimate_s(dense, [rec], 1, 10, 20, 0.5)  # its compile left out
    assert d == pytest.approx(4.0) and one == pytest.approx(20.0)


def test_retraining_the_dense_model_as_a_candidate_is_refused():
    dense = Candidate(structure="none", weight_bits=(32,), act_bits=32)
    with pytest.raises(ValueError, match="train_dense_all"):
        retrain.retrain_candidate({"candidate": dense.to_dict(), "layers": ["fc"],
                                   "data": {"dataset": "digits", "max_train": 50,
                                            "max_test": 20}, "val_fraction": 0.2,
                                   "seed": 0, "arrays": None, "model": "mlp",
                                   "features": 64, "dense_all_path": "/nonexistent.npz"})


GOOD = {"kind": "retrain", "index": 3, "epochs": 2, "accuracy": 0.5,
        "candidate": Candidate().to_dict(),
        "compression": {"weight_density": [1.0], "act_density": [1.0], "structure": [0],
                        "nm_m": [4], "weight_bits": [8], "act_bits": [8]}}


@pytest.mark.parametrize("change, message", [
    ({"accuracy": float("nan")}, "accuracy"),
    ({"accuracy": 1.5}, "accuracy"),
    ({"index": -1}, "index"),
    ({"epochs": 0}, "epochs"),
    ({"candidate": {"structure": "diagonal"}}, "candidate"),
    ({"compression": {"weight_density": [1.0]}}, "compression"),
])
def test_bad_retrain_records_are_refused(change, message):
    assert check_joint_record(GOOD, ["fc"]) is None
    assert message in check_joint_record({**GOOD, **change}, ["fc"])
    assert check_joint_record({"kind": "dense_all", "accuracy": 0.7}, ["fc"]) is None
    assert "accuracy" in check_joint_record({"kind": "dense_all", "accuracy": -1}, ["fc"])
    assert "epochs" in check_joint_record({"kind": "dense_all", "accuracy": 0.7, "epochs": 0},
                                          ["fc"])
    assert "before the dense record" in check_joint_record(GOOD, None)


def test_a_second_retrain_record_is_refused(retrained, tmp_path):
    from lepton_codesign.codesign.rundir import RunDirError

    lines = _lines(retrained)
    dup = next(x for x in lines if json.loads(x)["kind"] == "retrain")
    out = tmp_path / "dup"
    out.mkdir()
    for name in ("run.json", "config.json", "dense.npz", "dense_all.npz"):
        (out / name).write_bytes((retrained / name).read_bytes())
    (out / "joint.jsonl").write_text("\n".join([*lines, dup]) + "\n")
    with pytest.raises(RunDirError, match="retrained is recorded twice"):
        codesign(config=copy.deepcopy(CFG), out_dir=out, progress=False)


@pytest.mark.parametrize("value", [-1, "2", 1.5, True])
def test_retrain_must_be_a_count(value):
    with pytest.raises(ConfigError, match="retrain"):
        validate_config({"compression": {"retrain": value}})


class _FakeRunner:
    """Records what the stage runs; each step takes ``wall_s`` seconds."""

    progress = False

    def __init__(self, wall_s):
        self.wall_s, self.ran = wall_s, []

    def map_one(self, fn, task):
        self.ran.append(fn.__name__ if "index" not in task else task["index"])
        rec = {"kind": "retrain", "index": task.get("index"), "accuracy": 0.9,
               "compression": {"c": task.get("index")}, "wall_s": self.wall_s}
        return {**rec, "kind": "dense_all"} if "index" not in task else rec


STAGE_CC = {"retrain": 2, "max_epochs": 10, "min_epochs": 4, "reduction_factor": 3,
            "validation_fraction": 0.5}
STAGE_DENSE = {"epoch_s": 0.1}  # estimates: dense 8 s (40 epochs), one 2 s (10 epochs)
# index 0 is the dense model (retrained by train_dense_all, not picked)
STAGE_FINALS = [{"index": 0, "val_accuracy": 0.99, "compression": {"c": 0}, "candidate": {}},
                {"index": 1, "val_accuracy": 0.7, "compression": {"c": 1}, "candidate": {}},
                {"index": 2, "val_accuracy": 0.8, "compression": {"c": 2}, "candidate": {}},
                {"index": 3, "val_accuracy": 0.6, "compression": {"c": 3}, "candidate": {}}]


@pytest.mark.parametrize("left_s, ran", [
    (None, ["train_dense_all", 2, 1]),  # no budget: the dense model, then the best two
    (100.0, ["train_dense_all", 2, 1]),
    (9.5, ["train_dense_all", 2]),  # 8 s spent: 1.5 s left covers half of one (2 s)
    (3.0, []),  # less than half the dense model's estimate: nothing (none without it)
])
def test_the_stage_runs_what_the_budget_left_covers(left_s, ran):
    runner = _FakeRunner(wall_s=8.0 if left_s == 9.5 else 1.0)
    spent = [0.0]

    def timed(recs):
        spent[0] += sum(r["wall_s"] for r in recs)
        return recs

    out = retrain.stage(STAGE_CC, {}, STAGE_DENSE, STAGE_FINALS, 0, {}, runner, timed,
                        None if left_s is None else lambda: left_s - spent[0], 40)
    assert runner.ran == ran
    assert sorted(out) == ([] if not ran else sorted({0, *[i for i in ran if i != ran[0]]}))
    if ran:
        assert out[0] == {"accuracy": 0.9, "compression": {"c": 0}}  # dense: retrained


def test_the_stage_replays_recorded_steps_without_running_them():
    again = {"dense_all": {"kind": "dense_all", "accuracy": 0.8, "wall_s": 50.0},
             2: {"kind": "retrain", "index": 2, "accuracy": 0.85, "compression": {},
                 "wall_s": 50.0}}
    runner = _FakeRunner(wall_s=1.0)
    timed = []
    out = retrain.stage(STAGE_CC, {}, STAGE_DENSE, STAGE_FINALS, 0, again, runner,
                        lambda recs: timed.extend(recs) or recs, lambda: 1000.0, 40)
    assert runner.ran == [1]  # only the step not recorded
    assert out[2]["accuracy"] == 0.85 and out[0]["accuracy"] == 0.8
    assert [r["kind"] for r in timed] == ["dense_all", "retrain", "retrain"]
