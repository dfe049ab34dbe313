"""NSGA-II (Deb et al. 2002) as pure, jitted ``init / ask / tell`` over cube arrays.

One generation = ``tell`` (merge parents and the evaluated offspring, sort into fronts
by constrained domination, keep the best ``pop_size`` by rank then crowding distance)
followed by mating (binary tournament, SBX + polynomial mutation on real and integer
coordinates, uniform crossover + reset mutation on categorical ones). Discrete
coordinates are snapped to their grid cell, and offspring that duplicate a parent or
a sibling are mutated again (up to ``dedup_rounds`` times) so that evaluations are not
spent twice on the same design. ``ask`` only hands out the stored offspring, so the
state fully determines the next batch (exact resume).

The first ``tell`` has no parents; placeholder parents with the largest violation
keep every shape static, so one compiled ``tell`` serves the whole run.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from search.base import Problem
    >>> from search.space import Real, Space
    >>> prob = Problem(Space({"x": Real(0, 1)}), lambda d: jnp.stack([d["x"], 1 - d["x"]], 1))
    >>> s = nsga2(8)
    >>> state = s.init(jax.random.key(0), prob)
    >>> u, state = s.ask(state, prob)
    >>> objs, cv = prob.evaluate(u)
    >>> state = s.tell(state, prob, u, objs, cv)
    >>> state.pop_u.shape
    (8, 1)
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lepton_codesign.search import pareto
from lepton_codesign.search.base import Problem, Strategy
from lepton_codesign.search.space import Choice, Space
from lepton_codesign.search.strategies import operators as ops

# Violation of the placeholder parents before the first generation: worse than any
# real point, including non-finite ones (whose violation is search.base.BIG).
_PLACEHOLDER_CV = float(np.finfo(np.float32).max)


class NSGA2State(NamedTuple):
    key: jax.Array        # raw key data
    pop_u: jax.Array      # (N, d) parents
    pop_f: jax.Array      # (N, k) parents' objectives
    pop_cv: jax.Array     # (N,) parents' total violation
    offspring: jax.Array  # (N, d) next batch to evaluate
    generation: jax.Array


def _survive(u, f, cv, n):
    rank = pareto.ranks(f, cv)
    crowd = pareto.crowding_distance(f, rank)
    order = jnp.lexsort((-crowd, rank))[:n]
    return u[order], f[order], cv[order], rank[order], crowd[order]


def _mate(key, space: Space, pop_u, rank, crowd, cfg):
    n, d = pop_u.shape
    cat = jnp.asarray(space.coord_mask(Choice))
    npair, rounds = (n + 1) // 2, cfg["dedup_rounds"]
    r = ops.Uniforms(key, 2 * npair * 3 + npair * (1 + 4 * d) + 4 * n * d * (1 + rounds))
    parents = ops.binary_tournament(r((2 * npair, 2)), r((2 * npair,)), rank, crowd)
    a, b = pop_u[parents[:npair]], pop_u[parents[npair:]]
    r_do, r_swap = r((npair, 1)), r((npair, d))
    pc = cfg["crossover_prob"]
    c1, c2 = ops.sbx(r_do, r((npair, d)), r((npair, d)), r_swap, a, b, eta=cfg["eta_c"],
                     prob=pc)
    u1, u2 = ops.uniform_crossover(r_do, r((npair, d)), a, b, prob=pc)
    kids = jnp.concatenate([jnp.where(cat, u1, c1), jnp.where(cat, u2, c2)])[:n]
    pm = cfg["mutation_prob"] or 1.0 / d

    def mutate(kids, prob):
        reset = ops.reset_mutation(r((n, d)), r((n, d)), kids, prob_var=prob)
        poly = ops.polynomial_mutation(r((n, d)), r((n, d)), kids, eta=cfg["eta_m"],
                                       prob_var=prob)
        return space.snap(jnp.where(cat, reset, poly))

    kids = mutate(kids, pm)
    for _ in range(rounds):  # offspring equal to a parent or sibling: mutate harder
        dup = ops.duplicate_rows(kids, pop_u)
        kids = jnp.where(dup[:, None], mutate(kids, 0.5), kids)
    return kids


def nsga2(pop_size: int = 100, *, eta_c: float = 15.0, eta_m: float = 20.0,
          crossover_prob: float = 0.9, mutation_prob: float | None = None,
          dedup_rounds: int = 3, initial=None) -> Strategy:
    """NSGA-II with ``pop_size`` parents and ``pop_size`` offspring per generation.

    Args:
        pop_size: population size (also the evaluation batch per generation).
        eta_c: SBX distribution index.
        eta_m: polynomial-mutation distribution index.
        crossover_prob: probability a parent pair is recombined.
        mutation_prob: per-coordinate mutation probability; default ``1 / dim``.
        dedup_rounds: re-mutation rounds for offspring that duplicate known designs.
        initial: optional ``(m, dim)`` cube points (``space.encode`` of known designs,
            ``m <= pop_size``) that replace the first ``m`` random designs of the first
            batch, e.g. published designs to start from. They are snapped to the grid
            and recorded in ``config`` (so a checkpoint of another seeding is refused).

    Returns:
        A ``Strategy``.
    """
    if pop_size < 2:
        raise ValueError(f"pop_size must be >= 2, got {pop_size}")
    cfg = {"pop_size": pop_size, "eta_c": eta_c, "eta_m": eta_m,
           "crossover_prob": crossover_prob, "mutation_prob": mutation_prob,
           "dedup_rounds": dedup_rounds}
    seeds = _check_initial(initial, pop_size)
    public = cfg if seeds is None else {**cfg, "initial": seeds.tolist()}

    def init(key, problem: Problem) -> NSGA2State:
        state = _init(problem.space, pop_size, key)
        if seeds is None:
            return state
        if seeds.shape[1] != problem.space.dim:
            raise ValueError(f"nsga2 initial: expected points of dimension "
                             f"{problem.space.dim}, got {seeds.shape[1]}")
        first = problem.space.snap(jnp.asarray(seeds))
        return state._replace(offspring=state.offspring.at[: len(seeds)].set(first))

    def ask(state: NSGA2State, problem: Problem):
        return state.offspring, state

    def tell(state: NSGA2State, problem: Problem, u, objectives, violation) -> NSGA2State:
        objectives = jnp.asarray(objectives, jnp.float32)
        if state.pop_f.shape[1] != objectives.shape[1]:  # first tell: placeholders
            state = state._replace(pop_f=jnp.zeros((pop_size, objectives.shape[1]),
                                                   jnp.float32))
        return _tell(problem.space, tuple(sorted(cfg.items())), state, jnp.asarray(u),
                     objectives, jnp.asarray(violation, jnp.float32))

    return Strategy("nsga2", init, ask, tell, public)


def _check_initial(initial, pop_size: int) -> np.ndarray | None:
    if initial is None:
        return None
    u = np.asarray(initial, np.float32)
    if u.ndim != 2 or not 1 <= len(u) <= pop_size:
        raise ValueError(f"nsga2 initial: expected an (m, dim) array with 1 <= m <= "
                         f"pop_size={pop_size}, got shape {u.shape}")
    if not np.all(np.isfinite(u)) or np.any((u < 0) | (u > 1)):
        raise ValueError("nsga2 initial: cube points must be finite and in [0, 1]")
    return u


@functools.partial(jax.jit, static_argnums=(0, 1))
def _init(space: Space, pop_size: int, key) -> NSGA2State:
    k_pop, k_next = jax.random.split(key)
    return NSGA2State(
        key=jax.random.key_data(k_next),
        pop_u=jnp.zeros((pop_size, space.dim), jnp.float32),
        pop_f=jnp.zeros((pop_size, 0), jnp.float32),  # k is unknown until the first tell
        pop_cv=jnp.full((pop_size,), _PLACEHOLDER_CV, jnp.float32),
        offspring=space.sample(k_pop, pop_size),
        generation=jnp.int32(0),
    )


@functools.partial(jax.jit, static_argnums=(0, 1))
def _tell(space: Space, cfg_items, state: NSGA2State, u, f, cv) -> NSGA2State:
    cfg = dict(cfg_items)
    n = cfg["pop_size"]
    if u.shape[0] != n:
        raise ValueError(f"nsga2 expects {n} evaluated offspring per tell, got {u.shape[0]}")
    all_u = jnp.concatenate([state.pop_u, u])
    all_f = jnp.concatenate([state.pop_f, f])
    all_cv = jnp.concatenate([state.pop_cv, cv])
    pop_u, pop_f, pop_cv, rank, crowd = _survive(all_u, all_f, all_cv, n)
    key, k_mate = jax.random.split(jax.random.wrap_key_data(state.key))
    offspring = _mate(k_mate, space, pop_u, rank, crowd, cfg)
    return NSGA2State(jax.random.key_data(key), pop_u, pop_f, pop_cv, offspring,
                      state.generation + 1)
