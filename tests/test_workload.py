"""Workload construction: GEMM shapes, conv geometry, element counts, validation."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from lepton_codesign import hw_models as hw


def test_gemm_workload_shapes_and_macs():
    wl = hw.gemm_workload([(64, 128, 256), (1, 40, 10)], names=["a", "b"], groups=[2, 1])
    assert wl.names == ("a", "b") and wl.kinds == ("dense", "dense")
    assert wl.num_layers == 2
    np.testing.assert_array_equal(wl.m, [64, 1])
    np.testing.assert_array_equal(wl.groups, [2, 1])
    # MACs = m * k * n * groups, by hand.
    np.testing.assert_array_equal(wl.macs, [64 * 128 * 256 * 2, 40 * 10])
    assert float(wl.total_macs) == 64 * 128 * 256 * 2 + 400
    # Unique element counts over all groups.
    np.testing.assert_array_equal(wl.weight_elems, [128 * 256 * 2, 400])
    np.testing.assert_array_equal(wl.input_elems, [64 * 128 * 2, 40])
    np.testing.assert_array_equal(wl.output_elems, [64 * 256 * 2, 10])
    # Non-conv layers carry zero conv geometry.
    np.testing.assert_array_equal(wl.kh, [0, 0])


def test_gemm_workload_default_names_and_dtype():
    wl = hw.gemm_workload([(2, 3, 4), (5, 6, 7)])
    assert wl.names == ("layer0", "layer1")
    assert wl.m.dtype == np.float32


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"shapes": [(0, 3, 4)]}, "positive"),
        ({"shapes": [(2, 3, 4)], "groups": [0]}, "positive"),
        ({"shapes": [(2, 3, 4)], "names": ["a", "b"]}, "same length"),
        ({"shapes": [(2, 3, 4), (2, 3, 4)], "names": ["a", "a"]}, "unique"),
        ({"shapes": []}, "at least one layer"),
    ],
)
def test_gemm_workload_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        hw.gemm_workload(**kwargs)


def test_make_workload_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        hw.make_workload([{"m": 1, "k": 1, "n": 1, "kind": "lstm"}])


def test_conv_layer_geometry_strided_padded():
    # 32x32x3 input, 16 filters of 3x3, stride 2, padding 1:
    # out = (32 + 2 - 3) // 2 + 1 = 16 per side.
    layer = hw.conv_layer("c", (32, 32), 3, 16, (3, 3), stride=2, padding=1, batch=2)
    assert (layer["out_h"], layer["out_w"]) == (16, 16)
    assert layer["m"] == 2 * 16 * 16
    assert layer["k"] == 3 * 3 * 3 and layer["n"] == 16 and layer["groups"] == 1
    assert layer["weight_elems"] == 16 * 3 * 9
    assert layer["input_elems"] == 2 * 32 * 32 * 3  # unique input, not im2col
    assert layer["output_elems"] == 2 * 16 * 16 * 16


def test_conv_layer_depthwise_and_grouped():
    dw = hw.conv_layer("dw", (8, 8), 32, 32, (3, 3), padding=1, groups=32)
    assert (dw["m"], dw["k"], dw["n"], dw["groups"]) == (64, 9, 1, 32)
    assert dw["weight_elems"] == 32 * 9
    g = hw.conv_layer("g", (8, 8), 32, 64, (1, 1), groups=4)
    assert (g["k"], g["n"], g["groups"]) == (8, 16, 4)
    # MACs of the grouped conv = out pixels * out_ch * in_ch/groups * kh*kw.
    wl = hw.make_workload([g])
    assert float(wl.macs[0]) == 64 * 64 * 8


@pytest.mark.parametrize(
    "kwargs",
    [
        {"in_hw": (2, 2), "kernel": (3, 3)},  # no valid output position
        {"in_hw": (8, 8), "kernel": (3, 3), "groups": 5},  # 16 % 5 != 0
    ],
)
def test_conv_layer_rejects_invalid_geometry(kwargs):
    with pytest.raises(ValueError, match="invalid conv geometry"):
        hw.conv_layer("bad", in_ch=16, out_ch=16, **kwargs)


def test_conv_workload_keeps_conv_fields(mixed_workload):
    wl = mixed_workload
    i = wl.names.index("conv1")
    assert wl.kinds[i] == "conv"
    assert float(wl.stride[i]) == 2 and float(wl.kh[i]) == 3 and float(wl.out_h[i]) == 8
    np.testing.assert_array_equal(wl.has_weights, [True, True, True, False, True])


def test_select_and_table(mixed_workload):
    sub = mixed_workload.select([4, 0])
    assert sub.names == ("fc", "conv1")
    assert sub.kinds == ("dense", "conv")
    assert sub.batch == mixed_workload.batch
    np.testing.assert_array_equal(sub.k, [2048, 27])
    rows = sub.table()
    assert rows[0]["name"] == "fc" and rows[0]["macs"] == 2048 * 10
    assert set(rows[1]) >= {"m", "k", "n", "groups", "kind", "macs", "stride"}


def test_stored_per_sample_defaults_to_none_and_follows_select(mixed_workload):
    assert not mixed_workload.per_sample.any()
    assert len(mixed_workload.per_sample) == mixed_workload.num_layers
    marked = dataclasses.replace(mixed_workload, stored_per_sample=tuple(
        i == 0 for i in range(mixed_workload.num_layers)))
    assert marked.select([4, 0]).stored_per_sample == (False, True)
    assert mixed_workload.select([4, 0]).stored_per_sample == ()
    # static: part of the tree structure, not a leaf
    assert jax.tree.structure(marked) != jax.tree.structure(mixed_workload)
    short = dataclasses.replace(mixed_workload, stored_per_sample=(True,))
    with pytest.raises(ValueError, match="stored_per_sample has 1 entries"):
        short.per_sample  # noqa: B018 - a length that would broadcast over every layer


def test_workload_is_a_pytree_with_static_metadata(mixed_workload):
    leaves, treedef = jax.tree.flatten(mixed_workload)
    assert len(leaves) == 15  # the per-layer arrays only
    rebuilt = jax.tree.unflatten(treedef, leaves)
    assert rebuilt.names == mixed_workload.names and rebuilt.kinds == mixed_workload.kinds
    doubled = jax.jit(lambda w: w.macs * 2)(mixed_workload)
    np.testing.assert_array_equal(doubled, 2 * np.asarray(mixed_workload.macs))
