"""``[compression] base_bits``: a quantisation-aware dense model to start from."""

import jax
import numpy as np
import pytest
from flax import nnx

from lepton_codesign.codesign import finetune
from lepton_codesign.codesign.config import ConfigError, validate_config
from lepton_codesign.models import build_model, model_names


@pytest.mark.parametrize("bits", [32, 8, 4, 2, 16])
def test_base_bits_takes_float_or_a_quantiser_width(bits):
    assert validate_config({"compression": {"base_bits": bits}})["compression"][
        "base_bits"] == bits


@pytest.mark.parametrize("bad", [1, 17, 31, 33, 0, -8, 8.5, "8", True])
def test_base_bits_refuses_anything_else(bad):
    with pytest.raises(ConfigError, match="base_bits"):
        validate_config({"compression": {"base_bits": bad}})


def test_float_weights_copies_the_wrapped_layers_weights():
    model, _ = build_model("cnn1d", features=40)
    q = finetune._quantised_form(model, 8, np.zeros((2, 40), np.float32))
    # give the compressed form weights of its own, so a copy is visible
    nnx.update(q, jax.tree_util.tree_map_with_path(
        lambda p, x: x + 1.0 if "['kernel']" in jax.tree_util.keystr(p) else x,
        nnx.state(q)))
    out = finetune.float_weights(q, model)
    assert type(out) is type(model)
    got, src, old = (dict(jax.tree_util.tree_flatten_with_path(nnx.state(m))[0])
                     for m in (out, q, model))
    assert set(got) == set(old)  # the float model's variables, no quantiser ranges
    assert set(src) > set(got)
    for path, leaf in got.items():
        np.testing.assert_array_equal(leaf, src[path])
    kernels = [p for p in got if "['kernel']" in jax.tree_util.keystr(p)]
    assert kernels and all(not np.array_equal(got[p], old[p]) for p in kernels)


def test_float_weights_refuses_a_model_it_does_not_fit():
    small, _ = build_model("mlp", features=8)
    big, _ = build_model("mlp", features=16)
    with pytest.raises(ValueError, match="no counterpart"):
        finetune.float_weights(big, small)


@pytest.mark.slow
def test_a_quantisation_aware_base_is_saved_as_the_float_model(tmp_path):
    base = {"model": "mlp", "data": {"dataset": "digits", "max_train": 300, "max_test": 100},
            "train": {"epochs": 2, "batch_size": 64, "learning_rate": 3e-3}, "seed": 0,
            "val_fraction": 0.25, "arrays": None}
    recs = {}
    for bits in (32, 4):
        task = {**base, "base_bits": bits, "dense_path": str(tmp_path / f"d{bits}.npz")}
        recs[bits] = finetune.train_dense(task)
        dense = finetune.load_dense({**task, "features": recs[bits]["features"]})
        fit, val, test = finetune.split_data(task)
        from lepton_codesign.train import evaluate_model

        # the record's accuracies are the saved float model's own
        assert recs[bits]["val_accuracy"] == pytest.approx(evaluate_model(dense, val)["accuracy"])
        assert recs[bits]["accuracy"] == pytest.approx(evaluate_model(dense, test)["accuracy"])
    assert recs[4]["layers"] == recs[32]["layers"]
    a, b = (np.load(tmp_path / f"d{bits}.npz") for bits in (32, 4))
    assert len(a.files) == len(b.files)  # the same float model ...
    assert any(not np.array_equal(a[k], b[k]) for k in a.files)  # ... trained otherwise


@pytest.mark.slow
@pytest.mark.parametrize("name", model_names())
def test_every_built_in_model_has_a_quantisation_aware_base(name):
    model, x = build_model(name)
    q = finetune._quantised_form(model, 8, np.asarray(x))
    out = finetune.float_weights(q, model)
    leaves = jax.tree.leaves(nnx.state(out))
    assert len(leaves) == len(jax.tree.leaves(nnx.state(model)))
    assert all(np.all(np.isfinite(np.asarray(v))) for v in leaves
               if np.issubdtype(np.asarray(v).dtype, np.floating))
