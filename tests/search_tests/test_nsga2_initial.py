"""NSGA-II ``initial=``: known designs start in the first population, nothing else changes."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from lepton_codesign import search
from lepton_codesign.search.base import Problem
from lepton_codesign.search.space import Choice, Integer, Real, Space

SPACE = Space({"x": Real(0.0, 1.0), "n": Integer(1, 8), "c": Choice(["a", "b", "c"])})


def _objective(d):
    x = d["x"]
    return jax.numpy.stack([x + d["n"] * 0.01, 1.0 - x + d["c"] * 0.01], 1)


def test_initial_designs_are_the_first_batch_and_decode_back():
    designs = {"x": np.array([0.25, 0.75]), "n": np.array([3, 8]), "c": np.array(["b", "a"])}
    u0 = np.asarray(SPACE.encode(SPACE.validate(designs)))
    s = search.nsga2(8, initial=u0)
    prob = Problem(SPACE, _objective)
    u, _ = s.ask(s.init(jax.random.key(0), prob), prob)
    back = SPACE.decode(u[:2])
    np.testing.assert_allclose(np.asarray(back["x"]), [0.25, 0.75], rtol=1e-6)
    assert np.asarray(back["n"]).tolist() == [3, 8]
    assert np.asarray(back["c"]).tolist() == [1, 0]
    # the rest of the batch is the seeded-free sample, unchanged
    plain, _ = search.nsga2(8).ask(search.nsga2(8).init(jax.random.key(0), prob), prob)
    np.testing.assert_array_equal(np.asarray(u[2:]), np.asarray(plain[2:]))
    assert s.config["initial"] == u0.astype(np.float32).tolist()
    assert "initial" not in search.nsga2(8).config


def test_initial_designs_reach_the_result():
    best = {"x": np.array([0.5]), "n": np.array([1]), "c": np.array(["a"])}
    u0 = np.asarray(SPACE.encode(SPACE.validate(best)))
    r = search.run(search.nsga2(8, initial=u0), _objective, SPACE, key=jax.random.key(1),
                   budget=8, progress=False)
    assert np.any(np.isclose(np.asarray(r.designs["x"]), 0.5) & (np.asarray(r.designs["n"]) == 1))


@pytest.mark.parametrize("initial, match", [
    (np.zeros((9, 3)), "1 <= m <= pop_size=8"),
    (np.zeros(3), "shape"),
    (np.full((1, 3), np.nan), "finite"),
    (np.full((1, 3), 1.5), r"in \[0, 1\]"),
])
def test_bad_initial_is_refused(initial, match):
    with pytest.raises(ValueError, match=match):
        search.nsga2(8, initial=initial)


def test_initial_of_wrong_dimension_is_refused_at_init():
    s = search.nsga2(8, initial=np.zeros((1, 2)))
    with pytest.raises(ValueError, match="dimension 3"):
        s.init(jax.random.key(0), Problem(SPACE, _objective))
