"""Gradient-based joint descent through a smooth objective (DOSA-style, multi-start).

``pop_size`` starts descend in parallel, each on its own scalarisation of the
normalised objectives (augmented Chebyshev, or a weighted sum) with its own weight
vector on the simplex; a batch is one differentiable call, so the ``pop_size``
descents are one vectorised optax (Adam) run, projected onto the unit cube.

Per generation (``ask``): ``steps`` Adam steps from the current positions on
``objective(designs, smooth=True)`` (relaxed designs: integers not rounded), then the
designs are **snapped** to the discrete grid and handed to the runner, which scores
them **exactly** (``smooth=False``). A start whose snapped design moved less than
``restart_tol`` since its last generation has converged; it restarts from a random
point with fresh weights, descended in the same ``ask`` (each ``ask`` descends the
``pop_size`` current starts and ``pop_size`` candidate restarts as one batch), so
exact evaluations are not spent on designs already handed out.

Contract: the objective must accept ``smooth=True`` and be traceable by JAX (e.g.
``hw_models.evaluate(..., smooth=True)`` inside ``jit(vmap(...))``). Categorical
parameters are not differentiated: each start keeps the values it was drawn with.
Constraint violations (from the objective or ``constraints``) add
``penalty * violation`` to the loss.
The number of smooth (gradient) evaluations is kept in ``state.smooth_evals``.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from search.base import Problem
    >>> from search.space import Real, Space
    >>> f = lambda d, smooth=False: jnp.stack([d["x"] ** 2, (d["x"] - 1) ** 2], 1)
    >>> prob = Problem(Space({"x": Real(0, 1)}), f)
    >>> s = gradient(4, steps=20)
    >>> u, state = s.ask(s.init(jax.random.key(0), prob), prob)
    >>> u.shape
    (4, 1)
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from search.base import Problem, Strategy, sanitize
from search.space import Choice
from search.strategies import operators as ops

_SCALARIZATIONS = ("chebyshev", "weighted_sum")
_TRANSFORMS = ("linear", "log")
# Augmented-Chebyshev settings: smooth-max temperature and the weighted-sum share
# (standard augmentation against weakly Pareto-optimal points; design choice).
_TEMPERATURE = 0.02
_AUGMENT = 0.05


class GradientState(NamedTuple):
    key: jax.Array
    u: jax.Array           # (P, d) continuous positions
    weights: jax.Array     # (P, k)
    last: jax.Array        # (P, d) designs handed out last generation (snapped)
    lo: jax.Array          # (k,) running min of the (transformed) objectives
    hi: jax.Array          # (k,) running max
    smooth_evals: jax.Array
    generation: jax.Array


def _transform(f, how):
    return jnp.log(jnp.maximum(f, 1e-30)) if how == "log" else f


def gradient(pop_size: int = 32, *, steps: int = 30, learning_rate: float = 0.02,
             scalarization: str = "chebyshev", transform: str = "linear",
             penalty: float = 10.0, restart_tol: float = 1e-3) -> Strategy:
    """Multi-start gradient descent over scalarisation weights (see module docstring).

    Args:
        pop_size: parallel starts = designs per generation.
        steps: Adam steps per generation.
        learning_rate: Adam step size, in unit-cube coordinates.
        scalarization: ``"chebyshev"`` (reaches non-convex fronts) or ``"weighted_sum"``.
        transform: ``"log"`` for positive objectives spanning decades (latency, energy),
            else ``"linear"``.
        penalty: weight of the constraint violation in the loss.
        restart_tol: max-norm move (cube units) below which a start restarts.
    """
    if scalarization not in _SCALARIZATIONS:
        raise ValueError(f"scalarization must be one of {_SCALARIZATIONS}")
    if transform not in _TRANSFORMS:
        raise ValueError(f"transform must be one of {_TRANSFORMS}")
    if pop_size < 1 or steps < 1:
        raise ValueError("pop_size and steps must be >= 1")
    cfg = {"pop_size": pop_size, "steps": steps, "learning_rate": learning_rate,
           "scalarization": scalarization, "transform": transform, "penalty": penalty,
           "restart_tol": restart_tol}
    cfg_items = tuple(sorted(cfg.items()))

    def init(key, problem: Problem) -> GradientState:
        if not problem.supports_smooth():
            raise TypeError("the gradient strategy needs objective(designs, smooth=True) "
                            "(a JAX-traceable smooth relaxation); see search.base")
        return _init(problem, cfg_items, key)

    def ask(state: GradientState, problem: Problem):
        return _ask(problem, cfg_items, state)

    def tell(state: GradientState, problem: Problem, u, objectives, violation):
        f, cv = sanitize(jnp.asarray(objectives, jnp.float32), jnp.asarray(violation))
        f = _transform(f, transform)
        ok = (cv <= 0)[:, None]
        lo = jnp.minimum(state.lo, jnp.min(jnp.where(ok, f, jnp.inf), axis=0))
        hi = jnp.maximum(state.hi, jnp.max(jnp.where(ok, f, -jnp.inf), axis=0))
        return state._replace(lo=lo, hi=hi)

    return Strategy("gradient", init, ask, tell, cfg)


def _draw_starts(key, space, n, k):
    """Random cube points and Dirichlet(1) weights (normalised exponentials), one draw."""
    r = ops.Uniforms(key, n * (space.dim + k))
    u = space.snap(r((n, space.dim)))
    e = -jnp.log(jnp.maximum(r((n, k)), 1e-12))
    return u, e / jnp.sum(e, axis=1, keepdims=True)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _init(problem: Problem, cfg_items, key) -> GradientState:
    cfg = dict(cfg_items)
    n, space = cfg["pop_size"], problem.space
    k_u, k_next = jax.random.split(key)
    u = space.snap(jax.random.uniform(k_u, (n, space.dim)))
    f, _ = sanitize(*problem.evaluate(u, smooth=True))
    f = _transform(f, cfg["transform"])
    k = f.shape[1]
    if k == 2:  # evenly spread weights
        t = jnp.linspace(0.0, 1.0, n)
        weights = jnp.stack([t, 1.0 - t], 1)
    else:
        _, weights = _draw_starts(k_u, space, n, k)
    return GradientState(
        key=jax.random.key_data(k_next), u=u, weights=weights,
        last=jnp.full_like(u, -1.0), lo=jnp.min(f, 0), hi=jnp.max(f, 0),
        smooth_evals=jnp.int32(n), generation=jnp.int32(0))


def _loss_fn(problem: Problem, cfg, weights, lo, hi):
    scale = jnp.maximum(hi - lo, 1e-12)

    def loss(u):
        f, cv = problem.evaluate(u, smooth=True)
        z = (_transform(f, cfg["transform"]) - lo) / scale
        wz = weights * z
        if cfg["scalarization"] == "chebyshev":
            s = _TEMPERATURE * jax.nn.logsumexp(wz / _TEMPERATURE, axis=1)
            s = s + _AUGMENT * jnp.sum(wz, axis=1)
        else:
            s = jnp.sum(wz, axis=1)
        return jnp.sum(s + cfg["penalty"] * cv)

    return loss


def _descend(problem: Problem, cfg, u, weights, lo, hi):
    frozen = jnp.asarray(problem.space.coord_mask(Choice))
    loss = _loss_fn(problem, cfg, weights, lo, hi)
    opt = optax.adam(cfg["learning_rate"])

    def step(carry, _):
        u, opt_state = carry
        g = jax.grad(loss)(u)
        g = jnp.where(jnp.isfinite(g) & ~frozen, g, 0.0)
        upd, opt_state = opt.update(g, opt_state, u)
        return (jnp.clip(optax.apply_updates(u, upd), 0.0, 1.0), opt_state), None

    (u, _), _ = jax.lax.scan(step, (u, opt.init(u)), None, length=cfg["steps"])
    return u


@functools.partial(jax.jit, static_argnums=(0, 1))
def _ask(problem: Problem, cfg_items, state: GradientState):
    cfg = dict(cfg_items)
    space, n = problem.space, cfg["pop_size"]
    key, k_fresh = jax.random.split(jax.random.wrap_key_data(state.key))
    fresh_u, fresh_w = _draw_starts(k_fresh, space, n, state.weights.shape[1])
    # continuing starts and candidate restarts descend together (one traced descent)
    both = _descend(problem, cfg, jnp.concatenate([state.u, fresh_u]),
                    jnp.concatenate([state.weights, fresh_w]), state.lo, state.hi)
    u, restarted = both[:n], both[n:]
    stuck = jnp.max(jnp.abs(space.snap(u) - state.last), axis=1) < cfg["restart_tol"]
    u = jnp.where(stuck[:, None], restarted, u)
    weights = jnp.where(stuck[:, None], fresh_w, state.weights)
    snapped = space.snap(u)
    new = state._replace(key=jax.random.key_data(key), u=u, weights=weights, last=snapped,
                         smooth_evals=state.smooth_evals + 2 * n * cfg["steps"],
                         generation=state.generation + 1)
    return snapped, new
