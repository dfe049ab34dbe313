"""Hardware objectives on hw_models, the ResNet-18 problem, and the public API."""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lepton_codesign import hw_models as hw
from lepton_codesign import search
from lepton_codesign.search.hardware import asic_objective, asic_space


@pytest.fixture(scope="module")
def small():
    wl = hw.gemm_workload([(64, 256, 128), (16, 128, 10)])
    # reordered dataflows (index 0 is "ws") and numeric choices (decoded to their values)
    space = asic_space(dataflows=("ws", "os"), node_nm=(28, 7), pe_bits=(8, 16))
    return wl, space, asic_objective(wl, space=space, limits={"area_mm2": 5.0})


def test_objective_equals_per_design_evaluate(small):
    wl, space, objective = small
    designs = space.decode(space.sample(jax.random.key(0), 6))
    objs, viol = objective(designs)
    assert objs.shape == (6, 3) and viol.shape == (6,)
    assert set(np.asarray(designs["node_nm"]).tolist()) <= {28.0, 7.0}
    evaluate = jax.jit(lambda spec: hw.evaluate(wl, spec))
    for i, row in enumerate(space.labels(designs)):
        c = evaluate(hw.AsicSpec(16, 16).replace(**row))
        expected = [c.total_latency_s, c.total_energy_j, c.area_mm2]
        np.testing.assert_allclose(np.asarray(objs[i]), np.asarray(expected), rtol=1e-5)
        excess = max(float(c.area_mm2) / 5.0 - 1.0, 0.0) + (0.0 if bool(c.feasible) else 1.0)
        np.testing.assert_allclose(float(viol[i]), excess, rtol=1e-5, atol=1e-7)


def test_smooth_objective_has_gradients(small):
    _, space, objective = small
    u = space.sample(jax.random.key(1), 4)

    def latency(u):
        objs, _ = objective(space.decode(u, relaxed=True), smooth=True)
        return jnp.sum(jnp.log(objs[:, 0]))

    g = np.asarray(jax.grad(latency)(u))
    assert np.all(np.isfinite(g))
    assert np.all(np.abs(g[:, space.names.index("pe_rows")]) > 0)
    freq = g[:, space.names.index("freq_hz")]
    assert np.all(freq <= 0) and np.any(freq < 0)  # a faster clock never adds latency


def test_objective_rejects_bad_names(small):
    wl, _, objective = small
    with pytest.raises(KeyError, match="unknown AsicSpec"):
        objective({"pe_depth": jnp.ones(2)})
    with pytest.raises(ValueError, match="unknown cost"):
        asic_objective(wl, objectives=("latency",))
    with pytest.raises(ValueError, match="options"):
        asic_objective(wl, space=search.Space({"dataflow": search.Choice(["rs"])}))


def test_resnet18_workload_macs():
    layers = search.problems.resnet18_layers()
    wl = hw.make_workload(layers)
    assert wl.num_layers == 21
    # He et al. 2016, Table 1: 1.8e9 multiply-adds for ResNet-18 at 224x224
    assert float(wl.total_macs) == pytest.approx(1.8e9, rel=0.02)


def test_resnet18_problem_objective():
    p = search.problems.asic_resnet18()
    objs, viol = p.objective(p.space.decode(p.space.sample(jax.random.key(0), 4)))
    assert objs.shape == (4, 3) and np.all(np.isfinite(np.asarray(objs)))
    assert np.all(np.asarray(objs) < p.ref_point)


def test_strategies_run_on_an_asic_problem(small):
    _, space, objective = small
    for strategy in (search.nsga2(16), search.gradient(8, steps=5, transform="log")):
        r = search.run(strategy, objective, space, key=jax.random.key(0), budget=32,
                       objective_names=("latency_s", "energy_j", "area_mm2"), progress=False)
        assert r.objectives.shape == (32, 3) and np.all(np.isfinite(r.objectives))
        assert r.front_mask.any() and r.hv_history[-1] > 0
        assert set(r.front()[0]) >= {"pe_rows", "dataflow", "latency_s"}


def test_public_api_and_no_flax():
    for name in search.__all__:
        assert hasattr(search, name), name
    code = ("import sys; from lepton_codesign import search, hw_models; "
            "assert 'flax' not in sys.modules, 'search imported flax'")
    subprocess.run([sys.executable, "-c", code], check=True)
