"""Fine-tuning a compressed copy of a trained dense model, and continuing a run."""

import jax
import numpy as np
import optax
import pytest
from flax import nnx

from lepton_codesign.compress import CompressionPolicy, compress
from lepton_codesign.data import load_digits
from lepton_codesign.models import MLP
from lepton_codesign.train import TrainConfig, TrainState, train

CFG = dict(batch_size=128, learning_rate=1e-2, progress=False)
SIZES = np.array([64 * 32, 32 * 10])


@pytest.fixture(scope="module")
def runs():
    ds = load_digits()
    (x, y), test = ds.train, ds.test
    dense = train(MLP((64, 32, 10), rngs=nnx.Rngs(0)), (x, y), test,
                  TrainConfig(epochs=4, **CFG), key=jax.random.key(0))
    policy = CompressionPolicy(sparsity=0.8, weight_bits=4, act_bits=8)
    first = train(compress(dense.model, policy), (x, y), test,
                  TrainConfig(epochs=2, **CFG), key=jax.random.key(1))
    more = train(None, (x, y), test, TrainConfig(epochs=2, **CFG), key=jax.random.key(2),
                 init_state=first.state)
    return dict(ds=ds, dense=dense, policy=policy, first=first, more=more,
                steps=x.shape[0] // 128)


def _adam_count(opt_state) -> int:
    counts = [int(s.count) for s in jax.tree.leaves(
        opt_state, is_leaf=lambda s: isinstance(s, optax.ScaleByAdamState))
        if isinstance(s, optax.ScaleByAdamState)]
    assert counts
    return max(counts)


def test_fine_tuning_a_compressed_copy_of_a_trained_dense_model(runs):
    dense, first = runs["dense"], runs["first"]
    assert dense.metrics["test_accuracy"] > 0.8
    # the copy starts from the trained weights: after 2 epochs it is far above what 2
    # epochs from scratch give at 80% sparsity, and it meets the target exactly
    scratch = train(compress(MLP((64, 32, 10), rngs=nnx.Rngs(0)), runs["policy"]),
                    *runs["ds"][:2], TrainConfig(epochs=2, **CFG), key=jax.random.key(1))
    assert first.metrics["test_accuracy"] > scratch.metrics["test_accuracy"] + 0.05
    kept = float(np.sum(np.asarray(first.compression.weight_density) * SIZES))
    assert kept == pytest.approx(0.2 * SIZES.sum(), abs=1.0)
    assert type(dense.model.layers[0]) is nnx.Linear  # the dense model is not modified


def test_continuing_a_run_carries_its_state(runs):
    first, more, steps = runs["first"], runs["more"], runs["steps"]
    assert isinstance(first.state, TrainState)
    assert first.state.step == 2 * steps and more.state.step == 4 * steps
    assert _adam_count(more.state.opt_state) == 4 * steps  # the moments carried on
    # the ramp keeps the positions of the first run: the target stays met
    assert (more.state.prune_begin, more.state.prune_end) == (0, steps)
    kept = float(np.sum(np.asarray(more.compression.weight_density) * SIZES))
    assert kept == pytest.approx(0.2 * SIZES.sum(), abs=1.0)
    # the continued run starts where the first stopped, not from scratch
    assert more.history["loss"][0] < first.history["loss"][0]
    assert more.metrics["test_accuracy"] >= first.metrics["test_accuracy"] - 0.02
    # the state is the soft model: gate logits are still there, and not hardened
    assert hasattr(first.state.model.layers[0], "gate_logits")
    assert hasattr(first.model.layers[0], "prune_mask")


def test_continuing_checks_what_it_is_given(runs):
    ds, first = runs["ds"], runs["first"]
    with pytest.raises(ValueError, match="model is None"):
        train(None, ds.train, ds.test, TrainConfig(epochs=1, **CFG), key=jax.random.key(0))
    with pytest.raises(ValueError, match="differs in structure"):
        train(MLP((64, 16, 10), rngs=nnx.Rngs(0)), ds.train, ds.test,
              TrainConfig(epochs=1, **CFG), key=jax.random.key(0), init_state=first.state)
    with pytest.raises(ValueError, match="optimiser state does not fit"):
        train(None, ds.train, ds.test, TrainConfig(epochs=1, mask_optimizer="adam", **CFG),
              key=jax.random.key(0), init_state=first.state)
    with pytest.raises(TypeError, match="must be a TrainState"):
        train(None, ds.train, ds.test, TrainConfig(epochs=1, **CFG), key=jax.random.key(0),
              init_state=first)
