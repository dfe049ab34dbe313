"""Search strategies: pure ``init / ask / tell`` triples (see ``search.base.Strategy``)."""

from search.strategies.baselines import random_search, sobol_search
from search.strategies.gradient import gradient
from search.strategies.nsga2 import nsga2

__all__ = ["gradient", "nsga2", "random_search", "sobol_search"]
