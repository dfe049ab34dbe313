"""The strategy interface and the problem a strategy works on.

A ``Strategy`` is three pure functions over a state pytree, in the style of optax's
``GradientTransformation``; candidates are points of the unit cube (``Space``):

* ``init(key, problem) -> state``
* ``ask(state, problem) -> (u, state)`` with ``u`` of shape ``(batch, space.dim)``
* ``tell(state, problem, u, objectives, violation) -> state``

``problem`` bundles the space with the objective so that model-based strategies (the
gradient one) can differentiate the objective; black-box strategies only read
``problem.space``. States hold only arrays, so the runner can checkpoint them as NPZ.

**Objective contract.** ``objective(designs) -> objs`` or ``-> (objs, violation)``,
where ``designs`` is a dict ``name -> array`` with a leading population axis ``n``
(``Space.decode``), ``objs`` is ``(n, k)`` (minimised) and ``violation`` is ``(n,)`` or
``(n, c)`` with values ``<= 0`` meaning satisfied. A separate ``constraints(designs)``
callable may return the violation instead. Strategies that use gradients call
``objective(designs, smooth=True)`` on *relaxed* designs (``Space.decode(u,
relaxed=True)``: integers not rounded) and need it to be traceable by JAX.

Example:
    >>> import jax.numpy as jnp
    >>> from search.space import Real, Space
    >>> prob = Problem(Space({"x": Real(0, 1)}), lambda d: jnp.stack([d["x"], 1 - d["x"]], 1))
    >>> objs, cv = prob.evaluate(jnp.array([[0.25]]))
    >>> objs.tolist(), cv.tolist()
    ([[0.25, 0.75]], [0.0])
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from lepton_codesign.search.space import Space

Designs = dict[str, jax.Array]
Objective = Callable[..., Any]
# Objective values of non-finite evaluations are replaced by this before reaching a
# strategy (they are also marked infeasible); it keeps sort/crowding arithmetic finite.
BIG = 1e30


class Problem(NamedTuple):
    """A space plus the objective (and optional constraints) to minimise over it."""

    space: Space
    objective: Objective
    constraints: Callable[[Designs], Any] | None = None

    def evaluate(self, u: jax.Array, smooth: bool = False) -> tuple[jax.Array, jax.Array]:
        """``(objectives (n, k), violation (n,))`` of cube points ``u``.

        With ``smooth=True`` the relaxed designs go to ``objective(..., smooth=True)``.
        """
        designs = self.space.decode(u, relaxed=smooth)
        return self.evaluate_designs(designs, smooth)

    def evaluate_designs(self, designs: Designs, smooth: bool = False):
        """Like ``evaluate`` but on decoded designs."""
        out = self.objective(designs, smooth=True) if smooth else self.objective(designs)
        return split_output(out, designs, self.constraints, len(next(iter(designs.values()))))

    def supports_smooth(self) -> bool:
        """Whether ``objective`` accepts a ``smooth`` keyword."""
        try:
            sig = inspect.signature(self.objective)
        except (TypeError, ValueError):
            return False
        return "smooth" in sig.parameters or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())


def total_violation(v, n: int) -> jax.Array:
    """Sum of positive parts of a ``(n,)`` or ``(n, c)`` violation array."""
    v = jnp.asarray(v, jnp.float32)
    if v.ndim == 1:
        v = v[:, None]
    if v.ndim != 2 or v.shape[0] != n:
        raise ValueError(f"constraint violation must have shape (n,) or (n, c) with n={n}, "
                         f"got {v.shape}")
    return jnp.sum(jnp.maximum(v, 0.0), axis=1)


def split_output(out, designs, constraints, n: int) -> tuple[jax.Array, jax.Array]:
    """Normalise an objective's output to ``(objs (n, k) float32, violation (n,))``."""
    if isinstance(out, tuple | list) and len(out) == 2:
        objs, viol = out
        viol = total_violation(viol, n)
    else:
        objs, viol = out, jnp.zeros((n,), jnp.float32)
    objs = jnp.asarray(objs, jnp.float32)
    if objs.ndim == 1:
        objs = objs[:, None]
    if objs.ndim != 2 or objs.shape[0] != n:
        raise ValueError(f"objective must return an (n, k) array with n={n}, got {objs.shape}")
    if constraints is not None:
        viol = viol + total_violation(constraints(designs), n)
    return objs, viol


def sanitize(objs: jax.Array, viol: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Non-finite rows become infeasible with objectives ``BIG`` (strategy view only)."""
    bad = ~jnp.all(jnp.isfinite(objs), axis=1) | ~jnp.isfinite(viol)
    objs = jnp.where(bad[:, None], BIG, objs)
    viol = jnp.where(bad, BIG, viol)
    return objs, viol


class Strategy(NamedTuple):
    """A search strategy: pure ``init / ask / tell`` (see module docstring)."""

    name: str
    init: Callable[[jax.Array, Problem], Any]
    ask: Callable[[Any, Problem], tuple[jax.Array, Any]]
    tell: Callable[[Any, Problem, jax.Array, jax.Array, jax.Array], Any]
    config: dict = {}
