"""Co-design run configuration: TOML in, validated plain dicts out.

The schema below is the whole contract: unknown sections or keys, wrong types and
out-of-range values raise ``ConfigError`` naming the file, the key and what is allowed,
before anything runs. Missing keys take the defaults shown in ``DEFAULTS``.

Example:
    >>> cfg = default_config()
    >>> cfg["model"]["name"]
    'mlp'
"""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

FAMILIES = ("asic", "fpga", "gpu")
OBJECTIVES = {
    "error": "test error (1 - accuracy)",
    "latency_s": "latency per batch [s]",
    "energy_j": "energy per batch [J]",
    "usd_per_1m_inferences": "$ per 1M inferences",
    "cost_usd": "hardware unit cost [$]",
    "area_mm2": "die area [mm$^2$]",
}
STRUCTURES = ("unstructured", "nm", "channel")


class ConfigError(ValueError):
    """A co-design config is malformed; the message names file, key and what is allowed."""


# Each leaf: (type, default, check) where check(value) -> error text or None.
def _range(lo=None, hi=None, lo_open=False):
    def check(v):
        if lo is not None and (v < lo or (lo_open and v == lo)):
            return f"must be {'>' if lo_open else '>='} {lo}"
        if hi is not None and v > hi:
            return f"must be <= {hi}"
        return None
    return check


def _choices(options):
    def check(v):
        vals = v if isinstance(v, list) else [v]
        bad = [x for x in vals if x not in options]
        return f"must be one of {list(options)}" if bad else None
    return check


def _pair(lo=None):
    def check(v):
        if len(v) != 2 or v[0] > v[1]:
            return "must be [low, high] with low <= high"
        if lo is not None and v[0] < lo:
            return f"values must be >= {lo}"
        return None
    return check


_POINT = {
    "name": (str, None, None),
    "sparsity": (float, 0.0, _range(0.0, 0.999)),
    "structure": (str, "unstructured", _choices(STRUCTURES)),
    "nm": (list, [2, 4], _pair(1)),
    "weight_bits": (int, 8, _range(1, 32)),
    "act_bits": (int, 8, _range(1, 32)),
    "learn_bits": (bool, False, None),
    "distill": (bool, False, None),
    "reference": (bool, False, None),
}

SCHEMA: dict[str, dict[str, tuple]] = {
    "run": {"name": (str, "codesign", None), "seed": (int, 0, _range(0))},
    "data": {"dataset": (str, "mnist1d", _choices(("mnist1d", "digits"))),
             "max_train": (int, 4000, _range(10)), "max_test": (int, 1000, _range(10))},
    "model": {"name": (str, "mlp", None), "batch": (int, 1, _range(1))},
    "train": {"epochs": (int, 30, _range(1)), "batch_size": (int, 128, _range(1)),
              "learning_rate": (float, 3e-3, _range(0.0, lo_open=True))},
    "hardware": {"families": (list, ["asic", "fpga", "gpu"], _choices(FAMILIES))},
    "asic": {"pop_size": (int, 48, _range(4)), "generations": (int, 12, _range(1)),
             "pe_rows": (list, [4, 128], _pair(1)), "pe_cols": (list, [4, 128], _pair(1)),
             "sram_kib": (list, [8, 4096], _pair(1)), "freq_hz": (list, [2e8, 1.5e9], _pair(1)),
             "dram_gbps": (list, [4.0, 64.0], _pair(0.1)),
             "node_nm": (list, [7, 16, 28], None),
             "dataflows": (list, ["os", "ws", "is"], _choices(("os", "ws", "is"))),
             "sparsity_support": (list, ["none", "zero-gating", "skipping", "nm"],
                                  _choices(("none", "zero-gating", "skipping", "nm"))),
             "precision_scalable": (list, [0, 1], _choices((0, 1)))},
    "fpga": {"devices": (list, ["kv260", "zcu104", "alveo-u250"], None)},
    "gpu": {"devices": (list, ["t4", "l4", "h100-sxm"], None)},
    "objectives": {"names": (list, ["error", "latency_s", "energy_j", "usd_per_1m_inferences"],
                             _choices(tuple(OBJECTIVES)))},
    "constraints": {"min_accuracy": (float, 0.0, _range(0.0, 1.0)),
                    "max_latency_s": (float, 1e9, _range(0.0, lo_open=True)),
                    "max_area_mm2": (float, 1e9, _range(0.0, lo_open=True))},
}

DEFAULT_POINTS = [
    {"name": "dense-fp32", "sparsity": 0.0, "weight_bits": 32, "act_bits": 32,
     "reference": True},
    {"name": "dense-int8", "sparsity": 0.0, "weight_bits": 8, "act_bits": 8},
    {"name": "s90-int8", "sparsity": 0.9, "weight_bits": 8, "act_bits": 8},
    {"name": "nm24-int4", "sparsity": 0.5, "structure": "nm", "nm": [2, 4],
     "weight_bits": 4, "act_bits": 8},
]


def _coerce(where: str, key: str, value: Any, typ: type, check) -> Any:
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: key {key!r}: expected {typ.__name__}, "
                          f"got {type(value).__name__} {value!r}")
    if check is not None and (msg := check(value)) is not None:
        raise ConfigError(f"{where}: key {key!r}: {value!r} {msg}")
    return value


def validate_config(raw: dict, where: str = "<config>") -> dict:
    """Fill defaults and check every key of a parsed config (see ``SCHEMA``)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: top level must be a table")
    unknown = set(raw) - set(SCHEMA) - {"points"}
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {sorted(unknown)}; allowed: "
                          f"{sorted(SCHEMA) + ['points']}")
    cfg: dict = {}
    for section, fields in SCHEMA.items():
        given = raw.get(section, {})
        if not isinstance(given, dict):
            raise ConfigError(f"{where}: [{section}] must be a table")
        extra = set(given) - set(fields)
        if extra:
            raise ConfigError(f"{where}: key {section}.{sorted(extra)[0]!r}: unknown; allowed: "
                              f"{sorted(fields)}")
        cfg[section] = {k: _coerce(where, f"{section}.{k}", given[k], t, c) if k in given
                        else copy.deepcopy(d) for k, (t, d, c) in fields.items()}
    points = raw.get("points", DEFAULT_POINTS)
    if not isinstance(points, list) or not points:
        raise ConfigError(f"{where}: key 'points': must be a non-empty array of tables")
    cfg["points"] = []
    for i, p in enumerate(points):
        if not isinstance(p, dict):
            raise ConfigError(f"{where}: points[{i}] must be a table")
        extra = set(p) - set(_POINT)
        if extra:
            raise ConfigError(f"{where}: key points[{i}].{sorted(extra)[0]!r}: unknown; "
                              f"allowed: {sorted(_POINT)}")
        pt = {k: _coerce(where, f"points[{i}].{k}", p[k], t, c) if k in p else copy.deepcopy(d)
              for k, (t, d, c) in _POINT.items()}
        pt["name"] = pt["name"] or f"point{i}"
        if pt["structure"] == "nm" and pt["nm"][0] > pt["nm"][1]:
            raise ConfigError(f"{where}: key points[{i}].nm: N > M")
        cfg["points"].append(pt)
    names = [p["name"] for p in cfg["points"]]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: key 'points': names must be unique, got {names}")
    if len(cfg["objectives"]["names"]) < 2:
        raise ConfigError(f"{where}: key 'objectives.names': need at least 2 objectives")
    return cfg


def load_config(path: str | Path) -> dict:
    """Read and validate a TOML config file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    return validate_config(raw, str(path))


def default_config_text() -> str:
    """The embedded quickstart config (TOML text)."""
    return (resources.files("lepton_codesign") / "configs" / "quickstart.toml").read_text()


def default_config() -> dict:
    """The embedded quickstart config, validated."""
    return validate_config(tomllib.loads(default_config_text()), "<embedded quickstart.toml>")
