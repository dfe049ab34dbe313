"""Pareto utilities against brute force and against moocore / pymoo."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _grid_hv(p: np.ndarray, ref: int) -> int:
    """Brute force for integer points: count the unit cells some point weakly dominates."""
    k = p.shape[1]
    p = p[np.all(p < ref, axis=1)]
    cells = np.stack(np.meshgrid(*[np.arange(ref)] * k, indexing="ij"), -1).reshape(-1, k)
    if not len(p):
        return 0
    return int(np.any(np.all(p[None] <= cells[:, None], -1), 1).sum())


def _inclusion_exclusion_hv(p: np.ndarray, ref: np.ndarray) -> float:
    """Brute force: sum over point subsets of (-1)^(|S|+1) * volume of their join's box."""
    p = p[np.all(p < ref, axis=1)].astype(np.float64)
    total = 0.0
    for mask in range(1, 1 << len(p)):
        idx = [i for i in range(len(p)) if mask >> i & 1]
        total += (-1) ** (len(idx) + 1) * np.prod(ref - p[idx].max(0))
    return total


@pytest.mark.parametrize("k", [2, 3, 4, 5, 6])
def test_hypervolume_exact_against_brute_force(k):
    rng = np.random.default_rng(k)
    ref_int = 5 if k <= 5 else 4  # grid of ref**k cells
    for _ in range(4):
        p = rng.integers(0, ref_int + 1, size=(12, k)).astype(np.float32)  # some on/over ref
        ref = np.full(k, ref_int, np.float32)
        assert float(HV(p, ref)) == _grid_hv(p, ref_int)
        q = rng.random((9, k)).astype(np.float32) * 1.2
        ref = np.linspace(1.0, 1.1, k).astype(np.float32)
        np.testing.assert_allclose(float(HV(q, ref)), _inclusion_exclusion_hv(q, ref),
                                   rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("k", [4, 6])
def test_hypervolume_exact_high_dim_under_jit_vmap_and_mask(k):
    moocore = pytest.importorskip("moocore")
    p = np.random.default_rng(4).random((30, k)).astype(np.float32)
    ref = np.ones(k, np.float32)
    expected = moocore.hypervolume(p.astype(np.float64), ref=ref.astype(np.float64))
    np.testing.assert_allclose(float(HV(p, ref)), expected, rtol=1e-6)
    # the runner's former Monte-Carlo arguments are accepted and do not change the value
    kw = {"key": jax.random.key(0), "num_samples": 8}
    assert float(pareto.hypervolume(p, ref, **kw)) == float(HV(p, ref))
    mask = np.arange(30) < 10
    sub = moocore.hypervolume(p[:10].astype(np.float64), ref=ref.astype(np.float64))
    np.testing.assert_allclose(float(HV(p, ref, mask=mask)), sub, rtol=1e-6)
    batched = jax.jit(jax.vmap(lambda q: pareto.hypervolume(q, ref)))(np.stack([p, p / 2]))
    np.testing.assert_allclose(np.asarray(batched)[0], expected, rtol=1e-6)
    assert float(HV(np.zeros((0, k), np.float32), ref)) == 0.0
    assert float(HV(p + 1.0, ref)) == 0.0  # all outside the reference box


_GROW = 24


@settings(max_examples=25, deadline=None)
@given(k=st.integers(2, 6), data=st.data())
def test_hypervolume_is_monotone_for_a_growing_archive(k, data):
    """Small integer points: every volume is exact in float32, so no tolerance is needed."""
    pts = np.array(data.draw(st.lists(st.lists(st.integers(0, 6), min_size=k, max_size=k),
                                      min_size=_GROW, max_size=_GROW)), np.float32)
    ref = np.full(k, 6.0, np.float32)  # coordinates equal to 6 lie on the box: ignored
    hv = [float(HV(pts, ref, mask=np.arange(_GROW) < n)) for n in range(_GROW + 1)]
    assert hv[0] == 0.0
    assert all(b >= a for a, b in zip(hv, hv[1:], strict=False)), hv
    if k <= 4:
        assert hv[-1] == _grid_hv(pts, 6)


def test_runner_hypervolume_history_is_exact_and_monotone_with_four_objectives():
    moocore = pytest.importorskip("moocore")
    from lepton_codesign import search
    from lepton_codesign.search import problems

    p = problems.dtlz2(n_obj=4, n_var=6)
    r = search.run(search.random_search(32), p.objective, p.space, key=jax.random.key(0),
                   budget=160, ref_point=p.ref_point, progress=False)
    hv = np.asarray(r.hv_history, np.float64)
    assert np.all(np.diff(hv) >= 0), hv
    assert len(hv) == 5 and hv[-1] > 0
    front = np.asarray(r.objectives, np.float64)[r.front_mask]
    expected = moocore.hypervolume(front, ref=np.asarray(r.ref_point, np.float64))
    np.testing.assert_allclose(hv[-1], expected, rtol=1e-5)


def test_hypervolume_mask_and_edge_cases():
    p = jnp.array([[1.0, 1.0], [0.5, 0.5], [3.0, 0.0]])
    ref = jnp.array([2.0, 2.0])
    assert float(pareto.hypervolume(p, ref)) == pytest.approx(2.25)
    assert float(pareto.hypervolume(p, ref, mask=jnp.array([True, False, True]))) == 1.0
    assert float(pareto.hypervolume(jnp.zeros((0, 2)), ref)) == 0.0
    assert float(pareto.hypervolume(jnp.array([[jnp.nan, 0.0]]), ref)) == 0.0
    with pytest.raises(ValueError, match="shape|ref"):
        pareto.hypervolume(p, jnp.ones(3))
