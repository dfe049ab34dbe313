"""Per-operand split of the register-file energy (``asic_energy.rf_operand_split_j``).

The split is a diagnostic (``benchmarks/validation/zigzag_energy.py`` prints it per
layer next to ZigZag's): its parts must add up to the RF total of ``onchip_split_j``,
each part must be that operand's reads and writes of ``asic_memory.level_bytes`` at the
blocking ``evaluate`` chose, and an operand without an RF must get exactly zero.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models import asic_memory as mem
from lepton_codesign.hw_models import systolic
from lepton_codesign.hw_models.asic_energy import (
    onchip_split_j,
    reference_energy_pj,
    rf_operand_split_j,
)
from lepton_codesign.hw_models.asic_traffic import dram_traffic

RFS = dict(rf_weight_bytes=16.0, rf_input_bytes=8.0, rf_psum_bytes=16.0)


def _wl():
    return hw.make_workload([
        hw.conv_layer("c1", (14, 14), 16, 24, (3, 3), 1, 1),
        {"name": "fc", "m": 4, "k": 200, "n": 30},
        hw.conv_layer("c2", (16, 16), 8, 32, (1, 1), 2, 0),
    ])


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_operand_parts_add_up_to_rf_total(dataflow):
    wl, spec = _wl(), hw.AsicSpec(8, 6, dataflow, **RFS)
    parts = rf_operand_split_j(wl, spec)
    rf = np.asarray(onchip_split_j(wl, spec).rf_j)
    assert all(np.all(np.asarray(v) >= 0.0) for v in parts.values())
    np.testing.assert_allclose(sum(np.asarray(v) for v in parts.values()), rf, rtol=1e-5)
    assert np.all(np.asarray(parts["o"]) > 0.0)  # the psum RF is read every MAC


def test_missing_rf_gives_zero_part():
    wl = _wl()
    parts = rf_operand_split_j(wl, hw.AsicSpec(8, 6, "ws", rf_weight_bytes=16.0))
    assert np.all(np.asarray(parts["w"]) > 0.0)
    assert np.all(np.asarray(parts["i"]) == 0.0) and np.all(np.asarray(parts["o"]) == 0.0)


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_parts_match_level_bytes_of_chosen_blocking(dataflow):
    wl = hw.gemm_workload([(50, 72, 40)])
    spec = hw.AsicSpec(8, 6, dataflow, **RFS)
    fr, fc = systolic.folds(wl.m, wl.k, wl.n, 8.0, 6.0, spec.dataflow, False)
    t = dram_traffic(wl, spec, act_bits=8.0, w_bytes=wl.k * wl.n, i_bytes=wl.m * wl.k,
                     o_bytes=wl.m * wl.n, n_eff=wl.n, k_eff=wl.k, fr=fr, fc=fc)
    ref = reference_energy_pj(wl, spec, act_bits=8.0, w_bytes=wl.k * wl.n, k_streamed=wl.k,
                              n_eff=wl.n, fr=fr, fc=fc, traffic=t)
    order = min(ref, key=lambda o: float(ref[o][0][0] + ref[o][1][0]))
    b = mem.level_bytes(spec, m=wl.m, k_s=wl.k, n=wl.n, w_bytes=wl.k * wl.n, act_bits=8.0,
                        fr=jnp.float32(fr[0]), fc=jnp.float32(fc[0]), order=order)
    e = mem.level_energies_pj_per_byte(spec)
    want = {op: float((getattr(b, f"rf_{op}_rd") * e[f"rf_{op}_rd"]
                       + getattr(b, f"rf_{op}_wr") * e[f"rf_{op}_wr"])[0]) * 1e-12
            for op in ("w", "i", "o")}
    got = rf_operand_split_j(wl, spec)
    for op in ("w", "i", "o"):
        np.testing.assert_allclose(float(got[op][0]), want[op], rtol=1e-5, atol=1e-18)
