"""Search strategies: pure ``init / ask / tell`` triples (see ``search.base.Strategy``)."""

from lepton_codesign.search.strategies.baselines import random_search, sobol_search
from lepton_codesign.search.strategies.gradient import gradient
from lepton_codesign.search.strategies.nsga2 import nsga2

__all__ = ["gradient", "nsga2", "random_search", "sobol_search"]
