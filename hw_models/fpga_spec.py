"""``FpgaSpec``: an FPGA board running a dataflow (FINN-style) or overlay (DPU-style) design.

Numeric fields are pytree leaves, so a batch of designs is one ``FpgaSpec`` whose fields
carry a leading batch axis (``jax.vmap`` over it). ``architecture`` is stored as an
integer code (the constructor accepts its name).

Sources (tags as in ``shared/reference/anchors.md``): utilisation ceilings and per-MAC
LUT/BRAM costs come from FINN (``Xilinx/finn`` ``src/finn/util/platforms.py`` and
``custom_op/fpgadataflow/hls/matrixvectoractivation_hls.py``) [C]; DSP packing from AMD
white papers [S]; energy from Horowitz 2014 [C] scaled by the FPGA/ASIC dynamic-power gap
of Kuon & Rose, IEEE TCAD 2007 (~14x for LUT logic) [C]; board prices are stated
assumptions [U] that a spec file overrides.

Example:
    >>> spec = FpgaSpec(lut=117120, dsp=1248, bram18=288, architecture="overlay")
    >>> int(spec.architecture)
    1
"""

from __future__ import annotations

import dataclasses

import jax

from lepton_codesign.hw_models import constants as C
from lepton_codesign.hw_models.fpga_pipeline import MAX_ADDER_LEVELS_PER_CYCLE
from lepton_codesign.hw_models.schema import Rule, check_fields, code_name, spec_pytree
from lepton_codesign.hw_models.schema import categorical_code as _code
from lepton_codesign.hw_models.specio import describe_spec, register_spec_kind

ARCHITECTURES = ("dataflow", "overlay")
DATAFLOW, OVERLAY = 0, 1

# Resource codes used in ``Costs.extras`` (``infeasible_resource``, ``limiting_resource``).
RESOURCES = ("none", "lut", "ff", "dsp", "bram", "uram")
R_NONE, R_LUT, R_FF, R_DSP, R_BRAM, R_URAM = range(6)

BRAM18_BITS = 18 * 1024  # [C] one RAMB18 holds 18 Kb (AMD UG573)
URAM_BITS = 288 * 1024  # [C] one UltraRAM holds 288 Kb (AMD UG573)


def resource_name(code) -> str:
    """Name of a resource code from ``Costs.extras`` (``0`` -> ``"none"``, ``3`` -> ``"dsp"``).

    Example:
        >>> resource_name(3)
        'dsp'
    """
    return code_name(code, RESOURCES, "resource")


@spec_pytree
@dataclasses.dataclass(frozen=True)
class FpgaSpec:
    """An FPGA device/board and the style of accelerator built on it.

    Attributes:
        lut, ff, dsp, bram18, uram: device resources (LUTs, flip-flops, DSP slices,
            18 Kb block RAMs, 288 Kb UltraRAMs). ``ff`` defaults to 2 x ``lut`` (two FFs
            per LUT in 7-series / UltraScale+ CLBs [C], AMD UG474/UG574).
        freq_hz: fabric clock. Default 200 MHz (hls4ml/FINN example reports use 5 ns) [C].
        dram_bandwidth_bytes_per_s: off-chip (DDR/HBM) bandwidth. Default 19.2 GB/s [A]
            (one 64-bit DDR4-2400 channel).
        dram_energy_pj_per_byte: off-chip access energy. Default 162.5 pJ/B [D] (Horowitz).
        node_nm: process node, for MAC/SRAM energy. Default 16 (UltraScale+) [C].
        static_power_w: device static + board power while running. Default 5 W [A].
        board_price_usd: unit capex (board price). Default $1,000 [A]; presets state theirs.
        architecture: ``"dataflow"`` (one engine per layer, layers pipelined; FINN,
            hls4ml) or ``"overlay"`` (one shared MAC array, layers in turn; Vitis AI DPU).
        lut_ceiling, ff_ceiling, dsp_ceiling, bram_ceiling, uram_ceiling: utilisation
            ceilings for timing closure: 0.7 / 0.5 / 0.8 / 0.8 / 0.8 [C] (FINN platforms.py).
        lut_mac_max_bits: MACs with ``w_bits x a_bits <= lut_mac_max_bits ** 2`` go to
            LUTs, larger ones to DSPs. Default 4 [A] (4 x 4-bit and 8 x 1-bit products in
            fabric; FINN's RTL MVU treats <= 4-bit operands specially).
        dsp_macs_8bit: <= 8-bit MACs per DSP48E2 with a shared operand. Default 2 [S]
            (AMD WP486, INT8 packing).
        dsp_macs_4bit: <= 4-bit MACs per DSP. Default 4 [C] (FINN RTL MVU on DSP48:
            ceil(PE / 4) * SIMD DSPs).
        dsp_clock_ratio: DSP clock / fabric clock. Default 1; the DPU runs its DSPs at
            2x (``DSP double data rate``) [S] (AMD PG338).
        overlay_macs: overlay array size in MACs/cycle; 0 = as many as the resources allow.
        overlay_bits: native operand width of the overlay array. Default 8 [C] (DPU INT8).
        overlay_tile_k, overlay_tile_n: input- and output-channel parallelism of the
            overlay; the rest of the array is pixel parallelism. Default 16 / 16 [C]
            (PG338: B4096 has ICP = OCP = 16, PP = 8).
        overlay_layer_overhead_cycles: fixed cycles charged to every layer of an overlay
            (instruction fetch, layer setup, pipeline drain), serial with the layer's
            compute / DRAM time. Default 12,750 [D] calibrated on the Vitis AI 1.3 model
            zoo ZCU102 rows (benchmarks/validation/dpu_calibrate.py); validated on ZCU104
            / KV260. It also absorbs what the overlay model leaves out (DRAM efficiency,
            host-side work in the end-to-end figures). 0 removes the term.
        overlay_fmap_dram: 1 (true) = an overlay reads every layer's input feature map from DRAM
            and writes its output back (the DPU's per-layer LOAD / SAVE, overlapped with
            compute as ``max(compute, dram)`` per layer); 0 = feature maps stay on chip
            unless they overflow half the buffers. Default 1 [S] (AMD PG338: feature maps
            live in external memory between layers).
        lut_energy_gap: FPGA/ASIC dynamic-energy ratio for LUT logic. Default 14 [C]
            (Kuon & Rose 2007).
        hard_energy_gap: same for hard DSP/BRAM blocks. Default 7 [A] (Kuon & Rose: the
            gap "becomes smaller" with hard blocks; half of 14 assumed).
        io_bits_per_cycle: width of the design's input stream (dataflow): the first layer
            waits ``ceil(input bits / io_bits_per_cycle)`` cycles for its input. Default
            512 [S] (the widest AXI4 / AXI-Stream data path of a Vitis kernel, AMD UG1393;
            hls4ml ``io_parallel`` designs take the whole input vector at once: set it to
            the input width in bits).
        adder_levels_per_cycle: adder-tree levels per register stage (dataflow pipeline
            depth, ``fpga_pipeline``). Default 1 [A] (every level registered, a fully
            pipelined RTL tree); at most 8 [A] (a 5 ns cycle holds a few narrow carry
            chains plus routing, not more). HLS chains several narrow adds per cycle:
            ``fpga_pipeline.PIPELINE_STYLES["hls4ml"]`` is fitted on published reports.
        dsp_mul_stages: register stages of a DSP multiplier. Default 3 [C] (DSP48E2
            AREG/BREG + MREG + PREG at full speed, AMD UG579); at least 1 (a registered
            product). HLS at 200 MHz schedules fewer (``PIPELINE_STYLES``).
        act_stages, fifo_stages: register stages of the activation / requantisation and of
            the inter-layer stream FIFO or layer-output register. Default 1 / 1 [A].
        target_interval_cycles: the design's target initiation interval in cycles (hls4ml
            ``ReuseFactor`` of an ``io_parallel`` design, FINN ``target_cycles_per_frame``):
            layers fold to this interval even when the device could go faster. Default 0
            = as fast as the resources allow [A].
        fold_balanced: 1 (true) = every layer is folded to the design's interval, the
            slowest layer's (FINN's balanced folding [C], Umuroglu et al. 2017); 0 = every
            layer keeps ``lanes / ReuseFactor`` MAC lanes (hls4ml: a cheap layer stays fully
            parallel and finishes early), when the resources allow that interval. Default 1.
        dram_capacity_bytes: off-chip memory of the card (DDR / HBM), for LLM capacity
            checks (``hw_models.llm_costs``). Default 4 GB [A] (one 64-bit DDR4 channel of
            4 GB, as on the KV260 and ZCU102 PS side); presets state theirs.
        name: display name (static).
    """

    lut: jax.Array | float
    dsp: jax.Array | float
    bram18: jax.Array | float
    uram: jax.Array | float = 0.0
    ff: jax.Array | float | None = None
    freq_hz: jax.Array | float = 200.0e6
    dram_bandwidth_bytes_per_s: jax.Array | float = 19.2e9
    dram_energy_pj_per_byte: jax.Array | float = C.E_DRAM_PJ_PER_BYTE
    node_nm: jax.Array | float = 16.0
    static_power_w: jax.Array | float = 5.0
    board_price_usd: jax.Array | float = 1000.0
    architecture: jax.Array | int | str = "dataflow"
    lut_ceiling: jax.Array | float = 0.7
    ff_ceiling: jax.Array | float = 0.5
    dsp_ceiling: jax.Array | float = 0.8
    bram_ceiling: jax.Array | float = 0.8
    uram_ceiling: jax.Array | float = 0.8
    lut_mac_max_bits: jax.Array | float = 4.0
    dsp_macs_8bit: jax.Array | float = 2.0
    dsp_macs_4bit: jax.Array | float = 4.0
    dsp_clock_ratio: jax.Array | float = 1.0
    overlay_macs: jax.Array | float = 0.0
    overlay_bits: jax.Array | float = 8.0
    overlay_tile_k: jax.Array | float = 16.0
    overlay_tile_n: jax.Array | float = 16.0
    overlay_layer_overhead_cycles: jax.Array | float = 12750.0  # [D] dpu_calibrate.py
    overlay_fmap_dram: jax.Array | float = 1.0
    lut_energy_gap: jax.Array | float = 14.0
    hard_energy_gap: jax.Array | float = 7.0
    io_bits_per_cycle: jax.Array | float = 512.0
    adder_levels_per_cycle: jax.Array | float = 1.0
    dsp_mul_stages: jax.Array | float = 3.0  # [C] AMD UG579 DSP48E2 full-speed registers
    act_stages: jax.Array | float = 1.0  # [A] one registered activation / requantisation
    fifo_stages: jax.Array | float = 1.0  # [A] one inter-layer stream register
    target_interval_cycles: jax.Array | float = 0.0  # [A] 0 = as fast as resources allow
    fold_balanced: jax.Array | float = 1.0  # [C] FINN balanced folding (FPGA'17)
    dram_capacity_bytes: jax.Array | float = 4.0e9  # [A] see docstring
    name: str = dataclasses.field(default="fpga", metadata={"static": True})

    def __post_init__(self):
        object.__setattr__(self, "architecture",
                           _code(self.architecture, ARCHITECTURES, "FpgaSpec.architecture"))
        check_fields(self, _RULES, optional=("ff",))  # the file schema, concrete values
        if self.ff is None:
            object.__setattr__(self, "ff", 2.0 * self.lut)

    def replace(self, **changes) -> FpgaSpec:
        """A copy with some fields changed (names accepted for ``architecture``)."""
        return dataclasses.replace(self, **changes)

    def describe(self) -> dict:
        """Plain-Python view of an unbatched spec (``architecture`` as a name)."""
        return describe_spec(self, {"architecture": ARCHITECTURES})


_FRACTION = Rule(min=0.0, max=1.0)
_RULES = {
    "lut": Rule("int"), "ff": Rule("int"), "dsp": Rule("int", exclusive=False),
    "bram18": Rule("int", exclusive=False), "uram": Rule("int", exclusive=False),
    "freq_hz": Rule(), "dram_bandwidth_bytes_per_s": Rule(),
    "dram_energy_pj_per_byte": Rule(exclusive=False),
    "node_nm": Rule(min=3.0, max=180.0, exclusive=False),
    "static_power_w": Rule(exclusive=False), "board_price_usd": Rule(exclusive=False),
    "dram_capacity_bytes": Rule(max=1e15),
    "architecture": Rule("choice", choices=ARCHITECTURES),
    "lut_ceiling": _FRACTION, "ff_ceiling": _FRACTION, "dsp_ceiling": _FRACTION,
    "bram_ceiling": _FRACTION, "uram_ceiling": _FRACTION,
    "lut_mac_max_bits": Rule(min=0.0, max=32.0, exclusive=False),
    "dsp_macs_8bit": Rule(min=1.0, max=8.0, exclusive=False),
    "dsp_macs_4bit": Rule(min=1.0, max=16.0, exclusive=False),
    "dsp_clock_ratio": Rule(min=1.0, max=4.0, exclusive=False),
    "overlay_macs": Rule(exclusive=False),
    "overlay_bits": Rule("int", min=1.0, max=32.0, exclusive=False),
    "overlay_tile_k": Rule("int", min=1.0, exclusive=False),
    "overlay_tile_n": Rule("int", min=1.0, exclusive=False),
    "overlay_layer_overhead_cycles": Rule(exclusive=False),
    "overlay_fmap_dram": Rule("bool"),
    "lut_energy_gap": Rule(min=1.0, exclusive=False),
    "hard_energy_gap": Rule(min=1.0, exclusive=False),
    "io_bits_per_cycle": Rule(min=1.0, exclusive=False),
    "adder_levels_per_cycle": Rule(min=1.0, max=MAX_ADDER_LEVELS_PER_CYCLE, exclusive=False),
    "dsp_mul_stages": Rule(min=1.0, max=8.0, exclusive=False),
    "act_stages": Rule(min=0.0, max=8.0, exclusive=False),
    "fifo_stages": Rule(min=0.0, max=8.0, exclusive=False),
    "target_interval_cycles": Rule(exclusive=False),
    "fold_balanced": Rule("bool"),
}
register_spec_kind("fpga", FpgaSpec, _RULES,
                   ("lut", "dsp", "bram18", "freq_hz", "dram_bandwidth_bytes_per_s",
                    "board_price_usd", "architecture"))
