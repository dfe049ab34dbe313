"""``Compression``: construction, broadcasting, structure codes, validation, pytree use."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models.compression import CHANNEL, NM, UNSTRUCTURED


def test_dense_default_is_8_bit_and_dense():
    c = hw.dense_compression(3)
    assert c.num_layers == 3
    np.testing.assert_array_equal(c.weight_density, [1, 1, 1])
    np.testing.assert_array_equal(c.act_density, [1, 1, 1])
    np.testing.assert_array_equal(c.weight_bits, [8, 8, 8])
    np.testing.assert_array_equal(c.act_bits, [8, 8, 8])
    np.testing.assert_array_equal(c.structure, [UNSTRUCTURED] * 3)
    np.testing.assert_array_equal(hw.dense_compression(2, bits=4).act_bits, [4, 4])


def test_make_compression_broadcasts_scalars_and_keeps_lists():
    c = hw.make_compression(3, weight_density=[0.5, 0.25, 1.0], act_bits=4,
                            structure=["nm", "channel", "unstructured"], nm_m=8)
    np.testing.assert_allclose(c.weight_density, [0.5, 0.25, 1.0])
    np.testing.assert_array_equal(c.act_bits, [4, 4, 4])
    np.testing.assert_array_equal(c.nm_m, [8, 8, 8])
    np.testing.assert_array_equal(c.structure, [NM, CHANNEL, UNSTRUCTURED])
    assert c.structure.dtype == jnp.int32 and c.weight_density.dtype == jnp.float32


@pytest.mark.parametrize("name,code", [("unstructured", 0), ("nm", 1), ("N:M", 1),
                                       ("channel", 2), (2, 2)])
def test_structure_names_and_codes(name, code):
    assert int(hw.make_compression(1, structure=name).structure[0]) == code


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"weight_density": 0.0}, r"Compression\.weight_density: 0\.0 .*> 0 and <= 1"),
        ({"weight_density": 1.5}, r"Compression\.weight_density: 1\.5 .*> 0 and <= 1"),
        ({"act_density": -0.1}, r"Compression\.act_density: .*> 0 and <= 1"),
        ({"weight_bits": 0.5}, r"Compression\.weight_bits: 0\.5 .*>= 1 and <= 32"),
        ({"act_bits": 0}, r"Compression\.act_bits: 0\.0 .*>= 1 and <= 32"),
        ({"structure": "blocky"}, "structure"),
        ({"structure": 7}, r"Compression\.structure: 7 .*codes 0\.\.2"),
    ],
)
def test_make_compression_rejects_out_of_range(kwargs, match):
    with pytest.raises(ValueError, match=match):
        hw.make_compression(2, **kwargs)


def test_validate_is_a_no_op_under_tracing():
    # Inside jit values are unknown, so validation must not raise or force concretisation;
    # a fractional (soft) bit-width below 1 passes through untouched.
    def f(bits):
        c = hw.Compression(*(jnp.ones(2),) * 2, jnp.zeros(2, jnp.int32), jnp.full(2, 4.0),
                           bits, bits)
        return c.validate().weight_bits.sum()

    assert float(jax.jit(f)(jnp.array([0.5, 0.5]))) == 1.0


def test_compression_is_a_pytree_that_vmaps():
    c = hw.make_compression(2, weight_density=0.5)
    assert len(jax.tree.leaves(c)) == 6
    stacked = jax.tree.map(lambda x: jnp.stack([x, x * 1]), c)
    out = jax.vmap(lambda cc: cc.weight_density * cc.weight_bits)(stacked)
    assert out.shape == (2, 2)
    np.testing.assert_allclose(out, 4.0)
