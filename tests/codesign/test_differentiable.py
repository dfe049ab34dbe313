"""Differentiable co-design mode: knob gradients, hardening, exact re-scoring, lambda."""

import copy
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lepton_codesign import hw_models
from lepton_codesign.codesign import differentiable_knobs as K
from lepton_codesign.codesign.config import validate_config
from lepton_codesign.codesign.differentiable import differentiable_codesign, lambda_sequence
from lepton_codesign.codesign.trials import compression_from_dict
from lepton_codesign.compress import CompressionPolicy, compress, compression_state
from lepton_codesign.extract import extract_workload
from lepton_codesign.models import MLP

from .conftest import TINY

CAT = {"node_nm": 28.0, "dataflow": "ws", "sparsity_support": "skipping",
       "precision_scalable": 1}
METRICS = ("latency_s", "energy_j", "usd_per_1m_inferences")


def _cfg():
    cfg = copy.deepcopy(TINY)
    cfg["hardware"] = {"families": ["asic", "gpu"]}
    return validate_config(cfg)


def _hw_cost(cfg, workload, point):
    """Mean log of the cost metrics of an exactly scored point (lower is cheaper)."""
    names = cfg["objectives"]["names"]
    return np.mean([math.log(point["objectives"][names.index(m)]) for m in METRICS])


def test_knobs_masks_and_bits_get_finite_nonzero_gradients():
    cfg = _cfg()
    model = compress(MLP((64, 32, 10), rngs=nnx.Rngs(0)),
                     CompressionPolicy(method="learned", weight_bits=8, act_bits=8,
                                       learn_bits=True))
    workload = extract_workload(model, jnp.zeros((1, 64)))
    bounds = K.KnobBounds.from_config(cfg)
    cat = K.categorical_from_labels(cfg, CAT)
    u0 = jnp.zeros(len(K.KNOBS))
    ref = jnp.asarray(K.reference_costs(workload, bounds.values(u0), cat, cfg, METRICS))
    w = jnp.full((3,), 1.0 / 3.0)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)

    def loss(u, params):
        m = nnx.merge(graphdef, params, rest)
        comp = compression_state(m, soft=True, workload=workload)
        return K.hardware_term(workload, comp, bounds.values(u), cat, cfg, METRICS, ref, w)

    g_u, g_p = jax.jit(jax.grad(loss, argnums=(0, 1)))(u0, params)
    g_u = np.asarray(g_u)
    assert np.all(np.isfinite(g_u)), g_u
    assert np.all(g_u != 0.0), dict(zip(K.KNOBS, g_u, strict=True))
    leaves = jax.tree.leaves(g_p)
    assert all(np.all(np.isfinite(np.asarray(v))) for v in leaves)
    assert any(np.any(np.asarray(v) != 0) for v in leaves)  # masks / bits are pushed too


def test_harden_knobs_rounds_into_the_bounds():
    cfg = _cfg()
    bounds = K.KnobBounds.from_config(cfg)
    lo, hi = bounds.bounds()
    for u in (-50.0, 0.0, 0.37, 50.0):
        d = K.harden_knobs(bounds, bounds.values(jnp.full(5, u)))
        assert isinstance(d["pe_rows"], int) and isinstance(d["pe_cols"], int)
        for i, k in enumerate(K.KNOBS):
            assert lo[i] <= d[k] <= hi[i], (k, d[k])
            steps = d[k] / K.RESOLUTION[k]  # on the grid, or exactly at a bound
            assert abs(steps - round(steps)) < 1e-6 or d[k] in (lo[i], hi[i]), (k, d[k])


def test_bad_arguments_name_the_key():
    cfg = _cfg()
    with pytest.raises(ValueError, match="lambdas"):
        differentiable_codesign(cfg, lambdas=(0.1, float("nan")))
    with pytest.raises(ValueError, match="lambdas"):
        differentiable_codesign(cfg, lambdas=(-1.0,))
    with pytest.raises(ValueError, match="time_budget_s"):
        differentiable_codesign(cfg, lambdas="auto")
    with pytest.raises(ValueError, match="metric_weights"):
        differentiable_codesign(cfg, metric_weights=[{"watts": 1.0}])
    with pytest.raises(ValueError, match="dataflow"):
        K.categorical_from_labels(cfg, {**CAT, "dataflow": "rs"})
    seq = lambda_sequence(0.01, 1.0)
    assert [round(next(seq), 3) for _ in range(5)] == [0.0, 1.0, 0.01, 0.1, 0.032]


@pytest.mark.slow  # ~35 s of CPU (two compiles through the ASIC model), more under load
def test_two_lambda_run_is_rescored_exactly_and_lambda_buys_cheaper_hardware():
    cfg = _cfg()
    res = differentiable_codesign(cfg, lambdas=(0.0, 10.0), epochs=3, pretrain_epochs=3,
                                  categorical=CAT, rescore_categoricals=False)
    names = [t["name"] for t in res.trials]
    assert len(names) == 3 and names[0] == "dense"
    wl_model, x = MLP((64, 256, 256, 10), rngs=nnx.Rngs(0)), jnp.zeros((1, 64))
    workload = extract_workload(wl_model, x)
    asic = [p for p in res.points if p["family"] == "asic"]
    assert len(asic) == 3 and any(p["family"] == "gpu" for p in res.points)
    assert any(p["on_front"] for p in res.points)
    for p in res.points:
        assert np.all(np.isfinite(p["objectives"])) and p["feasible"], p
    by_name = {t["name"]: t for t in res.trials}
    for p in asic:  # exact: the hardened knobs' spec re-evaluated with smooth=False
        h = p["hardware"]
        assert isinstance(h["pe_rows"], int) and isinstance(h["pe_cols"], int)
        assert h["ifmap_sram_bytes"] == h["filter_sram_bytes"] == h["ofmap_sram_bytes"]
        spec = hw_models.AsicSpec(**{k: v for k, v in h.items() if k != "trained_categorical"})
        t = by_name[p["point"]]
        costs = hw_models.evaluate(workload, spec,
                                   compression_from_dict(t["compression"]), smooth=False)
        np.testing.assert_allclose(p["objectives"][1:], [
            float(costs.total_latency_s), float(costs.total_energy_j),
            float(costs.usd_per_1m_inferences)], rtol=1e-5)
        assert p["objectives"][0] == pytest.approx(1.0 - t["accuracy"])
    cheap = {p["point"]: _hw_cost(cfg, workload, p) for p in asic}
    # lambda 0 leaves the knobs at the start; lambda 10 must make the design cheaper
    assert cheap[names[2]] < cheap[names[1]] - 0.05, cheap
    assert by_name[names[1]]["knobs"] == by_name["dense"]["knobs"]
