"""One compiled training epoch serves models that differ only in bit-widths, target
sparsity or phase length (the joint search's candidates), with unchanged results."""

import jax
import jax.monitoring
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from lepton_codesign.compress import CompressionPolicy, compress, epoch, resume
from lepton_codesign.models import MLP
from lepton_codesign.train import _FORWARDS, TrainConfig, train

_COMPILES = []


def _listener(name, duration, **kwargs):
    if name == "/jax/core/compile/backend_compile_duration":
        _COMPILES.append(duration)


jax.monitoring.register_event_duration_secs_listener(_listener)


def _fit(data, sparsity, bits, epochs):
    dense = MLP((12, 32, 16, 4), rngs=nnx.Rngs(0))
    model = compress(dense, CompressionPolicy(sparsity=sparsity, weight_bits=bits,
                                              act_bits=8))
    cfg = TrainConfig(epochs=epochs, batch_size=32, learning_rate=3e-3, progress=False)
    return train(model, *data, cfg, key=jax.random.key(1))


def _clear():
    epoch._EPOCHS.clear()
    resume._OPTIMIZERS.clear()
    _FORWARDS.clear()


def test_bits_sparsity_and_length_do_not_recompile(data):
    _clear()
    first = _fit(data, 0.5, 4, 3)  # compiles the epoch of this structure
    _COMPILES.clear()
    res = _fit(data, 0.8, 6, 5)  # other bits, target and length: the same program
    assert _COMPILES == []
    assert len(epoch._EPOCHS) == 1
    # each candidate trained with its own values, not the compiled one's
    assert float(first.compression.weight_density.mean()) > 0.4
    assert float(res.compression.weight_density.mean()) < 0.3
    assert set(np.asarray(first.compression.weight_bits).tolist()) == {4}
    assert set(np.asarray(res.compression.weight_bits).tolist()) == {6}


def test_reused_compilation_gives_the_same_training(data):
    _clear()
    _fit(data, 0.5, 4, 3)
    warm = _fit(data, 0.8, 6, 5)  # through the cached compilation
    _clear()
    cold = _fit(data, 0.8, 6, 5)  # compiled for this candidate alone
    for a, b in zip(jax.tree.leaves(nnx.state(warm.model)),
                    jax.tree.leaves(nnx.state(cold.model)), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert warm.metrics["test_accuracy"] == cold.metrics["test_accuracy"]


@pytest.mark.parametrize(("total", "offset"), [(1500, 0), (96, 0), (250, 40)])
def test_traced_schedule_matches_optax(total, offset):
    """Bit-for-bit for a fresh phase; a continued run (``offset``) to float rounding
    (XLA folds the constant schedule's arithmetic differently there)."""
    lr = 3e-3
    counts = jnp.arange(offset, offset + total + 20, dtype=jnp.int32)
    base = optax.cosine_decay_schedule(lr, total)
    const = (base if not offset else (lambda c: base(c - offset)))
    ref = jax.jit(lambda c: jax.lax.scan(lambda k, x: (k, const(x)), 0, c)[1])(counts)
    sched = resume.traced_cosine(lr)

    @jax.jit
    def traced(c, values):
        with resume.schedule_values(values):
            return jax.lax.scan(lambda k, x: (k, sched(x)), 0, c)[1]

    out = traced(counts, resume.schedule_arrays(total, offset))
    if offset:
        np.testing.assert_allclose(np.asarray(out), np.asarray(ref), rtol=1e-4, atol=1e-9)
    else:
        np.testing.assert_array_equal(np.asarray(out), np.asarray(ref))
