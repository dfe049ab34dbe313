"""Baseline strategies: uniform random search and scrambled Sobol sampling.

Neither learns from ``tell``; they are the yardsticks every other strategy must beat
and a way to seed others. Sobol points come from ``scipy.stats.qmc.Sobol`` (Owen
scrambling seeded from the run key), so a resumed run draws the same points.

Example:
    >>> import jax
    >>> from search.base import Problem
    >>> from search.space import Real, Space
    >>> prob = Problem(Space({"x": Real(0, 1), "y": Real(0, 1)}), lambda d: d["x"])
    >>> s = sobol_search(8)
    >>> u, state = s.ask(s.init(jax.random.key(0), prob), prob)
    >>> u.shape
    (8, 2)
"""

from __future__ import annotations

import functools
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import qmc

from lepton_codesign.search.base import Problem, Strategy


class RandomState(NamedTuple):
    key: jax.Array


def random_search(batch_size: int = 64) -> Strategy:
    """Uniform random designs, ``batch_size`` per generation.

    Args:
        batch_size: designs proposed per ``ask``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")

    def init(key, problem: Problem) -> RandomState:
        return RandomState(jax.random.key_data(key))

    def ask(state: RandomState, problem: Problem):
        return _random_ask(problem.space, batch_size, state)

    def tell(state, problem, u, objectives, violation):
        return state

    return Strategy("random", init, ask, tell, {"batch_size": batch_size})


@functools.partial(jax.jit, static_argnums=(0, 1))
def _random_ask(space, batch_size: int, state: RandomState):
    key, sub = jax.random.split(jax.random.wrap_key_data(state.key))
    return space.sample(sub, batch_size), RandomState(jax.random.key_data(key))


class SobolState(NamedTuple):
    seed: jax.Array   # int32 scrambling seed
    drawn: jax.Array  # int32 points already drawn


def sobol_search(batch_size: int = 64) -> Strategy:
    """Scrambled Sobol low-discrepancy designs, ``batch_size`` per generation.

    Use a power-of-two ``batch_size`` (and budget) for Sobol's balance properties.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")

    def init(key, problem: Problem) -> SobolState:
        seed = jax.random.randint(key, (), 0, np.iinfo(np.int32).max)
        return SobolState(seed.astype(jnp.int32), jnp.int32(0))

    def ask(state: SobolState, problem: Problem):
        space = problem.space
        engine = qmc.Sobol(space.dim, scramble=True, seed=int(state.seed))
        with warnings.catch_warnings():  # balance warning for non-power-of-2 batches
            warnings.simplefilter("ignore", UserWarning)
            if int(state.drawn):  # scipy rejects fast_forward(0)
                engine.fast_forward(int(state.drawn))
            u = engine.random(batch_size)
        u = space.snap(jnp.asarray(u, jnp.float32))
        return u, SobolState(state.seed, jnp.int32(int(state.drawn) + batch_size))

    def tell(state, problem, u, objectives, violation):
        return state

    return Strategy("sobol", init, ask, tell, {"batch_size": batch_size})
