"""Typed records of the co-design layer, in ``AsicSpec``'s own field names and units.

* ``AsicBounds``: the ``[asic]`` search ranges. The config file keeps friendly units
  (``sram_kib``, ``dram_gbps``); ``AsicBounds.from_config`` is the one place they are
  converted, into bytes and bytes/s.
* ``HardwareDesign``: one hardware design point of a result: its family and either the
  ``AsicSpec`` fields of a searched ASIC design or the device it names (a preset or a
  spec file, with an FPGA's design style; ``seed`` for an ``[asic] seeds`` entry).
  ``to_json`` is the ``hardware`` object of ``results.json``; ``from_json`` also reads
  the keys older versions wrote (``sram_kib_each``, ``dram_gbps``).

The searched ASIC space has one SRAM knob, ``sram_bytes``: the size of each of the three
SCALE-Sim buffers (``SRAM_FIELDS``), which a design record stores separately.

Example:
    >>> from lepton_codesign.codesign.config import default_config
    >>> AsicBounds.from_config(default_config()).sram_bytes
    (4096.0, 1048576.0)
    >>> old = {"pe_rows": 8, "pe_cols": 8, "sram_kib_each": 2.0, "freq_hz": 1e9,
    ...        "dram_gbps": 4.0, "node_nm": 28.0, "dataflow": "ws",
    ...        "sparsity_support": "none", "precision_scalable": 0}
    >>> rec = HardwareDesign.from_json("asic", old)
    >>> rec.spec["ifmap_sram_bytes"], rec.spec["dram_bandwidth_bytes_per_s"]
    (2048.0, 4000000000.0)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

KIB = 1024.0  # bytes per KiB (config unit of [asic] sram_kib)
GB = 1e9  # bytes per GB (config unit of [asic] dram_gbps, GB/s)
SRAM_FIELDS = ("ifmap_sram_bytes", "filter_sram_bytes", "ofmap_sram_bytes")
# The searched ASIC knobs as a record stores them (AsicSpec field names), in order.
ASIC_FIELDS = ("pe_rows", "pe_cols", *SRAM_FIELDS, "freq_hz", "dram_bandwidth_bytes_per_s",
               "node_nm", "dataflow", "sparsity_support", "precision_scalable")
_DEVICE_KEYS = ("spec_file", "name", "preset", "design", "seed")
# Keys older versions wrote for a searched ASIC design: (old key, scale to the new unit).
_LEGACY = {"sram_kib_each": (SRAM_FIELDS, KIB), "dram_gbps": (("dram_bandwidth_bytes_per_s",), GB)}


@dataclasses.dataclass(frozen=True)
class AsicBounds:
    """The ``[asic]`` search ranges in ``AsicSpec`` units (``[low, high]`` pairs).

    ``sram_bytes`` bounds each of the three buffers; option lists keep config order.
    """

    pe_rows: tuple[int, int]
    pe_cols: tuple[int, int]
    sram_bytes: tuple[float, float]
    freq_hz: tuple[float, float]
    dram_bandwidth_bytes_per_s: tuple[float, float]
    node_nm: tuple[float, ...]
    dataflows: tuple[str, ...]
    sparsity_support: tuple[str, ...]
    precision_scalable: tuple[int, ...]

    @classmethod
    def from_config(cls, cfg: Mapping) -> AsicBounds:
        """The validated config's ``[asic]`` table, friendly units converted (the one place)."""
        a = cfg["asic"]
        return cls(pe_rows=(int(a["pe_rows"][0]), int(a["pe_rows"][1])),
                   pe_cols=(int(a["pe_cols"][0]), int(a["pe_cols"][1])),
                   sram_bytes=(float(a["sram_kib"][0]) * KIB, float(a["sram_kib"][1]) * KIB),
                   freq_hz=(float(a["freq_hz"][0]), float(a["freq_hz"][1])),
                   dram_bandwidth_bytes_per_s=(float(a["dram_gbps"][0]) * GB,
                                               float(a["dram_gbps"][1]) * GB),
                   node_nm=tuple(float(n) for n in a["node_nm"]),
                   dataflows=tuple(a["dataflows"]),
                   sparsity_support=tuple(a["sparsity_support"]),
                   precision_scalable=tuple(int(p) for p in a["precision_scalable"]))


@dataclasses.dataclass(frozen=True)
class HardwareDesign:
    """One hardware design point: a searched ASIC design or a named device.

    Attributes:
        family: ``"asic" | "fpga" | "gpu"``.
        spec: a searched ASIC design's ``AsicSpec`` fields (``ASIC_FIELDS``; categorical
            fields by name); empty for a named device.
        preset: shipped preset name of a device, or ``None``.
        spec_file: absolute path of a device's spec file, or ``None``.
        name: the spec file's spec name (``None`` for a preset).
        design: an FPGA's design style (``"dataflow" | "overlay"``), or ``None``.
        seed: whether the device is an ``[asic] seeds`` entry scored as given.
    """

    family: str
    spec: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    preset: str | None = None
    spec_file: str | None = None
    name: str | None = None
    design: str | None = None
    seed: bool = False

    def __post_init__(self):
        object.__setattr__(self, "spec", MappingProxyType(dict(self.spec)))
        if bool(self.spec) == bool(self.preset or self.spec_file):
            raise ValueError(f"{self.family} design: give either spec fields or a device "
                             f"(preset / spec_file), not {'both' if self.spec else 'neither'}")

    @property
    def searched(self) -> bool:
        """Whether this is a searched ASIC design (not a named device)."""
        return bool(self.spec)

    @classmethod
    def asic(cls, values: Mapping[str, Any]) -> HardwareDesign:
        """A searched ASIC design from one design's knob values (``ASIC_FIELDS``)."""
        ints = ("pe_rows", "pe_cols", "precision_scalable")
        spec = {k: (int(values[k]) if k in ints else values[k] if isinstance(values[k], str)
                    else float(values[k])) for k in ASIC_FIELDS}
        return cls("asic", spec)

    @classmethod
    def device(cls, family: str, record: Mapping[str, Any]) -> HardwareDesign:
        """A named device from a ``devices.hardware_record`` (plus ``seed``)."""
        return cls(family, **{k: record[k] for k in _DEVICE_KEYS if k in record})

    def to_json(self) -> dict:
        """The ``hardware`` object of a result point (as ``results.json`` stores it)."""
        if self.searched:
            return dict(self.spec)
        out = ({"spec_file": self.spec_file, "name": self.name} if self.spec_file
               else {"preset": self.preset})
        if self.design is not None:
            out["design"] = self.design
        if self.seed:
            out["seed"] = True
        return out

    @classmethod
    def from_json(cls, family: str, hardware: Mapping[str, Any]) -> HardwareDesign:
        """Inverse of ``to_json``; also reads an older version's ASIC keys (``_LEGACY``).

        Keys that are neither device nor ASIC fields (``trained_categorical`` of the
        differentiable mode) are ignored.
        """
        if "preset" in hardware or "spec_file" in hardware:
            return cls.device(family, hardware)
        values = dict(hardware)
        for old, (fields, scale) in _LEGACY.items():
            if old in values:
                v = float(values.pop(old)) * scale
                values.update({f: v for f in fields})
        missing = [k for k in ASIC_FIELDS if k not in values]
        if missing:
            raise KeyError(f"{family} hardware record {dict(hardware)} has no {missing[0]!r}")
        return cls.asic(values)


@dataclasses.dataclass(frozen=True)
class ScoredDesign:
    """A hardware design scored at one operating point (exact, ``smooth=False``).

    Attributes:
        hardware: the design (its ``family`` is the point's family).
        point: the operating point (compression candidate) name.
        objectives: objective values in the config's order.
        violation: summed constraint excess (0 when every constraint holds).
        feasible: the cost model's verdict (``Costs.feasible``).
    """

    hardware: HardwareDesign
    point: str
    objectives: tuple[float, ...]
    violation: float
    feasible: bool

    @property
    def family(self) -> str:
        return self.hardware.family

    def to_json(self) -> dict:
        """A result point before ``codesign`` adds its id, label and front flags."""
        return {"family": self.family, "hardware": self.hardware.to_json(),
                "point": self.point, "objectives": [float(v) for v in self.objectives],
                "violation": float(self.violation), "feasible": bool(self.feasible)}
