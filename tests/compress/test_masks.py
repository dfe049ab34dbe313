"""Masks and gates: N:M pattern, hard-concrete, straight-through, thresholds, schedule."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lepton_codesign.compress import masks as M
from lepton_codesign.compress.scores import cubic_schedule
from lepton_codesign.compress.structures import NM


@settings(max_examples=8, deadline=None)
@given(n=st.integers(1, 8), extra=st.integers(0, 8), groups=st.integers(1, 6),
       cols=st.integers(1, 5), seed=st.integers(0, 1000))
def test_nm_keeps_exactly_n_of_every_m(n, extra, groups, cols, seed):
    m = n + extra
    scores = jax.random.normal(jax.random.key(seed), (groups * m, cols))
    mask = np.asarray(M.nm_mask(scores, n, m))
    assert set(np.unique(mask)) <= {0.0, 1.0}
    per_group = mask.reshape(groups, m, cols).sum(axis=1)
    assert (per_group == n).all()
    # the kept ones are the largest of their group
    s = np.asarray(scores).reshape(groups, m, cols)
    kept_min = np.where(mask.reshape(groups, m, cols) > 0, s, np.inf).min(axis=1)
    dropped_max = np.where(mask.reshape(groups, m, cols) > 0, -np.inf, s).max(axis=1)
    assert (kept_min >= dropped_max).all()


def test_nm_partial_last_group_and_ties():
    mask = np.asarray(M.nm_mask(jnp.ones((6, 2)), 2, 4))  # groups of 4 and a partial 2
    assert mask[:4].sum(axis=0).tolist() == [2, 2]
    assert mask[4:].sum(axis=0).tolist() == [2, 2]


def test_nm_rejects_n_greater_than_m():
    with pytest.raises(ValueError, match="N <= M"):
        NM(5, 4)
    with pytest.raises(ValueError, match="positive integers"):
        NM(2, True)
    with pytest.raises(ValueError, match="0 < N <= M"):
        M.nm_mask(jnp.ones((4, 1)), 5, 4)


def test_hard_concrete_constants_and_range():
    assert (M.HC_GAMMA, M.HC_ZETA, M.HC_BETA) == (-0.1, 1.1, 2.0 / 3.0)
    log_alpha = jnp.linspace(-4, 4, 9)
    z = M.hard_concrete_sample(jnp.tile(log_alpha, (4000, 1)), jax.random.key(0))
    assert float(z.min()) == 0.0 and float(z.max()) == 1.0
    # P(z != 0) matches the closed form (Monte Carlo, 4000 samples per entry)
    empirical = np.asarray((z > 0).mean(axis=0))
    closed = np.asarray(M.hard_concrete_density(log_alpha))
    np.testing.assert_allclose(empirical, closed, atol=0.03)


def test_hard_concrete_gradient_flows():
    g = jax.grad(lambda a: M.hard_concrete_sample(a, jax.random.key(1)).sum())(jnp.zeros(64))
    assert float(jnp.abs(g).sum()) > 0
    gd = jax.grad(lambda a: M.hard_concrete_density(a).sum())(jnp.zeros(3))
    assert (np.asarray(gd) > 0).all()


def test_sigmoid_ste_value_and_gradient():
    logits = jnp.array([-2.0, -0.1, 0.1, 3.0])
    assert M.sigmoid_ste(logits).tolist() == [0.0, 0.0, 1.0, 1.0]
    g = jax.grad(lambda x: M.sigmoid_ste(x, 0.0, 1.0).sum())(logits)
    np.testing.assert_allclose(g, jax.nn.sigmoid(logits) * (1 - jax.nn.sigmoid(logits)),
                               rtol=1e-6)


_topk_count = jax.jit(lambda x, d: M.topk_mask(x, d).sum())


@pytest.mark.parametrize("size", [2, 77, 5000])
def test_density_threshold_keeps_exact_count(size):
    rng = np.random.default_rng(size)
    for seed, density in enumerate(rng.uniform(0.01, 0.99, 12)):
        x = jax.random.normal(jax.random.key(seed), (size,))
        kept = int(_topk_count(x, jnp.float32(density)))
        assert kept == max(1, min(size, round(float(jnp.float32(density)) * size)))


_kth = jax.jit(M.kth_largest)


def _distributions(n: int, key):
    k1, k2 = jax.random.split(key)
    z = jax.random.normal(k1, (n,))
    return {
        "normal": z * 1.3 + 0.5,
        "abs": jnp.abs(z),
        "bimodal": jnp.where(jax.random.uniform(k2, (n,)) < 0.1, 5 + 0.1 * z, -3 + z),
        "lognormal": jnp.exp(3 * z),  # spans ~13 decades
        "ties": jnp.round(z * 20) / 20,
        "zeros": jnp.where(z > 1.0, z, 0.0),
        "constant": jnp.full((n,), 2.5),
        "ramp": jnp.arange(n, dtype=jnp.float32),
    }


@pytest.mark.parametrize("n", [1, 7, 5000, 40000])
def test_kth_largest_matches_sort(n):
    """Exact for continuous, tied, constant and wide-range inputs, every k regime."""
    for name, x in _distributions(n, jax.random.key(n)).items():
        desc = np.sort(np.asarray(x))[::-1]
        for k in sorted({1, 2, n // 20, n // 10, n // 2, (9 * n) // 10, n - 1, n}):
            if 1 <= k <= n:
                got = float(_kth(x, jnp.int32(k)))
                assert got == desc[k - 1], (name, n, k)


@pytest.mark.parametrize("values, k, want", [
    # found by a randomized review: XLA computed a probe twice with different
    # rounding, pairing one bound with the other's count (fixed: barrier + check)
    ([20, 28, -12, 32, 7, -22, -31, 21, 30], 6, 7.0),
    ([12, 6, -33, -28, 1, -2, 21, 19, 13], 6, 1.0),
    ([1.0, np.inf, 3.0, -np.inf, 2.0], 2, 3.0),
    ([1.0, np.inf, 3.0, -np.inf, 2.0], 1, np.inf),
    ([1.0, np.inf, 3.0, -np.inf, 2.0], 5, -np.inf),
])
def test_kth_largest_regressions(values, k, want):
    assert float(_kth(jnp.asarray(values, jnp.float32), jnp.int32(k))) == want


@given(st.lists(st.integers(-8, 8), min_size=1, max_size=300), st.data())
def test_kth_largest_property(values, data):
    """Heavily tied inputs (integer grid): the result equals the sorted k-th value."""
    x = jnp.asarray(values, jnp.float32) * 0.25
    k = data.draw(st.integers(1, len(values)))
    t = float(_kth(x, jnp.int32(k)))
    assert t == sorted(values, reverse=True)[k - 1] * 0.25


def test_cubic_schedule():
    assert float(cubic_schedule(0, 0.9, 10, 110)) == 0.0
    assert float(cubic_schedule(110, 0.9, 10, 110)) == pytest.approx(0.9)
    assert float(cubic_schedule(500, 0.9, 10, 110)) == pytest.approx(0.9)
    s = [float(cubic_schedule(t, 0.9, 0, 100)) for t in range(0, 101, 10)]
    assert all(b >= a for a, b in zip(s, s[1:], strict=False))
    assert s[5] == pytest.approx(0.9 * (1 - 0.5**3))
