"""Device-to-device interconnect specs and alpha-beta collective costs.

An ``Interconnect`` describes how one device talks to its peers: per-link bandwidth
(bytes/s, one direction), links per device, per-hop latency (alpha), a fixed start-up
per collective and the fraction of the wire rate a collective library sustains. The
collectives follow the alpha-beta model of Thakur, Rabenseifner and Gropp, "Optimization
of Collective Communication Operations in MPICH" (IJHPCA 2005) for a ring, as NCCL
implements them (NCCL docs, "Collective Operations"; ``nccl-tests`` doc/PERFORMANCE.md):

* all-reduce (ring: reduce-scatter then all-gather): ``2 (p-1)/p * S / bw + 2 (p-1) alpha``
* all-gather, reduce-scatter: ``(p-1)/p * S / bw + (p-1) alpha``
* point-to-point send (pipeline stages): ``S / bw + alpha``

plus ``base_latency_s`` per collective when ``p > 1``; ``S`` is the full tensor (the
all-reduced buffer, the gathered output), ``bw`` = link bandwidth x links x efficiency.
Every cost is exactly 0 for ``p = 1``.

Presets (``INTERCONNECTS``) name their sources; ``default_interconnect(spec)`` picks the
fabric a preset device ships with.

Example:
    >>> ic = interconnect("nvlink4")
    >>> round(float(bandwidth_bytes_per_s(ic)) / 1e9)  # 18 links x 25 GB/s x 0.822
    370
    >>> float(all_reduce_s(1e6, 1, ic))
    0.0
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from lepton_codesign.hw_models.schema import (
    Rule,
    SpecError,
    categorical_code,
    check_fields,
    closest,
    spec_pytree,
)

TIERS = ("nvlink", "nvswitch", "pcie", "ethernet", "ib")

# NCCL's own cost model, src/graph/tuning.cc (NVIDIA/nccl v2.18-2.21) [C]: ring, LL
# protocol (the one NCCL picks for the small messages of LLM decode): base latency 3.6 us
# per collective; per-hop latency 0.47 us over NVLink, 1.0 us over PCIe, 2.7 us over the
# network.
NCCL_RING_LL_BASE_S = 3.6e-6
NCCL_HOP_NVLINK_S = 0.47e-6
NCCL_HOP_PCI_S = 1.0e-6
NCCL_HOP_NET_S = 2.7e-6
# Achievable fraction of the NVLink line rate [C]: NCCL maintainer (S. Jeaugey,
# NVIDIA/nccl-tests issue #212, 2024): "450GB/s is the line rate. With the protocol
# overhead (~20%) NCCL can get an effective NVLink bandwidth of 370GB/s" -> 370/450.
NVLINK_EFFICIENCY = 370.0 / 450.0
# PCIe: 128b/130b encoding and TLP/DLLP overhead; pinned copies over Gen4 x16 reach
# ~25-26 GB/s of 31.5 GB/s [U] (CUDA bandwidthTest reports) -> 0.8.
PCIE_EFFICIENCY = 0.8
# 400G InfiniBand / RoCE NIC: nccl-tests inter-node bus bandwidth of ~45 GB/s per
# 50 GB/s NIC [U] -> 0.9.
NET_EFFICIENCY = 0.9


@spec_pytree
@dataclasses.dataclass(frozen=True)
class Interconnect:
    """A device's links to its peers (numeric fields may carry a batch axis).

    Attributes:
        link_bandwidth_bytes_per_s: one link, one direction.
        links_per_device: links a device drives at once in a ring.
        hop_latency_s: alpha, the latency of one step between neighbours.
        base_latency_s: fixed start-up per collective (when more than one device).
        efficiency: sustained fraction of the line rate, in (0, 1].
        tier: ``"nvlink" | "nvswitch" | "pcie" | "ethernet" | "ib"`` (stored as a code).
        name: display name (static).
    """

    link_bandwidth_bytes_per_s: jax.Array | float
    links_per_device: jax.Array | float = 1.0
    hop_latency_s: jax.Array | float = 1e-6
    base_latency_s: jax.Array | float = NCCL_RING_LL_BASE_S
    efficiency: jax.Array | float = 1.0
    tier: jax.Array | int | str = "pcie"
    name: str = dataclasses.field(default="interconnect", metadata={"static": True})

    def __post_init__(self):
        object.__setattr__(self, "tier", categorical_code(self.tier, TIERS,
                                                          "Interconnect.tier"))
        check_fields(self, RULES)


RULES = {
    "link_bandwidth_bytes_per_s": Rule(min=1e3, exclusive=False, max=1e16),
    "links_per_device": Rule("int", max=1024.0),
    "hop_latency_s": Rule(exclusive=False, max=1.0),
    "base_latency_s": Rule(exclusive=False, max=1.0),
    "efficiency": Rule(min=0.0, max=1.0),
    "tier": Rule("choice", choices=TIERS),
}

INTERCONNECTS = {
    # H100 / H200 SXM: NVLink 4, 18 links, 900 GB/s total bidirectional [C] (NVIDIA H100
    # and H200 datasheets) = 25 GB/s per link per direction; all 8 GPUs of an HGX board
    # meet in NVSwitch, so a ring uses every link.
    "nvlink4": Interconnect(25e9, 18.0, NCCL_HOP_NVLINK_S, NCCL_RING_LL_BASE_S,
                            NVLINK_EFFICIENCY, "nvswitch", name="nvlink4"),
    # A100 SXM: NVLink 3, 12 links, 600 GB/s bidirectional [C] (NVIDIA A100 datasheet).
    # Efficiency [S]: the NVLink 4 protocol overhead assumed the same.
    "nvlink3": Interconnect(25e9, 12.0, NCCL_HOP_NVLINK_S, NCCL_RING_LL_BASE_S,
                            NVLINK_EFFICIENCY, "nvswitch", name="nvlink3"),
    # PCIe Gen4 x16: 16 GT/s x 16 lanes x 128/130 = 31.5 GB/s per direction [C] (PCI-SIG
    # PCIe 4.0); L4 [C] (NVIDIA L4 datasheet), Alveo U250 / U55C cards [C] (AMD DS962 /
    # DS978), and the default for an ASIC card [A].
    "pcie4": Interconnect(31.5e9, 1.0, NCCL_HOP_PCI_S, NCCL_RING_LL_BASE_S,
                          PCIE_EFFICIENCY, "pcie", name="pcie4"),
    # PCIe Gen3 x16: 8 GT/s x 16 x 128/130 = 15.75 GB/s per direction [C]; T4 is a Gen3
    # x16 card [C] (NVIDIA T4 datasheet).
    "pcie3": Interconnect(15.75e9, 1.0, NCCL_HOP_PCI_S, NCCL_RING_LL_BASE_S,
                          PCIE_EFFICIENCY, "pcie", name="pcie3"),
    # Across nodes: one 400 Gb/s NDR InfiniBand NIC per GPU (DGX H100: 8 x ConnectX-7
    # 400 Gb/s for 8 GPUs [C], NVIDIA DGX H100 datasheet) = 50 GB/s per direction.
    "ib400": Interconnect(50e9, 1.0, NCCL_HOP_NET_S, NCCL_RING_LL_BASE_S,
                          NET_EFFICIENCY, "ib", name="ib400"),
    # 400G Ethernet (RoCE v2), same line rate; latency as NCCL's network hop [C].
    "eth400": Interconnect(50e9, 1.0, NCCL_HOP_NET_S, NCCL_RING_LL_BASE_S,
                           NET_EFFICIENCY, "ethernet", name="eth400"),
}

# The fabric a device preset ships with (GPU presets by name; other families by kind).
_DEFAULT_BY_NAME = {"h100-sxm": "nvlink4", "h200": "nvlink4", "a100-sxm": "nvlink3",
                    "l4": "pcie4", "t4": "pcie3"}


def interconnect(name: str) -> Interconnect:
    """A preset interconnect by name (``INTERCONNECTS``).

    Raises:
        SpecError: an unknown name, with the closest one and the list.
    """
    if isinstance(name, Interconnect):
        return name
    key = str(name).lower()
    if key not in INTERCONNECTS:
        raise SpecError(f"interconnect: {name!r} is not allowed{closest(key, INTERCONNECTS)}; "
                        f"allowed: one of {sorted(INTERCONNECTS)} or an Interconnect")
    return INTERCONNECTS[key]


def default_interconnect(spec) -> Interconnect:
    """The interconnect a device preset ships with; PCIe Gen4 x16 otherwise [A].

    Example:
        >>> from lepton_codesign import hw_models as hw
        >>> default_interconnect(hw.preset("a100-sxm")).name
        'nvlink3'
    """
    return INTERCONNECTS[_DEFAULT_BY_NAME.get(getattr(spec, "name", ""), "pcie4")]


def bandwidth_bytes_per_s(ic: Interconnect) -> jax.Array:
    """Sustained bandwidth one device sends at (one direction, all its links)."""
    return jnp.asarray(ic.link_bandwidth_bytes_per_s * ic.links_per_device * ic.efficiency,
                       jnp.float32)


def _collective(nbytes, p, ic: Interconnect, factor: float):
    """``factor (p-1)/p S / bw + factor (p-1) alpha + base``; 0 when ``p == 1``."""
    p = jnp.asarray(p, jnp.float32)
    steps = factor * (p - 1.0)
    t = (steps / p * jnp.asarray(nbytes, jnp.float32) / bandwidth_bytes_per_s(ic)
         + steps * ic.hop_latency_s + ic.base_latency_s)
    return jnp.where(p > 1.0, t, 0.0)


def all_reduce_s(nbytes, p, ic: Interconnect) -> jax.Array:
    """Ring all-reduce of an ``nbytes`` buffer over ``p`` devices.

    Example:
        >>> ic = Interconnect(100e9, 1.0, 1e-6, 0.0, 1.0)
        >>> round(float(all_reduce_s(400e6, 4, ic)) * 1e3, 3)  # 2*3/4*4 ms + 6 us
        6.006
    """
    return _collective(nbytes, p, ic, 2.0)


def all_gather_s(nbytes, p, ic: Interconnect) -> jax.Array:
    """Ring all-gather whose gathered output is ``nbytes``."""
    return _collective(nbytes, p, ic, 1.0)


def reduce_scatter_s(nbytes, p, ic: Interconnect) -> jax.Array:
    """Ring reduce-scatter of an ``nbytes`` input buffer."""
    return _collective(nbytes, p, ic, 1.0)


def send_s(nbytes, ic: Interconnect, p=2) -> jax.Array:
    """Point-to-point send of ``nbytes`` to the next pipeline stage (0 when ``p == 1``).

    At the device's whole sustained bandwidth: through a switch (NVSwitch, a network) one
    peer receives at the full rate [A].
    """
    t = (jnp.asarray(nbytes, jnp.float32) / bandwidth_bytes_per_s(ic) + ic.hop_latency_s
         + ic.base_latency_s)
    return jnp.where(jnp.asarray(p) > 1, t, 0.0)
