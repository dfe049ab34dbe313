"""Turn pydantic validation errors of a config into one readable ``ConfigError`` text.

Each problem becomes one line ``<file>:<line>: key <key>: <what is wrong>; allowed:
<what is allowed>``. The line number is found by locating the key in the TOML text
(best effort: it is left out when the key cannot be found, e.g. for a dict config),
and unknown keys or choices get a ``did you mean`` from ``difflib``.

Example:
    >>> key_path(("points", 0, "nm", 1))
    'points[0].nm[1]'
    >>> find_line("[train]\\nepochs = 3\\n", ("train", "epochs"))
    2
"""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import BaseModel

from lepton_codesign.codesign.devices import did_you_mean

_TOML_TYPES = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array",
               dict: "table"}
_TYPE_ERRORS = ("_type", "_parsing", "literal_error", "model_attributes_type", "is_instance_of")


def key_path(loc: tuple) -> str:
    """``("points", 0, "nm")`` -> ``"points[0].nm"``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def show(value: Any) -> str:
    """A value as the user wrote it in TOML (``nan``, ``inf``, ``true``, ``'x'``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return repr(value)


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def _key_re(key: str) -> re.Pattern:
    return re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")


def find_line(text: str | None, loc: tuple) -> int | None:
    """1-based line of the TOML key that ``loc`` points at (best effort), else ``None``.

    ``loc`` is ``(section, [array index], [key], ...)``; the first string after the
    section (and index) is the key looked up inside that table.
    """
    if not text or not loc:
        return None
    section = str(loc[0])
    rest = list(loc[1:])
    index = rest.pop(0) if rest and isinstance(rest[0], int) else None
    key = next((p for p in rest if isinstance(p, str)), None)
    table, seen, header_line = None, {}, None
    for n, line in enumerate(text.splitlines(), 1):
        head = _HEADER.match(line)
        if head:
            table = head.group(2).strip("\"'")
            count = seen[table] = seen.get(table, -1) + 1 if head.group(1) == "[[" else 0
            here = table == section and (index is None or count == index)
            header_line = n if here else header_line
            if here and key is None:
                return n
            continue
        if table is None and key is not None and _key_re(f"{section}.{key}").match(line):
            return n  # top-level dotted key: train.epochs = 3
        if table is None and key is None and _key_re(section).match(line):
            return n  # top-level key or inline table: points = [...]
        if key is not None and table == section and (
                index is None or seen.get(table) == index) and _key_re(key).match(line):
            return n
    return header_line if key is None else None


def _field_at(model: type[BaseModel], loc: tuple) -> tuple[type[BaseModel], Any]:
    """The innermost model on ``loc`` and the field ``loc`` names in it (or ``None``)."""
    field = None
    for part in loc:
        if isinstance(part, int):
            continue
        if part not in model.model_fields:
            return model, None
        field = model.model_fields[part]
        inner = _model_in(field.annotation)
        if inner is None:
            return model, field
        model = inner
    return model, field


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if (found := _model_in(arg)) is not None:
            return found
    return None


def describe_error(root: type[BaseModel], err: dict) -> tuple[str, str]:
    """``(what is wrong, what is allowed)`` of one pydantic error dict."""
    loc, kind, value = tuple(err["loc"]), err["type"], err.get("input")
    parent, field = _field_at(root, loc)
    allowed = (field.description if field is not None and field.description else "see the "
               "quickstart config (lepton-codesign show-config)")
    if kind == "extra_forbidden":
        parent, _ = _field_at(root, loc[:-1])
        names = sorted(parent.model_fields)
        what = "unknown section" if len(loc) == 1 else "unknown key"
        return f"{what}{did_you_mean(str(loc[-1]), names)}", ", ".join(names)
    if kind == "missing":
        return "missing", allowed
    if kind == "finite_number":
        return f"{show(value)} is not allowed", allowed
    if kind == "value_error":
        return str(err["ctx"]["error"]), allowed
    if kind in ("too_short", "too_long"):
        return f"{len(value)} item(s) given", allowed
    if kind == "literal_error" and isinstance(value, str):
        options = re.findall(r"'([^']*)'", err.get("ctx", {}).get("expected", ""))
        return f"{show(value)} is not allowed{did_you_mean(value, options)}", allowed
    if any(t in kind for t in _TYPE_ERRORS):
        typ = _TOML_TYPES.get(type(value), type(value).__name__)
        return f"got {typ} {show(value)}", allowed
    return f"{show(value)} is not allowed", allowed


def format_errors(root: type[BaseModel], errors: list[dict], where: str,
                  text: str | None) -> str:
    """One line per error: ``<where>[:<line>]: key <key>: <problem>; allowed: <allowed>``."""
    lines = []  # (line or None, text), reported in file order
    for err in errors:
        loc = tuple(err["loc"])
        line = find_line(text, loc)
        what, allowed = describe_error(root, err)
        at = f"{where}:{line}" if line else where
        noun = "section" if len(loc) == 1 and err["type"] == "extra_forbidden" else "key"
        lines.append((line or 0, f"{at}: {noun} {key_path(loc) or '<top level>'}: {what}; "
                      f"allowed: {allowed}"))
    return "\n".join(text for _, text in sorted(lines, key=lambda x: x[0]))
