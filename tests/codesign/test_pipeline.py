"""End-to-end co-design on a tiny config: report files, exact re-scoring, resume."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from lepton_codesign import hw_models
from lepton_codesign.codesign import pipeline
from lepton_codesign.codesign.pipeline import codesign
from lepton_codesign.codesign.trials import compression_from_dict

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from tests.codesign.conftest import TINY

    out = tmp_path_factory.mktemp("run")
    res = codesign(config=TINY, out_dir=out, progress=False)
    return res, out


def test_report_files(tiny_run):
    res, out = tiny_run
    for name in ("results.json", "front.csv", "report.md", "trials.jsonl", "config.json",
                 "hypervolume.png", "pairs.png", "pareto_error__latency_s.png"):
        assert (out / name).is_file(), name
    assert any(p.name.startswith("layers_") for p in out.iterdir())
    report = (out / "report.md").read_text()
    assert "## Pareto front" in report and "seed: 0" in report
    families = {p["family"] for p in res.points}
    assert families == {"asic", "fpga", "gpu"}
    assert res.front_mask.any()
    assert len(res.points) == 16 + 2 + 2


def test_labels_are_unique(tiny_run):
    res, out = tiny_run
    labels = [p["label"] for p in json.loads((out / "results.json").read_text())["points"]]
    assert len(set(labels)) == len(labels) == len(res.points)


def test_model_factory_argument_is_validated_before_training(tmp_path, tiny_config):
    with pytest.raises(ValueError, match="model.name"):
        codesign("no_such_model_xyz", config=tiny_config, out_dir=tmp_path, progress=False)
    assert not (tmp_path / "trials.jsonl").exists()


def test_front_is_nondominated_and_feasible(tiny_run):
    res, _ = tiny_run
    objs = res.objectives
    front = np.flatnonzero(res.front_mask)
    for i in front:
        assert res.points[i]["feasible"]
        dominated = np.all(objs <= objs[i], axis=1) & np.any(objs < objs[i], axis=1)
        feas = np.array([p["feasible"] for p in res.points])
        assert not np.any(dominated & feas)


def test_points_rescore_exactly_from_saved_settings(tiny_run):
    res, out = tiny_run
    saved = json.loads((out / "results.json").read_text())
    trials = {t["name"]: t for t in saved["trials"]}
    from lepton_codesign.extract import extract_workload
    from lepton_codesign.models import build_model

    model, x = build_model("mlp", features=64)
    wl = extract_workload(model, x)
    names = saved["run"]["settings"]["objectives"]["names"]
    for p in saved["points"][:5] + saved["points"][-4:]:
        spec = pipeline._spec_of(p)
        comp = compression_from_dict(trials[p["point"]]["compression"])
        costs = hw_models.evaluate(wl, spec, comp)
        metrics = {"error": 1 - trials[p["point"]]["accuracy"],
                   "latency_s": costs.total_latency_s, "energy_j": costs.total_energy_j,
                   "usd_per_1m_inferences": costs.usd_per_1m_inferences}
        got = [float(metrics[n]) for n in names]
        np.testing.assert_allclose(got, p["objectives"], rtol=1e-4)


_CHILD = """
import sys, json
from lepton_codesign.codesign.pipeline import codesign
sys.path.insert(0, {root!r})
from tests.codesign.conftest import TINY
TINY["points"].append({{"name": "s50-int8", "sparsity": 0.5}})
codesign(config=TINY, out_dir={out!r}, progress=False)
"""


def test_resume_after_kill_keeps_finished_trials(tmp_path, tiny_run):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = tmp_path / "run"
    child = subprocess.Popen([sys.executable, "-c", _CHILD.format(root=root, out=str(out))],
                             cwd=root)
    trials = out / "trials.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and child.poll() is None:
        if trials.is_file() and trials.read_text().count("\n") >= 1:
            break
        time.sleep(0.2)
    child.kill()
    child.wait()
    first = [json.loads(line) for line in trials.read_text().splitlines()]
    assert 1 <= len(first) < 3, "the kill should land between trials"
    from tests.codesign.conftest import TINY

    cfg = json.loads(json.dumps(TINY))
    cfg["points"].append({"name": "s50-int8", "sparsity": 0.5})
    res = codesign(config=cfg, out_dir=out, progress=False)
    lines = [json.loads(line) for line in trials.read_text().splitlines()]
    assert [r["name"] for r in lines][: len(first)] == [r["name"] for r in first]
    assert len(lines) == 3 and len({r["name"] for r in lines}) == 3  # nothing retrained
    assert lines[0] == first[0]
    # the resumed run reproduces the uninterrupted one on the shared points
    base, _ = tiny_run
    acc = {t["name"]: t["accuracy"] for t in res.trials}
    for t in base.trials:
        assert acc[t["name"]] == pytest.approx(t["accuracy"], abs=1e-6)


def test_user_arrays_and_bad_data(tmp_path, tiny_config):
    from lepton_codesign.data import load_digits

    ds = load_digits()
    (x, y), (xt, yt) = ds.train, ds.test
    cfg = dict(tiny_config, hardware={"families": ["gpu"]})
    cfg["points"] = cfg["points"][:1]
    res = codesign(config=cfg, data=((x[:300], y[:300]), (xt[:100], yt[:100])),
                   progress=False)
    assert len(res.points) == 1 and 0.0 <= 1 - res.points[0]["objectives"][0] <= 1.0
    with pytest.raises(ValueError, match="same number of rows"):
        codesign(config=cfg, data=((x[:10], y[:5]), (xt, yt)), progress=False)


def test_resume_with_a_different_config_is_refused(tiny_run):
    _, out = tiny_run
    from tests.codesign.conftest import TINY

    cfg = json.loads(json.dumps(TINY))
    cfg["train"]["epochs"] = 3
    with pytest.raises(ValueError, match="different config"):
        codesign(config=cfg, out_dir=out, progress=False)


def test_damaged_asic_checkpoint_names_the_file_and_keeps_trials(tmp_path, tiny_run):
    import shutil

    from lepton_codesign.codesign.rundir import RunDirError
    from tests.codesign.conftest import TINY

    _, out = tiny_run
    run = tmp_path / "copy"
    shutil.copytree(out, run)
    (run / "asic_search.npz").write_bytes(b"PK\x03\x04 torn")
    with pytest.raises(RunDirError) as err:
        codesign(config=TINY, out_dir=run, progress=False)
    msg = str(err.value)
    assert f"{run / 'asic_search.npz'}: damaged checkpoint" in msg
    assert "delete it" in msg and "trials.jsonl are kept" in msg


def test_rerun_on_a_finished_directory_trains_nothing(tmp_path, tiny_run, monkeypatch):
    import shutil

    from tests.codesign.conftest import TINY

    _, out = tiny_run
    run = tmp_path / "copy"
    shutil.copytree(out, run)

    def no_training(task):
        raise AssertionError("a finished trial was retrained")

    monkeypatch.setattr(pipeline, "run_trial", no_training)
    res = codesign(config=TINY, out_dir=run, progress=False)
    assert len(res.trials) == 2 and res.data["source"].startswith("digits")


def _digits(n_train=300, n_test=100):
    from lepton_codesign.data import load_digits

    (x, y), (xt, yt) = load_digits().train, load_digits().test
    return x[:n_train], y[:n_train], xt[:n_test], yt[:n_test]


@pytest.mark.parametrize("change, match", [
    (lambda x, y: (x, y + 10), r"y_train has labels 10\.\.19 but model 'mlp' has 10 output"),
    (lambda x, y: (x, y - 1), r"y_train\[\d+\] = -1: class labels must be >= 0"),
    (lambda x, y: (x, y + 0.5), r"is not an integer class label"),
    (lambda x, y: (x[:, :, None], y), r"x_train rows have shape \(64, 1\) but x_test rows"),
    (lambda x, y: (np.where(x > 0, np.nan, x), y), "x_train contains NaN"),
])
def test_bad_user_arrays_are_refused_before_training(tmp_path, tiny_config, monkeypatch,
                                                     change, match):
    monkeypatch.setattr(pipeline, "run_trial", lambda task: pytest.fail("trained"))
    x, y, xt, yt = _digits()
    x2, y2 = change(x, y)
    with pytest.raises(ValueError, match=match):
        codesign(config=tiny_config, data=((x2, y2), (xt, yt)), out_dir=tmp_path / "r",
                 progress=False)
    assert not (tmp_path / "r").exists()  # refused before the run directory


def test_model_input_shape_is_checked(tiny_config, monkeypatch):
    monkeypatch.setattr(pipeline, "run_trial", lambda task: pytest.fail("trained"))
    x, y, xt, yt = _digits()
    img = ((x.reshape(-1, 8, 8, 1), y), (xt.reshape(-1, 8, 8, 1), yt))
    with pytest.raises(ValueError, match=r"\(8, 8, 1\) but model 'lenet' takes .*\(28, 28, 1\)"):
        codesign("lenet", data=img, config=tiny_config, progress=False)


def test_user_arrays_provenance_is_recorded_and_guards_resume(tmp_path, tiny_config, caplog):
    import logging

    from lepton_codesign.codesign.rundir import RunDirError

    caplog.set_level(logging.INFO)
    x, y, xt, yt = _digits()
    cfg = dict(tiny_config, hardware={"families": ["gpu"]})
    cfg["points"] = cfg["points"][:1]
    out = tmp_path / "r"
    res = codesign(config=cfg, data=((x, y), (xt, yt)), out_dir=out, progress=False)
    source = "user arrays: 300 train / 100 test, x (64,), 10 classes"
    assert res.data["source"] == source
    assert f"data: {source}" in caplog.text and "mnist1d" not in caplog.text
    saved = json.loads((out / "results.json").read_text())
    assert saved["run"]["data"] == source
    assert f"- data: {source}" in (out / "report.md").read_text()
    with pytest.raises(RunDirError, match="data: user arrays"):  # other arrays: no replay
        codesign(config=cfg, data=((x[::-1], y[::-1]), (xt, yt)), out_dir=out, progress=False)
