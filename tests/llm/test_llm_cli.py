"""The LLM CLI: ``evaluate --model <llm>``, ``serve`` (sweep, --search), bad input (issue 19)."""

import json

import numpy as np
import pytest

from lepton_codesign import cli
from lepton_codesign.llm import serve


def _run(capsys, argv):
    code = cli.main(argv)
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out, out.err


def test_cli_choices_match_the_library():
    assert cli.LLM_QUANTS == tuple(serve.QUANT_MODES)


@pytest.mark.slow
def test_evaluate_llama2_70b_decode_tp8(capsys):
    code, out, _ = _run(capsys, [
        "evaluate", "--model", "llama2-70b", "--phase", "decode", "--batch", "8",
        "--context", "4096", "--spec", "h100-sxm", "--devices", "8", "--parallel", "tp=8",
        "--format", "json"])
    assert code == 0
    row = json.loads(out)[0]
    assert row["feasible"] is True and row["split"] == "tp=8,pp=1,dp=1"
    # decode reads at least the fp16 weights (138 GB) over 8 x 3.35 TB/s per step
    assert row["tpot_s"] > 138e9 / (8 * 3.35e12)
    assert row["tokens_per_s"] > 0 and row["usd_per_1m_tokens"] > 0
    assert 0 < row["memory_per_device_bytes"] < 80e9


@pytest.mark.slow
def test_evaluate_70b_fp16_one_gpu_is_infeasible_with_reason(capsys):
    code, out, _ = _run(capsys, ["evaluate", "--model", "llama2-70b", "--spec", "h100-sxm",
                                 "--batch", "1"])
    assert code == 0
    assert "INFEASIBLE" in out and "memory" in out


def test_evaluate_table_names_the_metrics(capsys):
    code, out, _ = _run(capsys, ["evaluate", "--model", "tiny", "--spec", "a100-sxm",
                                 "--phase", "prefill", "--prompt", "64", "--batch", "2"])
    assert code == 0
    for word in ("ttft", "tokens/s", "$/1M tok", "J/token", "mem/device", "feasible"):
        assert word in out


@pytest.mark.parametrize("argv, words", [
    (["evaluate", "--model", "llama2-70b", "--spec", "h100-sxm", "--devices", "8",
      "--parallel", "tp=3"], ["--parallel", "divide"]),
    (["evaluate", "--model", "llama2-70b", "--spec", "h100-sxm", "--devices", "8",
      "--parallel", "tp=16"], ["--parallel", "tp=16", "allowed"]),
    (["evaluate", "--model", "llama2-70b", "--spec", "h100-sxm", "--devices", "8",
      "--parallel", "tp=2,dp=2"], ["--parallel", "--devices"]),
    (["evaluate", "--model", "llama2-70b", "--spec", "h100-sxm", "--parallel", "xx"],
     ["--parallel", "not understood"]),
    (["evaluate", "--model", "mlp", "--spec", "h100-sxm", "--phase", "decode"],
     ["--phase", "LLM models only"]),
    (["evaluate", "--model", "tiny", "--spec", "h100-sxm", "--dtype", "int8"],
     ["--dtype", "--quant"]),
    (["evaluate", "--model", "tiny", "--spec", "h100-sxm", "--kv-bits", "3"], ["--kv-bits"]),
    (["evaluate", "--model", "tiny", "--spec", "nope"], ["nope"]),
    (["serve", "--model", "llama9-1b", "--spec", "h100-sxm"], ["llama9-1b", "allowed"]),
    (["evaluate", "--model", "llama2-7", "--spec", "h100-sxm"],
     ["unknown model", "LLM config", "did you mean 'llama2-70b'"]),
    (["serve", "--model", "tiny", "--spec", "h100-sxm", "--devices", "1,2"],
     ["--devices", "--search"]),
    (["serve", "--model", "tiny", "--spec", "h100-sxm", "--batches", "0"], ["--batches"]),
    (["serve", "--model", "tiny", "--spec", "h100-sxm", "--plot", "out.txt"], ["--plot"]),
    (["serve", "--model", "tiny", "--spec", "h100-sxm", "--search", "--objectives", "usd"],
     ["--objectives"]),
    (["serve", "--model", "tiny", "--spec", "h100-sxm", "--search", "--tpot-slo", "-1"],
     ["--tpot-slo"]),
    (["serve", "--model", "tiny", "--spec", "h100-sxm", "--quant", "int3"], ["--quant"]),
])
def test_bad_input_exits_2_naming_the_flag(capsys, argv, words):
    code, _, err = _run(capsys, argv)
    assert code == 2
    for w in words:
        assert w in err


def test_serve_sweep_table_and_plot(capsys, tmp_path):
    png = tmp_path / "sweep.png"
    code, out, _ = _run(capsys, ["serve", "--model", "tiny", "--spec", "h100-sxm",
                                 "--batches", "1,4,16", "--prompt", "32", "--output", "16",
                                 "--plot", str(png)])
    assert code == 0 and png.stat().st_size > 1000
    assert "tpot" in out and "ttft" in out and "$/1M tok" in out


@pytest.mark.slow
def test_serve_sweep_throughput_grows_and_tpot_does_not_shrink(capsys):
    code, out, _ = _run(capsys, ["serve", "--model", "llama2-7b", "--spec", "h100-sxm",
                                 "--batches", "1,8,64", "--format", "json"])
    assert code == 0
    rows = json.loads(out)
    assert all(r["feasible"] for r in rows)
    tps = [r["tokens_per_s"] for r in rows]
    tpot = [r["tpot_s"] for r in rows]
    assert tps[0] < tps[1] < tps[2]
    assert tpot[0] <= tpot[1] <= tpot[2]
    # batch 1 decode is memory-bound: >= 13.5 GB of fp16 weights / 3.35 TB/s
    assert tpot[0] >= 13.4e9 / 3.35e12


def test_serve_search_front_is_feasible_and_nondominated(capsys):
    code, out, _ = _run(capsys, [
        "serve", "--search", "--model", "tiny", "--spec", "h100-sxm", "--spec", "l4",
        "--devices", "1,2", "--batches", "1,8", "--quant", "fp16,fp8", "--prompt", "32",
        "--output", "16", "--tpot-slo", "1", "--format", "json"])
    assert code == 0
    front = json.loads(out)
    assert front and all(r["feasible"] and r["tpot_s"] <= 1 for r in front)
    pts = np.array([[r["usd_per_1m_tokens"], r["tpot_s"], r["ttft_s"]] for r in front])
    for i in range(len(pts)):
        others = np.delete(pts, i, axis=0)
        dominated = np.any(np.all(others <= pts[i], axis=1) & np.any(others < pts[i], axis=1))
        assert not dominated
