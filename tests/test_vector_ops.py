"""Non-GEMM operators: the ``VectorOps`` container and their extraction from a trace."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lepton_codesign import hw_models as hw
from lepton_codesign.extract import extract_workload
from lepton_codesign.hw_models.vector_ops import make_vector_ops


def _ops(fn, params, *xs):
    wl = extract_workload(fn, params, *xs)
    return wl, wl.ops.table() if wl.ops is not None else []


@pytest.mark.parametrize("bad, match", [
    ({"in_elems": -1.0}, "in_elems"), ({"flops": float("nan")}, "flops"),
    ({"out_elems": float("inf")}, "out_elems"), ({"kind": "gelu"}, "kind"),
])
def test_make_vector_ops_refuses_bad_counts(bad, match):
    with pytest.raises(ValueError, match=match):
        make_vector_ops([{"out_elems": 4.0, **bad}])


def test_empty_list_means_no_ops():
    assert make_vector_ops([]) is None
    assert hw.gemm_workload([(4, 4, 4)]).ops is None


def test_per_layer_sums_groups_onto_their_layer():
    ops = make_vector_ops([{"after": 1}, {"after": 1}, {"after": -1}, {"after": 0}])
    got = np.asarray(ops.per_layer(jnp.array([1.0, 2.0, 4.0, 8.0]), 3))
    np.testing.assert_allclose(got, [12.0, 3.0, 0.0])  # -1 counts on layer 0


def test_op_group_after_a_missing_layer_is_refused():
    with pytest.raises(ValueError, match="follows layer 3"):
        hw.make_workload([{"m": 1, "k": 2, "n": 2}], ops=make_vector_ops([{"after": 3}]))


def test_mlp_bias_and_relu_are_the_gemm_epilogue():
    p = {"fc1": {"w": jnp.ones((40, 256)), "b": jnp.ones(256)},
         "fc2": {"w": jnp.ones((256, 10)), "b": jnp.ones(10)}}

    def mlp(p, x):
        h = jax.nn.relu(x @ p["fc1"]["w"] + p["fc1"]["b"])
        return h @ p["fc2"]["w"] + p["fc2"]["b"]

    wl, rows = _ops(mlp, p, jnp.ones((8, 40)))
    assert [r["name"] for r in rows] == ["fc1/elementwise", "fc2/elementwise"]
    assert all(r["fused"] == 1 for r in rows)
    # Epilogue reads only the bias from memory (the GEMM output is in flight); writes
    # the activation: 8 x 256 for fc1. add + max = 2 simple ops per element.
    assert (rows[0]["in_elems"], rows[0]["out_elems"], rows[0]["flops"]) == (256, 2048, 4096)
    assert (rows[1]["in_elems"], rows[1]["out_elems"]) == (10, 80)


def test_softmax_and_layernorm_are_labelled_and_unfused():
    p = {"q": {"w": jnp.ones((64, 64))}, "o": {"w": jnp.ones((64, 64))}}

    def f(p, x):
        s = jax.nn.softmax(x @ p["q"]["w"], axis=-1)
        y = s @ p["o"]["w"]
        mu = y.mean(-1, keepdims=True)
        var = ((y - mu) ** 2).mean(-1, keepdims=True)
        return (y - mu) * jax.lax.rsqrt(var + 1e-5)

    _, rows = _ops(f, p, jnp.ones((4, 64)))
    kinds = {r["kind"] for r in rows}
    assert kinds == {"softmax", "norm"}
    assert not any(r["fused"] for r in rows)
    soft = [r for r in rows if r["kind"] == "softmax"]
    assert sum(r["transcendentals"] for r in soft) == 4 * 64  # one exp per element
    # The first softmax kernel reads the GEMM output back from memory.
    assert soft[0]["in_elems"] >= 4 * 64


def test_pool_after_conv_reads_the_conv_output():
    w = {"conv": {"w": jnp.ones((3, 3, 3, 8))}}

    def f(p, x):
        y = jax.lax.conv_general_dilated(x, p["conv"]["w"], (1, 1), "SAME",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        y = jax.nn.relu(y)
        return jax.lax.reduce_window(y, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1),
                                     "VALID")

    _, rows = _ops(f, w, jnp.ones((1, 8, 8, 3)))
    assert [(r["kind"], r["fused"]) for r in rows] == [("pool", 0)]
    assert rows[0]["in_elems"] == 8 * 8 * 8 and rows[0]["out_elems"] == 4 * 4 * 8


def test_parameter_only_work_is_not_counted():
    p = {"fc": {"w": jnp.ones((16, 16)), "mask": jnp.ones((16, 16))}}
    _, rows = _ops(lambda p, x: x @ (p["fc"]["w"] * p["fc"]["mask"]), p, jnp.ones((2, 16)))
    assert rows == []


def test_scan_repeats_op_work_and_select_reindexes():
    p = {"fc": {"w": jnp.ones((8, 8))}, "head": {"w": jnp.ones((8, 2))}}

    def f(p, x):
        def body(h, _):
            return jnp.tanh(h @ p["fc"]["w"]), None
        h, _ = jax.lax.scan(body, x, None, length=5)
        return h @ p["head"]["w"]

    wl, rows = _ops(f, p, jnp.ones((1, 8)))
    assert rows[0]["transcendentals"] == 5 * 8
    sub = wl.select([1, 0])
    assert sub.ops is not None and [int(a) for a in sub.ops.after] == [1]


def test_transformer_preset_has_every_kind_it_should():
    from lepton_codesign import models

    model, x = models.build_model("transformer")[:2]
    kinds = set(extract_workload(model, x).ops.kinds)
    assert {"norm", "softmax", "elementwise"} <= kinds


def test_layer_rows_list_each_group_where_it_runs():
    from lepton_codesign import models
    from lepton_codesign.tables import layer_rows

    model, x = models.build_model("transformer")[:2]
    wl = extract_workload(model, x)
    rows = layer_rows(wl, hw.evaluate(wl, hw.preset("h200")))
    kinds = [r["kind"] for r in rows]
    assert kinds[0] == "op:norm"  # the first layer norm runs before the first GEMM
    assert len(rows) == wl.num_layers + wl.ops.num_ops
    assert [r["layer"] for r in rows if not r["kind"].startswith("op:")] == list(wl.names)
