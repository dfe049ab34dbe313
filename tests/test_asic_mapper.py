"""The per-layer ASIC mapper (``hw_models.asic_traffic``, ``AsicSpec.mapping``).

The monotonicity property of issue 17 item 5: with the same buffers, doubling PE rows
or columns never increases a layer's latency or DRAM bytes under ``mapping="best"``,
except for the two reasons the ``asic_traffic`` docstring states, each checked here to
be exactly that reason: SCALE-Sim's per-fold fill/drain (compute cycles) and a larger
fold slice (DRAM bytes, bounded by ``extras["dram_bytes_if_*_grow"]``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models.asic import evaluate_asic
from lepton_codesign.hw_models.asic_spec import DATAFLOWS, MAPPINGS
from lepton_codesign.hw_models.asic_traffic import MAPPING_NAMES, MAPPING_SLICE
from lepton_codesign.hw_models.schema import SpecError
from lepton_codesign.hw_models.specio import spec_from_dict
from tests.test_asic_properties import asic_specs

REL = 1e-5  # float32 slack


@st.composite
def workloads(draw):
    """A conv, a dense GEMM and a grouped matmul of random shapes (fixed layer names,
    so every example shares one compiled evaluator)."""
    hw_in = draw(st.integers(1, 32))
    kernel = draw(st.sampled_from([1, 3]))
    conv = hw.conv_layer("conv", (hw_in + kernel - 1, hw_in + kernel - 1),
                         draw(st.integers(1, 64)), draw(st.integers(1, 128)),
                         (kernel, kernel), stride=draw(st.sampled_from([1, 2])))
    dims = st.integers(1, 2048)
    dense = {"name": "fc", "kind": "dense", "m": draw(st.integers(1, 512)),
             "k": draw(dims), "n": draw(dims)}
    mm = {"name": "attn", "kind": "matmul", "m": draw(st.integers(1, 512)),
          "k": draw(st.integers(1, 256)), "n": draw(st.integers(1, 512)),
          "groups": draw(st.integers(1, 8))}
    return hw.make_workload([conv, dense, mm])


def layer_arrays(c: hw.Costs) -> dict[str, np.ndarray]:
    keys = ("latency_s", "dram_bytes", "compute_cycles", "cycles")
    out = {k: np.asarray(getattr(c, k), np.float64) for k in keys}
    out.update({k: np.asarray(v, np.float64) for k, v in c.extras.items()})
    return out


# ``evaluate_asic`` with the growth bounds in ``extras``, jitted once for the session.
_bounds_evaluate = jax.jit(lambda wl, spec: evaluate_asic(
    wl, spec, hw.dense_compression(wl.num_layers), growth_bounds=True))


# --------------------------------------------------------------------- the property
@pytest.mark.parametrize("side", ["pe_rows", "pe_cols"])
@given(spec=asic_specs(), wl=workloads())
def test_doubling_rows_or_cols_never_worse_except_stated_reasons(jit_evaluate, side, spec, wl):
    small = layer_arrays(_bounds_evaluate(wl, spec))
    big_spec = spec.replace(**{side: getattr(spec, side) * 2.0})
    big = layer_arrays(_bounds_evaluate(wl, big_spec))
    grow = "rows" if side == "pe_rows" else "cols"
    bound = small[f"dram_bytes_if_{grow}_grow"]
    # DRAM: never above the bound of the mappings whose slices do not grow with `side`
    # (a min over a subset of the candidates, so never below the layer's own bytes) ...
    assert np.all(bound >= small["dram_bytes"] * (1 - REL))
    assert np.all(big["dram_bytes"] <= bound * (1 + REL)), (big["dram_bytes"], bound)
    # ... so it grows only when the smaller array's mapping kept a slice of `side`.
    more = big["dram_bytes"] > small["dram_bytes"] * (1 + REL)
    kept = np.array([MAPPING_SLICE[int(code)] == grow for code in small["mapping"]])
    assert np.all(kept[more]), [MAPPING_NAMES[int(c)] for c in small["mapping"][more]]
    # Compute: the streaming part (folds x T) never grows; only fill/drain can.
    stream_small = small["compute_cycles"] - small["fill_drain_cycles"]
    stream_big = big["compute_cycles"] - big["fill_drain_cycles"]
    assert np.all(stream_big <= stream_small * (1 + REL))
    # Latency = max(compute, memory): slower only through one of the two reasons.
    slower = big["latency_s"] > small["latency_s"] * (1 + REL)
    fill_drain = big["fill_drain_cycles"] > small["fill_drain_cycles"]
    assert np.all((fill_drain | more)[slower])
    mem_cap_s = bound / float(spec.dram_bandwidth_bytes_per_s)
    compute_s = big["compute_cycles"] / float(spec.freq_hz)
    assert np.all(big["latency_s"] <= np.maximum(compute_s, mem_cap_s) * (1 + REL))


def test_issue_example_bigger_os_array_with_64kib_ifmap():
    # The issue's case: 64x64 -> 128x64 OS PEs, 64 KiB ifmap SRAM. ResNet-style 3x3
    # conv, 64 -> 256 channels on 56x56, pad 1 (m = 3136, k = 576, n = 256: weights
    # 147,456 B, unique inputs 200,704 B, outputs 802,816 B), 4 GB/s DRAM at 1 GHz.
    # Fixed order: one row fold's inputs (R x k) are kept for the fc = 4 column folds;
    # 64 x 576 = 36,864 B fits 64 KiB, 128 x 576 = 73,728 B does not, so the larger
    # array re-reads the input 4 times: 1,150,976 -> 1,753,088 B, both memory-bound
    # (compute 137,591 and 76,599 cycles), so 1.52x slower.
    wl = hw.make_workload([hw.conv_layer("c", (56, 56), 64, 256, (3, 3), padding=1)])
    small = hw.AsicSpec(64.0, 64.0, "os", ifmap_sram_bytes=65536.0,
                        dram_bandwidth_bytes_per_s=4e9)
    big = small.replace(pe_rows=128.0)
    w_b, i_b, o_b = 147456, 200704, 802816
    fixed = [hw.evaluate(wl, s.replace(mapping="scalesim")) for s in (small, big)]
    np.testing.assert_allclose([float(c.dram_bytes[0]) for c in fixed],
                               [w_b + i_b + o_b, w_b + 4 * i_b + o_b])
    np.testing.assert_allclose(float(fixed[1].total_latency_s / fixed[0].total_latency_s),
                               (w_b + 4 * i_b + o_b) / (w_b + i_b + o_b), rtol=1e-5)
    # "best": the larger array tiles k to 512 (128 x 512 B of inputs fit) between its
    # row and column folds (r>t>c); a row fold's 128 x 256 32-bit psums (128 KiB) stay
    # in the ofmap SRAM across the 2 k tiles. Nothing is refetched: not slower.
    best = [hw.evaluate(wl, s) for s in (small, big)]
    np.testing.assert_allclose([float(c.dram_bytes[0]) for c in best], [w_b + i_b + o_b] * 2)
    assert MAPPING_NAMES[int(best[1].extras["mapping"][0])] == "r>t>c"
    assert float(best[1].total_latency_s) <= float(best[0].total_latency_s)


def test_bigger_fold_slice_is_the_stated_dram_exception():
    # IS, psums of one column fold at one n step are C x 4 B: 8 columns (32 B) fit a
    # 48 B ofmap SRAM, 16 columns (64 B) do not, so the 16-column array must spill
    # psums per row fold while the 8-column one tiles n to one column (c>t>r).
    wl = hw.gemm_workload([(64, 64, 64)])
    small = hw.AsicSpec(8.0, 8.0, "is", ofmap_sram_bytes=48.0)
    c_small = evaluate_asic(wl, small, hw.dense_compression(1), growth_bounds=True)
    c_big = hw.evaluate(wl, small.replace(pe_cols=16.0))
    assert MAPPING_NAMES[int(c_small.extras["mapping"][0])] == "c>t>r"
    assert MAPPING_SLICE[int(c_small.extras["mapping"][0])] == "cols"
    assert float(c_big.dram_bytes[0]) > float(c_small.dram_bytes[0])
    assert float(c_big.dram_bytes[0]) <= float(c_small.extras["dram_bytes_if_cols_grow"][0])


# --------------------------------------------------------------------- modes
@given(spec=asic_specs(), wl=workloads())
def test_compute_cycles_identical_in_both_modes_and_best_picks_a_candidate(
        jit_evaluate, spec, wl):
    best = jit_evaluate(wl, spec.replace(mapping="best"))
    fixed = jit_evaluate(wl, spec.replace(mapping="scalesim"))
    np.testing.assert_array_equal(np.asarray(best.compute_cycles),
                                  np.asarray(fixed.compute_cycles))
    assert np.all(np.asarray(fixed.extras["mapping"]) == 0)
    codes = np.asarray(best.extras["mapping"])
    assert np.all((codes >= 1) & (codes < len(MAPPING_NAMES)))


def test_mapping_field_names_codes_and_errors():
    spec = hw.AsicSpec(8, 8, "ws")
    assert int(spec.mapping) == MAPPINGS.index("best") == 0
    assert hw.AsicSpec(8, 8, "ws", mapping="scalesim").describe()["mapping"] == "scalesim"
    with pytest.raises(SpecError, match=r"AsicSpec\.mapping.*allowed.*best"):
        hw.AsicSpec(8, 8, "ws", mapping="greedy")
    with pytest.raises(SpecError, match="mapping"):
        hw.AsicSpec(8, 8, "ws", mapping=5)
    # Spec files: the same rule at load time.
    base = {"version": 1, "kind": "asic", "pe_rows": 8, "pe_cols": 8, "dataflow": "ws",
            "freq_hz": 1e9}
    assert int(spec_from_dict(base | {"mapping": "scalesim"}).mapping) == 1
    with pytest.raises(SpecError, match=r"'mapping'.*allowed.*\['best', 'scalesim'\]"):
        spec_from_dict(base | {"mapping": "greedy"})


@pytest.mark.parametrize("mode", MAPPINGS)
def test_batched_specs_match_one_by_one(mixed_workload, mode):
    specs = [hw.AsicSpec(float(r), float(c), df, mapping=mode, ifmap_sram_bytes=512.0,
                         filter_sram_bytes=300.0, ofmap_sram_bytes=200.0)
             for r, c, df in [(4, 8, "os"), (16, 2, "ws"), (8, 8, "is"), (3, 5, "ws")]]
    batch = jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *specs)
    out = jax.jit(jax.vmap(lambda s: hw.evaluate(mixed_workload, s)))(batch)
    for i, spec in enumerate(specs):
        one = hw.evaluate(mixed_workload, spec)
        np.testing.assert_allclose(np.asarray(out.dram_bytes[i]), np.asarray(one.dram_bytes),
                                   rtol=1e-6)
        np.testing.assert_array_equal(np.asarray(out.extras["mapping"][i]),
                                      np.asarray(one.extras["mapping"]))


def test_mapping_is_static_one_mode_per_batch():
    with pytest.raises(SpecError, match="static"):
        hw.AsicSpec(np.array([8.0, 8.0]), np.array([8.0, 8.0]), mapping=np.array([0, 1]))
    assert hw.AsicSpec(8, 8, mapping=np.array([1, 1])).mapping == 1


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_smooth_gradients_finite_through_the_mapper(dataflow):
    # Small buffers so refetch / tiling decisions are active in every dataflow.
    wl = hw.gemm_workload([(96, 200, 80), (7, 300, 33)])

    def loss(rows, ifmap, ofmap):
        spec = hw.AsicSpec(rows, 8.0, dataflow, ifmap_sram_bytes=ifmap,
                           filter_sram_bytes=2000.0, ofmap_sram_bytes=ofmap)
        c = hw.evaluate(wl, spec, smooth=True)
        return jnp.log(c.total_latency_s) + jnp.log(c.total_energy_j)

    grads = jax.grad(loss, argnums=(0, 1, 2))(jnp.float32(8.0), jnp.float32(3000.0),
                                              jnp.float32(700.0))
    assert all(np.isfinite(float(g)) for g in grads)


@pytest.mark.parametrize(
    ("dataflow", "rows", "cols", "mkn", "fill_drain"),
    [
        # OS, one fold of a 16^3 GEMM on 16x16: R + C - 2 = 30 lines besides the k = 16.
        ("os", 16, 16, (16, 16, 16), 30),
        # WS, 4x3 array, m=5 k=3 n=7: 1 x 3 folds of 2R + C - 2 = 9 preload/fill/drain.
        ("ws", 4, 3, (5, 3, 7), 27),
        # The documented exception: the same GEMM on 32x32 is one fold of 62 such lines.
        ("os", 32, 32, (16, 16, 16), 62),
    ],
)
def test_fill_drain_cycles_term(dataflow, rows, cols, mkn, fill_drain):
    c = hw.evaluate(hw.gemm_workload([mkn]), hw.AsicSpec(float(rows), float(cols), dataflow))
    assert float(c.extras["fill_drain_cycles"][0]) == fill_drain
