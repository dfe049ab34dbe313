"""DRAM traffic of one layer on an ``AsicSpec``, under a per-layer loop mapping.

Every tensor crosses the DRAM boundary once, plus refetches when a loop that does not
index it runs outside the data it needs to keep on chip. The array runs ``fr x fc``
folds of the dataflow's spatial problem ``Sr x Sc`` (``hw_models.systolic``), each
streaming the temporal dim ``T``. In that frame each operand is indexed by two of the
three dims, and each has exactly one dim it does not depend on:

====  =====================  ================  ==================  ==========
df    S (r, c): stationary   X (r, t)          Y (t, c)            T
====  =====================  ================  ==================  ==========
OS    outputs (irrel. t)     inputs (irr. c)   weights (irr. r)    k
WS    weights (irrel. t)     inputs (irr. c)   outputs (irr. r)    m
IS    inputs (irrel. t)      weights (irr. c)  outputs (irr. r)    n
====  =====================  ================  ==================  ==========

**Rule** (the one every candidate uses): an operand is fetched ``trips`` times, where
``trips`` is the trip count of the loop it does not depend on, unless what it touches
inside one iteration of that loop (its *footprint*) fits its SRAM; then once. When the
operand is the output, its irrelevant dim is the reduction, so a refetch is a partial
sum written out and read back (``2 (trips - 1)`` transfers).

**mapping="scalesim"** (code 0 of ``MAPPING_NAMES``): SCALE-Sim's fixed fold order,
exactly as before this module had a mapper: OS row folds outer (weights per row fold
unless all fit; a row fold's ``R x k`` inputs per column fold), WS / IS column folds
outer (the X operand per column fold unless all of it fits; psums of one column fold,
charged at activation width, per row fold).

**mapping="best"**: per layer, the least-DRAM-bytes of ten candidates (ties: the lower
code; stall cycles follow DRAM bytes, so they tie too). With a temporal tile of ``t``
elements of ``T`` (``nt = ceil(T/t)`` tiles, ``tau = t/T``), ``rho = min(R/Sr, 1)``,
``gamma = min(C/Sc, 1)``, footprints as fractions of ``(r, c, t)``:

===============  ===============  ==============  ==============  =========================
order (outer>)   S, trips nt      X, trips fc     Y, trips fr     tile ``t`` sized so that
===============  ===============  ==============  ==============  =========================
c>t>r            (1, gamma)       (1, 1)          (gamma, tau)    Y fits (c: psums on chip)
r>t>c            (rho, 1)         (rho, tau)      (1, 1)          X fits
t>c>r            (1, 1)           (1, tau)        (gamma, tau)    X, Y or both fit (b)
t>r>c            (1, 1)           (rho, tau)      (1, tau)        X, Y or both fit (b)
===============  ===============  ==============  ==============  =========================

``t>c>r`` with ``t = T`` is "column folds outer" and ``t>r>c`` with ``t = T`` is "row
folds outer" (a); with no tile the S operand never refetches. Each row's DRAM bytes are
piecewise constant in ``t`` with steps only where a footprint crosses its SRAM, and the
S term only falls as ``t`` grows, so the best ``t`` of an order is one of the listed
fit points (or ``T``): the ten candidates are that order's optimum over every ``t``.
Partial sums are tested and spilled at accumulator width (``constants.ACC_BITS``).

**What stays array-dependent: the two stated exceptions** to "a larger array in the
same buffers is never slower and never moves more DRAM bytes"
(``tests/test_asic_mapper.py``; ``benchmarks/validation/asic_mapper_fuzz.py``):

1. *Fill/drain.* Compute cycles are SCALE-Sim's in both modes [A]: a temporal tile
   re-streams folds back to back and its extra fill/preload lines are not charged (as
   in Timeloop / ZigZag, whose latency comes from utilisation, not per-tile pipeline
   fill). SCALE-Sim's ``2R + C`` fill/drain per fold grows with the array, so a larger
   array can be slower on a layer it cannot fill (``Costs.extras["fill_drain_cycles"]``;
   the streaming part ``fr * fc * T`` never grows).
2. *A larger fold slice.* The column-side candidates (``MAPPING_SLICE`` "cols") keep
   slices of one column fold on chip, so their footprints scale with ``C`` and not
   with ``R``; the row-side ones the reverse. Doubling the rows therefore never makes a
   column-side candidate worse (fewer row folds, same footprints), and likewise for
   columns; but when a layer's best mapping keeps a row fold's slice (an ``R x t``
   input slice, an ``R x Sc`` stationary slice), a 2R-row fold needs twice that SRAM,
   and in the same buffers it must re-stream more. Avoiding that would need idle PEs
   (a sub-array mapping), which this model does not consider. The bound
   ``extras["dram_bytes_if_rows_grow"]`` / ``["dram_bytes_if_cols_grow"]`` (the best
   candidate of the other side) caps what the layer can move on any array with more
   rows / columns and the same buffers.

Example:
    >>> import jax.numpy as jnp
    >>> from lepton_codesign import hw_models as hw
    >>> wl = hw.gemm_workload([(256, 256, 256)])
    >>> t = dram_traffic(wl, hw.AsicSpec(16, 16, "ws"), act_bits=8.0, w_bytes=65536.0,
    ...                  i_bytes=65536.0, o_bytes=65536.0, n_eff=wl.n, k_eff=wl.k,
    ...                  fr=jnp.float32(16), fc=jnp.float32(16))
    >>> int(t.dram_bytes[0]), MAPPING_NAMES[int(t.mapping[0])]
    (196608, 'c>r')
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from lepton_codesign.hw_models import _smooth
from lepton_codesign.hw_models import constants as C
from lepton_codesign.hw_models.asic_spec import IS, MAP_SCALESIM, OS, WS, AsicSpec
from lepton_codesign.hw_models.systolic import spatial_map
from lepton_codesign.hw_models.workload import Workload

# Codes reported in ``Costs.extras["mapping"]``; "a>b>c" lists loops outer to inner
# (c: column folds, r: row folds, t: temporal tiles of T), ":x"/":y"/":xy" says which
# footprint the tile was sized to fit.
MAPPING_NAMES = ("scalesim", "c>r", "r>c", "c>t>r", "r>t>c", "t>c>r:x", "t>c>r:y",
                 "t>c>r:xy", "t>r>c:x", "t>r>c:y", "t>r>c:xy")
# Which array dim a candidate's kept slices scale with ("cols": its footprints hold a
# column fold's slice; "rows": a row fold's; "" for the fixed SCALE-Sim order).
MAPPING_SLICE = ("", "cols", "rows", "cols", "rows", "cols", "cols", "cols", "rows", "rows",
                 "rows")


class Traffic(NamedTuple):
    """Per-layer DRAM traffic (bytes per group unless named otherwise).

    Attributes:
        w_dram, i_dram, o_dram: weight / input / output (+ spilled partial sum) bytes.
        dram_bytes: all three, times the layer's groups.
        mapping: code into ``MAPPING_NAMES`` of the loop mapping used (int32).
        bytes_if_rows_grow, bytes_if_cols_grow: ("best" mapping) least ``dram_bytes``
            over the candidates whose on-chip slices do not scale with the rows / the
            columns: what this layer moves at most on an array with more rows / columns
            and the same buffers (module docstring).
    """

    w_dram: jax.Array
    i_dram: jax.Array
    o_dram: jax.Array
    dram_bytes: jax.Array
    mapping: jax.Array | int = 0
    bytes_if_rows_grow: jax.Array | None = None
    bytes_if_cols_grow: jax.Array | None = None


def not_fit(tensor_bytes, sram_bytes, smooth: bool = False):
    """1 when a tensor does not fit its SRAM (smooth: logistic in log-ratio)."""
    return 1.0 - _smooth.step(jnp.log(sram_bytes) - jnp.log(jnp.maximum(tensor_bytes, 1.0)),
                              smooth, width=0.05)


def _scalesim_traffic(wl, spec, *, act_bits, w_bytes, i_bytes, o_bytes, n_eff, fr, fc, smooth):
    """SCALE-Sim's fixed fold order (see module docstring); returns (w, i, o) bytes."""
    ab = act_bits
    rows, cols = spec.pe_rows, spec.pe_cols
    dataflow = jnp.asarray(spec.dataflow, jnp.int32)
    nf_w = not_fit(w_bytes, spec.filter_sram_bytes, smooth)
    is_os, is_ws, is_is = dataflow == OS, dataflow == WS, dataflow == IS
    # WS re-streams the whole input per column fold; OS (row folds outer) re-streams
    # one row fold's input rows (R x k, at most the whole input) per column fold.
    os_rows_bytes = jnp.minimum(jnp.minimum(rows, wl.m) * wl.k * ab / 8.0, i_bytes)
    nf_i = not_fit(jnp.where(is_os, os_rows_bytes, i_bytes), spec.ifmap_sram_bytes, smooth)
    # A partial sum is live only during its column fold (WS: m x C, IS: C x n), charged
    # at activation width in this mode (SCALE-Sim's memory model has no psum width).
    psum_frac = jnp.where(is_ws, jnp.minimum(cols, n_eff) / n_eff,
                          jnp.where(is_is, jnp.minimum(cols, wl.m) / wl.m, 1.0))
    nf_o = not_fit(o_bytes * psum_frac, spec.ofmap_sram_bytes, smooth)
    w_ref = 1.0 + jnp.where(is_os, (fr - 1.0) * nf_w, jnp.where(is_is, (fc - 1.0) * nf_w, 0.0))
    i_ref = 1.0 + jnp.where(is_is, 0.0, (fc - 1.0) * nf_i)
    psum_spill = jnp.where(is_os, 0.0, 2.0 * (fr - 1.0) * nf_o) * o_bytes
    return w_bytes * w_ref, i_bytes * i_ref, o_bytes + psum_spill


def _best_traffic(wl, spec, *, act_bits, w_bytes, i_bytes, o_bytes, n_eff, k_eff, fr, fc,
                  smooth):
    """Least-traffic candidate of ``MAPPING_NAMES[1:]``; returns (w, i, o, code)."""
    df = jnp.asarray(spec.dataflow, jnp.int32)
    is_os, is_ws = df == OS, df == WS
    # Per-layer values get a trailing candidate axis.
    m, k, w_bytes, i_bytes, o_bytes, n_eff, k_eff, fr, fc, act_bits = (
        jnp.asarray(v, jnp.float32)[..., None]
        for v in (wl.m, wl.k, w_bytes, i_bytes, o_bytes, n_eff, k_eff, fr, fc, act_bits))
    sr, sc, t_full = spatial_map(m, k_eff, n_eff, df)
    rho = jnp.minimum(spec.pe_rows / sr, 1.0)
    gamma = jnp.minimum(spec.pe_cols / sc, 1.0)
    p_bytes = o_bytes * C.ACC_BITS / act_bits  # outputs as partial sums

    # Bytes of each tensor's footprint from frame fractions (r, c, t), per dataflow
    # (frame -> (m, k, n): OS r=m c=n t=k; WS r=k c=n t=m; IS r=k c=m t=n). Inputs count
    # im2col elements (a slice of m x k; conservative for a conv's overlapping windows
    # [A]) up to the unique input bytes (``cap=False``: the linear part, to size tiles).
    def fp_in(fr_, fc_, ft_, cap=True):
        fm = jnp.where(is_os, fr_, jnp.where(is_ws, ft_, fc_))
        fk = jnp.where(is_os, ft_, fr_)
        lin = fm * fk * m * k * act_bits / 8.0
        return jnp.minimum(lin, i_bytes) if cap else lin

    def fp_w(fr_, fc_, ft_):
        return w_bytes * jnp.where(is_os, ft_, fr_) * jnp.where(df == IS, ft_, fc_)

    def fp_p(fr_, fc_, ft_):
        fm = jnp.where(is_os, fr_, jnp.where(is_ws, ft_, fc_))
        return p_bytes * fm * jnp.where(df == IS, ft_, fc_)

    # Roles: S = (O, W, I), X = (I, I, W), Y = (W, O, O) for (OS, WS, IS).
    buf_i, buf_w, buf_o = spec.ifmap_sram_bytes, spec.filter_sram_bytes, spec.ofmap_sram_bytes
    fp_s = lambda a, b: jnp.where(is_os, fp_p(a, b, 1.0),  # noqa: E731
                                  jnp.where(is_ws, fp_w(a, b, 1.0), fp_in(a, b, 1.0)))
    fp_x = lambda a, t, cap=True: jnp.where(  # noqa: E731
        df == IS, fp_w(a, 1.0, t), fp_in(a, 1.0, t, cap))
    fp_y = lambda b, t: jnp.where(is_os, fp_w(1.0, b, t), fp_p(1.0, b, t))  # noqa: E731
    buf_s = jnp.where(is_os, buf_o, jnp.where(is_ws, buf_w, buf_i))
    buf_x = jnp.where(df == IS, buf_w, buf_i)
    buf_y = jnp.where(is_os, buf_w, buf_o)
    s_bytes = jnp.where(is_os, o_bytes, jnp.where(is_ws, w_bytes, i_bytes))
    x_bytes = jnp.where(df == IS, w_bytes, i_bytes)
    y_bytes = jnp.where(is_os, w_bytes, o_bytes)

    def tile(fp_at_1, buf, slope=None):
        """Largest tile fraction whose footprint (``slope * tau``, at most
        ``fp_at_1``) fits."""
        slope = fp_at_1 if slope is None else slope
        tau = jnp.where(fp_at_1 <= buf, 1.0, buf / jnp.maximum(slope, 1e-30))
        t = jnp.clip(_smooth.floor(tau * t_full, smooth), 1.0, t_full)
        return t / t_full

    one = jnp.ones_like(rho)
    tx_c = tile(fp_x(one, one), buf_x, fp_x(one, one, cap=False))
    tx_r = tile(fp_x(rho, one), buf_x, fp_x(rho, one, cap=False))
    ty_g, ty_1 = tile(fp_y(gamma, one), buf_y), tile(fp_y(one, one), buf_y)
    # Tile fraction of candidates 1..10 (order of ``MAPPING_NAMES[1:]``).
    taus = jnp.concatenate([one, one, ty_g, tx_r, tx_c, ty_g, jnp.minimum(tx_c, ty_g),
                            tx_r, ty_1, jnp.minimum(tx_r, ty_1)], axis=-1)
    # Per candidate: row folds outside column folds? tile loop between the folds?
    # which footprints the tile was sized to fit (those fit by construction, so they
    # take the hard test: a logistic test at the boundary would read 1/2).
    r_side = jnp.asarray([0, 1, 0, 1, 0, 0, 0, 1, 1, 1], bool)
    mid = jnp.asarray([0, 0, 1, 1, 0, 0, 0, 0, 0, 0], bool)
    x_sized = jnp.asarray([0, 0, 0, 1, 1, 0, 1, 1, 0, 1], bool)
    y_sized = jnp.asarray([0, 0, 1, 0, 0, 1, 1, 0, 1, 1], bool)
    # Footprint = one tile of each loop outside the irrelevant loop, all of each inside.
    s_fp = fp_s(jnp.where(mid & r_side, rho, 1.0), jnp.where(mid & ~r_side, gamma, 1.0))
    x_fp = fp_x(jnp.where(r_side, rho, 1.0), jnp.where(mid & ~r_side, 1.0, taus))
    y_fp = fp_y(jnp.where(r_side, 1.0, gamma), jnp.where(mid & r_side, 1.0, taus))
    nt = _smooth.ceil_div(t_full, jnp.maximum(taus * t_full, 1.0), smooth)
    nf_s = not_fit(s_fp, buf_s, smooth)
    nf_x = jnp.where(x_sized, not_fit(x_fp, buf_x), not_fit(x_fp, buf_x, smooth))
    nf_y = jnp.where(y_sized, not_fit(y_fp, buf_y), not_fit(y_fp, buf_y, smooth))
    # Refetch traffic (module docstring rule); outputs spill psums both ways.
    s_dram = s_bytes + (nt - 1.0) * nf_s * jnp.where(is_os, 2.0 * p_bytes, s_bytes)
    x_dram = x_bytes * (1.0 + (fc - 1.0) * nf_x)
    y_dram = y_bytes + (fr - 1.0) * nf_y * jnp.where(is_os, y_bytes, 2.0 * p_bytes)
    total = s_dram + x_dram + y_dram
    best = jnp.argmin(total, axis=-1)
    # Least traffic over the candidates whose kept slices do not grow with the rows
    # (column side) / with the columns (row side): bounds on a larger array's traffic.
    rows_grow = jnp.min(jnp.where(r_side, jnp.inf, total), axis=-1)
    cols_grow = jnp.min(jnp.where(r_side, total, jnp.inf), axis=-1)
    pick = lambda a: jnp.take_along_axis(a, best[..., None], axis=-1)[..., 0]  # noqa: E731
    s_d, x_d, y_d = pick(s_dram), pick(x_dram), pick(y_dram)
    w = jnp.where(is_os, y_d, jnp.where(is_ws, s_d, x_d))
    i = jnp.where(df == IS, s_d, x_d)
    o = jnp.where(is_os, s_d, y_d)
    return w, i, o, best.astype(jnp.int32) + 1, rows_grow, cols_grow


def dram_traffic(wl: Workload, spec: AsicSpec, *, act_bits, w_bytes, i_bytes, o_bytes, n_eff,
                 k_eff, fr, fc, smooth: bool = False) -> Traffic:
    """DRAM bytes of each layer under the spec's dataflow and mapping (module docstring).

    Args:
        wl: the workload.
        spec: the accelerator (``spec.mapping`` picks "best" or "scalesim").
        act_bits: activation bit-width.
        w_bytes, i_bytes, o_bytes: stored size of one group's weights (compressed when
            the hardware skips zeros), unique inputs and outputs.
        n_eff: output channels after channel pruning.
        k_eff: reduction length as the array folds it (``hw_models.asic``).
        fr, fc: row and column fold counts of the dataflow's spatial mapping.
        smooth: logistic fit tests instead of hard ones (for gradients).

    Returns:
        ``Traffic``.
    """
    kw = dict(act_bits=act_bits, w_bytes=w_bytes, i_bytes=i_bytes, o_bytes=o_bytes,
              n_eff=n_eff, fr=fr, fc=fc, smooth=smooth)
    shape = jnp.broadcast_shapes(jnp.shape(wl.m), jnp.shape(fr), jnp.shape(w_bytes))
    b = [jnp.broadcast_to(jnp.asarray(v, jnp.float32), shape)
         for v in (fr, fc, w_bytes, i_bytes, o_bytes, n_eff, k_eff)]
    kw.update(fr=b[0], fc=b[1], w_bytes=b[2], i_bytes=b[3], o_bytes=b[4], n_eff=b[5])
    sw, si, so = _scalesim_traffic(wl, spec, **kw)
    bw, bi, bo, code, rows_grow, cols_grow = _best_traffic(wl, spec, k_eff=b[6], **kw)
    fixed = jnp.asarray(spec.mapping, jnp.int32) == MAP_SCALESIM
    w_dram, i_dram, o_dram = (jnp.where(fixed, s, v) for s, v in ((sw, bw), (si, bi), (so, bo)))
    code = jnp.where(fixed, 0, code)
    return Traffic(w_dram, i_dram, o_dram, wl.groups * (w_dram + i_dram + o_dram), code,
                   wl.groups * rows_grow, wl.groups * cols_grow)
