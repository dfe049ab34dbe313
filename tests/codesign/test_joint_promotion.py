"""Promotions of the joint search are decided on validation data only."""

import zlib

import numpy as np
import pytest

from lepton_codesign.codesign import finetune, joint
from lepton_codesign.codesign.candidate import Candidate
from lepton_codesign.codesign.config import validate_config
from lepton_codesign.codesign.executor import LocalExecutor
from lepton_codesign.codesign.rundir import RunDir

LAYERS = ["layers/0", "layers/1", "layers/2"]
CANDIDATES: dict = {}  # index -> candidate of every fine-tune the last ``_search`` ran
TASKS: dict = {}  # (index, rung) -> task of every fine-tune the last ``_search`` ran


def _fake_dense(task):
    open(task["dense_path"], "wb").write(b"x")
    return {"kind": "dense", "val_accuracy": 0.9, "accuracy": 0.9, "features": 64,
            "layers": LAYERS, "train_time_s": 1.0}


def _fake_rung(poison: int):
    """Validation accuracy from the candidate and budget; test accuracy from ``poison``."""

    def run(task):
        c = Candidate.from_dict(task["candidate"])
        h = (zlib.crc32(c.key().encode()) % 1000) / 1000.0
        val = 0.5 + 0.3 * h + 0.01 * task["rung"]
        bits = [float(b) for b in c.layer_bits(LAYERS)]
        rec = {"kind": "rung", "index": task["index"], "candidate": c.to_dict(),
               "rung": task["rung"], "epochs": task["epochs"], "val_accuracy": val,
               "compression": {"weight_density": [1.0 - c.sparsity] * 3,
                               "act_density": [1.0] * 3, "structure": [0] * 3,
                               "nm_m": [4.0] * 3, "weight_bits": bits,
                               "act_bits": [float(c.act_bits)] * 3},
               "train_time_s": 1.0}
        if task["final"]:
            rng = np.random.default_rng(poison * 1000 + task["index"])
            rec["accuracy"] = float(rng.random())  # anything: must not steer the search
        return rec
    return run


class _Slots(LocalExecutor):
    """A local executor that claims ``slots`` parallel trials (waves of that size)."""

    def __init__(self, slots: int):
        self.slots = slots


def _search(monkeypatch, poison: int, seconds_per_job: float = 0.0, min_accuracy=0.0,
            run_dir=None, slots: int = 1, **budget):
    cfg = validate_config({
        "data": {"dataset": "digits"}, "constraints": {"min_accuracy": min_accuracy},
        "compression": {
            "pop_size": 6, "max_candidates": 18, "min_epochs": 1, "max_epochs": 9,
            "reduction_factor": 3, "nested_asic": 8, **budget},
        "hardware": {"families": ["fpga"]}, "fpga": {"devices": ["kv260"]}})
    jobs = []
    fake = _fake_rung(poison)
    now = [0.0]  # the search's clock: each job takes ``seconds_per_job`` of it
    if seconds_per_job:
        monkeypatch.setattr(joint, "_clock", lambda: now[0])

    CANDIDATES.clear()
    TASKS.clear()

    def logged(task):
        jobs.append((task["index"], task["rung"]))
        CANDIDATES[task["index"]] = task["candidate"]
        TASKS[task["index"], task["rung"]] = task
        now[0] += seconds_per_job
        return fake(task)

    def dense(task):
        now[0] += seconds_per_job
        return _fake_dense(task)

    monkeypatch.setattr(joint, "run_rung", logged)
    monkeypatch.setattr(joint, "train_dense", dense)
    if run_dir is None:
        trials, info = joint.run_joint(cfg, "mlp", _Slots(slots), None, False)
    else:
        with RunDir(run_dir, cfg, {"source": "digits"}) as rd:
            trials, info = joint.run_joint(cfg, "mlp", _Slots(slots), rd, False)
    return jobs, trials, info


def test_poisoned_test_split_does_not_change_promotions(monkeypatch):
    jobs_a, trials_a, info_a = _search(monkeypatch, poison=1)
    jobs_b, trials_b, info_b = _search(monkeypatch, poison=2)
    assert jobs_a == jobs_b  # the same candidates trained at the same rungs, in order
    assert [t["candidate"] for t in trials_a] == [t["candidate"] for t in trials_b]
    assert [t["accuracy"] for t in trials_a] != [t["accuracy"] for t in trials_b]
    assert info_a["candidates"] == 18 and 0 < info_a["pruned"] < 18
    rungs = [r for _, r in jobs_a]
    assert rungs.count(0) == 18 and 0 < rungs.count(2) < 18  # some promoted, some pruned


@pytest.mark.parametrize("refit", [True, False])
def test_only_a_promoted_full_budget_stretch_refits_on_its_rung_below_accuracy(
        monkeypatch, refit):
    jobs, trials, _ = _search(monkeypatch, poison=1, refit=refit)
    fake = _fake_rung(1)
    promoted = [(i, r) for i, r in jobs if r == 2 and (i, 1) in TASKS]
    assert promoted  # some candidates were promoted to the full budget
    for (i, r), task in TASKS.items():
        if (i, r) in promoted and refit:
            assert task["refit"] is True
            below = fake({**TASKS[i, 1], "final": False})["val_accuracy"]
            assert task["val_below"] == below  # what it was promoted on
        else:  # screening rungs, seeds (no rung below) and refit = false
            assert task["refit"] is False and "val_below" not in task
    seeds = [t for t in trials if t["name"] == joint.DENSE_NAME]
    assert seeds and not TASKS[0, 2]["rungs_below"]


def test_optimistic_gain_reads_a_refit_record_after_its_refit():
    recs = [{"index": 1, "rung": 0, "val_accuracy": 0.4},
            {"index": 1, "rung": 1, "val_accuracy": 0.4, "refit": True,
             "refit_val_accuracy": 0.9}]
    # the refit saw the validation examples: its 0.9 is too high, so the bound that
    # uses it stays optimistic (0.5, not the 0.0 of the rung-below accuracy it carries)
    assert joint.optimistic_gain(recs, 0, 1) == pytest.approx(0.5)


def _rung0_val(index):
    return _fake_rung(1)({"candidate": CANDIDATES[index], "index": 0, "rung": 0,
                          "epochs": 1, "final": False})["val_accuracy"]


def test_time_budget_stops_between_generations(monkeypatch):
    # every fake job takes 1 s of the search's clock; waves of a generation's 6
    # candidates (6 slots). Rung 0 runs whole (its only estimate, the dense model's
    # rate per epoch, is far below that) and spends the budget: every rung-1 job is
    # cut and nothing else starts
    jobs, _, info = _search(monkeypatch, poison=1, time_budget_s=5.0, seconds_per_job=1.0,
                            slots=6)
    assert info["candidates"] == 6 and info["search_time_s"] > 5.0
    assert info["cut_by_budget"] and info["cut"] > 0 and info["generations_told"] == 0
    # index 0: the dense model (always a candidate, a seed), then the 6 searched ones
    assert sorted({i for i, _ in jobs}) == list(range(7))
    assert [r for i, r in jobs if i > 0] == [0] * 6  # no promotion fitted the budget


def test_one_slot_promotes_at_once_so_a_budget_cut_leaves_full_budget_candidates(
        monkeypatch):
    # the same budget, one slot (the local executor): asynchronous successive halving
    # takes the first candidate, alone in its cost stratum so far, on to the next rung
    # at once instead of screening the whole generation first
    jobs, trials, info = _search(monkeypatch, poison=1, time_budget_s=5.0,
                                 seconds_per_job=1.0)
    assert info["cut_by_budget"] and info["generations_told"] == 0
    assert jobs[1:3] == [(1, 0), (1, 1)]  # (jobs[0]: the dense model's seed record)
    assert info["candidates"] < 6  # the rest of the generation did not start
    # unbudgeted, the waves are interleaved the same way: rung 0, then promotions
    jobs, _, info = _search(monkeypatch, poison=1)
    order = [i for i, _ in jobs[1:]]
    assert order == sorted(order)  # a candidate is done with before the next starts
    assert info["candidates"] == 18 and 0 < info["pruned"] < 18


def _cut_run(monkeypatch, run_dir=None, slots=6):
    # dense + its seed evaluation + 6 rung-0 jobs = 8 s of a 9.5 s budget; a rung-1
    # job is estimated at 3 s (1 s a job at rung 0 x 3x the epochs): one is admitted
    # (1.5 s left covers half of it), the other survivors are cut
    return _search(monkeypatch, poison=1, time_budget_s=9.5, seconds_per_job=1.0,
                   run_dir=run_dir, slots=slots)


def test_time_budget_cuts_a_batch_and_keeps_the_best_of_the_cheapest_stratum(monkeypatch):
    jobs, trials, info = _cut_run(monkeypatch)
    assert info["cut_by_budget"] and info["search_time_s"] <= 9.5 + 0.5
    promoted = [i for i, r in jobs if r == 1]
    assert len(promoted) == 1 and not [i for i, r in jobs if r == 2 and i > 0]
    assert {i for i, _ in jobs} == set(range(7))  # nothing of a second generation ran
    # the one admitted is the most accurate of the cheapest cost stratum (the best of
    # a stratum always survives its rung): a cut keeps every cost range it can
    macs = np.ones(3)

    def stratum(i):
        c = Candidate.from_dict(CANDIDATES[i])
        return joint.stratum({"weight_density": [1.0 - c.sparsity] * 3,
                              "weight_bits": c.layer_bits(LAYERS),
                              "act_bits": [c.act_bits] * 3}, macs)

    cheapest = max(stratum(i) for i in range(1, 7))
    assert promoted[0] == max((i for i in range(1, 7) if stratum(i) == cheapest),
                              key=_rung0_val)


@pytest.mark.parametrize("slots", [1, 6])
def test_a_budget_cut_run_replays_without_training_anything(monkeypatch, tmp_path, slots):
    jobs, trials, info = _cut_run(monkeypatch, tmp_path / "run", slots)
    again, trials2, info2 = _cut_run(monkeypatch, tmp_path / "run", slots)
    assert jobs and again == []  # every job of the first run is replayed, none added
    assert [t["candidate"] for t in trials2] == [t["candidate"] for t in trials]


def test_stratum_order_interleaves_the_strata():
    from types import SimpleNamespace

    cands = [SimpleNamespace(key=lambda k=k: k) for k in "abcdef"]
    scored = {"a": (1, 0.9), "b": (1, 0.8), "c": (1, 0.7), "d": (3, 0.5), "e": (3, 0.6),
              "f": (2, 0.4)}
    ids = {k: i for i, k in enumerate("abcdef")}
    got = [c.key() for c in joint.stratum_order(cands, scored, ids)]
    assert got == ["e", "f", "a", "d", "b", "c"]
    tied = {k: (1, 0.5) for k in "abcdef"}  # ties: the earlier candidate first
    assert [c.key() for c in joint.stratum_order(cands, tied, ids)] == list("abcdef")


def test_a_candidate_that_cannot_become_feasible_is_not_promoted(monkeypatch):
    # fake validation accuracy: 0.5 + 0.3 h + 0.01 rung, so the most any candidate
    # gains over the remaining rungs is 0.01 a rung; with min_accuracy 0.72 a
    # candidate below 0.70 at rung 0 (0.71 at rung 1) can never reach it
    jobs, trials, _ = _search(monkeypatch, poison=1, min_accuracy=0.72)
    fake = _fake_rung(1)

    def rung0(candidate):
        return fake({"candidate": candidate, "index": 0, "rung": 0, "epochs": 1,
                     "final": False})["val_accuracy"]

    searched = [t for t in trials if t["name"] not in ("dense-fp32", joint.DENSE_NAME)]
    assert searched  # some candidates still reach the full budget ...
    for t in searched:  # ... and each of them could become feasible
        assert rung0(t["candidate"]) + 0.02 >= 0.72 - 1e-9, t["label"]
    # the rule was not vacuous: without the constraint a hopeless one gets there
    _, base, _ = _search(monkeypatch, poison=1)
    assert any(rung0(t["candidate"]) + 0.02 < 0.72 for t in base
               if t["name"] not in ("dense-fp32", joint.DENSE_NAME))


def test_optimistic_gain_takes_the_larger_of_full_and_step_gains():
    recs = [{"index": 1, "rung": 0, "val_accuracy": 0.4}, {"index": 1, "rung": 1,
            "val_accuracy": 0.7}, {"index": 1, "rung": 2, "val_accuracy": 0.5},
            {"index": 2, "rung": 0, "val_accuracy": 0.6}]
    # from rung 0: full-budget gain 0.1, best step 0.3 x 2 rungs left
    assert joint.optimistic_gain(recs, 0, 2) == pytest.approx(0.6)
    assert joint.optimistic_gain(recs, 1, 2) == pytest.approx(0.3)  # -0.2 vs 0.3 x 1
    assert joint.optimistic_gain(recs[:1] + recs[2:3], 0, 2) == pytest.approx(0.1)
    assert joint.optimistic_gain(recs[3:], 0, 2) is None


def test_estimate_uses_the_rung_then_the_rung_below_then_the_dense_rate():
    recs = [{"index": 0, "rung": 1, "wall_s": 99.0},  # a seed (index < first): ignored
            {"index": 2, "rung": 0, "wall_s": 1.0}, {"index": 3, "rung": 0, "wall_s": 3.0}]
    assert joint.estimate_s(recs, 0, [4, 12], first=1) == pytest.approx(2.0)
    # rung 1 continues rung 0: it adds 8 epochs to 4
    assert joint.estimate_s(recs, 1, [4, 12], first=1) == pytest.approx(4.0)
    assert joint.estimate_s(recs[:1], 1, [4, 12], first=1, per_epoch_s=0.5) == 4.0
    assert joint.estimate_s([], 0, [4, 12], first=1) is None


def _arrays(poison: bool):
    from lepton_codesign.data import load_digits

    ds = load_digits()
    (xtr, ytr), (xte, yte) = ds.train, ds.test
    if poison:  # wrong test labels and noise inputs: only the test accuracy may change
        yte = (yte + 3) % 10
        xte = np.random.default_rng(0).random(xte.shape).astype(np.float32)
    return (xtr, ytr), (xte, yte)


@pytest.mark.slow
def test_rung_validation_accuracy_ignores_the_test_split(tmp_path):
    base = {"model": "mlp", "data": {"dataset": "digits", "max_train": 300, "max_test": 100},
            "train": {"epochs": 2, "batch_size": 64, "learning_rate": 3e-3}, "seed": 0,
            "val_fraction": 0.25, "learning_rate": 1e-3, "hw_spec": "gemmini-like",
            "hw_metric": "energy"}
    cand = Candidate("unstructured", 0.5, weight_bits=(4,), act_bits=8)
    out = []
    for poison in (False, True):
        task = {**base, "arrays": _arrays(poison), "dense_path": str(tmp_path / f"d{poison}.npz")}
        dense = finetune.train_dense(task)
        rec = finetune.run_rung({**task, "layers": dense["layers"], "features": 64, "index": 0,
                                 "candidate": cand.to_dict(), "rung": 0, "epochs": 1,
                                 "final": True})
        out.append((dense, rec))
    (d0, r0), (d1, r1) = out
    assert d0["val_accuracy"] == d1["val_accuracy"]
    assert r0["val_accuracy"] == r1["val_accuracy"] and r0["compression"] == r1["compression"]
    assert r0["accuracy"] != r1["accuracy"]


@pytest.mark.parametrize("bad", [None, float("nan"), -1.0, True, "1"])
def test_a_record_with_a_bad_wall_time_is_refused(bad):
    from lepton_codesign.codesign.joint_records import check_joint_record

    dense = {"kind": "dense", "val_accuracy": 0.9, "accuracy": 0.9, "features": 4,
             "layers": LAYERS}
    assert check_joint_record(dense, None) is None
    assert check_joint_record({**dense, "wall_s": 2.5}, None) is None
    assert "wall_s" in check_joint_record({**dense, "wall_s": bad}, None)
    assert "train_time_s" in check_joint_record({**dense, "train_time_s": bad}, None)
    assert "epoch_s" in check_joint_record({**dense, "epoch_s": bad}, None)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "0.5", None])
def test_a_rung_record_with_a_bad_refit_is_refused(bad):
    from lepton_codesign.codesign.joint_records import check_joint_record

    rung = _fake_rung(0)({"candidate": Candidate("unstructured", 0.5).to_dict(), "index": 2,
                          "rung": 1, "epochs": 9, "final": True})
    ok = {**rung, "refit": True, "refit_val_accuracy": 0.8}
    assert check_joint_record(ok, LAYERS) is None
    assert "refit_val_accuracy" in check_joint_record({**ok, "refit_val_accuracy": bad},
                                                      LAYERS)
    assert "refit" in check_joint_record({**ok, "refit": "yes"}, LAYERS)


@pytest.mark.parametrize("bad", [-1, 9, 12, 2.0, True, "4", None])
def test_a_rung_record_with_a_bad_from_epochs_is_refused(bad):
    from lepton_codesign.codesign.joint_records import check_joint_record

    rung = _fake_rung(0)({"candidate": Candidate("unstructured", 0.5).to_dict(), "index": 2,
                          "rung": 1, "epochs": 9, "final": False})
    assert check_joint_record(rung, LAYERS) is None  # older records have no from_epochs
    assert check_joint_record({**rung, "from_epochs": 3}, LAYERS) is None
    assert "from_epochs" in check_joint_record({**rung, "from_epochs": bad}, LAYERS)


def test_retrain_time_is_kept_out_of_the_search_budget(monkeypatch):
    from lepton_codesign.codesign import retrain

    ran = []

    def dense_all(task):
        ran.append("dense_all")
        return {"kind": "dense_all", "accuracy": 0.95, "train_time_s": 1.0}

    def again(task):
        ran.append(task["index"])
        return {"kind": "retrain", "index": task["index"], "candidate": task["candidate"],
                "epochs": task["epochs"], "accuracy": 0.97, "train_time_s": 1.0,
                "compression": _fake_rung(1)({**TASKS[task["index"], 2],
                                              "final": False})["compression"]}

    monkeypatch.setattr(retrain, "train_dense_all", dense_all)
    # the fake jobs carry no epoch times: hold back 2 s for the dense model, 1 s each
    monkeypatch.setattr(retrain, "estimate_s", lambda *a: (2.0, 1.0) if a[2] else (0.0, 0.0))
    monkeypatch.setattr(retrain, "retrain_candidate", again)
    plain, _, _ = _search(monkeypatch, poison=1, time_budget_s=12.0, seconds_per_job=1.0)
    assert not ran
    jobs, trials, info = _search(monkeypatch, poison=1, time_budget_s=12.0,
                                 seconds_per_job=1.0, retrain=1)
    assert len(jobs) < len(plain)  # the estimate of the retraining was held back
    finals = [t for t in trials if t["name"] != joint.DENSE_NAME]
    best = max(finals, key=lambda t: t["val_accuracy"])  # on validation, never test
    assert ran == ["dense_all", int(best["name"][1:])]
    assert best["retrained"] and best["accuracy"] == 0.97 and "search_accuracy" in best
    dense = next(t for t in trials if t["name"] == joint.DENSE_NAME)
    assert dense["retrained"] and dense["accuracy"] == 0.95
    assert info["retrained"] == 2


def _rec(index, acc, density, bits=8):
    return {"index": index, "val_accuracy": acc, "compression": {
        "weight_density": [density, 1.0], "weight_bits": [bits, 8], "act_bits": [8, 8]}}


def test_on_rung_front_is_pareto_dominance_on_validation_error_and_bit_ops():
    macs = np.array([100.0, 1.0])
    dense, cheap = _rec(1, 0.86, 1.0), _rec(2, 0.81, 0.25, 4)
    worse = _rec(3, 0.80, 0.5, 4)  # less accurate and costlier than ``cheap``
    rung = [dense, cheap, worse]
    assert joint.on_rung_front(dense, rung, macs)  # the most accurate
    assert joint.on_rung_front(cheap, rung, macs)  # less accurate, far cheaper
    assert not joint.on_rung_front(worse, rung, macs)
    assert joint.on_rung_front(worse, [worse], macs)  # alone: nothing dominates it
    twin = _rec(4, 0.81, 0.25, 4)  # a tie dominates nobody
    assert joint.on_rung_front(cheap, [cheap, twin], macs)
    assert joint.on_rung_front(twin, [cheap, twin], macs)
    assert not joint.on_rung_front(cheap, [cheap, _rec(5, 0.81, 0.2, 4)], macs)


def test_a_candidate_on_its_rungs_front_is_promoted(monkeypatch):
    # one slot, no budget: every candidate that no earlier record of its rung dominates
    # (validation error x bit-operations) goes on to the next rung, whatever ASHA in
    # its cost stratum says
    jobs, _, _ = _search(monkeypatch, poison=1, pop_size=18)  # one generation of 18
    fake, macs = _fake_rung(1), np.ones(3)
    ran = set(jobs)
    at_rung: dict[int, list] = {}
    checked = 0
    for i, r in jobs:
        if i == 0 or r == 2:  # the dense seed; the full budget (nothing to promote to)
            continue
        rec = fake({**TASKS[i, r], "final": False})
        at_rung.setdefault(r, []).append(rec)
        if joint.on_rung_front(rec, at_rung[r], macs):
            assert (i, r + 1) in ran, (i, r)
            checked += 1
    assert checked > 0
    # the rule adds promotions: without it (ASHA per stratum alone) fewer of the same
    # 18 candidates go on
    monkeypatch.setattr(joint, "on_rung_front", lambda *a: False)
    asha_only, _, _ = _search(monkeypatch, poison=1, pop_size=18)
    assert {i for i, r in asha_only if r == 0} == {i for i, r in jobs if r == 0}
    assert {(i, r) for i, r in asha_only if r > 0} < {(i, r) for i, r in jobs if r > 0}
