"""GPU MMA-shape terms: reduction padding and the CUDA-core path for depthwise GEMMs."""

from __future__ import annotations

import numpy as np
import pytest

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models import gpu_kernel as gk


@pytest.mark.parametrize("k, code, padded", [(147.0, 3, 160.0), (147.0, 1, 160.0),
                                             (147.0, 0, 192.0), (147.0, 4, 152.0),
                                             (147.0, 5, 147.0), (1024.0, 3, 1024.0)])
def test_reduction_is_padded_to_the_mma_step(k, code, padded):
    assert float(gk.mma_k_padded(k, code)) == padded


def test_padded_reduction_costs_the_same_as_the_padded_gemm():
    spec = hw.preset("h200")
    cp = hw.dense_compression(1, bits=16)
    a = hw.evaluate(hw.gemm_workload([(65536, 147, 64)]), spec, cp)
    b = hw.evaluate(hw.gemm_workload([(65536, 160, 64)]), spec, cp)
    assert float(a.compute_cycles[0]) == pytest.approx(float(b.compute_cycles[0]), rel=1e-5)


def test_depthwise_runs_on_cuda_cores_without_tile_padding():
    spec = hw.preset("h200")
    # 512 groups of (m=200704, k=9, n=1): a depthwise 3x3 conv on 224x224x512
    wl = hw.gemm_workload([(200704, 9, 1)], groups=[512])
    c = hw.evaluate(wl, spec, hw.dense_compression(1, bits=16))
    flops = 2.0 * 200704 * 9 * 512
    expect_s = flops / float(np.ravel(gk.cuda_core_rate(spec))[0])
    assert float(c.compute_cycles[0]) / float(spec.clock_hz) == pytest.approx(expect_s, rel=1e-4)
    assert not bool(gk.uses_tensor_cores(1.0)) and bool(gk.uses_tensor_cores(8.0))
