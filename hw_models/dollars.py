"""Dollars: die cost from wafer economics, and total cost of ownership.

One convention for every hardware family (documented in the README):

* ``cost_usd`` (capex) is the part you plug in: the accelerator card, board or module,
  without a host server (``CAPEX_CONVENTION``). For an ASIC that is the deployable part
  (``asic_part_cost_usd``): good die (wafer price / (dies per wafer x yield)) + package
  and test + DRAM devices + board / module + NRE / volume, at cost (no vendor margin);
  for an FPGA the board price; for a GPU the card (PCIe) or module (SXM) price.
* ``usd_per_1m_inferences`` = capex amortised over the deployment's lifetime at its
  utilisation, charged for the time the inferences occupy the hardware, plus the
  electricity they use: ``1e6 * (capex * t_inf / (lifetime * util) + E_inf * $/J)``.
  A rented GPU replaces the amortised capex by its $/hour.

Example:
    >>> round(float(dies_per_wafer(100.0)))
    640
    >>> int(dram_devices(25.6e9, 6.4e9))  # one 64-bit DDR4-3200 channel = 4 x16 devices
    4
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from lepton_codesign.hw_models import _smooth
from lepton_codesign.hw_models import constants as C
from lepton_codesign.hw_models.schema import Rule, check_fields, spec_pytree

CAPEX_CONVENTION = (
    "capex_usd = the accelerator you plug in, without host server: ASIC = die + package "
    "+ DRAM devices + board/module + NRE/volume (at cost); FPGA = board list price; "
    "GPU = card (PCIe) or module (SXM) price")
SECONDS_PER_YEAR = 365.25 * 24 * 3600.0
J_PER_KWH = 3.6e6


@spec_pytree
@dataclasses.dataclass(frozen=True)
class Deployment:
    """How the hardware is used, for the total-cost-of-ownership convention.

    Attributes:
        lifetime_years: service life over which capex is amortised. Default 3 [A]
            (typical server depreciation schedule).
        utilization: fraction of the lifetime spent serving. Default 0.5 [A].
        electricity_usd_per_kwh: energy price. Default $0.10/kWh [A] (US commercial
            average is ~$0.12-0.13/kWh, industrial ~$0.08, EIA 2024 [S]).
    """

    lifetime_years: jax.Array | float = 3.0
    utilization: jax.Array | float = 0.5
    electricity_usd_per_kwh: jax.Array | float = 0.10

    def __post_init__(self):
        check_fields(self, DEPLOYMENT_RULES)  # concrete values; tracers skipped


DEPLOYMENT_RULES = {
    "lifetime_years": Rule(),  # > 0
    "utilization": Rule(min=0.0, max=1.0),  # (0, 1]
    "electricity_usd_per_kwh": Rule(exclusive=False),  # >= 0
}


def dies_per_wafer(area_mm2, wafer_diameter_mm: float = C.WAFER_DIAMETER_MM):
    """Gross dies per wafer: pi (d/2)^2 / A - pi d / sqrt(2 A) (Hennessy & Patterson) [C]."""
    a = jnp.maximum(area_mm2, 1e-6)
    d = wafer_diameter_mm
    return jnp.pi * (d / 2.0) ** 2 / a - jnp.pi * d / jnp.sqrt(2.0 * a)


def negative_binomial_yield(area_mm2, defect_density_per_cm2, alpha=C.YIELD_CLUSTER_ALPHA):
    """Die yield (1 + D0 A / alpha)^-alpha; alpha -> inf is Poisson, 1 is Seeds [C]."""
    return (1.0 + defect_density_per_cm2 * area_mm2 / 100.0 / alpha) ** (-alpha)


def asic_unit_cost_usd(area_mm2, node_nm, defect_density_per_cm2, packaging_usd,
                       volume_units, wafer_price_usd=None, nre_usd=None):
    """Unit capex of an ASIC and whether its die fits on a wafer.

    Returns:
        ``(cost_usd, die_cost_usd, fits_on_wafer)``.
    """
    wafer = C.wafer_price_usd(node_nm) if wafer_price_usd is None else wafer_price_usd
    nre = C.mask_set_usd(node_nm) if nre_usd is None else nre_usd
    dpw = dies_per_wafer(area_mm2)
    fits = dpw >= 1.0
    good = jnp.maximum(dpw, 1.0) * negative_binomial_yield(area_mm2, defect_density_per_cm2)
    die_cost = wafer / good
    return die_cost + packaging_usd + nre / volume_units, die_cost, fits


def dram_devices(bandwidth_bytes_per_s, device_bytes_per_s, devices=None, smooth=False):
    """DRAM devices an ASIC needs: ``devices`` if given, else enough to supply its
    bandwidth, ``ceil(bandwidth / per-device bandwidth)`` (at least 1)."""
    if devices is not None:
        return jnp.asarray(devices, jnp.float32)
    need = _smooth.ceil(bandwidth_bytes_per_s / device_bytes_per_s, smooth)
    return jnp.maximum(need, 1.0)


def asic_part_cost_usd(spec, area_mm2, smooth: bool = False) -> dict:
    """Capex of an ASIC as a deployable part, with its breakdown.

    ``cost_usd = die_cost_usd + package_usd + dram_usd + board_usd + nre_share_usd``:
    good-die cost from wafer economics, package and test (``spec.packaging_usd``), DRAM
    devices x ``spec.dram_device_usd`` (``dram_devices``), the board or module
    (``spec.board_usd``), and NRE / volume. ``fits_on_wafer`` is False for a die larger
    than a wafer (its cost stays finite).

    Args:
        spec: an ``AsicSpec`` (duck-typed: only its dollar and DRAM fields are read).
        area_mm2: die area.
        smooth: relax the device count's ceil for gradients.

    Example:
        >>> from lepton_codesign import hw_models as hw
        >>> p = asic_part_cost_usd(hw.AsicSpec(16, 16), 1.0)
        >>> float(p["dram_usd"]), float(p["board_usd"])  # 4 DDR4 devices x $3.5, module
        (14.0, 10.0)
    """
    _, die, fits = asic_unit_cost_usd(area_mm2, spec.node_nm, spec.defect_density_per_cm2,
                                      0.0, spec.volume_units, spec.wafer_price_usd, 0.0)
    nre = C.mask_set_usd(spec.node_nm) if spec.nre_usd is None else spec.nre_usd
    n_dram = dram_devices(spec.dram_bandwidth_bytes_per_s,
                          spec.dram_device_bandwidth_bytes_per_s, spec.dram_devices, smooth)
    parts = {"die_cost_usd": die,
             "package_usd": jnp.asarray(spec.packaging_usd, jnp.float32),
             "dram_usd": n_dram * spec.dram_device_usd,
             "board_usd": jnp.asarray(spec.board_usd, jnp.float32),
             "nre_share_usd": nre / spec.volume_units}
    total = sum(parts.values())
    return {**parts, "cost_usd": total, "dram_devices": n_dram, "fits_on_wafer": fits}


def usd_per_1m_inferences(capex_usd, latency_per_inference_s, energy_per_inference_j,
                          deployment: Deployment, usd_per_hour=None):
    """TCO per million inferences (see module docstring)."""
    if usd_per_hour is None:
        life_s = deployment.lifetime_years * SECONDS_PER_YEAR * deployment.utilization
        time_cost = capex_usd * latency_per_inference_s / life_s
    else:
        time_cost = usd_per_hour * latency_per_inference_s / 3600.0
    energy_cost = energy_per_inference_j * deployment.electricity_usd_per_kwh / J_PER_KWH
    return 1e6 * (time_cost + energy_cost)
