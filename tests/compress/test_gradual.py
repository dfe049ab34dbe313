"""Gradual magnitude pruning in fixed form (``compress.gradual``): one compiled step for
every structure, allocation and target; masks that reach the target, grow monotonically
sparser and follow the structure; the policy's structure restored for reporting."""

import dataclasses

import jax
import numpy as np
import pytest
from flax import nnx

from lepton_codesign.compress import (
    CompressionPolicy,
    compressed_layers,
    compression_state,
    epoch,
    gradual,
    resume,
)
from lepton_codesign.hw_models.compression import STRUCTURES as HW_CODES
from lepton_codesign.models import MLP
from lepton_codesign.train import _FORWARDS, TrainConfig, train

POLICIES = {
    "unstructured-global": CompressionPolicy(sparsity=0.7, weight_bits=4, act_bits=8),
    "unstructured-per-layer": CompressionPolicy(sparsity=0.5, allocation="per_layer",
                                                weight_bits=6, act_bits=8),
    "nm": CompressionPolicy(structure="nm", n=1, m=4, weight_bits=8, act_bits=6),
    "channel": CompressionPolicy(sparsity=0.5, structure="channel", weight_bits=4,
                                 act_bits=8),
    "quantised": CompressionPolicy(method=None, weight_bits=3, act_bits=6),
}


def _dense():
    return MLP((12, 32, 16, 4), rngs=nnx.Rngs(0))


def _masks(model):
    return [np.asarray(layer.prune_mask[...]) for _, layer in compressed_layers(model)]


def test_fixed_form_has_one_graph_for_every_structure_allocation_and_target():
    graphs = {name: nnx.split(gradual.fixed_form(_dense(), p))[0]
              for name, p in POLICIES.items()}
    first = next(iter(graphs.values()))
    assert all(g == first for g in graphs.values())


def test_supports_only_fixed_bits_with_a_target_or_pattern():
    assert all(gradual.supports(p) for p in POLICIES.values())
    assert not gradual.supports(CompressionPolicy(sparsity=None, weight_bits=4))
    assert not gradual.supports(CompressionPolicy(sparsity=0.5, weight_bits=4,
                                                  learn_bits=True))
    with pytest.raises(ValueError, match="fixed bits"):
        gradual.fixed_form(_dense(), CompressionPolicy(sparsity=None, weight_bits=4))


def test_ramp_rises_to_the_target_by_ramp_end():
    s = gradual.GradualMagnitude.of(POLICIES["unstructured-global"], epochs=8)
    values = [s.sparsity_at(e) for e in range(8)]
    assert all(a <= b for a, b in zip(values, values[1:], strict=False))
    assert 0 < values[0] < 0.7
    assert values[3:] == [pytest.approx(0.7)] * 5  # ramp_end 0.5: at the target from epoch 3


@pytest.mark.parametrize("name", ["unstructured-global", "unstructured-per-layer",
                                  "channel"])
def test_masks_shrink_monotonically_to_the_target(name):
    policy = POLICIES[name]
    model = gradual.fixed_form(_dense(), policy)
    schedule = gradual.GradualMagnitude.of(policy, epochs=6)
    before = _masks(model)
    for e in range(6):
        schedule(e, model)
        now = _masks(model)
        assert all(np.all(n <= b) for n, b in zip(now, before, strict=True))  # monotone
        before = now
    sizes = np.asarray([m.size for m in now], float)
    dens = np.asarray([m.mean() for m in now])
    if name == "unstructured-per-layer":
        np.testing.assert_allclose(dens, 0.5, atol=0.02)
    elif name == "unstructured-global":
        assert float((dens * sizes).sum() / sizes.sum()) == pytest.approx(0.3, abs=0.01)
    else:  # whole output channels: every column all kept or all removed
        for m in now:
            assert set(np.unique(m.mean(axis=0)).tolist()) <= {0.0, 1.0}


def test_nm_pattern_set_once_and_exact():
    policy = POLICIES["nm"]
    model = gradual.fixed_form(_dense(), policy)
    schedule = gradual.GradualMagnitude.of(policy, epochs=3)
    schedule(0, model)
    first = _masks(model)
    for m in first:  # exactly 1 of every 4 along the reduction dim
        k = m.shape[0] - m.shape[0] % 4
        np.testing.assert_array_equal(m[:k].reshape(-1, 4, m.shape[1]).sum(1), 1.0)
    schedule(1, model)
    assert all(np.array_equal(a, b) for a, b in zip(first, _masks(model), strict=True))


def test_restore_reports_the_policys_structure():
    for name in ("nm", "channel"):
        policy = POLICIES[name]
        model = gradual.fixed_form(_dense(), policy)
        schedule = gradual.GradualMagnitude.of(policy, epochs=1)
        schedule(0, model)
        assert set(np.asarray(compression_state(model).structure).tolist()) == {
            HW_CODES["unstructured"]}
        comp = compression_state(schedule.restore(model))
        assert set(np.asarray(comp.structure).tolist()) == {HW_CODES[name]}


def _fit(data, policy, epochs, calls=None):
    schedule = gradual.GradualMagnitude.of(policy, epochs)

    def hook(e, model):
        if calls is not None:
            calls.append(e)
        schedule(e, model)

    cfg = TrainConfig(epochs=epochs, batch_size=32, learning_rate=3e-3, progress=False)
    res = train(gradual.fixed_form(_dense(), policy), *data, cfg, key=jax.random.key(1),
                between_epochs=hook)
    return res, compression_state(schedule.restore(res.model), workload=res.workload)


def test_training_runs_the_hook_before_each_epoch_and_meets_the_target(data):
    calls = []
    res, comp = _fit(data, POLICIES["unstructured-per-layer"], 4, calls)
    assert calls == [0, 1, 2, 3]
    np.testing.assert_allclose(np.asarray(comp.weight_density), 0.5, atol=0.02)
    assert set(np.asarray(comp.weight_bits).tolist()) == {6}
    assert np.isfinite(res.metrics["test_accuracy"])


def test_other_structures_reuse_the_compiled_step(data):
    epoch._EPOCHS.clear()
    resume._OPTIMIZERS.clear()
    _FORWARDS.clear()
    _fit(data, POLICIES["unstructured-global"], 2)  # compiles the step once
    n_epochs = len(epoch._EPOCHS)
    for name in ("nm", "channel", "quantised"):
        _, comp = _fit(data, dataclasses.replace(POLICIES[name]), 3)
        assert set(np.asarray(comp.structure).tolist()) == {
            HW_CODES["unstructured" if name == "quantised" else name]}
    assert len(epoch._EPOCHS) == n_epochs  # no new training step was built
