"""Loading and validating hardware spec files (YAML or TOML) and shipped presets.

A spec file is a flat mapping with a ``version`` (currently 1), a ``kind``
(``asic`` | ``fpga`` | ``gpu``), an optional ``name`` and the fields of the matching
spec class. Validation is strict: unknown keys, duplicate keys, wrong types, missing
required keys and non-physical values all raise ``SpecError``, whose message names the
file, the key and what is allowed. YAML is read with a safe loader only.

Example:
    >>> spec = preset("gemmini-like")
    >>> int(spec.pe_rows)
    16
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from lepton_codesign.hw_models.schema import (
    Rule,
    SpecError,
    categorical_code,
    closest,
    code_name,
    short,
)
from lepton_codesign.hw_models.yaml_safe import MAX_SPEC_BYTES, load_yaml

SPEC_VERSION = 1

__all__ = [  # Rule, SpecError and the code helpers live in ``schema``; re-exported here
    "Rule", "SpecError", "categorical_code", "code_name", "describe_spec", "load_spec",
    "preset", "preset_names", "register_spec_kind", "resolve_spec", "spec_from_dict",
]


@dataclasses.dataclass(frozen=True)
class SpecKind:
    cls: type
    rules: dict[str, Rule]
    required: tuple[str, ...]


_KINDS: dict[str, SpecKind] = {}


def describe_spec(spec, categorical: dict[str, tuple[str, ...]]) -> dict:
    """Plain-Python view of an unbatched spec dataclass: categorical codes as names,
    numbers as floats, ``None`` and strings unchanged."""
    out = {}
    for f in dataclasses.fields(spec):
        v = getattr(spec, f.name)
        if f.name in categorical:
            v = categorical[f.name][int(np.asarray(v))]
        elif v is not None and not isinstance(v, str):
            v = float(np.asarray(v))
        out[f.name] = v
    return out


def register_spec_kind(kind: str, cls: type, rules: dict[str, Rule],
                       required: tuple[str, ...]) -> None:
    """Make ``kind:`` files load into ``cls`` (called by each spec module)."""
    _KINDS[kind] = SpecKind(cls, rules, required)


def _toml_key_hint(text: str, err: Exception) -> str:
    """Name the key on the line a TOML error points at (tomllib does not, e.g. for
    duplicate keys: "Cannot overwrite a value (at line 4, column 12)")."""
    m = re.search(r"at line (\d+)", str(err))
    lines = text.splitlines()
    if not m or not 0 < int(m.group(1)) <= len(lines):
        return ""
    key = re.match(r"\s*([A-Za-z0-9_.\-\"']+)\s*=", lines[int(m.group(1)) - 1])
    if not key:
        return ""
    allowed = "each key at most once" if "overwrite" in str(err) else "valid TOML syntax"
    return f"; key {key.group(1)!r}; allowed: {allowed}"


def _toml_key_lines(text: str) -> dict[str, int]:
    """1-based line of each ``key = value`` line of a TOML file (first occurrence)."""
    lines: dict[str, int] = {}
    for i, line in enumerate(text.splitlines(), 1):
        m = re.match(r"\s*([A-Za-z0-9_\-]+)\s*=", line)
        if m:
            lines.setdefault(m.group(1), i)
    return lines


def _check_value(where: str, key: str, value: Any, rule: Rule) -> Any:
    def fail(why: str):
        hint = closest(value, rule.choices) if rule.type == "choice" else ""
        raise SpecError(f"{where}: key {key!r}: {why}{hint}; allowed: {rule.allowed()}")

    if rule.type == "choice":
        if not isinstance(value, str) or value.lower() not in rule.choices:
            fail(f"got {short(value)}")
        return value.lower()
    if rule.type == "str":
        if not isinstance(value, str):
            fail(f"got {type(value).__name__} {short(value)}")
        return value
    if rule.type == "bool":
        if not isinstance(value, bool):
            fail(f"got {type(value).__name__} {short(value)}")
        return float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(f"got {type(value).__name__} {short(value)}")
    if rule.type == "int" and (isinstance(value, float) and not value.is_integer()):
        fail(f"got non-integer {value!r}")
    if not math.isfinite(value) or rule.bad(np.float64(value)):
        fail(f"got {value!r}")
    return float(value)


def spec_from_dict(data: Any, where: str = "<dict>", key_lines: dict | None = None):
    """Validate a parsed spec mapping and build the spec object.

    Args:
        data: the parsed file (must be a mapping).
        where: what to call the source in error messages (usually the file path).
        key_lines: 1-based line of each key, for messages (optional).

    Raises:
        SpecError: on any problem, naming ``where``, the key (and its line where known)
            and what is allowed.

    Example:
        >>> spec_from_dict({"version": 1, "kind": "asic", "pe_rows": 8, "pe_cols": 8,
        ...                 "dataflow": "os", "freq_hz": 1e9}).describe()["dataflow"]
        'os'
    """
    if not isinstance(data, dict):
        raise SpecError(f"{where}: top level must be a mapping of keys to values")
    lines = key_lines or {}

    def at(key) -> str:
        return f"{where}:{lines[key]}" if key in lines else where

    data = dict(data)
    if "version" not in data:
        raise SpecError(f"{where}: key 'version': missing; allowed: {SPEC_VERSION}")
    version = data.pop("version")
    # bool is an int subclass: ``version: true`` must not pass for ``version: 1``.
    if isinstance(version, bool) or version != SPEC_VERSION:
        raise SpecError(f"{at('version')}: key 'version': got {short(version)}; "
                        f"allowed: {SPEC_VERSION}")
    kind = data.pop("kind", None)
    if kind not in _KINDS:
        raise SpecError(f"{at('kind')}: key 'kind': got {short(kind)}{closest(kind, _KINDS)}; "
                        f"allowed: one of {sorted(_KINDS)}")
    sk = _KINDS[kind]
    name = data.pop("name", Path(where).stem)
    if not isinstance(name, str):
        raise SpecError(f"{at('name')}: key 'name': got {type(name).__name__} {short(name)}; "
                        "allowed: a string")
    known = sorted(sk.rules) + ["kind", "name", "version"]
    for key in data:
        if key not in sk.rules:
            raise SpecError(f"{at(key)}: key {short(key)}: unknown for kind {kind!r}"
                            f"{closest(key, known)}; allowed keys: {known}")
    for key in sk.required:
        if key not in data:
            raise SpecError(f"{where}: key {key!r}: missing (required for kind {kind!r}); "
                            f"allowed: {sk.rules[key].allowed()}")
    values = {k: _check_value(at(k), k, v, sk.rules[k]) for k, v in data.items()}
    try:
        return sk.cls(**values, name=name)
    except (TypeError, ValueError) as err:  # cross-field checks inside the class
        raise SpecError(f"{where}: {err}") from err


def _read_text(path: Path) -> str:
    """The file's text, with OS-level faults as ``SpecError`` naming the file."""
    if path.is_dir():
        raise SpecError(f"{path}: is a directory; allowed: a spec file (.yaml, .yml, .toml)")
    if not path.exists():
        raise SpecError(f"{path}: no such file")
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise SpecError(f"{path}: {size} bytes; allowed: a spec file of at most "
                            f"{MAX_SPEC_BYTES} bytes")
        raw = path.read_bytes()
    except PermissionError:
        raise SpecError(f"{path}: cannot be read (permission denied); allowed: a "
                        "readable file") from None
    except OSError as err:
        raise SpecError(f"{path}: cannot be read ({err.strerror or err}); allowed: a "
                        "readable regular file") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise SpecError(f"{path}:{line}: byte 0x{raw[err.start]:02x} at offset {err.start} "
                        "is not UTF-8; allowed: UTF-8 text") from None


def load_spec(path: str | Path):
    """Load a ``.yaml`` / ``.yml`` / ``.toml`` spec file.

    Raises:
        SpecError: unreadable or malformed file or invalid content (the message names
            the file, the key and its line where known).

    Example:
        >>> load_spec("my_accel.yaml")  # doctest: +SKIP
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".toml") and not path.is_dir():
        if not path.exists():
            raise SpecError(f"{path}: no such file")
        raise SpecError(f"{path}: unknown extension; allowed: .yaml, .yml, .toml")
    text = _read_text(path)
    try:
        if suffix == ".toml":
            data, lines = tomllib.loads(text), _toml_key_lines(text)
        else:
            data, lines = load_yaml(text)
    except SpecError as err:
        raise SpecError(f"{path}: {err}") from None
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: not valid YAML: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{path}: not valid TOML: {err}{_toml_key_hint(text, err)}") from None
    except RecursionError:
        raise SpecError(f"{path}: nested too deeply; allowed: a flat mapping") from None
    return spec_from_dict(data, str(path), lines)


def preset_names() -> list[str]:
    """Names of the shipped presets."""
    files = resources.files("lepton_codesign.hw_models") / "presets"
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".yaml"))


def preset(name: str):
    """A shipped spec by name (see ``preset_names()``).

    Example:
        >>> int(preset("gemmini-like").pe_cols)
        16
    """
    names = preset_names()
    if not isinstance(name, str) or name not in names:
        raise SpecError(f"unknown preset {short(name)}{closest(name, names)}; "
                        f"allowed: {names}")
    path = resources.files("lepton_codesign.hw_models") / "presets" / f"{name}.yaml"
    with resources.as_file(path) as p:
        return load_spec(p)


def resolve_spec(name_or_path: str):
    """A preset name or a spec file path (the CLI's ``--spec``).

    A name with a spec suffix is a file; a preset's name is that preset; anything else
    that exists on disk or contains a path separator is read as a file (so a directory
    gets "is a directory", not "unknown preset"); the rest is an unknown preset.
    """
    p = Path(name_or_path)
    if p.suffix.lower() in (".yaml", ".yml", ".toml"):
        return load_spec(p)
    if name_or_path in preset_names():
        return preset(name_or_path)
    if p.exists() or any(sep in str(name_or_path) for sep in ("/", "\\")):
        return load_spec(p)
    return preset(name_or_path)
