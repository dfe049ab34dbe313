"""Name registries of the typed compression pieces (methods, gates, structures, ...).

Every kind of piece (pruning method, gate, sparsity structure, allocation, quantiser)
has one ``Registry``. A class joins it with the ``register`` decorator, under the
name config files and ``CompressionPolicy`` use; ``resolve`` turns such a name into an
instance once, at construction, passing the options the class declares as dataclass
fields (``NM`` takes ``n`` and ``m``, ``SigmoidSTE`` takes ``temperature``). Adding a
piece is one class in one file.

Example:
    >>> import dataclasses
    >>> COLOURS = Registry("colour")
    >>> @COLOURS.register("red")
    ... @dataclasses.dataclass(frozen=True)
    ... class Red:
    ...     shade: int = 1
    >>> COLOURS.resolve("red", {"shade": 3, "unused": 0})
    Red(shade=3)
    >>> COLOURS.names()
    ('red',)
"""

from __future__ import annotations

import dataclasses
import difflib


class Registry:
    """Names -> classes of one kind of compression piece.

    Args:
        kind: what the entries are (used in error messages), e.g. ``"gate"``.
        none_name: the name ``None`` resolves to (``"none"`` for pruning methods), or
            ``None`` when ``None`` is not a valid value.
    """

    def __init__(self, kind: str, none_name: str | None = None):
        self.kind = kind
        self.none_name = none_name
        self._classes: dict[str, type] = {}

    def register(self, name: str):
        """Class decorator: register the class under ``name`` (sets ``cls.name``)."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} name must be a non-empty string, got {name!r}")

        def deco(cls: type) -> type:
            old = self._classes.get(name)
            if old is not None and old.__qualname__ != cls.__qualname__:
                raise ValueError(f"{self.kind} {name!r} is already registered "
                                 f"({old.__module__}.{old.__qualname__})")
            cls.name = name
            self._classes[name] = cls
            return cls

        return deco

    def names(self) -> tuple[str, ...]:
        """Registered names, in registration order."""
        return tuple(self._classes)

    def get(self, name: str) -> type:
        """The class registered under ``name`` (``ValueError`` naming the choices)."""
        if name not in self._classes:
            close = difflib.get_close_matches(str(name), self._classes, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"{self.kind} {name!r} is not one of {list(self._classes)}"
                             f"{hint}")
        return self._classes[name]

    def resolve(self, value, options: dict | None = None):
        """An instance for ``value``: a registered name (or ``None``), or an instance.

        Args:
            value: a name, ``None`` (when ``none_name`` is set) or an instance of a
                registered class (returned as it is).
            options: keyword values offered to the class; those it has as dataclass
                fields are passed, the others ignored.
        """
        if value is None and self.none_name is not None:
            value = self.none_name
        if isinstance(value, tuple(self._classes.values())):
            return value
        if not isinstance(value, str):
            raise TypeError(f"{self.kind} must be a name in {list(self._classes)} or an "
                            f"instance of one, got {value!r}")
        cls = self.get(value)
        opts = options or {}
        fields = ({f.name for f in dataclasses.fields(cls) if f.init}
                  if dataclasses.is_dataclass(cls) else set())
        return cls(**{k: v for k, v in opts.items() if k in fields})


METHODS = Registry("method", none_name="none")
GATES = Registry("gate")
STRUCTURES = Registry("structure")
ALLOCATIONS = Registry("allocation")
QUANTISERS = Registry("quantiser")
