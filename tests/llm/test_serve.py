"""lepton_codesign.llm.serve: flag parsing and validation, the serving sweep (issue 19)."""

import pytest

from lepton_codesign.hw_models.llm_workload import LlmShape
from lepton_codesign.llm import serve


@pytest.mark.parametrize("text, devices, want", [
    (None, 8, (8, 1, 1)),
    ("tp=8", 8, (8, 1, 1)),
    ("tp=2", 8, (2, 1, 4)),             # missing dp = devices / (tp * pp)
    ("tp=2,pp=2,dp=2", 8, (2, 2, 2)),
    ("TP=2 pp=2", 4, (2, 2, 1)),
    ("dp=4", 4, (1, 1, 4)),
])
def test_parse_parallel(text, devices, want):
    assert serve.parse_parallel(text, devices) == want


@pytest.mark.parametrize("text, devices, words", [
    ("tp=3", 8, ["does not divide", "--devices"]),
    ("tp=2,dp=2", 8, ["tp*pp*dp = 4", "--devices is 8"]),
    ("tp=0", 1, ["tp=0", ">= 1"]),
    ("tp=two", 2, ["not an integer"]),
    ("ep=2", 2, ["not understood", "tp=N"]),
    ("tp=2,tp=2", 2, ["given twice"]),
    ("", 2, ["empty"]),
])
def test_parse_parallel_refuses(text, devices, words):
    with pytest.raises(ValueError) as err:
        serve.parse_parallel(text, devices)
    msg = str(err.value)
    assert msg.startswith("--parallel") or msg.startswith("--devices")
    for w in words:
        assert w in msg


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, float("nan")])
def test_devices_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="--devices"):
        serve.parse_parallel(None, bad)


SHAPE = LlmShape("toy", n_layers=4, d_model=64, n_heads=8, n_kv_heads=2, d_ff=128, vocab=64)


def test_check_split():
    serve.check_split(SHAPE, 2, 4)
    with pytest.raises(ValueError, match=r"tp=3 does not divide the heads of toy"):
        serve.check_split(SHAPE, 3, 1)
    with pytest.raises(ValueError, match=r"tp=4 .*allowed: tp in \[1, 2\]"):
        serve.check_split(SHAPE, 4, 1)      # divides the 8 query heads, not the 2 KV heads
    with pytest.raises(ValueError, match=r"pp=5 exceeds the 4 layers"):
        serve.check_split(SHAPE, 1, 5)


def test_resolve_quant():
    from lepton_codesign.hw_models.llm_compress import SCHEMES

    assert set(serve.QUANT_MODES) <= set(SCHEMES)
    assert serve.resolve_quant(None)["name"] == "fp16"
    q = serve.resolve_quant("w8a16", weight_bits=4, kv_bits=8)
    assert (q["scheme"], q["kv_bits"], q["name"]) == ("w4a16", 8, "w4a16+kv8")
    assert serve.resolve_quant("fp16", weight_bits=16)["scheme"] == "fp16"
    assert serve.resolve_quant("W4A16+2:4")["scheme"] == "w4a16+2:4"
    assert serve.resolve_quant("fp8")["act"] == "fp8"
    with pytest.raises(ValueError, match=r"--quant 'int3'.*allowed"):
        serve.resolve_quant("int3")
    with pytest.raises(ValueError, match=r"--quant 'fp8\+3:4'"):
        serve.resolve_quant("fp8+3:4")
    with pytest.raises(ValueError, match=r"--weight-bits 3"):
        serve.resolve_quant("fp16", weight_bits=3)
    with pytest.raises(ValueError, match=r"--kv-bits 4"):
        serve.resolve_quant("fp16", kv_bits=4)
    with pytest.raises(ValueError, match=r"--weight-bits 4 with --quant fp8"):
        serve.resolve_quant("fp8", weight_bits=4)


def test_sweep_batches():
    assert serve.sweep_batches(None)[0] == 1
    assert serve.sweep_batches("64, 8,1,8") == (1, 8, 64)
    for bad in ("0", "a", ",", "1,-2"):
        with pytest.raises(ValueError, match="--batches"):
            serve.sweep_batches(bad)


def test_finite_or_none():
    assert serve.finite_or_none(2) == 2.0
    assert serve.finite_or_none(float("inf")) is None
    assert serve.finite_or_none(float("nan")) is None
    assert serve.finite_or_none(None) is None


@pytest.mark.parametrize("phase, batch", [("decode", 4), ("prefill", 3)])
def test_llm_step_rebatch_equals_direct_extraction(phase, batch):
    """The cached batch-1 trace scaled by rebatch is the workload traced at that batch."""
    import numpy as np

    from lepton_codesign import hw_models as hw
    from lepton_codesign.llm import extract_llm

    if phase == "decode":
        got = serve.llm_step("tiny", "decode", batch, 0, 16)
        want = extract_llm("tiny", "decode", batch, context=16)
    else:
        got = serve.llm_step("tiny", "prefill", batch, 8, 0)
        want = extract_llm("tiny", "prefill", batch, prompt_len=8)
    assert (got.batch, got.kv_cache_elems, got.act_peak_elems, got.weight_elems) == (
        want.batch, want.kv_cache_elems, want.act_peak_elems, want.weight_elems)
    assert got.workload.names == want.workload.names
    for f in ("m", "k", "n", "groups", "weight_elems", "input_elems", "output_elems"):
        np.testing.assert_allclose(getattr(got.workload, f), getattr(want.workload, f))
    # rebatch also scales the op groups' batch-independent operands (norm gains): the
    # non-GEMM input counts differ slightly, the priced step by < 0.1%
    spec = hw.preset("a100-sxm")
    a, b = hw.evaluate_llm(got, spec), hw.evaluate_llm(want, spec)
    assert float(a.latency_s) == pytest.approx(float(b.latency_s), rel=1e-3)


def test_price_point_rows_are_finite_or_none():
    from lepton_codesign import hw_models as hw

    ok = serve.price_point("tiny", "decode", 2, spec=hw.preset("l4"), prompt=8, context=8)
    assert ok["feasible"] and ok["tpot_s"] > 0 and ok["tokens_per_s"] > 0
    assert ok["tpot_s"] >= ok["floor_s"] > 0
    with pytest.raises(ValueError, match="--parallel"):
        serve.price_point("tiny", "decode", 2, spec=hw.preset("l4"), devices=2, split=(1, 1, 1))
