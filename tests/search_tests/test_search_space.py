"""Search spaces: encode/decode round trips, bounds, validation, serialisation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lepton_codesign import search
from lepton_codesign.search.space import stack_designs

SPACE = search.Space({
    "rows": search.Integer(4, 256, log=True),
    "cols": search.Integer(1, 7),
    "freq_hz": search.Real(2e8, 1.5e9),
    "sram_bytes": search.Real(16e3, 16e6, log=True),
    "dataflow": search.Choice(["os", "ws", "is"]),
    "bits": search.Choice([4, 8, 16]),
    "density": search.Real(0.05, 1.0, size=3),
    "flag": search.Choice([True, False]),
})


def test_dim_and_names():
    assert SPACE.dim == 10
    assert SPACE.names[0] == "rows" and SPACE.names[-1] == "flag"
    assert SPACE.coord_mask(search.Choice).sum() == 3


def test_sample_decodes_inside_bounds():
    d = SPACE.decode(SPACE.sample(jax.random.key(1), 200))
    assert d["rows"].dtype == jnp.int32 and d["dataflow"].dtype == jnp.int32
    assert int(d["rows"].min()) >= 4 and int(d["rows"].max()) <= 256
    assert set(np.unique(np.asarray(d["cols"]))) <= set(range(1, 8))
    assert set(np.unique(np.asarray(d["bits"]))) <= {4.0, 8.0, 16.0}
    assert d["density"].shape == (200, 3)
    assert float(d["freq_hz"].min()) >= 2e8 and float(d["freq_hz"].max()) <= 1.5e9
    # every bin of a small integer / choice is reachable from uniform cube samples
    assert len(np.unique(np.asarray(d["cols"]))) == 7
    assert len(np.unique(np.asarray(d["dataflow"]))) == 3


@given(st.lists(st.floats(0.0, 1.0), min_size=SPACE.dim, max_size=SPACE.dim))
def test_decode_encode_decode_is_stable(coords):
    u = jnp.asarray([coords], jnp.float32)
    d1 = SPACE.decode(u)
    d2 = SPACE.decode(SPACE.encode(d1))
    for name in SPACE.names:
        np.testing.assert_allclose(np.asarray(d2[name]), np.asarray(d1[name]), rtol=1e-5)


@given(rows=st.integers(4, 256), cols=st.integers(1, 7),
       df=st.sampled_from(["os", "ws", "is"]), bits=st.sampled_from([4, 8, 16]),
       flag=st.booleans())
def test_categorical_and_integer_round_trip(rows, cols, df, bits, flag):
    """User values (labels for categorical options) -> cube -> the same values."""
    row = {"rows": rows, "cols": cols, "freq_hz": 1e9, "sram_bytes": 1e5, "dataflow": df,
           "bits": bits, "density": [0.5, 0.25, 1.0], "flag": flag}
    designs = SPACE.validate(stack_designs([row]))
    back = SPACE.decode(SPACE.encode(designs))
    assert int(back["rows"][0]) == rows and int(back["cols"][0]) == cols
    assert float(back["bits"][0]) == bits
    labels = SPACE.labels(back)[0]
    assert labels["dataflow"] == df and labels["flag"] is flag
    np.testing.assert_allclose(float(back["sram_bytes"][0]), 1e5, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(back["density"][0]), [0.5, 0.25, 1.0], rtol=1e-6)


def test_snap_is_idempotent_and_leaves_reals():
    u = jax.random.uniform(jax.random.key(2), (50, SPACE.dim))
    s1 = SPACE.snap(u)
    np.testing.assert_array_equal(np.asarray(SPACE.snap(s1)), np.asarray(s1))
    real = SPACE.coord_mask(search.Real)
    np.testing.assert_allclose(np.asarray(s1)[:, real], np.asarray(u)[:, real], atol=1e-6)


def test_relaxed_decode_is_continuous_for_integers():
    u = jnp.full((1, SPACE.dim), 0.37)
    relaxed = SPACE.decode(u, relaxed=True)
    exact = SPACE.decode(u)
    assert relaxed["rows"].dtype == jnp.float32
    assert abs(float(relaxed["rows"][0]) - int(exact["rows"][0])) <= 0.5 + 1e-4
    assert relaxed["dataflow"].dtype == jnp.int32  # categorical stays exact
    g = jax.grad(lambda x: SPACE.decode(x, relaxed=True)["rows"].sum())(u)
    assert float(g[0, 0]) > 0


@pytest.mark.parametrize("bad, match", [
    ({"rows": 3}, "rows"), ({"rows": 4.5}, "rows"), ({"dataflow": "xs"}, "xs"),
    ({"bits": 5}, "5"), ({"freq_hz": 2e9}, "freq_hz"),
])
def test_validate_rejects_bad_values(bad, match):
    row = {"rows": 8, "cols": 1, "freq_hz": 1e9, "sram_bytes": 1e5, "dataflow": "os",
           "bits": 8, "density": [1.0, 1.0, 1.0], "flag": True, **bad}
    with pytest.raises(ValueError, match=match):
        SPACE.validate(stack_designs([row]))


def test_validate_rejects_unknown_and_missing():
    with pytest.raises(KeyError, match="unknown"):
        SPACE.validate({"nope": np.zeros(1)})
    with pytest.raises(KeyError, match="rows"):
        search.Space({"rows": search.Integer(1, 2)}).validate({})


@pytest.mark.parametrize("make", [
    lambda: search.Real(1.0, 1.0), lambda: search.Real(0.0, 1.0, log=True),
    lambda: search.Integer(3, 2), lambda: search.Integer(0, 4, log=True),
    lambda: search.Choice([]), lambda: search.Choice(["a", "a"]),
    lambda: search.Real(0, 1, size=0), lambda: search.Space({}),
    lambda: search.Space({"x": (0, 1)}), lambda: search.Real(1.0, 2.0, unit=0.0),
    lambda: search.Real(1.0, 2.0, unit=float("nan")),
])
def test_bad_parameters_raise(make):
    with pytest.raises((ValueError, TypeError)):
        make()


def test_decode_checks_shape():
    with pytest.raises(ValueError, match="shape"):
        SPACE.decode(jnp.zeros((3, SPACE.dim + 1)))


def test_to_dict_round_trip_and_hashable():
    again = search.Space.from_dict(SPACE.to_dict())
    assert again == SPACE and hash(again) == hash(SPACE)
    with pytest.raises(AttributeError):
        SPACE.dim = 3


def test_real_unit_decodes_in_that_unit_and_round_trips():
    u = jax.random.uniform(jax.random.key(2), (256, 1))
    in_gb = search.Real(2.0, 32.0, log=True).decode(u)
    p = search.Real(2e9, 32e9, log=True, unit=1e9)
    x = p.decode(u)
    # bit-identical to decoding in GB/s and scaling in float32 (what the unit is for)
    np.testing.assert_array_equal(np.asarray(x), np.asarray(in_gb * 1e9))
    assert float(x.min()) >= 2e9 * (1 - 1e-6) and float(x.max()) <= 32e9 * (1 + 1e-6)
    np.testing.assert_allclose(np.asarray(p.encode(x)), np.asarray(u), atol=2e-6)
    in_bytes = search.Real(2e9, 32e9, log=True).decode(u)  # the coarser map, for contrast
    assert not np.array_equal(np.asarray(in_bytes), np.asarray(x))


def test_real_unit_is_serialised_only_when_set():
    plain = search.Space({"x": search.Real(1.0, 2.0)}).to_dict()
    assert "unit" not in plain["x"]  # descriptions (checkpoint fingerprints) unchanged
    space = search.Space({"x": search.Real(1024.0, 2048.0, log=True, unit=1024.0)})
    d = space.to_dict()
    assert d["x"]["unit"] == 1024.0 and search.Space.from_dict(d) == space
