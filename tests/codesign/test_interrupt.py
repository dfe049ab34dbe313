"""Ctrl-C / SIGTERM during ``lepton-codesign search``: exit 130, no traceback, resumable."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Digits, 2 points, enough epochs that the second trial is still training when the
# signal arrives, and a tiny ASIC search.
_TOML = """
[run]
name = "tiny"
[data]
dataset = "digits"
max_train = 400
max_test = 200
[train]
epochs = {epochs}
batch_size = 64
[[points]]
name = "dense-fp32"
weight_bits = 32
act_bits = 32
reference = true
[[points]]
name = "s75-int4"
sparsity = 0.75
weight_bits = 4
act_bits = 8
[asic]
pop_size = 8
generations = 2
[fpga]
devices = ["kv260"]
[gpu]
devices = ["t4"]
"""


# Background jobs inherit SIGINT ignored; the test needs Python's Ctrl-C handler.
_MAIN = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
         "from lepton_codesign.cli import main; sys.exit(main(sys.argv[1:]))")


def _cli(tmp_path, *args) -> tuple[subprocess.Popen, callable]:
    """Start the CLI; returns the process and ``finish() -> (rc, stdout, stderr)``."""
    n = len(list(tmp_path.glob("stdout*")))
    out_f, err_f = tmp_path / f"stdout{n}", tmp_path / f"stderr{n}"
    with open(out_f, "w") as o, open(err_f, "w") as e:  # files: progress bars fill pipes
        child = subprocess.Popen([sys.executable, "-c", _MAIN, *args], cwd=ROOT, stdout=o,
                                 stderr=e)

    def finish(timeout):
        child.wait(timeout=timeout)
        return child.returncode, out_f.read_text(), err_f.read_text()

    return child, finish


def _trials(out):
    path = out / "trials.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.is_file() else []


def test_ctrl_c_saves_and_resume_continues(tmp_path):
    toml = tmp_path / "tiny.toml"
    toml.write_text(_TOML.format(epochs=600))
    out = tmp_path / "run"
    child, finish = _cli(tmp_path, "search", "--config", str(toml), "--out", str(out))
    deadline = time.time() + 400
    while time.time() < deadline and child.poll() is None and not _trials(out):
        time.sleep(0.2)
    assert child.poll() is None, "the run ended before the first trial was saved"
    time.sleep(1.0)  # the second trial is training now
    child.send_signal(signal.SIGINT)
    rc, _, err = finish(300)
    assert rc == 130, err[-2000:]
    assert "Traceback" not in err
    saved = _trials(out)
    assert len(saved) == 1
    assert f"interrupted: 1 of 2 trials, ASIC search generation 0 of 2 saved in {out}" in err
    resume = err.split("resume with: ")[1].splitlines()[0]
    assert f"--out {out}" in resume and f"--config {toml}" in resume

    _, finish = _cli(tmp_path, *resume.split()[1:])
    rc, stdout, err2 = finish(600)
    assert rc == 0, err2[-2000:]
    after = _trials(out)
    assert [t["name"] for t in after] == ["dense-fp32", "s75-int4"]
    assert after[0] == saved[0]  # the saved trial was not retrained
    assert "on the Pareto front" in stdout and (out / "report.md").is_file()


def test_sigterm_takes_the_same_path(tmp_path):
    out = tmp_path / "run"
    toml = tmp_path / "tiny.toml"
    toml.write_text(_TOML.format(epochs=600))
    child, finish = _cli(tmp_path, "search", "--config", str(toml), "--out", str(out))
    deadline = time.time() + 120
    while time.time() < deadline and child.poll() is None and not (out / "run.json").is_file():
        time.sleep(0.1)
    time.sleep(1.0)  # the first trial is training now (as in the Ctrl-C test)
    assert child.poll() is None, "the run ended before the signal could be sent"
    child.send_signal(signal.SIGTERM)
    rc, _, err = finish(120)
    assert rc == 130, err[-2000:]
    assert "Traceback" not in err and "of 2 trials" in err and "resume with:" in err
