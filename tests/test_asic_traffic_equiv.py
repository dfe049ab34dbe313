"""The two-stage ``asic_traffic._best_traffic`` equals the one-pass formulation it replaced.

``reference_best_traffic`` below is the mapper as it was before the throughput work
(commit 18e5c1d): every candidate's refetch terms carried through a chain of selects.
The fast form picks the same candidate and rebuilds its bytes from a packed key; both
are compared on random specs and layers (every dataflow, buffers from 64 B to 128 MiB,
arrays 1..512, GEMMs, convs, grouped matmuls, sparse and narrow operands), per layer:
bytes to 1e-6 relative, the mapping code exactly.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models import _smooth
from lepton_codesign.hw_models import asic_traffic as at
from lepton_codesign.hw_models import constants as C
from lepton_codesign.hw_models.asic_spec import IS, OS, WS
from lepton_codesign.hw_models.systolic import folds, spatial_map

REL = 1e-6


def reference_best_traffic(wl, spec, *, act_bits, w_bytes, i_bytes, o_bytes, n_eff, k_eff, fr,
                           fc, smooth):
    """The one-pass mapper of 18e5c1d (reference only): returns the same tuple."""
    df = jnp.asarray(spec.dataflow, jnp.int32)
    is_os, is_ws = df == OS, df == WS
    m, k = wl.m, wl.k
    sr, sc, t_full = spatial_map(m, k_eff, n_eff, df)
    rho = jnp.minimum(spec.pe_rows / sr, 1.0)
    gamma = jnp.minimum(spec.pe_cols / sc, 1.0)
    p_bytes = o_bytes * C.ACC_BITS / act_bits
    in_lin = m * k * act_bits / 8.0
    lin_s = jnp.where(is_os, p_bytes, jnp.where(is_ws, w_bytes, in_lin))
    cap_s = jnp.where(is_os | is_ws, jnp.inf, i_bytes)
    lin_x = jnp.where(df == IS, w_bytes, in_lin)
    cap_x = jnp.where(df == IS, jnp.inf, i_bytes)
    lin_y = jnp.where(is_os, w_bytes, p_bytes)
    buf_s = jnp.where(is_os, spec.ofmap_sram_bytes,
                      jnp.where(is_ws, spec.filter_sram_bytes, spec.ifmap_sram_bytes))
    buf_x = jnp.where(df == IS, spec.filter_sram_bytes, spec.ifmap_sram_bytes)
    buf_y = jnp.where(is_os, spec.filter_sram_bytes, spec.ofmap_sram_bytes)
    s_bytes = jnp.where(is_os, o_bytes, jnp.where(is_ws, w_bytes, i_bytes))
    x_bytes = jnp.where(df == IS, w_bytes, i_bytes)
    y_bytes = jnp.where(is_os, w_bytes, o_bytes)
    x_per_t, y_per_t = lin_x / t_full, lin_y / t_full

    def tile(per_t, cap, buf):
        t = jnp.clip(_smooth.floor(buf / jnp.maximum(per_t, 1e-30), smooth), 1.0, t_full)
        return jnp.where(jnp.minimum(per_t * t_full, cap) <= buf, t_full, t)

    tiles = {"1": t_full, "tx_c": tile(x_per_t, cap_x, buf_x),
             "tx_r": tile(x_per_t * rho, cap_x, buf_x),
             "ty_g": tile(y_per_t * gamma, jnp.inf, buf_y), "ty_1": tile(y_per_t, jnp.inf, buf_y)}
    nts = {key: _smooth.ceil_div(t_full, t, smooth) for key, t in tiles.items() if key != "1"}
    p_spill = 2.0 * p_bytes
    s_more = {key: (nt - 1.0) * jnp.where(is_os, p_spill, s_bytes) for key, nt in nts.items()}
    x_more = (fc - 1.0) * x_bytes
    y_more = (fr - 1.0) * jnp.where(is_os, y_bytes, p_spill)

    def refetch(fp, buf, more, smooth_test):
        if smooth_test:
            return at.not_fit(fp, buf, True) * more
        return jnp.where(jnp.maximum(fp, 1.0) > buf, more, 0.0)

    s_fp = {(False, False): jnp.minimum(lin_s, cap_s),
            (True, True): jnp.minimum(lin_s * rho, cap_s),
            (False, True): jnp.minimum(lin_s * gamma, cap_s)}
    best = None
    rows_grow = cols_grow = jnp.inf
    for code, (r_side, mid, tau_key, x_sized, y_sized) in enumerate(at._CANDIDATES, start=1):
        t = tiles[tau_key]
        x_fp = jnp.minimum((x_per_t * rho if r_side else x_per_t)
                           * (t_full if (mid and not r_side) else t), cap_x)
        y_fp = (y_per_t if r_side else y_per_t * gamma) * (t_full if (mid and r_side) else t)
        ext_x = refetch(x_fp, buf_x, x_more, smooth and not x_sized)
        ext_y = refetch(y_fp, buf_y, y_more, smooth and not y_sized)
        ext_s = jnp.zeros_like(ext_x)
        if tau_key != "1":
            ext_s = refetch(s_fp[(r_side and mid, mid)], buf_s, s_more[tau_key], smooth)
        ext = ext_s + ext_x + ext_y
        if r_side:
            cols_grow = jnp.minimum(cols_grow, ext)
        else:
            rows_grow = jnp.minimum(rows_grow, ext)
        if best is None:
            best = (ext, ext_s, ext_x, ext_y, jnp.full(jnp.shape(ext), code, jnp.int32))
        else:
            better = ext < best[0]
            best = tuple(jnp.where(better, new, old)
                         for new, old in zip((ext, ext_s, ext_x, ext_y, code), best,
                                             strict=True))
    base = s_bytes + x_bytes + y_bytes
    rows_grow, cols_grow = base + rows_grow, base + cols_grow
    _, s_d, x_d, y_d, codes = best
    s_d, x_d, y_d = s_bytes + s_d, x_bytes + x_d, y_bytes + y_d
    w = jnp.where(is_os, y_d, jnp.where(is_ws, s_d, x_d))
    i = jnp.where(df == IS, s_d, x_d)
    o = jnp.where(is_os, s_d, y_d)
    return w, i, o, codes, rows_grow, cols_grow


def random_workload(rng) -> hw.Workload:
    """Twelve layers: GEMMs from 1x1x1 to 4096^3-ish, convs (strided, 1x1), grouped."""
    layers = []
    for i in range(6):
        m, k, n = (int(v) for v in np.exp(rng.uniform(0.0, np.log(4096), 3)).round())
        layers.append({"name": f"fc{i}", "kind": "dense", "m": max(m, 1), "k": max(k, 1),
                       "n": max(n, 1)})
    for i in range(4):
        size, kernel = int(rng.integers(1, 64)), int(rng.choice([1, 3, 5]))
        layers.append(hw.conv_layer(f"conv{i}", (size + kernel, size + kernel),
                                    int(rng.integers(1, 256)), int(rng.integers(1, 512)),
                                    (kernel, kernel), stride=int(rng.choice([1, 2]))))
    for i in range(2):
        layers.append({"name": f"mm{i}", "kind": "matmul", "m": int(rng.integers(1, 512)),
                       "k": int(rng.integers(1, 256)), "n": int(rng.integers(1, 512)),
                       "groups": int(rng.integers(1, 16))})
    return hw.make_workload(layers)


def random_specs(rng, n: int) -> hw.AsicSpec:
    """``n`` specs as one batched pytree (every leaf with a leading axis ``n``)."""
    def log_uniform(lo, hi):
        return jnp.asarray(np.exp(rng.uniform(np.log(lo), np.log(hi), n)), jnp.float32)

    spec = hw.AsicSpec(
        pe_rows=jnp.asarray(rng.integers(1, 513, n), jnp.float32),
        pe_cols=jnp.asarray(rng.integers(1, 513, n), jnp.float32),
        dataflow=jnp.asarray(rng.integers(0, 3, n), jnp.int32),
        freq_hz=jnp.full(n, 1e9, jnp.float32),
        ifmap_sram_bytes=log_uniform(64.0, 2.0**27),
        filter_sram_bytes=log_uniform(64.0, 2.0**27),
        ofmap_sram_bytes=log_uniform(64.0, 2.0**27))
    return jax.tree.map(lambda x: jnp.broadcast_to(jnp.asarray(x), (n,) + jnp.shape(x)[1:])
                        if jnp.ndim(x) == 0 else x, spec)


def traffic_inputs(wl, spec, w_bits, act_bits, w_density, k_scale):
    """The keyword arguments ``asic.evaluate_asic`` passes (sparse, packed operands)."""
    n_eff = jnp.maximum(jnp.ceil(wl.n * w_density), 1.0)
    k_eff = jnp.maximum(jnp.ceil(wl.k * k_scale), 1.0)
    fr, fc = folds(wl.m, k_eff, n_eff, spec.pe_rows, spec.pe_cols, spec.dataflow)
    return dict(act_bits=act_bits, w_bytes=wl.k * n_eff * w_bits / 8.0,
                i_bytes=jnp.minimum(wl.input_elems / wl.groups, wl.m * wl.k) * act_bits / 8.0,
                o_bytes=wl.output_elems / wl.groups * n_eff / wl.n * act_bits / 8.0,
                n_eff=n_eff, k_eff=k_eff, fr=fr, fc=fc)


def both(wl, specs, layer_args, smooth=False, monkeypatch=None):
    """(fast, reference) ``Traffic`` of every spec of the batch."""
    def run(spec):
        kw = traffic_inputs(wl, spec, *layer_args)
        return at.dram_traffic(wl, spec, smooth=smooth, **kw)

    fast = jax.jit(jax.vmap(run))(specs)
    monkeypatch.setattr(at, "_best_traffic", reference_best_traffic)
    ref = jax.jit(jax.vmap(run))(specs)
    monkeypatch.undo()
    return fast, ref


def assert_same(fast, ref, rel=REL):
    for name in ("w_dram", "i_dram", "o_dram", "dram_bytes", "bytes_if_rows_grow",
                 "bytes_if_cols_grow"):
        np.testing.assert_allclose(np.asarray(getattr(fast, name)),
                                   np.asarray(getattr(ref, name)), rtol=rel, err_msg=name)
    np.testing.assert_array_equal(np.asarray(fast.mapping), np.asarray(ref.mapping))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_mapper_equals_reference_on_random_specs_and_layers(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    wl = random_workload(rng)
    nl = wl.num_layers
    layer_args = (jnp.asarray(rng.choice([2.0, 4.0, 8.0, 16.0], nl), jnp.float32),
                  jnp.asarray(rng.choice([4.0, 8.0, 16.0], nl), jnp.float32),
                  jnp.asarray(rng.uniform(0.05, 1.0, nl), jnp.float32),
                  jnp.asarray(rng.choice([0.25, 0.5, 1.0, 2.0], nl), jnp.float32))
    fast, ref = both(wl, random_specs(rng, 4000), layer_args, monkeypatch=monkeypatch)
    assert_same(fast, ref)
    # the comparison is not vacuous: every candidate wins somewhere, and refetches happen
    codes = set(np.unique(np.asarray(fast.mapping)).tolist())
    assert codes == set(range(1, 9)) or len(codes) >= 6, codes


def test_fast_mapper_equals_reference_when_everything_fits_or_nothing_does(monkeypatch):
    # ties everywhere (all candidates move each tensor once) and tiny buffers (every
    # footprint spills, tiles of one element).
    rng = np.random.default_rng(7)
    wl = random_workload(rng)
    specs = random_specs(rng, 600)
    ones = jnp.ones(wl.num_layers, jnp.float32)
    layer_args = (8.0 * ones, 8.0 * ones, ones, ones)
    for sram in (2.0**30, 1.0, 0.5):
        sized = specs.replace(ifmap_sram_bytes=jnp.full_like(specs.pe_rows, sram),
                              filter_sram_bytes=jnp.full_like(specs.pe_rows, sram),
                              ofmap_sram_bytes=jnp.full_like(specs.pe_rows, sram))
        fast, ref = both(wl, sized, layer_args, monkeypatch=monkeypatch)
        assert_same(fast, ref)


def test_smooth_mapper_equals_reference(monkeypatch):
    rng = np.random.default_rng(3)
    wl = random_workload(rng)
    ones = jnp.ones(wl.num_layers, jnp.float32)
    fast, ref = both(wl, random_specs(rng, 300), (8.0 * ones, 8.0 * ones, ones, ones),
                     smooth=True, monkeypatch=monkeypatch)
    assert_same(fast, ref, rel=1e-5)


def test_evaluate_equals_reference_end_to_end(mixed_workload, monkeypatch):
    specs = random_specs(np.random.default_rng(11), 200)
    cp = hw.dense_compression(mixed_workload.num_layers)

    def run(spec):
        return hw.asic.evaluate_asic(mixed_workload, spec, cp, growth_bounds=True)

    fast = jax.jit(jax.vmap(run))(specs)
    monkeypatch.setattr(at, "_best_traffic", reference_best_traffic)
    ref = jax.jit(jax.vmap(run))(specs)
    for name in ("latency_s", "energy_j", "dram_bytes", "cycles", "total_latency_s",
                 "total_energy_j"):
        np.testing.assert_allclose(np.asarray(getattr(fast, name)),
                                   np.asarray(getattr(ref, name)), rtol=REL, err_msg=name)
    for key in ("mapping", "dram_bytes_if_rows_grow", "dram_bytes_if_cols_grow"):
        np.testing.assert_allclose(np.asarray(fast.extras[key]), np.asarray(ref.extras[key]),
                                   rtol=REL, err_msg=key)
