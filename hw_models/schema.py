"""One schema per input: ``Rule`` tables checked at load (spec files) and at construction.

Each spec module (``asic_spec``, ``fpga_spec``, ``gpu_spec``) and the ``Compression`` and
``Deployment`` inputs declare a ``Rule`` per field. ``check_fields`` applies that table to
the concrete values a constructor receives (Python numbers, NumPy or concrete JAX arrays;
every element of a batched array is checked; integer and boolean fields may take real
values within their bounds, the continuous relaxation that gradient search uses; spec
files must give integers and booleans); JAX tracers and abstract values are skipped, so
``jit`` / ``vmap`` / ``grad`` keep working. ``spec_pytree`` registers a frozen dataclass
as a pytree whose *unflatten* does not call ``__init__``: gradients, ``tree.map``
results and batching placeholders are not inputs and are not validated.

Example:
    >>> Rule("int", 0).allowed()
    'an integer > 0'
    >>> closest("gemini-like", ["gemmini-like", "t4"])
    " (did you mean 'gemmini-like'?)"
"""

from __future__ import annotations

import dataclasses
import difflib
import reprlib

import jax
import numpy as np


class SpecError(ValueError):
    """A hardware spec or cost input is malformed; the message names where, the key or
    field, and what is allowed."""


@dataclasses.dataclass(frozen=True)
class Rule:
    """Validation rule of one field.

    Attributes:
        type: ``"float" | "int" | "bool" | "choice" | "str"``.
        min: smallest allowed value (inclusive unless ``exclusive``).
        max: largest allowed value (inclusive).
        exclusive: whether ``min`` itself is excluded (e.g. sizes must be > 0).
        choices: allowed names for ``choice`` fields (stored as their index).
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

    def bad(self, x: np.ndarray, relaxed: bool = False) -> np.ndarray:
        """Mask of the elements of a numeric array that break the rule.

        ``relaxed`` (constructors): ``int`` and ``bool`` fields may take real values
        within their bounds (the continuous relaxation gradient search and property
        tests use); choice codes must still be exact.
        """
        x = np.asarray(x, np.float64)
        bad = ~np.isfinite(x)
        if self.type == "choice":
            return bad | (x != np.round(x)) | (x < 0) | (x > len(self.choices) - 1)
        if self.type == "bool":
            return bad | (((x < 0) | (x > 1)) if relaxed else ((x != 0) & (x != 1)))
        if self.type == "int" and not relaxed:
            bad |= x != np.round(x)
        if self.min is not None:
            bad |= (x <= self.min) if self.exclusive else (x < self.min)
        if self.max is not None:
            bad |= x > self.max
        return bad


def short(value, limit: int = 60) -> str:
    """A bounded ``repr`` for error messages (a YAML alias bomb must not expand here)."""
    r = reprlib.Repr()
    r.maxstring, r.maxother, r.maxlist, r.maxdict, r.maxlevel = limit, limit, 6, 6, 3
    return r.repr(value)


def closest(word, options) -> str:
    """``" (did you mean 'x'?)"`` for the option closest to ``word``, or ``""``.

    An option that starts with ``word`` wins (``res`` -> ``resnet18``); otherwise the
    nearest by ``difflib``. The one did-you-mean rule for specs, presets, configs, models.
    """
    if not isinstance(word, str) or not word:
        return ""
    options = [str(o) for o in options]
    key = word.lower()
    hits = ([o for o in options if o.lower().startswith(key)]
            or difflib.get_close_matches(key, options, n=1, cutoff=0.6))
    return f" (did you mean {hits[0]!r}?)" if hits else ""


def is_abstract(value) -> bool:
    """Whether a value is a tracer / abstract placeholder (not checkable, skipped)."""
    if isinstance(value, jax.core.Tracer | jax.ShapeDtypeStruct):
        return True
    return type(value) is object  # sentinel placeholders some transforms build


def categorical_code(value, names: tuple[str, ...], field: str):
    """Integer code of a categorical field given by name; codes pass through (checked
    later by ``check_fields``)."""
    if isinstance(value, str):
        key = value.lower()
        if key not in names:
            raise SpecError(f"{field}: {value!r} is not allowed{closest(key, names)}; "
                            f"allowed: one of {list(names)}")
        return np.int32(names.index(key))
    return value


def code_name(code, names: tuple[str, ...], what: str) -> str:
    """Name of an integer code (the inverse of ``categorical_code``), checked."""
    code = int(np.asarray(code))
    if not 0 <= code < len(names):
        raise ValueError(f"unknown {what} code {code}; allowed 0..{len(names) - 1}")
    return names[code]


def _fail(where: str, value, why: str, rule: Rule):
    extra = f" (codes 0..{len(rule.choices) - 1})" if rule.type == "choice" else ""
    raise SpecError(f"{where}: {why} is not allowed; allowed: {rule.allowed()}{extra}")


def check_value(where: str, value, rule: Rule) -> None:
    """Check one concrete field value (scalar or batched array) against ``rule``
    (relaxed: see ``Rule.bad``).

    Raises:
        SpecError: naming ``where`` (e.g. ``"AsicSpec.pe_rows"``), the first offending
            value (and its index in a batch) and what is allowed.
    """
    if is_abstract(value) or rule.type == "str":
        return
    if isinstance(value, str | bytes) or value is None:
        _fail(where, value, f"{type(value).__name__} {short(value)}", rule)
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - anything NumPy cannot read is a wrong type
        _fail(where, value, f"{type(value).__name__} {short(value)}", rule)
    if arr.dtype.kind not in "biuf":
        if arr.dtype == object and arr.ndim == 0 and not isinstance(value, list | tuple):
            return  # an opaque placeholder object
        _fail(where, value, f"{type(value).__name__} {short(value)}", rule)
    bad = rule.bad(arr, relaxed=True)
    if not np.any(bad):
        return
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    first = arr[idx].item()
    at = f" (element {list(idx)} of a batch of shape {arr.shape})" if arr.ndim else ""
    _fail(where, value, f"{first!r}{at}", rule)


def check_fields(obj, rules: dict[str, Rule], optional: tuple[str, ...] = ()) -> None:
    """Check every concrete field of a dataclass instance against its rule.

    Args:
        obj: the instance (its class name prefixes each message).
        rules: field -> ``Rule``; fields without a rule are not checked.
        optional: fields where ``None`` means "derived" and is allowed.
    """
    cls = type(obj).__name__
    for name, rule in rules.items():
        value = getattr(obj, name)
        if value is None and name in optional:
            continue
        check_value(f"{cls}.{name}", value, rule)


def spec_pytree(cls):
    """Register a frozen dataclass as a pytree (fields with ``metadata={"static": True}``
    are static) whose unflatten bypasses ``__init__`` / ``__post_init__``.

    Example:
        >>> @spec_pytree
        ... @dataclasses.dataclass(frozen=True)
        ... class P:
        ...     x: float
        >>> jax.tree.map(lambda v: -v, P(1.0)).x
        -1.0
    """
    fields = dataclasses.fields(cls)
    data = tuple(f.name for f in fields if not f.metadata.get("static"))
    meta = tuple(f.name for f in fields if f.metadata.get("static"))
    keys = tuple(jax.tree_util.GetAttrKey(n) for n in data)

    def flatten_with_keys(obj):
        return ([(k, getattr(obj, n)) for k, n in zip(keys, data, strict=True)],
                tuple(getattr(obj, n) for n in meta))

    def flatten(obj):
        return [getattr(obj, n) for n in data], tuple(getattr(obj, n) for n in meta)

    def unflatten(aux, children):
        obj = object.__new__(cls)
        for n, v in zip(data, children, strict=True):
            object.__setattr__(obj, n, v)
        for n, v in zip(meta, aux, strict=True):
            object.__setattr__(obj, n, v)
        return obj

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
    return cls
