"""Technology constants with their sources.

Every number carries a source tag, following ``shared/reference/anchors.md``:
[C] confirmed in a primary or near-primary source, [S] secondary source, [U]
unconfirmed, [D] derived here by the arithmetic shown, [A] a stated modelling
assumption that users can override in the spec.

Node-dependent quantities are tabulated at a few nodes and interpolated in log-log
space (``interp_node``), which is smooth and differentiable in ``node_nm``.

Example:
    >>> round(float(node_energy_scale(45.0)), 3)
    1.0
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

# ---------------------------------------------------------------------------
# Energy per operation at 45 nm, 0.9 V. Horowitz, "Computing's energy problem",
# ISSCC 2014 [C] (anchors.md section 3.1).
E_INT8_MULT_PJ_45 = 0.2  # [C] Horowitz 2014
E_INT8_ADD_PJ_45 = 0.03  # [C] Horowitz 2014
E_INT32_MULT_PJ_45 = 3.1  # [C] Horowitz 2014 (used in tests: 32x32 scaling check)
# 64-bit SRAM read: 8 KB -> 10 pJ, 32 KB -> 20 pJ, 1 MB -> 100 pJ [C, single transcription].
# Fitted power law E = 10 pJ * (size / 8 KiB) ** 0.475 [D]: log(100/10)/log(128) = 0.475;
# it reproduces 19.3 pJ at 32 KB (table: 20).
E_SRAM_64B_PJ_8KB_45 = 10.0  # [C] Horowitz 2014
SRAM_SIZE_EXPONENT = 0.475  # [D] from the three Horowitz SRAM points
# Large buffers are banked: an access reads one bank. 32 KiB banks [A], as in Gemmini's
# default 128 KiB scratchpad split into 4 banks (ucb-bar/gemmini Configs.scala
# sp_banks = 4) [U]. Without banking, Horowitz's law priced a 1 MiB buffer at 13-22x
# ZigZag's CACTI-based per-byte energy (benchmarks/validation/README_zigzag.md).
SRAM_BANK_BYTES = 32 * 1024.0
# Per-PE register files (RF, <= ~1 KiB): Eyeriss's normalised energies put one RF access
# at 1x a 16-bit MAC (MAC 1 : RF 1 : NoC 2 : global buffer 6 : DRAM 200), Chen, Emer, Sze
# ISCA 2016 [C] (anchors.md 3.1). Per byte at 45 nm [D]: (0.2 * 4 + 0.03 * 2) / 2 =
# 0.43 pJ/B, from this file's 16x16-bit MAC (mac_energy_pj_45). The table gives one number
# for 0.5-1 KiB RFs, so no size dependence is modelled [A]. Cross-check: the SRAM law
# below at its 1 KiB floor gives 0.46 pJ/B.
RF_TO_MAC16_ENERGY = 1.0  # [C] Eyeriss ISCA 2016 normalised RF access energy
E_RF_PJ_PER_BYTE_45 = RF_TO_MAC16_ENERGY * (E_INT8_MULT_PJ_45 * 4.0 + E_INT8_ADD_PJ_45 * 2.0) / 2.0
# DRAM: 1.3-2.6 nJ per 64-bit access [C] Horowitz 2014; the low end, per byte [D].
E_DRAM_PJ_PER_BYTE = 1300.0 / 8.0  # [D] = 162.5 pJ/B

# Partial sums are kept at accumulator width: 32 bits in Gemmini (INT8 in, INT32
# accumulate, ucb-bar/gemmini Configs.scala) [C] and in TPUv1's accumulators [S].
ACC_BITS = 32.0

# ---------------------------------------------------------------------------
# Area per operator at 45 nm [U]: Horowitz 2014 slide, from memory (anchors.md 3.1).
A_INT8_MULT_UM2_45 = 282.0  # [U]
A_INT8_ADD_UM2_45 = 36.0  # [U]
# A PE is more than its multiplier and adder: pipeline registers, accumulator, control.
PE_OVERHEAD_FACTOR = 2.0  # [A] registers+control roughly equal the datapath
PRECISION_SCALABLE_AREA_FACTOR = 1.3  # [A] fusion/shift logic (Bit Fusion-style PEs)
CHIP_OVERHEAD_FACTOR = 1.3  # [A] NoC, control, I/O beyond PEs and SRAM
# Per-PE register files are latch / flip-flop arrays with their own read muxes, not 6T
# SRAM macros: RF bit area = 3x the high-density SRAM bit-cell [A] (a ~12-18 transistor
# latch cell plus read port against 6 transistors), over the same array efficiency.
RF_CELL_AREA_FACTOR = 3.0
SRAM_ARRAY_EFFICIENCY = 0.65  # [U] macro density ~60-70% of bit-cell density

# ---------------------------------------------------------------------------
# Technology scaling relative to 45 nm at 0.8 V, Stillmaker & Baas 2017 (hwcomponents
# techscaling.py) [C] table values / [D] interpolations (anchors.md 3.2).
_NODES_NM = np.array([5.0, 7.0, 10.0, 14.0, 16.0, 20.0, 28.0, 32.0, 45.0, 65.0, 90.0, 130.0])
_AREA_X = np.array([0.042, 0.059, 0.10, 0.17, 0.19, 0.21, 0.377, 0.46, 1.0, 2.09, 4.0, 8.35])
# 5 nm [D] hwcomponents rule; 65/90/130 nm [D] ideal (node/45)^2 area scaling.
_ENERGY_X = np.array([0.080, 0.094, 0.118, 0.139, 0.174, 0.221, 0.513, 0.659, 1.0, 1.6, 2.6, 4.4])
# 65/90/130 nm energy factors [U]: not from the sqrt(node) rule (that would give
# 1.20/1.41/1.70); they follow ~(node/45)^1.3-1.4, a C*V^2 trend for the older nodes.

# SRAM high-density bit-cell area, um^2 (anchors.md 3.3).
_SRAM_NODES_NM = np.array([3.0, 5.0, 7.0, 16.0, 28.0, 45.0, 65.0])
_SRAM_CELL_UM2 = np.array([0.0199, 0.021, 0.027, 0.07, 0.127, 0.299, 0.525])
# 3 nm N3B, 5 nm, 7 nm [C] WikiChip; 16, 28 nm [U]; 45 nm 0.299 (TSMC 45 nm) [U];
# 65 nm 0.525 [U].

# ---------------------------------------------------------------------------
# Fabrication economics (anchors.md 3.4).
WAFER_DIAMETER_MM = 300.0  # [C] standard 300 mm wafers
_WAFER_NODES_NM = np.array([5.0, 7.0, 10.0, 16.0, 20.0, 28.0, 40.0, 65.0, 90.0])
_WAFER_PRICE_USD = np.array(
    [16988.0, 9346.0, 5992.0, 3984.0, 3677.0, 2891.0, 2274.0, 1937.0, 1650.0])
# CSET 2020 foundry sale prices: 5/7/10/16 nm and 90 nm [S]; 20-65 nm [U] (same table).
_MASK_NODES_NM = np.array([3.0, 7.0, 28.0, 65.0])
_MASK_SET_USD = np.array([40e6, 10e6, 1.0e6, 0.3e6])
# SemiAnalysis mask-set cost: 3 nm ~$40M, 7 nm >$10M, 28 nm >$1M, 90-45 nm "hundreds of
# thousands" (0.3 M taken) [S].
DEFECT_DENSITY_PER_CM2 = 0.1  # [C] TSMC N7 0.09, N5 0.10-0.11 (AnandTech 16028, 2020)
YIELD_CLUSTER_ALPHA = 2.0  # [S] negative-binomial alpha, typical 0.5-2 for mature processes
PACKAGING_TEST_USD = 5.0  # [A] flip-chip package + test for a small accelerator die
DEFAULT_VOLUME_UNITS = 100_000.0  # [A] units over which NRE is amortised
LEAKAGE_W_PER_MM2 = 0.005  # [A] ~5 mW/mm^2 of logic+SRAM leakage at nominal voltage


def interp_node(node_nm, nodes: np.ndarray, values: np.ndarray):
    """Interpolate a node-indexed table in log-log space (smooth in ``node_nm``).

    Outside the table the end segments are extrapolated linearly in log-log space.
    """
    x = jnp.log(jnp.asarray(node_nm, jnp.float32))
    xs = jnp.log(jnp.asarray(nodes, jnp.float32))
    ys = jnp.log(jnp.asarray(values, jnp.float32))
    idx = jnp.clip(jnp.searchsorted(xs, x) - 1, 0, len(nodes) - 2)
    x0, x1, y0, y1 = xs[idx], xs[idx + 1], ys[idx], ys[idx + 1]
    return jnp.exp(y0 + (y1 - y0) * (x - x0) / (x1 - x0))


def node_area_scale(node_nm):
    """Logic area relative to 45 nm (Stillmaker & Baas 2017)."""
    return interp_node(node_nm, _NODES_NM, _AREA_X)


def node_energy_scale(node_nm):
    """Dynamic energy per operation relative to 45 nm at 0.8 V (Stillmaker & Baas 2017)."""
    return interp_node(node_nm, _NODES_NM, _ENERGY_X)


def sram_cell_um2(node_nm):
    """High-density SRAM bit-cell area in um^2 at a node."""
    return interp_node(node_nm, _SRAM_NODES_NM, _SRAM_CELL_UM2)


def wafer_price_usd(node_nm):
    """300 mm wafer sale price at a node (CSET 2020)."""
    return interp_node(node_nm, _WAFER_NODES_NM, _WAFER_PRICE_USD)


def mask_set_usd(node_nm):
    """Mask-set cost at a node (SemiAnalysis), the NRE floor of a tape-out."""
    return interp_node(node_nm, _MASK_NODES_NM, _MASK_SET_USD)


def mac_energy_pj_45(w_bits, a_bits):
    """Energy of one w_bits x a_bits integer MAC at 45 nm, in pJ.

    The multiplier scales with the product of operand widths (array multiplier), the
    adder with their sum: 0.2 pJ * (w*a/64) + 0.03 pJ * (w+a)/16 [D from Horowitz].
    At 32x32 bits the multiplier term gives 3.2 pJ against Horowitz's 3.1 pJ.
    """
    return E_INT8_MULT_PJ_45 * (w_bits * a_bits / 64.0) + E_INT8_ADD_PJ_45 * (
        (w_bits + a_bits) / 16.0
    )


def mac_area_um2_45(pe_bits):
    """Datapath area of one pe_bits x pe_bits MAC at 45 nm (multiplier + adder), um^2."""
    return A_INT8_MULT_UM2_45 * (pe_bits * pe_bits / 64.0) + A_INT8_ADD_UM2_45 * (pe_bits / 8.0)


def sram_energy_pj_per_byte(size_bytes, node_nm):
    """Energy per byte of an SRAM access for a buffer of ``size_bytes`` at a node.

    Buffers are built from banks of at most ``SRAM_BANK_BYTES``; an access touches one
    bank, so the Horowitz size law applies up to the bank size and is flat beyond it.
    """
    size = jnp.clip(jnp.asarray(size_bytes, jnp.float32), 1024.0, SRAM_BANK_BYTES)
    e64 = E_SRAM_64B_PJ_8KB_45 * (size / 8192.0) ** SRAM_SIZE_EXPONENT
    return e64 / 8.0 * node_energy_scale(node_nm)

# ---------------------------------------------------------------------------
# Deployable-part dollars (docs/dollars.md): what an ASIC needs around its die to be a
# part you plug in, like an FPGA board or a GPU card / module.
# DRAM: one DDR4-3200 x16 8 Gb device moves 3200 MT/s x 2 B = 6.4 GB/s [D]. Its price:
# DRAMeXchange DDR4 8 Gb contract average $3.29 (Apr 2020, via Korea Herald) [S] and
# spot average $3.78 for DDR4 8 Gb 3200 (Jun 2025, via incusit.com) [S]; $3.5 taken [D].
DDR4_DEVICE_BYTES_PER_S = 3200e6 * 2.0  # [D] DDR4-3200, x16
DDR4_DEVICE_USD = 3.5  # [D] between the two DRAMeXchange quotes above
# HBM3: 819 GB/s per stack (SK Hynix HBM3 announcement, 1024-bit at 6.4 Gb/s) [S];
# HBM3e ~$8-10/GB (asiatechfeed.com 2026) [S], so a 16 GB stack ~$130-160; $160 taken
# [D] (an HBM3 8-Hi cost estimate gives $198 per stack, legitlads.com [U]).
HBM3_STACK_BYTES_PER_S = 819e9  # [S]
HBM3_STACK_USD = 160.0  # [D] 16 GB x $10/GB
# Board / module around the package: PCB, voltage regulators, connector, assembly.
# Edge module (M.2 2280 class, a few W): 6-layer 22x80 mm PCB + PMIC + passives +
# assembly, ~$10 [A]; real M.2 accelerators list at $25 (Coral M.2, Edge TPU) to
# ~$180 (Hailo-8 M.2) [S], so $10 is a floor for the non-silicon part, not a price.
BOARD_MODULE_USD = 10.0  # [A]
# PCIe card (tens of W): a GPU vendor puts PCB + cooling + assembly at ~20% of a card's
# manufacturing cost, die + memory the other 80% (itbrief.co / gpu.name, 2025) [S];
# for a $300-500 high-end card that is $60-100 [D]; $80 taken [D].
BOARD_PCIE_CARD_USD = 80.0  # [D]
