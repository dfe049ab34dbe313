"""Alpha-beta collective costs and interconnect specs (hw_models.interconnect)."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models import interconnect as icx
from lepton_codesign.hw_models.schema import SpecError

# 100 GB/s, one link, 1 us per hop, 2 us per collective, no efficiency loss
IC = icx.Interconnect(100e9, 1.0, 1e-6, 2e-6, 1.0)


def close(a, b):
    return math.isclose(float(a), b, rel_tol=1e-5)


def test_all_reduce_by_hand():
    # 2 (p-1)/p S / bw + 2 (p-1) alpha + base = 2*3/4 * 4 ms + 6 us + 2 us
    assert close(icx.all_reduce_s(400e6, 4, IC), 6e-3 + 6e-6 + 2e-6)
    assert close(icx.all_reduce_s(1e6, 8, IC), 2 * 7 / 8 * 1e-5 + 14e-6 + 2e-6)


def test_all_gather_and_reduce_scatter_by_hand():
    # (p-1)/p S / bw + (p-1) alpha + base
    assert close(icx.all_gather_s(800e6, 8, IC), 7 / 8 * 8e-3 + 7e-6 + 2e-6)
    assert close(icx.reduce_scatter_s(200e6, 2, IC), 0.5 * 2e-3 + 1e-6 + 2e-6)


def test_ring_all_reduce_is_reduce_scatter_then_all_gather():
    for p in (2, 3, 8):
        ar = float(icx.all_reduce_s(3e7, p, IC))
        two = float(icx.reduce_scatter_s(3e7, p, IC) + icx.all_gather_s(3e7, p, IC))
        assert math.isclose(ar, two - 2e-6, rel_tol=1e-5)  # one start-up, not two


def test_send_by_hand():
    assert close(icx.send_s(1e6, IC), 1e-5 + 1e-6 + 2e-6)
    ic2 = icx.Interconnect(100e9, 4.0, 0.0, 0.0, 0.5)  # 4 links at 50%: 200 GB/s
    assert close(icx.send_s(2e9, ic2), 1e-2)


@pytest.mark.parametrize("fn", [icx.all_reduce_s, icx.all_gather_s, icx.reduce_scatter_s])
def test_one_device_costs_exactly_zero(fn):
    assert float(fn(1e9, 1, IC)) == 0.0
    assert float(icx.send_s(1e9, IC, p=1)) == 0.0


@pytest.mark.parametrize("fn", [icx.all_reduce_s, icx.all_gather_s, icx.reduce_scatter_s])
def test_monotone_in_devices_and_bytes(fn):
    ps = [1, 2, 3, 4, 8, 16, 64]
    t = [float(fn(1e8, p, IC)) for p in ps]
    assert all(a < b for a, b in zip(t, t[1:], strict=False))
    sizes = [0.0, 1e3, 1e6, 1e9]
    t = [float(fn(s, 4, IC)) for s in sizes]
    assert all(a < b for a, b in zip(t, t[1:], strict=False))


def test_faster_fabric_is_faster():
    nv, pcie = icx.interconnect("nvlink4"), icx.interconnect("pcie4")
    for s in (1e3, 1e6, 1e9):
        assert icx.all_reduce_s(s, 8, nv) < icx.all_reduce_s(s, 8, pcie)


def test_presets_line_rates():
    nv4 = icx.interconnect("nvlink4")
    # 900 GB/s bidirectional = 450 GB/s per direction [C]; NCCL reaches 370 GB/s
    assert close(nv4.link_bandwidth_bytes_per_s * nv4.links_per_device, 450e9)
    assert close(icx.bandwidth_bytes_per_s(nv4), 370e9)
    nv3 = icx.interconnect("nvlink3")
    assert close(nv3.link_bandwidth_bytes_per_s * nv3.links_per_device, 300e9)
    assert icx.interconnect("pcie4").link_bandwidth_bytes_per_s == 31.5e9
    assert icx.interconnect("ib400").tier == icx.TIERS.index("ib")


def test_default_interconnect_per_device():
    assert icx.default_interconnect(hw.preset("h100-sxm")).name == "nvlink4"
    assert icx.default_interconnect(hw.preset("h200")).name == "nvlink4"
    assert icx.default_interconnect(hw.preset("a100-sxm")).name == "nvlink3"
    assert icx.default_interconnect(hw.preset("l4")).name == "pcie4"
    assert icx.default_interconnect(hw.preset("t4")).name == "pcie3"
    assert icx.default_interconnect(hw.preset("alveo-u55c")).name == "pcie4"


@pytest.mark.parametrize("field, value", [
    ("efficiency", 1.5), ("efficiency", 0.0), ("link_bandwidth_bytes_per_s", float("nan")),
    ("hop_latency_s", -1e-6), ("links_per_device", 0), ("tier", 7),
])
def test_bad_interconnect_is_refused_by_name(field, value):
    kwargs = {"link_bandwidth_bytes_per_s": 1e9, field: value}
    with pytest.raises(SpecError, match=f"Interconnect.{field}"):
        icx.Interconnect(**kwargs)


def test_unknown_names_suggest():
    with pytest.raises(SpecError, match="did you mean 'nvlink4'"):
        icx.interconnect("nvlnk4")
    with pytest.raises(SpecError, match="Interconnect.tier.*allowed"):
        icx.Interconnect(1e9, tier="infiniband")


def test_jit_and_vmap_over_interconnects():
    a, b = icx.interconnect("nvlink4"), icx.interconnect("pcie4")
    stacked = jax.tree.map(lambda x, y: jnp.stack([jnp.asarray(x), jnp.asarray(y)]),
                           a, dataclasses.replace(b, name=a.name))
    got = jax.jit(jax.vmap(lambda ic: icx.all_reduce_s(1e6, 8, ic)))(stacked)
    want = [float(icx.all_reduce_s(1e6, 8, x)) for x in (a, b)]
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)

