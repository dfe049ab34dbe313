"""The co-design ASIC scorer and ``search.hardware.asic_objective`` share one builder."""

from __future__ import annotations

import jax
import numpy as np

from lepton_codesign import hw_models as hw
from lepton_codesign.codesign import families as fam
from lepton_codesign.codesign.config import validate_config
from lepton_codesign.hw_models.compression import make_compression
from lepton_codesign.search.hardware import asic_objective, asic_space

from .conftest import TINY


def test_both_entry_points_give_identical_objectives_on_random_designs():
    cfg = validate_config(dict(TINY, objectives={"names": ["latency_s", "energy_j",
                                                            "area_mm2"]},
                               asic=dict(TINY["asic"], sparsity_support=["none", "skipping"])))
    wl = hw.gemm_workload([(64, 256, 128), (16, 128, 10)])
    comp = make_compression(2, weight_density=0.4, weight_bits=4, act_bits=8)
    space = fam.asic_space(cfg, ["only"])
    designs = {k: np.asarray(v) for k, v in
               space.decode(space.sample(jax.random.key(7), 32)).items()}
    objs, _ = fam.make_asic_objective(cfg, wl, fam.stack_compressions([comp]),
                                      np.array([0.9]))(designs)
    # the same designs in AsicSpec field names: sram_bytes sets all three buffers
    a = cfg["asic"]
    sram = designs["sram_bytes"]
    spec_designs = {
        "pe_rows": designs["pe_rows"], "pe_cols": designs["pe_cols"],
        "freq_hz": designs["freq_hz"], "node_nm": designs["node_nm"],
        "precision_scalable": designs["precision_scalable"],
        "ifmap_sram_bytes": sram, "filter_sram_bytes": sram, "ofmap_sram_bytes": sram,
        "dram_bandwidth_bytes_per_s": designs["dram_bandwidth_bytes_per_s"],
        "dataflow": designs["dataflow"], "sparsity_support": designs["sparsity_support"]}
    generic = asic_space(dataflows=a["dataflows"])
    generic = type(generic)({**generic.params,
                             "sparsity_support": fam.search.Choice(a["sparsity_support"])})
    expected, _ = asic_objective(wl, comp, space=generic,
                                 objectives=("total_latency_s", "total_energy_j",
                                             "area_mm2"))(spec_designs)
    assert len(set(designs["dataflow"].tolist())) > 1  # both categorical tables exercised
    assert len(set(designs["sparsity_support"].tolist())) > 1
    np.testing.assert_array_equal(np.asarray(objs), np.asarray(expected))
