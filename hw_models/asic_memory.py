"""Memory hierarchy of an ``AsicSpec``: per-PE register files over the three SRAMs.

The hierarchy is DRAM -> three SRAM buffers (ifmap, filter, ofmap) -> optional per-PE
register files (RF) per operand -> MAC. An RF of size 0 (the default) is absent and
the model is SCALE-Sim's three-buffer template, exactly as before. Notation per group:
``E = m * k_s * n`` MAC slots the array executes (``k_s`` = streamed reduction), bytes
per element ``w_el`` (stored weight, index metadata included), ``a`` (activation),
``p = ACC_BITS / 8`` (partial sum). Folds ``fr`` (rows) and ``fc`` (columns) are
SCALE-Sim's. Each PE holds ``e_X = max(floor(rf_X_bytes / bytes_X), 1)`` elements of
operand X (1 = the pipeline register every PE has anyway).

Access rules, one line each, with the reasoning:

* RF reads: an operand that has an RF is read from it whenever the MAC's operand
  register needs a new element (loop order in a PE: streamed element > row block >
  column block). Stationary operand (WS weights, IS inputs): once per MAC when the PE
  cycles through ``b_r * b_c > 1`` held elements, else once per element loaded (it sits
  in the register for the whole pass). Streamed operand: once per ``b_c`` MACs (OS
  weights: once per ``b_r`` MACs when ``b_c = 1``). Partial sums: the psum RF is the
  accumulator, read and written every MAC.
* RF writes: every byte an operand exchanges with its SRAM passes through its RF once
  (fill on the way in, drain on the way out).
* Fold reuse: the stationary operand's RF (WS: weights, IS: inputs, OS: outputs) holds
  ``e_s`` folds' worth of stationary data, so the array runs blocks of ``b_r`` row
  folds x ``b_c`` column folds on one pass of the streamed data, ``b_r * b_c <= e_s``.
* WS / IS: blocking ``b_r`` row (reduction) folds accumulates them in the PE before the
  column sum leaves, so the ofmap SRAM read-modify-writes partial sums
  ``2 (ceil(fr / b_r) - 1)`` times instead of ``2 (fr - 1)``; blocking ``b_c`` column
  folds reuses each streamed operand (WS inputs, IS weights) ``b_c`` times (it is read
  ``ceil(fc / b_c)`` times instead of ``fc``) and needs ``b_c`` accumulators, so
  ``b_c <= e_p``.
* OS: outputs stay in the PE; ``b_c`` column folds reuse each input (``ceil(fc / b_c)``
  input reads) and ``b_r`` row folds reuse each weight (``ceil(fr / b_r)`` weight
  reads), both held in the psum RF (``b_r * b_c <= e_p``).
* Which blocking: no blocking, the two greedy orders (row folds first, column folds
  first) and row folds only (``b_c = 1``) are evaluated and the cheapest on-chip energy
  is taken per layer (a four-point mapper, jit- and vmap-able; far smaller than a real
  mapper's search). Each candidate's blocks grow with the stationary RF, and "row folds
  only" keeps OS weight reuse (``b_r``, which a column block gives up) when a larger RF
  would make the row-first order add column folds, so a larger stationary RF never
  costs energy (hypothesis property in ``tests/test_asic_memory.py``; without that
  candidate it found OS layers 1e-4 dearer with a 2x psum RF).
* An RF of a streamed operand (WS: inputs; OS: inputs, weights; IS: weights) costs its
  reads and writes and gives no fold reuse in these templates [A]: the streamed element
  is consumed as it passes. DRAM traffic is ``asic_traffic``'s and is not changed here.
* Energy: reads and writes of each level at its own pJ/byte (spec override, else the
  law: ``level_energies_pj_per_byte``); DRAM fills are SRAM writes, outputs leaving
  for DRAM SRAM reads, as in the three-buffer model.
* Not modelled: convolution sliding-window reuse (an input fetched into a PE's RF
  serving up to ``kw / stride`` taps, Eyeriss row stationary, Chen et al. ISCA 2016).
  In these templates an input enters the array once per column fold and is forwarded
  between PEs, so the terms such a rule could cut (input SRAM reads, input RF fills)
  are ~0.1 pJ/MAC on the eyeriss_like check; making them free moves no layer by more
  than 1.6% and leaves the rank order against ZigZag unchanged
  (``benchmarks/validation/README_zigzag.md``). What differs there is the psum RF
  traffic and weight register reuse of ZigZag's per-layer loop order.

Example:
    >>> from lepton_codesign import hw_models as hw
    >>> spec = hw.AsicSpec(16, 16, "ws", rf_weight_bytes=64.0)
    >>> [int(v) for v in rf_entries(spec, 1.0, 1.0)]
    [64, 1, 1]
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from lepton_codesign.hw_models import constants as C
from lepton_codesign.hw_models.asic_spec import IS, OS, WS, AsicSpec


class LevelBytes(NamedTuple):
    """Bytes read / written per group at each on-chip level (``w``, ``i``, ``o`` =
    weight, input, partial-sum/output operand).

    Attributes:
        sram_w_rd, sram_i_rd: weight / input bytes the array reads from their SRAMs.
        sram_o_rd, sram_o_wr: partial sums read back from / outputs and partial sums
            written to the ofmap SRAM.
        rf_w_rd, rf_w_wr, rf_i_rd, rf_i_wr, rf_o_rd, rf_o_wr: per-PE RF reads / writes
            of each operand (0 where the operand has no RF).
    """

    sram_w_rd: jax.Array
    sram_i_rd: jax.Array
    sram_o_rd: jax.Array
    sram_o_wr: jax.Array
    rf_w_rd: jax.Array
    rf_w_wr: jax.Array
    rf_i_rd: jax.Array
    rf_i_wr: jax.Array
    rf_o_rd: jax.Array
    rf_o_wr: jax.Array


_INT_CAP = 2.0**24  # fold counts and RF entries are exact integers in float32 below this


def floor_nonneg(x, smooth: bool = False):
    """``floor`` of a non-negative number, by integer truncation (capped at 2**24).

    A float -> int32 conversion is one vector instruction on CPU, where ``jnp.floor``
    may not be; this model runs several per layer and candidate (``onchip_energy_j``).
    Straight-through identity gradient when ``smooth``.

    Example:
        >>> [float(v) for v in floor_nonneg(jnp.array([0.0, 2.5, 3.0]))]
        [0.0, 2.0, 3.0]
    """
    x = jnp.clip(x, 0.0, _INT_CAP)
    f = x.astype(jnp.int32).astype(x.dtype)
    return x + jax.lax.stop_gradient(f - x) if smooth else f


def ceil_div_nonneg(a, b, smooth: bool = False):
    """``ceil(a / b)`` for ``a >= 0, b > 0``, exact like ``_smooth.ceil_div`` (same
    misrounding correction), by integer truncation (see ``floor_nonneg``).

    Example:
        >>> [int(v) for v in ceil_div_nonneg(jnp.array([196.0, 197.0, 0.0]), 14.0)]
        [14, 15, 0]
    """
    q = jnp.clip(a / b, 0.0, _INT_CAP)
    t = q.astype(jnp.int32).astype(q.dtype)
    c = jnp.where(t < q, t + 1.0, t)
    c = jnp.where((c - 1.0) * b >= a, c - 1.0, c)
    c = jnp.where(c * b < a, c + 1.0, c)
    return q + jax.lax.stop_gradient(c - q) if smooth else c


def has_rf(rf_bytes):
    """1.0 where an RF level exists (size > 0), else 0.0."""
    return (jnp.asarray(rf_bytes) > 0.0).astype(jnp.float32)


def rf_entries(spec: AsicSpec, w_el, a_el, smooth: bool = False):
    """Elements each PE's weight / input / psum RF holds (at least 1: its register)."""
    def entries(rf_bytes, el_bytes):
        return jnp.maximum(floor_nonneg(rf_bytes / jnp.maximum(el_bytes, 1e-9), smooth), 1.0)

    return (entries(spec.rf_weight_bytes, w_el), entries(spec.rf_input_bytes, a_el),
            entries(spec.rf_psum_bytes, C.ACC_BITS / 8.0))


ORDERS = ("none", "rows", "cols", "rows-only")  # candidate blockings, see ``blocking``


def blocking(e_s, e_p, fr, fc, dataflow, order: str, smooth: bool = False):
    """Row / column folds ``(b_r, b_c)`` run per pass of the streamed data.

    ``e_s``: stationary-operand RF entries; ``e_p``: accumulators (psum RF entries);
    ``order``: ``"none"`` (no blocking: SCALE-Sim's loop order), ``"rows"`` / ``"cols"``
    (that fold loop gets the RF first, module docstring), ``"rows-only"`` (row folds
    only: ``b_c = 1``).

    Example:
        >>> [float(b) for b in blocking(64.0, 1.0, 36.0, 4.0, 1, "rows")]
        [36.0, 1.0]
    """
    if order not in ORDERS:
        raise ValueError(f"blocking order: got {order!r}; allowed: one of {list(ORDERS)}")
    if order == "none":
        one = jnp.ones_like(jnp.asarray(e_s * fr * fc, jnp.float32))
        return one, one
    if order == "rows-only":
        b_r = jnp.minimum(e_s, fr)
        return jnp.maximum(b_r, 1.0), jnp.ones_like(jnp.asarray(b_r, jnp.float32))
    is_os = jnp.asarray(dataflow, jnp.int32) == OS
    cap_c = jnp.where(is_os, e_s, jnp.minimum(e_s, e_p))  # WS/IS: b_c accumulators
    if order == "rows":
        b_r = jnp.minimum(e_s, fr)
        b_c = jnp.minimum(jnp.minimum(floor_nonneg(e_s / b_r, smooth), cap_c), fc)
    else:
        b_c = jnp.minimum(cap_c, fc)
        b_r = jnp.minimum(floor_nonneg(e_s / b_c, smooth), fr)
    return jnp.maximum(b_r, 1.0), jnp.maximum(b_c, 1.0)


def level_bytes(spec: AsicSpec, *, m, k_s, n, w_bytes, act_bits, fr, fc, order: str,
                smooth: bool = False) -> LevelBytes:
    """Bytes per group at the SRAM and RF levels for one blocking order (see module doc).

    With every RF size 0 this is the three-buffer model: inputs read ``fc`` times (OS,
    WS) or once (IS), weights ``fr`` times (OS), once (WS) or ``fc`` times (IS), partial
    sums read-modify-written ``2 (fr - 1)`` times at accumulator width (WS, IS).
    """
    dataflow = jnp.asarray(spec.dataflow, jnp.int32)
    is_os, is_ws, is_is = dataflow == OS, dataflow == WS, dataflow == IS
    a, p = act_bits / 8.0, C.ACC_BITS / 8.0
    w_el = w_bytes / jnp.maximum(k_s * n, 1.0)
    e_w, e_i, e_p = rf_entries(spec, w_el, a, smooth)
    e_s = jnp.where(is_ws, e_w, jnp.where(is_is, e_i, e_p))
    b_r, b_c = blocking(e_s, e_p, fr, fc, dataflow, order, smooth)
    nr, nc = ceil_div_nonneg(fr, b_r, smooth), ceil_div_nonneg(fc, b_c, smooth)
    mk, mn = m * k_s, m * n
    # (written in the three-buffer model's operation order: identical floats without RFs)
    sram_i = jnp.where(is_is, mk, mk * nc) * act_bits / 8.0
    sram_w = jnp.where(is_os, nr, jnp.where(is_ws, 1.0, nc)) * w_bytes
    rmw = jnp.where(is_os, 0.0, nr - 1.0) * mn * C.ACC_BITS / 8.0  # each way
    out = mn * act_bits / 8.0
    macs = mk * n
    # Register reuse inside a PE (loop order: streamed element > row block > column
    # block): a streamed element is used for b_c MACs in a row (OS weights: b_r when
    # b_c = 1); the stationary element changes every MAC once b_r * b_c > 1, else it sits
    # in the MAC's operand register for the whole pass (one read per element loaded).
    held = b_r * b_c > 1.0
    os_w_reuse = jnp.where(b_c > 1.0, 1.0, b_r)
    w_rd = jnp.where(is_ws, jnp.where(held, macs * w_el, sram_w),
                     macs * w_el / jnp.where(is_os, os_w_reuse, b_c))
    i_rd = jnp.where(is_is, jnp.where(held, macs * a, sram_i), macs * a / b_c)

    h_w, h_i, h_o = (has_rf(spec.rf_weight_bytes), has_rf(spec.rf_input_bytes),
                     has_rf(spec.rf_psum_bytes))
    return LevelBytes(
        sram_w_rd=sram_w, sram_i_rd=sram_i, sram_o_rd=rmw, sram_o_wr=out + rmw,
        rf_w_rd=h_w * w_rd, rf_w_wr=h_w * sram_w, rf_i_rd=h_i * i_rd, rf_i_wr=h_i * sram_i,
        # the psum RF is the accumulator: read and written every MAC, plus what it
        # exchanges with the ofmap SRAM (drains are RF reads, read-backs RF writes)
        rf_o_rd=h_o * (macs * p + out + rmw), rf_o_wr=h_o * (macs * p + rmw))


def rf_energy_pj_per_byte(node_nm):
    """Default RF energy per byte at a node: Eyeriss's RF = 1x a 16-bit MAC (constants)."""
    return C.E_RF_PJ_PER_BYTE_45 * C.node_energy_scale(node_nm)


def _or(override, default):
    return default if override is None else jnp.asarray(override, jnp.float32)


def level_energies_pj_per_byte(spec: AsicSpec) -> dict:
    """Read and write pJ/byte of each on-chip level: the spec's override, else the law.

    Keys ``<level>_rd`` / ``<level>_wr`` for levels ``rf_w, rf_i, rf_o, sram_w, sram_i,
    sram_o``; a missing write energy is the level's read energy.

    Example:
        >>> from lepton_codesign import hw_models as hw
        >>> e = level_energies_pj_per_byte(hw.AsicSpec(8, 8, rf_psum_pj_per_byte=0.5))
        >>> float(e["rf_o_rd"]), float(e["rf_o_wr"])
        (0.5, 0.5)
    """
    law = rf_energy_pj_per_byte(spec.node_nm)
    reads = {
        "sram_i": _or(spec.ifmap_sram_pj_per_byte,
                      C.sram_energy_pj_per_byte(spec.ifmap_sram_bytes, spec.node_nm)),
        "sram_w": _or(spec.filter_sram_pj_per_byte,
                      C.sram_energy_pj_per_byte(spec.filter_sram_bytes, spec.node_nm)),
        "sram_o": _or(spec.ofmap_sram_pj_per_byte,
                      C.sram_energy_pj_per_byte(spec.ofmap_sram_bytes, spec.node_nm)),
        "rf_w": _or(spec.rf_weight_pj_per_byte, law),
        "rf_i": _or(spec.rf_input_pj_per_byte, law),
        "rf_o": _or(spec.rf_psum_pj_per_byte, law),
    }
    writes = {
        "sram_i": spec.ifmap_sram_write_pj_per_byte, "sram_w": spec.filter_sram_write_pj_per_byte,
        "sram_o": spec.ofmap_sram_write_pj_per_byte, "rf_w": spec.rf_weight_write_pj_per_byte,
        "rf_i": spec.rf_input_write_pj_per_byte, "rf_o": spec.rf_psum_write_pj_per_byte,
    }
    out = {f"{k}_rd": v for k, v in reads.items()}
    out.update({f"{k}_wr": _or(writes[k], reads[k]) for k in reads})
    return out


def rf_area_um2(spec: AsicSpec):
    """Register-file area of the whole array (um^2): RF bits x RF cell area.

    Example:
        >>> from lepton_codesign import hw_models as hw
        >>> float(rf_area_um2(hw.AsicSpec(8, 8)))
        0.0
    """
    rf_bytes = spec.rf_weight_bytes + spec.rf_input_bytes + spec.rf_psum_bytes
    cell_um2 = C.sram_cell_um2(spec.node_nm) * C.RF_CELL_AREA_FACTOR / C.SRAM_ARRAY_EFFICIENCY
    return spec.pe_rows * spec.pe_cols * rf_bytes * 8.0 * cell_um2
