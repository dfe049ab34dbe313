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

**mapping="best"**: per layer, the least-DRAM-bytes of eight candidates (ties: the lower
code; stall cycles follow DRAM bytes, so they tie too). With a temporal tile of ``t``
elements of ``T`` (``nt = ceil(T/t)`` tiles, ``tau = t/T``), ``rho = min(R/Sr, 1)``,
``gamma = min(C/Sc, 1)``, footprints as fractions of ``(r, c, t)``:

===============  ===============  ==============  ==============  =========================
order (outer>)   S, trips nt      X, trips fc     Y, trips fr     tile ``t`` sized so that
===============  ===============  ==============  ==============  =========================
c>t>r            (1, gamma)       (1, 1)          (gamma, tau)    Y fits (c: psums on chip)
r>t>c            (rho, 1)         (rho, tau)      (1, 1)          X fits
t>c>r            (1, 1)           (1, tau)        (gamma, tau)    X fits, or Y fits (b)
t>r>c            (1, 1)           (rho, tau)      (1, tau)        X fits, or Y fits (b)
===============  ===============  ==============  ==============  =========================

``t>c>r`` with ``t = T`` is "column folds outer" and ``t>r>c`` with ``t = T`` is "row
folds outer" (a); with no tile the S operand never refetches. In each row the X and Y
terms step up only where a footprint crosses its SRAM, and the S term only falls as
``t`` grows, so the best ``t`` of an order is ``T`` or the largest ``t`` at which one of
its tile-dependent footprints fits (at the smaller of the X and Y fit points both fit,
which is the same candidate as that point's own): the eight candidates are each order's
optimum over every ``t``.
Partial sums are tested and spilled at accumulator width (``constants.ACC_BITS``).
The search runs once per layer and design in one fused pass that keeps only the
winner's code, refetch flags and S pass count (one int32); the bytes are rebuilt from
it (``_best_traffic``: the same floats as evaluating every candidate's terms in full,
``tests/test_asic_traffic_equiv.py``): 1.3-3.8x the one-pass form's throughput of
``evaluate``, measured on a loaded machine (``benchmarks/README.md``).

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
# (c: column folds, r: row folds, t: temporal tiles of T), ":x"/":y" says which
# footprint the tile was sized to fit.
MAPPING_NAMES = ("scalesim", "c>r", "r>c", "c>t>r", "r>t>c", "t>c>r:x", "t>c>r:y",
                 "t>r>c:x", "t>r>c:y")
# Which array dim a candidate's kept slices scale with ("cols": its footprints hold a
# column fold's slice; "rows": a row fold's; "" for the fixed SCALE-Sim order).
MAPPING_SLICE = ("", "cols", "rows", "cols", "rows", "cols", "cols", "rows", "rows")
# Candidates 1..8 of ``MAPPING_NAMES``: (row folds outside column folds, tile loop
# between the fold loops, tile size (key of ``_best_traffic``'s tiles), tile sized for X,
# tile sized for Y).
_CANDIDATES = (
    (False, False, "1", False, False), (True, False, "1", False, False),
    (False, True, "ty_g", False, True), (True, True, "tx_r", True, False),
    (False, False, "tx_c", True, False), (False, False, "ty_g", False, True),
    (True, False, "tx_r", True, False), (True, False, "ty_1", False, True),
)


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
    if not smooth:  # the same test without two logarithms (hot path of the search)
        return (jnp.maximum(tensor_bytes, 1.0) > sram_bytes).astype(jnp.float32)
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


# Largest extra S pass count the packed key of ``_best_traffic`` holds (int32, 5 low bits
# for the code and flags); T < 2**24 (exact float32 fold counts) stays far below it.
_MAX_S_PASSES = 2.0**26 - 1.0


def _fit_threshold(buf):
    """``t`` with ``fp > t`` iff ``max(fp, 1) > buf`` for ``fp >= 0`` (per design)."""
    return jnp.where(buf < 1.0, -1.0, buf)


def _materialise(x):
    """``x`` itself, computed once however many fusions read it.

    XLA:CPU copies a chain of elementwise ops into every fusion that reads its result
    when it can fuse into all of them, so the candidate search of ``_best_traffic`` ran
    once per consumer (dram bytes, each energy term, the mapping code: ~4x). A
    reduction cannot take a producer's consumers, so XLA keeps its result in memory:
    ``min(x, top) = x`` as a two-element reduction. (``jax.lax.optimization_barrier``
    left the compiled program unchanged here, and a division by a traced 1 was
    duplicated like any elementwise op.)
    """
    top = jnp.inf if jnp.issubdtype(x.dtype, jnp.floating) else jnp.iinfo(x.dtype).max
    return jnp.min(jnp.stack([x, jnp.full_like(x, top)], axis=-1), axis=-1)


def _best_traffic(wl, spec, *, act_bits, w_bytes, i_bytes, o_bytes, n_eff, k_eff, fr, fc,
                  smooth):
    """Least-traffic candidate of ``MAPPING_NAMES[1:]``; returns (w, i, o, code, rows_grow,
    cols_grow).

    Hard tests (``smooth=False``, the search's hot path) run in two stages: the
    candidate search yields one int32 per layer (the winner's code, its X / Y refetch
    flags and its extra S passes), kept in memory once (``_materialise``); the winner's
    bytes are rebuilt from it with a few ops and no tile, division or fit test, so
    nothing else of the search is read by a second fusion (a tile read there kept every
    division in a pass of its own). Every footprint, tile and refetch term is the same
    float expression as in the one-pass formulation (the reference in
    ``tests/test_asic_traffic_equiv.py``, equal to 1e-6 relative, codes exactly).
    ``smooth=True`` carries the logistic terms through the selects as that form did.
    """
    df = jnp.asarray(spec.dataflow, jnp.int32)
    is_os, is_ws, is_is = df == OS, df == WS, df == IS
    m, k = wl.m, wl.k
    sr, sc, t_full = spatial_map(m, k_eff, n_eff, df)
    rho = jnp.minimum(spec.pe_rows / sr, 1.0)
    gamma = jnp.minimum(spec.pe_cols / sc, 1.0)
    p_bytes = o_bytes * C.ACC_BITS / act_bits  # outputs as partial sums

    # Footprint of each role at frame fractions (a, b) of its two dims: ``lin * a * b``,
    # at most ``cap``. Roles: S = (O, W, I), X = (I, I, W), Y = (W, O, O) for (OS, WS,
    # IS); outputs count as 32-bit partial sums. Inputs count im2col elements (a slice of
    # m x k; conservative for a conv's overlapping windows [A]) up to the unique input
    # bytes; ``lin`` alone sizes tiles.
    in_lin = m * k * act_bits / 8.0
    lin_s = jnp.where(is_os, p_bytes, jnp.where(is_ws, w_bytes, in_lin))
    cap_s = jnp.where(is_os | is_ws, jnp.inf, i_bytes)
    lin_x = jnp.where(is_is, w_bytes, in_lin)
    cap_x = jnp.where(is_is, jnp.inf, i_bytes)
    lin_y = jnp.where(is_os, w_bytes, p_bytes)
    # Buffers are per design (no layer axis): select them before broadcasting.
    buf_s = jnp.where(is_os, spec.ofmap_sram_bytes,
                      jnp.where(is_ws, spec.filter_sram_bytes, spec.ifmap_sram_bytes))
    buf_x = jnp.where(is_is, spec.filter_sram_bytes, spec.ifmap_sram_bytes)
    buf_y = jnp.where(is_os, spec.filter_sram_bytes, spec.ofmap_sram_bytes)
    s_bytes = jnp.where(is_os, o_bytes, jnp.where(is_ws, w_bytes, i_bytes))
    x_bytes = jnp.where(is_is, w_bytes, i_bytes)
    y_bytes = jnp.where(is_os, w_bytes, o_bytes)

    # Temporal tiles as element counts t of T (footprint ``lin * t / T``, at most cap).
    x_per_t, y_per_t = lin_x / t_full, lin_y / t_full
    x_per_t_r, y_per_t_g = x_per_t * rho, y_per_t * gamma

    def tile(per_t, cap, buf):
        """Largest tile t (1..T) whose footprint ``min(per_t * t, cap)`` fits."""
        t = jnp.clip(_smooth.floor(buf / jnp.maximum(per_t, 1e-30), smooth), 1.0, t_full)
        return jnp.where(jnp.minimum(per_t * t_full, cap) <= buf, t_full, t)

    tiles = {"1": t_full, "tx_c": tile(x_per_t, cap_x, buf_x),
             "tx_r": tile(x_per_t_r, cap_x, buf_x),
             "ty_g": tile(y_per_t_g, jnp.inf, buf_y), "ty_1": tile(y_per_t, jnp.inf, buf_y)}
    nts = {key: _smooth.ceil_div(t_full, t, smooth) for key, t in tiles.items() if key != "1"}
    # Refetched bytes of each role when its footprint does not fit: S per extra
    # temporal tile, X per extra column fold, Y per extra row fold; outputs spill as
    # partial sums, written and read back.
    p_spill = 2.0 * p_bytes
    s_unit = jnp.where(is_os, p_spill, s_bytes)
    s_more = {key: (nt - 1.0) * s_unit for key, nt in nts.items()}
    x_more = (fc - 1.0) * x_bytes
    y_more = (fr - 1.0) * jnp.where(is_os, y_bytes, p_spill)
    thr = {"s": _fit_threshold(buf_s), "x": _fit_threshold(buf_x), "y": _fit_threshold(buf_y)}
    bufs = {"s": buf_s, "x": buf_x, "y": buf_y}

    def refetch(fp, role, more, smooth_test):
        """(not-fit flag or None, refetched bytes: ``more`` unless the footprint fits)."""
        if smooth_test:
            return None, not_fit(fp, bufs[role], True) * more
        flag = fp > thr[role]
        return flag, jnp.where(flag, more, 0.0)

    # S footprint: whole (tile loop outermost), a row fold's slice (r>t>c) or a column
    # fold's slice (c>t>r).
    s_fp = {(False, False): jnp.minimum(lin_s, cap_s),
            (True, True): jnp.minimum(lin_s * rho, cap_s),
            (False, True): jnp.minimum(lin_s * gamma, cap_s)}
    exts = []
    # Unrolled over the candidates (elementwise only); each adds its refetches to the
    # once-each traffic s_bytes + x_bytes + y_bytes.
    for code, (r_side, mid, tau_key, x_sized, y_sized) in enumerate(_CANDIDATES, start=1):
        t = tiles[tau_key]
        # Footprint = one tile of each loop outside the irrelevant loop, all of each
        # inside; tile-sized footprints fit by construction, so they take the hard test
        # (a logistic test at the boundary would read 1/2).
        x_fp = jnp.minimum((x_per_t_r if r_side else x_per_t)
                           * (t_full if (mid and not r_side) else t), cap_x)
        y_fp = (y_per_t if r_side else y_per_t_g) * (t_full if (mid and r_side) else t)
        f_x, ext_x = refetch(x_fp, "x", x_more, smooth and not x_sized)
        f_y, ext_y = refetch(y_fp, "y", y_more, smooth and not y_sized)
        f_s = ext_s = None
        if tau_key != "1":  # S is re-streamed per temporal tile unless its slice fits
            f_s, ext_s = refetch(s_fp[(r_side and mid, mid)], "s", s_more[tau_key], smooth)
        exts.append((code, r_side, (f_s, f_x, f_y), ext_s, ext_x, ext_y))

    def total(ext_s, ext_x, ext_y):
        return ext_x + ext_y if ext_s is None else ext_s + ext_x + ext_y

    rows_grow = cols_grow = jnp.inf
    for _, r_side, _, *parts in exts:
        if r_side:
            cols_grow = jnp.minimum(cols_grow, total(*parts))
        else:
            rows_grow = jnp.minimum(rows_grow, total(*parts))
    base = s_bytes + x_bytes + y_bytes
    rows_grow, cols_grow = base + rows_grow, base + cols_grow

    if smooth:  # carry the (logistic) terms of the winner through the selects
        best = None
        for code, _, _, ext_s, ext_x, ext_y in exts:
            ext_s = jnp.zeros_like(ext_x) if ext_s is None else ext_s
            cand = (ext_s + ext_x + ext_y, ext_s, ext_x, ext_y,
                    jnp.full(jnp.shape(ext_x), code, jnp.int32))
            if best is None:
                best = cand
            else:  # strictly less: the first least-traffic candidate wins ties
                better = cand[0] < best[0]
                best = tuple(jnp.where(better, new, old)
                             for new, old in zip(cand, best, strict=True))
        _, s_d, x_d, y_d, codes = best
    else:
        # Stage 1: the winner as one int32 key, (code - 1) + 8 (X refetched) + 16 (Y)
        # + 32 x (its extra S passes: nt - 1 if S is refetched, else 0; an exact integer,
        # nt <= T, and below 2**26 for any T < 2**24, where float32 counts folds
        # exactly). (A flag may be set with nothing to refetch, ``more = 0``: the bytes
        # agree.)
        zero = jnp.zeros(jnp.shape(t_full), jnp.float32)
        best = win = None
        for code, _, (f_s, f_x, f_y), ext_s, ext_x, ext_y in exts:
            ext = total(ext_s, ext_x, ext_y)
            n_s = zero if f_s is None else jnp.where(f_s, nts[_CANDIDATES[code - 1][2]] - 1.0,
                                                     0.0)
            cand = (jnp.float32(code - 1), n_s, f_x, f_y)
            if best is None:
                best, win = ext, cand
            else:  # strictly less: the first least-traffic candidate wins ties
                better = ext < best
                best = jnp.where(better, ext, best)
                win = tuple(jnp.where(better, new, old) for new, old in zip(cand, win,
                                                                            strict=True))
        code_w, n_s, f_x, f_y = win
        n_s = jnp.minimum(n_s, _MAX_S_PASSES).astype(jnp.int32)
        key = code_w.astype(jnp.int32) + jnp.where(f_x, 8, 0) + jnp.where(f_y, 16, 0) + n_s * 32
        key = _materialise(key)
        # Stage 2: the winner's bytes from its key (no tile, division or test again).
        codes = (key & 7) + 1
        s_d = (key >> 5).astype(jnp.float32) * s_unit  # = (nt - 1) * s_unit, or 0
        x_d = jnp.where((key & 8) != 0, x_more, 0.0)
        y_d = jnp.where((key & 16) != 0, y_more, 0.0)
    s_d, x_d, y_d = s_bytes + s_d, x_bytes + x_d, y_bytes + y_d
    w = jnp.where(is_os, y_d, jnp.where(is_ws, s_d, x_d))
    i = jnp.where(is_is, s_d, x_d)
    o = jnp.where(is_os, s_d, y_d)
    return w, i, o, codes, rows_grow, cols_grow


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
    if int(spec.mapping) == MAP_SCALESIM:  # static: only this mode is traced
        w_dram, i_dram, o_dram = _scalesim_traffic(wl, spec, **kw)
        code = jnp.zeros(shape, jnp.int32)
        rows_grow = cols_grow = jnp.full(shape, jnp.inf)  # the fixed order has no bound
    else:
        w_dram, i_dram, o_dram, code, rows_grow, cols_grow = _best_traffic(
            wl, spec, k_eff=b[6], **kw)
    return Traffic(w_dram, i_dram, o_dram, wl.groups * (w_dram + i_dram + o_dram), code,
                   wl.groups * rows_grow, wl.groups * cols_grow)
