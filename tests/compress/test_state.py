"""compression_state alignment, soft gradients, harden, export / import round trip."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lepton_codesign.compress import (
    CompressionPolicy,
    MultiTaskModel,
    compress,
    compressed_layers,
    compression_state,
    export_compressed,
    harden,
    import_compressed,
    load_exported,
    save_exported,
    storage_report,
    update_masks,
)
from lepton_codesign.compress import masks as M
from lepton_codesign.extract import extract_workload
from lepton_codesign.models import CNN1D, MLP


class OutOfOrder(nnx.Module):
    """Attribute names sort differently from the execution order."""

    def __init__(self, rngs):
        self.z_in = nnx.Linear(6, 8, rngs=rngs)
        self.a_out = nnx.Linear(8, 3, rngs=rngs)

    def __call__(self, x):
        return self.a_out(jax.nn.relu(self.z_in(x)))


def _multitask():
    rngs = nnx.Rngs(0)
    return MultiTaskModel(MLP((10, 12, 12), rngs=rngs),
                          {"b": nnx.Linear(12, 2, rngs=rngs), "a": nnx.Linear(12, 5, rngs=rngs)})


@pytest.mark.parametrize("build, x", [
    (lambda: MLP((10, 12, 12, 4), rngs=nnx.Rngs(0)), jnp.ones((2, 10))),
    (lambda: CNN1D(rngs=nnx.Rngs(0)), jnp.ones((2, 40))),
    (lambda: OutOfOrder(nnx.Rngs(0)), jnp.ones((2, 6))),
    (_multitask, jnp.ones((2, 10))),
])
def test_state_aligned_with_extracted_workload(build, x):
    dense = build()
    policy = CompressionPolicy(sparsity=0.5, method="magnitude", allocation="per_layer",
                               weight_bits=4, exclude=("*a_out",))
    model = compress(dense, policy)
    update_masks(model, 1.0)
    wl = extract_workload(model, x)
    assert wl.names == extract_workload(dense, x).names  # compression keeps the names
    comp = compression_state(model, soft=False, workload=wl)
    assert comp.num_layers == wl.num_layers
    layers = dict(compressed_layers(model))
    for i, name in enumerate(wl.names):
        if name in layers:
            assert float(comp.weight_density[i]) == pytest.approx(0.5, abs=0.02)
            assert float(comp.weight_bits[i]) == 4.0
        else:  # plain layer: dense float32
            assert float(comp.weight_density[i]) == 1.0 and float(comp.weight_bits[i]) == 32
    # without a workload: same layer count, graph order
    assert compression_state(model).num_layers == wl.num_layers


def test_unknown_workload_name_errors():
    model = compress(MLP((4, 4, 2), rngs=nnx.Rngs(0)), CompressionPolicy(method=None))
    with pytest.raises(ValueError, match="not a Linear/Conv"):
        compression_state(model, names=("layers/0", "decoder"))


def test_soft_state_is_differentiable():
    model = compress(MLP((10, 16, 4), rngs=nnx.Rngs(0)),
                     CompressionPolicy(sparsity=None, weight_bits=6, act_bits=8,
                                       learn_bits=True, learn_act_bits=True))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)

    def f(p):
        c = compression_state(nnx.merge(graphdef, p, rest), soft=True)
        return jnp.sum(c.weight_density) + jnp.sum(c.weight_bits) + jnp.sum(c.act_bits)

    g = f_grads = jax.grad(f)(params)
    layer = nnx.merge(graphdef, f_grads, rest).layers[0]
    assert float(jnp.abs(layer.gate_logits[...]).sum()) > 0
    assert float(layer.w_bits[...]) != 0 and float(layer.a_bits[...]) != 0
    assert g is f_grads


@pytest.mark.parametrize("allocation", ["global", "per_layer"])
def test_harden_hits_target_exactly(allocation):
    model = compress(MLP((20, 30, 30, 5), rngs=nnx.Rngs(2)),
                     CompressionPolicy(sparsity=0.9, gate="hard_concrete",
                                       allocation=allocation))
    hard = harden(model)
    masks = [np.asarray(layer.prune_mask[...]) for _, layer in compressed_layers(hard)]
    sizes = [m.size for m in masks]
    if allocation == "global":
        assert sum(int(m.sum()) for m in masks) == round(0.1 * sum(sizes))
    else:
        assert [int(m.sum()) for m in masks] == [round(0.1 * s) for s in sizes]
    for _, layer in compressed_layers(hard):  # pruned weights are zero
        k = np.asarray(M.to_gemm(layer.kernel[...]))
        assert (k[np.asarray(layer.prune_mask[...]) == 0] == 0).all()
    comp = compression_state(hard)
    assert float(jnp.sum(comp.weight_density * jnp.array(sizes))) == pytest.approx(
        sum(int(m.sum()) for m in masks))


def test_learned_nm_layer_mask_pattern():
    model = compress(MLP((16, 8, 4), rngs=nnx.Rngs(0)),
                     CompressionPolicy(structure="nm", n=2, m=4, include=("layers/0",)))
    mask = np.asarray(model.layers[0].hard_mask_gemm())
    assert (mask.reshape(4, 4, 8).sum(axis=1) == 2).all()
    assert float(compression_state(model).weight_density[0]) == 0.5


@pytest.mark.parametrize("policy", [
    CompressionPolicy(sparsity=0.7, weight_bits=4, act_bits=8),
    CompressionPolicy(structure="nm", n=2, m=4, method="magnitude", weight_bits=3),
    CompressionPolicy(sparsity=0.5, structure="channel", method="magnitude"),
])
def test_export_import_round_trip(tmp_path, policy):
    dense = CNN1D(rngs=nnx.Rngs(3))
    x = jax.random.normal(jax.random.key(0), (5, 40))
    model = compress(dense, policy, example_input=x)
    update_masks(model, 1.0)
    hard = harden(model)
    hard.eval()
    exported = export_compressed(model)
    save_exported(tmp_path / "m.npz", exported)
    loaded = load_exported(tmp_path / "m.npz")
    for fresh in (dense, compress(dense, policy)):  # dense or compressed architecture
        restored = import_compressed(fresh, loaded)
        restored.eval()
        np.testing.assert_allclose(np.asarray(restored(x)), np.asarray(hard(x)),
                                   rtol=1e-5, atol=1e-5)
        c1, c2 = compression_state(restored), compression_state(hard)
        np.testing.assert_allclose(c1.weight_density, c2.weight_density)
        np.testing.assert_allclose(c1.weight_bits, c2.weight_bits)


def test_storage_report_counts_bits():
    model = compress(MLP((8, 4), rngs=nnx.Rngs(0)),
                     CompressionPolicy(structure="nm", n=2, m=4, method="magnitude",
                                       weight_bits=4))
    rep = storage_report(export_compressed(model))
    # 32 weights + 4 biases dense at 32 bits; 16 non-zeros x (4 bits + 2 index bits)
    # + 4 per-channel steps + 4 biases at 32 bits
    assert rep["dense_bits"] == 36 * 32
    assert rep["compressed_bits"] == 16 * 4 + 16 * 2 + 4 * 32 + 4 * 32
    assert rep["nonzeros"] == 16 and rep["params"] == 32


def test_harden_meets_a_bit_budget_exactly():
    """Rounding 2.6 / 3.4 / 3.6 gives an average above 3; the budget lowers the layer
    closest to rounding down until the average is <= 3."""
    model = compress(MLP((64, 64, 64, 10), rngs=nnx.Rngs(0)),
                     CompressionPolicy(method=None, weight_bits=8, learn_bits=True))
    layers = [lay for _, lay in compressed_layers(model)]
    for lay, b in zip(layers, (2.6, 3.4, 3.6), strict=True):
        lay.w_bits[...] = jnp.float32(b)
    sizes = np.array([64 * 64, 64 * 64, 64 * 10])
    plain = np.asarray(compression_state(harden(model)).weight_bits)
    assert plain.tolist() == [3, 3, 4] and (plain * sizes).sum() / sizes.sum() > 3
    hard = harden(model, bit_budget=3.0)
    bits = np.asarray(compression_state(hard).weight_bits)
    assert (bits * sizes).sum() / sizes.sum() <= 3.0
    # layer 0 (2.6) was closest to rounding down; the budget left then lifts the small
    # last layer (640 weights) to the top of its range
    assert bits.tolist() == [2, 3, 8]
    # below budget: the layer closest to rounding up is raised while the budget allows
    for lay, b in zip(layers, (2.2, 2.6, 2.4), strict=True):
        lay.w_bits[...] = jnp.float32(b)
    bits = np.asarray(compression_state(harden(model, bit_budget=3.0)).weight_bits)
    assert bits.tolist() == [3, 3, 3]  # 2.4 -> 3 (closest to rounding up), 2.2 -> 3
    assert (bits * sizes).sum() / sizes.sum() == pytest.approx(3.0)
    with pytest.raises(ValueError, match="cannot be met"):
        harden(model, bit_budget=1.5)


def test_train_rejects_an_unreachable_bit_budget_before_training():
    from lepton_codesign.data import load_digits
    from lepton_codesign.train import TrainConfig, train

    ds = load_digits()
    model = compress(MLP((64, 16, 10), rngs=nnx.Rngs(0)),
                     CompressionPolicy(method=None, weight_bits=8, learn_bits=True,
                                       bit_range=(3, 8)))
    cfg = TrainConfig(epochs=1, progress=False, bit_weight=1.0, bit_budget=2.5)
    with pytest.raises(ValueError, match="bit_budget=2.5 cannot be met"):
        train(model, ds.train, ds.test, cfg, key=jax.random.key(0))
