"""Gradient-based joint descent through a smooth objective (DOSA-style, multi-start).

``pop_size`` starts descend in parallel, each on its own scalarisation of the
normalised objectives (augmented Chebyshev, or a weighted sum) with its own weight
vector on the simplex; a batch is one differentiable call, and the per-start Adam
(optax, ``vmap``-ed so that each start has its own moments and step count) is
projected onto the unit cube.

Per generation (``ask``): ``steps`` Adam steps from the current positions on
``objective(designs, smooth=True)`` (relaxed designs: integers not rounded), then the
designs are **snapped** to the discrete grid and handed to the runner, which scores
them **exactly** (``smooth=False``). A start's step size decays by ``lr_decay`` per
generation (default: constant); once its snapped design moves less than ``restart_tol``
(or after ``max_age`` generations, if set), it restarts from a random point with fresh
weights. Restarts are descended in the same ``ask`` (each ``ask`` descends the
``pop_size`` current starts and ``pop_size`` candidate restarts as one batch), so exact
evaluations are not spent on designs already handed out.

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
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from lepton_codesign.search.base import Problem, Strategy, sanitize
from lepton_codesign.search.space import Choice
from lepton_codesign.search.strategies import operators as ops

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
    opt_state: Any         # per-start Adam state (leading axis P)
    age: jax.Array         # (P,) generations since the start (re)started
    last: jax.Array        # (P, d) designs handed out last generation (snapped)
    lo: jax.Array          # (k,) running min of the (transformed) objectives
    hi: jax.Array          # (k,) running max
    smooth_evals: jax.Array
    generation: jax.Array


def _transform(f, how):
    return jnp.log(jnp.maximum(f, 1e-30)) if how == "log" else f


def gradient(pop_size: int = 32, *, steps: int = 30, learning_rate: float = 0.02,
             lr_decay: float = 1.0, max_age: int | None = None,
             scalarization: str = "chebyshev",
             transform: str = "linear", penalty: float = 10.0,
             restart_tol: float = 1e-3) -> Strategy:
    """Multi-start gradient descent over scalarisation weights (see module docstring).

    Args:
        pop_size: parallel starts = designs per generation.
        steps: Adam steps per generation.
        learning_rate: initial Adam step size, in unit-cube coordinates.
        lr_decay: factor on a start's step size per generation of its life (1 = constant).
        max_age: generations after which a start restarts (``None``: only on convergence).
        scalarization: ``"chebyshev"`` (reaches non-convex fronts) or ``"weighted_sum"``.
        transform: ``"log"`` for positive objectives spanning decades (latency, energy),
            else ``"linear"``.
        penalty: weight of the constraint violation in the loss.
        restart_tol: max-norm move (cube units) below which a start restarts early.
    """
    if scalarization not in _SCALARIZATIONS:
        raise ValueError(f"scalarization must be one of {_SCALARIZATIONS}")
    if transform not in _TRANSFORMS:
        raise ValueError(f"transform must be one of {_TRANSFORMS}")
    if pop_size < 1 or steps < 1 or (max_age is not None and max_age < 1):
        raise ValueError("pop_size, steps and max_age must be >= 1")
    if not 0.0 < lr_decay <= 1.0:
        raise ValueError(f"lr_decay must be in (0, 1], got {lr_decay}")
    cfg = {"pop_size": pop_size, "steps": steps, "learning_rate": learning_rate,
           "lr_decay": lr_decay, "max_age": max_age, "scalarization": scalarization,
           "transform": transform, "penalty": penalty, "restart_tol": restart_tol}
    cfg_items = tuple(sorted(cfg.items()))

    def init(key, problem: Problem) -> GradientState:
        if not problem.supports_smooth():
            raise TypeError("the gradient strategy needs objective(designs, smooth=True) "
                            "(a JAX-traceable smooth relaxation); see search.base")
        return _init(problem, cfg_items, key)

    def ask(state: GradientState, problem: Problem):
        return _ask(problem, cfg_items, state)

    def tell(state: GradientState, problem: Problem, u, objectives, violation):
        return _tell(transform, state, jnp.asarray(objectives, jnp.float32),
                     jnp.asarray(violation, jnp.float32))

    return Strategy("gradient", init, ask, tell, cfg)


@functools.partial(jax.jit, static_argnums=0)
def _tell(transform: str, state: GradientState, objectives, violation) -> GradientState:
    """Widen the normalisation range with the feasible exact evaluations."""
    f, cv = sanitize(objectives, violation)
    f = _transform(f, transform)
    ok = (cv <= 0)[:, None]
    lo = jnp.minimum(state.lo, jnp.min(jnp.where(ok, f, jnp.inf), axis=0))
    hi = jnp.maximum(state.hi, jnp.max(jnp.where(ok, f, -jnp.inf), axis=0))
    return state._replace(lo=lo, hi=hi)


def _draw_starts(key, space, n, k):
    """Random cube points and Dirichlet(1) weights (normalised exponentials), one draw."""
    r = ops.Uniforms(key, n * (space.dim + k))
    u = space.snap(r((n, space.dim)))
    e = -jnp.log(jnp.maximum(r((n, k)), 1e-12))
    return u, e / jnp.sum(e, axis=1, keepdims=True)


def _optimizer(cfg) -> optax.GradientTransformation:
    steps, lr, decay = cfg["steps"], cfg["learning_rate"], cfg["lr_decay"]
    if decay == 1.0:
        return optax.adam(lr)
    return optax.adam(lambda count: lr * decay ** (count / steps))


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
        opt_state=jax.vmap(_optimizer(cfg).init)(u), age=jnp.zeros((n,), jnp.int32),
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
        return jnp.sum(s + cfg["penalty"] * cv)  # rows are independent: per-row gradients

    return loss


def _descend(problem: Problem, cfg, u, opt_state, weights, lo, hi):
    frozen = jnp.asarray(problem.space.coord_mask(Choice))
    loss = _loss_fn(problem, cfg, weights, lo, hi)
    update = jax.vmap(_optimizer(cfg).update)

    def step(carry, _):
        u, opt_state = carry
        g = jax.grad(loss)(u)
        g = jnp.where(jnp.isfinite(g) & ~frozen, g, 0.0)
        upd, opt_state = update(g, opt_state, u)
        return (jnp.clip(optax.apply_updates(u, upd), 0.0, 1.0), opt_state), None

    (u, opt_state), _ = jax.lax.scan(step, (u, opt_state), None, length=cfg["steps"])
    return u, opt_state


def _rows_where(mask, a, b):
    return jax.tree.map(lambda x, y: jnp.where(mask.reshape((-1,) + (1,) * (x.ndim - 1)), x, y),
                        a, b)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _ask(problem: Problem, cfg_items, state: GradientState):
    cfg = dict(cfg_items)
    space, n = problem.space, cfg["pop_size"]
    key, k_fresh = jax.random.split(jax.random.wrap_key_data(state.key))
    fresh_u, fresh_w = _draw_starts(k_fresh, space, n, state.weights.shape[1])
    fresh_opt = jax.vmap(_optimizer(cfg).init)(fresh_u)
    # continuing starts and candidate restarts descend together (one traced descent)
    cat = lambda a, b: jax.tree.map(lambda x, y: jnp.concatenate([x, y]), a, b)  # noqa: E731
    both_u, both_opt = _descend(problem, cfg, jnp.concatenate([state.u, fresh_u]),
                                cat(state.opt_state, fresh_opt),
                                jnp.concatenate([state.weights, fresh_w]), state.lo, state.hi)
    head = lambda t: jax.tree.map(lambda x: x[:n], t)  # noqa: E731
    tail = lambda t: jax.tree.map(lambda x: x[n:], t)  # noqa: E731
    moved = jnp.max(jnp.abs(space.snap(both_u[:n]) - state.last), axis=1)
    restart = moved < cfg["restart_tol"]
    if cfg["max_age"] is not None:
        restart = restart | (state.age + 1 > cfg["max_age"])
    u = jnp.where(restart[:, None], both_u[n:], both_u[:n])
    opt_state = _rows_where(restart, tail(both_opt), head(both_opt))
    weights = jnp.where(restart[:, None], fresh_w, state.weights)
    snapped = space.snap(u)
    new = state._replace(key=jax.random.key_data(key), u=u, weights=weights,
                         opt_state=opt_state, age=jnp.where(restart, 1, state.age + 1),
                         last=snapped, smooth_evals=state.smooth_evals + 2 * n * cfg["steps"],
                         generation=state.generation + 1)
    return snapped, new
