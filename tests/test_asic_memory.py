"""The ASIC memory hierarchy: per-PE register files over the three SRAMs.

Each cost term and invariant of ``hw_models.asic_memory`` / ``asic_energy`` on its own:
the default spec reproduces the three-buffer model, RF reuse never adds SRAM traffic,
energies stay finite and non-negative and grow with any level's energy per byte, jit /
vmap agree with eager, and one tiny GEMM whose accesses are counted by hand.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models import asic_memory as mem
from lepton_codesign.hw_models import constants as C
from lepton_codesign.hw_models import systolic
from lepton_codesign.hw_models.asic import asic_area_mm2
from lepton_codesign.hw_models.asic_energy import (
    onchip_energy_j,
    onchip_split_j,
    reference_energy_pj,
)
from lepton_codesign.hw_models.asic_spec import DATAFLOWS, ENERGY_OVERRIDES, IS, OS, WS
from lepton_codesign.hw_models.asic_traffic import Traffic, dram_traffic
from lepton_codesign.hw_models.specio import SpecError, preset, preset_names, spec_from_dict

REL = 1e-5
RF_FIELDS = ("rf_weight_bytes", "rf_input_bytes", "rf_psum_bytes")


def _old_sram_energy_j(wl, spec, *, act_bits, w_bytes, k_streamed, n_eff, fr, fc, traffic):
    """Reference: the three-buffer SRAM energy as it was before the RF level (commit
    2d02ef2, ``asic_energy.sram_energy_j``), restated here so the default can be checked
    against it."""
    df = int(spec.dataflow)
    mk, mn = wl.m * k_streamed, wl.m * n_eff
    if_b = (mk if df == IS else mk * fc) * act_bits / 8.0
    fil_b = (fr if df == OS else 1.0 if df == WS else fc) * w_bytes
    of_b = mn * act_bits / 8.0 + (0.0 if df == OS else 2.0 * (fr - 1.0)) * mn * C.ACC_BITS / 8.0
    e_if = C.sram_energy_pj_per_byte(spec.ifmap_sram_bytes, spec.node_nm)
    e_fil = C.sram_energy_pj_per_byte(spec.filter_sram_bytes, spec.node_nm)
    e_of = C.sram_energy_pj_per_byte(spec.ofmap_sram_bytes, spec.node_nm)
    reads = if_b * e_if + fil_b * e_fil + of_b * e_of
    fills = traffic.w_dram * e_fil + traffic.i_dram * e_if + traffic.o_dram * e_of
    return wl.groups * 1e-12 * (reads + fills)


def _layer(m, k, n):
    return hw.gemm_workload([(m, k, n)])


def _onchip(wl, spec, fr, fc, traffic=None, w_bits=8.0, act_bits=8.0):
    w_bytes = wl.k * wl.n * w_bits / 8.0
    traffic = traffic or Traffic(*(jnp.float32(1000.0),) * 3, jnp.float32(3000.0))
    return onchip_energy_j(wl, spec, act_bits=act_bits, w_bytes=w_bytes, k_streamed=wl.k,
                           n_eff=wl.n, fr=jnp.float32(fr), fc=jnp.float32(fc), traffic=traffic)


shapes = st.tuples(st.integers(1, 300), st.integers(1, 300), st.integers(1, 300))
folds = st.tuples(st.integers(1, 64), st.integers(1, 64))
rf_bytes = st.sampled_from([0.0, 1.0, 2.0, 4.0, 16.0, 48.0, 64.0, 448.0, 4096.0])


# --------------------------------------------------------------------- default = old model
@given(shape=shapes, fl=folds, df=st.sampled_from(DATAFLOWS),
       size=st.floats(1024.0, 2.0**22), node=st.floats(5.0, 90.0))
def test_default_spec_is_the_three_buffer_model(shape, fl, df, size, node):
    wl = _layer(*shape)
    spec = hw.AsicSpec(16, 16, df, ifmap_sram_bytes=size, filter_sram_bytes=size / 2,
                       ofmap_sram_bytes=size * 2, node_nm=node)
    t = Traffic(*(jnp.float32(777.0),) * 3, jnp.float32(2331.0))
    new = _onchip(wl, spec, *fl, traffic=t)
    old = _old_sram_energy_j(wl, spec, act_bits=8.0, w_bytes=wl.k * wl.n, k_streamed=wl.k,
                             n_eff=wl.n, fr=float(fl[0]), fc=float(fl[1]), traffic=t)
    np.testing.assert_allclose(new.total_j, old, rtol=1e-6)
    assert float(new.rf_j[0]) == 0.0


def test_every_preset_unchanged_by_explicit_defaults(mixed_workload):
    # Stating the hierarchy's defaults (no RF, size-law energies) changes nothing, bit
    # for bit, in any preset; area and extras["energy_rf_j"] included.
    for name in preset_names():
        spec = preset(name)
        if not isinstance(spec, hw.AsicSpec):
            continue
        explicit = spec.replace(**dict.fromkeys(RF_FIELDS, 0.0),
                                **dict.fromkeys(ENERGY_OVERRIDES))
        a, b = hw.evaluate(mixed_workload, spec), hw.evaluate(mixed_workload, explicit)
        for f in ("energy_j", "energy_sram_j", "area_mm2", "latency_s"):
            np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f"{name} {f}")
        assert np.all(np.asarray(onchip_split_j(mixed_workload, spec).rf_j) == 0.0), name


# --------------------------------------------------------------------- RF reuse
@pytest.mark.parametrize("order", mem.ORDERS)
@given(shape=shapes, fl=folds, df=st.sampled_from(DATAFLOWS), small=st.tuples(*[rf_bytes] * 3),
       grow=st.tuples(*[st.sampled_from([1.0, 2.0, 3.0, 10.0])] * 3))
def test_more_rf_never_more_sram_bytes(order, shape, fl, df, small, grow):
    wl = _layer(*shape)
    kw = dict(m=wl.m, k_s=wl.k, n=wl.n, w_bytes=wl.k * wl.n, act_bits=8.0,
              fr=jnp.float32(fl[0]), fc=jnp.float32(fl[1]), order=order)
    a = hw.AsicSpec(8, 8, df, **dict(zip(RF_FIELDS, small, strict=True)))
    # Grow the stationary operand's RF (the one that buys fold reuse); psum RF grows in
    # OS where it is the stationary one.
    stat = {OS: "rf_psum_bytes", WS: "rf_weight_bytes", IS: "rf_input_bytes"}[int(a.dataflow)]
    b = a.replace(**{stat: getattr(a, stat) * grow[0] + grow[1]})
    lo, hi = mem.level_bytes(b, **kw), mem.level_bytes(a, **kw)
    for f in ("sram_w_rd", "sram_i_rd", "sram_o_rd", "sram_o_wr"):
        assert float(getattr(lo, f)[0]) <= float(getattr(hi, f)[0]) * (1 + REL), f


@given(shape=shapes, fl=folds, df=st.sampled_from(DATAFLOWS), base=st.sampled_from([1.0, 4.0,
       64.0]), grow=st.floats(1.0, 64.0))
# found by hypothesis: a 2x psum RF turned the OS row-first block (9, 1) into (9, 2),
# giving up the weight reuse of 9 row folds (fixed by the "rows-only" candidate)
@example(shape=(1, 1, 6), fl=(9, 2), df="os", base=64.0, grow=2.0)
def test_larger_stationary_rf_never_costs_energy(shape, fl, df, base, grow):
    # With fixed per-byte energies, a larger RF only adds blockings to choose from.
    wl = _layer(*shape)
    energies = dict.fromkeys(ENERGY_OVERRIDES, 1.0)
    a = hw.AsicSpec(8, 8, df, **dict.fromkeys(RF_FIELDS, base), **energies)
    stat = {OS: "rf_psum_bytes", WS: "rf_weight_bytes", IS: "rf_input_bytes"}[int(a.dataflow)]
    b = a.replace(**{stat: base * grow})
    ea, eb = _onchip(wl, a, *fl), _onchip(wl, b, *fl)
    assert float(eb.total_j[0]) <= float(ea.total_j[0]) * (1 + REL)


def test_rf_entries_and_blocking_rules():
    spec = hw.AsicSpec(4, 4, "ws", rf_weight_bytes=64.0, rf_psum_bytes=16.0)
    e_w, e_i, e_p = (float(x) for x in mem.rf_entries(spec, 1.0, 1.0))
    assert (e_w, e_i, e_p) == (64.0, 1.0, 4.0)  # 64 B / 1 B, no RF -> 1, 16 B / 4 B (ACC)
    # WS rows first: all 36 reduction folds, then floor(64 / 36) = 1 column fold.
    assert [float(b) for b in mem.blocking(64.0, 4.0, 36.0, 10.0, WS, "rows")] == [36.0, 1.0]
    # columns first: b_c limited by the 4 accumulators, then floor(64 / 4) = 16 rows.
    assert [float(b) for b in mem.blocking(64.0, 4.0, 36.0, 10.0, WS, "cols")] == [16.0, 4.0]
    # OS: both blocks share the psum RF: 6 entries, 2 column folds -> 3 row folds.
    assert [float(b) for b in mem.blocking(6.0, 6.0, 8.0, 2.0, OS, "cols")] == [3.0, 2.0]
    with pytest.raises(ValueError, match="allowed"):
        mem.blocking(1.0, 1.0, 1.0, 1.0, WS, "diagonal")


# --------------------------------------------------------------------- energies
@st.composite
def hierarchy_specs(draw):
    # All overrides set or none (two pytree structures, so the jitted evaluator compiles
    # twice, not once per None pattern).
    stated = draw(st.booleans())
    over = {f: draw(st.floats(0.0, 200.0)) if stated else None for f in ENERGY_OVERRIDES}
    return hw.AsicSpec(
        pe_rows=float(draw(st.integers(1, 128))), pe_cols=float(draw(st.integers(1, 128))),
        dataflow=draw(st.sampled_from(DATAFLOWS)),
        ifmap_sram_bytes=draw(st.floats(64.0, 2.0**24)),
        filter_sram_bytes=draw(st.floats(64.0, 2.0**24)),
        ofmap_sram_bytes=draw(st.floats(64.0, 2.0**24)),
        node_nm=draw(st.floats(3.0, 180.0)),
        **{f: draw(st.one_of(rf_bytes, st.floats(0.0, 2.0**20))) for f in RF_FIELDS}, **over)


@pytest.mark.parametrize("smooth", [False, True])
@given(spec=hierarchy_specs())
def test_energy_finite_and_nonnegative(jit_evaluate, mixed_workload, smooth, spec):
    c = jit_evaluate(mixed_workload, spec, smooth=smooth)
    for arr in (c.energy_j, c.energy_sram_j, c.area_mm2):
        assert np.all(np.isfinite(arr)) and np.all(np.asarray(arr) >= 0)


@given(spec=hierarchy_specs(), field=st.sampled_from(ENERGY_OVERRIDES),
       scale=st.floats(1.0, 40.0))  # 200 pJ/B x 40 stays within the 1e4 pJ/B rule
def test_higher_energy_per_byte_never_lowers_energy(jit_evaluate, mixed_workload, spec, field,
                                                    scale):
    base = spec.replace(**{f: (1.0 if getattr(spec, f) is None else getattr(spec, f))
                           for f in ENERGY_OVERRIDES})
    dearer = base.replace(**{field: getattr(base, field) * scale})
    lo = jit_evaluate(mixed_workload, base).energy_j
    hi = jit_evaluate(mixed_workload, dearer).energy_j
    assert np.all(np.asarray(hi) >= np.asarray(lo) * (1 - REL))


def test_default_energies_follow_their_laws():
    spec = hw.AsicSpec(8, 8, node_nm=45.0, ifmap_sram_bytes=8192.0)
    e = mem.level_energies_pj_per_byte(spec)
    # Eyeriss: RF access = one 16-bit MAC at 45 nm, per byte: (0.2 * 4 + 0.03 * 2) / 2.
    assert float(e["rf_w_rd"]) == pytest.approx(0.43, rel=1e-6)
    assert float(e["sram_i_rd"]) == pytest.approx(10.0 / 8.0, rel=1e-6)  # Horowitz 8 KB
    assert float(e["sram_i_wr"]) == float(e["sram_i_rd"])  # no write override: = read


def test_rf_area_is_pes_times_bits_times_cell():
    base = hw.AsicSpec(10, 20, node_nm=28.0)
    rf = base.replace(rf_weight_bytes=100.0, rf_psum_bytes=28.0)
    cell = float(C.sram_cell_um2(28.0)) * C.RF_CELL_AREA_FACTOR / C.SRAM_ARRAY_EFFICIENCY
    extra_mm2 = 200 * 128 * 8 * cell * C.CHIP_OVERHEAD_FACTOR / 1e6
    got = float(asic_area_mm2(rf)) - float(asic_area_mm2(base))
    assert got == pytest.approx(extra_mm2, rel=1e-4)


# --------------------------------------------------------------------- transforms
def _rf_batch(n=4):
    rng = np.random.default_rng(0)
    return [hw.AsicSpec(16.0, 8.0, "ws", rf_weight_bytes=float(w), rf_input_bytes=float(i),
                        rf_psum_bytes=float(p), rf_weight_pj_per_byte=float(e))
            for w, i, p, e in zip(rng.choice([0, 16, 64, 448], n), rng.choice([0, 24, 64], n),
                                  rng.choice([0, 2, 48], n), rng.uniform(0.1, 2.0, n),
                                  strict=True)]


def test_jit_equals_eager(mixed_workload):
    for spec in _rf_batch():
        eager = hw.evaluate(mixed_workload, spec)
        jitted = jax.jit(hw.evaluate)(mixed_workload, spec)
        np.testing.assert_allclose(jitted.energy_j, eager.energy_j, rtol=1e-6)
        np.testing.assert_allclose(jitted.energy_sram_j, eager.energy_sram_j, rtol=1e-6)


def test_vmap_equals_loop(mixed_workload):
    specs = _rf_batch(6)
    batch = jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x, jnp.float32) for x in xs]),
                         *specs)
    out = jax.vmap(lambda s: hw.evaluate(mixed_workload, s).energy_j)(batch)
    loop = np.stack([np.asarray(hw.evaluate(mixed_workload, s).energy_j) for s in specs])
    np.testing.assert_allclose(out, loop, rtol=1e-6)


# --------------------------------------------------------------------- pinned case
def test_pinned_tiny_gemm_counted_by_hand():
    """Golden case, counted by hand (not copied from the code's output).

    GEMM m=2, k=4, n=4 on a 2x2 weight-stationary array, 8-bit operands, 32-bit
    partial sums; each PE has a 2-byte weight RF (2 weights), no input or psum RF.
    Folds: fr = k/2 = 2 (reduction), fc = n/2 = 2. Every level costs 1 pJ/B read and
    written; no DRAM traffic. MACs = 2*4*4 = 32.

    * no blocking (SCALE-Sim order): inputs read fc=2 times: 2*4*2 = 16 B; weights once:
      16 B; partial sums 1 extra row fold: read 2*4*4 = 32 B, write 32 + 8 (final) =
      40 B -> SRAM 104 pJ. Weight RF: each weight loaded (16 B written) and read once
      into the MAC register (16 B): 32 pJ. Total 136 pJ.
    * rows first: b_r = min(2, fr) = 2 -> both reduction folds in the PE, no psum
      round trip; b_c = floor(2/2) = 1. SRAM: 16 + 16 + 0 + 8 = 40 pJ. Weight RF:
      weights now change every MAC: 32 B read + 16 B written = 48 pJ. Total 88 pJ.
    * columns first: b_c <= 1 accumulator -> 1, b_r = 2: the same as rows first.

    The cheapest, 88 pJ = 40 pJ SRAM + 48 pJ RF, is taken.
    """
    wl = _layer(2, 4, 4)
    spec = hw.AsicSpec(2, 2, "ws", rf_weight_bytes=2.0, **dict.fromkeys(ENERGY_OVERRIDES, 1.0))
    zero = Traffic(*(jnp.float32(0.0),) * 4)
    e = _onchip(wl, spec, 2, 2, traffic=zero)
    assert float(e.sram_j[0]) == pytest.approx(40e-12)
    assert float(e.rf_j[0]) == pytest.approx(48e-12)
    assert float(e.total_j[0]) == pytest.approx(88e-12)
    none = mem.level_bytes(spec, m=2.0, k_s=4.0, n=4.0, w_bytes=16.0, act_bits=8.0, fr=2.0,
                           fc=2.0, order="none")
    assert [float(x) for x in none] == [16.0, 16.0, 32.0, 40.0, 16.0, 16.0, 0, 0, 0, 0]


# --------------------------------------------------------------------- spec files
def test_spec_file_takes_the_hierarchy_and_refuses_bad_values():
    base = {"version": 1, "kind": "asic", "pe_rows": 12, "pe_cols": 14, "dataflow": "ws",
            "freq_hz": 2e8}
    spec = spec_from_dict({**base, "rf_weight_bytes": 448, "rf_psum_bytes": 48,
                           "rf_weight_pj_per_byte": 1.0, "ofmap_sram_write_pj_per_byte": 2.7})
    assert float(spec.rf_weight_bytes) == 448.0 and spec.rf_input_pj_per_byte is None
    for key, bad in (("rf_input_bytes", -1), ("rf_psum_bytes", math.nan),
                     ("rf_weight_pj_per_byte", math.inf), ("filter_sram_pj_per_byte", -0.5),
                     ("rf_weight_bytes", "big")):
        with pytest.raises(SpecError, match=key):
            spec_from_dict({**base, key: bad})
    with pytest.raises(ValueError, match="rf_psum_write_pj_per_byte"):
        hw.AsicSpec(8, 8, rf_psum_write_pj_per_byte=float("nan"))


# --------------------------------------------------------------------- fused == reference
@given(shape=shapes, fl=folds, df=st.sampled_from(DATAFLOWS), rfs=st.tuples(*[rf_bytes] * 3),
       energies=st.lists(st.floats(0.01, 50.0), min_size=12, max_size=12))
def test_fused_energy_equals_per_level_reference(shape, fl, df, rfs, energies):
    # onchip_energy_j computes in fused form what level_bytes x energies gives per level.
    wl = _layer(*shape)
    spec = hw.AsicSpec(8, 8, df, **dict(zip(RF_FIELDS, rfs, strict=True)),
                       **dict(zip(ENERGY_OVERRIDES, energies, strict=True)))
    t = Traffic(*(jnp.float32(500.0),) * 3, jnp.float32(1500.0))
    got = _onchip(wl, spec, *fl, traffic=t)
    ref = reference_energy_pj(wl, spec, act_bits=8.0, w_bytes=wl.k * wl.n, k_streamed=wl.k,
                              n_eff=wl.n, fr=jnp.float32(fl[0]), fc=jnp.float32(fl[1]), traffic=t)
    totals = {o: float(s[0] + r[0]) for o, (s, r) in ref.items()}
    best = min(totals.values())
    np.testing.assert_allclose(float(got.total_j[0]), best * 1e-12, rtol=1e-5)
    # the split is that of a cheapest candidate
    assert any(abs(float(got.rf_j[0]) - float(r[0]) * 1e-12) <= 1e-5 * best * 1e-12 + 1e-30
               for o, (s, r) in ref.items() if totals[o] <= best * (1 + 1e-5))


def test_split_matches_direct_onchip_energy():
    wl = _layer(64, 96, 80)
    spec = hw.AsicSpec(8, 8, "ws", rf_weight_bytes=16.0, rf_psum_bytes=8.0,
                       rf_input_bytes=4.0)
    split = onchip_split_j(wl, spec)
    c = hw.evaluate(wl, spec)
    np.testing.assert_allclose(split.total_j, c.energy_sram_j, rtol=1e-6)
    assert float(split.rf_j[0]) > 0 and float(split.sram_j[0]) > 0
    # ... and equals the direct call with evaluate's inputs (dense 8-bit GEMM: k_eff = k)
    fr, fc = systolic.folds(wl.m, wl.k, wl.n, 8.0, 8.0, spec.dataflow, False)
    t = dram_traffic(wl, spec, act_bits=8.0, w_bytes=wl.k * wl.n, i_bytes=wl.m * wl.k,
                     o_bytes=wl.m * wl.n, n_eff=wl.n, k_eff=wl.k, fr=fr, fc=fc)
    direct = onchip_energy_j(wl, spec, act_bits=8.0, w_bytes=wl.k * wl.n, k_streamed=wl.k,
                             n_eff=wl.n, fr=fr, fc=fc, traffic=t)
    np.testing.assert_allclose(split.rf_j, direct.rf_j, rtol=1e-5)
    np.testing.assert_allclose(split.sram_j, direct.sram_j, rtol=1e-5)
