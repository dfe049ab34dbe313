"""Compute cycles equal SCALE-Sim v3's own numbers (pinned) and hand-derived counts.

The golden file holds SCALE-Sim 3.0.0 outputs for a subset of the layers of
``benchmarks/validation/scalesim_cycles.py``; its ``regenerate`` key is the command that
rewrites it from the real tool.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models.systolic import demand_lines, folds, gemm_compute_cycles, spatial_map

GOLDEN = json.loads((Path(__file__).parent / "data" / "scalesim_golden.json").read_text())
DF_CODE = {"os": 0, "ws": 1, "is": 2}


def _layer(spec: dict) -> dict:
    if spec["kind"] == "gemm":
        return {"name": spec["name"], "m": spec["m"], "k": spec["k"], "n": spec["n"]}
    return hw.conv_layer(spec["name"], tuple(spec["in_hw"]), spec["in_ch"], spec["out_ch"],
                         tuple(spec["kernel"]), spec["stride"], spec["padding"],
                         spec["groups"])


def _reference(m, k, n, rows, cols, dataflow: str) -> int:
    """Integer closed form, written out per dataflow from SCALE-Sim's demand matrices."""
    if dataflow == "os":  # T streaming + (C-1) drain lines, skewed over R rows
        sr, sc, t, per_fold = m, n, k, k + (cols - 1) + (rows - 1)
    elif dataflow == "ws":  # + R lines to preload the weights
        sr, sc, t = k, n, m
        per_fold = rows + t + (cols - 1) + (rows - 1)
    else:  # "is": + R lines to preload the inputs
        sr, sc, t = k, m, n
        per_fold = rows + t + (cols - 1) + (rows - 1)
    return math.ceil(sr / rows) * math.ceil(sc / cols) * per_fold - 1


def test_golden_file_is_complete():
    assert "regenerate" in GOLDEN and GOLDEN["scalesim_version"].startswith("3.")
    cases = GOLDEN["cases"]
    assert len(cases) >= 20
    assert {c["dataflow"] for c in cases} == {"os", "ws", "is"}
    assert {c["layer"]["kind"] for c in cases} == {"gemm", "conv"}
    assert any(c["layer"].get("stride", 1) > 1 for c in cases)
    assert any(c["layer"].get("kernel") == [1, 1] for c in cases)
    assert any(c["rows"] != c["cols"] for c in cases)


@pytest.mark.parametrize("case", GOLDEN["cases"],
                         ids=[f"{c['layer']['name']}-{c['rows']}x{c['cols']}-{c['dataflow']}"
                              for c in GOLDEN["cases"]])
def test_matches_scalesim_golden(case):
    assert case["scalesim_stalls"] == 0  # SCALE-Sim's number is pure compute
    wl = hw.make_workload([_layer(case["layer"])])
    spec = hw.AsicSpec(pe_rows=case["rows"], pe_cols=case["cols"], dataflow=case["dataflow"])
    got = float(hw.evaluate(wl, spec).compute_cycles[0])
    assert got == case["scalesim_cycles"]


@pytest.mark.parametrize("dataflow, expected", [
    # 4x3 array, m=5, k=3, n=7 (these three were also run through SCALE-Sim 3.0.0):
    ("os", 47),  # Sr=m=5, Sc=n=7, T=k=3: 2*3 folds x (3+4+3-2 = 8) - 1
    ("ws", 41),  # Sr=k=3, Sc=n=7, T=m=5: 1*3 folds x (2*4+3+5-2 = 14) - 1
    ("is", 31),  # Sr=k=3, Sc=m=5, T=n=7: 1*2 folds x (2*4+3+7-2 = 16) - 1
])
def test_hand_derived_4x3(dataflow, expected):
    got = gemm_compute_cycles(5.0, 3.0, 7.0, 4.0, 3.0, DF_CODE[dataflow])
    assert int(got) == expected == _reference(5, 3, 7, 4, 3, dataflow)
    wl = hw.gemm_workload([(5, 3, 7)])
    assert float(hw.evaluate(wl, hw.AsicSpec(4, 3, dataflow)).compute_cycles[0]) == expected


def test_hand_derived_single_pe_and_groups():
    # 1x1 array, WS, m=2, k=n=1: one fold of 1 (preload) + 2 (stream) + 0 + 0 lines, - 1.
    assert int(gemm_compute_cycles(2.0, 1.0, 1.0, 1.0, 1.0, 1)) == 2
    # A depthwise conv is `groups` GEMMs, each with its own "- 1" (as SCALE-Sim's DP
    # layers): 4 channels, 6x6 -> 4x4, 3x3 kernel, 2x2 OS array.
    layer = hw.conv_layer("dw", (6, 6), 4, 4, (3, 3), groups=4)
    one = 8 * 1 * (9 + 2 + 2 - 2) - 1  # Sr=16 -> 8 folds, Sc=1 -> 1, T=9
    got = hw.evaluate(hw.make_workload([layer]), hw.AsicSpec(2, 2, "os")).compute_cycles
    assert float(got[0]) == 4 * one


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.integers(1, 300), st.integers(1, 300),
       st.integers(1, 70), st.integers(1, 70), st.sampled_from(["os", "ws", "is"]))
def test_closed_form_equals_reference(m, k, n, rows, cols, dataflow):
    expected = _reference(m, k, n, rows, cols, dataflow)
    with jax.enable_x64(True):  # exact at any size in float64
        got = gemm_compute_cycles(jnp.float64(m), jnp.float64(k), jnp.float64(n),
                                  float(rows), float(cols), DF_CODE[dataflow])
        assert int(got) == expected
    assume(expected < 2**24)  # float32 (the Workload dtype) is exact below 2^24
    got = gemm_compute_cycles(jnp.float32(m), jnp.float32(k), jnp.float32(n),
                              float(rows), float(cols), DF_CODE[dataflow])
    assert int(got) == expected


def test_jit_vmap_and_smooth_grad():
    rng = np.random.default_rng(0)
    m, k, n = (jnp.asarray(rng.integers(1, 500, 64), jnp.float32) for _ in range(3))
    rows = jnp.asarray(rng.integers(8, 65, 64), jnp.float32)  # counts < 2^24
    cols = jnp.asarray(rng.integers(8, 65, 64), jnp.float32)
    df = jnp.asarray(rng.integers(0, 3, 64), jnp.int32)
    batched = jax.jit(jax.vmap(gemm_compute_cycles))(m, k, n, rows, cols, df)
    loop = [_reference(*(int(v[i]) for v in (m, k, n, rows, cols)), "os ws is".split()[df[i]])
            for i in range(64)]
    np.testing.assert_array_equal(np.asarray(batched), loop)
    smooth = jax.vmap(lambda *a: gemm_compute_cycles(*a, smooth=True))(m, k, n, rows, cols, df)
    np.testing.assert_array_equal(np.asarray(smooth), np.asarray(batched))
    g = jax.grad(lambda r: gemm_compute_cycles(100.0, 200.0, 50.0, r, 16.0, 1, smooth=True))(
        16.0)
    assert np.isfinite(float(g)) and float(g) != 0.0


def test_helpers_consistent():
    sr, sc, t = spatial_map(5.0, 3.0, 7.0, 2)
    assert (int(sr), int(sc), int(t)) == (3, 5, 7)
    assert [int(f) for f in folds(5.0, 3.0, 7.0, 4.0, 3.0, 2)] == [1, 2]
    assert int(demand_lines(5.0, 3.0, 7.0, 4.0, 3.0, 2)) == 32
