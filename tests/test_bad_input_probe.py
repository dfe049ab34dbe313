"""The bad-input probe (benchmarks/bad_input_probe.py): its classifier and a few live cases."""

from __future__ import annotations

import json
import math
import os
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def probe(load_script):
    return load_script("benchmarks/bad_input_probe.py", "bad_input_probe")


def test_classify_refusals(probe):
    O, c = probe.Outcome, probe.classify
    good = O(refused=True, exit_code=2, message="f.yaml: key 'freq_hz': got nan")
    assert c("refuse", ("freq_hz",), good) == "clear"
    assert c("refuse", ("pe_rows",), good) == "opaque"  # names neither file nor key
    assert c("refuse", ("freq_hz",), O(refused=True, exit_code=1, message="freq_hz")) == "opaque"
    tb = O(refused=True, exit_code=2, traceback=True, message="KeyError: 'freq_hz'")
    assert c("refuse", ("freq_hz",), tb) == "opaque"
    py = O(refused=True, exc_type="ValueError", value_error=True, message="freq_hz: nan")
    assert c("refuse", ("freq_hz",), py) == "clear"
    py_type = O(refused=True, exc_type="TypeError", message="freq_hz: nan")
    assert c("refuse", ("freq_hz",), py_type) == "opaque"


def test_classify_acceptance_hang_harm(probe):
    O, c = probe.Outcome, probe.classify
    assert c("refuse", ("x",), O(exit_code=0)) == "silent"
    assert c("refuse", ("x",), O(refused=True, training_started=True)) == "silent"
    assert c("accept", (), O(exit_code=0)) == "ok"
    assert c("accept", (), O(refused=True, exit_code=2, message="x")) == "wrongly refused"
    assert c("either", (), O(exit_code=0)) == "ok"
    assert c("refuse", ("x",), O(refused=True, timed_out=True)) == "hang"
    assert c("either", (), O(exit_code=0, harm="wrote outside the run dir")) == "silent"
    assert c("refuse", ("x",), O(skipped="root")) == "skipped"


@given(st.text(max_size=40), st.sampled_from(["refuse", "accept", "either"]),
       st.booleans(), st.booleans(), st.booleans(), st.sampled_from([None, 0, 1, 2]))
def test_classify_total(probe, msg, expect, refused, tb, timed_out, code):
    out = probe.Outcome(refused=refused, exit_code=code, traceback=tb, timed_out=timed_out,
                        message=msg)
    got = probe.classify(expect, ("key",), out)
    assert got in probe.COLUMNS
    if got == "clear":
        assert refused and not tb and "key" in msg.lower() and expect != "accept"


def test_error_message_drops_progress_and_keeps_error(probe):
    err = "train: 50%|#####| 1/2 [00:01<00:01, 1.0it/s]\rerror: cfg.toml: key 'x': bad\n"
    assert probe.error_message(err) == "error: cfg.toml: key 'x': bad"
    tb = "Traceback (most recent call last):\n  File \"a.py\", line 1\nKeyError: 'points'\n"
    assert probe.error_message(tb) == "KeyError: 'points'"


def test_toml_writer_round_trips(probe):
    cases = sys.modules["bad_input_cases"]
    doc = cases.tiny_config(**{"train.learning_rate": math.inf, "points.1.nm": [2, 4]})
    back = tomllib.loads(cases.to_toml(doc))
    assert back["train"]["learning_rate"] == math.inf
    assert back["points"] == doc["points"] and back["asic"] == doc["asic"]


def test_catalogue(probe):
    cases = probe.all_cases()
    assert len(cases) >= 150
    assert {c.cls for c in cases} == set(probe.CLASSES)
    assert {c.area for c in cases} <= set(probe.AREAS)
    assert all(c.expect in ("refuse", "accept", "either") for c in cases)
    assert all(c.hints for c in cases if c.expect == "refuse")


def test_live_cases(probe, tmp_path):
    """A handful of real cases: a valid spec is accepted, bad ones are classified, and
    the probe writes nothing outside its temporary directory (markdown + JSON out)."""
    want = {"spec-asic-valid-yaml", "spec-asic-freq_hz-nan", "spec-python-object-tag",
            "config-train.learning_rate=NaN", "config-tiny-valid", "py-asic-valid",
            "cli-batch-negative"}
    out = tmp_path / "bad.md"
    before = set(os.listdir(Path.cwd()))
    probe.main(["--quick", "--out", str(out)])  # the quick subset: ~20 s
    assert set(os.listdir(Path.cwd())) == before
    data = json.loads(out.with_suffix(".json").read_text())
    got = {r["name"]: r["outcome"] for r in data["cases"]}
    assert want <= set(got)
    assert got["spec-asic-valid-yaml"] == "ok" and got["config-tiny-valid"] == "ok"
    assert got["py-asic-valid"] == "ok"
    refused = want - {"spec-asic-valid-yaml", "config-tiny-valid", "py-asic-valid"}
    assert {n: got[n] for n in refused} == dict.fromkeys(refused, "clear")
    assert all(v in probe.COLUMNS for v in got.values())
    assert "| **total** |" in out.read_text()


def test_harm_checks(probe, tmp_path):
    rt = sys.modules["bad_input_cases_rt"]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "report.html").write_text("&lt;script&gt;")
    (tmp_path / "config.toml").write_text("")
    assert rt._outside(tmp_path) is None and rt._script_in_html(tmp_path) is None
    (tmp_path / "evil.png").write_text("x")
    (tmp_path / "run" / "report.html").write_text("<script>alert(1)</script>")
    assert "evil.png" in rt._outside(tmp_path)
    assert "report.html" in rt._script_in_html(tmp_path)
    ok = json.dumps({"totals": {"total_latency_s": 1e-5, "feasible": True}})
    assert probe.result_harm(ok) is None
    for bad in (math.inf, 3.4028234663852886e38, -1.0):
        assert "total_latency_s" in probe.result_harm(json.dumps(
            {"totals": {"total_latency_s": bad}}))


def test_error_message_keeps_paths_that_look_like_rates(probe):
    # "unit/spec" contains "it/s": only real progress bars are noise
    err = "error: /tmp/spec-asic-with-unit/spec.yaml:7: key 'freq_hz': got str '1GHz'\n"
    assert probe.error_message(err) == err.strip()
    tb = ("Traceback (most recent call last):\n  File \"x\", line 1\n"
          "ValueError: bad batch\n--------\nFor simplicity, JAX has removed its frames\n")
    assert probe.error_message(tb) == "ValueError: bad batch"
