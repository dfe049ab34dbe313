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

SPEC_VERSION = 1


class SpecError(ValueError):
    """A hardware spec is malformed; the message names file, key and what is allowed."""


@dataclasses.dataclass(frozen=True)
class Rule:
    """Validation rule of one spec field.

    Attributes:
        type: ``"float" | "int" | "bool" | "choice" | "str"``.
        min: smallest allowed value (inclusive unless ``exclusive``).
        max: largest allowed value (inclusive).
        exclusive: whether ``min`` itself is excluded (e.g. sizes must be > 0).
        choices: allowed names for ``choice`` fields.
    """

    type: str = "float"
    min: float | None = 0.0
    max: float | None = None
    exclusive: bool = True
    choices: tuple[str, ...] = ()

    def allowed(self) -> str:
        if self.type == "choice":
            return f"one of {list(self.choices)}"
        if self.type == "bool":
            return "true or false"
        if self.type == "str":
            return "a string"
        lo = "" if self.min is None else f"{'>' if self.exclusive else '>='} {self.min:g}"
        hi = "" if self.max is None else f"<= {self.max:g}"
        kind = "an integer" if self.type == "int" else "a number"
        bounds = " and ".join(filter(None, [lo, hi]))
        return f"{kind} {bounds}" if bounds else kind  # e.g. "an integer > 0"


@dataclasses.dataclass(frozen=True)
class SpecKind:
    cls: type
    rules: dict[str, Rule]
    required: tuple[str, ...]


_KINDS: dict[str, SpecKind] = {}


def categorical_code(value, names: tuple[str, ...], field: str):
    """Integer code of a categorical spec field given by name; codes pass through.

    Tracers and arrays (batched specs, pytree rebuilding) are returned unchanged.
    """
    if isinstance(value, str):
        key = value.lower()
        if key not in names:
            raise ValueError(f"{field}: {value!r} is not one of {list(names)}")
        return np.int32(names.index(key))
    return value


def code_name(code, names: tuple[str, ...], what: str) -> str:
    """Name of an integer code (the inverse of ``categorical_code``), checked."""
    code = int(np.asarray(code))
    if not 0 <= code < len(names):
        raise ValueError(f"unknown {what} code {code}; allowed 0..{len(names) - 1}")
    return names[code]


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


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML loader that rejects duplicate mapping keys."""


def _construct_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, str | int | float | bool | None):  # e.g. a list key
            raise SpecError(f"key {key!r}: not a plain key (line "
                            f"{key_node.start_mark.line + 1}); allowed: a field name")
        if key in seen:
            raise SpecError(f"key {key!r}: duplicate (line {key_node.start_mark.line + 1}); "
                            "allowed: each key at most once")
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


# YAML 1.1 (PyYAML) reads "1e9" or "200.0e6" as strings; accept YAML 1.2 floats.
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)$"),
    list("-+0123456789"),
)
_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                 _construct_mapping)


def _load_yaml(text: str) -> Any:
    """Parse YAML with the safe, duplicate-rejecting loader (no Python object tags)."""
    loader = _UniqueKeyLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


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


def _check_value(where: str, key: str, value: Any, rule: Rule) -> Any:
    def fail(why: str):
        raise SpecError(f"{where}: key {key!r}: {why}; allowed: {rule.allowed()}")

    if rule.type == "choice":
        if not isinstance(value, str) or value.lower() not in rule.choices:
            fail(f"got {value!r}")
        return value.lower()
    if rule.type == "str":
        if not isinstance(value, str):
            fail(f"got {type(value).__name__} {value!r}")
        return value
    if rule.type == "bool":
        if not isinstance(value, bool):
            fail(f"got {type(value).__name__} {value!r}")
        return float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(f"got {type(value).__name__} {value!r}")
    if rule.type == "int" and (isinstance(value, float) and not value.is_integer()):
        fail(f"got non-integer {value!r}")
    if not math.isfinite(value):
        fail(f"got {value!r}")
    if rule.min is not None and (value < rule.min or (rule.exclusive and value == rule.min)):
        fail(f"got {value!r}")
    if rule.max is not None and value > rule.max:
        fail(f"got {value!r}")
    return float(value)


def spec_from_dict(data: Any, where: str = "<dict>"):
    """Validate a parsed spec mapping and build the spec object.

    Args:
        data: the parsed file (must be a mapping).
        where: what to call the source in error messages (usually the file path).

    Raises:
        SpecError: on any problem, naming ``where``, the key and what is allowed.
    """
    if not isinstance(data, dict):
        raise SpecError(f"{where}: top level must be a mapping of keys to values")
    data = dict(data)
    if "version" not in data:
        raise SpecError(f"{where}: key 'version': missing; allowed: {SPEC_VERSION}")
    version = data.pop("version")
    # bool is an int subclass: ``version: true`` must not pass for ``version: 1``.
    if isinstance(version, bool) or version != SPEC_VERSION:
        raise SpecError(f"{where}: key 'version': got {version!r}; allowed: {SPEC_VERSION}")
    kind = data.pop("kind", None)
    if kind not in _KINDS:
        raise SpecError(f"{where}: key 'kind': got {kind!r}; allowed: one of {sorted(_KINDS)}")
    sk = _KINDS[kind]
    name = data.pop("name", Path(where).stem)
    if not isinstance(name, str):
        raise SpecError(f"{where}: key 'name': got {type(name).__name__} {name!r}; "
                        "allowed: a string")
    for key in data:
        if key not in sk.rules:
            raise SpecError(f"{where}: key {key!r}: unknown for kind {kind!r}; allowed keys: "
                            f"{sorted(sk.rules) + ['kind', 'name', 'version']}")
    for key in sk.required:
        if key not in data:
            raise SpecError(f"{where}: key {key!r}: missing (required for kind {kind!r}); "
                            f"allowed: {sk.rules[key].allowed()}")
    values = {k: _check_value(where, k, v, sk.rules[k]) for k, v in data.items()}
    try:
        return sk.cls(**values, name=name)
    except (TypeError, ValueError) as err:  # cross-field checks inside the class
        raise SpecError(f"{where}: {err}") from err


def load_spec(path: str | Path):
    """Load a ``.yaml`` / ``.yml`` / ``.toml`` spec file.

    Raises:
        SpecError: malformed file or invalid content (message names file and key).

    Example:
        >>> load_spec("my_accel.yaml")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: no such file")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            data = _load_yaml(text)
        else:
            raise SpecError(f"{path}: unknown extension; allowed: .yaml, .yml, .toml")
    except SpecError as err:
        if str(err).startswith(str(path)):
            raise
        raise SpecError(f"{path}: {err}") from None
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: not valid YAML: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{path}: not valid TOML: {err}{_toml_key_hint(text, err)}") from None
    return spec_from_dict(data, str(path))


def preset_names() -> list[str]:
    """Names of the shipped presets."""
    files = resources.files("lepton_codesign.hw_models") / "presets"
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".yaml"))


def preset(name: str):
    """A shipped spec by name (see ``preset_names()``)."""
    path = resources.files("lepton_codesign.hw_models") / "presets" / f"{name}.yaml"
    if not path.is_file():
        raise SpecError(f"unknown preset {name!r}; allowed: {preset_names()}")
    with resources.as_file(path) as p:
        return load_spec(p)


def resolve_spec(name_or_path: str):
    """A preset name or a spec file path (the CLI's ``--spec``)."""
    if Path(name_or_path).suffix.lower() in (".yaml", ".yml", ".toml"):
        return load_spec(name_or_path)
    return preset(name_or_path)


