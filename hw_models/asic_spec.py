"""``AsicSpec``: a spatial PE-array accelerator, as a frozen pytree.

Numeric fields are pytree leaves, so a batch of designs is one ``AsicSpec`` whose
fields have a leading batch axis (``jax.vmap`` over it). Categorical fields
(``dataflow``, ``mapping``, ``sparsity_support``) are stored as integer codes so that
they can be batched too; the constructor also accepts their names.

Example:
    >>> spec = AsicSpec(pe_rows=16, pe_cols=16, dataflow="ws")
    >>> int(spec.dataflow)
    1
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from lepton_codesign.hw_models import constants as C
from lepton_codesign.hw_models.schema import Rule, SpecError, check_fields, spec_pytree
from lepton_codesign.hw_models.schema import categorical_code as _code
from lepton_codesign.hw_models.specio import describe_spec, register_spec_kind

DATAFLOWS = ("os", "ws", "is")
MAPPINGS = ("best", "scalesim")
MAP_BEST, MAP_SCALESIM = 0, 1
SPARSITY_SUPPORT = ("none", "zero-gating", "skipping", "nm")
OS, WS, IS = 0, 1, 2
# Optional per-level energies (None = the size law), see AsicSpec's docstring.
_LEVELS = ("rf_weight", "rf_input", "rf_psum", "ifmap_sram", "filter_sram", "ofmap_sram")
ENERGY_OVERRIDES = (tuple(f"{lv}_pj_per_byte" for lv in _LEVELS)
                    + tuple(f"{lv}_write_pj_per_byte" for lv in _LEVELS))
SP_NONE, SP_GATING, SP_SKIPPING, SP_NM = 0, 1, 2, 3


@spec_pytree
@dataclasses.dataclass(frozen=True)
class AsicSpec:
    """A systolic / spatial PE-array accelerator.

    Attributes:
        pe_rows, pe_cols: PE array shape.
        dataflow: ``"os" | "ws" | "is"`` (stored as 0/1/2), as in SCALE-Sim.
        mapping: ``"best" | "scalesim"`` (0/1; static: one mode per batch of designs, so
            the evaluator computes only that mode): how each layer's loops are ordered
            and tiled for DRAM traffic. ``"best"`` picks, per layer, the least-traffic
            candidate of ``hw_models.asic_traffic.MAPPING_NAMES``; ``"scalesim"`` keeps
            SCALE-Sim's fixed fold order (about 2x faster to evaluate). Compute cycles
            are the same in both.
        freq_hz: clock frequency. Default 1 GHz [A].
        ifmap_sram_bytes, filter_sram_bytes, ofmap_sram_bytes: double-buffered
            on-chip buffers (SCALE-Sim's three SRAMs). Default 256 KiB each [A]
            (SCALE-Sim's sample configs use 64 KiB-6 MiB).
        dram_bandwidth_bytes_per_s: off-chip bandwidth. Default 25.6 GB/s [A]
            (one DDR4-3200 64-bit channel).
        dram_energy_pj_per_byte: off-chip access energy. Default 162.5 pJ/B [D]
            (Horowitz 2014, 1.3 nJ per 64-bit access).
        node_nm: process node in nm. Default 28 [A].
        pe_bits: native operand width of a PE. Default 8.
        precision_scalable: 1 if a PE splits into (pe_bits/w)*(pe_bits/a) narrower
            MACs per cycle (Bit Fusion-style), else 0. Default 0.
        sparsity_support: ``"none" | "zero-gating" | "skipping" | "nm"`` (0..3).
        index_bits: metadata bits per non-zero for unstructured skipping. Default 4
            (EIE's 4-bit relative indices, Han et al. ISCA 2016 [C]).
        leakage_w_per_mm2: static power density. Default 5 mW/mm^2 [A].
        defect_density_per_cm2: D0 for the yield model. Default 0.1 [C] (TSMC N7/N5).
        packaging_usd: package + test per unit. Default $5 [A].
        volume_units: units that share the NRE. Default 100,000 [A].
        wafer_price_usd: 300 mm wafer price; ``None`` = CSET 2020 table at ``node_nm``.
        nre_usd: one-off engineering cost; ``None`` = mask-set cost at ``node_nm``
            (SemiAnalysis [S]).
        dram_devices: DRAM devices on the part; ``None`` = enough to supply
            ``dram_bandwidth_bytes_per_s``: ceil(bandwidth / per-device bandwidth).
            0 for an SRAM-only part.
        dram_device_bandwidth_bytes_per_s: bandwidth of one device. Default 6.4 GB/s
            [D] (DDR4-3200 x16); an HBM3 stack is 819 GB/s [S] (``constants``).
        dram_device_usd: price of one device. Default $3.5 [D] (DRAMeXchange DDR4
            8 Gb quotes, ``constants.DDR4_DEVICE_USD``); HBM3 stack $160 [D].
        board_usd: board or module around the package (PCB, regulators, connector,
            assembly). Default $10 [A] (M.2-class module); a PCIe card ~$80 [D]
            (``constants.BOARD_PCIE_CARD_USD``). See docs/dollars.md.
        rf_weight_bytes, rf_input_bytes, rf_psum_bytes: per-PE register file of each
            operand (memory hierarchy level below the SRAMs, ``hw_models.asic_memory``).
            Default 0 = no RF level (the three-buffer template). Eyeriss: 448 B weight,
            24 B input, 48 B psum scratchpads (Chen et al. JSSC 2017; [U] as in the
            eyeriss-like preset).
        rf_weight_pj_per_byte, rf_input_pj_per_byte, rf_psum_pj_per_byte: energy per
            byte read from each RF; ``None`` = Eyeriss's RF = 1x 16-bit MAC law at
            ``node_nm`` (``constants.E_RF_PJ_PER_BYTE_45``).
        ifmap_sram_pj_per_byte, filter_sram_pj_per_byte, ofmap_sram_pj_per_byte:
            energy per byte read from each SRAM; ``None`` = the banked Horowitz size
            law (``constants.sram_energy_pj_per_byte``). Set them to state a known
            (measured, CACTI/Accelergy) per-access energy divided by the access width.
        rf_*_write_pj_per_byte, *_sram_write_pj_per_byte: the same per byte written;
            ``None`` = the level's read energy.
        vector_lanes: simple operations per cycle of the post-processing (vector) unit
            that runs the non-GEMM op groups (``hw_models.op_costs``); ``None`` = one
            lane per PE column [A] (the array's output row is post-processed as it
            drains: TPUv1's activation unit takes one 256-wide accumulator row per
            cycle, Jouppi et al. ISCA 2017 [C]).
        dram_capacity_bytes: off-chip memory of the part, for LLM capacity checks
            (``hw_models.llm_costs``); ``None`` = ``dram_devices`` (as priced by
            ``dollars.dram_devices``) x 1 GiB [D] (one 8 Gb DDR4 device, the device
            ``dram_device_usd`` prices). Give it for HBM or other device sizes.
        name: display name (static).
        register_files: (static, derived) whether any ``rf_*_bytes`` is non-zero; set
            by the constructor, so a batch of designs without register files prices
            on-chip energy with the three-buffer formula alone (faster).
    """

    pe_rows: jax.Array | float
    pe_cols: jax.Array | float
    dataflow: jax.Array | int | str = "ws"
    freq_hz: jax.Array | float = 1.0e9
    ifmap_sram_bytes: jax.Array | float = 256 * 1024.0
    filter_sram_bytes: jax.Array | float = 256 * 1024.0
    ofmap_sram_bytes: jax.Array | float = 256 * 1024.0
    dram_bandwidth_bytes_per_s: jax.Array | float = 25.6e9
    dram_energy_pj_per_byte: jax.Array | float = C.E_DRAM_PJ_PER_BYTE
    node_nm: jax.Array | float = 28.0
    pe_bits: jax.Array | float = 8.0
    precision_scalable: jax.Array | float = 0.0
    sparsity_support: jax.Array | int | str = "none"
    index_bits: jax.Array | float = 4.0
    leakage_w_per_mm2: jax.Array | float = C.LEAKAGE_W_PER_MM2
    defect_density_per_cm2: jax.Array | float = C.DEFECT_DENSITY_PER_CM2
    packaging_usd: jax.Array | float = C.PACKAGING_TEST_USD
    volume_units: jax.Array | float = C.DEFAULT_VOLUME_UNITS
    wafer_price_usd: jax.Array | float | None = None
    nre_usd: jax.Array | float | None = None
    dram_devices: jax.Array | float | None = None
    dram_device_bandwidth_bytes_per_s: jax.Array | float = C.DDR4_DEVICE_BYTES_PER_S
    dram_device_usd: jax.Array | float = C.DDR4_DEVICE_USD
    board_usd: jax.Array | float = C.BOARD_MODULE_USD
    rf_weight_bytes: jax.Array | float = 0.0
    rf_input_bytes: jax.Array | float = 0.0
    rf_psum_bytes: jax.Array | float = 0.0
    rf_weight_pj_per_byte: jax.Array | float | None = None
    rf_input_pj_per_byte: jax.Array | float | None = None
    rf_psum_pj_per_byte: jax.Array | float | None = None
    ifmap_sram_pj_per_byte: jax.Array | float | None = None
    filter_sram_pj_per_byte: jax.Array | float | None = None
    ofmap_sram_pj_per_byte: jax.Array | float | None = None
    rf_weight_write_pj_per_byte: jax.Array | float | None = None
    rf_input_write_pj_per_byte: jax.Array | float | None = None
    rf_psum_write_pj_per_byte: jax.Array | float | None = None
    ifmap_sram_write_pj_per_byte: jax.Array | float | None = None
    filter_sram_write_pj_per_byte: jax.Array | float | None = None
    ofmap_sram_write_pj_per_byte: jax.Array | float | None = None
    vector_lanes: jax.Array | float | None = None
    dram_capacity_bytes: jax.Array | float | None = None
    mapping: int | str = dataclasses.field(default="best", metadata={"static": True})
    name: str = dataclasses.field(default="asic", metadata={"static": True})
    register_files: bool = dataclasses.field(default=False, metadata={"static": True})

    def __post_init__(self):
        # Static (part of the pytree structure, so a jitted evaluator specialises on
        # it): whether any per-PE register file exists. Set from the RF sizes whenever
        # they are concrete; traced sizes count as present.
        sizes = (self.rf_weight_bytes, self.rf_input_bytes, self.rf_psum_bytes)
        traced = any(isinstance(v, jax.core.Tracer) for v in sizes)
        object.__setattr__(self, "register_files", bool(
            traced or any(float(np.max(np.asarray(v))) > 0.0 for v in sizes)))
        object.__setattr__(self, "dataflow", _code(self.dataflow, DATAFLOWS, "AsicSpec.dataflow"))
        mapping = _code(self.mapping, MAPPINGS, "AsicSpec.mapping")
        if isinstance(mapping, jax.core.Tracer) or np.size(mapping) != 1 and len(
                set(np.asarray(mapping).ravel().tolist())) != 1:
            raise SpecError("AsicSpec.mapping is static: one mode for a whole batch of "
                            f"designs; allowed: one of {list(MAPPINGS)}")
        code = int(np.asarray(mapping).ravel()[0])
        if not 0 <= code < len(MAPPINGS) or float(np.asarray(mapping).ravel()[0]) != code:
            raise SpecError(f"AsicSpec.mapping: {mapping!r} is not allowed; allowed: one of "
                            f"{list(MAPPINGS)} (codes 0..{len(MAPPINGS) - 1})")
        object.__setattr__(self, "mapping", code)
        object.__setattr__(
            self,
            "sparsity_support",
            _code(self.sparsity_support, SPARSITY_SUPPORT, "AsicSpec.sparsity_support"),
        )
        # The file schema, on concrete values (tracers skipped; every batch element).
        check_fields(self, _RULES, optional=("wafer_price_usd", "nre_usd", "dram_devices",
                                               "vector_lanes", "dram_capacity_bytes",
                                               *ENERGY_OVERRIDES))

    @property
    def num_pes(self):
        return self.pe_rows * self.pe_cols

    def replace(self, **changes) -> AsicSpec:
        """A copy with some fields changed (names accepted for categorical fields)."""
        return dataclasses.replace(self, **changes)

    def describe(self) -> dict:
        """Plain-Python view of an unbatched spec (categorical codes as names)."""
        return describe_spec(self, {"dataflow": DATAFLOWS, "mapping": MAPPINGS,
                                    "sparsity_support": SPARSITY_SUPPORT})


_RULES = {
    # Physical envelopes [A], generous on purpose: they only keep a typo (1e12 PEs,
    # 1e-50 B/s) from producing a design whose costs overflow. The largest monolithic
    # PE arrays are 256x256 (TPUv1, Jouppi 2017); clocks stay below ~5 GHz (cap 1 THz);
    # HBM3e stacks give ~1.2 TB/s each [S]; bandwidth 1 kB/s .. 10 PB/s brackets any
    # memory system (the top is the "infinite bandwidth" that makes a design compute-bound).
    "pe_rows": Rule("int", 0, max=4096), "pe_cols": Rule("int", 0, max=4096),
    "dataflow": Rule("choice", choices=DATAFLOWS),
    "mapping": Rule("choice", choices=MAPPINGS),
    "vector_lanes": Rule("int", 0, max=65536),
    "freq_hz": Rule(max=1e12), "ifmap_sram_bytes": Rule(), "filter_sram_bytes": Rule(),
    "ofmap_sram_bytes": Rule(),
    "dram_bandwidth_bytes_per_s": Rule(min=1e3, exclusive=False, max=1e16),
    "dram_energy_pj_per_byte": Rule(min=0.0, exclusive=False),
    "node_nm": Rule(min=3.0, max=180.0, exclusive=False),
    "pe_bits": Rule("int", min=1, max=32, exclusive=False),
    "precision_scalable": Rule("bool"),
    "sparsity_support": Rule("choice", choices=SPARSITY_SUPPORT),
    "index_bits": Rule(min=0.0, max=32.0, exclusive=False),
    "leakage_w_per_mm2": Rule(min=0.0, exclusive=False),
    "defect_density_per_cm2": Rule(min=0.0, exclusive=False),
    "packaging_usd": Rule(min=0.0, exclusive=False),
    "volume_units": Rule(),
    "wafer_price_usd": Rule(),
    "nre_usd": Rule(min=0.0, exclusive=False),
    # Deployable-part terms (docs/dollars.md): a count of devices (0 = SRAM-only part),
    # a per-device bandwidth within the Rule of the spec's own bandwidth, and prices.
    "dram_devices": Rule("int", min=0.0, exclusive=False, max=1e6),
    "dram_device_bandwidth_bytes_per_s": Rule(min=1e3, exclusive=False, max=1e16),
    "dram_device_usd": Rule(min=0.0, exclusive=False),
    "board_usd": Rule(min=0.0, exclusive=False),
    "dram_capacity_bytes": Rule(max=1e15),  # > 0, at most 1 PB [A] (a typo guard)
    # Memory hierarchy (asic_memory): an RF of 0 B is absent; 1 MiB per PE caps a typo
    # (Eyeriss's largest per-PE scratchpad is 448 B) [A]. Energies >= 0 pJ/B, capped at
    # 1e4 pJ/B (60x DRAM's 162.5) [A].
    **{f: Rule(min=0.0, exclusive=False, max=2.0**20)
       for f in ("rf_weight_bytes", "rf_input_bytes", "rf_psum_bytes")},
    **{f: Rule(min=0.0, exclusive=False, max=1e4) for f in ENERGY_OVERRIDES},
}
register_spec_kind("asic", AsicSpec, _RULES, ("pe_rows", "pe_cols", "dataflow", "freq_hz"))
