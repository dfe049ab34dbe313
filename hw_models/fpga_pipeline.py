"""Pipeline depth of a dataflow (FINN / hls4ml-style) FPGA design, in clock cycles.

A dataflow layer folded onto ``p`` MAC lanes takes ``c`` cycles per inference (its fold
cycles, ``fpga._dataflow_placed``), but its first output exists only after the data has
passed every register stage of its datapath. Per layer:

``depth = mul + ceil(ceil(log2(fan_in)) / adder_levels_per_cycle) + act + fifo``

* ``mul``: multiplier latency. A DSP48E2 at full speed registers its inputs (AREG/BREG),
  the product (MREG) and the output (PREG): ``FpgaSpec.dsp_mul_stages`` defaults to
  ``DSP_MUL_STAGES = 3`` [C] (AMD UG579, DSP48E2 pipeline registers). A LUT multiplier
  (<= 4-bit or binary XNOR) is one LUT level plus its output register:
  ``LUT_MUL_STAGES = 1`` [A].
* adder tree: one output neuron adds ``fan_in`` products per cycle, where ``fan_in`` is
  its reduction length ``k`` divided by the cycles it spends per output row (the reuse
  factor): a fully unrolled layer sums all ``k`` products in one tree, a layer folded
  ``r`` times sums ``k / r`` per cycle (and accumulates). ``ceil(log2(fan_in))`` adder
  levels, ``FpgaSpec.adder_levels_per_cycle`` of them per register stage (default 1 [A]:
  every level registered, as a fully pipelined RTL tree; HLS tools chain several narrow
  adds in one 5 ns cycle, so the default is an upper bound there).
* ``act``: activation / requantisation (FINN threshold compare, hls4ml ReLU or
  requantise-and-saturate) registered once: ``FpgaSpec.act_stages``, default
  ``ACT_STAGES = 1`` [A].
* ``fifo``: the inter-layer stream register (AXI-Stream handshake, FINN stream FIFO,
  hls4ml ``io_stream`` FIFO or the ``io_parallel`` layer-output register):
  ``FpgaSpec.fifo_stages``, default ``FIFO_STAGES = 1`` [A].

Design styles (``PIPELINE_STYLES``, applied with ``spec.replace(**PIPELINE_STYLES[s])``):
``"rtl"`` is the default above, every stage registered (an upper bound for HLS designs;
FINN designs use it, no FINN row was available to calibrate on). ``"hls4ml"`` is what
Vivado/Vitis HLS schedules for an hls4ml ``io_parallel`` / ``Latency`` design at 5 ns:
narrow fixed-point adds chained several per cycle, the DSP product in fewer registers,
ReLU folded into the adder's last cycle. Its values were chosen by
``benchmarks/validation/fpga_hls4ml.py --calibrate`` on the calibration rows only (the
jet-tagging MLP reports of the hls4ml tutorial), from a grid of physical values; the
validation rows are reported untouched. Whatever the style, ``dsp_mul_stages >= 1`` and
``adder_levels_per_cycle <= 8`` (``FpgaSpec`` rules), so no design beats
``sum_i (c_i + 1 + ceil(ceil(log2 fan_in_i) / 8))`` cycles.

Input streaming: the first layer cannot finish before its input vector has arrived at
``FpgaSpec.io_bits_per_cycle`` bits per clock, so its time is ``max(c_0, in_cycles)``
(streaming overlaps the folded compute) and the interval is at least ``in_cycles``.

Latency of one inference (the fill, ``fill_cycles``): a pipelined layer that takes
``c_i`` cycles per inference delivers its last result ``c_i - 1 + depth_i`` cycles after
its last input arrived, so a chain of dense layers takes ``in + sum_i (c_i - 1 + depth_i)``;
a streamed conv layer starts once its line buffer holds its first window and overlaps
with its producer. The initiation interval stays ``max_i c_i`` (and the I/O and DRAM
terms).

Example:
    >>> import jax.numpy as jnp
    >>> d = layer_depth(jnp.array([40.0, 256.0]), 1.0, jnp.array([True, True]), smooth=False)
    >>> [int(x) for x in d]  # 3 (DSP) + 6 or 8 adder levels + 1 + 1
    [11, 13]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lepton_codesign.hw_models import _smooth

DSP_MUL_STAGES = 3.0  # [C] DSP48E2 AREG/BREG + MREG + PREG at full speed (AMD UG579)
LUT_MUL_STAGES = 1.0  # [A] one LUT level + output register (<= 4-bit / XNOR products)
ACT_STAGES = 1.0  # [A] activation / requantisation (threshold compare), registered once
FIFO_STAGES = 1.0  # [A] inter-layer stream register / FIFO (AXI-Stream handshake)
MAX_ADDER_LEVELS_PER_CYCLE = 8.0  # [A] FpgaSpec rule: at most 8 chained adds per cycle

PIPELINE_STYLES = {
    # [C]/[A] as above: every stage registered
    "rtl": {"dsp_mul_stages": DSP_MUL_STAGES, "adder_levels_per_cycle": 1.0,
            "act_stages": ACT_STAGES, "fifo_stages": FIFO_STAGES, "fold_balanced": 1.0},
    # [D] fitted on the calibration rows of benchmarks/validation/fpga_hls4ml.py
    # (hls4ml tutorial jet-tagging MLP, parts 1-4): grid search, min median |log error|
    "hls4ml": {"dsp_mul_stages": 1.0, "adder_levels_per_cycle": 6.0,
               "act_stages": 0.0, "fifo_stages": 0.0, "fold_balanced": 0.0},
}


def pipeline_style(name: str) -> dict:
    """Stage fields of a named design style, for ``FpgaSpec.replace(**...)``.

    Example:
        >>> pipeline_style("rtl")["dsp_mul_stages"]
        3.0
    """
    if name not in PIPELINE_STYLES:
        raise ValueError(f"pipeline style {name!r}: allowed {sorted(PIPELINE_STYLES)}")
    return dict(PIPELINE_STYLES[name])


def adder_levels(fan_in: jax.Array, levels_per_cycle, smooth: bool) -> jax.Array:
    """Register stages of a ``fan_in``-input adder tree: ``ceil(ceil(log2 n) / levels)``."""
    lv = _smooth.ceil(jnp.log2(jnp.maximum(fan_in, 1.0)) - 1e-6, smooth)
    lv = jnp.maximum(lv, 0.0)
    return _smooth.ceil_div(lv, levels_per_cycle, smooth)


def layer_depth(fan_in: jax.Array, levels_per_cycle, use_dsp: jax.Array, smooth: bool,
                dsp_mul=DSP_MUL_STAGES, act=ACT_STAGES, fifo=FIFO_STAGES) -> jax.Array:
    """Pipeline depth of each layer in cycles (see module doc)."""
    dsp_mul = jnp.asarray(dsp_mul)[..., None] if jnp.ndim(dsp_mul) else dsp_mul
    act = jnp.asarray(act)[..., None] if jnp.ndim(act) else act
    fifo = jnp.asarray(fifo)[..., None] if jnp.ndim(fifo) else fifo
    mul = jnp.where(use_dsp, dsp_mul, LUT_MUL_STAGES)
    return mul + adder_levels(fan_in, levels_per_cycle, smooth) + act + fifo


def fan_in_per_cycle(k_eff: jax.Array, rows: jax.Array, fold_cycles: jax.Array) -> jax.Array:
    """Products one output neuron adds per cycle: ``k / (cycles per output row)``."""
    per_row = jnp.maximum(fold_cycles / jnp.maximum(rows, 1e-9), 1.0)
    return jnp.clip(k_eff / per_row, 1.0, jnp.maximum(k_eff, 1.0))


def input_cycles(in_bits: jax.Array, io_bits_per_cycle, smooth: bool) -> jax.Array:
    """Cycles to stream one inference's input in at the design's I/O width."""
    return jnp.maximum(_smooth.ceil_div(in_bits, io_bits_per_cycle, smooth), 1.0)


def first_output_need(wl) -> jax.Array:
    """Fraction of each layer's input that must arrive before its first output exists.

    A dense layer needs its whole input vector (1). A streamed conv layer (line buffer)
    needs ``(kh - 1)`` input rows plus ``kw`` pixels of its ``in_h x in_w`` input [D]
    (padding ignored: an upper bound).
    """
    conv = (wl.kh > 0) & (wl.in_h > 0) & (wl.in_w > 0)
    px = jnp.maximum(wl.in_h * wl.in_w, 1.0)
    need = ((wl.kh - 1.0) * wl.in_w + wl.kw) / px
    return jnp.where(conv, jnp.clip(need, 0.0, 1.0), 1.0)


def fill_cycles(fold: jax.Array, depth: jax.Array, in_cyc: jax.Array, need: jax.Array,
                smooth: bool) -> jax.Array:
    """End time of each layer for one inference (the last is the latency), in cycles.

    Layer ``i`` starts when the ``need_i`` share of its input has arrived
    (``s_i = o_{i-1} + need_i (e_{i-1} - o_{i-1})``; layer -1 is the input stream,
    ``o = 0``, ``e = in_cyc``), emits its first output at ``o_i = s_i + d_i`` and its last
    at ``e_i = max(s_i + c_i - 1, e_{i-1}) + d_i``: it cannot finish before its input has
    arrived nor before its ``c_i`` fold cycles, and every result passes its ``d_i``
    pipeline stages. Dense layers (``need = 1``) thus add ``c_i - 1 + d_i`` each; streamed
    convs overlap with their producer. Every layer adds at least its depth ``d_i``.
    """
    o = jnp.zeros_like(in_cyc)
    e = in_cyc
    ends = []
    for i in range(fold.shape[-1]):
        s = o + need[..., i] * (e - o)
        e = _smooth.maximum(s + fold[..., i] - 1.0, e, smooth) + depth[..., i]
        o = s + depth[..., i]
        ends.append(e)
    return jnp.stack(ends, -1)
