"""Quantisers: grid values, straight-through gradients, learned bits, integer export."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lepton_codesign.compress import quant as Q


@settings(max_examples=20, deadline=None)
@given(bits=st.integers(2, 8), signed=st.booleans(), seed=st.integers(0, 99))
def test_fake_quant_grid(bits, signed, seed):
    x = jax.random.normal(jax.random.key(seed), (500,)) * 2
    r = jnp.float32(1.5)
    q = np.asarray(Q.fake_quant(x, r, bits, signed=signed))
    lv = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
    step = 1.5 / lv
    codes = q / step
    np.testing.assert_allclose(codes, np.round(codes), atol=1e-3)
    assert np.abs(codes).max() <= lv + 1e-3
    assert len(np.unique(np.round(codes))) <= (2 * lv + 1 if signed else lv + 1)
    inside = np.abs(np.asarray(x)) < 1.5 if signed else (np.asarray(x) >= 0) & (x < 1.5)
    assert np.abs(q - np.asarray(x))[inside].max() <= step / 2 + 1e-5


def test_round_ste_and_fake_quant_gradient():
    x = jnp.array([0.3, -0.7, 5.0])
    assert Q.round_ste(x).tolist() == [0.0, -1.0, 5.0]
    assert jax.grad(lambda v: Q.round_ste(v).sum())(x).tolist() == [1.0, 1.0, 1.0]
    g = jax.grad(lambda v: Q.fake_quant(v, jnp.float32(1.0), 4).sum())(x)
    assert g.tolist() == [1.0, 1.0, 0.0]  # STE inside the range, zero where clipped


def test_range_and_bits_get_gradients():
    x = jax.random.normal(jax.random.key(0), (256,))
    target = x * 0.9

    def loss(r, b):
        q = Q.fake_quant(x, r, Q.effective_bits(b, (2, 8)))
        return jnp.mean((q - target) ** 2)

    gr, gb = jax.grad(loss, argnums=(0, 1))(jnp.float32(1.0), jnp.float32(3.0))
    assert float(gr) != 0.0 and float(gb) != 0.0


def test_effective_bits_rounds_and_clips():
    b = jnp.array([1.2, 2.4, 2.6, 7.7, 11.0])
    assert Q.effective_bits(b, (2, 8)).tolist() == [2.0, 2.0, 3.0, 8.0, 8.0]
    assert jax.grad(lambda v: Q.effective_bits(v, (2, 8)).sum())(b).tolist() == [1.0] * 5
    assert Q.report_bits(b, (2, 8)).tolist() == [2, 2, 3, 8, 8]


def test_quantize_int_matches_fake_quant():
    x = jax.random.normal(jax.random.key(3), (64, 8))
    r = jnp.abs(jax.random.normal(jax.random.key(4), (8,))) + 0.5
    for bits in (2, 4, 8):
        codes, step = Q.quantize_int(x, r, bits)
        assert codes.dtype == np.int8
        assert np.abs(codes).max() <= 2 ** (bits - 1) - 1
        np.testing.assert_allclose(codes * step, Q.fake_quant(x, r, bits), atol=1e-6)


@pytest.mark.parametrize("bad", [(1, 8), (4, 2), (2, 17), (2.5, 8), "28"])
def test_bit_range_errors(bad):
    with pytest.raises(ValueError, match="bit_range"):
        Q.check_bit_range(bad)


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("shapes", [((48, 16), (16,)), ((12, 8), ()), ((5, 7), (1, 7)),
                                    ((3, 5, 8), (8,))])
def test_fused_fake_quant_matches_autodiff_reference(signed, shapes):
    """The custom VJP gives the values and gradients (x, range, bits) of autodiff."""
    xs, rs = shapes
    x = jax.random.normal(jax.random.key(1), xs) * 1.3
    x = x if signed else jnp.abs(x)
    r = jnp.linspace(0.5, 1.5, int(np.prod(rs)) if rs else 1).reshape(rs)
    weights = jnp.sin(jnp.arange(x.size, dtype=jnp.float32)).reshape(xs)

    def loss(fn):
        return lambda x, r, b: jnp.sum(
            fn(x, r, Q.effective_bits(b, (2, 8)), signed=signed) * weights)

    b = jnp.float32(3.2)
    v1, g1 = jax.value_and_grad(loss(Q.fake_quant), argnums=(0, 1, 2))(x, r, b)
    v2, g2 = jax.value_and_grad(loss(Q.fake_quant_reference), argnums=(0, 1, 2))(x, r, b)
    np.testing.assert_allclose(v1, v2, rtol=1e-5, atol=1e-5)
    for a, c in zip(g1, g2, strict=True):
        assert a.shape == c.shape
        np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-5)
    assert float(jnp.abs(g1[1]).sum()) > 0 and float(jnp.abs(g1[2])) > 0
