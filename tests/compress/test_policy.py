"""compress(): path filters, untouched layers, same call signature, clear errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lepton_codesign.compress import (
    BitParam,
    CompressedConv,
    CompressedLinear,
    CompressionPolicy,
    MaskLogit,
    compress,
)
from lepton_codesign.models import CNN1D, MLP


def _mlp():
    return MLP((12, 16, 16, 4), rngs=nnx.Rngs(0))


def test_unselected_layers_are_bit_identical_and_input_untouched():
    model = _mlp()
    before = jax.tree.map(np.asarray, nnx.state(model))
    out = compress(model, CompressionPolicy(sparsity=0.5, include=("layers/1",)))
    assert isinstance(out.layers[1], CompressedLinear)
    for i in (0, 2):
        assert type(out.layers[i]) is nnx.Linear
        for name in ("kernel", "bias"):
            a = np.asarray(getattr(out.layers[i], name)[...])
            assert np.array_equal(a, np.asarray(getattr(model.layers[i], name)[...]))
            assert a.tobytes() == np.asarray(getattr(model.layers[i], name)[...]).tobytes()
    after = jax.tree.map(np.asarray, nnx.state(model))
    assert jax.tree.all(jax.tree.map(np.array_equal, before, after))  # original unchanged


def test_wrapper_without_compression_is_exact_and_same_signature():
    model = CNN1D(rngs=nnx.Rngs(1))
    x = jax.random.normal(jax.random.key(0), (3, 40))
    out = compress(model, CompressionPolicy(method=None))
    assert isinstance(out.conv1, CompressedConv) and isinstance(out.fc, CompressedLinear)
    np.testing.assert_array_equal(np.asarray(out(x)), np.asarray(model(x)))
    # same call signature as nnx.Linear: positional input, optional out_sharding
    y = out.fc(jnp.ones((2, out.fc.in_features)), out_sharding=None)
    assert y.shape == (2, 10)


def test_variable_types_split_and_exclude_patterns():
    pol = CompressionPolicy(sparsity=0.8, weight_bits=4, learn_bits=True, exclude=("layers/2",))
    out = compress(_mlp(), pol)
    _, logits, bits, rest = nnx.split(out, MaskLogit, BitParam, ...)
    assert len(jax.tree.leaves(logits)) == 2 and len(jax.tree.leaves(bits)) == 2
    assert type(out.layers[2]) is nnx.Linear


@pytest.mark.parametrize("kwargs, match", [
    ({"sparsity": 1.0}, r"sparsity must be in \[0, 1\)"),
    ({"sparsity": -0.1}, r"sparsity must be in \[0, 1\)"),
    ({"structure": "nm", "n": 5, "m": 4}, "N <= M"),
    ({"weight_bits": 9}, "outside bit_range"),
    ({"act_bits": 1, "bit_range": (1, 8)}, "bit_range"),
    ({"weight_bits": 4, "bit_range": (2, 32)}, "bit_range"),
    ({"structure": "blocks"}, "structure"),
    ({"method": "random"}, "method"),
    ({"method": "magnitude"}, "needs a target sparsity"),
    ({"allocation": "erk"}, "allocation"),
    ({"learn_bits": True}, "learn_bits needs weight_bits"),
    ({"weight_bits": 4, "layer_weight_bits": (("layers/0", 9),)}, "'layers/0': 9 outside"),
    ({"layer_weight_bits": (("layers/0", 8),)}, "layer_weight_bits needs weight_bits"),
])
def test_bad_policy_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CompressionPolicy(**kwargs)


def test_path_filter_matching_nothing_lists_layers():
    with pytest.raises(ValueError, match=r"matches no Linear/Conv.*layers/0"):
        compress(_mlp(), CompressionPolicy(sparsity=0.5, include=("encoder/*",)))


def test_wrong_layer_type():
    with pytest.raises(TypeError, match="wraps Linear"):
        CompressedLinear(nnx.Conv(1, 2, (3,), rngs=nnx.Rngs(0)))


def test_layer_weight_bits_override_first_match():
    policy = CompressionPolicy(method=None, weight_bits=4,
                               layer_weight_bits=(("layers/0", 8), ("layers/*", 3)))
    out = compress(_mlp(), policy)
    assert [float(out.layers[i].bits("w")) for i in range(3)] == [8.0, 3.0, 3.0]
    # ranges start from the layer's own bits (LSQ init differs between 8 and 3 bits)
    ref = compress(_mlp(), CompressionPolicy(method=None, weight_bits=8))
    np.testing.assert_allclose(out.layers[0].w_range[...], ref.layers[0].w_range[...])
    with pytest.raises(TypeError, match=r"\(pattern, bits\) pairs"):
        CompressionPolicy(weight_bits=4, layer_weight_bits=("layers/0",))
    with pytest.raises(ValueError, match=r"'encoder/\*' sets no compressed layer"):
        compress(_mlp(), CompressionPolicy(weight_bits=4,
                                           layer_weight_bits=(("encoder/*", 8),)))
    with pytest.raises(ValueError, match=r"'layers/0' sets no compressed layer"):  # shadowed
        compress(_mlp(), CompressionPolicy(weight_bits=4, layer_weight_bits=(
            ("layers/*", 3), ("layers/0", 8))))
    with pytest.raises(ValueError, match="an integer is needed"):
        CompressionPolicy(weight_bits=4, layer_weight_bits=(("layers/0", 4.5),))
    # config-file forms: lists and a dict, normalised to hashable pairs; numpy integers
    for form in ([["layers/0", 8], ["layers/*", 3]], {"layers/0": 8, "layers/*": 3},
                 (("layers/0", np.int64(8)), ("layers/*", 3))):
        p = CompressionPolicy(method=None, weight_bits=4, layer_weight_bits=form)
        assert p.layer_weight_bits == (("layers/0", 8), ("layers/*", 3))
        hash(p)
