"""Search spaces: named ``Real`` / ``Integer`` / ``Choice`` parameters on the unit cube.

Every strategy works on the unit cube ``[0, 1]^dim``; a ``Space`` maps cube points to
*designs* (a dict ``name -> array`` with a leading population axis) and back, one
parameter (``search.params``: ``Real``, ``Integer``, ``Choice``) at a time.
``Choice`` parameters of non-numeric options decode to indices; ``Space.labels`` maps
them back to the options.

A parameter with ``size=s > 1`` (e.g. per-layer density) uses ``s`` cube coordinates
and decodes to shape ``(n, s)``. ``encode(decode(u))`` lands on the centre of ``u``'s
grid cell for discrete parameters, so ``decode(encode(d)) == d`` for any valid ``d``.

``decode(u, relaxed=True)`` is the continuous relaxation used by gradient search:
integers are not rounded (float32) and categorical parameters still decode exactly.

``Space`` is immutable and hashable, so it can be a static argument of ``jax.jit``.

Example:
    >>> import jax
    >>> space = Space({"rows": Integer(4, 64, log=True), "df": Choice(["os", "ws"]),
    ...                "freq_hz": Real(2e8, 1e9)})
    >>> u = space.sample(jax.random.key(0), 5)
    >>> d = space.decode(u)
    >>> sorted(d), d["rows"].shape, d["df"].dtype
    (['df', 'freq_hz', 'rows'], (5,), dtype('int32'))
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lepton_codesign.search.params import Choice, Integer, Param, Real

_KINDS = {"real": Real, "integer": Integer, "choice": Choice}

__all__ = ["Choice", "Integer", "Param", "Real", "Space", "stack_designs"]


class Space:
    """An ordered, immutable mapping of parameter names to ``Real | Integer | Choice``.

    Args:
        params: ``{name: Real(...) | Integer(...) | Choice([...])}``; order is kept.
    """

    __slots__ = ("_items", "_slices", "dim")

    def __init__(self, params: Mapping[str, Param]):
        if not params:
            raise ValueError("a Space needs at least one parameter")
        items, slices, start = [], {}, 0
        for name, p in params.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"parameter names must be non-empty strings, got {name!r}")
            if not isinstance(p, Real | Integer | Choice):
                raise TypeError(f"{name}: expected Real, Integer or Choice, got {type(p).__name__}")
            items.append((name, p))
            slices[name] = (start, start + p.size)
            start += p.size
        object.__setattr__(self, "_items", tuple(items))
        object.__setattr__(self, "_slices", slices)
        object.__setattr__(self, "dim", start)

    def __setattr__(self, name, value):
        raise AttributeError("Space is immutable")

    def __eq__(self, other) -> bool:
        return isinstance(other, Space) and self._items == other._items

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"Space({dict(self._items)!r})"

    @property
    def params(self) -> dict[str, Param]:
        return dict(self._items)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self._items)

    def coord_mask(self, kind: type) -> np.ndarray:
        """Boolean ``(dim,)`` mask of the cube coordinates owned by parameters of ``kind``."""
        mask = np.zeros(self.dim, bool)
        for name, p in self._items:
            if isinstance(p, kind):
                a, b = self._slices[name]
                mask[a:b] = True
        return mask

    def sample(self, key: jax.Array, n: int) -> jax.Array:
        """``n`` uniform points of the unit cube, discrete coordinates snapped."""
        return _sample(self, n, key)

    def clip(self, u: jax.Array) -> jax.Array:
        """Clip cube points into ``[0, 1]``."""
        return jnp.clip(u, 0.0, 1.0)

    def snap(self, u: jax.Array) -> jax.Array:
        """Move discrete coordinates to the centre of their grid cell (reals untouched)."""
        return _snap(self, jnp.asarray(u, jnp.float32))

    def decode(self, u: jax.Array, relaxed: bool = False) -> dict[str, jax.Array]:
        """Designs ``{name: (n,) or (n, size)}`` from cube points ``u`` of shape (n, dim)."""
        u = jnp.asarray(u, jnp.float32)
        if u.ndim != 2 or u.shape[1] != self.dim:
            raise ValueError(f"expected cube points of shape (n, {self.dim}), got {u.shape}")
        return _decode(self, u, relaxed)

    def _decode(self, u, relaxed):
        out = {}
        for name, p in self._items:
            a, b = self._slices[name]
            x = p.decode(u[:, a:b], relaxed)
            out[name] = x[:, 0] if p.size == 1 else x
        return out

    def encode(self, designs: Mapping[str, Any]) -> jax.Array:
        """Cube points (n, dim) of decoded designs; inverse of ``decode`` (jittable)."""
        missing = [n for n in self.names if n not in designs]
        if missing:
            raise KeyError(f"design has no parameter {missing[0]!r}")
        return _encode(self, {n: jnp.asarray(designs[n]) for n in self.names})

    def _encode(self, designs):
        cols = []
        for name, p in self._items:
            x = designs[name]
            x = x.reshape(x.shape[0], p.size)
            if isinstance(p, Choice) and p.numeric:
                x = jnp.argmin(jnp.abs(x[..., None] - jnp.asarray(p.options, jnp.float32)), -1)
            cols.append(p.encode(x))
        return jnp.clip(jnp.concatenate(cols, axis=1), 0.0, 1.0)

    def validate(self, designs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Check user-supplied designs (labels allowed for ``Choice``); return decoded form.

        Raises:
            KeyError / ValueError naming the parameter and the offending value.
        """
        unknown = set(designs) - set(self.names)
        if unknown:
            raise KeyError(f"unknown parameters {sorted(unknown)}; space has {list(self.names)}")
        out = {}
        for name, p in self._items:
            if name not in designs:
                raise KeyError(f"design has no parameter {name!r}")
            x = np.asarray(designs[name])
            if isinstance(p, Choice):
                idx = p.to_index(x)
                p.validate(idx, name)
                x = np.asarray(p.options, np.float32)[idx] if p.numeric else idx.astype(np.int32)
            else:
                p.validate(x.astype(np.float64), name)
            out[name] = x
        return out

    def labels(self, designs: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Plain-Python rows (one dict per design) with ``Choice`` options restored."""
        cols = {}
        for name, p in self._items:
            x = np.asarray(designs[name])
            if isinstance(p, Choice) and not p.numeric:
                x = np.asarray(p.options, object)[x.astype(int)]
            cols[name] = x
        n = len(next(iter(cols.values())))
        return [{k: _py(v[i]) for k, v in cols.items()} for i in range(n)]

    def to_dict(self) -> dict[str, dict]:
        """JSON-safe description (``Space.from_dict`` rebuilds it)."""
        out = {}
        for name, p in self._items:
            d = {"kind": type(p).__name__.lower(), **dataclasses.asdict(p)}
            if d.get("unit") == 1.0:  # the default: unchanged description (checkpoints)
                del d["unit"]
            if isinstance(p, Choice):
                d["options"] = [_py(o) for o in p.options]
            out[name] = d
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Mapping]) -> Space:
        params = {}
        for name, spec in d.items():
            spec = dict(spec)
            kind = _KINDS.get(spec.pop("kind", None))
            if kind is None:
                raise ValueError(f"{name}: unknown parameter kind")
            params[name] = kind(**spec)
        return cls(params)


@functools.partial(jax.jit, static_argnums=(0, 2))
def _decode(space: Space, u, relaxed: bool):
    return space._decode(u, relaxed)


@functools.partial(jax.jit, static_argnums=0)
def _encode(space: Space, designs):
    return space._encode(designs)


@functools.partial(jax.jit, static_argnums=0)
def _snap(space: Space, u):
    discrete = ~space.coord_mask(Real)
    if not discrete.any():
        return u
    return jnp.where(jnp.asarray(discrete), space._encode(space._decode(u, False)), u)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _sample(space: Space, n: int, key):
    return _snap(space, jax.random.uniform(key, (n, space.dim)))


def _py(v):
    return v.item() if isinstance(v, np.generic) else v


def stack_designs(rows: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Turn a list of per-design dicts into one batch dict ``name -> array``."""
    if not rows:
        raise ValueError("no designs")
    return {k: np.asarray([r[k] for r in rows]) for k in rows[0]}
