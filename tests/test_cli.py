"""The evaluate command: tables, JSON, and a clear error on a bad spec."""

import json

import pytest

from lepton_codesign.cli import main


def test_evaluate_json(capsys):
    assert main(["evaluate", "--spec", "gemmini-like", "--model", "mlp", "--batch", "4",
                 "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["totals"]["layers"] == 3
    assert out["totals"]["macs"] == 4 * (40 * 256 + 256 * 256 + 256 * 10)
    gemms = [r for r in out["layers"] if not r["kind"].startswith("op:")]
    assert [r["layer"] for r in gemms] == ["layers/0", "layers/1", "layers/2"]
    assert all(row["bound"] in ("compute", "memory") for row in gemms)
    # each dense layer's bias (+ ReLU) is its epilogue, listed right after it
    ops = [r for r in out["layers"] if r["kind"].startswith("op:")]
    assert [r["kind"] for r in ops] == ["op:elementwise (epilogue)"] * 3
    assert all(r["latency_s"] >= 0 and r["energy_j"] > 0 for r in ops)


def test_evaluate_table_and_csv(capsys):
    assert main(["evaluate", "--spec", "tpuv1-like", "--model", "cnn1d"]) == 0
    assert "total_latency_s" in capsys.readouterr().out
    assert main(["evaluate", "--spec", "tpuv1-like", "--model", "cnn1d", "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("layer,kind,")


def test_bad_spec_exits_nonzero_with_message(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nkind: asic\npe_rows: 8\npe_cols: 8\ndataflow: xs\nfreq_hz: 1e9\n")
    assert main(["evaluate", "--spec", str(bad), "--model", "mlp"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "'dataflow'" in err and "'os'" in err


def test_unknown_model(capsys):
    assert main(["evaluate", "--spec", "gemmini-like", "--model", "nope"]) == 2
    assert "unknown model" in capsys.readouterr().err


def test_unknown_model_hint_matches_the_config_check(capsys):
    """The CLI and a search config give the same did-you-mean (one helper)."""
    from lepton_codesign.codesign.config import ConfigError, validate_config

    assert main(["evaluate", "--spec", "t4", "--model", "res"]) == 2
    assert "unknown model 'res' (did you mean 'resnet18'?)" in capsys.readouterr().err
    with pytest.raises(ConfigError, match=r"did you mean 'resnet18'\?"):
        validate_config({"model": {"name": "res"}})


def test_compare_with_plot(tmp_path, capsys):
    plot = tmp_path / "cmp.png"
    assert main(["compare", "--model", "mlp", "--spec", "gemmini-like", "--spec", "kv260",
                 "--spec", "t4", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "gemmini-like" in out and "kv260" in out and "t4" in out
    assert plot.stat().st_size > 10_000


def test_report_on_missing_dir(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "results.json" in capsys.readouterr().err


def test_show_config_is_the_embedded_quickstart(capsys):
    assert main(["show-config"]) == 0
    assert 'name = "quickstart"' in capsys.readouterr().out


def test_search_defaults_to_a_new_run_directory(tmp_path, monkeypatch, capsys):
    import re
    import signal
    from types import SimpleNamespace

    from lepton_codesign.codesign import pipeline

    seen = []

    def fake_codesign(**kw):
        seen.append(kw)
        return SimpleNamespace(points=[], front=lambda: [])

    monkeypatch.setattr(pipeline, "codesign", fake_codesign)
    monkeypatch.chdir(tmp_path)
    term = signal.getsignal(signal.SIGTERM)
    assert main(["search"]) == 0
    assert signal.getsignal(signal.SIGTERM) is term  # the handler is restored
    out = str(seen[0]["out_dir"])
    assert re.fullmatch(r"lepton-runs/quickstart-\d{8}-\d{6}", out), out
    assert seen[0]["fresh"] is False
    cap = capsys.readouterr()
    assert f"run directory: {out}" in cap.err
    assert f"lepton-codesign search --out {out}" in cap.out


def test_search_refuses_an_incompatible_run_directory(tmp_path, capsys):
    run = tmp_path / "old"
    run.mkdir()
    (run / "config.json").write_text('{"run": {}, "points": [], "train": {}}')
    (run / "trials.jsonl").write_text('{"name": "dense-fp32"}\n')
    assert main(["search", "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert str(run) in err and "--fresh" in err and "--out" in err
    assert (run / "trials.jsonl").read_text() == '{"name": "dense-fp32"}\n'


def test_search_fresh_refuses_a_foreign_directory(tmp_path, capsys):
    (tmp_path / "results.json").write_text("{}")
    assert main(["search", "--out", str(tmp_path), "--fresh"]) == 2
    assert "nothing was deleted" in capsys.readouterr().err
    assert (tmp_path / "results.json").read_text() == "{}"
