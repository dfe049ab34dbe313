"""A tiny joint compression x hardware search end to end, and its resume after kill -9."""

import copy
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from lepton_codesign.codesign.pipeline import codesign

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JOINT = {
    "run": {"name": "tinyjoint", "seed": 0},
    "data": {"dataset": "digits", "max_train": 300, "max_test": 100},
    "train": {"epochs": 2, "batch_size": 64},
    "compression": {"pop_size": 2, "max_candidates": 2, "min_epochs": 1, "max_epochs": 2,
                    "reduction_factor": 2, "nested_asic": 4, "bit_groups": "uniform",
                    "structures": ["unstructured", "nm"], "weight_bits": [4, 8],
                    "act_bits": [8], "allocation": ["global"]},
    "points": [{"name": "dense-fp32", "weight_bits": 32, "act_bits": 32, "reference": True}],
    "hardware": {"families": ["asic"]},
    "asic": {"pop_size": 4, "generations": 1},
}


def _lines(out):
    path = out / "joint.jsonl"
    return path.read_text().splitlines() if path.is_file() else []


def _work(lines):
    """The records without their times (a retrained record differs only there)."""
    out = []
    for line in lines:
        rec = json.loads(line)
        for key in ("train_time_s", "wall_s", "epoch_s"):
            rec.pop(key, None)
        out.append(json.dumps(rec, sort_keys=True))
    return sorted(out)


def _results(out):
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("joint") / "run"
    codesign(config=copy.deepcopy(JOINT), out_dir=out, progress=False)
    return out


def test_tiny_joint_run_end_to_end(finished):
    res = _results(finished)
    info = res["joint"]
    assert info["candidates"] == 2 and info["seeds"] == 1 and info["rungs_epochs"] == [1, 2]
    trials = {t["name"]: t for t in res["trials"]}
    assert "dense-fp32" in trials and all(t["epochs"] == 2 for t in trials.values())
    front = [p for p in res["points"] if p["on_front"]]
    assert front
    for p in front:  # each front point: a full-budget TEST accuracy and its compression
        t = trials[p["compression"]["point"]]
        assert p["objectives"][0] == pytest.approx(1.0 - t["accuracy"])
        assert {"label", "density", "structure", "weight_bits", "act_bits"} <= set(
            p["compression"])
    recs = [json.loads(x) for x in _lines(finished)]
    assert recs[0]["kind"] == "dense"
    assert sum(r["kind"] == "rung" and r["rung"] == 0 for r in recs) == 2
    md = (finished / "report.md").read_text()
    assert "density" in md and "## Joint search" in md
    assert list(finished.glob("tradeoff_*.png"))


@pytest.mark.slow
def test_resume_after_a_kill_in_any_phase_keeps_every_finished_fine_tune(finished, tmp_path):
    lines = _lines(finished)
    want = {t["name"]: t["accuracy"] for t in _results(finished)["trials"]}
    # killed after the dense model, in the middle of the candidates (torn last line),
    # and during the hardware search / report (every fine-tune already saved)
    for keep, torn in ((1, False), (len(lines) // 2 + 1, True), (len(lines), False)):
        out = tmp_path / f"k{keep}"
        out.mkdir()
        for name in ("run.json", "config.json", "dense.npz"):
            (out / name).write_bytes((finished / name).read_bytes())
        text = "\n".join(lines[:keep]) + "\n" + (lines[keep][: 40] if torn else "")
        (out / "joint.jsonl").write_text(text)
        codesign(config=copy.deepcopy(JOINT), out_dir=out, progress=False)
        again = _lines(out)
        assert again[:keep] == lines[:keep]  # nothing finished was redone or lost
        assert _work(again) == _work(lines)  # the same fine-tunes in all (same search)
        assert {t["name"]: t["accuracy"] for t in _results(out)["trials"]} == want


_MAIN = "import sys; from lepton_codesign.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.mark.slow
def test_kill_9_during_the_candidates_then_resume(tmp_path):
    cfg = copy.deepcopy(JOINT)
    cfg["compression"]["max_epochs"] = 200  # the full-budget fine-tunes are running
    toml = tmp_path / "joint.toml"
    toml.write_text(_toml(cfg))
    out = tmp_path / "run"
    with open(tmp_path / "err", "w") as err:
        child = subprocess.Popen([sys.executable, "-c", _MAIN, "search", "--config", str(toml),
                                  "--out", str(out)], cwd=ROOT, stdout=err, stderr=err)
    deadline = time.time() + 400
    while time.time() < deadline and child.poll() is None and len(_lines(out)) < 3:
        time.sleep(0.2)
    assert child.poll() is None, (tmp_path / "err").read_text()[-2000:]
    os.kill(child.pid, signal.SIGKILL)
    child.wait(60)
    saved = _lines(out)
    assert len(saved) >= 3
    codesign(config=cfg, out_dir=out, progress=False, executor="local")
    assert _lines(out)[: len(saved)] == saved


def _toml(cfg: dict) -> str:
    def val(v):
        return json.dumps(v)  # JSON scalars and arrays are TOML values too

    out = []
    for section, table in cfg.items():
        if section == "points":
            for p in table:
                out.append("[[points]]")
                out += [f"{k} = {val(v)}" for k, v in p.items()]
            continue
        out.append(f"[{section}]")
        out += [f"{k} = {val(v)}" for k, v in table.items()]
    return "\n".join(out) + "\n"
