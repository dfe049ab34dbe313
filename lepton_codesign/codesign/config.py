"""Co-design run configuration: TOML in, validated plain dicts out.

The pydantic models below are the whole contract, one per section, all strict:
unknown sections or keys, wrong types (no ``true`` for a number, no ``"3"`` for 3),
NaN / inf and out-of-range values (list elements included) raise one ``ConfigError``
that lists every problem as ``<file>:<line>: key <key>: <problem>; allowed: <what>``,
before anything runs. Everything that could otherwise fail after training is checked
here: the model name, device and seed entries (each loaded and checked for its kind,
see ``devices.py``), bit-widths the quantiser supports, N:M pairs, search ranges and
objective / family lists. Missing keys take the defaults of the models.

**Security note.** ``[model] name = "package.module:factory"`` imports that module and
calls the factory when the run starts, i.e. it runs user code with your privileges:
only use configs you trust. Validation only locates the module
(``importlib.util.find_spec``, which imports its parent packages, not the module).

Example:
    >>> cfg = default_config()
    >>> cfg["model"]["name"], cfg["asic"]["pe_rows"]
    ('mlp', [2, 64])
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lepton_codesign.codesign.config_errors import find_line, format_errors
from lepton_codesign.codesign.config_schema import (
    FAMILIES,
    OBJECTIVES,
    STRUCTURES,
    Config,
)

__all__ = ["FAMILIES", "OBJECTIVES", "STRUCTURES", "ConfigError", "default_config",
           "default_config_text", "load_config", "validate_config"]


class ConfigError(ValueError):
    """A co-design config is malformed; the message names file, key and what is allowed."""


def _cross_checks(ctx: dict, cfg: dict) -> list[tuple[tuple, str]]:
    """``(loc, message)`` problems that involve several sections."""
    out = []
    families = cfg["hardware"]["families"]
    for family in ("fpga", "gpu"):
        if family in families and not cfg[family]["devices"]:
            out.append(((family, "devices"), f"key {family}.devices: empty while {family!r} "
                        f"is in hardware.families; allowed: at least one {family} preset "
                        "or spec file, or drop the family from hardware.families"))
    seen: dict[str, str] = {}
    for section, key in (("fpga", "devices"), ("gpu", "devices"), ("asic", "seeds")):
        for i, entry in enumerate(cfg[section][key]):
            label = ctx["labels"].get(entry, entry)
            where = f"{section}.{key}[{i}]"
            if label in seen:
                out.append(((section, key, i), f"key {where}: {entry!r} has the name "
                            f"{label!r}, already used by {seen[label]}; allowed: entries with "
                            "distinct names (set `name` in the spec file)"))
            else:
                seen[label] = where
    return out


def validate_config(raw: dict, where: str = "<config>", *, text: str | None = None,
                    base_dir: str | Path | None = None) -> dict:
    """Fill defaults and check every key of a parsed config.

    Args:
        raw: the parsed TOML (or an equivalent dict, e.g. a validated config).
        where: what to call the source in messages (the file path).
        text: the TOML text, to give line numbers in messages.
        base_dir: directory that relative spec file paths are resolved against
            (default: the working directory).

    Returns:
        Plain dict ``{section: {key: value}}`` plus ``"points"`` (a list of dicts);
        spec file entries are made absolute.

    Raises:
        ConfigError: listing every problem, one per line.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: top level must be a table, got {type(raw).__name__}")
    ctx: dict[str, Any] = {"base_dir": base_dir, "labels": {}}
    try:
        model = Config.model_validate(raw, context=ctx)
    except ValidationError as err:
        raise ConfigError(format_errors(Config, err.errors(), where, text)) from None
    cfg = model.model_dump()
    problems = _cross_checks(ctx, cfg)
    if problems:
        lines = []
        for loc, msg in problems:
            line = find_line(text, loc)
            lines.append(f"{where}:{line}: {msg}" if line else f"{where}: {msg}")
        raise ConfigError("\n".join(lines))
    return cfg


def load_config(path: str | Path) -> dict:
    """Read and validate a TOML config file (spec paths relative to its directory).

    Raises:
        ConfigError: the file is missing, a directory, unreadable, not UTF-8, not
            TOML, or its content is invalid (see ``validate_config``).
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; allowed: a TOML config file")
    if not path.exists():
        raise ConfigError(f"{path}: no such file")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read: {err.strerror or err}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte {data[err.start]:#04x} at "
                          f"offset {err.start}); allowed: a UTF-8 encoded TOML file") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    return validate_config(raw, str(path), text=text, base_dir=path.resolve().parent)


def default_config_text() -> str:
    """The embedded quickstart config (TOML text)."""
    return (resources.files("lepton_codesign") / "configs" / "quickstart.toml").read_text()


def default_config() -> dict:
    """The embedded quickstart config, validated."""
    text = default_config_text()
    return validate_config(tomllib.loads(text), "<embedded quickstart.toml>", text=text)
