"""One schema per input: constructors check what spec files check, transforms still work.

Bad concrete values raise ``hw.SpecError`` naming class.field and what is allowed; JAX
tracers (jit / vmap / grad) and pytree rebuilding are not validated; cost results are
finite and non-negative, with ``feasible`` False and a reason where they cannot be.
"""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models import specio
from lepton_codesign.hw_models.asic import evaluate_asic
from lepton_codesign.hw_models.costs import guard, reason_name

WL = hw.gemm_workload([(64, 64, 64), (1, 256, 10), (196, 288, 64)])

BAD = {
    "asic negative rows": (lambda: hw.AsicSpec(pe_rows=-4, pe_cols=4, freq_hz=0),
                           r"AsicSpec\.pe_rows: -4 is not allowed; allowed: an integer > 0"),
    "asic zero rows": (lambda: hw.AsicSpec(0, 16), r"AsicSpec\.pe_rows: 0 "),
    "asic [0] rows": (lambda: hw.AsicSpec([0], 16),
                      r"AsicSpec\.pe_rows: 0 \(element \[0\] of a batch of shape \(1,\)\)"),
    "asic zero clock": (lambda: hw.AsicSpec(16, 16, freq_hz=0.0),
                        r"AsicSpec\.freq_hz: 0\.0 is not allowed; allowed: a number > 0"),
    "asic nan clock": (lambda: hw.AsicSpec(16, 16, freq_hz=float("nan")),
                       r"AsicSpec\.freq_hz: nan"),
    "asic inf bandwidth": (lambda: hw.AsicSpec(16, 16, dram_bandwidth_bytes_per_s=math.inf),
                           r"AsicSpec\.dram_bandwidth_bytes_per_s: inf"),
    "asic negative dram energy": (lambda: hw.AsicSpec(16, 16, dram_energy_pj_per_byte=-700),
                                  r"dram_energy_pj_per_byte: -700 .*a number >= 0"),
    "asic dataflow typo": (lambda: hw.AsicSpec(16, 16, dataflow="wss"),
                           r"AsicSpec\.dataflow: 'wss' .*did you mean 'ws'"),
    "asic dataflow code": (lambda: hw.AsicSpec(16, 16, dataflow=7),
                           r"AsicSpec\.dataflow: 7 .*codes 0\.\.2"),
    "asic batched bad element": (
        lambda: hw.AsicSpec(np.array([16.0, 8.0, -1.0]), 16),
        r"AsicSpec\.pe_rows: -1\.0 \(element \[2\] of a batch of shape \(3,\)\)"),
    "asic string number": (lambda: hw.AsicSpec("16", 16), r"AsicSpec\.pe_rows: str '16'"),
    "asic node": (lambda: hw.AsicSpec(16, 16, node_nm=1.0), r"node_nm: 1\.0 .*>= 3"),
    "gpu zero bandwidth": (lambda: hw.GpuSpec(1e12, 0.0),
                           r"GpuSpec\.mem_bandwidth_bytes_per_s: 0\.0"),
    "gpu efficiency": (lambda: hw.GpuSpec(1e12, 1e11, compute_efficiency=1.5),
                       r"GpuSpec\.compute_efficiency: 1\.5 .*<= 1"),
    "gpu idle over tdp": (lambda: hw.GpuSpec(1e12, 1e11, tdp_w=40.0, idle_w=60.0),
                          r"GpuSpec\.idle_w: 60\.0 is not allowed with tdp_w 40\.0"),
    "gpu pricing": (lambda: hw.GpuSpec(1e12, 1e11, pricing="rnet"),
                    r"GpuSpec\.pricing: 'rnet' .*did you mean 'rent'"),
    "fpga negative dsp": (lambda: hw.FpgaSpec(lut=1000, dsp=-1, bram18=10),
                          r"FpgaSpec\.dsp: -1 .*>= 0"),
    "fpga ceiling": (lambda: hw.FpgaSpec(lut=1000, dsp=10, bram18=10, lut_ceiling=0.0),
                     r"FpgaSpec\.lut_ceiling: 0\.0 .*> 0 and <= 1"),
    "compression zero bits": (lambda: hw.make_compression(3, weight_bits=0),
                              r"Compression\.weight_bits: 0\.0 .*>= 1 and <= 32"),
    "compression nan density": (lambda: hw.make_compression(2, weight_density=float("nan")),
                                r"Compression\.weight_density: nan"),
    "compression structure typo": (lambda: hw.make_compression(2, structure="chanel"),
                                   r"did you mean 'channel'"),
    "compression ragged": (
        lambda: hw.Compression(*(jnp.ones(3),) * 2, jnp.zeros(2, jnp.int32), jnp.full(3, 4.0),
                               jnp.full(3, 8.0), jnp.full(3, 8.0)),
        r"Compression: per-layer fields have different lengths"),
    "deployment lifetime": (lambda: hw.Deployment(lifetime_years=0.0),
                            r"Deployment\.lifetime_years: 0\.0 .*> 0"),
    "deployment utilisation": (lambda: hw.Deployment(utilization=1.5),
                               r"Deployment\.utilization: 1\.5 .*> 0 and <= 1"),
    "deployment price": (lambda: hw.Deployment(electricity_usd_per_kwh=-0.1),
                         r"Deployment\.electricity_usd_per_kwh: -0\.1 .*>= 0"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_constructor_input_raises_spec_error(case):
    make, match = BAD[case]
    with pytest.raises(hw.SpecError, match=match):
        make()
    assert issubclass(hw.SpecError, ValueError)


@pytest.mark.parametrize("kind", ["asic", "fpga", "gpu"])
def test_constructor_and_file_share_one_rule_table(kind):
    """Every bounded field refuses the same out-of-range value at load and at construction."""
    sk = specio._KINDS[kind]
    base = {"asic": {"pe_rows": 8, "pe_cols": 8, "dataflow": "ws", "freq_hz": 1e9},
            "fpga": {"lut": 1e5, "dsp": 100, "bram18": 100, "freq_hz": 2e8,
                     "dram_bandwidth_bytes_per_s": 1e10, "board_price_usd": 100,
                     "architecture": "dataflow"},
            "gpu": {"peak_fp32_flops": 1e13, "peak_bf16_flops": 1e14, "peak_int8_ops": 1e14,
                    "mem_bandwidth_bytes_per_s": 1e12, "mem_capacity_bytes": 1e10,
                    "num_sms": 40, "tdp_w": 300, "purchase_usd": 1000}}[kind]
    spec_from_dict = specio.spec_from_dict
    spec_from_dict({"version": 1, "kind": kind, **base})  # the base is valid
    checked = 0
    for field, rule in sk.rules.items():
        if rule.type in ("choice", "str", "bool"):
            continue
        bad = (rule.min - 1.0) if rule.min is not None else None
        if bad is None:
            continue
        with pytest.raises(hw.SpecError, match=f"key '{field}'"):
            spec_from_dict({"version": 1, "kind": kind, **base, field: bad})
        with pytest.raises(hw.SpecError, match=f"{sk.cls.__name__}.{field}: "):
            sk.cls(**{**{k: v for k, v in base.items()}, field: bad})
        checked += 1
    assert checked >= 10


def test_small_gpu_loads_with_derived_idle_power(tmp_path):
    """idle_w is 15% of tdp_w unless set, so a 40 W GPU no longer trips a 60 W default."""
    assert float(hw.GpuSpec(1e12, 1e11, tdp_w=40.0).idle_w) == pytest.approx(6.0)
    assert float(hw.GpuSpec(1e12, 1e11).idle_w) == pytest.approx(60.0)  # old default kept
    assert float(hw.GpuSpec(1e12, 1e11).replace(tdp_w=40.0).idle_w) == pytest.approx(6.0)
    assert float(hw.GpuSpec(1e12, 1e11, idle_w=30.0).replace(tdp_w=300.0).idle_w) == 30.0
    path = tmp_path / "tiny.yaml"
    path.write_text("version: 1\nkind: gpu\npeak_fp32_flops: 1e12\npeak_bf16_flops: 4e12\n"
                    "peak_int8_ops: 8e12\nmem_bandwidth_bytes_per_s: 1e11\n"
                    "mem_capacity_bytes: 8e9\nnum_sms: 8\ntdp_w: 40\npurchase_usd: 500\n")
    assert float(hw.load_spec(path).idle_w) == pytest.approx(6.0)
    for name in ("a100-sxm", "h100-sxm", "h200", "l4", "t4"):  # presets keep their numbers
        text = (specio.resources.files("lepton_codesign.hw_models") / "presets"
                / f"{name}.yaml").read_text()
        stated = float(next(ln.split(":")[1].split("#")[0] for ln in text.splitlines()
                            if ln.startswith("idle_w:")))
        assert float(hw.preset(name).idle_w) == stated


# --- transforms: tracers and pytree rebuilding are not validated ----------------------


def _batch(n: int = 6) -> hw.AsicSpec:
    # Power-of-two arrays: XLA:CPU's vectorised f32 division is not correctly rounded
    # (see test_fold_count_is_exact_eagerly), which is not what this test is about.
    rng = np.random.default_rng(0)
    spec = hw.AsicSpec(pe_rows=(2.0 ** rng.integers(2, 7, n)).astype(np.float32),
                       pe_cols=(2.0 ** rng.integers(2, 7, n)).astype(np.float32),
                       dataflow=rng.integers(0, 3, n).astype(np.int32),
                       freq_hz=rng.uniform(2e8, 2e9, n).astype(np.float32))
    return jax.tree.map(lambda x: jnp.broadcast_to(jnp.asarray(x), (n,)), spec)


def test_jit_and_vmap_evaluate_equal_eager():
    specs = _batch()
    batched = jax.jit(jax.vmap(lambda s: hw.evaluate(WL, s)))(specs)
    for i in range(6):
        one = jax.tree.map(lambda x, i=i: x[i], specs)
        eager = hw.evaluate(WL, one)
        jitted = jax.jit(lambda s: hw.evaluate(WL, s))(one)
        for got in (jitted, jax.tree.map(lambda x, i=i: x[i], batched)):
            np.testing.assert_allclose(np.asarray(got.latency_s), np.asarray(eager.latency_s),
                                       rtol=1e-6)
            np.testing.assert_allclose(float(got.cost_usd), float(eager.cost_usd), rtol=1e-6)
            assert bool(got.feasible) == bool(eager.feasible)


def test_fold_count_is_exact_eagerly():
    """196 / 14 is 14.000001 in XLA:CPU's vectorised f32 division; folds use ceil_div."""
    wl = hw.gemm_workload([(64, 64, 64), (1, 256, 10), (196, 288, 64)])
    spec = hw.AsicSpec(34, 14, dataflow="is")
    eager = np.asarray(hw.evaluate(wl, spec).compute_cycles)
    jitted = np.asarray(jax.jit(lambda s: hw.evaluate(wl, s))(spec).compute_cycles)
    assert eager[2] == jitted[2] == 9 * 14 * (64 + 34 + 14 - 2 + 34) - 1


def test_grad_and_tree_map_over_specs_are_not_validated():
    spec = hw.AsicSpec(16.0, 16.0, freq_hz=1e9)
    g = jax.grad(lambda s: hw.evaluate(WL, s, smooth=True).total_energy_j,
                 allow_int=True)(spec)  # gradients may be negative: not validated
    assert isinstance(g, hw.AsicSpec) and np.isfinite(float(g.freq_hz))
    assert float(g.freq_hz) < 0 or float(g.pe_rows) < 0 or float(g.node_nm) < 0
    neg = jax.tree.map(lambda x: -x, spec)  # negative leaves: a result, not an input
    assert float(neg.pe_rows) == -16.0
    zeros = jax.tree.map(lambda _: 0, spec)  # e.g. an in_axes tree
    out = jax.vmap(lambda s: hw.evaluate(WL, s).total_latency_s, in_axes=(zeros,))(
        jax.tree.map(lambda x: jnp.stack([x, x]), spec))
    assert out.shape == (2,)
    comp = hw.make_compression(3, weight_bits=4)
    gc = jax.grad(lambda c: hw.evaluate(WL, spec, c, smooth=True).total_energy_j,
                  allow_int=True)(comp)
    assert isinstance(gc, hw.Compression)


def test_constructing_inside_jit_skips_tracers_but_checks_constants():
    @jax.jit
    def f(rows):
        return hw.evaluate(WL, hw.AsicSpec(rows, 16.0)).total_latency_s

    assert float(f(jnp.float32(-3.0))) >= 0  # a tracer cannot be checked
    with pytest.raises(hw.SpecError, match=r"AsicSpec\.pe_cols: -16\.0"):
        jax.jit(lambda r: hw.AsicSpec(r, -16.0).pe_rows)(jnp.float32(4.0))


# --- outputs: finite, non-negative, infeasible with a reason ------------------------


@pytest.mark.parametrize("change", [{"volume_units": 1e-38}, {"freq_hz": 1e-40},
                                    {"dram_energy_pj_per_byte": 1e38}])
def test_extreme_valid_spec_is_infeasible_not_infinite(change):
    c = hw.evaluate(WL, hw.AsicSpec(16, 16, **change))
    assert not bool(c.feasible)
    assert reason_name(c.extras["infeasible_reason"]) == "non-finite"
    for leaf in jax.tree.leaves(c):
        assert np.all(np.isfinite(np.asarray(leaf)))
    json.dumps(c.summary(), allow_nan=False)  # no Infinity / NaN in JSON
    jitted = jax.jit(lambda s: hw.evaluate(WL, s))(hw.AsicSpec(16, 16, **change))
    assert not bool(jitted.feasible)
    assert all(np.isfinite(v) for v in jitted.summary().values())


def test_guard_reasons_and_identity():
    c = hw.evaluate(WL, hw.AsicSpec(16, 16))
    assert bool(c.feasible) and reason_name(c.extras["infeasible_reason"]) == "none"
    raw = evaluate_asic(WL, hw.AsicSpec(16, 16), hw.dense_compression(3))
    np.testing.assert_array_equal(np.asarray(c.latency_s), np.asarray(raw.latency_s))
    huge = hw.evaluate(WL, hw.AsicSpec(4096, 4096, ifmap_sram_bytes=1e12))  # > a wafer
    assert not bool(huge.feasible)
    assert reason_name(huge.extras["infeasible_reason"]) == "does-not-fit"
    zero = guard(raw.__class__(**{**{f: getattr(raw, f) for f in raw.__dataclass_fields__},
                                  "total_latency_s": jnp.float32(0.0)}))
    assert reason_name(zero.extras["infeasible_reason"]) == "zero-latency"
    assert not bool(zero.feasible)


def _valid(rule, draw):
    lo = 0.0 if rule.min is None else rule.min
    hi = rule.max if rule.max is not None else 1e30
    return draw(st.floats(lo, hi, exclude_min=rule.exclusive, allow_nan=False,
                          allow_infinity=False, allow_subnormal=False))


@st.composite
def valid_asic(draw):
    rules = specio._KINDS["asic"].rules
    kw = {}
    for field, rule in rules.items():
        if not draw(st.booleans()) and field not in ("pe_rows", "pe_cols"):
            continue
        if rule.type == "choice":
            kw[field] = draw(st.sampled_from(rule.choices))
        elif rule.type == "bool":
            kw[field] = float(draw(st.booleans()))
        elif rule.type == "int":
            hi = rule.max if rule.max is not None else 2**20
            kw[field] = float(draw(st.integers(int(rule.min) + rule.exclusive, int(hi))))
        else:
            kw[field] = _valid(rule, draw)
    return hw.AsicSpec(**kw)


@settings(max_examples=60, deadline=None)
@given(spec=valid_asic(), bits=st.floats(1.0, 32.0), density=st.floats(1e-6, 1.0))
def test_valid_specs_give_finite_nonnegative_costs_or_infeasible(spec, bits, density):
    comp = hw.make_compression(3, weight_bits=bits, act_bits=bits, weight_density=density)
    c = hw.evaluate(WL, spec, comp)
    for leaf in jax.tree.leaves(c):
        a = np.asarray(leaf)
        assert np.all(np.isfinite(a))
    for k, v in c.summary().items():
        assert v >= 0, k
    raw = evaluate_asic(WL, spec, comp)
    raw_ok = all(np.isfinite(float(np.asarray(getattr(raw, k))))
                 for k in ("total_latency_s", "total_energy_j", "cost_usd", "power_w"))
    if not raw_ok:
        assert not bool(c.feasible)
