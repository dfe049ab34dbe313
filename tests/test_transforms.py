"""The ASIC cost model under JAX transforms: jit, vmap over designs, grad (smooth).

* ``jit`` gives the eager numbers;
* ``vmap`` over a stacked ``AsicSpec`` (and stacked compressions) gives the numbers of
  a Python loop over the designs;
* ``grad`` with ``smooth=True`` w.r.t. continuous spec fields and compression
  densities / bits is finite, non-zero and has the physically expected sign;
* smooth values stay close to the exact ones that reports show.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models import _smooth
from lepton_codesign.hw_models.asic_spec import DATAFLOWS, SPARSITY_SUPPORT

ASIC_PRESETS = ("tpuv1-like", "eyeriss-like", "gemmini-like", "nvdla-like")
CONTINUOUS = ("freq_hz", "pe_rows", "pe_cols", "ifmap_sram_bytes", "filter_sram_bytes",
              "ofmap_sram_bytes", "dram_bandwidth_bytes_per_s", "dram_energy_pj_per_byte")


def mixed_compression(n=5):
    return hw.make_compression(
        n, weight_density=[0.5, 1.0, 0.25, 1.0, 0.5], act_density=0.6,
        structure=["unstructured", "channel", "nm", "unstructured", "unstructured"],
        weight_bits=[4, 8, 4, 8, 2], act_bits=[8, 8, 4, 8, 8])


def float_leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)
            if np.issubdtype(np.asarray(x).dtype, np.floating)]


def assert_trees_close(a, b, rtol=1e-5):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb, strict=True):
        np.testing.assert_allclose(np.asarray(x, np.float64), np.asarray(y, np.float64),
                                   rtol=rtol, atol=0)


def stack(trees):
    return jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *trees)


# --------------------------------------------------------------------- jit
@pytest.mark.parametrize("smooth", [False, True])
@pytest.mark.parametrize("name", ASIC_PRESETS)
def test_jit_equals_eager(jit_evaluate, mixed_workload, name, smooth):
    spec = hw.preset(name).replace(name="asic")  # one treedef: one compile for all presets
    comp = mixed_compression()
    assert_trees_close(jit_evaluate(mixed_workload, spec, comp, smooth=smooth),
                       hw.evaluate(mixed_workload, spec, comp, smooth=smooth))


# --------------------------------------------------------------------- vmap
def random_specs(count: int, seed: int = 0) -> list[hw.AsicSpec]:
    rng = np.random.default_rng(seed)
    return [
        hw.AsicSpec(
            pe_rows=float(rng.integers(1, 129)), pe_cols=float(rng.integers(1, 129)),
            dataflow=DATAFLOWS[i % 3], freq_hz=float(10 ** rng.uniform(8, 9.5)),
            ifmap_sram_bytes=float(2 ** rng.uniform(8, 22)),
            filter_sram_bytes=float(2 ** rng.uniform(8, 22)),
            ofmap_sram_bytes=float(2 ** rng.uniform(8, 22)),
            dram_bandwidth_bytes_per_s=float(10 ** rng.uniform(8, 11)),
            node_nm=float(rng.uniform(5, 90)), pe_bits=float(rng.choice([4, 8, 16])),
            precision_scalable=float(rng.integers(0, 2)),
            sparsity_support=SPARSITY_SUPPORT[i % 4],
        )
        for i in range(count)
    ]


def test_vmap_over_stacked_specs_equals_loop(jit_evaluate, mixed_workload):
    specs, comp = random_specs(12), mixed_compression()
    batched = jax.jit(jax.vmap(lambda s: hw.evaluate(mixed_workload, s, comp)))
    out = batched(stack(specs))
    assert out.total_latency_s.shape == (12,) and out.latency_s.shape == (12, 5)
    for i, spec in enumerate(specs):
        one = jit_evaluate(mixed_workload, spec, comp)
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], out), one)


def test_vmap_over_specs_and_compressions_together_smooth(jit_evaluate, mixed_workload):
    specs = random_specs(6, seed=1)
    comps = [hw.make_compression(5, weight_density=d, act_density=d, weight_bits=b,
                                 structure=s)
             for d, b, s in zip([1.0, 0.5, 0.3, 0.8, 0.1, 0.6], [8, 4, 2, 6, 3, 16],
                                ["unstructured", "nm", "channel"] * 2, strict=True)]
    out = jax.vmap(lambda s, c: jit_evaluate(mixed_workload, s, c, smooth=True))(stack(specs),
                                                                        stack(comps))
    for i, (spec, comp) in enumerate(zip(specs, comps, strict=True)):
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], out),
                           jit_evaluate(mixed_workload, spec, comp, smooth=True))


# --------------------------------------------------------------------- grad
def _spec_grads(base, wl, comp):
    """d/d log(field) of [log latency, log energy, log cost], one compile."""
    def f(log_fields):
        spec = base.replace(**{k: jnp.exp(v) for k, v in log_fields.items()})
        c = hw.evaluate(wl, spec, comp, smooth=True)
        return jnp.stack([jnp.log(c.total_latency_s), jnp.log(c.total_energy_j),
                          jnp.log(c.cost_usd)])
    logs = {k: jnp.log(jnp.float32(getattr(base, k))) for k in CONTINUOUS}
    jac = jax.jit(jax.jacrev(f))(logs)
    return {what: {k: float(v[i]) for k, v in jac.items()}
            for i, what in enumerate(("latency", "energy", "cost"))}


def test_grad_wrt_continuous_spec_fields(mixed_workload):
    # Gemmini-like: the 1x1 conv is memory-bound, the others compute-bound, so both
    # the clock and the DRAM bandwidth matter.
    base = hw.preset("gemmini-like")
    comp = hw.dense_compression(5)
    exact = hw.evaluate(mixed_workload, base, comp)
    assert set(np.asarray(exact.bound).tolist()) == {0, 1}

    grads = _spec_grads(base, mixed_workload, comp)
    for field in CONTINUOUS:
        total = sum(grads[what][field] for what in grads)
        assert np.isfinite(total) and total != 0.0, field

    g_lat, g_e, g_cost = grads["latency"], grads["energy"], grads["cost"]
    assert g_lat["freq_hz"] < 0 and g_lat["dram_bandwidth_bytes_per_s"] < 0
    assert g_lat["dram_energy_pj_per_byte"] == 0.0  # energy price: no time effect
    for sram in ("ifmap_sram_bytes", "filter_sram_bytes", "ofmap_sram_bytes"):
        assert g_e[sram] > 0, sram  # bigger SRAM: costlier access and leakage
    # DRAM energy is linear in its pJ/B: d log E / d log e = E_dram / E exactly.
    smooth = hw.evaluate(mixed_workload, base, comp, smooth=True)
    share = float(jnp.sum(smooth.energy_dram_j) / smooth.total_energy_j)
    np.testing.assert_allclose(g_e["dram_energy_pj_per_byte"], share, rtol=1e-4)
    assert g_cost["pe_rows"] > 0 and g_cost["pe_cols"] > 0  # area -> $


@jax.jit
def _comp_grads(wl, spec, comp):
    """d/d(density, bits) of [log energy, log latency], one compile for all specs."""
    def f(x):
        c = hw.Compression(x[0], x[1], comp.structure, comp.nm_m, x[2], x[3])
        out = hw.evaluate(wl, spec, c, smooth=True)
        return jnp.stack([jnp.log(out.total_energy_j), jnp.log(out.total_latency_s)])
    x = (comp.weight_density, comp.act_density, comp.weight_bits, comp.act_bits)
    jac = jax.jacrev(f)(x)
    return {"energy": [g[0] for g in jac], "latency": [g[1] for g in jac]}


def test_grad_wrt_compression_densities_and_bits(mixed_workload):
    has_w = np.asarray(mixed_workload.has_weights)  # layer 3 is an attention matmul
    comp = hw.make_compression(5, weight_density=0.5, act_density=0.5, weight_bits=6,
                               act_bits=6)
    # Zero-gating, precision-scalable: density and bits both save energy on every layer
    # they apply to (weights: weight layers only; activations: all layers).
    gating = hw.preset("eyeriss-like").replace(precision_scalable=1.0, name="asic")
    g_wd, g_ad, g_wb, g_ab = map(np.asarray, _comp_grads(mixed_workload, gating, comp)["energy"])
    for g in (g_wd, g_ad, g_wb, g_ab):
        assert np.all(np.isfinite(g))
    assert np.all(g_wd[has_w] > 0) and np.all(g_wd[~has_w] == 0)
    assert np.all(g_ad > 0)
    assert np.all(g_wb[has_w] > 0) and np.all(g_wb[~has_w] == 0)
    assert np.all(g_ab > 0)
    # Skipping hardware: lower weight density shortens the compute of weight layers.
    skipping = hw.preset("nvdla-like").replace(sparsity_support="skipping", name="asic")
    g_wd, _, g_wb, _ = map(np.asarray, _comp_grads(mixed_workload, skipping, comp)["latency"])
    assert np.all(np.isfinite(g_wd)) and np.all(g_wd[has_w] > 0)
    assert np.all(np.isfinite(g_wb))


# --------------------------------------------------------------------- smooth vs exact
@pytest.mark.parametrize("name", ASIC_PRESETS)
def test_smooth_values_close_to_exact(jit_evaluate, mixed_workload, name):
    spec = hw.preset(name).replace(name="asic")
    for comp in (hw.dense_compression(5), mixed_compression()):
        exact = jit_evaluate(mixed_workload, spec, comp, smooth=False)
        smooth = jit_evaluate(mixed_workload, spec, comp, smooth=True)
        # log-sum-exp max at 2 % relative temperature: at most ln(2) * 2 % = 1.4 % high.
        for f in ("latency_s", "energy_j", "total_latency_s", "total_energy_j"):
            np.testing.assert_allclose(getattr(smooth, f), getattr(exact, f), rtol=0.015)
        # Straight-through ceilings: compute cycles, area and dollars are exact.
        for f in ("compute_cycles", "area_mm2", "cost_usd"):
            np.testing.assert_allclose(getattr(smooth, f), getattr(exact, f), rtol=1e-6)


def test_smooth_primitives():
    x = jnp.float32(2.2)
    assert float(_smooth.ceil(x, True)) == 3.0 and float(jax.grad(_smooth.ceil)(x, True)) == 1
    assert float(_smooth.floor(x, True)) == 2.0
    assert float(jax.grad(_smooth.ceil)(x, False)) == 0.0  # why smooth mode exists
    a, b = jnp.float32(100.0), jnp.float32(99.0)
    m = float(_smooth.maximum(a, b, True))
    assert 100.0 <= m <= 100.0 * (1 + 0.02 * np.log(2)) + 1e-4
    ga, gb = jax.grad(lambda a, b: _smooth.maximum(a, b, True), argnums=(0, 1))(a, b)
    assert float(ga) > 0 and float(gb) > 0
    assert 0.0 <= float(_smooth.maximum(jnp.float32(0), jnp.float32(0), True)) < 1e-29
    assert float(_smooth.step(jnp.float32(0.5), False)) == 1.0
    assert 0.5 < float(_smooth.step(jnp.float32(0.05), True)) < 1.0
