"""Run directories: resume only the same run, lock, torn tails, corrupt records, --fresh."""

import json
import math
import os
import re

import numpy as np
import pytest

from lepton_codesign.codesign import rundir
from lepton_codesign.codesign.config import validate_config
from lepton_codesign.codesign.rundir import RunDir, RunDirError

DATA = {"source": "digits (built-in)"}


def _record(name="dense-fp32", accuracy=0.9, layers=3):
    comp = {"weight_density": [1.0] * layers, "act_density": [1.0] * layers,
            "structure": [0] * layers, "nm_m": [4.0] * layers,
            "weight_bits": [32.0] * layers, "act_bits": [32.0] * layers}
    return {"name": name, "accuracy": accuracy, "compression": comp,
            "layers": [f"layers/{i}" for i in range(layers)], "features": 64,
            "train_time_s": 1.0, "step_time_s": 0.01}


@pytest.fixture
def cfg(tiny_config):
    return validate_config(tiny_config)


def _with_trials(path, cfg, lines: list[str]):
    with RunDir(path, cfg, DATA):
        pass
    (path / "trials.jsonl").write_text("".join(lines))


def test_fresh_directory_records_config_and_code(tmp_path, cfg):
    with RunDir(tmp_path / "r", cfg, DATA) as rd:
        assert rd.trials() == {}
        rd.append_trial(_record())
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    assert run["code"] == rundir.code_fingerprint()
    assert set(run["code"]) == {"source_sha256", "lepton-codesign", "jax", "flax", "optax"}
    assert run["data"] == DATA
    assert json.loads((tmp_path / "r" / "config.json").read_text()) == cfg
    with RunDir(tmp_path / "r", cfg, DATA) as rd:  # same config, code, data: resumes
        assert list(rd.trials()) == ["dense-fp32"]


def test_torn_last_line_is_truncated_before_appending(tmp_path, cfg, caplog):
    good = json.dumps(_record()) + "\n"
    _with_trials(tmp_path, cfg, [good, json.dumps(_record("s75-int4"))[:57]])
    with RunDir(tmp_path, cfg, DATA) as rd:
        assert list(rd.trials()) == ["dense-fp32"]
        assert "torn last line" in caplog.text
        assert (tmp_path / "trials.jsonl").read_text() == good
        rd.append_trial(_record("s75-int4"))
        assert list(rd.trials()) == ["dense-fp32", "s75-int4"]


def test_complete_last_record_without_newline_is_kept(tmp_path, cfg, caplog):
    """A crash between a record and its newline loses no trial (and nothing is glued)."""
    good = json.dumps(_record()) + "\n"
    last = json.dumps(_record("s75-int4"))
    _with_trials(tmp_path, cfg, [good, last])
    with RunDir(tmp_path, cfg, DATA) as rd:
        assert list(rd.trials()) == ["dense-fp32", "s75-int4"]
        assert "torn last line" not in caplog.text
        assert (tmp_path / "trials.jsonl").read_text() == good + last + "\n"
        assert list(rd.trials()) == ["dense-fp32", "s75-int4"]


@pytest.mark.parametrize("bad, why", [
    ({"accuracy": 7.5}, "accuracy 7.5"),
    ({"accuracy": math.nan}, "accuracy nan"),
    ({"name": "nope"}, "name 'nope'"),
    ({"layers": []}, "layers"),
    ({"features": 0}, "features"),
])
def test_implausible_record_is_refused_with_file_and_line(tmp_path, cfg, bad, why):
    rec = {**_record("s75-int4"), **bad}
    _with_trials(tmp_path, cfg, [json.dumps(_record()) + "\n", json.dumps(rec) + "\n"])
    with RunDir(tmp_path, cfg, DATA) as rd, pytest.raises(RunDirError) as err:
        rd.trials()
    assert f"{tmp_path / 'trials.jsonl'}:2: invalid trial record" in str(err.value)
    assert why in str(err.value)


@pytest.mark.parametrize("field, value", [("weight_density", 1.5), ("act_bits", 0.0),
                                          ("structure", 7), ("weight_bits", math.inf)])
def test_bad_compression_fields_are_refused(tmp_path, cfg, field, value):
    rec = _record()
    rec["compression"][field][1] = value
    _with_trials(tmp_path, cfg, [json.dumps(rec) + "\n"])
    with RunDir(tmp_path, cfg, DATA) as rd, pytest.raises(RunDirError, match=field):
        rd.trials()


def test_garbage_and_duplicate_lines_are_refused(tmp_path, cfg):
    _with_trials(tmp_path, cfg, ["{not json\n", json.dumps(_record()) + "\n"])
    with RunDir(tmp_path, cfg, DATA) as rd, pytest.raises(RunDirError, match=r":1: corrupt"):
        rd.trials()
    _with_trials(tmp_path, cfg, [json.dumps(_record()) + "\n"] * 2)
    with RunDir(tmp_path, cfg, DATA) as rd, pytest.raises(RunDirError, match="twice"):
        rd.trials()


def test_second_run_on_a_locked_directory_names_the_holder(tmp_path, cfg):
    with RunDir(tmp_path, cfg, DATA):
        with pytest.raises(RunDirError, match=f"PID {os.getpid()}"):
            RunDir(tmp_path, cfg, DATA).__enter__()
    with RunDir(tmp_path, cfg, DATA):  # released on exit
        pass


def test_changed_config_with_saved_work_is_refused_then_fresh(tmp_path, cfg):
    _with_trials(tmp_path, cfg, [json.dumps(_record()) + "\n"])
    (tmp_path / "pairs.png").write_bytes(b"png")
    (tmp_path / "mine.txt").write_text("user file")
    other = json.loads(json.dumps(cfg))
    other["train"]["epochs"] = 3
    with pytest.raises(RunDirError) as err:
        RunDir(tmp_path, other, DATA).__enter__()
    msg = str(err.value)
    assert "config sections ['train']" in msg and "--fresh" in msg and "--out" in msg
    assert (tmp_path / "trials.jsonl").is_file()  # refused: nothing touched
    with RunDir(tmp_path, other, DATA, fresh=True) as rd:
        assert rd.trials() == {}
    assert not (tmp_path / "trials.jsonl").exists() and not (tmp_path / "pairs.png").exists()
    assert (tmp_path / "mine.txt").read_text() == "user file"
    assert json.loads((tmp_path / "config.json").read_text())["train"]["epochs"] == 3


def test_changed_config_without_saved_work_replaces_config(tmp_path, cfg):
    with RunDir(tmp_path, cfg, DATA):
        pass  # e.g. the run then failed on a bad model name: nothing computed
    other = json.loads(json.dumps(cfg))
    other["model"]["name"] = "cnn1d"
    with RunDir(tmp_path, other, DATA):
        pass
    assert json.loads((tmp_path / "config.json").read_text())["model"]["name"] == "cnn1d"


def test_changed_code_or_data_is_refused(tmp_path, cfg):
    _with_trials(tmp_path, cfg, [json.dumps(_record()) + "\n"])
    run = json.loads((tmp_path / "run.json").read_text())
    run["code"]["source_sha256"] = "0" * 16
    run["code"]["jax"] = "0.0.1"
    (tmp_path / "run.json").write_text(json.dumps(run))
    with pytest.raises(RunDirError, match=r"jax 0\.0\.1 -> .*source changed"):
        RunDir(tmp_path, cfg, DATA).__enter__()
    run["code"] = rundir.code_fingerprint()
    (tmp_path / "run.json").write_text(json.dumps(run))
    with pytest.raises(RunDirError, match="data: digits .* -> user arrays"):
        RunDir(tmp_path, cfg, {"source": "user arrays: 10 train", "sha256": "ab"}).__enter__()


def test_legacy_directory_without_fingerprint(tmp_path, cfg):
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    (tmp_path / "trials.jsonl").write_text(json.dumps(_record()) + "\n")
    with pytest.raises(RunDirError, match="older lepton-codesign"):
        RunDir(tmp_path, cfg, DATA).__enter__()
    with RunDir(tmp_path, cfg, DATA, fresh=True) as rd:
        assert rd.trials() == {}


def test_fresh_refuses_a_directory_it_did_not_write(tmp_path, cfg):
    (tmp_path / "results.json").write_text("{}")
    (tmp_path / "thesis.tex").write_text("precious")
    with pytest.raises(RunDirError, match="nothing was deleted"):
        RunDir(tmp_path, cfg, DATA, fresh=True).__enter__()
    assert (tmp_path / "results.json").read_text() == "{}"
    assert (tmp_path / "thesis.tex").is_file()


def test_default_run_dirs_are_new_and_under_lepton_runs(tmp_path):
    a = rundir.default_run_dir("quickstart", tmp_path / "lepton-runs")
    a.mkdir(parents=True)
    b = rundir.default_run_dir("quickstart", tmp_path / "lepton-runs")
    assert a != b and a.parent == b.parent == tmp_path / "lepton-runs"
    assert re.fullmatch(r"quickstart-\d{8}-\d{6}", a.name)
    assert re.fullmatch(r"quickstart-\d{8}-\d{6}(-2)?", b.name)


def test_saved_progress(tmp_path, cfg):
    assert rundir.saved_progress(tmp_path, cfg) == "0 of 2 trials, ASIC search generation 0 of 2"
    from lepton_codesign.search import checkpoint as ckpt

    (tmp_path / "trials.jsonl").write_text(json.dumps(_record()) + "\n" + '{"name": "s7')
    ckpt.save(tmp_path / "asic_search.npz", {"x": np.zeros(1)}, {"generation": 1})
    assert rundir.saved_progress(tmp_path, cfg) == "1 of 2 trials, ASIC search generation 1 of 2"
