"""Pareto utilities against brute force and against moocore / pymoo."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lepton_codesign.search import pareto

N = 48  # one set size, so that each jitted function compiles once per k


def _random_sets(k: int, seeds=range(6), n: int = N):
    for seed in seeds:
        rng = np.random.default_rng(seed)
        if seed % 2:  # coarse grid: ties and duplicates
            yield rng.integers(0, 5, size=(n, k)).astype(np.float32)
        else:  # a front-like set plus dominated points
            x = rng.random((n, k)).astype(np.float32)
            x[: n // 2] /= np.linalg.norm(x[: n // 2], axis=1, keepdims=True)
            yield x


RANKS = jax.jit(pareto.ranks)
HV = jax.jit(pareto.hypervolume)


def _brute_dominates(p):
    le = np.all(p[:, None] <= p[None], -1)
    lt = np.any(p[:, None] < p[None], -1)
    return le & lt


@pytest.mark.parametrize("k", [2, 3, 5])
def test_nondominated_and_ranks_match_brute_force(k):
    nd = jax.jit(pareto.nondominated)
    rk = RANKS
    for p in _random_sets(k):
        dom = _brute_dominates(p)
        np.testing.assert_array_equal(np.asarray(nd(p)), ~dom.any(0))
        # peel fronts
        expected, remaining, r = np.full(len(p), -1), np.ones(len(p), bool), 0
        while remaining.any():
            cur = remaining & ~(dom & remaining[:, None]).any(0)
            expected[cur], remaining, r = r, remaining & ~cur, r + 1
        np.testing.assert_array_equal(np.asarray(rk(p)), expected)


def test_ranks_match_pymoo():
    nds = pytest.importorskip("pymoo.util.nds.non_dominated_sorting").NonDominatedSorting()
    for p in _random_sets(3):
        fronts = nds.do(p.astype(np.float64))
        expected = np.empty(len(p), int)
        for r, idx in enumerate(fronts):
            expected[idx] = r
        np.testing.assert_array_equal(np.asarray(RANKS(p)), expected)


def test_constrained_domination():
    pts = jnp.array([[0.0, 0.0], [5.0, 5.0], [1.0, 1.0], [2.0, 0.5]])
    cv = jnp.array([2.0, 0.0, 1.0, 0.0])
    d = np.asarray(pareto.dominance_matrix(pts, cv))
    assert d[1, 0] and d[1, 2]  # a feasible point beats any infeasible one
    assert d[2, 0] and not d[0, 2]  # less violation wins among infeasible
    assert d[3, 1] and not d[1, 3]  # feasible pair: Pareto rule
    np.testing.assert_array_equal(np.asarray(pareto.nondominated(pts, cv)),
                                  [False, False, False, True])
    np.testing.assert_array_equal(np.asarray(pareto.ranks(pts, cv)), [3, 1, 2, 0])


def test_crowding_distance_matches_pymoo():
    metrics = pytest.importorskip("pymoo.operators.survival.rank_and_crowding.metrics")
    rng = np.random.default_rng(0)
    crowding = jax.jit(pareto.crowding_distance)
    for _ in range(3):
        f = rng.random(N)
        front = np.stack([f, 1 - np.sqrt(f), rng.random(N)], 1).astype(np.float32)
        ours = np.asarray(crowding(front))
        ref = metrics.calc_crowding_distance(front.astype(np.float64))
        # pymoo averages the normalised gaps (divides by k); we sum them (Deb 2002)
        finite = np.isfinite(ref)
        np.testing.assert_array_equal(np.isinf(ours), ~finite)
        np.testing.assert_allclose(ours[finite] / 3, ref[finite], rtol=1e-5)


def test_crowding_distance_is_per_front():
    pts = jnp.array([[0.0, 3.0], [1.0, 2.0], [3.0, 0.0], [1.0, 4.0], [2.0, 3.0], [4.0, 1.0]])
    rank = pareto.ranks(pts)
    cd = np.asarray(pareto.crowding_distance(pts, rank))
    np.testing.assert_array_equal(np.asarray(rank), [0, 0, 0, 1, 1, 1])
    assert np.isinf(cd[[0, 2, 3, 5]]).all()
    np.testing.assert_allclose(cd[1], 3 / 3 + 3 / 3)  # gaps 3/3 on both objectives
    np.testing.assert_allclose(cd[4], 3 / 3 + 3 / 3)


@pytest.mark.parametrize("k", [2, 3])
def test_hypervolume_matches_moocore(k):
    moocore = pytest.importorskip("moocore")
    ref = np.full(k, 1.1, np.float32)
    hv = HV
    for p in _random_sets(k):
        p = p / max(float(p.max()), 1.0) * 1.3  # some points beyond the reference point
        expected = moocore.hypervolume(p.astype(np.float64), ref=ref.astype(np.float64))
        np.testing.assert_allclose(float(hv(p, ref)), expected, rtol=1e-5, atol=1e-7)


def test_hypervolume_matches_pymoo_3d():
    hv_mod = pytest.importorskip("pymoo.indicators.hv")
    rng = np.random.default_rng(3)
    p = rng.random((N, 3)).astype(np.float32)
    ref = np.array([1.0, 1.2, 1.5], np.float32)
    expected = hv_mod.HV(ref_point=ref.astype(np.float64))(p.astype(np.float64))
    np.testing.assert_allclose(float(HV(p, ref)), expected, rtol=1e-5)


def test_hypervolume_monte_carlo_4d_close_to_moocore():
    moocore = pytest.importorskip("moocore")
    rng = np.random.default_rng(4)
    p = rng.random((30, 4)).astype(np.float32)
    ref = np.ones(4, np.float32)
    expected = moocore.hypervolume(p.astype(np.float64), ref=ref.astype(np.float64))
    est = float(pareto.hypervolume(p, ref, key=jax.random.key(0), num_samples=1 << 16))
    assert abs(est - expected) < 0.02 * expected + 1e-3
    with pytest.raises(ValueError, match="key"):
        pareto.hypervolume(p, ref)


def test_hypervolume_mask_and_edge_cases():
    p = jnp.array([[1.0, 1.0], [0.5, 0.5], [3.0, 0.0]])
    ref = jnp.array([2.0, 2.0])
    assert float(pareto.hypervolume(p, ref)) == pytest.approx(2.25)
    assert float(pareto.hypervolume(p, ref, mask=jnp.array([True, False, True]))) == 1.0
    assert float(pareto.hypervolume(jnp.zeros((0, 2)), ref)) == 0.0
    assert float(pareto.hypervolume(jnp.array([[jnp.nan, 0.0]]), ref)) == 0.0
    with pytest.raises(ValueError, match="shape|ref"):
        pareto.hypervolume(p, jnp.ones(3))
