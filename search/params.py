"""Search-space parameters: ``Real``, ``Integer`` and ``Choice``, each on ``[0, 1]``.

Each parameter maps cube coordinates ``u`` (shape ``(n, size)``) to values and back:

* ``Real(lo, hi, log=False, unit=1.0)``: affine (or log-affine) map of ``[0, 1]``;
  float32. ``unit``: the map is computed in multiples of ``unit`` (``lo``, ``hi`` and
  the values stay in base units): float32 keeps ~7 digits of ``log(x)``, so a log-affine
  map of bytes/s (``log 4e9 = 22``) is ~16x coarser than the same map in GB/s.
* ``Integer(lo, hi, log=False)``: ``hi - lo + 1`` equal cells on the cube axis (cells of
  equal width in ``log`` space when ``log=True``); int32, or float32 when ``relaxed``.
* ``Choice(options)``: ``len(options)`` equal cells; the option itself when every option
  is a number, else its int32 index.

Parameters are frozen and hashable; ``search.space.Space`` assembles them.

Example:
    >>> import jax.numpy as jnp
    >>> Integer(1, 4).decode(jnp.array([[0.0], [0.99]])).ravel().tolist()
    [1, 4]
    >>> Choice(["os", "ws"]).decode(jnp.array([[0.7]])).ravel().tolist()
    [1]
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np


def _check_size(size: int) -> int:
    if not isinstance(size, int | np.integer) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    return int(size)


@dataclasses.dataclass(frozen=True)
class Real:
    """A continuous parameter in ``[lo, hi]`` (log-uniform on the cube when ``log``).

    ``unit`` (> 0): the cube map works on ``x / unit`` (see the module docstring).

    Example:
        >>> p = Real(8192.0, 4194304.0, log=True, unit=1024.0)
        >>> p.decode(jnp.array([[0.0], [1.0]])).ravel().tolist()
        [8192.0, 4194304.0]
    """

    lo: float
    hi: float
    log: bool = False
    size: int = 1
    unit: float = 1.0

    def __post_init__(self):
        lo, hi = float(self.lo), float(self.hi)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"Real needs finite lo < hi, got ({self.lo}, {self.hi})")
        if self.log and lo <= 0:
            raise ValueError(f"Real(log=True) needs lo > 0, got {self.lo}")
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)
        object.__setattr__(self, "size", _check_size(self.size))
        unit = float(self.unit)
        if not (math.isfinite(unit) and unit > 0):
            raise ValueError(f"Real needs a finite unit > 0, got {self.unit}")
        object.__setattr__(self, "unit", unit)

    def _ends(self):
        lo, hi = self.lo / self.unit, self.hi / self.unit
        return (math.log(lo), math.log(hi)) if self.log else (lo, hi)

    def decode(self, u: jax.Array, relaxed: bool = False) -> jax.Array:
        a, b = self._ends()
        x = a + jnp.clip(u, 0.0, 1.0) * (b - a)
        x = (jnp.exp(x) if self.log else x).astype(jnp.float32)
        return x if self.unit == 1.0 else x * self.unit

    def encode(self, x: jax.Array) -> jax.Array:
        a, b = self._ends()
        x = jnp.asarray(x, jnp.float32)
        if self.unit != 1.0:
            x = x / self.unit
        return ((jnp.log(x) if self.log else x) - a) / (b - a)

    def validate(self, x: np.ndarray, name: str) -> None:
        tol = 1e-6 * (abs(self.lo) + abs(self.hi))  # float32 round-trip slack
        bad = ~((x >= self.lo - tol) & (x <= self.hi + tol))
        if np.any(bad):
            raise ValueError(f"{name}: value {x[bad][0]} outside [{self.lo}, {self.hi}]")


@dataclasses.dataclass(frozen=True)
class Integer:
    """An integer parameter in ``[lo, hi]`` inclusive (log-spaced bins when ``log``)."""

    lo: int
    hi: int
    log: bool = False
    size: int = 1

    def __post_init__(self):
        if int(self.lo) != self.lo or int(self.hi) != self.hi or self.lo > self.hi:
            raise ValueError(f"Integer needs integers lo <= hi, got ({self.lo}, {self.hi})")
        if self.log and self.lo < 1:
            raise ValueError(f"Integer(log=True) needs lo >= 1, got {self.lo}")
        object.__setattr__(self, "lo", int(self.lo))
        object.__setattr__(self, "hi", int(self.hi))
        object.__setattr__(self, "size", _check_size(self.size))

    def _ends(self):
        # value v owns the cell [v - 0.5, v + 0.5) (in log space when log=True)
        lo, hi = self.lo - 0.5, self.hi + 0.5
        return (math.log(lo), math.log(hi)) if self.log else (lo, hi)

    def decode(self, u: jax.Array, relaxed: bool = False) -> jax.Array:
        a, b = self._ends()
        x = a + jnp.clip(u, 0.0, 1.0) * (b - a)
        x = jnp.exp(x) if self.log else x
        if relaxed:
            return jnp.clip(x, self.lo, self.hi).astype(jnp.float32)
        return jnp.clip(jnp.round(x), self.lo, self.hi).astype(jnp.int32)

    def encode(self, x: jax.Array) -> jax.Array:
        a, b = self._ends()
        x = jnp.asarray(x, jnp.float32)
        return ((jnp.log(x) if self.log else x) - a) / (b - a)

    def validate(self, x: np.ndarray, name: str) -> None:
        bad = (x < self.lo) | (x > self.hi) | (np.round(x) != x)
        if np.any(bad):
            raise ValueError(f"{name}: value {x[bad][0]} is not an integer in "
                             f"[{self.lo}, {self.hi}]")


@dataclasses.dataclass(frozen=True)
class Choice:
    """A categorical parameter: one of ``options`` (strings, numbers, ...)."""

    options: tuple
    size: int = 1

    def __post_init__(self):
        opts = tuple(self.options)
        if not opts:
            raise ValueError("Choice needs at least one option")
        if len(set(opts)) != len(opts):
            raise ValueError(f"Choice options must be distinct, got {list(opts)}")
        object.__setattr__(self, "options", opts)
        object.__setattr__(self, "size", _check_size(self.size))

    @property
    def numeric(self) -> bool:
        """True when designs carry the option values (else their indices)."""
        return all(isinstance(o, int | float | np.number) and not isinstance(o, bool)
                   for o in self.options)

    def index(self, u: jax.Array) -> jax.Array:
        n = len(self.options)
        return jnp.clip(jnp.floor(u * n), 0, n - 1).astype(jnp.int32)

    def decode(self, u: jax.Array, relaxed: bool = False) -> jax.Array:
        idx = self.index(u)
        if self.numeric:
            return jnp.asarray(np.asarray(self.options, np.float32))[idx]
        return idx

    def to_index(self, x) -> np.ndarray:
        x = np.asarray(x)
        if self.numeric:
            opts = np.asarray(self.options, np.float64)
            hit = np.isclose(x[..., None].astype(np.float64), opts, rtol=1e-6, atol=0.0)
            if not np.all(hit.any(-1)):
                raise ValueError(f"value {x[~hit.any(-1)][0]} is not one of {list(self.options)}")
            return hit.argmax(-1)
        if x.dtype.kind in "USb" or x.dtype == object:  # labels, not indices
            lookup = {o: i for i, o in enumerate(self.options)}
            try:
                return np.vectorize(lambda v: lookup[v], otypes=[np.int64])(x)
            except KeyError as e:
                raise ValueError(f"{e.args[0]!r} is not one of {list(self.options)}") from None
        return x.astype(np.int64)

    def encode(self, x: jax.Array) -> jax.Array:
        return (jnp.asarray(x, jnp.float32) + 0.5) / len(self.options)

    def validate(self, x: np.ndarray, name: str) -> None:
        if np.any((x < 0) | (x >= len(self.options)) | (np.round(x) != x)):
            raise ValueError(f"{name}: index outside 0..{len(self.options) - 1}")


Param = Real | Integer | Choice
