"""Pipeline depth of a dataflow (FINN / hls4ml-style) FPGA design, in clock cycles.

A dataflow layer folded onto ``p`` MAC lanes takes ``c`` cycles per inference (its fold
cycles, ``fpga._dataflow_placed``), but its first output exists only after the data has
passed every register stage of its datapath. Per layer:

``depth = mul + ceil(ceil(log2(fan_in)) / adder_levels_per_cycle) + act + fifo``

* ``mul``: multiplier latency. A DSP48E2 at full speed registers its inputs (AREG/BREG),
  the product (MREG) and the output (PREG): ``DSP_MUL_STAGES = 3`` [C] (AMD UG579,
  DSP48E2 pipeline registers). A LUT multiplier (<= 4-bit or binary XNOR) is one LUT
  level plus its output register: ``LUT_MUL_STAGES = 1`` [A].
* adder tree: one output neuron adds ``fan_in`` products per cycle, where ``fan_in`` is
  its reduction length ``k`` divided by the cycles it spends per output row (the reuse
  factor): a fully unrolled layer sums all ``k`` products in one tree, a layer folded
  ``r`` times sums ``k / r`` per cycle (and accumulates). ``ceil(log2(fan_in))`` adder
  levels, ``FpgaSpec.adder_levels_per_cycle`` of them per register stage (default 1 [A]:
  every level registered, as a fully pipelined RTL tree; HLS tools chain several narrow
  adds in one 5 ns cycle, so the default is an upper bound there).
* ``act``: activation / requantisation (FINN threshold compare, hls4ml ReLU or
  requantise-and-saturate) registered once: ``ACT_STAGES = 1`` [A].
* ``fifo``: the inter-layer stream register (AXI-Stream handshake, FINN stream FIFO,
  hls4ml ``io_stream`` FIFO or the ``io_parallel`` layer-output register):
  ``FIFO_STAGES = 1`` [A].

Input streaming: the first layer cannot finish before its input vector has arrived at
``FpgaSpec.io_bits_per_cycle`` bits per clock, so its time is ``max(c_0, in_cycles)``
(streaming overlaps the folded compute) and the interval is at least ``in_cycles``.

Latency of one inference (the fill) = ``sum_i (c_i + depth_i)`` (layer 0 with the input
term); the initiation interval stays ``max_i c_i`` (and the I/O and DRAM terms).

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


def adder_levels(fan_in: jax.Array, levels_per_cycle, smooth: bool) -> jax.Array:
    """Register stages of a ``fan_in``-input adder tree: ``ceil(ceil(log2 n) / levels)``."""
    lv = _smooth.ceil(jnp.log2(jnp.maximum(fan_in, 1.0)) - 1e-6, smooth)
    lv = jnp.maximum(lv, 0.0)
    return _smooth.ceil_div(lv, levels_per_cycle, smooth)


def layer_depth(fan_in: jax.Array, levels_per_cycle, use_dsp: jax.Array,
                smooth: bool) -> jax.Array:
    """Pipeline depth of each layer in cycles (see module doc)."""
    mul = jnp.where(use_dsp, DSP_MUL_STAGES, LUT_MUL_STAGES)
    return mul + adder_levels(fan_in, levels_per_cycle, smooth) + ACT_STAGES + FIFO_STAGES


def fan_in_per_cycle(k_eff: jax.Array, rows: jax.Array, fold_cycles: jax.Array) -> jax.Array:
    """Products one output neuron adds per cycle: ``k / (cycles per output row)``."""
    per_row = jnp.maximum(fold_cycles / jnp.maximum(rows, 1e-9), 1.0)
    return jnp.clip(k_eff / per_row, 1.0, jnp.maximum(k_eff, 1.0))


def input_cycles(in_bits: jax.Array, io_bits_per_cycle, smooth: bool) -> jax.Array:
    """Cycles to stream one inference's input in at the design's I/O width."""
    return jnp.maximum(_smooth.ceil_div(in_bits, io_bits_per_cycle, smooth), 1.0)


def fill_cycles(fold: jax.Array, depth: jax.Array, in_cyc: jax.Array, smooth: bool):
    """Per-layer latency of one inference: ``c_i + depth_i``, layer 0 waits for its input."""
    first = jnp.zeros(fold.shape[-1]).at[0].set(1.0)
    start = _smooth.maximum(fold, in_cyc[..., None], smooth)
    return jnp.where(first > 0, start, fold) + depth
