"""train(): end-to-end on digits (tiny), hardware-cost term, KD, multi-task, data."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lepton_codesign import hw_models as hw
from lepton_codesign.compress import (
    CompressionPolicy,
    HardwareCost,
    MultiTaskModel,
    Task,
    compress,
    compressed_layers,
    compression_state,
    harden,
)
from lepton_codesign.compress.losses import hardware_cost, kd_loss
from lepton_codesign.compress.phase import Phase, current_phase
from lepton_codesign.data import from_arrays, load_digits, load_mnist1d
from lepton_codesign.extract import extract_workload
from lepton_codesign.models import MLP
from lepton_codesign.train import TrainConfig, TrainResult, train

FAST = dict(epochs=6, batch_size=128, learning_rate=1e-2, progress=False)


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def test_train_learned_masks_hit_target_and_report(digits):
    model = compress(MLP((64, 32, 10), rngs=nnx.Rngs(0)),
                     CompressionPolicy(sparsity=0.8, weight_bits=4, act_bits=8))
    res = train(model, digits.train, digits.test, TrainConfig(**FAST, prune_end=0.5),
                key=jax.random.key(0))
    assert isinstance(res, TrainResult)
    assert res.metrics["test_accuracy"] > 0.5  # 10 classes: chance is 0.1
    assert res.workload.names == ("layers/0", "layers/1")
    sizes = np.array([64 * 32, 32 * 10])
    kept = float(np.sum(np.asarray(res.compression.weight_density) * sizes))
    assert kept == pytest.approx(0.2 * sizes.sum(), abs=1.0)  # global allocation, exact
    assert res.compression.weight_bits.tolist() == [4.0, 4.0]
    # reported accuracy is that of the returned (hard) model
    acc = float(jnp.mean(jnp.argmax(res.model(jnp.asarray(digits.test[0])), -1)
                         == digits.test[1]))
    assert acc == pytest.approx(res.metrics["test_accuracy"], abs=1e-6)


def test_act_density_measured_on_the_final_model(digits):
    """After training, each layer's input density is that of the trained model's
    inputs (post-ReLU inputs are sparse), not a per-step EMA."""
    model = compress(MLP((64, 32, 10), rngs=nnx.Rngs(0)), CompressionPolicy(sparsity=0.5))
    res = train(model, digits.train, digits.test, TrainConfig(**FAST), key=jax.random.key(0))
    x = jnp.asarray(digits.train[0][:1000], jnp.float32)
    hidden = jax.nn.relu(res.model.layers[0](x))  # the input of layers/1
    got = np.asarray(res.compression.act_density)
    assert got[0] == pytest.approx(float(jnp.mean(x != 0)), abs=1e-6)
    assert got[1] == pytest.approx(float(jnp.mean(hidden != 0)), abs=1e-6)
    assert got[1] < 1.0
    # no mode flag is left on the layers: the phase is scoped to the trainer's calls
    assert current_phase() == Phase()
    assert not any(hasattr(layer, name) for _, layer in compressed_layers(res.model)
                   for name in ("track_act_density", "observing", "measuring"))


def test_saliency_per_layer_and_finetune(digits):
    model = compress(MLP((64, 32, 10), rngs=nnx.Rngs(1)),
                     CompressionPolicy(sparsity=0.5, method="saliency", allocation="per_layer"))
    res = train(model, digits.train, digits.test,
                TrainConfig(**{**FAST, "epochs": 3}, finetune_epochs=1), key=jax.random.key(1))
    np.testing.assert_allclose(res.compression.weight_density, [0.5, 0.5], atol=1e-3)
    assert len(res.history["loss"]) == 3


def test_hardware_cost_gradients_and_exact_rescore():
    spec = hw.preset("gemmini-like").replace(sparsity_support="skipping",
                                             precision_scalable=1.0)
    x = jnp.ones((1, 16))
    model = compress(MLP((16, 32, 4), rngs=nnx.Rngs(0)),
                     CompressionPolicy(weight_bits=8, act_bits=8, learn_bits=True,
                                       learn_act_bits=True), example_input=x)
    wl = extract_workload(model, x)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    grads = jax.grad(lambda p: hardware_cost(nnx.merge(graphdef, p, rest), wl, spec,
                                             "latency"))(params)
    layer = nnx.merge(graphdef, grads, rest).layers[0]
    assert float(layer.w_bits[...]) > 0  # fewer bits -> lower latency
    assert float(jnp.abs(layer.gate_logits[...]).sum()) > 0
    hard = harden(model)
    exact = hardware_cost(hard, wl, spec, "energy", smooth=False)
    direct = hw.evaluate(wl, spec, compression_state(hard, workload=wl)).total_energy_j
    assert float(exact) == float(direct)


def test_hardware_term_lowers_bits(digits):
    spec = hw.preset("gemmini-like").replace(precision_scalable=1.0)
    policy = CompressionPolicy(weight_bits=8, act_bits=8, learn_bits=True, bit_range=(2, 8))
    dense = MLP((64, 32, 10), rngs=nnx.Rngs(0))
    bits = []
    for lam in (0.0, 5.0):
        cfg = TrainConfig(**FAST, bit_learning_rate=0.2,
                          hardware=HardwareCost(spec, weight=lam, metric="latency"))
        res = train(compress(dense, policy), digits.train, digits.test, cfg,
                    key=jax.random.key(0))
        bits.append(float(np.mean(res.compression.weight_bits)))
    assert bits[1] < bits[0]


def test_kd_and_multitask(digits):
    (x, y), (xt, yt) = digits.train, digits.test
    rngs = nnx.Rngs(0)
    model = MultiTaskModel(nnx.Linear(64, 32, rngs=rngs),
                           {"digit": nnx.Linear(32, 10, rngs=rngs),
                            "parity": nnx.Linear(32, 2, rngs=rngs)})
    cfg = TrainConfig(**FAST, tasks=(Task("digit"), Task("parity", weight=0.5)))
    teacher = train(model, (x, {"digit": y, "parity": y % 2}),
                    (xt, {"digit": yt, "parity": yt % 2}), cfg, key=jax.random.key(0)).model
    student = compress(model, CompressionPolicy(sparsity=0.5, include=("heads/*",)))
    res = train(student, (x, {"digit": y, "parity": y % 2}),
                (xt, {"digit": yt, "parity": yt % 2}), cfg, key=jax.random.key(1),
                teacher=teacher)
    for k in ("test_accuracy/digit", "test_accuracy/parity", "test_accuracy"):
        assert 0.0 <= res.metrics[k] <= 1.0
    assert res.metrics["test_accuracy/parity"] > 0.6
    assert set(res.workload.names) == {"trunk", "heads/digit", "heads/parity"}
    assert len(compressed_layers(res.model)) == 2
    logits = jnp.array([[3.0, 1.0, 0.0]])
    assert float(kd_loss(logits, logits)) == pytest.approx(0.0, abs=1e-7)
    assert float(kd_loss(logits, -logits)) > 0


def test_data_loaders(tmp_path, digits):
    assert digits.train[0].shape == (1438, 64) and digits.test[0].shape == (359, 64)
    assert digits.train[0].dtype == np.float32 and digits.train[0].max() <= 1.0
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        state = np.random.get_state()[1].copy()
        ds = load_mnist1d(num_samples=200)
        assert (np.random.get_state()[1] == state).all()  # global RNG restored
        assert os.listdir(tmp_path) == []  # nothing written, nothing downloaded
    finally:
        os.chdir(cwd)
    assert ds.train[0].shape == (160, 40) and ds.test[0].shape == (40, 40)
    with pytest.raises(ValueError, match="examples"):
        from_arrays(np.zeros((3, 2)), np.zeros(4, int))
    with pytest.raises(ValueError, match="integer class labels"):
        from_arrays(np.zeros((3, 2)), np.array([0.5, 1, 2]))
    with pytest.raises(ValueError, match="unknown MNIST-1D argument"):
        load_mnist1d(colour=True)
