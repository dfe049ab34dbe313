"""normalized_sgd: unit-RMS steps over all leaves, no state, zero-safe; the trainer's
mask optimiser choice."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from hypothesis import given, settings
from hypothesis import strategies as st

from lepton_codesign.compress import CompressionPolicy, compress
from lepton_codesign.data import load_digits
from lepton_codesign.models import MLP
from lepton_codesign.optim import MASK_OPTIMIZERS, mask_optimizer, normalized_sgd
from lepton_codesign.train import TrainConfig, _optimizer, train

# exact zeros, or magnitudes the normalisation is exact for (see the module docstring)
floats = st.one_of(st.just(0.0), st.floats(2.0 ** -20, 1e3, width=32),
                   st.floats(-1e3, -(2.0 ** -20), width=32))


@settings(max_examples=40, deadline=None)
@given(a=st.lists(floats, min_size=1, max_size=7), b=st.lists(floats, min_size=1, max_size=5),
       lr=st.floats(1e-3, 1.0))
def test_step_has_rms_lr_and_descends(a, b, lr):
    g = {"a": jnp.asarray(a, jnp.float32), "b": jnp.asarray(b, jnp.float32)}
    tx = normalized_sgd(lr)
    u, state = tx.update(g, tx.init(g))
    flat_g = np.concatenate([a, b]).astype(np.float64)
    flat_u = np.concatenate([np.asarray(u["a"]), np.asarray(u["b"])]).astype(np.float64)
    assert np.all(np.isfinite(flat_u))
    if np.sqrt(np.mean(flat_g ** 2)) < 1e-12:
        assert np.all(flat_u == 0.0)  # a zero gradient does not move (no NaN)
        return
    # one scale for all leaves: u = -lr g / rms(g)
    np.testing.assert_allclose(flat_u, -lr * flat_g / np.sqrt(np.mean(flat_g ** 2)),
                               rtol=1e-4, atol=1e-6 * lr)
    assert np.sqrt(np.mean(flat_u ** 2)) == pytest.approx(lr, rel=1e-4)
    assert float(np.dot(flat_u, flat_g)) < 0.0


@pytest.mark.parametrize("tiny", [1e-13, 1e-20, 1e-30, 1e-38])
def test_tiny_gradients_finite_and_never_above_lr(tiny):
    g = [jnp.array([tiny, -tiny, 0.0], jnp.float32)]
    tx = normalized_sgd(0.1)
    u, _ = tx.update(g, tx.init(g))
    u = np.asarray(u[0], np.float64)
    assert np.all(np.isfinite(u)) and u[2] == 0.0
    assert np.sqrt(np.mean(u ** 2)) <= 0.1 * (1 + 1e-5)
    assert u[0] <= 0 <= u[1]  # never an ascent step (CPU flushes denormals to 0)


def test_scale_invariant_stateless_and_jit():
    g = {"w": jnp.arange(-3.0, 3.0).reshape(2, 3)}
    tx = normalized_sgd(0.05)
    state = tx.init(g)
    assert jax.tree.leaves(state) == []  # no per-logit state
    u1, _ = tx.update(g, state)
    u2, _ = jax.jit(tx.update)(jax.tree.map(lambda x: 1e-4 * x, g), state)
    np.testing.assert_allclose(u1["w"], u2["w"], rtol=1e-5)


def test_partition_masked_leaves():
    """Under ``optax.partition`` the other group's leaves are MaskedNodes: they do not
    enter the root mean square."""
    params = {"m": jnp.ones(4), "w": jnp.ones(3)}
    tx = optax.partition({"masks": normalized_sgd(1.0), "rest": optax.set_to_zero()},
                         {"m": "masks", "w": "rest"})
    g = {"m": jnp.array([1.0, -1.0, 1.0, -1.0]), "w": jnp.array([100.0, 0.0, 0.0])}
    u, _ = tx.update(g, tx.init(params), params)
    np.testing.assert_allclose(u["m"], [-1.0, 1.0, -1.0, 1.0])


def test_mask_optimizer_names():
    for name in MASK_OPTIMIZERS:
        assert isinstance(mask_optimizer(name, 0.1), optax.GradientTransformation)
    with pytest.raises(ValueError, match="mask_optimizer must be one of"):
        mask_optimizer("lion", 0.1)
    with pytest.raises(ValueError, match="mask_optimizer must be one of"):
        TrainConfig(mask_optimizer="lion")


def test_trainer_groups_all_mask_logits_together():
    """With normalized_sgd all mask logits, small or large, share one normalisation
    (the trainer otherwise ravels small leaves into a group of their own), and no
    optimiser state is kept for them."""
    model = compress(MLP((64, 300, 40, 10), rngs=nnx.Rngs(0)), CompressionPolicy(sparsity=0.5))
    _, params, _ = nnx.split(model, nnx.Param, ...)
    logits = [k for k, _ in nnx.to_flat_state(params) if k[-1] == "gate_logits"]
    assert len(logits) == 3  # 19200 (large), 12000 and 400 (small) elements

    def grad(path, v):
        scale = 100.0 if path[1] == 2 else 1.0  # layers/2: the 400-element logits
        return jnp.full_like(v, scale) if path[-1] == "gate_logits" else jnp.zeros_like(v)

    g = nnx.map_state(grad, params)
    tx = _optimizer(params, TrainConfig(mask_optimizer="normalized_sgd", progress=False), 10)
    state = tx.init(params)
    u, _ = tx.update(g, state, params)
    flat = dict(nnx.to_flat_state(u))
    big = float(jnp.abs(flat[logits[0]][...]).max())
    small = float(jnp.abs(flat[logits[2]][...]).max())
    assert small / big == pytest.approx(100.0, rel=1e-4)
    n_logits = sum(int(np.prod(flat[k][...].shape)) for k in logits)
    stored = sum(leaf.size for leaf in jax.tree.leaves(state) if leaf.size > 1)
    adam = _optimizer(params, TrainConfig(mask_optimizer="adam", progress=False), 10)
    stored_adam = sum(leaf.size for leaf in jax.tree.leaves(adam.init(params)) if leaf.size > 1)
    assert stored_adam - stored == 2 * n_logits


@pytest.mark.parametrize("name", MASK_OPTIMIZERS)
def test_train_with_each_mask_optimizer(name):
    ds = load_digits()
    model = compress(MLP((64, 32, 10), rngs=nnx.Rngs(0)), CompressionPolicy(sparsity=0.8))
    cfg = TrainConfig(epochs=4, learning_rate=1e-2, progress=False, mask_optimizer=name,
                      mask_learning_rate=30.0 if name == "sgd" else 3e-2)
    res = train(model, ds.train, ds.test, cfg, key=jax.random.key(0))
    assert res.metrics["test_accuracy"] > 0.5
    assert float(np.mean(res.compression.weight_density)) < 0.5
    res = train(model, ds.train, ds.test, dataclasses.replace(cfg, harden=False),
                key=jax.random.key(0))  # soft model: the logits are still there
    before = np.asarray(model.layers[0].gate_logits[...])
    after = np.asarray(res.model.layers[0].gate_logits[...])
    assert np.max(np.abs(after - before)) > 1e-3  # the optimiser moved the logits
