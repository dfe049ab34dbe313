"""search: joint multi-objective design-space search (no flax).

Public API::

    Space, Real, Integer, Choice                      # what to search
    random_search, sobol_search, nsga2, gradient      # how (Strategy: init / ask / tell)
    run, SearchResult                                 # drive a search, keep everything
    nondominated, ranks, crowding_distance, hypervolume, dominance_matrix   # Pareto
    problems (ZDT1-3, DTLZ2, asic_resnet18), hardware (asic_space, asic_objective)

Example:
    >>> import jax, search
    >>> p = search.problems.zdt1(n_var=5)
    >>> r = search.run(search.nsga2(16), p.objective, p.space, key=jax.random.key(0),
    ...                budget=64, ref_point=p.ref_point, progress=False)
    >>> r.objectives.shape
    (64, 2)
"""

from lepton_codesign.search import checkpoint, hardware, problems
from lepton_codesign.search.base import Problem, Strategy
from lepton_codesign.search.pareto import (
    crowding_distance,
    dominance_matrix,
    hypervolume,
    nondominated,
    ranks,
)
from lepton_codesign.search.results import SearchResult
from lepton_codesign.search.runner import run
from lepton_codesign.search.space import Choice, Integer, Real, Space
from lepton_codesign.search.strategies import gradient, nsga2, random_search, sobol_search

__all__ = [
    "Choice", "Integer", "Problem", "Real", "SearchResult", "Space", "Strategy",
    "checkpoint", "crowding_distance", "dominance_matrix", "gradient", "hardware",
    "hypervolume", "nondominated", "nsga2", "problems", "random_search", "ranks", "run",
    "sobol_search",
]
